"""Sweeps: per-member hyperparameters in one program equal separate trainings, resume after an
interruption equals an uninterrupted sweep, bad grids are refused up front, the CLI runs end
to end, and the summary's census numbers match a constructed case."""
import os
import types

import jax
import numpy as np
import pytest

import gru_jax as gj
from gru_jax import sweeps
from gru_jax.analysis.stats import wilson_interval
from gru_jax.analysis.sweep import cell_row
from gru_jax.cli import main
from gru_jax.handcrafted import accumulator

SMALL = gj.Config(n_samples=200, batch_size=64, epochs=6, eval_every=2, plateau_patience=0,
                  plateau_threshold=0.5)


def _leaves(tree):
    return [np.asarray(a) for a in jax.tree_util.tree_leaves(tree)]


def _same_run(a, b, atol=0.0):
    for x, y in zip(_leaves(a.params), _leaves(b.params)):
        np.testing.assert_allclose(x, y, rtol=0, atol=atol)
    np.testing.assert_allclose(a.train_loss, b.train_loss, rtol=0, atol=atol)
    np.testing.assert_allclose(a.lr, b.lr, rtol=0, atol=atol)


@pytest.mark.parametrize("engine", ["xla", "native"])
def test_grid_in_one_program_equals_separate_trainings(monkeypatch, engine):
    """lr x weight decay: 4 cells, ONE program (train_cells called once with 4 cells); each
    cell's numbers are those of gj.train of that cell alone (within 1e-5; the plateau cuts
    the lr, so the schedule per member is exercised too)."""
    if engine == "native" and not _native_available():
        pytest.skip("native kernels unavailable")
    calls = []
    real = sweeps.train_cells
    monkeypatch.setattr(sweeps, "train_cells",
                        lambda cells, *a, **k: calls.append(len(cells)) or real(cells, *a, **k))
    grid = {"learning_rate": [1e-3, 3e-3], "weight_decay": [0.0, 1e-3]}
    sw = gj.sweep(SMALL, grid, seeds=[0, 1, 2], progress=False, engine=engine)
    assert calls == [4]
    assert sw.cells == [{"learning_rate": 1e-3, "weight_decay": 0.0},
                        {"learning_rate": 1e-3, "weight_decay": 1e-3},
                        {"learning_rate": 3e-3, "weight_decay": 0.0},
                        {"learning_rate": 3e-3, "weight_decay": 1e-3}]
    for cell, run in zip(sw.cells, sw.runs):
        alone = gj.train(gj.Config(**{**SMALL.to_dict(), **cell}), seeds=[0, 1, 2],
                         progress=False, engine=engine)
        _same_run(run, alone, atol=1e-5)
        assert run.config == alone.config
    # the cells really differ, and the plateau really cut some learning rates
    assert not np.allclose(sw.runs[0].train_loss, sw.runs[3].train_loss)
    assert (sw.runs[0].lr[:, -1] < 1e-3).any()


def _native_available():
    from gru_jax.engines import native_problems
    return not native_problems(SMALL, jax.local_devices())


def test_sweep_resumed_after_interruptions_equals_uninterrupted(tmp_path):
    """Two programs (batch size 64, 100) x two learning rates: interrupted inside the first program
    (after its first checkpoint), then after the first cells complete; the resumed sweep equals
    one that ran straight through, and complete cells are not retrained."""
    grid = {"batch_size": [64, 100], "learning_rate": [1e-3, 3e-3]}
    options = dict(seeds=[0, 1], chunk_epochs=2, summary=False)
    straight = gj.sweep(SMALL, grid, progress=False, **options)
    out = str(tmp_path / "sw")

    class Stop(Exception):
        pass

    def stop_after(limit):
        seen = []

        def advance(n):
            seen.append(n)
            if sum(seen) >= limit:
                raise Stop
        return advance

    with pytest.raises(Stop):          # the first chunk of the first program (2 cells x 2 seeds)
        gj.sweep(SMALL, grid, out=out, progress=stop_after(8), **options)
    assert os.path.exists(os.path.join(out, "cell_000", "checkpoint.npz"))
    with pytest.raises(FileExistsError):
        gj.sweep(SMALL, grid, out=out, progress=False, **options)

    def stop_at_cell(index, run):
        if index == 1:
            raise Stop
    with pytest.raises(Stop):
        gj.sweep(SMALL, grid, out=out, resume=True, progress=False, on_cell=stop_at_cell,
                 **options)
    assert gj.Run.load(os.path.join(out, "cell_000")).n_seeds == 2
    trained = []
    resumed = gj.sweep(SMALL, grid, out=out, resume=True, progress=trained.append, **options)
    assert sum(trained) == 2 * 2 * SMALL.epochs          # only the second program trained
    for a, b in zip(straight.runs, resumed.runs):
        _same_run(a, b)
    loaded = sweeps.Sweep.load(out)
    assert loaded.cells == straight.cells
    _same_run(loaded.runs[3], straight.runs[3])
    with pytest.raises(ValueError, match="learning_rate"):
        gj.sweep(SMALL, {"batch_size": [64, 100], "learning_rate": [1e-3]}, out=out,
                 resume=True, **options)


@pytest.mark.parametrize("grid, message", [
    ({"learning_rte": [1e-3]}, "learning_rte"),
    ({"learning_rate": [1e-3, -1.0]}, "learning_rate=-1.0"),
    ({"hidden_size": []}, "hidden_size has no values"),
    ({"hidden_size": "12"}, "hidden_size must be a list"),
    ({"seq_len": [4, 4]}, "repeats"),
    ({"task": {"long": {"seq_ln": 8}}}, "seq_ln"),
])
def test_bad_grids_are_refused_before_training(tmp_path, grid, message, monkeypatch):
    monkeypatch.setattr(sweeps, "train_cells", lambda *a, **k: pytest.fail("trained"))
    with pytest.raises(ValueError, match=message):
        gj.sweep(SMALL, grid, seeds=[0], out=str(tmp_path / "sw"), progress=False)
    assert not os.path.exists(tmp_path / "sw" / "sweep.json")


def test_cli_sweep_shape_changing_and_member_fields_end_to_end(tmp_path, capsys):
    out = str(tmp_path / "sw")
    argv = ["sweep", "--grid", "learning_rate=1e-3,3e-3", "--grid", "batch_size=64,100",
            "--seeds", "2", "--epochs", "4", "--n-samples", "200", "--eval-every", "2",
            "--no-progress", "--out", out]
    assert main(argv) == 0
    for name in ("summary.csv", "summary.md", "phase_diagram.png", "sweep.json"):
        assert os.path.getsize(os.path.join(out, name)) > 0
    run = gj.Run.load(os.path.join(out, "cell_002"))        # learning_rate 3e-3, batch 64
    assert (run.config.learning_rate, run.config.batch_size, run.n_seeds) == (3e-3, 64, 2)
    lines = open(os.path.join(out, "summary.csv")).read().splitlines()
    assert len(lines) == 5 and lines[0].startswith("cell,dir,learning_rate,batch_size")
    assert main(argv[:-2] + ["--out", out, "--resume"]) == 0      # complete: nothing to train
    assert main(["sweep", "--out", out, "--resume", "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["sweep", "--grid", "learning_rat=1", "--out", str(tmp_path / "x")]) == 2
    assert "learning_rat" in capsys.readouterr().err
    assert main(["sweep", "--grid", "hidden_size=1,two", "--out", str(tmp_path / "x")]) == 2
    assert "hidden_size" in capsys.readouterr().err
    assert main(["sweep", "--out", str(tmp_path / "x")]) == 2
    assert not os.path.exists(tmp_path / "x" / "sweep.json")


def test_summary_row_counts_a_constructed_cell():
    """Two seeds: the hand-crafted accumulator (general) and an all-zero network (failed: it
    predicts 0, loss far above the baseline): general 1 of 2 with the Wilson interval of 1/2,
    best generalizer = the accumulator's seed."""
    good = accumulator()
    zero = jax.tree_util.tree_map(np.zeros_like, good)
    params = jax.tree_util.tree_map(lambda a, b: np.stack([a, b]), zero, good)
    run = types.SimpleNamespace(
        params=params, seeds=[7, 9], n_seeds=2, config=gj.Config(epochs=12),
        loss_epochs=np.array([0, 4, 10, 11]),        # the last sixth starts at epoch 10
        train_loss=np.array([[1.0, 1.0, 1.0, 1.0], [0.5, 1e-3, 4e-6, 1e-6]]),
        test_loss=np.array([[100.0], [1e-3]]), diverged=np.array([False, False]))
    row = cell_row(run)
    assert (row["general"], row["failed"], row["length-specific"]) == (1, 1, 0)
    assert row["general_fraction"] == 0.5
    assert (row["general_low"], row["general_high"]) == wilson_interval(1, 2)
    assert row["best_seed"] == 9 and row["best_error"] < 1e-3
    assert row["loss_q50"] == pytest.approx(np.median([1.0, 1e-6]))
    assert row["loss_tail_ratio"] == pytest.approx(np.median([1.0, 0.25]))   # flat; quartered
