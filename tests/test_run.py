"""Runs on disk: format 2 (one .npy per array, memory-mapped), format 1 still loads, numpy-only
layout, thinned losses, provenance, atomic writes, clear errors, and a 100,000-seed run that
loads and summarises in little memory."""
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import gru_jax as gj
from gru_jax.files import write_atomic
from gru_jax.interop import state_dict_shapes
from gru_jax.run import loss_epochs_kept, summary_table

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def constructed_run(n_seeds=3, epochs=5, eval_every=2, seed=0):
    cfg = gj.Config(epochs=epochs, eval_every=eval_every)
    rng = np.random.default_rng(seed)
    n_eval = cfg.n_eval

    def params(lead):
        return gj.from_state_dict({k: rng.normal(size=lead + s).astype(np.float32)
                                   for k, s in state_dict_shapes(1).items()})

    return gj.Run(config=cfg, seeds=np.arange(10, 10 + n_seeds),
                  eval_epochs=np.asarray(cfg.eval_epochs),
                  init_params=params((n_seeds,)), params=params((n_seeds,)),
                  snapshots=params((n_seeds, n_eval)),
                  train_loss=rng.random((n_seeds, epochs)).astype(np.float32),
                  test_loss=rng.random((n_seeds, n_eval)).astype(np.float32),
                  lr=np.full((n_seeds, n_eval), 1e-4, np.float32),
                  diverged=(np.arange(n_seeds) % 3 == 1), wall_s=1.5)


def assert_runs_equal(a, b):
    for name in ("seeds", "eval_epochs", "train_loss", "test_loss", "lr", "diverged"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    for group in ("params", "init_params", "snapshots"):
        for module, sub in getattr(a, group).items():
            for leaf, value in sub.items():
                np.testing.assert_array_equal(value, getattr(b, group)[module][leaf],
                                              err_msg=f"{group} {module}.{leaf}")
    assert a.config == b.config and a.loss_every == b.loss_every


def test_round_trip_and_numpy_only_layout(tmp_path):
    run = constructed_run()
    run.save(str(tmp_path))
    loaded = gj.Run.load(str(tmp_path))
    assert_runs_equal(loaded, run)
    assert loaded.diverged.tolist() == [False, True, False] and loaded.wall_s == 1.5
    # lazily loaded: every array is a read-only memory map of its .npy file
    assert isinstance(loaded.train_loss, np.memmap) and not loaded.train_loss.flags.writeable
    assert isinstance(loaded.snapshots["gru"]["weight_hh_l0"], np.memmap)
    # numpy alone reads it, one file per array, torch's names
    arrays = tmp_path / "arrays"
    np.testing.assert_array_equal(np.load(arrays / "params" / "gru.weight_ih_l0.npy"),
                                  run.params["gru"]["weight_ih_l0"])
    assert np.load(arrays / "snapshots" / "linear.bias.npy").shape == (3, 3, 1)
    assert np.load(arrays / "metrics" / "train_loss.npy").shape == (3, 5)
    assert np.load(arrays / "metrics" / "eval_epochs.npy").tolist() == [0, 2, 4]
    assert np.load(arrays / "metrics" / "loss_epochs.npy").tolist() == [0, 1, 2, 3, 4]
    meta = json.loads((tmp_path / "run.json").read_text())
    assert meta["format_version"] == 2 and meta["complete"] and meta["loss_every"] == 1
    assert meta["seeds"] == [10, 11, 12] and meta["epochs"] == 5
    assert loaded.index_of(11) == 1
    with pytest.raises(ValueError, match="seed 99"):
        loaded.index_of(99)
    # a loaded (mapped) run saves again, elsewhere, unchanged
    loaded.save(str(tmp_path / "again"))
    assert_runs_equal(gj.Run.load(str(tmp_path / "again")), run)


def test_provenance_round_trips_and_gains_an_end_time(tmp_path):
    run = constructed_run()
    run.provenance = {"host": "node7", "jax": "0.0", "start_time": "2025-01-01T00:00:00+00:00"}
    run.save(str(tmp_path))
    loaded = gj.Run.load(str(tmp_path))
    assert {k: loaded.provenance[k] for k in run.provenance} == run.provenance
    assert loaded.provenance["end_time"] >= run.provenance["start_time"]
    assert "end_time" not in run.provenance            # saving does not change the Run
    joined = gj.Run.concatenate([loaded, constructed_run()])
    assert joined.provenance == loaded.provenance


def write_format1(path, run):
    """A gru_jax 0.1 run directory, written here with numpy alone (the 0.1 layout)."""
    os.makedirs(path)
    sd = lambda tree: {f"{m}.{k}": v for m, sub in tree.items() for k, v in sub.items()}
    np.savez(os.path.join(path, "params.npz"), **sd(run.params))
    np.savez(os.path.join(path, "init_params.npz"), **sd(run.init_params))
    np.savez(os.path.join(path, "snapshots.npz"), **sd(run.snapshots))
    np.savez(os.path.join(path, "metrics.npz"), seeds=run.seeds, eval_epochs=run.eval_epochs,
             train_loss=run.train_loss, test_loss=run.test_loss, lr=run.lr,
             diverged=run.diverged)
    with open(os.path.join(path, "config.json"), "w") as handle:
        json.dump(run.config.to_dict(), handle)
    with open(os.path.join(path, "run.json"), "w") as handle:
        json.dump({"format_version": 1, "complete": True, "n_seeds": run.n_seeds,
                   "seeds": run.seeds.tolist(), "epochs": run.config.epochs, "wall_s": 1.5,
                   "engine": "xla"}, handle)


def test_format1_still_loads_and_resaves_as_format2(tmp_path):
    run = constructed_run()
    write_format1(str(tmp_path / "v1"), run)
    loaded = gj.Run.load(str(tmp_path / "v1"))
    assert_runs_equal(loaded, run)
    assert loaded.provenance == {} and loaded.engine == "xla"
    loaded.save(str(tmp_path / "v1"), overwrite=True)      # upgraded in place: no stale .npz
    assert not (tmp_path / "v1" / "metrics.npz").exists()
    assert_runs_equal(gj.Run.load(str(tmp_path / "v1")), run)


def test_committed_format1_run_loads():
    path = os.path.join(ROOT, "results", "runs", "blog1024")
    run = gj.Run.load(path)
    with np.load(os.path.join(path, "metrics.npz")) as metrics:
        np.testing.assert_array_equal(run.train_loss, metrics["train_loss"])
    assert run.train_loss.shape == (1024, 3000) and run.loss_epochs.shape == (3000,)
    assert run.snapshots["gru"]["weight_ih_l0"].shape == (1024, len(run.eval_epochs), 3, 2)


def test_loss_every_keeps_every_kth_epoch_and_the_last(tmp_path):
    assert loss_epochs_kept(10, 1).tolist() == list(range(10))
    assert loss_epochs_kept(10, 4).tolist() == [0, 4, 8, 9]
    assert loss_epochs_kept(9, 4).tolist() == [0, 4, 8]
    run = constructed_run(epochs=11)
    run.save(str(tmp_path), loss_every=5)
    loaded = gj.Run.load(str(tmp_path))
    assert loaded.loss_every == 5 and loaded.loss_epochs.tolist() == [0, 5, 10]
    np.testing.assert_array_equal(loaded.train_loss, run.train_loss[:, [0, 5, 10]])
    assert json.loads((tmp_path / "run.json").read_text())["loss_every"] == 5
    assert np.load(tmp_path / "arrays" / "metrics" / "loss_epochs.npy").tolist() == [0, 5, 10]
    # thinning further needs a multiple of what is kept
    np.testing.assert_array_equal(loaded.thin_losses(10).train_loss, run.train_loss[:, [0, 10]])
    with pytest.raises(ValueError, match="multiple of 5"):
        loaded.thin_losses(3)
    with pytest.raises(ValueError, match="loss_every"):
        gj.Run.concatenate([loaded, run])
    assert "kept every 5" in summary_table(loaded)


def test_summary_table_numbers():
    run = constructed_run(n_seeds=7)
    run.train_loss[2, -1] = np.nan
    text = summary_table(run)
    # the train row in ORIGINAL units, like the test row: scaled * high**2
    finite = np.delete(run.train_loss[:, -1], 2).astype(np.float64) * run.config.high**2
    expected = [f"{np.quantile(finite, q):.4g}" for q in (0.0, 0.1, 0.5, 0.9, 1.0)]
    train_row = next(line for line in text.splitlines() if line.strip().startswith("train"))
    assert train_row.split()[1:] == expected
    assert "diverged   2" in text and "10..16" in text


def test_save_refuses_to_overwrite(tmp_path):
    run = constructed_run()
    run.save(str(tmp_path))
    target = tmp_path / "arrays" / "metrics" / "train_loss.npy"
    before = target.read_bytes()
    with pytest.raises(FileExistsError):
        constructed_run(seed=1).save(str(tmp_path))
    assert target.read_bytes() == before


def test_atomic_write_keeps_the_old_file_on_failure(tmp_path):
    target = tmp_path / "file.bin"
    write_atomic(str(target), lambda handle: handle.write(b"old"))

    def failing(handle):
        handle.write(b"half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        write_atomic(str(target), failing)
    assert target.read_bytes() == b"old" and os.listdir(tmp_path) == ["file.bin"]


def test_missing_partial_and_corrupt_runs_are_named(tmp_path):
    with pytest.raises(gj.RunError, match="no run directory"):
        gj.Run.load(str(tmp_path / "nowhere"))
    run_dir = tmp_path / "run"
    constructed_run().save(str(run_dir))
    os.remove(run_dir / "arrays" / "snapshots" / "gru.bias_hh_l0.npy")
    with pytest.raises(gj.RunError, match="snapshots/gru.bias_hh_l0.npy"):
        gj.Run.load(str(run_dir))
    constructed_run().save(str(run_dir), overwrite=True)
    (run_dir / "arrays" / "metrics" / "lr.npy").write_bytes(b"not an npy file")
    with pytest.raises(gj.RunError, match="lr.npy is corrupt"):
        gj.Run.load(str(run_dir))
    constructed_run().save(str(run_dir), overwrite=True)
    (run_dir / "config.json").write_text("{ truncated")
    with pytest.raises(gj.RunError, match="config.json is corrupt"):
        gj.Run.load(str(run_dir))
    constructed_run().save(str(run_dir), overwrite=True)
    (run_dir / "config.json").write_text(json.dumps({"epochs": 0}))
    with pytest.raises(gj.RunError, match="epochs"):
        gj.Run.load(str(run_dir))
    # interrupted training: run.json says incomplete and a checkpoint is there
    constructed_run().save(str(run_dir), overwrite=True)
    (run_dir / "run.json").write_text(json.dumps({"format_version": 2, "complete": False}))
    (run_dir / "checkpoint.npz").write_bytes(b"")
    with pytest.raises(gj.RunError, match="complete=false.*resume"):
        gj.Run.load(str(run_dir))
    v1 = tmp_path / "v1"
    write_format1(str(v1), constructed_run())
    (v1 / "metrics.npz").write_bytes(b"not a zip file")
    with pytest.raises(gj.RunError, match="metrics.npz is corrupt"):
        gj.Run.load(str(v1))


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
    np.testing.assert_array_equal(joined.params["linear"]["weight"][3:],
                                  b.params["linear"]["weight"])
    picked = joined.select([4, 0])
    assert picked.seeds.tolist() == [21, 10]
    np.testing.assert_array_equal(picked.train_loss[0], b.train_loss[1])


LOAD_AND_SUMMARISE = textwrap.dedent("""
    import json, resource, sys, time
    start = time.perf_counter()
    from gru_jax.run import Run, summary_table
    imported = time.perf_counter()
    run = Run.load(sys.argv[1])
    text = summary_table(run)
    done = time.perf_counter()
    # getrusage's ru_maxrss carries the parent's resident size at fork (Linux keeps it across
    # exec); /proc's VmHWM is this program's own high-water mark. Report both, test the latter.
    hwm = None
    try:
        with open("/proc/self/status") as handle:
            hwm = next(int(l.split()[1]) / 1024 for l in handle if l.startswith("VmHWM"))
    except OSError:
        pass
    rusage = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"summary": text, "import_s": imported - start,
                      "load_summary_s": done - imported, "ru_maxrss_mb": rusage,
                      "peak_rss_mb": hwm if hwm is not None else rusage}))
""")


def test_100k_seeds_load_and_summarise_in_little_memory(tmp_path):
    """100,000 seeds x 3 epochs (hidden 1): load + summary in a fresh process stays well under
    1 GB of peak RSS and a few seconds (measured on the 2-core CPU: 192 MB, of which
    183 MB is importing jax; 0.06 s for load + summary)."""
    n_seeds = 100_000
    cfg = gj.Config(epochs=3, eval_every=1)
    rng = np.random.default_rng(1)
    params = lambda lead: gj.from_state_dict(
        {k: rng.normal(size=lead + s).astype(np.float32) for k, s in state_dict_shapes(1).items()})
    train_loss = rng.random((n_seeds, 3)).astype(np.float32)
    test_loss = (100 * rng.random((n_seeds, 3))).astype(np.float32)
    diverged = rng.random(n_seeds) < 0.01
    train_loss[diverged, -1] = np.nan
    run = gj.Run(config=cfg, seeds=np.arange(n_seeds), eval_epochs=np.arange(3),
                 init_params=params((n_seeds,)), params=params((n_seeds,)),
                 snapshots=params((n_seeds, 3)), train_loss=train_loss, test_loss=test_loss,
                 lr=np.full((n_seeds, 3), 1e-4, np.float32), diverged=diverged)
    run.save(str(tmp_path))
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""),
               JAX_PLATFORMS="cpu")
    proc = subprocess.run([sys.executable, "-c", LOAD_AND_SUMMARISE, str(tmp_path)], env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    print(f"100k seeds: import {result['import_s']:.2f} s, load + summary "
          f"{result['load_summary_s']:.2f} s, peak RSS {result['peak_rss_mb']:.0f} MB "
          f"(ru_maxrss {result['ru_maxrss_mb']:.0f} MB, including the parent's at fork)")
    assert result["peak_rss_mb"] < 600
    assert result["load_summary_s"] < 10
    lines = result["summary"].splitlines()
    assert f"diverged   {int(diverged.sum())}" in lines
    for label, values in (("train", train_loss[:, -1].astype(np.float64) * cfg.high**2),
                          ("test", test_loss[:, -1])):                # both in original units
        finite = values[np.isfinite(values)].astype(np.float64)
        row = next(line for line in lines if line.strip().startswith(label))
        assert row.split()[1:] == [f"{np.quantile(finite, q):.4g}"
                                   for q in (0.0, 0.1, 0.5, 0.9, 1.0)]
