"""Per-row tasks (``Config.per_row_lengths``): every row of a dataset has its own length, is
left-padded to ``seq_len``, and its padding is skipped by the model row by row.

References: a float64 numpy GRU run on each row's real steps alone (no padding, no mask), and
``jax.value_and_grad`` of the model on the unpadded rows, length by length; the two engines
against each other.
"""
import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gru_jax as gj
from gru_jax import native
from gru_jax.data import split_lengths, valid_mask
from gru_jax.engines import native as ops
from gru_jax.engines import resolve_engine
from gru_jax.inputs import datasets, seed_streams
from gru_jax.model import forward_columns, unflatten_params
from gru_jax.train import bytes_per_seed

TASK = gj.Config(seq_len=8, per_row_lengths=(2, 8), per_row_flags=(1, 3), n_samples=400,
                 batch_size=64, epochs=3, eval_every=2)
needs_native = pytest.mark.skipif(native.load() is None, reason="native kernels unavailable")


def numpy_gru(params, x):
    """Float64 reference: ``torch.nn.GRU`` + Linear on ONE sequence ``x`` ``(L, 2)`` (scaled
    inputs, every step real); returns the output ``(1,)``."""
    p = jax.tree_util.tree_map(lambda a: np.asarray(a, np.float64), params)
    w_ih, w_hh = p["gru"]["weight_ih_l0"], p["gru"]["weight_hh_l0"]
    b_ih, b_hh = p["gru"]["bias_ih_l0"], p["gru"]["bias_hh_l0"]
    hidden = w_hh.shape[1]
    sigmoid = lambda a: 1 / (1 + np.exp(-a))
    h = np.zeros(hidden)
    for step in np.asarray(x, np.float64):
        gi, gh = w_ih @ step + b_ih, w_hh @ h + b_hh
        r = sigmoid(gi[:hidden] + gh[:hidden])
        z = sigmoid(gi[hidden:2 * hidden] + gh[hidden:2 * hidden])
        n = np.tanh(gi[2 * hidden:] + r * gh[2 * hidden:])
        h = (1 - z) * n + z * h
    return p["linear"]["weight"] @ h + p["linear"]["bias"]


def random_rows(hidden, n=45, width=7, seed=0):
    """Random params (every entry non-zero), left-padded rows of lengths 1..width, targets."""
    rng = np.random.default_rng(seed)
    flat = rng.normal(0, 0.7, ops.n_params(hidden)).astype(np.float32)
    params = unflatten_params(jnp.asarray(flat), hidden)
    lengths = rng.integers(1, width + 1, n)
    lengths[:width] = np.arange(1, width + 1)                          # every length occurs
    x = np.zeros((n, width, 2), np.float32)
    for i, length in enumerate(lengths):
        x[i, width - length:, 0] = rng.integers(0, 100, length) / 100
        x[i, width - length:, 1] = rng.uniform(size=length) < 0.5
    y = rng.uniform(0, 2, (n, 1)).astype(np.float32)
    return params, x, y, lengths


@pytest.mark.parametrize("hidden", [1, 3])
def test_padded_row_gives_the_output_of_the_row_alone(hidden):
    """forward_columns with the per-row mask: each left-padded row's output equals the float64
    GRU on that row's real steps alone; without the mask it does not (the padding matters)."""
    params, x, _, lengths = random_rows(hidden)
    columns = jnp.transpose(jnp.asarray(x), (1, 2, 0))                  # (T, 2, N)
    masked, _ = forward_columns(params, columns, valid_mask(jnp.asarray(lengths), x.shape[1]))
    alone = np.stack([numpy_gru(params, x[i, x.shape[1] - length:])
                      for i, length in enumerate(lengths)], axis=1)       # (1, N)
    np.testing.assert_allclose(masked, alone, rtol=1e-5, atol=1e-6)
    unmasked, _ = forward_columns(params, columns)
    assert np.max(np.abs(np.asarray(unmasked) - alone)) > 1e-3


@jax.jit
def _unmasked_step(params, x, y):
    """MSE and gradient of the model on ``x`` ``(T, 2, B)``, every step real (no mask)."""
    return jax.value_and_grad(lambda p: jnp.mean((forward_columns(p, x)[0] - y) ** 2))(params)


def unpadded_loss_and_grad(params, x, y, lengths, index):
    """The batch loss and gradient from each length's rows run unpadded (no mask): the MSE over
    the batch is the sum over lengths of (rows of that length / B) x their own MSE."""
    batch = len(index)
    loss, grads = 0.0, jax.tree_util.tree_map(lambda a: np.zeros(a.shape), params)
    for length in np.unique(lengths[index]):
        rows = index[lengths[index] == length]
        xs = jnp.transpose(jnp.asarray(x[rows][:, x.shape[1] - length:]), (1, 2, 0))
        ys = jnp.asarray(y[rows]).T
        value, grad = _unmasked_step(params, xs, ys)
        weight = len(rows) / batch
        loss += weight * float(value)
        grads = jax.tree_util.tree_map(lambda g, h: g + weight * np.asarray(h, np.float64),
                                       grads, grad)
    return loss, grads


@needs_native
@pytest.mark.parametrize("hidden", [1, 3])
def test_native_per_row_loss_and_grad_equal_the_unpadded_rows(hidden):
    """The per-row kernel (each packed row holds its first real step) on a batch of mixed
    lengths, and the XLA engine's masked step, against every length's rows run unpadded. 37
    samples: a partial lane group."""
    params, x, y, lengths = random_rows(hidden)
    index = np.random.default_rng(1).integers(0, len(lengths), 37).astype(np.int32)
    want_loss, want = unpadded_loss_and_grad(params, x, y, lengths, index)
    width = x.shape[1]
    rows = ops.pack_rows(jnp.asarray(x), jnp.asarray(y), jnp.asarray(width - lengths))
    assert np.array_equal(np.asarray(rows)[:, 2 * width + 1], width - lengths)
    native_step = jax.jit(lambda p: ops.loss_and_grad(p, rows, jnp.asarray(index), None, width,
                                                      per_row=True))
    engine = gj.engines.xla.make(dataclasses.replace(TASK, seq_len=width, per_row_lengths=(1, 7),
                                                     hidden_size=hidden, n_samples=45))
    xla_step = jax.jit(lambda p: engine.loss_and_grad(
        p, (jnp.asarray(x), jnp.asarray(y), jnp.asarray(lengths, jnp.int32)), jnp.asarray(index)))
    for loss, grads in (native_step(params), xla_step(params)):
        assert abs(float(loss) - want_loss) <= 2e-6 * want_loss
        for ours, theirs in zip(jax.tree_util.tree_leaves(grads), jax.tree_util.tree_leaves(want)):
            scale = np.max(np.abs(theirs))
            assert np.max(np.abs(np.asarray(ours) - theirs)) <= 2e-6 * scale


@pytest.fixture(scope="module")
def xla_run():
    return gj.train(TASK, seeds=range(4), progress=False, engine="xla")


def test_datasets_carry_each_rows_length(xla_run):
    seeds = list(range(4))
    data, shared = datasets(TASK, seeds, seed_streams(TASK, seeds),
                            resolve_engine(TASK, "xla"))
    assert not shared and data.length.shape == (4, TASK.n_samples)
    lengths = np.asarray(data.length)
    assert lengths.min() == 2 and lengths.max() == 8 and len(np.unique(lengths[0])) == 7
    # the trainer's data are jax_dataset_raw's rows, scaled: padding (0, 0) where the length says
    width = TASK.seq_len
    padded = np.arange(width)[None, None, :] < (width - lengths[:, :TASK.n_train])[..., None]
    assert not np.asarray(data.x_train)[padded].any()


def test_test_loss_masks_each_test_row(xla_run):
    """The program's test loss at epoch 0 against the float64 GRU on each test row's real steps
    alone, with the epoch-0 snapshot's params (original units)."""
    seeds = list(range(4))
    data, _ = datasets(TASK, seeds, seed_streams(TASK, seeds),
                       resolve_engine(TASK, "xla"))
    _, test_lengths = split_lengths(TASK, np.asarray(data.length))
    for s in range(2):
        params = gj.model.select_model(xla_run.snapshots, s, 0)
        x = np.asarray(data.x_test[s])
        preds = np.array([numpy_gru(params, x[i, TASK.seq_len - length:])[0]
                          for i, length in enumerate(test_lengths[s])])
        want = np.mean((preds * TASK.high - np.asarray(data.y_test[s])[:, 0]) ** 2)
        np.testing.assert_allclose(xla_run.test_loss[s, 0], want, rtol=1e-5)


@needs_native
def test_engines_agree_and_a_seed_alone_equals_it_among_others(xla_run):
    fast = gj.train(TASK, seeds=range(4), progress=False, engine="native")
    alone = gj.train(TASK, seeds=[2], progress=False, engine="native")
    assert (xla_run.engine, fast.engine) == ("xla", "native")
    for module in xla_run.params:
        for name in xla_run.params[module]:
            np.testing.assert_allclose(fast.params[module][name], xla_run.params[module][name],
                                       rtol=0, atol=2e-6)
            np.testing.assert_allclose(alone.params[module][name][0],
                                       fast.params[module][name][2], rtol=0, atol=1e-6)
    np.testing.assert_allclose(fast.train_loss, xla_run.train_loss, rtol=2e-5)
    np.testing.assert_allclose(fast.test_loss, xla_run.test_loss, rtol=2e-5)
    np.testing.assert_allclose(alone.train_loss[0], fast.train_loss[2], rtol=1e-6)
    assert np.all(np.isfinite(fast.train_loss)) and not fast.diverged.any()


def test_explicit_data_is_refused_for_per_row_lengths():
    x, y = gj.seed_dataset(TASK, 0)
    with pytest.raises(ValueError, match="per_row_lengths"):
        gj.train(TASK, seeds=[0], data=(x, y), progress=False)


def test_bytes_per_seed_counts_the_lengths():
    scalar = dataclasses.replace(TASK, per_row_lengths=None, per_row_flags=None)
    for name in ("xla", "native"):           # the same rows either way: the lengths ride in them
        engines = [resolve_engine(c, name) for c in (TASK, scalar)]
        assert (bytes_per_seed(TASK, engines[0]) - bytes_per_seed(scalar, engines[1])
                == 4 * TASK.n_samples)
