"""Chunk checkpoints inside a run directory, and the per-chunk logs they carry.

``DIR/checkpoint.npz`` holds the flattened TrainState, the logs so far, the epochs done and
the initial params; it is replaced atomically after every chunk and removed once the finished
run is written. ``DIR/config.json`` and ``DIR/run.json`` (``complete: false``) are written at
the start so an interrupted directory says what it was.
"""
from __future__ import annotations

import dataclasses
import json
import os

import jax
import numpy as np

from .config import Config
from .files import write_json, write_npz
from .interop import STATE_DICT_KEYS, from_state_dict, to_state_dict
from .run import FORMAT_VERSION

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


def check_out_dir(out: str, resume: bool) -> None:
    """Refuse to write into a directory that holds anything unless resuming our own run."""
    if not os.path.exists(out):
        return
    if not os.path.isdir(out):
        raise FileExistsError(f"output path {out!r} exists and is not a directory")
    entries = os.listdir(out)
    if not entries:
        return
    if not resume:
        raise FileExistsError(f"output directory {out!r} is not empty ({sorted(entries)[:5]}); "
                              "choose a new directory or pass resume to continue a run")
    if "config.json" not in entries:
        raise FileExistsError(f"cannot resume in {out!r}: it holds no gru_jax run (no config.json)")


def write_config(out: str, cfg: Config, seeds) -> None:
    os.makedirs(out, exist_ok=True)
    for name, payload in (("config.json", cfg.to_dict()),
                          ("run.json", {"format_version": FORMAT_VERSION, "complete": False,
                                        "n_seeds": len(seeds), "seeds": list(seeds)})):
        path = os.path.join(out, name)
        if name == "run.json" and os.path.exists(path):
            continue
        write_json(path, payload)


def _flatten(prefix: str, tree) -> dict[str, np.ndarray]:
    leaves = jax.tree_util.tree_leaves(jax.device_get(tree))
    return {f"{prefix}{i:04d}": np.asarray(leaf) for i, leaf in enumerate(leaves)}


def is_complete(out: str) -> bool:
    """Does ``out`` hold a finished run (``run.json`` says ``complete``)?"""
    path = os.path.join(out, "run.json")
    if not os.path.exists(path):
        return False
    with open(path) as handle:
        return bool(json.load(handle).get("complete"))


def save_checkpoint(out: str, state, logs: Logs, done: int, params0, engine: str) -> None:
    """Write ``out/checkpoint.npz`` atomically: the TrainState (in ``engine``'s packed layout,
    so the engine's name is stored with it), the logs, the epochs done, the initial params."""
    arrays = _flatten("state/", state)
    arrays["engine"] = np.asarray(engine)
    arrays.update({f"init/{k}": v for k, v in to_state_dict(params0).items()})
    arrays["done"] = np.asarray(done)
    arrays["n_chunks"] = np.asarray(len(logs.train))
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
    the checkpoint was written by another engine (its state is in that engine's layout).
    """
    with open(os.path.join(out, "config.json")) as handle:
        saved = Config.from_dict(json.load(handle))
    if saved != cfg:
        diff = {f.name: (getattr(saved, f.name), getattr(cfg, f.name))
                for f in dataclasses.fields(Config)
                if getattr(saved, f.name) != getattr(cfg, f.name)}
        raise ValueError(f"cannot resume {out!r}: its Config differs (saved, given): {diff}")
    with open(os.path.join(out, "run.json")) as handle:
        saved_seeds = json.load(handle).get("seeds")
    if saved_seeds != list(seeds):
        raise ValueError(f"cannot resume {out!r}: it trains seeds {saved_seeds[:8]}..., "
                         f"given {list(seeds)[:8]}...")
    path = os.path.join(out, CHECKPOINT)
    if not os.path.exists(path):
        return None
    with np.load(path, allow_pickle=False) as handle:
        # checkpoints written before engines were recorded hold the PyTorch layout: the XLA
        # engine's (the native engine packs params into one vector)
        saved_engine = str(handle["engine"]) if "engine" in handle.files else "xla"
        if saved_engine != engine:
            raise ValueError(f"cannot resume {out!r} with the {engine} engine: its checkpoint "
                             f"was written by the {saved_engine} engine; resume with "
                             f"--engine {saved_engine}")
        params0 = from_state_dict({k: handle[f"init/{k}"] for k in STATE_DICT_KEYS})
        template = template_fn(params0)
        leaves, treedef = jax.tree_util.tree_flatten(template)
        restored = [handle[f"state/{i:04d}"] for i in range(len(leaves))]
        for i, (new, old) in enumerate(zip(restored, leaves)):
            if new.shape != old.shape:
                raise ValueError(f"{path}: state leaf {i} has shape {new.shape}, "
                                 f"expected {old.shape}")
        state = jax.tree_util.tree_unflatten(treedef, restored)
        logs = Logs()
        for i in range(int(handle["n_chunks"])):
            snaps = {k: handle[f"log{i:05d}/snap/{k}"] for k in STATE_DICT_KEYS}
            logs = Logs(logs.train + (handle[f"log{i:05d}/train"],),
                        logs.test + (handle[f"log{i:05d}/test"],),
                        logs.lrs + (handle[f"log{i:05d}/lr"],),
                        logs.snaps + (snaps,))
        done = int(handle["done"])
    return state, logs, done, params0


def remove_checkpoint(out: str) -> None:
    path = os.path.join(out, CHECKPOINT)
    if os.path.exists(path):
        os.remove(path)
