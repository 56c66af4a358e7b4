"""The numbers of a sweep's summary: one row per cell.

Per cell (an ensemble of S seeds): the final training loss's quantiles (scaled units, over the
seeds that did not diverge), the diverged count, the median last test loss (original units),
the threshold census (:func:`gru_jax.analysis.census.strategy_census`: ``general`` = not
failed and a worst relative RMS error <= 0.1 on the probe grid of lengths 2-32 x 1-5 flags;
``length-specific``; ``failed``) as counts and fractions with 95% Wilson intervals, the best
generalizer (the seed with the smallest worst-cell probe error), and optionally the discovered
census (:func:`gru_jax.analysis.strategies.census`: each strategy's fraction with its 95%
interval), skipped below ``min_census_seeds`` seeds.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from .census import STRATEGIES, strategy_census
from . import strategies

LOSS_QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
#: Below this many seeds a cell's discovered census is skipped (a mixture over a handful of
#: points is noise).
MIN_CENSUS_SEEDS = 32


def cell_row(run, census: bool = False, min_census_seeds: int = MIN_CENSUS_SEEDS) -> dict:
    """The summary numbers of one cell's :class:`gru_jax.Run` (see the module docstring).

    Returns a dict: ``n_seeds, epochs, diverged, loss_q05 .. loss_q95, test_loss_median,
    loss_tail_ratio`` (:func:`tail_ratio`);
    per threshold class ``c``: ``c`` (count), ``c_fraction, c_low, c_high``; ``best_seed,
    best_error``; ``strategies`` (text: ``name fraction [low, high]; ...``, or why skipped;
    empty without ``census``).
    """
    final = np.asarray(run.train_loss, np.float64)[:, -1]
    finite = final[np.isfinite(final)]
    row = {"n_seeds": run.n_seeds, "epochs": run.config.epochs,
           "diverged": int(np.sum(np.asarray(run.diverged)))}
    for q in LOSS_QUANTILES:
        row[f"loss_q{round(q * 100):02d}"] = (float(np.quantile(finite, q)) if finite.size
                                             else float("nan"))
    test = np.asarray(run.test_loss, np.float64)[:, -1]
    row["test_loss_median"] = float(np.nanmedian(test)) if np.isfinite(test).any() else np.nan
    row["loss_tail_ratio"] = tail_ratio(run)
    threshold = strategy_census(run.params, final, high=run.config.high)
    for name in STRATEGIES:
        row[name] = threshold.counts[name]
        row[f"{name}_fraction"] = threshold.fractions[name]
        row[f"{name}_low"], row[f"{name}_high"] = threshold.intervals[name]
    candidates = np.where(threshold.labels != "failed", threshold.probe_error, np.inf)
    best = int(np.argmin(candidates)) if np.isfinite(candidates).any() else None
    row["best_seed"] = None if best is None else int(run.seeds[best])
    row["best_error"] = float("nan") if best is None else float(threshold.probe_error[best])
    row["strategies"] = discovered(run, min_census_seeds) if census else ""
    return row


def tail_ratio(run, tail: float = 1 / 6) -> float:
    """Whether the losses still fall at the end: the median over seeds (that did not diverge)
    of the final training loss over the loss at the first kept epoch in the last ``tail`` of
    training (epoch 2500 of 3000). 1: flat; 0.5: halved over that stretch. NaN when no seed
    has both."""
    epochs = np.asarray(run.loss_epochs)
    start = int(np.searchsorted(epochs, (1 - tail) * run.config.epochs))
    losses = np.asarray(run.train_loss, np.float64)
    if start >= losses.shape[1] - 1:
        return float("nan")
    ratio = losses[:, -1] / losses[:, start]
    ratio = ratio[np.isfinite(ratio)]
    return float(np.median(ratio)) if ratio.size else float("nan")


def discovered(run, min_census_seeds: int = MIN_CENSUS_SEEDS) -> str:
    """The discovered census as ``name fraction [low, high]; ...`` (largest first), or a note
    saying why it was skipped."""
    found = discovered_strategies(run, min_census_seeds)
    if isinstance(found, str):
        return found
    return "; ".join(f"{s['strategy']} {s['fraction']:.3f} [{s['low']:.3f}, {s['high']:.3f}]"
                     for s in found)


def discovered_strategies(run, min_census_seeds: int = MIN_CENSUS_SEEDS):
    """The discovered census (:func:`gru_jax.analysis.strategies.census`, without commitment
    epochs) as ``[{"strategy", "count", "fraction", "low", "high"}, ...]``, largest first; or
    a str saying why it was skipped (too few seeds) or failed."""
    if run.n_seeds < min_census_seeds:
        return f"skipped: {run.n_seeds} seeds < {min_census_seeds}"
    try:
        result = strategies.census(run, commitment_stride=0)
    except (ValueError, np.linalg.LinAlgError) as err:
        return f"census failed: {err}"
    return [{"strategy": name, "count": int(count), "fraction": float(fraction),
             "low": float(low), "high": float(high)}
            for name, count, fraction, low, high in zip(
                result.names, result.counts, result.fractions, result.ci_low, result.ci_high)]


def strategy_rows(cells: list, runs: list, census: bool = False,
                  min_census_seeds: int = MIN_CENSUS_SEEDS) -> list[dict]:
    """A sweep's tidy table: one row per cell and strategy.

    Columns: ``cell`` (index), the grid's keys (the cell's values as text), ``n_seeds``,
    ``epochs``, ``census`` (``"threshold"``: general / length-specific / failed, for every
    cell; ``"discovered"``: the Gaussian-mixture strategies, with ``census=True`` and at least
    ``min_census_seeds`` seeds), ``strategy``, ``count``, ``fraction``, ``low``, ``high`` (95%
    Wilson interval). The threshold rows are :func:`cell_row`'s numbers (``summary.csv``'s
    ``general``, ``general_fraction``, ... columns) in long form.
    """
    rows = []
    for index, (cell, run) in enumerate(zip(cells, runs)):
        numbers = cell_row(run)
        head = {"cell": index, **{key: cell_text(value) for key, value in cell.items()},
                "n_seeds": numbers["n_seeds"], "epochs": numbers["epochs"]}
        for name in STRATEGIES:
            rows.append({**head, "census": "threshold", "strategy": name,
                         "count": numbers[name], "fraction": numbers[f"{name}_fraction"],
                         "low": numbers[f"{name}_low"], "high": numbers[f"{name}_high"]})
        found = discovered_strategies(run, min_census_seeds) if census else []
        for strategy in ([] if isinstance(found, str) else found):
            rows.append({**head, "census": "discovered", **strategy})
    return rows


def summary_rows(cells: list, runs: list, census: bool = False,
                 min_census_seeds: int = MIN_CENSUS_SEEDS,
                 dirs: Optional[list] = None) -> list[dict]:
    """One row per cell: ``cell`` (index), ``dir`` (when given), the cell's grid values, then
    :func:`cell_row`'s numbers."""
    rows = []
    for index, (cell, run) in enumerate(zip(cells, runs)):
        row = {"cell": index}
        if dirs is not None:
            row["dir"] = dirs[index]
        row.update({key: cell_text(value) for key, value in cell.items()})
        row.update(cell_row(run, census, min_census_seeds))
        rows.append(row)
    return rows


def cell_text(value) -> str:
    """A grid value as table text (a curriculum's tuples compactly)."""
    if isinstance(value, (tuple, list)):
        return "(" + " ".join(cell_text(v) for v in value) + ")"
    return "none" if value is None else str(value)
