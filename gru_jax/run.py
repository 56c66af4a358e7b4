"""A trained ensemble on disk and in memory: the :class:`Run`.

A run directory (all numpy-readable, no pickles)::

    config.json        the Config (its defaults are the blog's protocol)
    run.json           seeds, epochs done, wall time, format version, completeness
    params.npz         final params, keys = torch state-dict names, arrays (S, ...)
    init_params.npz    initial params, same layout
    snapshots.npz      params after each eval epoch's training, (S, n_eval, ...)
    metrics.npz        seeds (S,), eval_epochs (n_eval,), train_loss (S, epochs) scaled units,
                       test_loss (S, n_eval) original units, lr (S, n_eval), diverged (S,) bool
"""
from __future__ import annotations

import dataclasses
import json
import os
import zipfile
from typing import Any, Optional

import numpy as np

from .config import Config
from .interop import STATE_DICT_KEYS, from_state_dict, to_state_dict
from .model import select_model

FORMAT_VERSION = 1
RUN_FILES = ("config.json", "run.json", "params.npz", "init_params.npz", "snapshots.npz",
             "metrics.npz")
METRIC_KEYS = ("seeds", "eval_epochs", "train_loss", "test_loss", "lr", "diverged")


class RunError(ValueError):
    """A run directory is missing, partial or corrupt."""


@dataclasses.dataclass
class Run:
    """An ensemble's trajectories. The seed axis leads every per-seed array.

    config: the Config. seeds: ``(S,)`` int. eval_epochs: ``(n_eval,)`` int.
    init_params, params: params with ``(S, ...)`` leaves (PyTorch layout).
    snapshots: params with ``(S, n_eval, ...)`` leaves, after each eval epoch's training.
    train_loss: ``(S, epochs)`` scaled units (as the seed's ``train_losses``).
    test_loss: ``(S, n_eval)`` original units. lr: ``(S, n_eval)`` after each plateau step.
    diverged: ``(S,)`` bool. wall_s: training wall time (s). engine: "xla" or "native", the
    implementation that trained it (``gru_jax.train.resolve_engine``; "" if unknown).
    """

    config: Config
    seeds: np.ndarray
    eval_epochs: np.ndarray
    init_params: Any
    params: Any
    snapshots: Any
    train_loss: np.ndarray
    test_loss: np.ndarray
    lr: np.ndarray
    diverged: np.ndarray
    wall_s: float = 0.0
    engine: str = ""

    @classmethod
    def from_training(cls, cfg, seeds, params0, params, diverged, logs, wall_s=0.0,
                      engine="") -> "Run":
        """A Run from the trainer's results: initial and final params ``(S, ...)`` (PyTorch
        layout), ``diverged (S,)`` and the chunk logs (:class:`gru_jax.checkpoint.Logs`)."""
        to_np = lambda tree: from_state_dict(to_state_dict(tree))
        return cls(config=cfg, seeds=np.asarray(seeds, np.int64),
                   eval_epochs=np.asarray(cfg.eval_epochs, np.int64),
                   init_params=to_np(params0), params=to_np(params),
                   snapshots=from_state_dict(logs.snapshots_state_dict()),
                   train_loss=logs.train_loss(), test_loss=logs.test_loss(), lr=logs.lr(),
                   diverged=np.asarray(diverged, bool), wall_s=float(wall_s),
                   engine=engine)

    @classmethod
    def concatenate(cls, runs: list["Run"], wall_s: Optional[float] = None) -> "Run":
        """Join runs of the same Config along the seed axis (e.g. batches of seeds)."""
        first = runs[0]
        for run in runs[1:]:
            if run.config != first.config:
                raise ValueError("Run.concatenate: the runs have different Configs")
        cat = lambda name: np.concatenate([getattr(r, name) for r in runs], axis=0)
        cat_tree = lambda name: {m: {k: np.concatenate([getattr(r, name)[m][k] for r in runs])
                                     for k in sub} for m, sub in getattr(first, name).items()}
        return cls(config=first.config, seeds=cat("seeds"), eval_epochs=first.eval_epochs,
                   init_params=cat_tree("init_params"), params=cat_tree("params"),
                   snapshots=cat_tree("snapshots"), train_loss=cat("train_loss"),
                   test_loss=cat("test_loss"), lr=cat("lr"), diverged=cat("diverged"),
                   wall_s=sum(r.wall_s for r in runs) if wall_s is None else wall_s,
                   engine="+".join(sorted({r.engine for r in runs})))

    @property
    def n_seeds(self) -> int:
        return int(self.seeds.shape[0])

    def index_of(self, seed: int) -> int:
        """Position of ``seed`` in :attr:`seeds`; ValueError naming the seeds if absent."""
        hits = np.flatnonzero(self.seeds == int(seed))
        if not hits.size:
            shown = self.seeds[:10].tolist()
            raise ValueError(f"seed {seed} is not in this run (seeds {shown}"
                             f"{' ...' if self.n_seeds > 10 else ''})")
        return int(hits[0])

    def select(self, indices) -> "Run":
        """A Run with only the seeds at ``indices`` (positions, not seed values)."""
        idx = np.asarray(indices)
        take = lambda tree: {m: {k: v[idx] for k, v in sub.items()} for m, sub in tree.items()}
        return dataclasses.replace(
            self, seeds=self.seeds[idx], init_params=take(self.init_params),
            params=take(self.params), snapshots=take(self.snapshots),
            train_loss=self.train_loss[idx], test_loss=self.test_loss[idx], lr=self.lr[idx],
            diverged=self.diverged[idx])

    def network(self, seed: Optional[int] = None, epoch=None):
        """One network of the run: ``(params, seed, epoch label)``.

        Args:
          seed: a seed value of the run (default: its first seed).
          epoch: an eval epoch (int or its string), ``"init"`` or ``"final"``/None (default).
        """
        index = 0 if seed is None else self.index_of(seed)
        seed = int(self.seeds[index])
        if epoch in (None, "final"):
            return select_model(self.params, index), seed, "final"
        if epoch == "init":
            return select_model(self.init_params, index), seed, "init"
        try:
            value = int(epoch)
        except ValueError as err:
            raise ValueError(f"epoch must be an eval epoch, 'init' or 'final', got "
                             f"{epoch!r}") from err
        eval_list = [int(e) for e in self.eval_epochs]
        if value not in eval_list:
            near = min(eval_list, key=lambda e: abs(e - value))
            raise ValueError(f"epoch {value} is not an eval epoch of this run (snapshots at "
                             f"0, {self.config.eval_every}, ..., {eval_list[-1]}; nearest "
                             f"{near})")
        return select_model(self.snapshots, index, eval_list.index(value)), seed, str(value)

    # ---- disk ---------------------------------------------------------------------------------
    def save(self, path: str, overwrite: bool = False) -> None:
        """Write the run directory (files written to temporaries, then renamed).

        Raises ``FileExistsError`` if ``path`` already holds run files and not ``overwrite``.
        """
        os.makedirs(path, exist_ok=True)
        existing = [f for f in RUN_FILES if os.path.exists(os.path.join(path, f))]
        if existing and not overwrite:
            raise FileExistsError(f"{path} already holds a run ({existing}); refusing to "
                                  "overwrite it")
        _write_json(os.path.join(path, "config.json"), self.config.to_dict())
        _write_npz(os.path.join(path, "params.npz"), to_state_dict(self.params))
        _write_npz(os.path.join(path, "init_params.npz"), to_state_dict(self.init_params))
        _write_npz(os.path.join(path, "snapshots.npz"), to_state_dict(self.snapshots))
        _write_npz(os.path.join(path, "metrics.npz"), {
            "seeds": self.seeds, "eval_epochs": self.eval_epochs, "train_loss": self.train_loss,
            "test_loss": self.test_loss, "lr": self.lr, "diverged": self.diverged})
        _write_json(os.path.join(path, "run.json"), {
            "format_version": FORMAT_VERSION, "complete": True, "n_seeds": self.n_seeds,
            "seeds": self.seeds.tolist(), "epochs": int(self.train_loss.shape[1]),
            "wall_s": self.wall_s, "engine": self.engine})

    @classmethod
    def load(cls, path: str) -> "Run":
        """Read a run directory; :class:`RunError` names what is missing, partial or corrupt."""
        if not os.path.isdir(path):
            raise RunError(f"no run directory at {path!r}")
        missing = [f for f in RUN_FILES if not os.path.exists(os.path.join(path, f))]
        if missing:
            partial = os.path.exists(os.path.join(path, "checkpoint.npz"))
            hint = (" (training was interrupted: resume it with `gru-jax train --resume`)"
                    if partial else "")
            raise RunError(f"{path} is not a complete run: missing {missing}{hint}")
        meta = _read_json(path, "run.json")
        if meta.get("format_version") != FORMAT_VERSION:
            raise RunError(f"{path}/run.json: format_version {meta.get('format_version')!r}, "
                           f"this gru_jax reads {FORMAT_VERSION}")
        try:
            cfg = Config.from_dict(_read_json(path, "config.json"))
        except (TypeError, ValueError) as err:
            raise RunError(f"{path}/config.json is not a valid Config: {err}") from err
        metrics = _read_npz(path, "metrics.npz", METRIC_KEYS)
        params = [from_state_dict(_read_npz(path, f, STATE_DICT_KEYS))
                  for f in ("params.npz", "init_params.npz", "snapshots.npz")]
        run = cls(config=cfg, seeds=metrics["seeds"], eval_epochs=metrics["eval_epochs"],
                  init_params=params[1], params=params[0], snapshots=params[2],
                  train_loss=metrics["train_loss"], test_loss=metrics["test_loss"],
                  lr=metrics["lr"], diverged=metrics["diverged"].astype(bool),
                  wall_s=float(meta.get("wall_s", 0.0)), engine=str(meta.get("engine", "")))
        run._check_shapes(path)
        return run

    def _check_shapes(self, path: str) -> None:
        s, e, n_eval = self.n_seeds, self.config.epochs, len(self.config.eval_epochs)
        expect = {"train_loss": (s, e), "test_loss": (s, n_eval), "lr": (s, n_eval),
                  "diverged": (s,), "eval_epochs": (n_eval,)}
        for name, shape in expect.items():
            if getattr(self, name).shape != shape:
                raise RunError(f"{path}/metrics.npz: {name} has shape "
                               f"{getattr(self, name).shape}, expected {shape}")
        for label, tree, lead in (("params", self.params, (s,)),
                                  ("init_params", self.init_params, (s,)),
                                  ("snapshots", self.snapshots, (s, n_eval))):
            leaf = tree["gru"]["weight_ih_l0"]
            if leaf.shape[: len(lead)] != lead:
                raise RunError(f"{path}/{label}.npz: leading axes {leaf.shape[:len(lead)]}, "
                               f"expected {lead}")


def _write_json(path: str, payload) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w") as handle:
        json.dump(payload, handle, indent=2)
    os.replace(tmp, path)


def _write_npz(path: str, arrays: dict) -> None:
    tmp = path + ".tmp.npz"
    np.savez(tmp, **arrays)
    os.replace(tmp, path)


def _read_json(path: str, name: str):
    try:
        with open(os.path.join(path, name)) as handle:
            return json.load(handle)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise RunError(f"{path}/{name} is corrupt: {err}") from err


def _read_npz(path: str, name: str, keys) -> dict[str, np.ndarray]:
    try:
        with np.load(os.path.join(path, name), allow_pickle=False) as handle:
            missing = [k for k in keys if k not in handle.files]
            if missing:
                raise RunError(f"{path}/{name} lacks arrays {missing}")
            return {k: handle[k] for k in keys}
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as err:
        if isinstance(err, RunError):
            raise
        raise RunError(f"{path}/{name} is corrupt: {err}") from err
