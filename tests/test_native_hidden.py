"""The native engine at hidden sizes above 1 (gru_jax/native/loss_grad_hidden.h).

The loss-and-gradient kernel is checked against torch's autograd (live; a left-padded sequence
must equal torch run on its real steps alone) and against ``jax.value_and_grad`` of
gru_jax.model (per-seed and shared data, left padding, batches that end inside a lane block
and inside a 32-sample chunk); training is checked against the XLA engine, for ensemble
invariance and for resume.
"""
import dataclasses
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gru_jax as gj
import torch_reference as ref
from gru_jax import native
from gru_jax.engines import native as ops
from gru_jax.engines import resolve_engine
from gru_jax.model import flatten_params, forward_columns, param_count, unflatten_params

pytestmark = pytest.mark.skipif(native.load() is None,
                                reason=f"native kernels unavailable: {native.unavailable_reason()}")

SMALL = gj.Config(n_samples=400, batch_size=64, epochs=8, eval_every=4)
HIDDEN3 = dataclasses.replace(SMALL, hidden_size=3)


def xla_loss_and_grad(params, x_train, y_train, index, valid):
    """The XLA engine's step (the model differentiated by JAX), for one seed."""
    x = jnp.transpose(x_train[index], (1, 2, 0))
    y = y_train[index].T
    return jax.value_and_grad(lambda p: jnp.mean((forward_columns(p, x, valid)[0] - y) ** 2))(
        params)


def random_case(hidden, seeds, steps, batch, n=300, scale=0.7, seed=0):
    """Random params (every entry non-zero), inputs like the adding problem's, indices."""
    rng = np.random.default_rng(100 * hidden + seed)
    flat = rng.normal(0, scale, (seeds, ops.n_params(hidden))).astype(np.float32)
    values = rng.integers(0, 100, (seeds, n, steps, 1)) / 100.0
    flags = rng.uniform(size=(seeds, n, steps, 1)) < 0.5
    x = jnp.asarray(np.concatenate([values, flags], -1), jnp.float32)
    y = jnp.asarray(rng.uniform(0, 2, (seeds, n, 1)), jnp.float32)
    index = jnp.asarray(rng.integers(0, n, (seeds, batch)), jnp.int32)
    return unflatten_params(jnp.asarray(flat), hidden), x, y, index


def assert_flat_close(ours, theirs, rtol):
    """Largest difference relative to the largest gradient entry (float32 rounding of sums)."""
    a = np.asarray(flatten_params(ours), np.float64)
    b = np.asarray(flatten_params(theirs), np.float64)
    assert np.max(np.abs(a - b)) <= rtol * np.max(np.abs(b)), (np.max(np.abs(a - b)),
                                                               np.max(np.abs(b)))


def test_n_params_is_the_flat_length():
    for hidden in (1, 2, 3, 8, 16):
        shapes = gj.model.param_shapes(hidden)
        zeros = jax.tree_util.tree_map(np.zeros, shapes, is_leaf=lambda s: isinstance(s, tuple))
        assert ops.n_params(hidden) == param_count(zeros) == flatten_params(zeros).shape[-1]


@pytest.mark.skipif(not ref.HAVE_TORCH, reason="needs torch (live reference)")
@pytest.mark.parametrize("hidden", [2, 3, 8])
def test_left_padded_loss_and_grad_match_torch(hidden):
    real, pad = 4, 2
    state_dict, x, target = ref.model_case(hidden, real, batch=21)
    expected = ref.torch_forward_and_grads(state_dict, x, target)   # torch on the real steps
    padded = np.concatenate([np.full((x.shape[0], pad, 2), 7.0, np.float32), x], axis=1)
    valid = jnp.asarray([False] * pad + [True] * real)
    rows = ops.pack_rows(jnp.asarray(padded), jnp.asarray(target))
    loss, grads = jax.jit(lambda p: ops.loss_and_grad(p, rows, jnp.arange(21), valid,
                                                      real + pad))(gj.from_state_dict(state_dict))
    assert abs(float(loss) - float(expected["loss"])) <= 1e-6 * abs(float(expected["loss"]))
    for name, value in gj.to_state_dict(grads).items():
        theirs = expected["grad." + name]
        diff = np.max(np.abs(np.asarray(value) - theirs))
        assert diff <= 2e-6 * np.max(np.abs(theirs)), (name, diff)


@pytest.mark.parametrize("hidden", [2, 3, 8])
def test_loss_and_grad_match_xla_per_seed_data(hidden):
    # 100 samples: three 32-sample chunks, then half a lane block
    params, x, y, index = random_case(hidden, seeds=4, steps=4, batch=100)
    want = jax.jit(jax.vmap(lambda p, a, b, i: xla_loss_and_grad(p, a, b, i, None)))(
        params, x, y, index)
    got = jax.jit(jax.vmap(lambda p, a, b, i: ops.loss_and_grad(
        p, ops.pack_rows(a, b), i, None, 4)))(params, x, y, index)
    np.testing.assert_allclose(got[0], want[0], rtol=2e-6)
    assert_flat_close(got[1], want[1], rtol=2e-6)


@pytest.mark.parametrize("hidden", [2, 3, 8])
def test_shared_data_and_left_padding_match_xla(hidden):
    params, x, y, index = random_case(hidden, seeds=3, steps=6, batch=45, scale=1.5)
    valid = jnp.asarray([False, False, True, True, True, True])
    want = jax.jit(jax.vmap(lambda p, i: xla_loss_and_grad(p, x[0], y[0], i, valid)))(
        params, index)
    rows = ops.pack_rows(x[0], y[0])
    got = jax.jit(jax.vmap(lambda p, i: ops.loss_and_grad(p, rows, i, valid, 6)))(params, index)
    np.testing.assert_allclose(got[0], want[0], rtol=2e-6)
    assert_flat_close(got[1], want[1], rtol=3e-6)


def test_params_of_no_compiled_size_are_an_error():
    _, x, y, index = random_case(2, seeds=1, steps=4, batch=8)
    flat = jnp.ones((ops.n_params(2) + 1,), jnp.float32)
    with pytest.raises(Exception, match="N\\(H\\)"):
        jax.block_until_ready(ops.loss_and_grad_flat(flat, ops.pack_rows(x[0], y[0]), index[0],
                                                     None, 4))


def test_training_engines_agree_at_hidden_2():
    cfg = dataclasses.replace(SMALL, hidden_size=2)
    xla = gj.train(cfg, seeds=range(3), progress=False, engine="xla")
    fast = gj.train(cfg, seeds=range(3), progress=False, engine="native")
    assert (xla.engine, fast.engine) == ("xla", "native")
    for module in xla.params:
        for name in xla.params[module]:
            np.testing.assert_allclose(fast.params[module][name], xla.params[module][name],
                                       rtol=0, atol=2e-6)
    np.testing.assert_allclose(fast.train_loss, xla.train_loss, rtol=2e-5)
    np.testing.assert_allclose(fast.test_loss, xla.test_loss, rtol=2e-5)


def _leaves(params):
    return [np.asarray(params[m][k]) for m in sorted(params) for k in sorted(params[m])]


@pytest.fixture(scope="module")
def three_seeds():
    """Seeds 0, 1, 2 at hidden 3, trained uninterrupted by the native engine (chunks of 4)."""
    return gj.train(HIDDEN3, seeds=[0, 1, 2], progress=False, chunk_epochs=4, engine="native")


def test_seed_alone_equals_seed_in_ensemble_at_hidden_3(three_seeds):
    alone = gj.train(HIDDEN3, seeds=[2], progress=False, chunk_epochs=4, engine="native")
    for a, b in zip(_leaves(alone.params), _leaves(three_seeds.params)):   # as at H = 1 (the
        np.testing.assert_allclose(a[0], b[2], rtol=0, atol=1e-5)          # optimizer's XLA
    np.testing.assert_allclose(alone.train_loss[0], three_seeds.train_loss[2], rtol=1e-5)  # loops


def test_resume_after_kill_equals_uninterrupted_at_hidden_3(three_seeds, tmp_path):
    out = str(tmp_path / "run")

    class Kill(Exception):
        pass

    def kill_after_first_chunk(done):
        if done == 4:
            raise Kill

    with pytest.raises(Kill):
        gj.train(HIDDEN3, seeds=[0, 1, 2], out=out, progress=False, chunk_epochs=4,
                 engine="native", on_chunk=kill_after_first_chunk)
    assert os.path.exists(os.path.join(out, "checkpoint.npz"))
    resumed = gj.train(HIDDEN3, seeds=[0, 1, 2], out=out, resume=True, progress=False,
                       chunk_epochs=4, engine="native")
    assert (three_seeds.engine, resumed.engine) == ("native", "native")
    for a, b in zip(_leaves(three_seeds.params), _leaves(resumed.params)):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(three_seeds.train_loss, resumed.train_loss)


def test_auto_picks_native_at_every_compiled_size():
    for hidden in (2, 8, 16):     # hidden 17: tests/test_native.py::test_engine_choice_and_refusals
        cfg = dataclasses.replace(gj.Config(), hidden_size=hidden)
        assert resolve_engine(cfg, "auto").name == "native"
