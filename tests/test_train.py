"""The ensemble trainer: ensemble invariance, fixed streams, resume, divergence, bad input."""
import os

import numpy as np
import pytest

import gru_jax as gj

SMALL = gj.Config(n_samples=600, batch_size=64, epochs=12, eval_every=5)


def _leaves(params):
    return [np.asarray(params[m][k]) for m in sorted(params) for k in sorted(params[m])]


def test_seed_alone_equals_seed_in_ensemble():
    cfg = SMALL
    ensemble = gj.train(cfg, seeds=range(64), progress=False)
    for position, seed in ((0, 0), (37, 37), (63, 63)):
        alone = gj.train(cfg, seeds=[seed], progress=False)
        for a, b in zip(_leaves(alone.params), _leaves(ensemble.params)):
            np.testing.assert_allclose(a[0], b[position], rtol=0, atol=1e-5)
        np.testing.assert_allclose(alone.train_loss[0], ensemble.train_loss[position], rtol=1e-5)


def test_run_arrays_have_documented_shapes():
    run = gj.train(SMALL, seeds=[3, 5], progress=False)
    assert run.train_loss.shape == (2, 12)
    assert list(run.eval_epochs) == [0, 5, 10]
    assert run.test_loss.shape == run.lr.shape == (2, 3)
    assert run.snapshots["gru"]["weight_ih_l0"].shape == (2, 3, 3, 2)
    assert run.init_params["linear"]["weight"].shape == (2, 1, 1)
    assert run.diverged.dtype == bool and not run.diverged.any()
    # training reduces the loss from the first to the last epoch for every seed
    assert np.all(run.train_loss[:, -1] < run.train_loss[:, 0])


def test_fixed_streams_share_what_they_fix():
    cfg = SMALL.__class__(**{**SMALL.to_dict(), "data_seed": 0, "order_seed": 0})
    run = gj.train(cfg, seeds=[1, 2], progress=False)
    inits = run.init_params["gru"]["weight_ih_l0"]
    assert not np.allclose(inits[0], inits[1])             # inits differ
    cfg_init = SMALL.__class__(**{**SMALL.to_dict(), "init_seed": 9})
    run2 = gj.train(cfg_init, seeds=[1, 2], progress=False)
    inits2 = run2.init_params["gru"]["weight_ih_l0"]
    np.testing.assert_array_equal(inits2[0], inits2[1])    # same init, different data/order
    assert not np.allclose(run2.train_loss[0], run2.train_loss[1])


def test_resume_after_kill_equals_uninterrupted(tmp_path):
    cfg = SMALL
    full = gj.train(cfg, seeds=[0, 1, 2], progress=False, chunk_epochs=4)
    out = str(tmp_path / "run")

    class Kill(Exception):
        pass

    def kill_after_first_chunk(done):
        if done == 4:
            raise Kill

    with pytest.raises(Kill):
        gj.train(cfg, seeds=[0, 1, 2], out=out, progress=False, chunk_epochs=4,
                 on_chunk=kill_after_first_chunk)
    assert os.path.exists(os.path.join(out, "checkpoint.npz"))
    with pytest.raises(gj.RunError, match="interrupted"):
        gj.Run.load(out)
    with pytest.raises(FileExistsError):
        gj.train(cfg, seeds=[0, 1, 2], out=out, progress=False, chunk_epochs=4)
    resumed = gj.train(cfg, seeds=[0, 1, 2], out=out, resume=True, progress=False, chunk_epochs=4)
    for a, b in zip(_leaves(full.params), _leaves(resumed.params)):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(full.train_loss, resumed.train_loss)
    np.testing.assert_array_equal(full.test_loss, resumed.test_loss)
    loaded = gj.Run.load(out)
    np.testing.assert_array_equal(loaded.train_loss, full.train_loss)
    assert not os.path.exists(os.path.join(out, "checkpoint.npz"))


def test_resume_with_a_different_config_is_refused(tmp_path):
    out = str(tmp_path / "run")

    def stop(done):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        gj.train(SMALL, seeds=[0], out=out, progress=False, chunk_epochs=4, on_chunk=stop)
    other = SMALL.__class__(**{**SMALL.to_dict(), "learning_rate": 1e-3})
    with pytest.raises(ValueError, match="learning_rate"):
        gj.train(other, seeds=[0], out=out, resume=True, progress=False)


def test_diverging_seeds_leave_the_others_intact():
    cfg = SMALL
    seeds = [0, 1, 2, 3]
    base = gj.train(cfg, seeds=seeds, progress=False)
    init = {m: {k: np.array(v) for k, v in sub.items()} for m, sub in base.init_params.items()}
    init["linear"]["weight"][1] = np.inf        # seed 1 starts broken: its loss is inf
    run = gj.train(cfg, seeds=seeds, init=init, progress=False)
    assert run.diverged.tolist() == [False, True, False, False]
    assert np.all(np.isnan(run.train_loss[1]))
    for i in (0, 2, 3):
        for a, b in zip(_leaves(base.params), _leaves(run.params)):
            np.testing.assert_allclose(a[i], b[i], rtol=0, atol=1e-6)


def test_bad_inputs_fail_before_training():
    with pytest.raises(ValueError, match="seeds"):
        gj.train(SMALL, seeds=[], progress=False)
    with pytest.raises(ValueError, match="duplicates"):
        gj.train(SMALL, seeds=[1, 1], progress=False)
    with pytest.raises(ValueError, match="orders"):
        gj.train(SMALL, seeds=[0], orders=np.zeros((1, 3, 10), int), progress=False)
    with pytest.raises(ValueError, match="Y must be"):
        gj.train(SMALL, seeds=[0], data=(np.zeros((600, 4, 2)), np.zeros((600,))), progress=False)
    with pytest.raises(ValueError, match="n_samples"):
        gj.train(SMALL, seeds=[0], data=(np.zeros((50, 4, 2)), np.zeros((50, 1))), progress=False)
    with pytest.raises(ValueError, match="weight_hh_l0"):
        gj.train(SMALL, seeds=[0], init={"gru.weight_ih_l0": np.zeros((3, 2))}, progress=False)


def test_replay_uses_the_given_orders():
    cfg = SMALL
    data = gj.seed_dataset(cfg, 5)
    rng = np.random.default_rng(0)
    orders = np.stack([rng.permutation(cfg.n_train) for _ in range(cfg.epochs)])[None]
    a = gj.train(cfg, seeds=[5], data=data, orders=orders, progress=False)
    b = gj.train(cfg, seeds=[6], data=data, orders=orders, init=a.init_params, progress=False)
    # same data, init and orders -> same numbers, whatever the seed value says
    np.testing.assert_array_equal(a.train_loss, b.train_loss)
    reversed_orders = orders[:, :, ::-1].copy()
    c = gj.train(cfg, seeds=[5], data=data, orders=reversed_orders, progress=False)
    assert not np.allclose(a.train_loss[0, 1:], c.train_loss[0, 1:])


def test_seed_batches_equal_one_ensemble(tmp_path):
    whole = gj.train(SMALL, seeds=range(5), progress=False)
    out = str(tmp_path / "batched")
    batched = gj.train(SMALL, seeds=range(5), progress=False, seed_batch=2, out=out)
    for a, b in zip(_leaves(whole.params), _leaves(batched.params)):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-6)
    np.testing.assert_array_equal(batched.seeds, np.arange(5))
    loaded = gj.Run.load(out)
    assert loaded.train_loss.shape == (5, SMALL.epochs)
    assert not os.path.exists(os.path.join(out, "batches"))


def test_numpy_generator_trains_on_the_seed_data():
    """data_generator="numpy": each seed trains on np.random.seed(seed)'s dataset, exactly the
    data an explicit (X, Y) would give (also for a single seed)."""
    cfg = SMALL.__class__(**{**SMALL.to_dict(), "data_generator": "numpy", "init_seed": 1,
                             "order_seed": 2})
    run = gj.train(cfg, seeds=[7], progress=False)
    explicit = gj.train(cfg, seeds=[7], data=gj.seed_dataset(cfg, 7), progress=False)
    np.testing.assert_array_equal(run.train_loss, explicit.train_loss)
    other = gj.train(cfg, seeds=[8], progress=False)
    assert not np.allclose(run.train_loss, other.train_loss)
