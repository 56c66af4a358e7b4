"""The Flax module ``AddingGRU`` as a public entry point: ``init`` gives the PyTorch layout
(names, shapes, the same numbers as ``gj.init_params``), ``apply`` equals ``gj.forward``, an
independent float64 numpy GRU, and the blog's published output for its seed-37 network."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gru_jax as gj
from gru_jax.blog import SEED37_STATE_DICT as BLOG_SEED37_STATE_DICT
from gru_jax.interop import STATE_DICT_KEYS, state_dict_shapes
from gru_jax.model import AddingGRU


def numpy_gru(state_dict, x):
    """torch.nn.GRU + Linear in float64, written from the PyTorch documentation's equations.

    x ``(B, T, I)``; returns ``(y (B, O), hs (B, T, H))``.
    """
    sd = {k: np.asarray(v, np.float64) for k, v in state_dict.items()}
    w_ih, w_hh = sd["gru.weight_ih_l0"], sd["gru.weight_hh_l0"]
    b_ih, b_hh = sd["gru.bias_ih_l0"], sd["gru.bias_hh_l0"]
    hidden = w_hh.shape[1]
    sigmoid = lambda a: 1.0 / (1.0 + np.exp(-a))
    h = np.zeros((x.shape[0], hidden))
    hs = []
    for t in range(x.shape[1]):
        gi = x[:, t].astype(np.float64) @ w_ih.T + b_ih            # (B, 3H): rows r, z, n
        gh = h @ w_hh.T + b_hh
        r = sigmoid(gi[:, :hidden] + gh[:, :hidden])
        z = sigmoid(gi[:, hidden:2 * hidden] + gh[:, hidden:2 * hidden])
        n = np.tanh(gi[:, 2 * hidden:] + r * gh[:, 2 * hidden:])
        h = (1 - z) * n + z * h
        hs.append(h)
    return h @ sd["linear.weight"].T + sd["linear.bias"], np.stack(hs, axis=1)


def sequences(batch, length, seed=0):
    rng = np.random.default_rng(seed)
    x = np.zeros((batch, length, 2), np.float32)
    x[:, :, 0] = rng.integers(0, 100, (batch, length)) / 100
    for row in x:
        row[rng.choice(length, 2, replace=False), 1] = 1
    return x


@pytest.mark.parametrize("hidden", [1, 3])
def test_init_gives_the_pytorch_layout_and_init_params(hidden):
    key = jax.random.key(11)
    x = jnp.asarray(sequences(5, 4))
    variables = AddingGRU(hidden_size=hidden).init(key, x)
    params = variables["params"]
    assert sorted(params) == sorted(STATE_DICT_KEYS)
    assert {k: tuple(v.shape) for k, v in params.items()} == state_dict_shapes(hidden)
    assert all(v.dtype == jnp.float32 for v in params.values())
    expected = gj.to_state_dict(gj.init_params(gj.Config(hidden_size=hidden), key))
    for name in STATE_DICT_KEYS:
        np.testing.assert_array_equal(np.asarray(params[name]), expected[name], err_msg=name)
    # the seed's init: orthogonal stacked matrices, zero biases
    w_ih = np.asarray(params["gru.weight_ih_l0"], np.float64)
    np.testing.assert_allclose(w_ih.T @ w_ih, np.eye(2), atol=1e-6)
    assert not np.any(np.asarray(params["gru.bias_hh_l0"]))


@pytest.mark.parametrize("hidden", [1, 3])
def test_apply_equals_forward_and_a_float64_numpy_gru(hidden):
    module = AddingGRU(hidden_size=hidden)
    x = sequences(16, 7, seed=hidden)
    variables = module.init(jax.random.key(3), x)
    # larger than init weights, so that the gates are not all near 0.5
    rng = np.random.default_rng(hidden)
    state_dict = {k: (1.5 * rng.standard_normal(v.shape)).astype(np.float32)
                  for k, v in variables["params"].items()}
    y, hs = module.apply({"params": state_dict}, x)
    assert y.shape == (16, 1) and hs.shape == (16, 7, hidden)
    y_ref, hs_ref = gj.forward(gj.from_state_dict(state_dict), x)
    np.testing.assert_array_equal(np.asarray(y), np.asarray(y_ref))
    np.testing.assert_array_equal(np.asarray(hs), np.asarray(hs_ref))
    y64, hs64 = numpy_gru(state_dict, x)
    np.testing.assert_allclose(np.asarray(y), y64, rtol=0, atol=2e-5)
    np.testing.assert_allclose(np.asarray(hs), hs64, rtol=0, atol=2e-6)


def test_blog_seed37_network_gives_the_published_output():
    """Part 2 of the blog: (12,0) (37,1) (12,0) (21,1) -> 57.81 (target 58)."""
    x = np.array([[[12, 0], [37, 1], [12, 0], [21, 1]]], np.float32)
    x[..., 0] /= 100
    params = {k: np.asarray(v, np.float32) for k, v in BLOG_SEED37_STATE_DICT.items()}
    y, _ = AddingGRU().apply({"params": params}, x)
    assert round(float(y[0, 0]) * 100, 2) == 57.81
    y64, _ = numpy_gru(BLOG_SEED37_STATE_DICT, x)
    assert abs(float(y[0, 0]) - float(y64[0, 0])) < 1e-6


def test_apply_vmapped_over_seeds_and_left_padding():
    module = AddingGRU()
    x = jnp.asarray(sequences(8, 4, seed=5))
    keys = jax.random.split(jax.random.key(0), 6)
    stacked = jax.vmap(lambda k: module.init(k, x))(keys)              # leading seed axis
    y_all, _ = jax.jit(jax.vmap(lambda v: module.apply(v, x)))(stacked)
    for s in range(6):
        one = jax.tree_util.tree_map(lambda a: a[s], stacked)
        np.testing.assert_allclose(np.asarray(y_all[s]), np.asarray(module.apply(one, x)[0]),
                                   rtol=0, atol=1e-6)   # float32 rounding: jit fuses
    # two steps of left padding marked invalid leave the state as if they were not there
    padded = jnp.concatenate([jnp.full((8, 2, 2), 0.7), x], axis=1)
    valid = jnp.array([False, False, True, True, True, True])
    one = jax.tree_util.tree_map(lambda a: a[0], stacked)
    y_padded, _ = module.apply(one, padded, valid)
    np.testing.assert_array_equal(np.asarray(y_padded), np.asarray(module.apply(one, x)[0]))
