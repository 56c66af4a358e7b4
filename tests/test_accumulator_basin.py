"""experiments/accumulator_basin.py: the perturbed starts lie at the stated radii around the
reachable accumulator, in canonical coordinates that map back to the same network."""
import os
import sys

import numpy as np

from gru_jax.analysis.symmetry import coordinates, from_canonical_vector
from gru_jax.handcrafted import reachable_accumulator

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "experiments"))

from accumulator_basin import perturbed_starts  # noqa: E402


def test_starts_lie_on_spheres_around_the_accumulator():
    centre = coordinates(reachable_accumulator(fit_readout=False)).astype(np.float64)
    radii = np.array([0.0, 1e-3, 0.5, 20.0])
    starts = perturbed_starts(centre, radii, directions=16)
    assert starts.shape == (4 * 16, 15)
    distance = np.linalg.norm(starts - centre, axis=-1).reshape(4, 16)
    np.testing.assert_allclose(distance, np.repeat(radii[:, None], 16, 1), atol=1e-9)
    # directions differ within a radius, and the same seed draws the same directions
    assert np.unique(np.round(starts[16:32], 9), axis=0).shape[0] == 16
    np.testing.assert_array_equal(starts, perturbed_starts(centre, radii, directions=16))
    # the starts are networks: coordinates -> params -> coordinates is the identity
    back = coordinates(from_canonical_vector(starts))
    np.testing.assert_allclose(back, starts.astype(np.float32), rtol=0, atol=1e-6)
