"""The hand-crafted accumulator at any hidden size: unit 0 adds, the other units stay inert."""
import math

import jax.numpy as jnp
import numpy as np

from gru_jax import handcrafted
from gru_jax.model import forward


def _sequences(rng, n, length, flags, high=100):
    """``(n, length, 2)`` original-unit (value, flag) rows with exactly ``flags`` flags each."""
    values = rng.integers(0, high, (n, length))
    order = np.argsort(rng.random((n, length)), axis=1)
    mask = np.zeros((n, length))
    np.put_along_axis(mask, order[:, :flags], 1.0, axis=1)
    return np.stack([values, mask], -1).astype(np.float64)


def _outputs(params, x_raw, high=100):
    """forward on scaled inputs -> outputs in original units, ``(n,)``."""
    x = jnp.asarray(x_raw * [1.0 / high, 1.0], jnp.float32)
    return np.asarray(forward(params, x)[0])[:, 0].astype(np.float64) * high


def test_hidden_size_one_is_the_derivation():
    # the module docstring's weights: W_iz[flag] = -2s, b_z = s, W_in[value] = a, b_r = b,
    # W_hn = 1 / sigmoid(b), w_out = 1 / (a (1 - sigmoid(-s))); everything else 0
    a, s = handcrafted.DEFAULT_GAIN, handcrafted.DEFAULT_SHARPNESS
    b = handcrafted.DEFAULT_RESET_BIAS
    sigmoid = lambda v: 1.0 / (1.0 + math.exp(-v))
    params = handcrafted.accumulator(hidden_size=1)
    g = params["gru"]
    np.testing.assert_array_equal(g["weight_ih_l0"], np.float32([[0, 0], [0, -2 * s], [a, 0]]))
    np.testing.assert_array_equal(g["weight_hh_l0"], np.float32([[0], [0], [1 / sigmoid(b)]]))
    np.testing.assert_array_equal(g["bias_ih_l0"], np.float32([b, s, 0]))
    np.testing.assert_array_equal(g["bias_hh_l0"], np.zeros(3, np.float32))
    np.testing.assert_array_equal(params["linear"]["weight"],
                                  np.float32([[1 / (a * (1 - sigmoid(-s)))]]))
    np.testing.assert_array_equal(params["linear"]["bias"], np.zeros(1, np.float32))
    default = handcrafted.accumulator()
    for m in params:
        for k in params[m]:
            np.testing.assert_array_equal(default[m][k], params[m][k])


def test_three_units_compute_what_one_unit_computes():
    rng = np.random.default_rng(0)
    one, three = handcrafted.accumulator(), handcrafted.accumulator(hidden_size=3)
    assert three["gru"]["weight_hh_l0"].shape == (9, 3)
    assert three["linear"]["weight"].shape == (1, 3)
    x = np.concatenate([rng.integers(0, 100, (64, 30, 1)), rng.integers(0, 2, (64, 30, 1))], -1)
    y1, y3 = _outputs(one, x.astype(float)), _outputs(three, x.astype(float))
    np.testing.assert_allclose(y3, y1, rtol=1e-6, atol=1e-6)
    # the inert units hold exactly 0 along the way
    _, hs = forward(three, jnp.asarray(x * [0.01, 1.0], jnp.float32))
    np.testing.assert_array_equal(np.asarray(hs)[..., 1:], 0.0)


def test_error_bound_holds_at_three_units():
    rng = np.random.default_rng(1)
    params = handcrafted.accumulator(hidden_size=3)
    for length, flags in [(100, 1), (100, 10), (40, 5), (10, 10)]:
        x = _sequences(rng, 256, length, flags)
        target = np.sum(x[..., 0] * x[..., 1], axis=1)
        rel = np.sqrt(np.mean((_outputs(params, x) - target) ** 2) / np.mean(target ** 2))
        bound = handcrafted.error_bound(length, flags)
        # float32 adds ~2^-24 per step (module docstring): at most ~1e-6 at L = 100
        assert rel <= bound * 1.05 + 1e-6, (length, flags, rel, bound)
