"""Event detection on constructed trajectories whose answers are known."""
import numpy as np
import pytest

from gru_jax.analysis import events


def _kinked_loss(kinks=(500, 1500), epochs=3000):
    """log10(loss) piecewise linear: flat, then falling 1 decade per 500 epochs, then flat.
    Its second derivative is a spike at each kink (negative where the fall starts)."""
    t = np.arange(epochs, dtype=float)
    log_loss = np.where(t < kinks[0], 0.0, -(np.minimum(t, kinks[1]) - kinks[0]) / 500.0)
    return 10.0 ** (log_loss - 0.778)  # starts at ~1/6


def test_acceleration_events_find_the_kinks():
    loss = _kinked_loss()
    found = events.acceleration_events(loss, k=2, sigma=20)
    assert sorted(e.epoch for e in found) == [500, 1500]
    by_epoch = {e.epoch: e.acceleration for e in found}
    assert by_epoch[500] < 0 < by_epoch[1500]  # the fall starts, then stops
    # the smoothed second derivative integrates the slope change (-1/500 decades per epoch)
    acc = events.smoothed_acceleration(loss, sigma=20)
    assert acc[400:600].sum() == pytest.approx(-1 / 500, rel=1e-3)
    # vectorised over seeds
    assert events.smoothed_acceleration(np.stack([loss, loss]), sigma=20).shape == (2, 3000)


def test_acceleration_events_separation_and_raw_scale():
    loss = _kinked_loss(kinks=(1000, 1030))
    found = events.acceleration_events(loss, k=3, sigma=5, min_separation=100)
    assert len(found) == 1 and abs(found[0].epoch - 1000) <= 30
    raw = events.acceleration_events(_kinked_loss(), k=1, sigma=20, log=False)
    assert abs(raw[0].epoch - 500) <= 5  # on the raw scale the first kink dominates
    # a diverged tail is ignored
    loss = _kinked_loss()
    loss[2000:] = np.nan
    assert sorted(e.epoch for e in events.acceleration_events(loss, k=2, sigma=20)) == [500, 1500]


def test_crossing_epochs_interpolate():
    epochs = np.array([-1, 0, 49, 98, 147])
    values = np.array([[0.5, 0.25, -0.25, -0.5, 0.5],   # crosses at 24.5 and at 122.5
                       [0.0, 0.0, 1.0, 2.0, 3.0],       # starts at zero: no crossing
                       [1.0, 0.0, 0.0, -1.0, -1.0]])    # touches 0, crosses while at 0
    cross = events.crossing_epochs(epochs, values)
    assert cross.shape == (3, 4)
    np.testing.assert_allclose(cross[0], [np.nan, 24.5, np.nan, 122.5],
                               equal_nan=True)
    assert np.isnan(cross[1]).all()
    assert np.isfinite(cross[2]).sum() == 1
    first, count = events.first_crossing(epochs, values)
    np.testing.assert_allclose(first, [24.5, np.nan, cross[2][np.isfinite(cross[2])][0]],
                               equal_nan=True)
    np.testing.assert_array_equal(count, [2, 0, 1])


def test_zero_crossings_of_a_run_like_trajectory():
    names = ("a", "b")
    epochs = np.array([-1, 0, 49])
    values = np.array([[1.0, -2.0], [-1.0, -1.0], [-3.0, 1.0]])
    found = events.zero_crossings(epochs, names, values)
    assert [(c.name, c.epoch_before, c.epoch_after, c.direction) for c in found] == [
        ("a", -1, 0, -1), ("b", 0, 49, 1)]
    assert found[0].epoch == pytest.approx(-0.5)
    assert found[1].epoch == pytest.approx(24.5)


def test_weight_trajectory_prepends_init():
    from gru_jax.analysis.dissect import param_names
    rng = np.random.default_rng(1)
    shapes = {"weight_ih_l0": (3, 2), "weight_hh_l0": (3, 1), "bias_ih_l0": (3,),
              "bias_hh_l0": (3,)}
    make = lambda lead: {"gru": {k: rng.normal(size=lead + s) for k, s in shapes.items()},
                         "linear": {"weight": rng.normal(size=lead + (1, 1)),
                                    "bias": rng.normal(size=lead + (1,))}}
    init, snaps = make((4,)), make((4, 5))
    epochs, names, values = events.weight_trajectory(init, snaps, np.arange(5) * 49)
    assert names == param_names(1) and values.shape == (4, 6, 17)
    assert epochs[0] == events.INIT_EPOCH
    assert values[2, 0, 3] == init["gru"]["weight_ih_l0"][2, 1, 1]  # W_iz[flag]
    assert values[2, 3, 3] == snaps["gru"]["weight_ih_l0"][2, 2, 1, 1]


def test_gaussian_smooth_equals_scipy():
    scipy_ndimage = pytest.importorskip("scipy.ndimage")
    from gru_jax.analysis.events import gaussian_smooth
    rng = np.random.default_rng(0)
    values = rng.normal(size=(3, 200)).cumsum(axis=1)
    for sigma in (0.7, 5.0, 20.0):
        expected = scipy_ndimage.gaussian_filter1d(values, sigma, axis=-1, mode="nearest")
        np.testing.assert_allclose(gaussian_smooth(values, sigma), expected, rtol=1e-12, atol=1e-12)
