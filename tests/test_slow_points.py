"""Fixed points at any hidden size, against an independent float64 numpy GRU step, finite
differences, the exact one-unit bracketing (slow_points.dynamics), and the hand-crafted
accumulator. The one-unit map itself is tested in test_dissect.py, beside the dissection."""
import numpy as np
import pytest

from gru_jax import analysis as ga
from gru_jax import handcrafted
from gru_jax.analysis.slow_points import dynamics, fixed_point_summary


def numpy_step(model, h, x):
    """One torch.nn.GRU step in float64 numpy, from the equations (one model, ``h (H,)``).

    r = s(W_ir x + b_ir + W_hr h + b_hr); z = s(W_iz x + b_iz + W_hz h + b_hz);
    n = tanh(W_in x + b_in + r (W_hn h + b_hn)); h' = (1 - z) n + z h.
    """
    g = {k: np.asarray(v, np.float64) for k, v in model["gru"].items()}
    hidden = g["weight_hh_l0"].shape[1]
    sigmoid = lambda v: 1.0 / (1.0 + np.exp(-v))
    gi = g["weight_ih_l0"] @ np.asarray(x, np.float64) + g["bias_ih_l0"]
    gh = g["weight_hh_l0"] @ np.asarray(h, np.float64) + g["bias_hh_l0"]
    r = sigmoid(gi[:hidden] + gh[:hidden])
    z = sigmoid(gi[hidden:2 * hidden] + gh[hidden:2 * hidden])
    n = np.tanh(gi[2 * hidden:] + r * gh[2 * hidden:])
    return (1.0 - z) * n + z * h


def fd_jacobian(model, h, x, step=1e-6):
    """Central finite differences of :func:`numpy_step`, float64: ``(H, H)``."""
    h = np.asarray(h, np.float64)
    columns = []
    for k in range(h.shape[0]):
        e = np.zeros_like(h)
        e[k] = step
        columns.append((numpy_step(model, h + e, x) - numpy_step(model, h - e, x)) / (2 * step))
    return np.stack(columns, axis=1)


def _random_params(lead, hidden, seed, recurrent_scale=2.0):
    rng = np.random.default_rng(seed)
    shapes = {"gru": {"weight_ih_l0": (3 * hidden, 2), "weight_hh_l0": (3 * hidden, hidden),
                      "bias_ih_l0": (3 * hidden,), "bias_hh_l0": (3 * hidden,)},
              "linear": {"weight": (1, hidden), "bias": (1,)}}
    params = {m: {k: rng.normal(size=tuple(lead) + s).astype(np.float32) for k, s in sub.items()}
              for m, sub in shapes.items()}
    params["gru"]["weight_hh_l0"] *= recurrent_scale
    return params


def _model(params, index):
    return {m: {k: np.asarray(v)[index] for k, v in sub.items()} for m, sub in params.items()}


def _assert_same_spectrum(ours, reference, atol):
    """Every eigenvalue of each list is within ``atol`` of one of the other's."""
    distance = np.abs(np.asarray(ours)[:, None] - np.asarray(reference)[None, :])
    assert distance.min(1).max() <= atol and distance.min(0).max() <= atol, (ours, reference)


@pytest.mark.parametrize("flag", [0.0, 1.0])
def test_random_three_unit_points_are_fixed_in_float64(flag):
    params = _random_params((2, 3), 3, seed=1, recurrent_scale=4.0)
    x = np.array([0.3, flag])
    fp = ga.fixed_points(params, x)
    assert fp.states.shape == (2, 3, 16, 3) and fp.eigenvalues.shape == (2, 3, 16, 3)
    assert fp.kind.shape == fp.valid.shape == fp.residual.shape == (2, 3, 16)
    n_points = 0
    for i in np.ndindex(2, 3):
        model = _model(params, i)
        valid = np.flatnonzero(fp.valid[i])
        assert valid.size >= 1                                  # Brouwer: at least one
        assert np.all(np.isnan(fp.states[i][~fp.valid[i]]))
        for k in valid:
            h = fp.states[i][k].astype(np.float64)
            assert np.linalg.norm(numpy_step(model, h, x) - h) <= 2e-5
            jac = fd_jacobian(model, h, x)
            reference = np.linalg.eigvals(jac)
            _assert_same_spectrum(fp.eigenvalues[i][k], reference, atol=1e-4)
            modulus = np.abs(reference)
            expected = ("unstable" if np.any(modulus > 1 + 1e-3) else
                        "marginal" if np.any(modulus >= 1 - 1e-3) else "stable")
            assert fp.kind[i][k] == expected
        # distinct points
        s = fp.states[i][valid]
        gaps = np.abs(s[:, None] - s[None, :]).max(-1) + np.eye(len(s)) * 10
        assert gaps.min() > 1e-3
        n_points += valid.size
    assert n_points > 6                        # some models have several fixed points


def test_one_unit_equals_the_exact_dissection():
    params = _random_params((8,), 1, seed=7, recurrent_scale=4.0)
    counts = []
    for flag in (0.0, 1.0):
        value = 40.0
        fp = ga.fixed_points(params, np.array([value / 100.0, flag]))
        for i in range(8):
            model = _model(params, i)
            exact = dynamics(model, values=(value,), flags=(flag,), high=100.0).fixed_points
            assert not any(p["continuum"] for p in exact)
            exact = sorted(exact, key=lambda p: p["h"])
            order = np.argsort(fp.states[i][fp.valid[i], 0])
            ours_h = fp.states[i][fp.valid[i], 0][order]
            ours_gain = fp.eigenvalues[i][fp.valid[i], 0][order]
            assert len(ours_h) == len(exact)
            np.testing.assert_allclose(ours_h, [p["h"] for p in exact], atol=1e-4)
            np.testing.assert_allclose(ours_gain.real, [p["gain"] for p in exact], atol=1e-4)
            np.testing.assert_array_equal(ours_gain.imag, 0.0)
            assert [k == "stable" for k in fp.kind[i][fp.valid[i]][order]] == \
                [p["stable"] for p in exact]
            counts.append(len(exact))
    assert max(counts) == 3 and min(counts) == 1          # bistable models are covered


@pytest.mark.parametrize("hidden", [1, 3])
def test_accumulator_holds_with_a_marginal_eigenvalue(hidden):
    params = handcrafted.accumulator(hidden_size=hidden)
    x = np.array([0.0, 0.0])                                  # flag 0: hold
    fp = ga.fixed_points(params, x)
    valid = np.flatnonzero(fp.valid)
    assert valid.size >= 1
    for k in valid:
        h = fp.states[k].astype(np.float64)
        assert np.linalg.norm(numpy_step(params, h, x) - h) <= 2e-5
        assert fp.kind[k] == "marginal"
        assert abs(fp.eigenvalues[k][0] - 1.0) <= 1e-3
        # one integrator direction: the inert units contract (eigenvalues ~ sigmoid(-16))
        np.testing.assert_allclose(np.abs(fp.eigenvalues[k][1:]), 0.0, atol=1e-3)
        _assert_same_spectrum(fp.eigenvalues[k], np.linalg.eigvals(fd_jacobian(params, h, x)),
                              atol=1e-4)
    summary = fixed_point_summary(params)
    np.testing.assert_allclose(summary.nearest_state, 0.0, atol=1e-6)
    assert abs(summary.leak) <= 1e-3 and summary.leading_is_real


def test_summary_against_finite_differences():
    params = _random_params((3, 2), 2, seed=11)
    summary = fixed_point_summary(params, high=100.0, value=25.0)
    assert summary.n_flag0.shape == summary.leak.shape == (3, 2)
    assert summary.nearest_state.shape == (3, 2, 2)
    at_flag0 = ga.fixed_points(params, np.array([0.25, 0.0]))
    at_flag1 = ga.fixed_points(params, np.array([0.25, 1.0]))
    np.testing.assert_array_equal(summary.n_flag0, at_flag0.valid.sum(-1))
    np.testing.assert_array_equal(summary.n_flag1, at_flag1.valid.sum(-1))
    x = np.array([0.25, 0.0])
    for i in np.ndindex(3, 2):
        model = _model(params, i)
        h = summary.nearest_state[i].astype(np.float64)
        assert np.linalg.norm(numpy_step(model, h, x) - h) <= 2e-5
        states = at_flag0.states[i][at_flag0.valid[i]]
        assert np.linalg.norm(h) <= np.linalg.norm(states, axis=-1).min() + 1e-7
        reference = np.linalg.eigvals(fd_jacobian(model, h, x))
        leading = reference[np.argmax(np.abs(reference))]
        expected = leading.real if abs(leading.imag) < 1e-6 else abs(leading)
        np.testing.assert_allclose(summary.leading_eigenvalue[i], expected, atol=1e-4)
        np.testing.assert_allclose(summary.leak[i], 1.0 - expected, atol=1e-4)


def test_given_starts_and_padding():
    params = _random_params((), 2, seed=3)
    x = np.array([0.5, 1.0])
    found = ga.fixed_points(params, x)
    point = found.states[found.valid][0]
    # starting next to a known point finds only that point; K is padded with valid=False
    again = ga.fixed_points(params, x, starts=point[None] + 1e-3, max_points=4)
    assert again.valid.tolist() == [True, False, False, False]
    np.testing.assert_allclose(again.states[0], point, atol=1e-5)
    assert list(again.kind[1:]) == ["", "", ""]
