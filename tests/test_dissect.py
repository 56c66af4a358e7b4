"""Dissection of the blog's published final weights reproduces its published walkthrough
(BLOG_FACTS.md); gains and fixed points agree with a hand derivation in numpy."""
import numpy as np
import pytest

from gru_jax import forward, from_state_dict
from gru_jax.analysis import dissect, slow_points
from gru_jax.model import GATES, flatten_params, param_names

# The blog's final state dict (seed 37; the CPU replay that agrees with every published digit).
BLOG_STATE_DICT = {
    "gru.weight_ih_l0": [[0.2308698, 0.6330313], [-0.4197582, -3.0248599],
                         [-0.2839302, -0.8133938]],
    "gru.weight_hh_l0": [[-0.1414806], [-0.8965575], [1.1289151]],
    "gru.bias_ih_l0": [0.7426546, 0.8092875, 0.6560431],
    "gru.bias_hh_l0": [0.7426547, 0.8092874, 0.1652635],
    "linear.weight": [[-4.1571345]],
    "linear.bias": [0.8693163],
}


@pytest.fixture(scope="module")
def blog():
    return from_state_dict(BLOG_STATE_DICT)


def _cell_numpy(sd, h, value_scaled, flag):
    """The GRU equations by hand, float64: returns (h', r, z, n, gain dh'/dh)."""
    w_ih = np.asarray(sd["gru.weight_ih_l0"], np.float64)
    w_hh = np.asarray(sd["gru.weight_hh_l0"], np.float64)[:, 0]
    b_ih = np.asarray(sd["gru.bias_ih_l0"], np.float64)
    b_hh = np.asarray(sd["gru.bias_hh_l0"], np.float64)
    sig = lambda a: 1 / (1 + np.exp(-a))
    x = np.array([value_scaled, flag])
    r = sig(w_ih[0] @ x + b_ih[0] + w_hh[0] * h + b_hh[0])
    z = sig(w_ih[1] @ x + b_ih[1] + w_hh[1] * h + b_hh[1])
    hidden_n = w_hh[2] * h + b_hh[2]
    n = np.tanh(w_ih[2] @ x + b_ih[2] + r * hidden_n)
    h_next = (1 - z) * n + z * h
    # d h'/dh = z + (h - n) dz/dh + (1 - z) dn/dh
    dr = r * (1 - r) * w_hh[0]
    dz = z * (1 - z) * w_hh[1]
    dn = (1 - n ** 2) * (dr * hidden_n + r * w_hh[2])
    gain = z + (h - n) * dz + (1 - z) * dn
    return h_next, r, z, n, gain


def test_published_walkthrough(blog):
    walk = dissect.walkthrough(blog, "12,0 37,1 12,0 21,1")
    np.testing.assert_allclose(walk.z[:, 0], [0.8275, 0.1597, 0.8255, 0.1669], atol=5e-5)
    np.testing.assert_allclose(walk.r[:, 0], [0.82, 0.90, 0.82, 0.90], atol=5e-3)
    np.testing.assert_allclose(walk.h[:, 0], [0.1103, 0.0161, 0.1264, 0.0701], atol=5e-5)
    assert round(walk.output, 2) == 57.81
    assert walk.target == 58
    # the terms add up to each pre-activation and the blog's t=0 decomposition of z
    for gate in GATES:
        np.testing.assert_allclose(walk.terms[gate].sum(axis=1), walk.preactivation[gate],
                                   atol=1e-6)
    z_terms = walk.terms["z"][0, :, 0]
    np.testing.assert_allclose(z_terms, [0.12 * -0.4197582, 0.0, 0.8092875, 0.0, 0.8092874],
                               atol=1e-6)
    # the candidate at t=0 is b_in + r * b_hn (h0 = 0) plus the value term
    n_terms = walk.terms["n"][0, :, 0]
    np.testing.assert_allclose(n_terms[4], walk.r[0, 0] * 0.1652635, rtol=1e-6)


def test_published_outputs(blog):
    walk = dissect.walkthrough(blog, [[75, 1], [38, 1], [12, 0], [12, 0]])
    assert walk.output == pytest.approx(112.553955078125, abs=2e-3)
    assert walk.target == 113
    # off distribution: "learned the concept of four"
    assert round(dissect.walkthrough(blog, "12,0").output, 2) == 41.08
    assert round(dissect.walkthrough(blog, "12,1").output, 2) == 101.58
    out = dissect.outputs(blog, np.array([[[12, 0]], [[12, 1]]]))
    np.testing.assert_allclose(out, [41.08, 101.58], atol=5e-3)


def test_walkthrough_matches_numpy_and_gain(blog):
    walk = dissect.walkthrough(blog, "12,0 37,1 12,0 21,1")
    h = 0.0
    for t, (value, flag) in enumerate(walk.sequence):
        h_next, r, z, n, gain = _cell_numpy(BLOG_STATE_DICT, h, value / 100, flag)
        np.testing.assert_allclose([walk.r[t, 0], walk.z[t, 0], walk.n[t, 0], walk.h[t, 0]],
                                   [r, z, n, h_next], atol=2e-6)
        assert walk.gain[t] == pytest.approx(gain, abs=2e-5)
        h = h_next
    table = dissect.walkthrough_markdown(walk)
    assert "57.8098" in table and table.count("\n| 3 |") == 4


def test_dynamics_gain_and_fixed_points(blog):
    dyn = slow_points.dynamics(blog, values=(0, 12, 99), flags=(0, 1))
    assert dyn.h_next.shape == dyn.gain.shape == (2, 3, dyn.h_grid.size)
    for fi, flag in enumerate(dyn.flags):
        for vi, value in enumerate(dyn.values):
            ref = np.array([_cell_numpy(BLOG_STATE_DICT, h, value / 100, flag) for h in dyn.h_grid])
            np.testing.assert_allclose(dyn.h_next[fi, vi], ref[:, 0], atol=3e-6)
            np.testing.assert_allclose(dyn.gain[fi, vi], ref[:, 4], atol=3e-5)
    # finite differences of the hand map agree with the analytic gain
    eps = 1e-6
    fd = (_cell_numpy(BLOG_STATE_DICT, 0.3 + eps, 0.12, 0)[0]
          - _cell_numpy(BLOG_STATE_DICT, 0.3 - eps, 0.12, 0)[0]) / (2 * eps)
    assert fd == pytest.approx(_cell_numpy(BLOG_STATE_DICT, 0.3, 0.12, 0)[4], abs=1e-6)
    # one fixed point per (flag, value): f(h*) = h*, gain from the hand derivation, stable
    assert len(dyn.fixed_points) == 6
    for point in dyn.fixed_points:
        h_next, *_, gain = _cell_numpy(BLOG_STATE_DICT, point["h"], point["value"] / 100,
                                       point["flag"])
        assert h_next == pytest.approx(point["h"], abs=1e-5)
        assert point["gain"] == pytest.approx(gain, abs=1e-4)
        assert point["stable"]
    # flag 0 holds h near +0.9, flag 1 pulls it negative
    flag0 = [p["h"] for p in dyn.fixed_points if p["flag"] == 0]
    flag1 = [p["h"] for p in dyn.fixed_points if p["flag"] == 1]
    assert min(flag0) > 0.8 and max(flag1) < -0.3
    assert "| 1 | 12 |" in slow_points.fixed_points_markdown(dyn)


def test_gate_response_figure_one(blog):
    resp = dissect.gate_response(blog)
    z0, z1 = resp[("z", 0, True)][:, 0], resp[("z", 1, True)][:, 0]
    # the blog's Figure 1 ranges, to its two decimals
    assert 0.77 - 0.005 <= z0.min() and z0.max() <= 0.83 + 0.005
    assert 0.14 - 0.005 <= z1.min() and z1.max() <= 0.20 + 0.005
    # without bias z stays near 0.5 for flag 0
    assert np.all(np.abs(resp[("z", 0, False)] - 0.5) < 0.11)
    assert np.all(resp[("r", 0, True)] > 0.8)


def test_one_unit_quantities_refuse_two_units():
    rng = np.random.default_rng(0)
    sd = {"gru.weight_ih_l0": rng.normal(size=(6, 2)), "gru.weight_hh_l0": rng.normal(size=(6, 2)),
          "gru.bias_ih_l0": rng.normal(size=6), "gru.bias_hh_l0": rng.normal(size=6),
          "linear.weight": rng.normal(size=(1, 2)), "linear.bias": rng.normal(size=1)}
    params = from_state_dict(sd)
    with pytest.raises(ValueError, match="ONE hidden unit"):
        slow_points.dynamics(params)
    walk = dissect.walkthrough(params, "12,0 37,1 12,0 21,1")  # any H works
    assert walk.gain is None and walk.h.shape == (4, 2)
    y, _ = forward(params, np.array([[[0.12, 0], [0.37, 1], [0.12, 0], [0.21, 1]]], np.float32))
    assert walk.output == pytest.approx(float(y[0, 0]) * 100, abs=1e-4)
    assert len(param_names(2)) == flatten_params(params).shape[-1]


def test_parse_sequence_errors():
    np.testing.assert_array_equal(dissect.parse_sequence("12,0 37,1"), [[12, 0], [37, 1]])
    with pytest.raises(ValueError, match="value,flag"):
        dissect.parse_sequence("12 37,1")
    with pytest.raises(ValueError, match="ONE network"):
        dissect.walkthrough({m: {k: np.asarray(v)[None] for k, v in s.items()}
                             for m, s in from_state_dict(BLOG_STATE_DICT).items()}, "12,0")


def test_perfect_memory_is_a_line_of_fixed_points():
    # z = sigmoid(10) ~ 1 - 4.5e-5 for flag 0: h is held; reported as one neutral continuum
    adder = from_state_dict({
        "gru.weight_ih_l0": [[0.0, 0.0], [0.0, -40.0], [0.05, 0.0]],
        "gru.weight_hh_l0": [[0.0], [0.0], [1.0]],
        "gru.bias_ih_l0": [5.0, 10.0, 0.0], "gru.bias_hh_l0": [5.0, 10.0, 0.0],
        "linear.weight": [[20.0]], "linear.bias": [0.0]})
    dyn = slow_points.dynamics(adder, values=(12,), flags=(0, 1))
    flag0 = [p for p in dyn.fixed_points if p["flag"] == 0]
    assert len(flag0) == 1 and flag0[0]["continuum"] == (-1.0, 1.0)
    assert flag0[0]["gain"] == pytest.approx(1.0, abs=1e-5)
    assert "line of fixed points" in slow_points.fixed_points_markdown(dyn)
    flag1 = [p for p in dyn.fixed_points if p["flag"] == 1]
    assert len(flag1) == 1 and flag1[0]["continuum"] is None
