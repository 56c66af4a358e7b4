"""Signed permutations of hidden units: outputs kept, canonical form invariant, alignment exact.

The reference transform here is written independently of gru_jax.analysis.symmetry, by index
arithmetic on the raw arrays of one model (loops over units and gates).
"""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gru_jax.analysis import canonical, symmetry
from gru_jax.model import forward


def _random_params(lead, hidden, seed=0):
    """Gaussian weights and biases (b_ih and b_hh both non-zero), PyTorch layout."""
    rng = np.random.default_rng(seed)
    shapes = {"gru": {"weight_ih_l0": (3 * hidden, 2), "weight_hh_l0": (3 * hidden, hidden),
                      "bias_ih_l0": (3 * hidden,), "bias_hh_l0": (3 * hidden,)},
              "linear": {"weight": (1, hidden), "bias": (1,)}}
    return {m: {k: rng.normal(size=tuple(lead) + s).astype(np.float32) for k, s in sub.items()}
            for m, sub in shapes.items()}


def _model(params, index):
    return {m: {k: np.asarray(v)[index] for k, v in sub.items()} for m, sub in params.items()}


def reference_transform(model, perm, signs):
    """New unit i = signs[i] x old unit perm[i], for ONE model, by explicit indices.

    Gate g's row of unit u is row g H + u. r/z rows move; n rows move and flip; every W_hh entry
    [g H + i, k] comes from [g H + perm[i], perm[k]] times signs[k] (and signs[i] for n); readout
    column i comes from perm[i] times signs[i].
    """
    hidden = len(perm)
    g = {k: np.asarray(v, np.float64) for k, v in model["gru"].items()}
    w_out = np.asarray(model["linear"]["weight"], np.float64)
    new = {k: np.zeros_like(v) for k, v in g.items()}
    new_out = np.zeros_like(w_out)
    for i in range(hidden):
        for gate in range(3):
            src, dst = gate * hidden + perm[i], gate * hidden + i
            row_sign = signs[i] if gate == 2 else 1.0
            new["weight_ih_l0"][dst] = row_sign * g["weight_ih_l0"][src]
            new["bias_ih_l0"][dst] = row_sign * g["bias_ih_l0"][src]
            new["bias_hh_l0"][dst] = row_sign * g["bias_hh_l0"][src]
            for k in range(hidden):
                new["weight_hh_l0"][dst, k] = row_sign * g["weight_hh_l0"][src, perm[k]] * signs[k]
        new_out[:, i] = signs[i] * w_out[:, perm[i]]
    return {"gru": new, "linear": {"weight": new_out,
                                   "bias": np.asarray(model["linear"]["bias"], np.float64)}}


def _outputs(model, x):
    model = jax.tree_util.tree_map(lambda a: jnp.asarray(a, jnp.float32), model)
    return np.asarray(forward(model, x)[0])


def _inputs(seed=1, n=32, length=6):
    rng = np.random.default_rng(seed)
    values = rng.integers(0, 100, (n, length)) / 100.0
    flags = rng.integers(0, 2, (n, length))
    return jnp.asarray(np.stack([values, flags], -1), jnp.float32)


def _assert_trees_close(a, b, **tol):
    for m in a:
        for k in a[m]:
            np.testing.assert_allclose(np.asarray(a[m][k]), np.asarray(b[m][k]), err_msg=f"{m}.{k}",
                                       **tol)


@pytest.mark.parametrize("hidden", [2, 3, 5])
def test_signed_permutation_keeps_outputs_and_matches_reference(hidden):
    rng = np.random.default_rng(hidden)
    params = _random_params((4,), hidden, seed=hidden)
    perms = np.stack([rng.permutation(hidden) for _ in range(4)])
    signs = rng.choice([-1.0, 1.0], (4, hidden)).astype(np.float32)
    ours = symmetry.apply_signed_permutation(params, perms, signs)
    x = _inputs()
    for i in range(4):
        ref = reference_transform(_model(params, i), perms[i], signs[i])
        _assert_trees_close(_model(ours, i), ref, rtol=0, atol=0)
        np.testing.assert_allclose(_outputs(ref, x), _outputs(_model(params, i), x),
                                   rtol=1e-5, atol=1e-5)
    # the inverse undoes it
    back = symmetry.apply_signed_permutation(ours, *symmetry.inverse(perms, signs))
    _assert_trees_close(back, params, rtol=0, atol=0)


@pytest.mark.parametrize("hidden", [2, 3, 5])
def test_canonical_form_is_invariant_and_keeps_outputs(hidden):
    rng = np.random.default_rng(10 + hidden)
    params = _random_params((3,), hidden, seed=10 + hidden)
    canon = symmetry.canonicalize(params)
    x = _inputs()
    for i in range(3):
        model = _model(params, i)
        np.testing.assert_allclose(_outputs(_model(canon, i), x), _outputs(model, x),
                                   rtol=1e-5, atol=1e-5)
        for _ in range(4):
            moved = reference_transform(model, rng.permutation(hidden),
                                        rng.choice([-1.0, 1.0], hidden))
            _assert_trees_close(symmetry.canonicalize(moved), _model(canon, i),
                                rtol=1e-6, atol=1e-6)
    w_out = canon["linear"]["weight"][:, 0, :]
    assert np.all(w_out >= 0) and np.all(np.diff(w_out, axis=-1) <= 0)    # descending readout
    np.testing.assert_array_equal(canon["gru"]["bias_hh_l0"][..., :2 * hidden], 0.0)
    np.testing.assert_allclose(canon["gru"]["bias_ih_l0"][..., :2 * hidden].sum(-1),
                               (params["gru"]["bias_ih_l0"] + params["gru"]["bias_hh_l0"])
                               [..., :2 * hidden].sum(-1), rtol=1e-5, atol=1e-5)
    # idempotent
    _assert_trees_close(symmetry.canonicalize(canon), canon, rtol=0, atol=0)


def test_canonical_ties_broken_by_biases():
    # two units with the same |readout weight|: the merged z bias decides (descending)
    params = _random_params((), 2, seed=3)
    params["linear"]["weight"][:] = [[0.7, -0.7]]
    canon = symmetry.canonicalize(params)
    merged_z = (params["gru"]["bias_ih_l0"] + params["gru"]["bias_hh_l0"])[2:4]
    assert canon["gru"]["bias_ih_l0"][2] == merged_z.max()
    swapped = reference_transform(params, [1, 0], [-1.0, 1.0])
    _assert_trees_close(symmetry.canonicalize(swapped), canon, rtol=0, atol=1e-6)


def test_hidden_size_one_agrees_with_canonical():
    params = _random_params((7,), 1, seed=4)
    _assert_trees_close(symmetry.canonicalize(params), canonical.canonicalize(params), rtol=0,
                        atol=0)
    assert symmetry.canonical_names(1) == canonical.CANONICAL_NAMES
    np.testing.assert_array_equal(symmetry.canonical_vector(params),
                                  canonical.canonical_vector(params))


def test_canonical_names_index_the_vector():
    hidden = 3
    params = _random_params((2,), hidden, seed=5)
    names = symmetry.canonical_names(hidden)
    assert len(names) == len(set(names)) == 3 * hidden ** 2 + 11 * hidden + 1
    vector = symmetry.canonical_vector(params)
    canon = symmetry.canonicalize(params)
    g = canon["gru"]
    gate_row = {"r": 0, "z": hidden, "n": 2 * hidden}
    for gate in "rzn":
        for u in range(hidden):
            for i, inp in enumerate(("value", "flag")):
                np.testing.assert_array_equal(vector[:, names.index(f"W_i{gate}[u{u},{inp}]")],
                                              g["weight_ih_l0"][:, gate_row[gate] + u, i])
            for k in range(hidden):
                np.testing.assert_array_equal(vector[:, names.index(f"W_h{gate}[u{u},u{k}]")],
                                              g["weight_hh_l0"][:, gate_row[gate] + u, k])
    for u in range(hidden):
        np.testing.assert_array_equal(vector[:, names.index(f"b_z[u{u}]")],
                                      g["bias_ih_l0"][:, hidden + u])
        np.testing.assert_array_equal(vector[:, names.index(f"b_hn[u{u}]")],
                                      g["bias_hh_l0"][:, 2 * hidden + u])
        np.testing.assert_array_equal(vector[:, names.index(f"w_out[u{u}]")],
                                      canon["linear"]["weight"][:, 0, u])
    np.testing.assert_array_equal(vector[:, -1], canon["linear"]["bias"][:, 0])


@pytest.mark.parametrize("hidden", [3, 5])
def test_align_recovers_a_known_transform(hidden):
    rng = np.random.default_rng(20 + hidden)
    reference = _random_params((), hidden, seed=20 + hidden)
    n_models = 6
    perms = np.stack([rng.permutation(hidden) for _ in range(n_models)])
    signs = rng.choice([-1.0, 1.0], (n_models, hidden))
    moved = [reference_transform(reference, perms[i], signs[i]) for i in range(n_models)]
    stacked = {m: {k: np.stack([mv[m][k] for mv in moved])
                   + 1e-2 * rng.normal(size=(n_models,) + np.shape(reference[m][k]))
                   for k in reference[m]} for m in reference}
    perm, sign = symmetry.align_transform(stacked, reference)
    for i in range(n_models):
        inverse = np.argsort(perms[i])                           # new unit j = old unit perm[j]
        np.testing.assert_array_equal(perm[i], inverse)
        np.testing.assert_array_equal(sign[i], signs[i][inverse])
    aligned = symmetry.align(stacked, reference)
    merged = canonical.merge_biases(reference)
    for i in range(n_models):
        _assert_trees_close(_model(aligned, i), merged, rtol=0, atol=0.1)
