"""Held-out grid: fixed data, vectorised over seeds and snapshots, known answers."""
import jax
import numpy as np

from gru_jax import handcrafted
from gru_jax.analysis.generalization import (HeldOut, cell_data, fraction_within,
                                             relative_rms_error)

SMALL = HeldOut(lengths=(2, 5, 40), flag_counts=(1, 3), n_per_cell=100)


def test_cells_are_fixed_and_well_formed():
    x1, y1 = cell_data(SMALL, 5, 3)
    x2, y2 = cell_data(SMALL, 5, 3)
    np.testing.assert_array_equal(x1, x2)
    assert x1.shape == (100, 5, 2) and np.all(x1[..., 1].sum(1) == 3)
    np.testing.assert_array_equal(y1, (x1[..., 0] * x1[..., 1]).sum(1))
    assert x1[..., 0].min() >= 0 and x1[..., 0].max() <= 99
    np.testing.assert_array_equal(SMALL.valid, [[True, False], [True, True], [True, True]])


def test_errors_over_seeds_and_snapshots():
    exact = handcrafted.accumulator()
    zero_readout = jax.tree_util.tree_map(np.copy, exact)
    zero_readout["linear"]["weight"] = np.zeros_like(exact["linear"]["weight"])   # predicts 0
    doubled = jax.tree_util.tree_map(np.copy, exact)
    doubled["linear"]["weight"] = 2 * exact["linear"]["weight"]                      # predicts 2S
    models = [exact, zero_readout, doubled]
    ensemble = jax.tree_util.tree_map(lambda *a: np.stack(a), *models)               # (3, ...)
    snapshots = jax.tree_util.tree_map(lambda a: np.stack([a, a], 1), ensemble)      # (3, 2, ...)
    errors = relative_rms_error(snapshots, SMALL)
    assert errors.shape == (3, 2, 3, 2)
    assert np.isnan(errors[..., 0, 1]).all()                 # 3 flags in length 2: no cell
    valid = SMALL.valid
    assert np.all(errors[0][:, valid] < 1e-4)                # the accumulator
    np.testing.assert_allclose(errors[1][:, valid], 1.0, atol=1e-6)   # predicting 0: error 1
    np.testing.assert_allclose(errors[2][:, valid], 1.0, atol=1e-3)   # predicting 2S: error 1
    frac = fraction_within(errors[:, 0], 0.05)
    np.testing.assert_allclose(frac[valid], 1 / 3)
