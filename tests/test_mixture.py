"""The batched EM, BIC selection and modal merging of gru_jax.analysis.mixture, against
scikit-learn and constructed data with known answers."""
import numpy as np
from sklearn.mixture import GaussianMixture

from gru_jax.analysis import mixture


def _blobs(centres, count, scale, seed):
    rng = np.random.default_rng(seed)
    return np.concatenate([c + scale * rng.standard_normal((count, len(c))) for c in centres])


def test_fit_matches_scikit_learn_and_its_bic():
    """Three 2-D blobs: the best of 16 starts reaches scikit-learn's optimum (same means to
    1e-3, log-likelihood within float32 rounding), and the BIC is scikit-learn's formula."""
    z = _blobs(np.array([[0.0, 0.0], [4.0, 0.0], [0.0, 5.0]]), 120, [1.0, 0.5], seed=0)
    ours = mixture.fit(z, 3, n_init=16, random_state=0, tol=1e-6, max_iter=3000)
    theirs = GaussianMixture(3, covariance_type="full", reg_covar=mixture.REG_COVAR, n_init=8,
                             random_state=0, tol=1e-8, max_iter=1000).fit(z)
    order = np.lexsort(ours.means.T[::-1])
    their_order = np.lexsort(theirs.means_.T[::-1])
    np.testing.assert_allclose(ours.means[order], theirs.means_[their_order], atol=1e-3)
    np.testing.assert_allclose(ours.covariances[order], theirs.covariances_[their_order],
                               atol=2e-3)
    np.testing.assert_allclose(ours.log_likelihood, theirs.score(z) * len(z), rtol=1e-5)
    np.testing.assert_allclose(ours.bic(), theirs.bic(z), rtol=1e-5)
    np.testing.assert_allclose(ours.posterior(z), theirs.predict_proba(z)[:, their_order][
        :, np.argsort(order)], atol=1e-3)


def test_integer_weights_equal_repeated_rows():
    """A resample as weights: weight 2 on a row is that row twice (same optimum)."""
    z = _blobs(np.array([[0.0, 0.0], [6.0, 1.0]]), 40, 1.0, seed=1)
    weight = np.random.default_rng(2).integers(0, 3, len(z)).astype(float)
    weighted = mixture.fit(z, 2, random_state=3, point_weight=weight)
    repeated = mixture.fit(np.repeat(z, weight.astype(int), axis=0), 2, random_state=3)
    np.testing.assert_allclose(np.sort(weighted.means[:, 0]), np.sort(repeated.means[:, 0]),
                               atol=1e-3)
    np.testing.assert_allclose(weighted.log_likelihood, repeated.log_likelihood, rtol=1e-5)


def test_search_range_grows_past_its_start():
    """Ten well separated blobs: the answer is above K_START, so the range must grow to it."""
    centres = 12.0 * np.stack([np.arange(10), np.arange(10) % 3], axis=1)
    z = _blobs(centres.astype(float), 30, 0.5, seed=4)
    best, bic = mixture.select(z, max_k=40, random_state=0)
    assert mixture.K_START < 10
    assert best.k == 10 and max(bic) > 10


def test_modes_join_one_curved_cluster_and_keep_separate_ones():
    """A banana (one curved cluster, which BIC covers with several Gaussians) and a blob far
    away: two modes, whatever the number of components."""
    rng = np.random.default_rng(5)
    t = rng.uniform(-2.5, 2.5, 600)
    banana = np.stack([t, 0.6 * t ** 2], axis=1) + 0.15 * rng.standard_normal((600, 2))
    blob = np.array([0.0, 9.0]) + 0.3 * rng.standard_normal((200, 2))
    z = np.concatenate([banana, blob])
    part = mixture.partition(z, max_k=40, random_state=0)
    assert part.mixture.k >= 3                    # BIC needs several Gaussians for the banana
    assert part.n_groups == 2
    truth = np.repeat([0, 1], [600, 200])
    assert np.all(part.labels == truth)           # numbered by size: the banana is group 0
    np.testing.assert_array_equal(part.assign(z), part.labels)


def test_boundary_is_where_the_density_dips():
    """Two equal 1-D Gaussians at -3 and 3: the cut between the modes is near 0."""
    z = _blobs(np.array([[-3.0], [3.0]]), 400, 1.0, seed=6)
    part = mixture.partition(z, max_k=20, random_state=0)
    assert part.n_groups == 2
    assert abs(part.boundary(0, 1)[0]) < 0.3


def test_small_modes_join_a_neighbour():
    """A 3-point mode cannot stand alone when a group needs 5."""
    z = np.concatenate([_blobs(np.array([[0.0, 0.0]]), 60, 1.0, seed=7),
                        np.array([[15.0, 15.0], [15.1, 15.0], [15.0, 15.1]])])
    part = mixture.partition(z, max_k=12, random_state=0, min_group=5)
    assert part.n_groups == 1
