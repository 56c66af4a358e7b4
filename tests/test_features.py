"""Per-seed mechanism features against a numpy GRU written here (an independent reference)."""
import numpy as np

from gru_jax import handcrafted
from gru_jax.analysis.thresholds import behaviour_probe
from gru_jax.analysis.features import (feature_names, gates_and_route, route_shares,
                                       seed_features)
from gru_jax.analysis.symmetry import apply_signed_permutation
from test_census import BLOG, _two_unit

sigmoid = lambda a: 1.0 / (1.0 + np.exp(-a))


def _numpy_gru(params, x):
    """x (N, T, 2) scaled -> y (N,), z (N, T, H), r (N, T, H); float64."""
    g = {k: np.asarray(v, np.float64) for k, v in params["gru"].items()}
    hidden = g["weight_hh_l0"].shape[1]
    h = np.zeros((x.shape[0], hidden))
    zs, rs = [], []
    for t in range(x.shape[1]):
        gi = x[:, t] @ g["weight_ih_l0"].T + g["bias_ih_l0"]
        gh = h @ g["weight_hh_l0"].T + g["bias_hh_l0"]
        r = sigmoid(gi[:, :hidden] + gh[:, :hidden])
        z = sigmoid(gi[:, hidden:2 * hidden] + gh[:, hidden:2 * hidden])
        n = np.tanh(gi[:, 2 * hidden:] + r * gh[:, 2 * hidden:])
        h = (1 - z) * n + z * h
        zs.append(z)
        rs.append(r)
    y = h @ np.asarray(params["linear"]["weight"], np.float64).T[:, 0] + params["linear"]["bias"][0]
    return y, np.stack(zs, 1), np.stack(rs, 1)


def _reference(params, high=100):
    """The eight gate/route features by the definitions in features' docstring, in numpy."""
    x_raw, y_raw = behaviour_probe(high=high)
    x = np.stack([x_raw[..., 0] / high, x_raw[..., 1]], -1)
    y, z, r = _numpy_gru(params, x)
    w = np.abs(np.asarray(params["linear"]["weight"][0], np.float64))
    z, r = z @ (w / w.sum()), r @ (w / w.sum())
    on = x[..., 1] > 0.5
    out = [z[~on].mean(), z[on].mean(), r[~on].mean(), r[on].mean()]
    hidden = len(w)
    for gate in range(3):
        ablated = {"gru": {k: np.array(v, np.float64) for k, v in params["gru"].items()},
                   "linear": params["linear"]}
        rows = slice(gate * hidden, (gate + 1) * hidden)
        ablated["gru"]["bias_ih_l0"][rows] += 0.5 * ablated["gru"]["weight_ih_l0"][rows, 1]
        ablated["gru"]["weight_ih_l0"][rows, 1] = 0.0
        y_ablated = _numpy_gru(ablated, x)[0]
        out.append(np.sqrt(np.mean((y_ablated - y) ** 2)) / np.sqrt(np.mean((y_raw / high) ** 2)))
    w_out = np.asarray(params["linear"]["weight"][0], np.float64)
    out.append(float(np.sum(w_out * np.asarray(params["gru"]["weight_ih_l0"])[2 * hidden:, 1])))
    return np.array(out)


def test_gates_and_route_match_numpy_reference():
    for model in (BLOG, handcrafted.reachable_accumulator(), _two_unit(BLOG)):
        np.testing.assert_allclose(gates_and_route(model), _reference(model), rtol=2e-4,
                                   atol=1e-5)


def test_accumulator_routes_the_flag_through_z_only():
    values = gates_and_route(handcrafted.accumulator())
    np.testing.assert_allclose(values[:2], [1.0, 0.0], atol=1e-6)     # holds, writes
    np.testing.assert_allclose(values[4], 0.0, atol=1e-7)              # no flag weight on r
    np.testing.assert_allclose(route_shares(values[4:7]), [0.0, 1.0, 0.0], atol=1e-6)


def test_features_invariant_to_unit_relabelling_and_named():
    base = _two_unit(BLOG)
    stacked = {m: {k: np.stack([v] * 4) for k, v in sub.items()} for m, sub in base.items()}
    perm = np.array([[0, 1], [1, 0], [0, 1], [1, 0]])
    signs = np.array([[1.0, 1.0], [1.0, -1.0], [-1.0, -1.0], [-1.0, 1.0]])
    feats = seed_features(apply_signed_permutation(stacked, perm, signs), np.full(4, 1e-3))
    assert feats.values.shape == (4, len(feats.names)) and feats.names == feature_names(2)[0]
    assert len(feats.units) == len(feats.names)
    np.testing.assert_allclose(feats.values, np.repeat(feats.values[:1], 4, 0), atol=1e-4)
    assert feats.values[0, feats.names.index("log10_final_loss")] == -3.0
