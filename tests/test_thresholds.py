"""Census on constructed ensembles with known answers."""
import jax
import numpy as np

from gru_jax import handcrafted
from gru_jax.analysis.stats import wilson_interval
from gru_jax.analysis.thresholds import classify, threshold_classes, update_gate_behaviour
from gru_jax.analysis.symmetry import flip_sign
from gru_jax.blog import SEED37_STATE_DICT
from gru_jax.interop import from_state_dict

BLOG = from_state_dict(SEED37_STATE_DICT)


def _stack(*models):
    return jax.tree_util.tree_map(lambda *a: np.stack(a), *models)


def test_update_gate_behaviour_known_values():
    z = update_gate_behaviour(_stack(handcrafted.accumulator(), BLOG, flip_sign(BLOG)))
    assert z.shape == (3, 2)
    np.testing.assert_allclose(z[0], [1.0, 0.0], atol=1e-6)
    # the blog's ranges: z in [0.77, 0.83] for flag 0 and [0.14, 0.20] for flag 1
    assert 0.77 <= z[1, 0] <= 0.83 and 0.14 <= z[1, 1] <= 0.20
    np.testing.assert_allclose(z[2], z[1], atol=1e-6)      # behaviour is symmetry-invariant


def test_wilson_interval():
    lo, hi = wilson_interval(5, 10)
    np.testing.assert_allclose([lo, hi], [0.2366, 0.7634], atol=1e-4)
    assert abs(wilson_interval(0, 4)[0]) < 1e-12 and abs(wilson_interval(4, 4)[1] - 1) < 1e-12
    # the interval always holds the point estimate (no 0.9999999999999999 at p = 1)
    for total in (1, 4, 256, 1024):
        assert wilson_interval(total, total)[1] == 1.0 and wilson_interval(0, total)[0] == 0.0


def test_classify_thresholds():
    labels = classify([1e-5, 1e-5, 0.1, np.nan], [0.01, 0.5, 0.01, 0.01])
    assert labels.tolist() == ["general", "length-specific", "failed", "failed"]


def test_threshold_classes_on_constructed_ensemble():
    acc = handcrafted.accumulator()
    ensemble = _stack(acc, flip_sign(acc), BLOG, BLOG)
    census = threshold_classes(ensemble, np.array([1e-8, 1e-8, 1e-4, 0.17]))
    assert census.labels.tolist() == ["general", "general", "length-specific", "failed"]
    assert census.counts == {"general": 2, "length-specific": 1, "failed": 1}
    np.testing.assert_allclose(census.fractions["general"], 0.5)
    assert census.intervals["general"] == wilson_interval(2, 4)
    assert census.representative["general"] in (0, 1)
    assert census.representative["length-specific"] == 2
    assert census.representative["failed"] == 3
    assert census.probe_error[0] < 1e-4 and census.probe_error[2] > 0.1
    # the per-cell errors behind probe_error: the worst cell is the maximum, cells by name
    np.testing.assert_allclose(np.nanmax(census.probe_errors.reshape(4, -1), 1),
                               census.probe_error)
    assert census.cell_error(8, 2).shape == (4,) and census.cell_error(8, 2)[0] < 1e-4
