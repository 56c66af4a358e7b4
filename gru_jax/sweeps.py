"""Sweeps: the cross product of a grid of Config values, each cell an ensemble of the same seeds.

``sweep(cfg, grid, seeds, out)`` expands the grid (:mod:`gru_jax.grid`; every cell's Config is
validated before anything trains), groups the cells that differ only in per-member fields
(learning rate, weight decay, clip, Adam's constants, the plateau schedule, min_lr) into ONE
compiled program each (:func:`gru_jax.train.train_cells`: those fields become arrays with the
member axis), and runs the programs, whose shapes differ, one after another, with the same
:class:`gru_jax.options.TrainOptions` as :func:`gru_jax.train` and one
:class:`gru_jax.rundir.RunDir` per cell. A member's numbers do not depend on which cell or
program it trained in.

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

from . import grid as grids
from .config import Config
from .engines import resolve_engine
from .files import OptionRequiredError, write_json
from .inputs import check_seeds
from .lock import run_lock
from .options import TrainOptions, options_of
from .progress import progress_bar
from .reports.sweep import write_summary
from .run import Run
from .rundir import RunDir, RunError, differences, read_json, refuse_resume
from .train import auto_seed_batch, check_fits, start_options, train_cells, train_run

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
          summary: bool = True, census: bool = False,
          on_cell: Optional[Callable[[int, Run], None]] = None,
          options: Optional[TrainOptions] = None, **keywords) -> Sweep:
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
      summary: with ``out``, write the summary table and the phase diagram when done.
      census: add the discovered census (strategy fractions) to the summary (slow).
      on_cell: called with ``(cell index, Run)`` as each cell finishes (or is found complete).
      options: a :class:`gru_jax.options.TrainOptions`, or its fields as keywords
        (``engine``, ``chunk_epochs``, ``loss_every``, ... as for :func:`gru_jax.train`), with:
        ``progress`` a bar over the whole sweep (cells, seed-epochs, ETA), False for none, or
        a callable ``advance(seed_epochs)``; ``seed_batch`` the most members (cells x seeds)
        trained at once (default: what fits half the device memory,
        :func:`gru_jax.train.auto_seed_batch`): cells that share a program are packed up to
        it, a cell with more seeds trains alone in batches of seeds.
    """
    options = options_of("sweep", options, **keywords)
    seeds = check_seeds(seeds)
    cells, configs = grids.expand(cfg, grid)
    grid = grids.check_grid(grid)
    for cell, cell_cfg in zip(cells, configs):
        try:
            check_fits(cell_cfg, resolve_engine(cell_cfg, options.engine, options.mesh),
                       len(seeds))
        except ValueError as err:
            raise ValueError(f"sweep: cell {grids.describe(cell)}: {err}") from None
    options = start_options(options)
    result = Sweep(cfg, grid, seeds, cells, configs, [None] * len(cells), out)
    if out is None:
        _train_all(result, options, on_cell)
        return result
    with run_lock(out):
        _start(out, cfg, grid, seeds, cells, resume)
        _train_all(result, options, on_cell)
        if summary:
            write_summary(out, result.cells, result.configs, result.runs, census=census,
                          command=options.provenance.get("command", ""))
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
        diffs = differences(base, cfg, stored_seeds, seeds)
        if stored_grid != grids.to_json(grid):
            diffs.append(f"grid: stored {stored_grid}, given {grids.to_json(grid)}")
        refuse_resume(out, "a sweep", diffs)
        return
    entries = [e for e in os.listdir(out) if not e.startswith(".")]
    if entries:
        raise FileExistsError(f"sweep directory {out!r} is not empty ({sorted(entries)[:5]}) "
                              "and holds no sweep; choose a new directory")
    write_json(path, {"format_version": SWEEP_FORMAT, "base": cfg.to_dict(),
                      "grid": grids.to_json(grid), "seeds": seeds,
                      "cells": [{"dir": cell_name(i), "cell": grids.jsonable(cell)}
                                for i, cell in enumerate(cells)]})


def _train_all(result: Sweep, options: TrainOptions, on_cell) -> None:
    """Every cell, program by program, with one progress bar over the sweep."""
    configs, n_seeds, n_cells = result.configs, len(result.seeds), len(result.cells)
    dirs = [None if result.out is None else RunDir(result.cell_dir(i)) for i in range(n_cells)]
    done = [0 if d is None else d.epochs_done() for d in dirs]
    total = sum(n_seeds * c.epochs for c in configs)
    finished = []

    def finish(index: int, run: Run) -> None:
        result.runs[index] = run
        finished.append(index)
        if on_cell is not None:
            on_cell(index, run)

    label = lambda: f"sweep: {len(finished)}/{n_cells} cells done"
    progress = options.progress
    bar = contextlib.nullcontext(None) if callable(progress) else progress_bar(
        total, n_seeds * sum(done), bool(progress), description=label())
    with bar as advance:
        step = progress if callable(progress) else (
            lambda n: advance(n, description=label()))
        for group in grids.programs(configs):
            group_cfg = configs[group[0]]
            engine = resolve_engine(group_cfg, options.engine, options.mesh)
            budget = options.seed_batch or auto_seed_batch(group_cfg, engine)
            group_options = options.replace(chunk_epochs=options.chunk_for(group_cfg),
                                            seed_batch=budget, progress=step)
            alone = [i for i in group
                     if n_seeds > budget or (dirs[i] is not None and dirs[i].batched())]
            shared = [i for i in group if i not in alone]
            for index in alone:
                finish(index, train_run(configs[index], result.seeds, group_options,
                                        out=result.cell_dir(index), resume=True))
            per_program = max(1, budget // n_seeds)
            for start in range(0, len(shared), per_program):
                indices = shared[start:start + per_program]
                _train_program(result, indices, [dirs[i] for i in indices], engine,
                               group_options, finish)


def _train_program(result: Sweep, indices: list, dirs: list, engine, options: TrainOptions,
                   finish) -> None:
    """Cells that share a program, their directories locked and opened for resume: the
    complete ones loaded, the rest trained together (:func:`gru_jax.train.train_cells`)."""
    cells = [(result.configs[i], run_dir) for i, run_dir in zip(indices, dirs)]
    with contextlib.ExitStack() as locks:
        for cfg, run_dir in cells:
            if run_dir is not None:
                locks.enter_context(run_dir.lock())
                run_dir.open(cfg, result.seeds, resume=True)
                run_dir.start(cfg, result.seeds, len(result.seeds))
        train_cells(cells, result.seeds, engine, options,
                    on_cell=lambda position, run: finish(indices[position], run))
