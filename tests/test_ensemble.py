"""Ensemble statistics and the blog's claims on constructed ensembles with known answers."""
import numpy as np
import pytest

from gru_jax import Config, Run, from_state_dict
from gru_jax.analysis import ensemble
from gru_jax.blog import SEED37_STATE_DICT

BLOG = SEED37_STATE_DICT
# A general adder by hand: r ~ 1, z ~ 1 (flag 0) / ~ 0 (flag 1), n = tanh(0.05 v + h), readout 20.
ADDER = {
    "gru.weight_ih_l0": [[0.0, 0.0], [0.0, -20.0], [0.05, 0.0]],
    "gru.weight_hh_l0": [[0.0], [0.0], [1.0]],
    "gru.bias_ih_l0": [5.0, 5.0, 0.0], "gru.bias_hh_l0": [5.0, 5.0, 0.0],
    "linear.weight": [[20.0]], "linear.bias": [0.0],
}
# Nothing learned: every weight zero (outputs 0, z = 0.5 everywhere).
ZERO = {k: np.zeros_like(np.asarray(v)) for k, v in BLOG.items()}


def _stack(*state_dicts):
    return from_state_dict({k: np.stack([np.asarray(sd[k], np.float32) for sd in state_dicts])
                            for k in BLOG})


def test_loss_bands_and_final_values():
    loss = np.array([[1.0, 2.0, 3.0], [3.0, 4.0, np.nan], [2.0, 6.0, 5.0]])
    bands = ensemble.loss_bands(loss, (0.0, 0.5, 1.0))
    np.testing.assert_allclose(bands, [[1, 2, 3], [2, 4, 4], [3, 6, 5]])
    np.testing.assert_allclose(ensemble.final_values(loss), [3.0, 4.0, 5.0])
    assert np.isnan(ensemble.final_values(np.full((1, 3), np.nan))[0])


def test_plateau_exit_epochs():
    epochs = 600
    loss = np.full((4, epochs), 1 / 6)
    loss[0, 300:] = 1e-3                        # leaves at 300
    loss[2, 100:150] = 1e-2                     # dips, comes back ...
    loss[2, 200:] = 1e-4                        # ... and leaves for good at 200
    loss[3, 250:] = 1e-3
    loss[3, 400:] = np.nan                      # diverged: never counted as having left
    exit_epoch = ensemble.plateau_exit_epochs(loss)
    np.testing.assert_array_equal(exit_epoch, [300, np.nan, 200, np.nan])
    assert ensemble.plateau_exit_epochs(np.full((1, 5), 1e-3))[0] == 0


def test_update_gate_claim():
    params = _stack(BLOG, ADDER, ZERO)
    ranges = ensemble.update_gate_ranges(params)
    # the blog's net: z in [0.768, 0.835] for flag 0 and [0.139, 0.197] for flag 1
    np.testing.assert_allclose(ranges[0], [[0.7683, 0.8346], [0.1387, 0.1968]], atol=2e-4)
    np.testing.assert_allclose(ranges[2], 0.5, atol=1e-6)
    assert ranges[1, 0, 0] > 0.999 and ranges[1, 1, 1] < 1e-3
    np.testing.assert_array_equal(ensemble.matches_blog_gate(ranges), [True, False, False])
    # without the two-decimal tolerance the blog's own net would not match its quoted ranges
    assert not ensemble.matches_blog_gate(ranges[:1], tolerance=0.0)[0]


def test_single_element_claim():
    params = _stack(BLOG, ADDER, ZERO)
    out = ensemble.single_element_outputs(params)
    np.testing.assert_allclose(out[0], [41.08, 101.58], atol=5e-3)
    np.testing.assert_allclose(out[1], [0.0, 12.0], atol=0.05)
    np.testing.assert_allclose(out[2], [0.0, 0.0], atol=1e-6)
    np.testing.assert_array_equal(ensemble.fails_single_element(out), [True, False, True])
    nan_out = np.array([[np.nan, np.nan]])
    assert ensemble.fails_single_element(nan_out)[0]


def _run(n_eval=3, eval_every=49):
    """Three seeds (blog, adder, zero) with W_iz[flag] trajectories of known sign changes."""
    cfg = Config(epochs=n_eval * eval_every, eval_every=eval_every, n_samples=400)
    final = _stack(BLOG, ADDER, ZERO)
    init = _stack(BLOG, ADDER, ZERO)
    init["gru"]["weight_ih_l0"][:, 1, 1] = [0.5, -0.5, 0.0]
    snaps = {m: {k: np.repeat(v[:, None], n_eval, axis=1) for k, v in sub.items()}
             for m, sub in final.items()}
    # seed 0: +0.5 (init) -> +0.25 (ep 0) -> -1 (ep 49) -> -3.02 (ep 98): one crossing at 0 + 49/5
    snaps["gru"]["weight_ih_l0"][0, :, 1, 1] = [0.25, -1.0, -3.0248599]
    # seed 1: -0.5 -> +1 -> -1 -> -20: crossings at -0.5 + 1/3 and 24.5 (two)
    snaps["gru"]["weight_ih_l0"][1, :, 1, 1] = [1.0, -1.0, -20.0]
    train_loss = np.full((3, cfg.epochs), 1 / 6, np.float32)
    train_loss[0, 60:] = 1e-4
    train_loss[1, 30:] = 1e-6
    return Run(config=cfg, seeds=np.array([37, 1, 2]), eval_epochs=np.asarray(cfg.eval_epochs),
               init_params=init, params=final, snapshots=snaps, train_loss=train_loss,
               test_loss=np.ones((3, n_eval), np.float32), lr=np.full((3, n_eval), 1e-4),
               diverged=np.zeros(3, bool))


def test_weight_sign_changes_and_summary():
    run = _run()
    first, count, traj = ensemble.weight_sign_changes(run.init_params, run.snapshots,
                                                      run.eval_epochs)
    assert traj.shape == (3, 4)
    np.testing.assert_array_equal(count, [1, 2, 0])
    np.testing.assert_allclose(first, [0 + 49 * 0.25 / 1.25, -1 + 1 / 3, np.nan], equal_nan=True)

    summary = ensemble.summarize(run)
    counts = {c.name: (c.count, c.total) for c in summary.claims}
    assert counts == {"left the plateau": (2, 3), "update gate as the blog's": (1, 3),
                      "fails a single-element input": (2, 3), "W_iz[flag] changes sign": (2, 3)}
    np.testing.assert_array_equal(summary.plateau_exit, [60, 30, np.nan])
    np.testing.assert_allclose(summary.final_train, [1e-4, 1e-6, 1 / 6], rtol=1e-6)
    claim = summary.claims[1]
    assert claim.fraction == pytest.approx(1 / 3)
    lo, hi = claim.interval
    assert lo < 1 / 3 < hi


def test_wilson_interval():
    lo, hi = ensemble.wilson_interval(50, 100)
    assert lo == pytest.approx(0.4038, abs=1e-4) and hi == pytest.approx(0.5962, abs=1e-4)
    assert ensemble.wilson_interval(0, 10)[0] == 0.0
    assert np.isnan(ensemble.wilson_interval(0, 0)[0])


def test_trajectory_coordinates_shape():
    run = _run()
    epochs, names, values, _canonical = ensemble.trajectory_coordinates(run)
    assert epochs[0] == -1 and values.shape[:2] == (3, 4) and values.shape[2] == len(names)
