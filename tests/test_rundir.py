"""gru_jax.rundir: one object owns a run directory's files, and the resume comparison is
written once (a run, a sweep and a distributed job say the same thing)."""
import os

import numpy as np
import pytest

import gru_jax as gj
from gru_jax.files import OptionRequiredError
from gru_jax.rundir import CHECKPOINT, RunDir, differences

CFG = gj.Config(n_samples=200, batch_size=64, epochs=4, eval_every=2)


def _files(directory):
    return sorted(os.path.relpath(os.path.join(d, f), directory)
                  for d, _, fs in os.walk(directory) for f in fs)


def test_the_resume_comparison_names_every_difference_and_changes_nothing(tmp_path):
    run_dir = RunDir(str(tmp_path / "run"))
    run_dir.start(CFG, [0, 1, 2], seed_batch=2)
    before = _files(run_dir.path)
    assert run_dir.check_same(CFG, [0, 1, 2], 2) == 2
    other = gj.Config(**{**CFG.to_dict(), "epochs": 6, "learning_rate": 1e-3})
    with pytest.raises(ValueError) as err:
        run_dir.check_same(other, [0, 1], 1)
    text = str(err.value)
    for piece in ("epochs: stored 4, given 6", "learning_rate: stored 0.0001, given 0.001",
                  "seeds: stored [0, 1, 2], given [0, 1]", "seed_batch: stored 2, given 1",
                  "nothing was changed"):
        assert piece in text, piece
    assert _files(run_dir.path) == before
    assert differences(CFG, other, [0], [0]) == text.split("(")[1].split(")")[0].split("; ")[:2]


def test_open_refuses_a_run_it_was_not_asked_to_resume(tmp_path):
    run_dir = RunDir(str(tmp_path / "run"))
    assert run_dir.open(CFG, [0], resume=False) is None          # nothing there yet
    run_dir.start(CFG, [0])
    with pytest.raises(OptionRequiredError, match="not empty"):
        run_dir.open(CFG, [0], resume=False)
    assert run_dir.open(CFG, [0], resume=True) is None            # no grouping recorded
    with pytest.raises(ValueError, match="seeds: stored"):
        run_dir.open(CFG, [1], resume=True)


def test_epochs_done_reads_the_checkpoint_and_completeness(tmp_path):
    run_dir = RunDir(str(tmp_path / "run"))
    assert run_dir.epochs_done() == 0 and not run_dir.started()
    run_dir.start(CFG, [0])
    assert run_dir.epochs_done() == 0
    run_dir.write_checkpoint({"done": np.asarray(2)})
    assert run_dir.epochs_done() == 2
    with open(os.path.join(run_dir.path, CHECKPOINT), "wb") as handle:
        handle.write(b"not an npz")                       # damaged: resuming will name it
    assert run_dir.epochs_done() == 0
    with pytest.raises(gj.RunError, match=r"checkpoint\.npz is damaged"):
        run_dir.read_checkpoint(CFG, [0])


def test_a_trained_run_round_trips_and_finish_leaves_only_the_run(tmp_path):
    out = str(tmp_path / "run")
    run = gj.train(CFG, seeds=[0, 1], out=out, seed_batch=1, engine="xla", progress=False,
                   chunk_epochs=2)
    run_dir = RunDir(out)
    assert run_dir.complete() and run_dir.epochs_done() == CFG.epochs
    assert sorted(os.listdir(out)) == ["arrays", "config.json", "run.json"]
    config, meta, metrics, groups = run_dir.read_run()
    assert config == CFG and meta["seeds"] == [0, 1] and meta["complete"]
    np.testing.assert_array_equal(metrics["train_loss"], run.train_loss)
    np.testing.assert_array_equal(groups["params"]["linear.bias"], run.params["linear"]["bias"])
