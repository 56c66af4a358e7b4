"""The numbers of a sweep's summary: one row per cell.

Per cell (an ensemble of S seeds): the final training loss's quantiles (scaled units, over the
seeds that did not diverge), the diverged count, the median last test loss (original units),
the threshold axis (:func:`gru_jax.analysis.thresholds.threshold_classes`: ``general`` = not
failed and a worst relative RMS error <= 0.1 on the probe grid of lengths 2-32 x 1-5 flags;
``length-specific``; ``failed``) as counts and fractions with 95% Wilson intervals, the best
generalizer (the seed with the smallest worst-cell probe error), the POPULATION MEASURES that
vary where "general" is 0 everywhere (:func:`population_measures`), and optionally the census's
families (:func:`gru_jax.analysis.census.census`: each family's fraction with its 95%
interval), skipped below ``min_census_seeds`` seeds.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from .census import census
from .slow_points import fixed_point_summary
from .stats import wilson_interval
from .thresholds import CLASSES, threshold_classes

LOSS_QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
#: Below this many seeds a cell's discovered census is skipped (a mixture over a handful of
#: points is noise).
MIN_CENSUS_SEEDS = 32


def cell_row(run, census: bool = False, min_census_seeds: int = MIN_CENSUS_SEEDS) -> dict:
    """The summary numbers of one cell's :class:`gru_jax.Run` (see the module docstring).

    Returns a dict: ``n_seeds, epochs, diverged, loss_q05 .. loss_q95, test_loss_median,
    loss_tail_ratio`` (:func:`tail_ratio`);
    per threshold class ``c``: ``c`` (count), ``c_fraction, c_low, c_high``; ``best_seed,
    best_error``; :func:`population_measures`; ``families`` (text: ``label name fraction [low,
    high]; ...``, or why skipped; empty without ``census``) and, with ``census``, per family
    ``family_<label>_fraction, _low, _high``.
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
    threshold = threshold_classes(run.params, final, high=run.config.high)
    for name in CLASSES:
        row[name] = threshold.counts[name]
        row[f"{name}_fraction"] = threshold.fractions[name]
        row[f"{name}_low"], row[f"{name}_high"] = threshold.intervals[name]
    candidates = np.where(threshold.labels != "failed", threshold.probe_error, np.inf)
    best = int(np.argmin(candidates)) if np.isfinite(candidates).any() else None
    row["best_seed"] = None if best is None else int(run.seeds[best])
    row["best_error"] = float("nan") if best is None else float(threshold.probe_error[best])
    row.update(population_measures(run.params, threshold, high=run.config.high))
    row["families"] = ""
    if census:
        row.update(discovered(run, min_census_seeds))
    return row


#: The population measures' thresholds: a length-8 error this small "adds at length 8"; a
#: flag-0 leading eigenvalue above this "holds a sum" (a near-line attractor).
L8_TOLERANCE = 0.1
EIGENVALUE_HOLD = 0.99


def population_measures(params, threshold, high: int = 100) -> dict:
    """What varies across cells where no seed is general: the fraction of seeds (of those not
    failed) with relative error <= :data:`L8_TOLERANCE` on the length-8, 2-flag probe cell
    (``l8_ok``), the fraction whose flag-0 leading eigenvalue exceeds :data:`EIGENVALUE_HOLD`
    (``holds``), each with its 95% Wilson interval (``_low``, ``_high``), and the median
    worst-cell probe error (``worst_error_median``) with a 95% bootstrap interval over seeds
    (2000 resamples, ``default_rng(0)``).

    ``params``: the cell's final params ``(S, ...)``; ``threshold``: their
    :class:`gru_jax.analysis.thresholds.Thresholds`."""
    learned = threshold.labels != "failed"
    count = int(learned.sum())
    l8 = threshold.cell_error(8, 2)
    eig = np.asarray(fixed_point_summary(params, high=high).leading_eigenvalue, np.float64)
    row = {}
    for name, hit in (("l8_ok", learned & (l8 <= L8_TOLERANCE)),
                      ("holds", learned & (eig > EIGENVALUE_HOLD))):
        row[name] = int(hit.sum())
        row[f"{name}_fraction"] = hit.sum() / count if count else float("nan")
        row[f"{name}_low"], row[f"{name}_high"] = wilson_interval(int(hit.sum()), count)
    worst = threshold.probe_error[learned]
    worst = worst[np.isfinite(worst)]
    if worst.size:
        rng = np.random.default_rng(0)
        boots = np.median(rng.choice(worst, (2000, worst.size)), axis=1)
        row["worst_error_median"] = float(np.median(worst))
        row["worst_error_low"], row["worst_error_high"] = (float(v) for v in np.percentile(
            boots, [2.5, 97.5]))
    else:
        row["worst_error_median"] = row["worst_error_low"] = row["worst_error_high"] = np.nan
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


def census_groups(run, min_census_seeds: int = MIN_CENSUS_SEEDS):
    """The census's families and strategies (:func:`gru_jax.analysis.census.census`, without
    commitment epochs) as rows ``{"level": "family" | "strategy", "group": label, "name",
    "count", "fraction", "low", "high"}`` (families first, each largest first); or a str
    saying why it was skipped (too few seeds) or failed."""
    if run.n_seeds < min_census_seeds:
        return f"skipped: {run.n_seeds} seeds < {min_census_seeds}"
    try:
        result = census(run, commitment=False)
    except (ValueError, np.linalg.LinAlgError) as err:
        return f"census failed: {err}"
    rows = [{"level": "family", "group": label, "name": name, "count": int(count),
             "fraction": float(fraction), "low": float(low), "high": float(high)}
            for label, name, count, fraction, low, high in zip(
                result.family_labels, result.family_names, result.family_counts,
                result.family_fractions, result.family_ci_low, result.family_ci_high)]
    rows += [{"level": "strategy", "group": label, "name": name, "count": int(count),
              "fraction": float(fraction), "low": float(low), "high": float(high)}
             for label, name, count, fraction, low, high in zip(
                 result.strategy_labels, result.names, result.counts, result.fractions,
                 result.ci_low, result.ci_high)]
    return rows


def discovered(run, min_census_seeds: int = MIN_CENSUS_SEEDS) -> dict:
    """The census's families: ``families`` as text (``F1 name fraction [low, high]; ...``,
    largest first, or a note saying why it was skipped) and per family
    ``family_F<i>_name, _fraction, _low, _high``."""
    found = census_groups(run, min_census_seeds)
    if isinstance(found, str):
        return {"families": found}
    families = [g for g in found if g["level"] == "family"]
    row = {"families": "; ".join(f"{g['group']} {g['name']} {g['fraction']:.3f} "
                                 f"[{g['low']:.3f}, {g['high']:.3f}]" for g in families)}
    for g in families:
        for key in ("name", "fraction", "low", "high"):
            row[f"family_{g['group']}_{key}"] = g[key]
    return row


def group_rows(cells: list, runs: list, census: bool = False,
               min_census_seeds: int = MIN_CENSUS_SEEDS) -> list[dict]:
    """A sweep's tidy table: one row per cell and group.

    Columns: ``cell`` (index), the grid's keys (the cell's values as text), ``n_seeds``,
    ``epochs``, ``census`` (``"threshold"``: general / length-specific / failed, for every
    cell; ``"family"`` and ``"strategy"``: the census's, with ``census=True`` and at least
    ``min_census_seeds`` seeds), ``group`` (the class, or the label F1, F1a, ...), ``name``,
    ``count``, ``fraction``, ``low``, ``high`` (95% Wilson interval). The threshold rows are
    :func:`cell_row`'s numbers (``summary.csv``'s ``general``, ``general_fraction``, ...
    columns) in long form.
    """
    rows = []
    for index, (cell, run) in enumerate(zip(cells, runs)):
        numbers = cell_row(run)
        head = {"cell": index, **{key: cell_text(value) for key, value in cell.items()},
                "n_seeds": numbers["n_seeds"], "epochs": numbers["epochs"]}
        for name in CLASSES:
            rows.append({**head, "census": "threshold", "group": name, "name": name,
                         "count": numbers[name], "fraction": numbers[f"{name}_fraction"],
                         "low": numbers[f"{name}_low"], "high": numbers[f"{name}_high"]})
        found = census_groups(run, min_census_seeds) if census else []
        for group in ([] if isinstance(found, str) else found):
            rows.append({**head, "census": group.pop("level"), **group})
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
