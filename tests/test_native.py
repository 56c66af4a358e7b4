"""gru_jax.native and gru_jax.engines.native: the CPU kernels against PyTorch, against the
XLA path, and their guards.

The loss/gradient kernel is checked against torch's autograd (an independent reference) and
against ``jax.value_and_grad`` of gru_jax.model on the shapes the trainer uses (per-seed and
shared data, left padding, saturated gates); the shuffle kernel must give the XLA sort's
permutation bit for bit.
"""
import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gru_jax as gj
import torch_reference as ref
from gru_jax import native
from gru_jax.data import next_order
from gru_jax.model import forward_columns
from gru_jax.engines import native as ops
from gru_jax.engines import resolve_engine
from gru_jax.native import build

pytestmark = pytest.mark.skipif(native.load() is None,
                                reason=f"native kernels unavailable: {native.unavailable_reason()}")


def xla_loss_and_grad(params, x_train, y_train, index, valid):
    """The XLA path of gru_jax.train (model differentiated by JAX), for one seed."""
    x = jnp.transpose(x_train[index], (1, 2, 0))
    y = y_train[index].T
    return jax.value_and_grad(lambda p: jnp.mean((forward_columns(p, x, valid)[0] - y) ** 2))(
        params)


def random_case(seeds, scale=1.0, n=500, steps=4, batch=64, seed=0):
    rng = np.random.default_rng(seed)
    params = {"gru": {"weight_ih_l0": rng.normal(0, scale, (seeds, 3, 2)),
                      "weight_hh_l0": rng.normal(0, scale, (seeds, 3, 1)),
                      "bias_ih_l0": rng.normal(0, scale, (seeds, 3)),
                      "bias_hh_l0": rng.normal(0, scale, (seeds, 3))},
              "linear": {"weight": rng.normal(0, scale, (seeds, 1, 1)),
                         "bias": rng.normal(0, scale, (seeds, 1))}}
    params = jax.tree_util.tree_map(lambda a: jnp.asarray(a, jnp.float32), params)
    values = rng.integers(0, 100, (seeds, n, steps, 1)) / 100.0
    flags = (rng.uniform(size=(seeds, n, steps, 1)) < 0.5)
    x = jnp.asarray(np.concatenate([values, flags], -1), jnp.float32)
    y = jnp.asarray(rng.uniform(0, 2, (seeds, n, 1)), jnp.float32)
    index = jnp.asarray(rng.integers(0, n, (seeds, batch)), jnp.int32)
    return params, x, y, index


def assert_grads_close(ours, theirs, rtol=2e-6):
    for a, b in zip(jax.tree_util.tree_leaves(ours), jax.tree_util.tree_leaves(theirs)):
        a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
        scale = max(np.max(np.abs(b)), 1e-30)
        assert np.max(np.abs(a - b)) / scale <= rtol, (np.max(np.abs(a - b)), scale)


@pytest.mark.parametrize("length", [1, 4, 7])
def test_loss_and_grad_match_torch(length):
    state_dict, x, target, = ref.model_case(1, length)
    expected = ref.reference("model", f"H1_T{length}",
                             lambda: ref.torch_forward_and_grads(state_dict, x, target))
    params = gj.from_state_dict(state_dict)
    rows = ops.pack_rows(jnp.asarray(x), jnp.asarray(target))
    loss, grads = ops.loss_and_grad(params, rows, jnp.arange(x.shape[0]), None, length)
    assert abs(float(loss) - float(expected["loss"])) <= 1e-6 * abs(float(expected["loss"]))
    ours = gj.to_state_dict(grads)
    for name, value in ours.items():
        theirs = expected["grad." + name]
        scale = np.max(np.abs(theirs))
        diff = np.max(np.abs(np.asarray(value) - theirs))
        assert (diff / scale if scale > 0 else diff) <= 2e-6, (name, diff, scale)


@pytest.mark.parametrize("scale", [0.5, 8.0])   # 8.0: pre-activations beyond +-30, saturated
def test_loss_and_grad_match_xla_per_seed_data(scale):
    params, x, y, index = random_case(seeds=6, scale=scale)
    want = jax.jit(jax.vmap(lambda p, a, b, i: xla_loss_and_grad(p, a, b, i, None)))(
        params, x, y, index)
    got = jax.jit(jax.vmap(lambda p, a, b, i: ops.loss_and_grad(
        p, ops.pack_rows(a, b), i, None, 4)))(params, x, y, index)
    np.testing.assert_allclose(got[0], want[0], rtol=2e-6)
    assert_grads_close(got[1], want[1], rtol=5e-6 if scale > 1 else 2e-6)


def test_shared_data_and_left_padding_match_xla():
    params, x, y, index = random_case(seeds=5, steps=6, batch=37)   # 37: a partial lane group
    valid = jnp.asarray([False, False, True, True, True, True])
    want = jax.jit(jax.vmap(lambda p, i: xla_loss_and_grad(p, x[0], y[0], i, valid)))(
        params, index)
    rows = ops.pack_rows(x[0], y[0])
    got = jax.jit(jax.vmap(lambda p, i: ops.loss_and_grad(p, rows, i, valid, 6)))(params, index)
    np.testing.assert_allclose(got[0], want[0], rtol=2e-6)
    assert_grads_close(got[1], want[1])


def test_pack_rows_layout():
    x = jnp.arange(3 * 4 * 2, dtype=jnp.float32).reshape(3, 4, 2)
    y = jnp.asarray([[100.0], [101.0], [102.0]])
    rows = np.asarray(ops.pack_rows(x, y))
    assert rows.shape == (3, 16)
    np.testing.assert_array_equal(rows[1, :8], np.arange(8, 16))
    assert rows[1, 8] == 101.0 and not rows[:, 9:].any()


@pytest.mark.parametrize("steps", [1, 4, 9])
def test_pack_rows_equals_numpy_for_a_seed_axis(steps):
    """The native pack under vmap (one call for all seeds) against the layout built in numpy,
    at lengths whose rows are one (T = 1, 4) and two (T = 9: 19 floats) 16-float blocks."""
    rng = np.random.default_rng(steps)
    x = rng.standard_normal((3, 70, steps, 2)).astype(np.float32)
    y = rng.standard_normal((3, 70, 1)).astype(np.float32)
    width = 16 * -(-(2 * steps + 1) // 16)
    want = np.zeros((3, 70, width), np.float32)
    want[..., :2 * steps] = x.reshape(3, 70, 2 * steps)
    want[..., 2 * steps] = y[..., 0]
    got = np.asarray(jax.jit(jax.vmap(ops.pack_rows))(jnp.asarray(x), jnp.asarray(y)))
    np.testing.assert_array_equal(got, want)


def test_index_outside_the_data_is_an_error():
    params, x, y, index = random_case(seeds=1, n=50)
    one = jax.tree_util.tree_map(lambda a: a[0], params)
    bad = index[0].at[3].set(50)
    with pytest.raises(Exception, match="outside"):
        jax.block_until_ready(ops.loss_and_grad(one, ops.pack_rows(x[0], y[0]), bad, None, 4))


@pytest.mark.parametrize("n", [1, 2, 3, 5, 257, 8000])
def test_next_order_equals_the_xla_sort(n):
    keys = jax.random.split(jax.random.key(n), 3)
    previous = jax.vmap(lambda k: jax.random.permutation(k, n).astype(jnp.int32))(keys)
    epoch_keys = jax.random.split(jax.random.key(n + 1), 3)
    want = jax.jit(jax.vmap(next_order))(previous, epoch_keys)
    got = jax.jit(jax.vmap(ops.next_order))(previous, epoch_keys)
    np.testing.assert_array_equal(got, want)
    assert np.array_equal(np.sort(np.asarray(got), axis=1), np.tile(np.arange(n), (3, 1)))


def test_training_engines_agree():
    cfg = gj.Config(n_samples=1000, batch_size=64, epochs=12, eval_every=5)
    xla = gj.train(cfg, seeds=range(4), progress=False, engine="xla")
    fast = gj.train(cfg, seeds=range(4), progress=False, engine="native")
    assert (xla.engine, fast.engine) == ("xla", "native")
    for module in xla.params:
        for name in xla.params[module]:
            np.testing.assert_allclose(fast.params[module][name], xla.params[module][name],
                                       rtol=0, atol=2e-6)
    np.testing.assert_allclose(fast.train_loss, xla.train_loss, rtol=2e-5)
    np.testing.assert_allclose(fast.test_loss, xla.test_loss, rtol=2e-5)


def test_engine_choice_and_refusals():
    cfg = gj.Config()
    assert resolve_engine(cfg, "auto").name == "native"
    assert resolve_engine(cfg, "xla").name == "xla"
    wide = dataclasses.replace(cfg, hidden_size=17)
    assert resolve_engine(wide, "auto").name == "xla"
    with pytest.raises(ValueError, match="hidden 1..16 \\(the Config has hidden 17"):
        resolve_engine(wide, "native")
    with pytest.raises(ValueError, match="engine must be one of"):
        resolve_engine(cfg, "fast")


def test_missing_compiler_falls_back(monkeypatch, tmp_path):
    saved = dict(build._state)
    monkeypatch.setenv("CXX", str(tmp_path / "no-such-compiler"))
    monkeypatch.setenv("GRU_JAX_CACHE", str(tmp_path))
    build._state.update(tried=False, library=None)
    try:
        assert build.load() is None
        assert "no C++ compiler" in build.unavailable_reason()
        with pytest.warns(UserWarning, match="XLA engine"):
            assert resolve_engine(gj.Config(), "auto").name == "xla"
        with pytest.raises(ValueError, match="no C\\+\\+ compiler"):
            resolve_engine(gj.Config(), "native")
    finally:
        build._state.clear()
        build._state.update(saved)
