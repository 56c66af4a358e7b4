"""Signed permutations of hidden units: outputs kept, canonical form invariant, alignment exact.

The reference transform here is written independently of gru_jax.analysis.symmetry, by index
arithmetic on the raw arrays of one model (loops over units and gates).
"""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gru_jax.analysis import symmetry
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


# ---- hidden size 1: the sign flip, and the numbers of the former H = 1 module ------------------
# A frozen copy of gru_jax/analysis/canonical.py as it was before symmetry.py took over its
# job (commit be31a71): the H = 1 canonical form that committed results were computed with.
# The general functions must give the same numbers, to the bit.
H1_NAMES = (
    "W_ir[value]", "W_ir[flag]", "W_iz[value]", "W_iz[flag]", "W_in[value]", "W_in[flag]",
    "W_hr", "W_hz", "W_hn", "b_r", "b_z", "b_in", "b_hn", "w_out", "b_out",
)


def _h1_as_numpy(params):
    return {m: {k: np.asarray(v, np.float32) for k, v in sub.items()} for m, sub in params.items()}


def _h1_hidden(params) -> int:
    return int(np.shape(params["gru"]["weight_hh_l0"])[-1])


def h1_apply_signs(params, signs):
    p = _h1_as_numpy(params)
    hidden = _h1_hidden(p)
    s = np.asarray(signs, np.float32)
    lead = p["gru"]["weight_hh_l0"].shape[:-2]
    s = np.broadcast_to(s, lead + (hidden,))
    ones = np.ones_like(s)
    row = np.concatenate([ones, ones, s], axis=-1)
    col = s[..., None, :]
    hh_rows = np.concatenate([ones, ones, s], axis=-1)[..., :, None]
    gru = p["gru"]
    return {
        "gru": {
            "weight_ih_l0": gru["weight_ih_l0"] * row[..., :, None],
            "weight_hh_l0": gru["weight_hh_l0"] * col * hh_rows,
            "bias_ih_l0": gru["bias_ih_l0"] * row,
            "bias_hh_l0": gru["bias_hh_l0"] * row,
        },
        "linear": {"weight": p["linear"]["weight"] * col, "bias": p["linear"]["bias"].copy()},
    }


def h1_flip_sign(params):
    p = _h1_as_numpy(params)
    lead = p["gru"]["weight_hh_l0"].shape[:-2]
    return h1_apply_signs(p, -np.ones(lead + (_h1_hidden(p),), np.float32))


def h1_merge_biases(params):
    p = _h1_as_numpy(params)
    hidden = _h1_hidden(p)
    b_ih, b_hh = p["gru"]["bias_ih_l0"].copy(), p["gru"]["bias_hh_l0"].copy()
    b_ih[..., : 2 * hidden] += b_hh[..., : 2 * hidden]
    b_hh[..., : 2 * hidden] = 0.0
    p["gru"]["bias_ih_l0"], p["gru"]["bias_hh_l0"] = b_ih, b_hh
    return p


def h1_canonicalize(params):
    p = h1_merge_biases(params)
    w_out = p["linear"]["weight"]
    signs = np.where(w_out[..., 0, :] < 0, -1.0, 1.0).astype(np.float32)
    return h1_apply_signs(p, signs)


def h1_canonical_vector(params) -> np.ndarray:
    p = h1_canonicalize(params)
    w_ih, w_hh = p["gru"]["weight_ih_l0"], p["gru"]["weight_hh_l0"]
    b_ih, b_hh = p["gru"]["bias_ih_l0"], p["gru"]["bias_hh_l0"]
    columns = [w_ih[..., 0, 0], w_ih[..., 0, 1], w_ih[..., 1, 0], w_ih[..., 1, 1],
               w_ih[..., 2, 0], w_ih[..., 2, 1], w_hh[..., 0, 0], w_hh[..., 1, 0],
               w_hh[..., 2, 0], b_ih[..., 0], b_ih[..., 1], b_ih[..., 2], b_hh[..., 2],
               p["linear"]["weight"][..., 0, 0], p["linear"]["bias"][..., 0]]
    return np.stack(columns, axis=-1).astype(np.float32)


def h1_from_canonical_vector(vector) -> dict:
    v = np.asarray(vector, np.float32)
    c = {name: v[..., i] for i, name in enumerate(H1_NAMES)}
    zero = np.zeros_like(c["b_r"])
    w_ih = np.stack([np.stack([c["W_ir[value]"], c["W_ir[flag]"]], -1),
                     np.stack([c["W_iz[value]"], c["W_iz[flag]"]], -1),
                     np.stack([c["W_in[value]"], c["W_in[flag]"]], -1)], axis=-2)
    return {
        "gru": {"weight_ih_l0": w_ih,
                "weight_hh_l0": np.stack([c["W_hr"], c["W_hz"], c["W_hn"]], -1)[..., None],
                "bias_ih_l0": np.stack([c["b_r"], c["b_z"], c["b_in"]], -1),
                "bias_hh_l0": np.stack([zero, zero, c["b_hn"]], -1)},
        "linear": {"weight": c["w_out"][..., None, None], "bias": c["b_out"][..., None]},
    }


def _assert_trees_bitwise(a, b):
    assert jax.tree_util.tree_structure(a) == jax.tree_util.tree_structure(b)
    for m in a:
        for k in a[m]:
            x, y = np.asarray(a[m][k]), np.asarray(b[m][k])
            assert x.dtype == y.dtype == np.float32 and x.shape == y.shape, f"{m}.{k}"
            np.testing.assert_array_equal(x.view(np.uint32), y.view(np.uint32), err_msg=f"{m}.{k}")


def test_hidden_size_one_equals_the_former_h1_functions():
    params = _random_params((7, 5), 1, seed=4)                # seeds x snapshots
    params["linear"]["weight"][0, :2, 0, 0] = [0.0, -0.0]      # zero readouts keep their sign
    params = jax.tree_util.tree_map(lambda a: a * 3.0, params)  # beyond the init's range
    _assert_trees_bitwise(symmetry.canonicalize(params), h1_canonicalize(params))
    vector = symmetry.canonical_vector(params)
    assert vector.shape == (7, 5, 15)
    np.testing.assert_array_equal(vector.view(np.uint32),
                                  h1_canonical_vector(params).view(np.uint32))
    assert symmetry.canonical_names(1) == symmetry.CANONICAL_NAMES == H1_NAMES
    _assert_trees_bitwise(symmetry.from_canonical_vector(vector), h1_from_canonical_vector(vector))
    _assert_trees_bitwise(symmetry.merge_biases(params), h1_merge_biases(params))
    _assert_trees_bitwise(symmetry.flip_sign(params), h1_flip_sign(params))
    two = _random_params((3,), 2, seed=6)                      # flip_sign at any H
    _assert_trees_bitwise(symmetry.flip_sign(two), h1_flip_sign(two))


@jax.jit
def _outputs_jit(params, x):
    return jax.vmap(lambda p: forward(p, x)[0])(params)


def _outputs_batched(params, x):
    """Outputs of every model of params with one leading axis: ``(S, B, 1)``."""
    return np.asarray(_outputs_jit(jax.tree_util.tree_map(jnp.asarray, params), x))


def test_flip_and_canonicalize_keep_outputs():
    params = _random_params((16,), 1)
    x = _inputs(n=64)
    y = _outputs_batched(params, x)
    np.testing.assert_allclose(_outputs_batched(symmetry.flip_sign(params), x), y,
                               rtol=1e-5, atol=1e-5)
    canon = symmetry.canonicalize(params)
    np.testing.assert_allclose(_outputs_batched(canon, x), y, rtol=1e-5, atol=1e-5)
    assert np.all(canon["linear"]["weight"] >= 0)
    np.testing.assert_array_equal(canon["gru"]["bias_hh_l0"][..., :2], 0.0)
    # the flip really changes signs (it is not the identity)
    assert np.any(symmetry.flip_sign(params)["linear"]["weight"] != params["linear"]["weight"])


def test_per_unit_signs_for_two_units():
    params = _random_params((4,), 2)
    x = _inputs(n=64)
    flipped = symmetry.apply_signed_permutation(params, np.arange(2),
                                                np.array([1.0, -1.0], np.float32))
    np.testing.assert_allclose(_outputs_batched(flipped, x), _outputs_batched(params, x),
                               rtol=1e-5, atol=1e-5)


def test_idempotent_and_involution():
    params = _random_params((8,), 1)
    once = symmetry.canonicalize(params)
    twice = symmetry.canonicalize(once)
    for module in once:
        for leaf in once[module]:
            np.testing.assert_array_equal(once[module][leaf], twice[module][leaf])
    back = symmetry.flip_sign(symmetry.flip_sign(params))
    np.testing.assert_array_equal(back["gru"]["weight_ih_l0"], params["gru"]["weight_ih_l0"])
    # a params set and its flip share one canonical form
    np.testing.assert_allclose(symmetry.canonical_vector(symmetry.flip_sign(params)),
                               symmetry.canonical_vector(params), rtol=0, atol=1e-6)


@pytest.mark.parametrize("hidden", [1, 3])
def test_canonical_vector_round_trip_and_leading_axes(hidden):
    params = _random_params((6,), hidden)
    stacked = jax.tree_util.tree_map(lambda a: np.stack([a, a, a], axis=1), params)  # (6, 3, ...)
    vec = symmetry.canonical_vector(stacked)
    names = symmetry.canonical_names(hidden)
    assert vec.shape == (6, 3, len(names))
    back = symmetry.from_canonical_vector(vec)
    np.testing.assert_allclose(symmetry.canonical_vector(back), vec, atol=1e-6)
    _assert_trees_close(back, symmetry.canonicalize(stacked), rtol=0, atol=0)
    if hidden == 1:
        # coordinate meaning: the merged z bias is b_ih + b_hh of the z row
        merged = params["gru"]["bias_ih_l0"][:, 1] + params["gru"]["bias_hh_l0"][:, 1]
        np.testing.assert_allclose(vec[:, 0, names.index("b_z")], merged, atol=1e-6)
        assert np.all(vec[..., names.index("w_out")] >= 0)
    with pytest.raises(ValueError, match="3 H"):
        symmetry.from_canonical_vector(vec[..., :-1])


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
    merged = symmetry.merge_biases(reference)
    for i in range(n_models):
        _assert_trees_close(_model(aligned, i), merged, rtol=0, atol=0.1)
