"""A run directory on disk: :class:`RunDir`, the one owner of its files.

Everything that reads or writes a run directory goes through a :class:`RunDir`: starting a
run, the resume comparison (written once, :meth:`RunDir.check_same`), the chunk checkpoint,
the finished run's arrays, the batches of a run trained in groups of seeds. A file that is
missing, not JSON, JSON of the wrong shape or a damaged array raises one :class:`RunError`
naming the file, the key, the value and what is allowed, never a ``KeyError`` or
``TypeError`` from deep inside. The layout (format 2)::

    config.json                       the Config (written first)
    run.json                          format_version, complete, seeds, ... (written last: a
                                      run.json that says complete means the run is whole)
    arrays/<group>/<name>.npy         params, init_params, snapshots: one file per torch
                                      state-dict name; metrics/<key>.npy
    checkpoint.npz                    while training: the last chunk's state (gru_jax.checkpoint)
    batches/batch_<i>/                while training in groups of seeds: one run directory each
    processes/process_<i>/            while a distributed job trains: each process's part

Format 1 (gru_jax 0.1: ``params.npz``, ``init_params.npz``, ``snapshots.npz``,
``metrics.npz``) still reads. What the arrays mean is :class:`gru_jax.Run`'s business; what a
checkpoint holds is :mod:`gru_jax.checkpoint`'s.
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import numbers
import os
import shutil
import tokenize
import zipfile
from typing import Any, Iterator, Optional

import numpy as np

from .config import Config, is_int
from .files import (OptionRequiredError, is_temporary, remove_temporaries, write_json,
                    write_npy, write_npz)
from .interop import STATE_DICT_KEYS
from .lock import LOCK_FILE, run_lock

FORMAT_VERSION = 2
READABLE_FORMATS = (1, 2)
ARRAYS = "arrays"
PARAM_GROUPS = ("params", "init_params", "snapshots")
METRIC_KEYS = ("seeds", "eval_epochs", "train_loss", "test_loss", "lr", "diverged")
#: Format 1's array files (gru_jax 0.1).
V1_ARRAY_FILES = ("params.npz", "init_params.npz", "snapshots.npz", "metrics.npz")
RUN_FILES = ("config.json", "run.json", ARRAYS) + V1_ARRAY_FILES
CHECKPOINT = "checkpoint.npz"
BATCHES = "batches"
#: A distributed job's parts (gru_jax.distributed): one run directory per process.
PROCESSES = "processes"
#: What numpy raises on a damaged ``.npy`` header: besides OSError/ValueError/EOFError, a
#: flipped byte in the header's dict text can fail its parse (SyntaxError, tokenize.TokenError).
DAMAGED_NPY = (OSError, ValueError, EOFError, SyntaxError, tokenize.TokenError)


class RunError(ValueError):
    """A run directory is missing, partial or corrupt."""


def read_json(directory: str, name: str) -> dict:
    """``directory/name`` as a JSON object; RunError if it is missing, not JSON or not an
    object."""
    path = os.path.join(directory, name)
    try:
        with open(path, encoding="utf-8") as handle:
            payload = json.load(handle)
    except FileNotFoundError:
        raise RunError(f"{directory} is not a complete run: missing {name}") from None
    except (json.JSONDecodeError, UnicodeDecodeError, OSError) as err:
        raise RunError(f"{path} is corrupt: {err}") from None
    if not isinstance(payload, dict):
        raise RunError(f"{path} is corrupt: expected a JSON object, got "
                       f"{type(payload).__name__} {_short(payload)}")
    return payload


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


#: run.json's keys: (test, what is allowed); every key is optional except format_version.
_META_KEYS = {
    "format_version": (lambda v: is_int(v) and v in READABLE_FORMATS,
                       f"one of {list(READABLE_FORMATS)}"),
    "complete": (lambda v: isinstance(v, bool), "true or false"),
    "n_seeds": (lambda v: is_int(v) and v >= 1, "an int >= 1"),
    "seeds": (lambda v: isinstance(v, list) and len(v) >= 1
              and all(is_int(s) and 0 <= s < 2**32 for s in v),
              "a non-empty list of ints in [0, 2**32)"),
    "epochs": (lambda v: is_int(v) and v >= 1, "an int >= 1"),
    "loss_every": (lambda v: is_int(v) and v >= 1, "an int >= 1"),
    "seed_batch": (lambda v: is_int(v) and v >= 1, "an int >= 1"),
    "wall_s": (lambda v: isinstance(v, numbers.Real) and not isinstance(v, bool),
               "a number"),
    "engine": (lambda v: isinstance(v, str), "a string"),
    "provenance": (lambda v: isinstance(v, dict), "an object"),
}


def read_meta(directory: str) -> dict[str, Any]:
    """``run.json``, checked key by key (see ``_META_KEYS``); RunError naming the key, its
    value and what is allowed."""
    meta = read_json(directory, "run.json")
    path = os.path.join(directory, "run.json")
    if "format_version" not in meta:
        raise RunError(f"{path} is corrupt: it has no format_version")
    for key, (valid, allowed) in _META_KEYS.items():
        if key in meta and not valid(meta[key]):
            raise RunError(f"{path} is corrupt: {key} is {_short(meta[key])}, expected "
                           f"{allowed}")
    if "seeds" in meta and len(set(meta["seeds"])) != len(meta["seeds"]):
        raise RunError(f"{path} is corrupt: seeds holds duplicates")
    return meta


def read_config(directory: str) -> Config:
    """``config.json`` as a Config; RunError naming the file and the field otherwise."""
    values = read_json(directory, "config.json")
    try:
        return Config.from_dict(values)
    except (TypeError, ValueError) as err:
        raise RunError(f"{os.path.join(directory, 'config.json')} is not a valid Config: "
                       f"{err}") from None


# ---- the resume comparison -----------------------------------------------------------------
def seed_list(seeds) -> str:
    """Seeds for a message: all of up to 8, else ``[first, ..., last] (count)``."""
    seeds = list(seeds)
    return str(seeds) if len(seeds) <= 8 else f"[{seeds[0]}, ..., {seeds[-1]}] ({len(seeds)})"


def differences(stored: Config, given: Config, stored_seeds=None, seeds=None) -> list[str]:
    """``"field: stored X, given Y"`` for each Config field that differs, then the seeds (when
    both are known): what a resume compares, for a run, a sweep or a distributed job."""
    diffs = [f"{f.name}: stored {getattr(stored, f.name)!r}, given {getattr(given, f.name)!r}"
             for f in dataclasses.fields(Config)
             if getattr(stored, f.name) != getattr(given, f.name)]
    if stored_seeds is not None and seeds is not None and list(stored_seeds) != list(seeds):
        diffs.append(f"seeds: stored {seed_list(stored_seeds)}, given {seed_list(seeds)}")
    return diffs


def refuse_resume(path: str, what: str, diffs: list[str]) -> None:
    """Raise the resume refusal naming every difference (nothing when ``diffs`` is empty)."""
    if diffs:
        raise ValueError(f"cannot resume {path!r}: it holds {what} that differs from the one "
                         f"asked for ({'; '.join(diffs)}); nothing was changed. Resume with "
                         "the stored values (omit those options) or train into a new directory")


# ---- the run directory ---------------------------------------------------------------------
class RunDir:
    """A run directory: the only code that opens its files (see the module docstring).

    Cheap to make (``RunDir(path)`` touches nothing); every method reads the disk afresh.
    """

    def __init__(self, path: str):
        self.path = os.fspath(path)

    def __repr__(self) -> str:
        return f"RunDir({self.path!r})"

    def __fspath__(self) -> str:
        return self.path

    def _file(self, name: str) -> str:
        return os.path.join(self.path, name)

    # ---- what it holds ---------------------------------------------------------------------
    def has_config(self) -> bool:
        """Does ``config.json`` exist (a run was begun here, perhaps killed at once)?"""
        return os.path.exists(self._file("config.json"))

    def started(self) -> bool:
        """Has a run started here? Its ``run.json`` exists (written after ``config.json``:
        a directory killed between the two holds no run and may be started again)."""
        return os.path.exists(self._file("run.json"))

    def complete(self) -> bool:
        """Does it hold a finished run (``run.json`` says ``complete``)? RunError if
        ``run.json`` is corrupt."""
        return self.started() and bool(self.meta().get("complete"))

    def config(self) -> Config:
        return read_config(self.path)

    def meta(self) -> dict[str, Any]:
        return read_meta(self.path)

    def epochs_done(self) -> int:
        """Epochs trained here: all when complete, the checkpoint's, else 0 (also for a
        damaged checkpoint: resuming names it)."""
        if not self.started():
            return 0
        if self.complete():
            return self.config().epochs
        try:
            with np.load(self._file(CHECKPOINT), allow_pickle=False) as handle:
                return int(handle["done"])
        except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile):
            return 0

    def batched(self) -> bool:
        """Did this run start training in consecutive batches of seeds (``batches/``)?"""
        return os.path.isdir(self._file(BATCHES))

    def batch(self, index: int) -> "RunDir":
        """Batch ``index``'s run directory (``batches/batch_<i>``)."""
        return RunDir(os.path.join(self.path, BATCHES, f"batch_{index:04d}"))

    def part(self, process_id: int) -> "RunDir":
        """A distributed job's part of process ``process_id`` (``processes/process_<i>``)."""
        return RunDir(os.path.join(self.path, PROCESSES, f"process_{process_id:03d}"))

    def clear_training(self) -> None:
        """Once the finished run is written here (:meth:`write_run`, through
        :meth:`gru_jax.Run.save`): drop what training left, the checkpoint, the batches and a
        distributed job's parts."""
        self.remove_checkpoint()
        for name in (BATCHES, PROCESSES):
            shutil.rmtree(self._file(name), ignore_errors=True)

    @contextlib.contextmanager
    def lock(self) -> Iterator["RunDir"]:
        """Hold the directory's writer lock (:func:`gru_jax.lock.run_lock`) for the block."""
        with run_lock(self.path):
            yield self

    # ---- starting and resuming -------------------------------------------------------------
    def check_writable(self, resume: bool) -> None:
        """Refuse to write into a directory that holds anything unless resuming our own run.

        Call it holding the lock: it removes the temporaries a killed writer left.
        ``config.json`` alone (killed before ``run.json``) counts as empty.
        """
        if not os.path.exists(self.path):
            return
        if not os.path.isdir(self.path):
            raise FileExistsError(f"output path {self.path!r} exists and is not a directory")
        remove_temporaries(self.path)
        entries = sorted(e for e in os.listdir(self.path)
                         if e != LOCK_FILE and not is_temporary(e))
        if not entries or entries == ["config.json"]:
            return
        if not resume:
            raise OptionRequiredError(f"output directory {self.path!r} is not empty "
                                      f"({entries[:5]}); choose a new directory or {{option}} "
                                      "to continue a run", "resume")
        if "config.json" not in entries:
            raise FileExistsError(f"cannot resume in {self.path!r}: it holds no gru_jax run "
                                  "(no config.json)")

    def stored_grouping(self, meta: Optional[dict] = None) -> Optional[int]:
        """The seeds per batch a started run trains with: ``run.json``'s ``seed_batch``; for
        runs from before it was recorded, what ``batches/`` or a checkpoint shows; None when
        nothing has trained yet (any grouping gives the same numbers)."""
        meta = self.meta() if meta is None else meta
        if "seed_batch" in meta:
            return int(meta["seed_batch"])
        first = self.batch(0)
        if first.started():
            return len(first.meta().get("seeds", [])) or None
        if os.path.exists(self._file(CHECKPOINT)):
            return len(meta.get("seeds", [])) or None
        return None

    def check_same(self, cfg: Config, seeds, seed_batch: Optional[int] = None) -> Optional[int]:
        """THE resume comparison: the run here has this Config, these seeds and (unless it is
        complete) this grouping of seeds. Reads nothing but ``config.json`` and (when it
        exists) ``run.json``; changes nothing.

        Args:
          seed_batch: the seeds per batch asked for, or None (take the stored one).
        Returns the stored grouping (None: not yet fixed). Raises ValueError naming each field
        that differs with both values.
        """
        seeds = list(seeds)
        meta = self.meta() if self.started() else {}
        diffs = differences(self.config(), cfg, meta.get("seeds"), seeds)
        grouping = self.stored_grouping(meta) if meta else None
        if not meta.get("complete") and grouping is not None and seed_batch is not None \
                and min(grouping, len(seeds)) != min(int(seed_batch), len(seeds)):
            diffs.append(f"seed_batch: stored {grouping}, given {seed_batch}")
        refuse_resume(self.path, "a run", diffs)
        return grouping

    def open(self, cfg: Config, seeds, resume: bool,
             seed_batch: Optional[int] = None) -> Optional[int]:
        """Before a run is (re)started here, holding the lock: refuse a directory that holds
        anything unless ``resume``; on resume, :meth:`check_same`. Returns the stored
        grouping of seeds (None: nothing stored)."""
        self.check_writable(resume)
        if resume and self.started():
            return self.check_same(cfg, seeds, seed_batch)
        return None

    def start(self, cfg: Config, seeds, seed_batch: Optional[int] = None) -> None:
        """Start a run here: ``config.json``, then ``run.json`` (``complete: false``, the seeds
        and ``seed_batch``, the seeds trained at once), which makes it a run
        (:meth:`started`). A started run's files are left as they are."""
        if self.started():
            return
        os.makedirs(self.path, exist_ok=True)
        meta = {"format_version": FORMAT_VERSION, "complete": False, "n_seeds": len(seeds),
                "seeds": list(seeds)}
        if seed_batch is not None:
            meta["seed_batch"] = int(seed_batch)
        write_json(self._file("config.json"), cfg.to_dict())
        write_json(self._file("run.json"), meta)

    # ---- the checkpoint (its contents: gru_jax.checkpoint) ---------------------------------
    def write_checkpoint(self, arrays: dict[str, np.ndarray]) -> None:
        """Replace ``checkpoint.npz`` atomically with ``arrays``."""
        write_npz(self._file(CHECKPOINT), arrays)

    def checkpoint_error(self, what: str) -> RunError:
        """A RunError naming the checkpoint, ``what`` is wrong, and the way out."""
        path = self._file(CHECKPOINT)
        return RunError(f"{path} {what}; delete {path} to resume from the start of training "
                        "(everything after the last complete file is retrained)")

    def read_checkpoint(self, cfg: Config, seeds) -> Optional[dict[str, np.ndarray]]:
        """The checkpoint's arrays, or None if there is none, after :meth:`check_same` (the
        directory's Config and seeds are these) and checking that the checkpoint records
        them too. RunError naming the file if it is damaged or another run's."""
        self.check_same(cfg, seeds)
        path = self._file(CHECKPOINT)
        if not os.path.exists(path):
            return None
        try:
            with np.load(path, allow_pickle=False) as handle:
                arrays = {name: handle[name] for name in handle.files}
        except (zipfile.BadZipFile, *DAMAGED_NPY) as err:
            raise self.checkpoint_error(f"is damaged ({type(err).__name__}: {err})") from err
        if "seeds" in arrays and arrays["seeds"].tolist() != list(seeds):
            raise self.checkpoint_error(f"belongs to another run (seeds "
                                        f"{seed_list(arrays['seeds'].tolist())})")
        if "config" in arrays and Config.from_json(str(arrays["config"])) != cfg:
            raise self.checkpoint_error("belongs to another run (another Config)")
        return arrays

    def remove_checkpoint(self) -> None:
        if os.path.exists(self._file(CHECKPOINT)):
            os.remove(self._file(CHECKPOINT))

    # ---- the finished run's files (what they mean: gru_jax.run.Run) ------------------------
    def write_run(self, config: Config, groups: dict[str, dict[str, np.ndarray]],
                  metrics: dict[str, np.ndarray], meta: dict, overwrite: bool = False) -> None:
        """Write a finished run in format 2, every file atomic, ``run.json`` (``meta`` with
        ``format_version`` and ``complete: true``) last.

        Args:
          groups: ``{group: state dict}`` for :data:`PARAM_GROUPS`. metrics: ``{key: array}``.
          overwrite: replace a run already here (its format-1 ``.npz`` files are removed);
            else ``FileExistsError`` if run files are here.
        """
        existing = [f for f in RUN_FILES if os.path.exists(self._file(f))]
        if existing and not overwrite:
            raise OptionRequiredError(f"{self.path} already holds a run ({existing}); refusing "
                                      "to overwrite it ({option} to replace it)", "overwrite")
        for group, state_dict in groups.items():
            for name, value in state_dict.items():
                write_npy(os.path.join(self.path, ARRAYS, group, name + ".npy"), value)
        for name, value in metrics.items():
            write_npy(os.path.join(self.path, ARRAYS, "metrics", name + ".npy"), value)
        write_json(self._file("config.json"), config.to_dict())
        write_json(self._file("run.json"),
                   {"format_version": FORMAT_VERSION, "complete": True, **meta})
        for stale in V1_ARRAY_FILES:
            if os.path.exists(self._file(stale)):
                os.remove(self._file(stale))

    def read_run(self):
        """A finished run's files: ``(config, meta, metrics, groups)``; format 2's arrays
        memory-mapped read-only, format 1's read into memory; ``groups`` are ``{group: state
        dict}``. RunError naming the file that is missing, partial or corrupt."""
        if not os.path.isdir(self.path):
            raise RunError(f"no run directory at {self.path!r}")
        hint = (" (training was interrupted: resume it with `gru-jax train --resume`)"
                if os.path.exists(self._file(CHECKPOINT)) else "")
        missing = [f for f in ("config.json", "run.json") if not os.path.exists(self._file(f))]
        if missing:
            raise RunError(f"{self.path} is not a complete run: missing {missing}{hint}")
        meta = self.meta()
        version = meta["format_version"]
        if not meta.get("complete", version == 1):
            raise RunError(f"{self.path} is not a complete run: run.json says "
                           f"complete=false{hint}")
        config = self.config()
        if version == 1:
            metrics, groups = self._read_v1(hint)
        else:
            metrics, groups = self._read_v2(hint)
        return config, meta, metrics, groups

    def _read_v2(self, hint: str):
        """Format 2: every array memory-mapped. Returns (metrics, {group: state dict})."""
        read = lambda group, name: self._read_npy(os.path.join(ARRAYS, group, name + ".npy"),
                                                  hint)
        metrics = {k: read("metrics", k) for k in METRIC_KEYS + ("loss_epochs",)}
        groups = {g: {k: read(g, k) for k in STATE_DICT_KEYS} for g in PARAM_GROUPS}
        return metrics, groups

    def _read_v1(self, hint: str):
        """Format 1 (gru_jax 0.1): four ``.npz`` files, read into memory."""
        missing = [f for f in V1_ARRAY_FILES if not os.path.exists(self._file(f))]
        if missing:
            raise RunError(f"{self.path} is not a complete run: missing {missing}{hint}")
        metrics = self._read_npz("metrics.npz", METRIC_KEYS)
        groups = {g: self._read_npz(g + ".npz", STATE_DICT_KEYS) for g in PARAM_GROUPS}
        return metrics, groups

    def _read_npy(self, name: str, hint: str = "") -> np.ndarray:
        """``name`` memory-mapped, read-only."""
        full = self._file(name)
        if not os.path.exists(full):
            raise RunError(f"{self.path} is not a complete run: missing {name}{hint}")
        try:
            return np.load(full, mmap_mode="r", allow_pickle=False)
        except DAMAGED_NPY as err:
            raise RunError(f"{self.path}/{name} is corrupt: {err}") from err

    def _read_npz(self, name: str, keys) -> dict[str, np.ndarray]:
        try:
            with np.load(self._file(name), allow_pickle=False) as handle:
                missing = [k for k in keys if k not in handle.files]
                if missing:
                    raise RunError(f"{self.path}/{name} lacks arrays {missing}")
                return {k: handle[k] for k in keys}
        except (zipfile.BadZipFile, *DAMAGED_NPY) as err:
            if isinstance(err, RunError):
                raise
            raise RunError(f"{self.path}/{name} is corrupt: {err}") from err
