"""A trained ensemble in memory: the :class:`Run`, and what its files on disk mean.

Its run directory (:class:`gru_jax.rundir.RunDir` opens the files; :meth:`Run.save` and
:meth:`Run.load` ask it), format 2 (numpy alone reads it, no pickles)::

    config.json                       the Config (its defaults are the blog's protocol)
    run.json                          format_version 2, complete, seeds, epochs, loss_every,
                                      wall time, engine, provenance (versions, host, command,
                                      git commit, start and end time)
    arrays/params/<name>.npy          final params, one file per torch state-dict name
                                      (gru.weight_ih_l0, ..., linear.bias), (S, ...)
    arrays/init_params/<name>.npy     initial params, same layout
    arrays/snapshots/<name>.npy       params after each eval epoch's training, (S, n_eval, ...)
    arrays/metrics/seeds.npy          (S,) int64
    arrays/metrics/eval_epochs.npy    (n_eval,) int64
    arrays/metrics/train_loss.npy     (S, n_loss) float32, scaled units, at loss_epochs
    arrays/metrics/loss_epochs.npy    (n_loss,) int64: every epoch, or every k-th + the last
    arrays/metrics/test_loss.npy      (S, n_eval) float32, original units
    arrays/metrics/lr.npy             (S, n_eval) float32
    arrays/metrics/diverged.npy       (S,) bool

:meth:`Run.load` maps every ``.npy`` with ``np.load(mmap_mode="r")``: nothing is read until it
is used, so a summary of a huge run touches only the columns it needs. Format 1 (the same
arrays in ``params.npz``, ``init_params.npz``, ``snapshots.npz``, ``metrics.npz``; gru_jax
0.1) still loads (eagerly). Every file is written through :func:`gru_jax.files.write_atomic`;
``run.json`` is written last, so a directory whose ``run.json`` says ``complete`` is whole.
"""
from __future__ import annotations

import dataclasses
import datetime
from typing import Any, Optional

import numpy as np

from . import bridges  # a lazy package: xarray loads with to_xarray / from_xarray
from .config import Config
from .interop import from_state_dict, to_state_dict
from .model import nest_params, select_model
from .rundir import FORMAT_VERSION, PARAM_GROUPS, READABLE_FORMATS, RunDir, RunError

__all__ = ["FORMAT_VERSION", "READABLE_FORMATS", "Run", "RunError", "loss_epochs_kept",
           "summary_table"]


def loss_epochs_kept(epochs: int, loss_every: int) -> np.ndarray:
    """Epochs whose training loss a run keeps: ``0, k, 2k, ...`` and always the last epoch.

    ``loss_every = 1`` keeps every epoch. Returns ``(n_loss,)`` int64, increasing.
    """
    if int(loss_every) < 1:
        raise ValueError(f"loss_every must be >= 1, got {loss_every!r}")
    kept = np.arange(0, int(epochs), int(loss_every), dtype=np.int64)
    if kept[-1] != epochs - 1:
        kept = np.append(kept, np.int64(epochs - 1))
    return kept


@dataclasses.dataclass
class Run:
    """An ensemble's trajectories. The seed axis leads every per-seed array.

    config: the Config. seeds: ``(S,)`` int. eval_epochs: ``(n_eval,)`` int.
    init_params, params: params with ``(S, ...)`` leaves (PyTorch layout).
    snapshots: params with ``(S, n_eval, ...)`` leaves, after each eval epoch's training.
    train_loss: ``(S, n_loss)`` scaled units (as the seed's ``train_losses``) at the epochs
    :attr:`loss_epochs`: every epoch (``n_loss = epochs``) unless ``loss_every > 1``.
    test_loss: ``(S, n_eval)`` original units. lr: ``(S, n_eval)`` after each plateau step.
    diverged: ``(S,)`` bool. wall_s: training wall time (s). engine: "xla" or "native", the
    implementation that trained it (``gru_jax.train.resolve_engine``; "" if unknown).
    loss_every: the training loss is kept every ``loss_every`` epochs (plus the last).
    provenance: where and how the run was made (:func:`gru_jax.provenance.collect`; ``{}`` if
    unrecorded); :meth:`save` adds ``end_time``.
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
    loss_every: int = 1
    provenance: dict = dataclasses.field(default_factory=dict)

    @classmethod
    def from_training(cls, cfg, seeds, params0, params, diverged, *, train_loss, test_loss, lr,
                      snapshots, wall_s=0.0, engine="",
                      provenance: Optional[dict] = None) -> "Run":
        """A Run from the trainer's results: initial and final params ``(S, ...)`` (PyTorch
        layout), ``diverged (S,)``, the trajectories (``train_loss (S, epochs)``, ``test_loss``
        and ``lr`` ``(S, n_eval)``, ``snapshots`` a state dict of ``(S, n_eval, ...)``: what
        :meth:`gru_jax.checkpoint.Logs.trajectories` gives) and the provenance
        (:func:`gru_jax.provenance.collect`)."""
        to_np = lambda tree: from_state_dict(to_state_dict(tree))
        return cls(config=cfg, seeds=np.asarray(seeds, np.int64),
                   eval_epochs=np.asarray(cfg.eval_epochs, np.int64),
                   init_params=to_np(params0), params=to_np(params),
                   snapshots=from_state_dict(snapshots), train_loss=train_loss,
                   test_loss=test_loss, lr=lr, diverged=np.asarray(diverged, bool),
                   wall_s=float(wall_s), engine=engine, provenance=dict(provenance or {}))

    @classmethod
    def concatenate(cls, runs: list["Run"], wall_s: Optional[float] = None,
                    provenance: Optional[dict] = None) -> "Run":
        """Join runs of the same Config along the seed axis (e.g. batches of seeds).

        ``provenance`` defaults to the first run's.
        """
        first = runs[0]
        for run in runs[1:]:
            if run.config != first.config:
                raise ValueError("Run.concatenate: the runs have different Configs")
            if run.loss_every != first.loss_every:
                raise ValueError(f"Run.concatenate: the runs keep the training loss every "
                                 f"{first.loss_every} and {run.loss_every} epochs (loss_every)")
        cat = lambda name: np.concatenate([getattr(r, name) for r in runs], axis=0)
        cat_tree = lambda name: {m: {k: np.concatenate([getattr(r, name)[m][k] for r in runs])
                                     for k in sub} for m, sub in getattr(first, name).items()}
        return cls(config=first.config, seeds=cat("seeds"), eval_epochs=first.eval_epochs,
                   init_params=cat_tree("init_params"), params=cat_tree("params"),
                   snapshots=cat_tree("snapshots"), train_loss=cat("train_loss"),
                   test_loss=cat("test_loss"), lr=cat("lr"), diverged=cat("diverged"),
                   wall_s=sum(r.wall_s for r in runs) if wall_s is None else wall_s,
                   engine="+".join(sorted({r.engine for r in runs})),
                   loss_every=first.loss_every,
                   provenance=dict(first.provenance if provenance is None else provenance))

    @property
    def n_seeds(self) -> int:
        return int(self.seeds.shape[0])

    @property
    def loss_epochs(self) -> np.ndarray:
        """``(n_loss,)`` int64: the epoch of each column of :attr:`train_loss`."""
        return loss_epochs_kept(self.config.epochs, self.loss_every)

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

    def thin_losses(self, loss_every: int) -> "Run":
        """A Run keeping the training loss only at :func:`loss_epochs_kept` ``(epochs,
        loss_every)``. ValueError if this run no longer holds those epochs (e.g. it keeps every
        4th epoch and ``loss_every`` is 6: ask for a multiple of :attr:`loss_every`)."""
        if int(loss_every) == self.loss_every:
            return self
        wanted = loss_epochs_kept(self.config.epochs, loss_every)
        have = self.loss_epochs
        position = np.minimum(np.searchsorted(have, wanted), len(have) - 1)
        if not np.array_equal(have[position], wanted):
            raise ValueError(f"loss_every={loss_every}: this run keeps the training loss every "
                             f"{self.loss_every} epochs; choose a multiple of {self.loss_every}")
        return dataclasses.replace(self, train_loss=self.train_loss[:, position],
                                   loss_every=int(loss_every))

    # ---- other libraries ------------------------------------------------------------------------
    def to_xarray(self):
        """The run as an ``xarray.Dataset`` with dims ``seed, epoch, eval_epoch, parameter``
        (:mod:`gru_jax.bridges.xarray_run`; needs the ``xarray`` extra). Every number
        round-trips through :meth:`from_xarray`."""
        return bridges.xarray_run.to_dataset(self)

    @classmethod
    def from_xarray(cls, dataset) -> "Run":
        """The Run of :meth:`to_xarray`'s Dataset (also one read back from netCDF)."""
        return cls(**bridges.xarray_run.run_fields(dataset))

    # ---- disk ---------------------------------------------------------------------------------
    def save(self, path: str, overwrite: bool = False, loss_every: Optional[int] = None) -> None:
        """Write the run directory in format 2 (see the module docstring), every file atomic.

        Args:
          path: the run directory (created if missing).
          overwrite: replace a run already there (its format-1 ``.npz`` files are removed).
          loss_every: keep the training loss every ``loss_every`` epochs and the last
            (:meth:`thin_losses`); ``None``: as this run holds it (every epoch for a trained
            run). Recorded in ``run.json``.

        Raises ``FileExistsError`` if ``path`` already holds run files and not ``overwrite``.
        """
        run = self if loss_every is None else self.thin_losses(loss_every)
        provenance = dict(run.provenance)
        provenance.setdefault("end_time", utc_now())
        RunDir(path).write_run(
            run.config, {group: to_state_dict(getattr(run, group)) for group in PARAM_GROUPS},
            {"seeds": np.asarray(run.seeds, np.int64),
             "eval_epochs": np.asarray(run.eval_epochs, np.int64),
             "train_loss": run.train_loss, "loss_epochs": run.loss_epochs,
             "test_loss": run.test_loss, "lr": run.lr, "diverged": np.asarray(run.diverged, bool)},
            {"n_seeds": run.n_seeds, "seeds": np.asarray(run.seeds).tolist(),
             "epochs": run.config.epochs, "loss_every": run.loss_every, "wall_s": run.wall_s,
             "engine": run.engine, "provenance": provenance}, overwrite=overwrite)

    @classmethod
    def load(cls, path: str) -> "Run":
        """Read a run directory (format 1 or 2; format 2's arrays memory-mapped, read-only).

        Raises :class:`RunError` naming the file that is missing, partial or corrupt.
        """
        cfg, meta, metrics, groups = RunDir(path).read_run()
        groups = {group: nest_params(state_dict) for group, state_dict in groups.items()}
        run = cls(config=cfg, seeds=metrics["seeds"], eval_epochs=metrics["eval_epochs"],
                  init_params=groups["init_params"], params=groups["params"],
                  snapshots=groups["snapshots"], train_loss=metrics["train_loss"],
                  test_loss=metrics["test_loss"], lr=metrics["lr"],
                  diverged=metrics["diverged"].astype(bool, copy=False),
                  wall_s=float(meta.get("wall_s", 0.0)), engine=str(meta.get("engine", "")),
                  loss_every=int(meta.get("loss_every", 1)),
                  provenance=dict(meta.get("provenance", {})))
        run._check_shapes(path, metrics.get("loss_epochs"))
        return run

    def _check_shapes(self, path: str, loss_epochs=None) -> None:
        s, n_eval = self.n_seeds, len(self.config.eval_epochs)
        if loss_epochs is not None and not np.array_equal(loss_epochs, self.loss_epochs):
            raise RunError(f"{path}: metrics loss_epochs {np.asarray(loss_epochs)[:5]}... do not "
                           f"match epochs {self.config.epochs} kept every {self.loss_every}")
        expect = {"train_loss": (s, len(self.loss_epochs)), "test_loss": (s, n_eval),
                  "lr": (s, n_eval), "diverged": (s,), "eval_epochs": (n_eval,)}
        for name, shape in expect.items():
            if getattr(self, name).shape != shape:
                raise RunError(f"{path}: metrics {name} has shape "
                               f"{getattr(self, name).shape}, expected {shape}")
        for label, tree, lead in (("params", self.params, (s,)),
                                  ("init_params", self.init_params, (s,)),
                                  ("snapshots", self.snapshots, (s, n_eval))):
            leaf = tree["gru"]["weight_ih_l0"]
            if leaf.shape[: len(lead)] != lead:
                raise RunError(f"{path}: {label} has leading axes {leaf.shape[:len(lead)]}, "
                               f"expected {lead}")


def utc_now() -> str:
    """The current time, ISO 8601 in UTC to the second (``2025-01-31T12:00:00+00:00``)."""
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def summary_table(run: Run) -> str:
    """A plain-text summary: seeds, epochs, diverged count, final-loss quantiles.

    Both loss rows are in ORIGINAL units (the squared error of the sum): the training loss,
    stored scaled (of ``value / high``), is multiplied by ``high**2``. Reads only the last
    column of ``train_loss`` and ``test_loss`` (cheap on a mapped run).
    """
    qs = (0.0, 0.1, 0.5, 0.9, 1.0)
    high = float(run.config.high)
    kept = "" if run.loss_every == 1 else f"; train loss kept every {run.loss_every}"
    lines = [f"seeds      {run.n_seeds} ({_seed_span(run.seeds)})",
             f"epochs     {run.config.epochs} (eval every {run.config.eval_every}: "
             f"{len(run.eval_epochs)} snapshots{kept})",
             f"diverged   {int(np.count_nonzero(run.diverged))}",
             f"wall       {run.wall_s:.1f} s ({run.engine or 'unrecorded'} engine)",
             "",
             f"{'quantile':>10} " + " ".join(f"{q:>10.0%}" for q in qs)]
    rows = (("train", np.asarray(run.train_loss[:, -1], np.float64) * high**2),
            ("test", np.asarray(run.test_loss[:, -1], np.float64)))
    for label, values in rows:
        finite = values[np.isfinite(values)]
        cells = ([f"{v:>10.4g}" for v in np.quantile(finite, qs)] if finite.size
                 else [f"{'nan':>10}"] * len(qs))
        lines.append(f"{label:>10} " + " ".join(cells))
    lines.append(f"(MSE of the sum in original units: the final training loss and the last test "
                 f"loss; predict-the-mean ~{PREDICT_MEAN_SCALED * high**2:.4g} at 2 flags)")
    return "\n".join(lines)


#: The predict-the-mean loss in scaled units at two flags: the variance of the sum of two
#: values uniform on [0, 1), 2 / 12.
PREDICT_MEAN_SCALED = 2 / 12


def _seed_span(seeds) -> str:
    seeds = np.asarray(seeds)
    if seeds.size and np.array_equal(seeds, np.arange(seeds[0], seeds[0] + seeds.size)):
        return f"{seeds[0]}..{seeds[-1]}"
    return ", ".join(map(str, seeds[:6].tolist())) + (" ..." if seeds.size > 6 else "")
