"""The hand-crafted accumulator meets its target on the full grid (independent numpy GRU)."""
import numpy as np

from gru_jax import handcrafted
from gru_jax.analysis.generalization import full_held_out, length_batches


def numpy_gru_predict(params, x_raw, high=100):
    """torch.nn.GRU + Linear written from the equations, float64 numpy, hidden size 1.

    r = s(W_ir x + b_ir + W_hr h + b_hr); z = s(W_iz x + b_iz + W_hz h + b_hz);
    n = tanh(W_in x + b_in + r (W_hn h + b_hn)); h' = (1 - z) n + z h; y = w h + b (x high).
    """
    w_ih = np.asarray(params["gru"]["weight_ih_l0"], np.float64)
    w_hh = np.asarray(params["gru"]["weight_hh_l0"], np.float64)[:, 0]
    b_ih = np.asarray(params["gru"]["bias_ih_l0"], np.float64)
    b_hh = np.asarray(params["gru"]["bias_hh_l0"], np.float64)
    sigmoid = lambda v: 1.0 / (1.0 + np.exp(-v))
    value, flag = x_raw[..., 0] / high, x_raw[..., 1]
    h = np.zeros(x_raw.shape[0])
    for t in range(x_raw.shape[1]):
        pre = [w_ih[g, 0] * value[:, t] + w_ih[g, 1] * flag[:, t] + b_ih[g] for g in range(3)]
        r = sigmoid(pre[0] + w_hh[0] * h + b_hh[0])
        z = sigmoid(pre[1] + w_hh[1] * h + b_hh[1])
        n = np.tanh(pre[2] + r * (w_hh[2] * h + b_hh[2]))
        h = (1 - z) * n + z * h
    w_out = float(np.asarray(params["linear"]["weight"]).reshape(()))
    b_out = float(np.asarray(params["linear"]["bias"]).reshape(()))
    return (w_out * h + b_out) * high


def grid_errors(params, n_per_cell):
    held_out = full_held_out(n_per_cell)
    errors = np.full(held_out.shape, np.nan)
    for row, _, columns, x, y in length_batches(held_out):
        sq = ((numpy_gru_predict(params, x) - y) ** 2).reshape(len(columns), -1).mean(1)
        errors[row, columns] = np.sqrt(sq / (y ** 2).reshape(len(columns), -1).mean(1))
    return held_out, errors


def test_accumulator_meets_target_on_full_grid():
    held_out, errors = grid_errors(handcrafted.accumulator(), n_per_cell=400)
    valid = held_out.valid
    assert valid.sum() == 954                       # lengths 2..100 x flags 1..10, flags <= length
    assert np.all(np.isfinite(errors[valid]))
    assert np.nanmax(errors) <= 1e-4, np.nanmax(errors)
    # the first-order bound holds cell by cell
    bound = np.array([[handcrafted.error_bound(L, k) if k <= L else np.nan
                       for k in held_out.flag_counts] for L in held_out.lengths])
    assert np.all(errors[valid] <= bound[valid] * 1.05)


def test_accumulator_matches_jax_forward():
    import jax.numpy as jnp
    from gru_jax.model import forward
    rng = np.random.default_rng(0)
    x = np.stack([rng.integers(0, 100, (32, 30)), rng.integers(0, 2, (32, 30))], -1).astype(float)
    params = handcrafted.accumulator()
    y_jax = np.asarray(forward(params, jnp.asarray(x * [0.01, 1.0], jnp.float32))[0])[:, 0] * 100
    np.testing.assert_allclose(y_jax, numpy_gru_predict(params, x), rtol=1e-5, atol=1e-3)
    np.testing.assert_allclose(y_jax, np.sum(x[..., 0] * x[..., 1], 1), rtol=1e-4, atol=1e-3)


def test_worse_settings_break_the_target_as_the_bound_says():
    # a soft gate leaks: the bound and the measurement both exceed the target on long sequences
    soft = handcrafted.accumulator(sharpness=8.0)
    x = np.zeros((1, 100, 2))
    x[0, :, 0] = 50
    x[0, 0, 1] = 1
    rel = abs(numpy_gru_predict(soft, x)[0] - 50) / 50
    assert rel > 1e-3 and handcrafted.error_bound(100, 1, sharpness=8.0) > 1e-3


def test_reachable_accumulator_adds_within_bounds():
    params = handcrafted.reachable_accumulator()
    caps = handcrafted.REACH.caps()
    assert abs(caps["bias"] - 9.6) < 1e-9 and abs(caps["merged_bias"] - 19.2) < 1e-9
    held_out, errors = grid_errors(params, n_per_cell=20)
    # far from exact, but it adds: errors are bounded on every cell of the full grid
    assert np.nanmax(errors) < 0.2 and np.nanmedian(errors) < 0.08
