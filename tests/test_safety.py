"""Runs that survive: one writer, resume checked before it writes, atomic writes whose failures
are named, and input checked at the boundary.

Every test builds a case whose right answer is known without gru_jax (a file's bytes before
and after, a run trained without interruption, a value outside the allowed set) and checks the
library or the CLI against it.
"""
import errno
import os
import subprocess
import importlib
import sys

import numpy as np
import pytest

import gru_jax as gj
from gru_jax import checkpoint as ckpt
from gru_jax import files
from gru_jax.engines import resolve_engine
from gru_jax.inputs import seed_streams
from gru_jax.optim import member_hyper
from gru_jax.program import ProgramSpec, compiled_init
from gru_jax.rundir import RunDir
from gru_jax.analysis.dissect import parse_sequence
from gru_jax.cli import main

train_module = importlib.import_module("gru_jax.train")

TINY = gj.Config(n_samples=200, batch_size=64, epochs=4, eval_every=2)
KW = dict(progress=False, engine="xla", chunk_epochs=2)
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class Kill(Exception):
    """Stands for a SIGKILL at the moment it is raised."""


def _kill_at_call(n):
    calls = []

    def on_chunk(done):
        calls.append(done)
        if len(calls) == n:
            raise Kill
    return on_chunk


def _snapshot(directory):
    """Every file under ``directory``: relative path -> bytes."""
    found = {}
    for root, _, names in os.walk(directory):
        for name in names:
            path = os.path.join(root, name)
            with open(path, "rb") as handle:
                found[os.path.relpath(path, directory)] = handle.read()
    return found


def _temporaries(directory):
    return [p for p in _snapshot(directory) if p.endswith(".tmp")]


def _leaves(params):
    return [np.asarray(params[m][k]) for m in sorted(params) for k in sorted(params[m])]


def _assert_same_run(a, b, atol=0.0):
    """Same seeds and numbers; ``atol``: runs grouped into other batches of seeds agree to
    float32 rounding, not bit for bit (tests/test_train.py)."""
    np.testing.assert_array_equal(a.seeds, b.seeds)
    for x, y in zip(_leaves(a.params), _leaves(b.params)):
        np.testing.assert_allclose(x, y, rtol=0, atol=atol)
    np.testing.assert_allclose(a.train_loss, b.train_loss, rtol=0, atol=atol)
    np.testing.assert_allclose(a.test_loss, b.test_loss, rtol=0, atol=atol * 1e4)


@pytest.fixture(scope="module")
def full4():
    """Four seeds trained without interruption, without a directory: the expected answer."""
    return gj.train(TINY, seeds=range(4), **KW)


# ---- data loss ---------------------------------------------------------------------------------
def test_batched_resume_keeps_its_grouping_and_refuses_another(tmp_path, full4, monkeypatch):
    out = str(tmp_path / "run")
    with pytest.raises(Kill):        # batches of 1 seed, 2 chunks each: killed inside batch 2
        gj.train(TINY, seeds=range(4), out=out, seed_batch=1, on_chunk=_kill_at_call(3), **KW)
    before = _snapshot(out)
    with pytest.raises(ValueError, match=r"seed_batch: stored 1, given 2"):
        gj.train(TINY, seeds=range(4), out=out, resume=True, seed_batch=2, **KW)
    assert _snapshot(out) == before
    # more free memory now: the default grouping would be one batch of all 4; the stored wins
    monkeypatch.setattr(train_module, "auto_seed_batch", lambda cfg, engine, fraction=0.5: 64)
    run = gj.train(TINY, seeds=range(4), out=out, resume=True, **KW)
    _assert_same_run(run, full4, atol=1e-6)
    _assert_same_run(gj.Run.load(out), full4, atol=1e-6)
    assert gj.Run.load(out).seeds.tolist() == [0, 1, 2, 3]
    assert not os.path.exists(os.path.join(out, "batches"))


def test_refused_resume_changes_nothing_and_a_correct_one_still_works(tmp_path, full4):
    out = str(tmp_path / "run")
    with pytest.raises(Kill):
        gj.train(TINY, seeds=range(4), out=out, seed_batch=2, on_chunk=_kill_at_call(3), **KW)
    before = _snapshot(out)
    other = TINY.__class__(**{**TINY.to_dict(), "learning_rate": 1e-3})
    with pytest.raises(ValueError, match=r"learning_rate: stored 0.0001, given 0.001"):
        gj.train(other, seeds=range(4), out=out, resume=True, seed_batch=2, **KW)
    with pytest.raises(ValueError, match=r"seeds: stored \[0, 1, 2, 3\], given \[0, 1, 2\]"):
        gj.train(TINY, seeds=range(3), out=out, resume=True, seed_batch=2, **KW)
    assert _snapshot(out) == before
    _assert_same_run(gj.train(TINY, seeds=range(4), out=out, resume=True, seed_batch=2, **KW),
                     full4, atol=1e-6)


def test_second_writer_is_refused_naming_the_holder_and_a_stale_lock_is_not(tmp_path):
    from gru_jax import lock
    out = str(tmp_path / "run")
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from gru_jax import lock\n"
         "with lock.run_lock(sys.argv[1]):\n    print('held', flush=True); time.sleep(60)", out],
        cwd=REPO, env=dict(os.environ, PYTHONPATH=REPO), stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        for resume in (False, True):
            with pytest.raises(lock.RunLockedError,
                               match=rf"process {holder.pid} on {os.uname().nodename}"):
                gj.train(TINY, seeds=[0], out=out, resume=resume, **KW)
    finally:
        holder.kill()                     # SIGKILL: its lock is stale from now on
        holder.wait()
    run = gj.train(TINY, seeds=[0], out=out, **KW)
    assert run.n_seeds == 1 and gj.Run.load(out).n_seeds == 1
    assert not os.path.exists(os.path.join(out, lock.LOCK_FILE))


def test_two_cli_trains_on_one_directory_one_wins_one_is_refused(tmp_path):
    out = str(tmp_path / "run")
    argv = [sys.executable, "-m", "gru_jax", "train", "--out", out, "--seeds", "2", "--epochs",
            "4", "--n-samples", "200", "--batch-size", "64", "--eval-every", "2",
            "--engine", "xla", "--no-progress"]
    env = dict(os.environ, PYTHONPATH=REPO)
    procs = [subprocess.Popen(argv, cwd=REPO, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [(p.wait(timeout=300), p.stdout.read(), p.stderr.read()) for p in procs]
    codes = sorted(code for code, _, _ in results)
    assert codes == [0, 2], results
    refused = [err for code, _, err in results if code == 2][0]
    assert "Traceback" not in refused and refused.startswith("error: ")
    assert "process" in refused or "not empty" in refused
    assert gj.Run.load(out).n_seeds == 2 and not _temporaries(out)


# ---- resume says what it does --------------------------------------------------------------------
def test_cli_resume_compares_given_options_and_says_when_complete(tmp_path, capsys):
    out = str(tmp_path / "run")
    base = ["--n-samples", "200", "--batch-size", "64", "--eval-every", "2", "--engine", "xla",
            "--no-progress"]
    assert main(["train", "--out", out, "--seeds", "2", "--epochs", "4"] + base) == 0
    before = _snapshot(out)
    capsys.readouterr()
    assert main(["train", "--out", out, "--resume", "--epochs", "1000", "--seeds", "3",
                 "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "epochs: stored 4, given 1000" in err and "seeds: stored [0, 1], given [0, 1, 2]" in err
    assert main(["train", "--out", out, "--resume", "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert "already complete" in text and "nothing trained" in text and "trained 2" not in text
    assert _snapshot(out) == before


def test_api_resume_of_a_complete_run_checks_config_and_seeds(tmp_path):
    out = str(tmp_path / "run")
    done = gj.train(TINY, seeds=[0, 1], out=out, **KW)
    other = TINY.__class__(**{**TINY.to_dict(), "epochs": 6})
    with pytest.raises(ValueError, match="epochs: stored 4, given 6"):
        gj.train(other, seeds=[0, 1], out=out, resume=True, **KW)
    with pytest.raises(ValueError, match="seeds"):
        gj.train(TINY, seeds=[5], out=out, resume=True, **KW)
    _assert_same_run(gj.train(TINY, seeds=[0, 1], out=out, resume=True, **KW), done)


# ---- atomic writes, named failures ---------------------------------------------------------------
def _no_space(*args, **kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_full_disk_during_a_checkpoint_keeps_the_previous_one(tmp_path, monkeypatch, full4):
    out = str(tmp_path / "run")

    def disk_fills(done):
        monkeypatch.setattr(files.os, "fsync", _no_space)    # every later write fails
    with pytest.raises(files.WriteError, match=r"checkpoint\.npz.*No space left on device"):
        gj.train(TINY, seeds=range(4), out=out, on_chunk=disk_fills, **KW)
    monkeypatch.undo()
    assert not _temporaries(out)
    restored = ckpt.load_checkpoint(RunDir(out), TINY, list(range(4)), _state_template,
                                    "xla")
    assert restored[2] == 2                                 # the first chunk's checkpoint
    _assert_same_run(gj.train(TINY, seeds=range(4), out=out, resume=True, **KW), full4)


def _state_template(params0):
    engine = resolve_engine(TINY, "xla")
    streams = seed_streams(TINY, list(range(4)))
    return compiled_init(ProgramSpec.of([TINY], engine, 2))(params0, streams.order,
                                                            member_hyper([TINY] * 4))


def test_cli_full_disk_is_one_line_and_leaves_nothing(tmp_path, monkeypatch, capsys):
    out = str(tmp_path / "run")
    monkeypatch.setattr(files.os, "fsync", _no_space)
    code = main(["train", "--out", out, "--seeds", "1", "--epochs", "2", "--n-samples", "200",
                 "--eval-every", "2", "--engine", "xla", "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err
    assert "config.json" in err and "No space left on device" in err
    assert not os.path.exists(out) or os.listdir(out) == []


def test_kill_between_config_and_run_json_can_restart(tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    (out / "config.json").write_text(TINY.to_json())       # killed right after the first file
    assert main(["train", "--out", str(out), "--resume", "--no-progress"]) == 2
    assert "interrupted before training started" in capsys.readouterr().err
    run = gj.train(TINY, seeds=[0], out=str(out), **KW)
    assert gj.Run.load(str(out)).n_seeds == run.n_seeds == 1


@pytest.mark.parametrize("damage", ["truncated", "foreign"])
def test_damaged_or_foreign_checkpoint_is_named(tmp_path, damage, capsys):
    out = str(tmp_path / "run")
    with pytest.raises(Kill):
        gj.train(TINY, seeds=[0, 1], out=out, on_chunk=_kill_at_call(1), **KW)
    path = os.path.join(out, "checkpoint.npz")
    if damage == "truncated":
        data = open(path, "rb").read()
        open(path, "wb").write(data[: len(data) // 2])
    else:                                  # another run's checkpoint, with three seeds
        other = str(tmp_path / "other")
        with pytest.raises(Kill):
            gj.train(TINY, seeds=[0, 1, 2], out=other, on_chunk=_kill_at_call(1), **KW)
        os.replace(os.path.join(other, "checkpoint.npz"), path)
    before = _snapshot(out)
    assert main(["train", "--out", out, "--resume", "--engine", "xla", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "checkpoint.npz" in err and "Traceback" not in err and err.count("\n") == 1
    assert _snapshot(out) == before


@pytest.mark.parametrize("meta", [[1, 2], {"format_version": 2, "complete": True,
                                           "loss_every": "x"}, {"format_version": "2"}, "text"])
def test_run_json_of_the_wrong_shape_is_named(tmp_path, meta, capsys):
    out = str(tmp_path / "run")
    gj.train(TINY, seeds=[0], out=out, **KW)
    files.write_json(os.path.join(out, "run.json"), meta)
    with pytest.raises(gj.RunError, match="run.json"):
        gj.Run.load(out)
    assert main(["info", out]) == 2
    assert main(["train", "--out", out, "--resume", "--no-progress"]) == 2
    assert capsys.readouterr().err.count("run.json") == 2


# ---- validation at the boundary ------------------------------------------------------------------
def test_seeds_must_be_integers():
    with pytest.raises(ValueError, match=r"seeds.*1\.5"):
        gj.train(TINY, seeds=[1.5, 2.7], **KW)
    with pytest.raises(ValueError, match="seeds"):
        gj.train(TINY, seeds=5, **KW)
    with pytest.raises(ValueError, match="seeds"):
        gj.train(TINY, seeds=[True], **KW)
    run = gj.train(TINY, seeds=np.array([3], np.int64), **KW)
    assert run.seeds.tolist() == [3]


def test_orders_must_be_permutations():
    n = TINY.n_train
    perm = np.stack([np.random.default_rng(e).permutation(n) for e in range(TINY.epochs)])[None]
    zeros = np.zeros_like(perm)
    dup = perm.copy()
    dup[0, 1, 5] = dup[0, 1, 6]
    for bad in (zeros, dup):
        with pytest.raises(ValueError, match=r"orders\[0, \d+\] is not a permutation"):
            gj.train(TINY, seeds=[0], orders=bad, **KW)


def test_data_flags_must_be_zero_or_one():
    x, y = gj.seed_dataset(TINY, 0)
    x = np.array(x, np.float64)
    x[3, 1, 1] = 2.0
    with pytest.raises(ValueError, match="flag.*2"):
        gj.train(TINY, seeds=[0], data=(x, y), **KW)
    x[3, 1, 1] = 0.0
    x[4, 0, 0] = np.nan
    with pytest.raises(ValueError, match="finite"):
        gj.train(TINY, seeds=[0], data=(x, y), **KW)


def test_state_dict_values_that_float32_cannot_hold_are_refused():
    sd = gj.to_state_dict(gj.init_params(TINY, __import__("jax").random.key(0)))
    big = {**sd, "linear.bias": np.array([1e300])}
    with pytest.raises(ValueError, match=r"linear\.bias.*1e\+300.*float32"):
        gj.from_state_dict(big)
    cplx = {**sd, "gru.bias_hh_l0": sd["gru.bias_hh_l0"] + 1j}
    with pytest.raises(ValueError, match=r"gru\.bias_hh_l0.*complex"):
        gj.from_state_dict(cplx)
    text = {**sd, "linear.weight": [["a"]]}
    with pytest.raises(ValueError, match=r"linear\.weight"):
        gj.from_state_dict(text)
    with pytest.raises(ValueError, match="state dict"):
        gj.from_state_dict([1, 2])
    inf = {**sd, "linear.bias": np.array([np.inf])}        # already infinite: kept (divergence)
    assert np.isinf(gj.from_state_dict(inf)["linear"]["bias"][0])


@pytest.mark.parametrize("text", ["12,2 37,1", "12,-1 37,1", "12,0.5 37,1", "nan,1 3,0",
                                  "inf,1 3,1"])
def test_sequence_flags_must_be_zero_or_one(text, capsys):
    with pytest.raises(ValueError, match="sequence element"):
        parse_sequence(text)
    assert main(["dissect", "--handcrafted", "--sequence", text]) == 2
    assert "sequence element" in capsys.readouterr().err


def test_config_fields_of_the_wrong_type_are_named():
    import dataclasses
    for field in dataclasses.fields(gj.Config):
        bad = 1 if field.name == "data_generator" else "1"
        with pytest.raises(ValueError, match=rf"Config\.{field.name} must be"):
            gj.Config(**{field.name: bad})


def test_numpy_scalars_are_accepted_where_python_ones_are():
    cfg = gj.Config(seq_len=np.int64(8), learning_rate=np.float32(1e-3), epochs=np.int32(5),
                    delta=np.float64(0.0), init_seed=np.uint32(3))
    assert cfg == gj.Config(seq_len=8, learning_rate=float(np.float32(1e-3)), epochs=5,
                            init_seed=3)
    assert type(cfg.seq_len) is int and type(cfg.learning_rate) is float
    assert gj.Config.from_json(cfg.to_json()) == cfg


def test_sizes_that_cannot_fit_are_refused_with_the_estimate():
    with pytest.raises(ValueError, match=r"GiB"):
        gj.train(gj.Config(seq_len=10**6), seeds=[0], **KW)
    with pytest.raises(ValueError, match=r"4294967296 seeds.*GiB"):
        gj.train(TINY, seeds=range(2**32), **KW)


CLI_CASES = [
    (["train", "--seeds", "0"], "--seeds"),
    (["train", "--seeds=-3"], "--seeds"),
    (["train", "--seeds", "4294967296"], "4294967296 seeds"),
    (["train", "--seeds", "5:2"], "--seeds"),
    (["train", "--seeds", "1,x"], "--seeds"),
    (["train", "--high", "3000000000"], "Config.high"),
    (["train", "--seq-len", "1000000"], "GiB"),
    (["train", "--learning-rate", "nan"], "Config.learning_rate"),
    (["train", "--seed-batch", "0"], "--seed-batch must be an int >= 1"),   # flags, not
    (["train", "--chunk-epochs", "0"], "--chunk-epochs must be an int >= 1"),  # arguments
    (["train", "--loss-every", "0"], "--loss-every must be an int >= 1"),
    (["sweep", "--grid", "clip=1,2", "--loss-every", "-1"], "--loss-every must be an int >= 1"),
]


@pytest.mark.parametrize("argv,named", CLI_CASES)
def test_cli_bad_train_options_are_one_line(tmp_path, argv, named, capsys):
    out = str(tmp_path / "run")
    assert main(argv + ["--out", out, "--no-progress", "--epochs", "2"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and named in err
    assert not os.path.exists(out)


def test_cli_impossible_paths_are_one_line(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    cases = [["train", "--out", str(blocker / "run"), "--seeds", "1", "--no-progress"],
             ["dissect", "--weights", str(tmp_path / "missing.json")],
             ["info", str(tmp_path / "nowhere")],
             ["compare", str(tmp_path / "nowhere"), "--stability-runs", "0"]]
    for argv in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.startswith("error: ") and err.count("\n") == 1, (argv, err)
    assert blocker.read_text() == "x"


def test_compare_on_a_run_whose_seeds_all_diverged_is_refused(tmp_path, capsys):
    base = gj.train(TINY, seeds=[0, 1], **KW)
    init = {m: {k: np.array(v) for k, v in sub.items()} for m, sub in base.init_params.items()}
    init["linear"]["weight"][:] = np.inf
    out = str(tmp_path / "run")
    gj.train(TINY, seeds=[0, 1], init=init, out=out, **KW)
    assert main(["compare", out, "--stability-epochs", "0"]) == 2
    assert "diverged" in capsys.readouterr().err


def test_debug_shows_the_traceback(tmp_path, monkeypatch):
    monkeypatch.setenv("GRU_JAX_DEBUG", "1")
    with pytest.raises(ValueError):
        main(["train", "--seeds", "0", "--out", str(tmp_path / "r"), "--no-progress"])


def test_two_holders_in_one_process_conflict_and_release_frees(tmp_path):
    """Two holders in one process conflict too (flock is per open file), and release frees."""
    from gru_jax import lock
    out = str(tmp_path / "run")
    with lock.run_lock(out):
        with pytest.raises(lock.RunLockedError, match=f"process {os.getpid()}"):
            with lock.run_lock(out):
                pass
    with lock.run_lock(out):
        pass
    assert not os.path.exists(out)          # created for the lock, empty: removed again
