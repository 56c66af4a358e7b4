"""Runs on disk: numpy-readable files, round trip, clear errors for missing/partial/corrupt runs."""
import json
import os

import numpy as np
import pytest

import gru_jax as gj
from gru_jax.interop import state_dict_shapes


def constructed_run(n_seeds=3, epochs=5, eval_every=2):
    cfg = gj.Config(epochs=epochs, eval_every=eval_every)
    rng = np.random.default_rng(0)
    n_eval = cfg.n_eval

    def params(lead):
        return gj.from_state_dict({k: rng.normal(size=lead + s).astype(np.float32)
                                   for k, s in state_dict_shapes(1).items()})

    return gj.Run(config=cfg, seeds=np.arange(10, 10 + n_seeds), eval_epochs=np.asarray(cfg.eval_epochs),
                  init_params=params((n_seeds,)), params=params((n_seeds,)),
                  snapshots=params((n_seeds, n_eval)),
                  train_loss=rng.random((n_seeds, epochs)).astype(np.float32),
                  test_loss=rng.random((n_seeds, n_eval)).astype(np.float32),
                  lr=np.full((n_seeds, n_eval), 1e-4, np.float32),
                  diverged=np.array([False, True, False][:n_seeds]), wall_s=1.5)


def test_round_trip_and_numpy_only_layout(tmp_path):
    run = constructed_run()
    run.save(str(tmp_path))
    loaded = gj.Run.load(str(tmp_path))
    np.testing.assert_array_equal(loaded.train_loss, run.train_loss)
    np.testing.assert_array_equal(loaded.snapshots["gru"]["weight_hh_l0"], run.snapshots["gru"]["weight_hh_l0"])
    assert loaded.config == run.config and loaded.diverged.tolist() == [False, True, False]
    # numpy alone reads it, with torch's names
    with np.load(tmp_path / "params.npz", allow_pickle=False) as handle:
        np.testing.assert_array_equal(handle["gru.weight_ih_l0"], run.params["gru"]["weight_ih_l0"])
    with np.load(tmp_path / "metrics.npz", allow_pickle=False) as handle:
        assert handle["train_loss"].shape == (3, 5) and handle["eval_epochs"].tolist() == [0, 2, 4]
    assert loaded.index_of(11) == 1
    with pytest.raises(ValueError, match="seed 99"):
        loaded.index_of(99)


def test_save_refuses_to_overwrite(tmp_path):
    run = constructed_run()
    run.save(str(tmp_path))
    before = (tmp_path / "metrics.npz").read_bytes()
    with pytest.raises(FileExistsError):
        constructed_run().save(str(tmp_path))
    assert (tmp_path / "metrics.npz").read_bytes() == before


def test_missing_partial_and_corrupt_runs_are_named(tmp_path):
    with pytest.raises(gj.RunError, match="no run directory"):
        gj.Run.load(str(tmp_path / "nowhere"))
    run_dir = tmp_path / "run"
    constructed_run().save(str(run_dir))
    os.remove(run_dir / "snapshots.npz")
    with pytest.raises(gj.RunError, match="snapshots.npz"):
        gj.Run.load(str(run_dir))
    constructed_run().save(str(run_dir), overwrite=True)
    (run_dir / "metrics.npz").write_bytes(b"not a zip file")
    with pytest.raises(gj.RunError, match="metrics.npz is corrupt"):
        gj.Run.load(str(run_dir))
    constructed_run().save(str(run_dir), overwrite=True)
    (run_dir / "config.json").write_text("{ truncated")
    with pytest.raises(gj.RunError, match="config.json is corrupt"):
        gj.Run.load(str(run_dir))
    constructed_run().save(str(run_dir), overwrite=True)
    (run_dir / "config.json").write_text(json.dumps({"epochs": 0}))
    with pytest.raises(gj.RunError, match="epochs"):
        gj.Run.load(str(run_dir))


def test_shape_mismatch_is_named(tmp_path):
    run = constructed_run()
    run.train_loss = run.train_loss[:, :4]          # 4 epochs but the Config says 5
    run.save(str(tmp_path))
    with pytest.raises(gj.RunError, match="train_loss has shape"):
        gj.Run.load(str(tmp_path))


def test_concatenate_and_select():
    a, b = constructed_run(), constructed_run(n_seeds=2)
    b.seeds = np.array([20, 21])
    joined = gj.Run.concatenate([a, b])
    assert joined.seeds.tolist() == [10, 11, 12, 20, 21]
    np.testing.assert_array_equal(joined.params["linear"]["weight"][3:], b.params["linear"]["weight"])
    picked = joined.select([4, 0])
    assert picked.seeds.tolist() == [21, 10]
    np.testing.assert_array_equal(picked.train_loss[0], b.train_loss[1])
