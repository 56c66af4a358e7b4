"""gru_jax.checkpoint (in a gru_jax.rundir.RunDir): a chunk checkpoint restores the exact state,
and refuses what it cannot.

The state is checked leaf by leaf against the one saved (np.array_equal); the refusals name
what differs.
"""
import json
import os

import jax
import numpy as np
import pytest

import gru_jax as gj
from gru_jax import checkpoint as ckpt
from gru_jax.engines import resolve_engine
from gru_jax.inputs import initial_params, seed_streams
from gru_jax.optim import member_hyper
from gru_jax.program import ProgramSpec, compiled_init
from gru_jax.rundir import CHECKPOINT, RunDir

CFG = gj.Config(n_samples=200, batch_size=64, epochs=4, eval_every=2)


def _state(engine_name="xla", seeds=(0, 1)):
    engine = resolve_engine(CFG, engine_name)
    streams = seed_streams(CFG, seeds)
    params0 = initial_params(CFG, len(seeds), streams)
    init = lambda params: compiled_init(ProgramSpec.of([CFG], engine, 2))(
        params, streams.order, member_hyper([CFG] * len(seeds)))
    return init, params0, init(params0)


def _logs(n_seeds=2):
    log = gj.program.ChunkLog(
        train_loss=np.arange(2 * n_seeds, dtype=np.float32).reshape(n_seeds, 2),
        test_loss=np.ones((n_seeds, 1), np.float32), lr=np.full((n_seeds, 1), 1e-4, np.float32),
        snapshots=jax.tree_util.tree_map(lambda a: np.asarray(a)[:, None], _state()[1]))
    return ckpt.Logs.empty().append(log, n_epochs=2, n_evals=1)


def _write_run_files(out, seeds=(0, 1)):
    os.makedirs(out, exist_ok=True)
    RunDir(out).start(CFG, list(seeds))
    return RunDir(out)


def test_round_trip_is_exact(tmp_path):
    out = _write_run_files(str(tmp_path))
    init, params0, state = _state()
    logs = _logs()
    ckpt.save_checkpoint(out, state, logs, 2, params0, "xla")
    restored, logs2, done, params0_back = ckpt.load_checkpoint(out, CFG, [0, 1], init, "xla")
    assert done == 2
    for a, b in zip(jax.tree_util.tree_leaves(restored), jax.tree_util.tree_leaves(state)):
        assert np.array_equal(np.asarray(a), np.asarray(b))
    for a, b in zip(jax.tree_util.tree_leaves(params0_back), jax.tree_util.tree_leaves(params0)):
        assert np.array_equal(np.asarray(a), np.asarray(b))
    assert np.array_equal(logs2.train_loss(), logs.train_loss())
    assert not [f for f in os.listdir(out.path) if f.endswith(".tmp") or ".tmp." in f]


def test_another_engine_config_or_seeds_is_refused(tmp_path):
    out = _write_run_files(str(tmp_path))
    init, params0, state = _state()
    ckpt.save_checkpoint(out, state, _logs(), 2, params0, "xla")
    with pytest.raises(ValueError, match="written by the xla engine"):
        ckpt.load_checkpoint(out, CFG, [0, 1], init, "native")
    other = gj.Config(n_samples=200, batch_size=64, epochs=5, eval_every=2)
    with pytest.raises(ValueError, match="epochs"):
        ckpt.load_checkpoint(out, other, [0, 1], init, "xla")
    with pytest.raises(ValueError, match="seeds"):
        ckpt.load_checkpoint(out, CFG, [0, 2], init, "xla")


def test_completeness_and_removal(tmp_path):
    out = _write_run_files(str(tmp_path))
    assert not out.complete()
    with open(os.path.join(out.path, "run.json")) as handle:
        meta = json.load(handle)
    meta["complete"] = True
    with open(os.path.join(out.path, "run.json"), "w") as handle:
        json.dump(meta, handle)
    assert out.complete()
    init, params0, state = _state()
    ckpt.save_checkpoint(out, state, _logs(), 2, params0, "xla")
    out.remove_checkpoint()
    assert not os.path.exists(os.path.join(out.path, CHECKPOINT))
    assert ckpt.load_checkpoint(out, CFG, [0, 1], init, "xla") is None
