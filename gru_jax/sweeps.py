"""Sweeps: the cross product of a grid of Config values, each cell an ensemble of the same seeds.

``sweep(cfg, grid, seeds, out)`` expands the grid (:mod:`gru_jax.grid`; every cell's Config is
validated before anything trains), groups the cells that differ only in per-member fields
(learning rate, weight decay, clip, Adam's constants, the plateau schedule, min_lr) into ONE
compiled program each (:func:`gru_jax.train.train_cells`: those fields become arrays with the
member axis), and runs the programs, whose shapes differ, one after another. A member's
numbers do not depend on which cell or program it trained in.

On disk (``out``)::

    sweep.json              base Config, grid, seeds, and each cell's overrides and directory
    cell_000/ ...           one ordinary run directory per cell (gj.Run.load reads it)
    summary.csv, summary.md, phase_diagram.png   (gru_jax.reports.sweep)

A killed sweep resumes cell by cell (``resume=True``; CLI ``gru-jax sweep --resume``): a
complete cell is loaded, not retrained, and a partial one continues from its checkpoint, with
the numbers of an uninterrupted sweep.
"""
from __future__ import annotations

import contextlib
import dataclasses
import os
from typing import Callable, Optional

import numpy as np

from . import checkpoint as ckpt
from . import grid as grids
from .config import Config
from .engines import resolve_engine
from .files import OptionRequiredError, write_json
from .inputs import check_count, check_seeds
from .lock import run_lock
from .optim import program_config
from .progress import progress_bar
from .provenance import collect
from .reports.sweep import write_summary
from .run import Run
from .rundir import RunError, read_json
from .train import auto_seed_batch, check_fits, default_chunk_epochs, train, train_cells

SWEEP_FILE = "sweep.json"
SWEEP_FORMAT = 1


@dataclasses.dataclass
class Sweep:
    """A trained sweep.

    base: the Config the grid varies. grid: ``{key: values or {label: overrides}}``.
    seeds: the seeds of every cell. cells: per cell, ``{key: value or label}`` in grid order
    (the last key varies fastest). configs: per cell, its Config. runs: per cell, its
    :class:`gru_jax.Run`. out: the sweep directory (None if not saved).
    """

    base: Config
    grid: dict
    seeds: list
    cells: list
    configs: list
    runs: list
    out: Optional[str] = None

    def cell_dir(self, index: int) -> Optional[str]:
        return None if self.out is None else os.path.join(self.out, cell_name(index))

    @classmethod
    def load(cls, out: str) -> "Sweep":
        """A complete sweep directory (every cell's run complete)."""
        base, grid, seeds = read_sweep(out)
        cells, configs = grids.expand(base, grid)
        runs = [Run.load(os.path.join(out, cell_name(i))) for i in range(len(cells))]
        return cls(base, grid, seeds, cells, configs, runs, out)


def cell_name(index: int) -> str:
    return f"cell_{index:03d}"


def read_sweep(out: str) -> tuple[Config, dict, list]:
    """``(base Config, grid, seeds)`` from ``out/sweep.json``; RunError naming the file."""
    payload = read_json(out, SWEEP_FILE)
    try:
        return Config.from_dict(payload["base"]), payload["grid"], list(payload["seeds"])
    except (KeyError, TypeError, ValueError) as err:
        raise RunError(f"{os.path.join(out, SWEEP_FILE)} is corrupt: {err}") from None


def sweep(cfg: Config, grid, seeds=range(8), out: Optional[str] = None, *, resume: bool = False,
          progress=True, engine: str = "auto", chunk_epochs: Optional[int] = None,
          seed_batch: Optional[int] = None, loss_every: int = 1, summary: bool = True,
          census: bool = False, on_cell: Optional[Callable[[int, Run], None]] = None,
          provenance: Optional[dict] = None) -> Sweep:
    """Train every cell of ``grid`` over ``cfg`` on ``seeds``; returns a :class:`Sweep`.

    Args:
      cfg: the base :class:`gru_jax.Config`.
      grid: ``{field: [values]}`` and/or named axes ``{name: {label: {field: value}}}``
        (:mod:`gru_jax.grid`); cells in grid order, the last key varying fastest.
      seeds: the seeds of every cell (distinct ints).
      out: the sweep directory (one run directory per cell, ``sweep.json``, the summary).
        Must be new or empty unless ``resume``.
      resume: continue the sweep in ``out``: its base Config, grid and seeds must be these
        (a difference raises ValueError naming it; nothing is written).
      progress: a bar over the whole sweep (cells, seed-epochs, ETA), False for none, or a
        callable ``advance(seed_epochs)``.
      engine, chunk_epochs, loss_every: as for :func:`gru_jax.train`.
      seed_batch: most members (cells x seeds) trained at once (default: what fits half the
        device memory, :func:`gru_jax.train.auto_seed_batch`); cells that share a program are
        packed up to it, a cell with more seeds trains alone in batches of seeds.
      summary: with ``out``, write the summary table and the phase diagram when done.
      census: add the discovered census (strategy fractions) to the summary (slow).
      on_cell: called with ``(cell index, Run)`` as each cell finishes (or is found complete).
    """
    seeds = check_seeds(seeds)
    seed_batch = check_count("seed_batch", seed_batch, allow_none=True)
    loss_every = check_count("loss_every", loss_every)
    cells, configs = grids.expand(cfg, grid)
    grid = grids.check_grid(grid)
    for cell, cell_cfg in zip(cells, configs):
        try:
            check_fits(cell_cfg, len(seeds))
            resolve_engine(cell_cfg, engine)
        except ValueError as err:
            raise ValueError(f"sweep: cell {grids.describe(cell)}: {err}") from None
    provenance = collect() if provenance is None else provenance
    result = Sweep(cfg, grid, seeds, cells, configs, [None] * len(cells), out)
    options = dict(engine=engine, chunk_epochs=chunk_epochs, seed_batch=seed_batch,
                   loss_every=loss_every, provenance=provenance, on_cell=on_cell)
    if out is None:
        _train_all(result, progress, **options)
        return result
    with run_lock(out):
        _start(out, cfg, grid, seeds, cells, resume)
        _train_all(result, progress, **options)
        if summary:
            write_summary(out, result.cells, result.configs, result.runs, census=census,
                          command=provenance.get("command", ""))
    return result


def _start(out: str, cfg: Config, grid: dict, seeds: list, cells: list, resume: bool) -> None:
    """Refuse a directory that holds something else; check a resumed sweep; write
    ``sweep.json``."""
    path = os.path.join(out, SWEEP_FILE)
    if os.path.exists(path):
        if not resume:
            raise OptionRequiredError(f"sweep directory {out!r} already holds a sweep; "
                                      "{option} to continue it, or choose a new directory",
                                      "resume")
        base, stored_grid, stored_seeds = read_sweep(out)
        diffs = [f"{f.name}: stored {getattr(base, f.name)!r}, given {getattr(cfg, f.name)!r}"
                 for f in dataclasses.fields(Config)
                 if getattr(base, f.name) != getattr(cfg, f.name)]
        if stored_grid != grids.to_json(grid):
            diffs.append(f"grid: stored {stored_grid}, given {grids.to_json(grid)}")
        if stored_seeds != seeds:
            diffs.append(f"seeds: stored {len(stored_seeds)} seeds, given {len(seeds)}")
        if diffs:
            raise ValueError(f"cannot resume the sweep {out!r}: it differs from the one asked "
                             f"for ({'; '.join(diffs)}); nothing was changed")
        return
    entries = [e for e in os.listdir(out) if not e.startswith(".")]
    if entries:
        raise FileExistsError(f"sweep directory {out!r} is not empty ({sorted(entries)[:5]}) "
                              "and holds no sweep; choose a new directory")
    write_json(path, {"format_version": SWEEP_FORMAT, "base": cfg.to_dict(),
                      "grid": grids.to_json(grid), "seeds": seeds,
                      "cells": [{"dir": cell_name(i), "cell": grids.jsonable(cell)}
                                for i, cell in enumerate(cells)]})


def _epochs_done(cell_dir: Optional[str], epochs: int) -> int:
    """Epochs a cell directory holds: all when complete, its checkpoint's, else 0."""
    if cell_dir is None or not ckpt.started(cell_dir):
        return 0
    if ckpt.is_complete(cell_dir):
        return epochs
    path = os.path.join(cell_dir, ckpt.CHECKPOINT)
    if not os.path.exists(path):
        return 0
    try:
        with np.load(path, allow_pickle=False) as handle:
            return int(handle["done"])
    except (OSError, KeyError, ValueError, EOFError):
        return 0                    # damaged: train_cells names it when it loads it


def _train_all(result: Sweep, progress, *, engine, chunk_epochs, seed_batch, loss_every,
               provenance, on_cell) -> None:
    """Every cell, program by program, with one progress bar over the sweep."""
    configs, n_seeds, n_cells = result.configs, len(result.seeds), len(result.cells)
    dirs = [result.cell_dir(i) for i in range(n_cells)]
    done = [_epochs_done(d, c.epochs) for d, c in zip(dirs, configs)]
    total = sum(n_seeds * c.epochs for c in configs)
    finished = []

    def finish(index: int, run: Run) -> None:
        result.runs[index] = run
        finished.append(index)
        if on_cell is not None:
            on_cell(index, run)

    label = lambda: f"sweep: {len(finished)}/{n_cells} cells done"
    bar = contextlib.nullcontext(None) if callable(progress) else progress_bar(
        total, n_seeds * sum(done), bool(progress), description=label())
    with bar as advance:
        step = progress if callable(progress) else (
            lambda n: advance(n, description=label()))
        for group in grids.programs(configs):
            group_cfg = configs[group[0]]
            budget = seed_batch or auto_seed_batch(group_cfg)
            chunk = chunk_epochs or default_chunk_epochs(group_cfg)
            common = dict(engine=engine, chunk=chunk, loss_every=loss_every,
                          provenance=provenance, advance=step)
            per_program = max(1, budget // n_seeds)
            alone = [i for i in group if n_seeds > budget or _batched(dirs[i])]
            shared = [i for i in group if i not in alone]
            for index in alone:
                run = train(configs[index], result.seeds, out=dirs[index], resume=True,
                            chunk_epochs=chunk, progress=step, seed_batch=budget, engine=engine,
                            loss_every=loss_every, provenance=provenance)
                finish(index, run)
            for start in range(0, len(shared), per_program):
                _train_program(result, shared[start:start + per_program], dirs, done, finish,
                               **common)


def _batched(cell_dir: Optional[str]) -> bool:
    """Did this cell start training alone in batches of seeds (``batches/``)?"""
    return cell_dir is not None and os.path.isdir(os.path.join(cell_dir, "batches"))


def _train_program(result: Sweep, indices: list, dirs: list, done: list, finish, *, engine,
                   chunk, loss_every, provenance, advance) -> None:
    """Cells that share a program: the complete ones loaded, the rest trained together (one
    program per checkpoint epoch, normally one)."""
    seeds = result.seeds
    waiting: dict[int, list] = {}
    for index in indices:
        cell_dir, cell_cfg = dirs[index], result.configs[index]
        if cell_dir is not None and ckpt.is_complete(cell_dir):
            ckpt.check_resume(cell_dir, cell_cfg, seeds, None)
            finish(index, Run.load(cell_dir))
        else:
            waiting.setdefault(done[index], []).append(index)
    for group in waiting.values():
        with contextlib.ExitStack() as locks:
            for index in group:
                if dirs[index] is not None:
                    locks.enter_context(run_lock(dirs[index]))
                    ckpt.check_out_dir(dirs[index], resume=True)
                    ckpt.write_config(dirs[index], result.configs[index], seeds, len(seeds))
            chosen = resolve_engine(program_config(result.configs[group[0]]), engine)
            runs = train_cells([(result.configs[i], dirs[i]) for i in group], seeds, chosen,
                               chunk_epochs=chunk, progress=advance, loss_every=loss_every,
                               provenance=provenance)
        for index, run in zip(group, runs):
            finish(index, run)
