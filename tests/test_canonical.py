"""Canonical form: the symmetry keeps outputs, canonicalization is idempotent."""
import jax
import jax.numpy as jnp
import numpy as np

from gru_jax.analysis.canonical import (CANONICAL_NAMES, apply_signs, canonical_vector,
                                        canonicalize, flip_sign, from_canonical_vector)
from gru_jax.model import forward


def _random_params(n_seeds, hidden=1, seed=0):
    """Gaussian weights and biases (both b_ih and b_hh non-zero), PyTorch layout."""
    rng = np.random.default_rng(seed)
    shapes = {"gru": {"weight_ih_l0": (3 * hidden, 2), "weight_hh_l0": (3 * hidden, hidden),
                      "bias_ih_l0": (3 * hidden,), "bias_hh_l0": (3 * hidden,)},
              "linear": {"weight": (1, hidden), "bias": (1,)}}
    return {m: {k: rng.normal(size=(n_seeds,) + s).astype(np.float32) for k, s in sub.items()}
            for m, sub in shapes.items()}


@jax.jit
def _outputs_jit(params, x):
    return jax.vmap(lambda p: forward(p, x)[0])(params)


def _outputs(params, x):
    return np.asarray(_outputs_jit(jax.tree_util.tree_map(jnp.asarray, params), x))


def _inputs(n=64, length=6):
    rng = np.random.default_rng(1)
    values = rng.integers(0, 100, (n, length)) / 100.0
    flags = rng.integers(0, 2, (n, length))
    return jnp.asarray(np.stack([values, flags], -1), jnp.float32)


def test_flip_and_canonicalize_keep_outputs():
    params = _random_params(16)
    x = _inputs()
    y = _outputs(params, x)
    np.testing.assert_allclose(_outputs(flip_sign(params), x), y, rtol=1e-5, atol=1e-5)
    canon = canonicalize(params)
    np.testing.assert_allclose(_outputs(canon, x), y, rtol=1e-5, atol=1e-5)
    assert np.all(canon["linear"]["weight"] >= 0)
    np.testing.assert_array_equal(canon["gru"]["bias_hh_l0"][..., :2], 0.0)
    # the flip really changes signs (it is not the identity)
    assert np.any(flip_sign(params)["linear"]["weight"] != params["linear"]["weight"])


def test_per_unit_signs_for_two_units():
    params = _random_params(4, hidden=2)
    x = _inputs()
    flipped = apply_signs(params, np.array([1.0, -1.0], np.float32))
    np.testing.assert_allclose(_outputs(flipped, x), _outputs(params, x), rtol=1e-5, atol=1e-5)


def test_idempotent_and_involution():
    params = _random_params(8)
    once = canonicalize(params)
    twice = canonicalize(once)
    for module in once:
        for leaf in once[module]:
            np.testing.assert_array_equal(once[module][leaf], twice[module][leaf])
    back = flip_sign(flip_sign(params))
    np.testing.assert_array_equal(back["gru"]["weight_ih_l0"], params["gru"]["weight_ih_l0"])
    # a params set and its flip share one canonical form
    np.testing.assert_allclose(canonical_vector(flip_sign(params)), canonical_vector(params),
                               rtol=0, atol=1e-6)


def test_canonical_vector_round_trip_and_leading_axes():
    params = _random_params(6)
    stacked = jax.tree_util.tree_map(lambda a: np.stack([a, a, a], axis=1), params)  # (6, 3, ...)
    vec = canonical_vector(stacked)
    assert vec.shape == (6, 3, len(CANONICAL_NAMES))
    back = from_canonical_vector(vec)
    np.testing.assert_allclose(canonical_vector(back), vec, atol=1e-6)
    # coordinate meaning: the merged z bias is b_ih + b_hh of the z row
    merged = params["gru"]["bias_ih_l0"][:, 1] + params["gru"]["bias_hh_l0"][:, 1]
    np.testing.assert_allclose(vec[:, 0, CANONICAL_NAMES.index("b_z")], merged, atol=1e-6)
    assert np.all(vec[..., CANONICAL_NAMES.index("w_out")] >= 0)
