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


def _z_gate(z_flag0: float, z_flag1: float, value_weight: float = 0.0) -> dict:
    """The blog's net with its update gate replaced: at the first step (h = 0)
    z = sigmoid(value_weight v + w_flag flag + b), b = logit(z_flag0), w_flag = logit(z_flag1) - b
    (PyTorch rows r, z, n: z is row 1)."""
    logit = lambda p: float(np.log(p / (1 - p)))
    sd = {k: np.array(v, np.float32) for k, v in BLOG.items()}
    sd["gru.weight_ih_l0"][1] = [value_weight, logit(z_flag1) - logit(z_flag0)]
    sd["gru.bias_ih_l0"][1], sd["gru.bias_hh_l0"][1] = logit(z_flag0), 0.0
    return sd


def test_blog_gate_has_one_definition_with_a_known_count():
    """Three seeds inside the blog's ranges, three not: one with a value weight that widens
    its first-step range to [0.80, 0.86] x [0.17, 0.227] (its MEAN z is still near the box: the
    old probe-mean count of the comparison would have included it), one with the flag-0 gate
    at 0.90, one at the box's edge + 0.006. The count is 3 in blog_gate_matches, in the
    report's claim (summarize) and in the Headline both writers print."""
    logit = lambda p: np.log(p / (1 - p))
    wide = float(logit(0.86) - logit(0.80))            # z(v = 1) = 0.86 at flag 0
    inside = [_z_gate(0.80, 0.17), _z_gate(0.775, 0.15), _z_gate(0.832, 0.198)]
    outside = [_z_gate(0.80, 0.17, wide), _z_gate(0.90, 0.17), _z_gate(0.80, 0.206)]
    params = _stack(*inside, *outside)
    np.testing.assert_array_equal(ensemble.blog_gate_matches(params), [1, 1, 1, 0, 0, 0])
    ranges = ensemble.update_gate_ranges(params)
    np.testing.assert_allclose(ranges[3, 0], [0.80, 0.86], atol=1e-5)   # the hand derivation
    run = _run_of(params, final_losses=[1e-4, 2e-4, 3e-4, 4e-4, 5e-4, np.nan])
    head = ensemble.headline(run)
    assert (head.n_seeds, head.n_diverged, head.n_finite, head.n_blog_gate) == (6, 1, 5, 3)
    assert head.final_loss_quantiles[0.5] == pytest.approx(3e-4, rel=1e-6)
    claims = {c.name: c.count for c in ensemble.summarize(run).claims}
    assert claims["update gate as the blog's"] == 3
    np.testing.assert_allclose(ensemble.final_train_loss(run)[:5], [1e-4, 2e-4, 3e-4, 4e-4,
                                                                     5e-4], rtol=1e-6)
    assert np.isnan(ensemble.final_train_loss(run)[5])  # diverged: no final loss


def _run_of(params, final_losses) -> Run:
    """A run whose final params are ``params`` (S seeds), snapshots = init = final, and whose
    last-epoch training losses are ``final_losses`` (NaN = diverged)."""
    cfg = Config(epochs=10, eval_every=5, n_samples=100)
    count = len(final_losses)
    train = np.full((count, cfg.epochs), 0.1, np.float32)
    train[:, -1] = final_losses
    snaps = {m: {k: np.stack([v] * cfg.n_eval, 1) for k, v in sub.items()}
             for m, sub in params.items()}
    return Run(config=cfg, seeds=np.arange(count), eval_epochs=np.asarray(cfg.eval_epochs),
               init_params=params, params=params, snapshots=snaps, train_loss=train,
               test_loss=np.ones((count, cfg.n_eval), np.float32),
               lr=np.full((count, cfg.n_eval), 1e-4), diverged=np.isnan(final_losses))
