"""Chunk checkpoints inside a run directory, and the per-chunk logs they carry.

``DIR/checkpoint.npz`` holds the flattened TrainState, the logs so far, the epochs done and
the initial params; it is replaced atomically after every chunk and removed once the finished
run is written. ``DIR/config.json`` and ``DIR/run.json`` (``complete: false``) are written at
the start so an interrupted directory says what it was.
"""
from __future__ import annotations

import dataclasses
import os
import zipfile
from typing import Optional

import jax
import numpy as np

from .config import Config
from .files import (OptionRequiredError, is_temporary, remove_temporaries, write_json,
                    write_npz)
from .interop import STATE_DICT_KEYS, from_state_dict, to_state_dict
from .lock import LOCK_FILE
from .run import DAMAGED_NPY, FORMAT_VERSION, RunError
from .rundir import read_config, read_meta

CHECKPOINT = "checkpoint.npz"


@dataclasses.dataclass(frozen=True)
class Logs:
    """Host copies of what the chunks returned so far (seed axis first)."""

    train: tuple = ()
    test: tuple = ()
    lrs: tuple = ()
    snaps: tuple = ()

    @classmethod
    def empty(cls) -> "Logs":
        return cls()

    def append(self, log, n_epochs: int, n_evals: int) -> "Logs":
        snaps = {k: v[:, :n_evals] for k, v in to_state_dict(jax.device_get(log.snapshots)).items()}
        return Logs(self.train + (np.asarray(log.train_loss)[:, :n_epochs],),
                    self.test + (np.asarray(log.test_loss)[:, :n_evals],),
                    self.lrs + (np.asarray(log.lr)[:, :n_evals],),
                    self.snaps + (snaps,))

    def train_loss(self):
        return np.concatenate(self.train, axis=1)

    def test_loss(self):
        return np.concatenate(self.test, axis=1)

    def lr(self):
        return np.concatenate(self.lrs, axis=1)

    def snapshots_state_dict(self):
        return {k: np.concatenate([s[k] for s in self.snaps], axis=1) for k in STATE_DICT_KEYS}


def _entries(out: str) -> list[str]:
    """What ``out`` holds, less the writer's lock and the temporaries of a killed write."""
    return sorted(e for e in os.listdir(out) if e != LOCK_FILE and not is_temporary(e))


def started(out: str) -> bool:
    """Has a run started in ``out``? Its ``run.json`` exists (written after ``config.json``:
    a directory killed between the two holds no run and may be started again)."""
    return os.path.exists(os.path.join(out, "run.json"))


def check_out_dir(out: str, resume: bool) -> None:
    """Refuse to write into a directory that holds anything unless resuming our own run.

    Call it holding the directory's lock (:func:`gru_jax.lock.run_lock`): it removes the
    temporaries a killed writer left. ``config.json`` alone (killed before ``run.json``) counts
    as empty.
    """
    if not os.path.exists(out):
        return
    if not os.path.isdir(out):
        raise FileExistsError(f"output path {out!r} exists and is not a directory")
    remove_temporaries(out)
    entries = _entries(out)
    if not entries or entries == ["config.json"]:
        return
    if not resume:
        raise OptionRequiredError(f"output directory {out!r} is not empty ({entries[:5]}); "
                                  "choose a new directory or {option} to continue a run",
                                  "resume")
    if "config.json" not in entries:
        raise FileExistsError(f"cannot resume in {out!r}: it holds no gru_jax run (no config.json)")


def stored_grouping(out: str, meta: dict) -> Optional[int]:
    """The seeds-per-batch a started run in ``out`` trains with: ``run.json``'s ``seed_batch``;
    for runs from before it was recorded, what ``batches/`` or a checkpoint shows; None when
    nothing has trained yet (any grouping gives the same numbers)."""
    if "seed_batch" in meta:
        return int(meta["seed_batch"])
    first = os.path.join(out, "batches", "batch_0000")
    if os.path.exists(os.path.join(first, "run.json")):
        return len(read_meta(first).get("seeds", [])) or None
    if os.path.exists(os.path.join(out, CHECKPOINT)):
        return len(meta.get("seeds", [])) or None
    return None


def check_resume(out: str, cfg: Config, seeds, seed_batch: Optional[int]) -> Optional[int]:
    """Before anything is written: ``out``'s run has this Config, these seeds and this grouping.

    Args:
      seed_batch: the seeds per batch asked for, or None (take the stored one).
    Returns the stored grouping (None: not yet fixed). Raises ValueError naming each field
    that differs with both values; nothing on disk changes.
    """
    saved, meta = read_config(out), read_meta(out)
    seeds = list(seeds)
    diffs = [f"{f.name}: stored {getattr(saved, f.name)!r}, given {getattr(cfg, f.name)!r}"
             for f in dataclasses.fields(Config)
             if getattr(saved, f.name) != getattr(cfg, f.name)]
    saved_seeds = meta.get("seeds")
    if saved_seeds is not None and saved_seeds != seeds:
        diffs.append(f"seeds: stored {_seed_list(saved_seeds)}, given {_seed_list(seeds)}")
    grouping = stored_grouping(out, meta)
    if not meta.get("complete") and grouping is not None and seed_batch is not None \
            and min(grouping, len(seeds)) != min(int(seed_batch), len(seeds)):
        diffs.append(f"seed_batch: stored {grouping}, given {seed_batch}")
    if diffs:
        raise ValueError(f"cannot resume {out!r}: it holds a run that differs from the one "
                         f"asked for ({'; '.join(diffs)}); nothing was changed. Resume with "
                         "the stored values (omit those options) or train into a new directory")
    return grouping


def _seed_list(seeds) -> str:
    seeds = list(seeds)
    return str(seeds) if len(seeds) <= 8 else f"[{seeds[0]}, ..., {seeds[-1]}] ({len(seeds)})"


def write_config(out: str, cfg: Config, seeds, seed_batch: Optional[int] = None) -> None:
    """Start a run in ``out``: ``config.json``, then ``run.json`` (``complete: false``, the
    seeds and ``seed_batch``, the seeds trained at once), which makes it a run
    (:func:`started`). A started run's files are left as they are."""
    if started(out):
        return
    os.makedirs(out, exist_ok=True)
    meta = {"format_version": FORMAT_VERSION, "complete": False, "n_seeds": len(seeds),
            "seeds": list(seeds)}
    if seed_batch is not None:
        meta["seed_batch"] = int(seed_batch)
    write_json(os.path.join(out, "config.json"), cfg.to_dict())
    write_json(os.path.join(out, "run.json"), meta)


def _flatten(prefix: str, tree) -> dict[str, np.ndarray]:
    leaves = jax.tree_util.tree_leaves(jax.device_get(tree))
    return {f"{prefix}{i:04d}": np.asarray(leaf) for i, leaf in enumerate(leaves)}


def is_complete(out: str) -> bool:
    """Does ``out`` hold a finished run (``run.json`` says ``complete``)? RunError if
    ``run.json`` is corrupt."""
    return started(out) and bool(read_meta(out).get("complete"))


def save_checkpoint(out: str, state, logs: Logs, done: int, params0, engine: str,
                    seeds=None, cfg: Optional[Config] = None) -> None:
    """Write ``out/checkpoint.npz`` atomically: the TrainState (in ``engine``'s packed layout,
    so the engine's name is stored with it), the logs, the epochs done, the initial params,
    and (when given) the seeds and Config it belongs to, so another run's is recognised."""
    arrays = _flatten("state/", state)
    arrays["engine"] = np.asarray(engine)
    arrays.update({f"init/{k}": v for k, v in to_state_dict(params0).items()})
    arrays["done"] = np.asarray(done)
    arrays["n_chunks"] = np.asarray(len(logs.train))
    if seeds is not None:
        arrays["seeds"] = np.asarray(list(seeds), np.int64)
    if cfg is not None:
        arrays["config"] = np.asarray(cfg.to_json())
    for i in range(len(logs.train)):
        arrays[f"log{i:05d}/train"] = logs.train[i]
        arrays[f"log{i:05d}/test"] = logs.test[i]
        arrays[f"log{i:05d}/lr"] = logs.lrs[i]
        for k, v in logs.snaps[i].items():
            arrays[f"log{i:05d}/snap/{k}"] = v
    write_npz(os.path.join(out, CHECKPOINT), arrays)


def load_checkpoint(out: str, cfg: Config, seeds, template_fn, engine: str):
    """Restore ``(state, logs, done, params0)`` or None if there is no checkpoint.

    ``template_fn(params0)`` builds a state of the right structure to unflatten into.
    Raises ``ValueError`` if the directory's Config or seeds differ from the ones given, or if
    the checkpoint was written by another engine (its state is in that engine's layout), and
    :class:`gru_jax.RunError` naming the file if it is damaged (truncated, not an npz) or
    another run's (other seeds, Config or seed count).
    """
    check_resume(out, cfg, seeds, None)
    path = os.path.join(out, CHECKPOINT)
    if not os.path.exists(path):
        return None
    fix = (f"; delete {path} to resume from the start of training (everything after the "
           "last complete file is retrained)")
    try:
        with np.load(path, allow_pickle=False) as handle:
            return _restore(handle, path, cfg, list(seeds), template_fn, engine, fix)
    except (zipfile.BadZipFile, KeyError, TypeError, *DAMAGED_NPY) as err:
        if isinstance(err, RunError) or str(err).startswith("cannot resume"):
            raise
        raise RunError(f"{path} is damaged ({type(err).__name__}: {err}){fix}") from err


def _restore(handle, path, cfg, seeds, template_fn, engine, fix):
    """The body of :func:`load_checkpoint`: every array checked against this run."""
    # checkpoints written before engines were recorded hold the PyTorch layout: the XLA
    # engine's (the native engine packs params into one vector)
    saved_engine = str(handle["engine"]) if "engine" in handle.files else "xla"
    if saved_engine != engine:
        raise ValueError(f"cannot resume {os.path.dirname(path)!r} with the {engine} engine: "
                         f"its checkpoint was written by the {saved_engine} engine; resume "
                         f"with --engine {saved_engine}")
    foreign = lambda what: RunError(f"{path} belongs to another run ({what}){fix}")
    if "seeds" in handle.files and handle["seeds"].tolist() != seeds:
        raise foreign(f"seeds {_seed_list(handle['seeds'].tolist())}")
    if "config" in handle.files and Config.from_json(str(handle["config"])) != cfg:
        raise foreign("another Config")
    init = {k: handle[f"init/{k}"] for k in STATE_DICT_KEYS}
    if init["gru.weight_ih_l0"].shape[:1] != (len(seeds),):
        raise foreign(f"{init['gru.weight_ih_l0'].shape[0]} seeds, this run has {len(seeds)}")
    params0 = from_state_dict(init)
    leaves, treedef = jax.tree_util.tree_flatten(template_fn(params0))
    restored = [handle[f"state/{i:04d}"] for i in range(len(leaves))]
    for i, (new, old) in enumerate(zip(restored, leaves)):
        if new.shape != old.shape or new.dtype != old.dtype:
            raise foreign(f"state leaf {i} is {new.dtype}{new.shape}, this run's is "
                          f"{old.dtype}{old.shape}")
    logs = Logs()
    for i in range(int(handle["n_chunks"])):
        snaps = {k: handle[f"log{i:05d}/snap/{k}"] for k in STATE_DICT_KEYS}
        logs = Logs(logs.train + (handle[f"log{i:05d}/train"],),
                    logs.test + (handle[f"log{i:05d}/test"],),
                    logs.lrs + (handle[f"log{i:05d}/lr"],), logs.snaps + (snaps,))
    done = int(handle["done"])
    logged = sum(t.shape[1] for t in logs.train)
    evals = sum(t.shape[1] for t in logs.test)
    expected_evals = sum(1 for e in cfg.eval_epochs if e < done)
    if not 0 < done <= cfg.epochs or logged != done or evals != expected_evals or any(
            t.shape[0] != len(seeds) for t in logs.train + logs.test + logs.lrs):
        raise foreign(f"{done} epochs done, {logged} logged, {evals} evaluations")
    return jax.tree_util.tree_unflatten(treedef, restored), logs, done, params0


def remove_checkpoint(out: str) -> None:
    path = os.path.join(out, CHECKPOINT)
    if os.path.exists(path):
        os.remove(path)
