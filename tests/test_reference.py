"""Learned versus designed (gru_jax.analysis.reference, .tradeoff) on a constructed ensemble:
the hand-crafted set and perturbed copies."""

import jax
import numpy as np

from gru_jax import Config, Run, handcrafted
from gru_jax.analysis import reference as cmp
from gru_jax.analysis.tradeoff import tradeoff_table, within_reach
from gru_jax.analysis.symmetry import flip_sign


def _stack(*models):
    return jax.tree_util.tree_map(lambda *a: np.stack(a), *models)


def constructed_run(path=None):
    """3 seeds: the reachable accumulator, its sign flip, a perturbed copy; snapshots move from
    the perturbed copy (epoch 0) to the final params (epoch 5)."""
    reach = handcrafted.reachable_accumulator()
    perturbed = jax.tree_util.tree_map(
        lambda a: a[0], cmp.perturbed_copies(reach, 1, 0.05, seed=3, include_exact=False))
    final = _stack(reach, flip_sign(reach), perturbed)
    start = cmp.perturbed_copies(reach, 3, 0.1, seed=1, include_exact=False)
    snapshots = jax.tree_util.tree_map(lambda a, b: np.stack([a, b], 1), start, final)
    cfg = Config(epochs=10, eval_every=5, n_samples=100)
    run = Run(config=cfg, seeds=np.arange(3), eval_epochs=np.array([0, 5]), init_params=start,
              params=final, snapshots=snapshots,
              train_loss=np.tile([[1e-3] * 9 + [1e-4]], (3, 1)), test_loss=np.ones((3, 2)),
              lr=np.full((3, 2), 1e-4), diverged=np.zeros(3, bool))
    if path:
        run.save(path)
    return run


def test_distances_known_answers():
    reach = handcrafted.reachable_accumulator()
    pair = _stack(reach, flip_sign(reach))
    np.testing.assert_allclose(cmp.canonical_distance(pair), 0.0, atol=1e-6)
    moved = cmp.perturbed_copies(reach, 4, 0.1, seed=0)
    d = cmp.canonical_distance(moved)
    assert d[0] < 1e-6 and np.all(d[1:] > 0.1)
    np.testing.assert_allclose(cmp.behaviour_distance(handcrafted.accumulator()), 0.0, atol=1e-6)
    run = constructed_run()
    traj = cmp.distance_trajectories(run)
    assert traj.canonical.shape == (3, 3) and traj.epochs.tolist() == [-1, 0, 5]
    np.testing.assert_allclose(traj.canonical[:2, -1], 0.0, atol=1e-6)   # reach and its flip
    assert np.all(traj.canonical[:, 0] > 0.1)


def test_interpolation_endpoints_and_barrier():
    reach = handcrafted.reachable_accumulator()
    params = _stack(reach, handcrafted.accumulator())
    alphas, losses = cmp.interpolation_losses(params, reach, alphas=np.linspace(0, 1, 5))
    assert losses.shape == (2, 5)
    np.testing.assert_allclose(losses[0], losses[0, 0], rtol=1e-5)         # a point path
    np.testing.assert_allclose(losses[:, -1], cmp.loss_scaled(reach), rtol=1e-5)
    assert losses[1, 0] < 1e-8                                              # exact adder
    np.testing.assert_allclose(cmp.barrier_height(np.array([[1.0, 3.0, 2.0]])), [1.0])


def test_perturbed_copies_keep_copy_zero_exact():
    copies = cmp.perturbed_copies(handcrafted.reachable_accumulator(), 3, 0.01)
    d = cmp.canonical_distance(copies)
    assert d[0] < 1e-6 and np.all(d[1:] > 0)
    # the perturbation is 1% of each coordinate's cap: about 0.01 * sqrt(15) in scaled distance
    assert np.all(d[1:] < 0.01 * np.sqrt(15) * 3)


def test_tradeoff_plot_from_bound_only_rows():
    from gru_jax.plots.reference import tradeoff_plot
    rows = tradeoff_table(gains=(1e-2, 1e-3), sharpnesses=(10.0, 16.0), measure=False)
    np.testing.assert_allclose([r["max_weight"] for r in rows], [100, 100, 1000, 1000], rtol=1e-3)
    assert rows[0]["bound"] > rows[1]["bound"]          # a sharper gate leaks less
    fig = tradeoff_plot(rows)
    assert fig.axes[0].get_xlabel() and fig.axes[0].get_title()


def test_reachable_accumulator_is_within_reach():
    assert within_reach(handcrafted.reachable_accumulator())
    assert not within_reach(handcrafted.accumulator())
