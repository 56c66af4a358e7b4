"""A sweep's summary on disk: ``summary.csv``, ``summary.md`` and ``phase_diagram.png``.

The numbers are :func:`gru_jax.analysis.sweep.summary_rows` (one row per cell); the figures are
:func:`gru_jax.plots.sweep.phase_diagram` of a fraction per cell with its 95% interval:
``phase_diagram.png`` the fraction general, or, when no cell has a general seed (a figure of
identical zeros says nothing), the fraction that adds at length 8; ``phase_l8.png`` and
``phase_holds.png`` the two population measures in every case.
"""
from __future__ import annotations

import csv
import io
import os

import numpy as np

from ..analysis.sweep import MIN_CENSUS_SEEDS, cell_text, summary_rows
from ..files import write_text
from ..plots.sweep import phase_diagram
from .markdown import dict_table, fmt, save_figure

SUMMARY_CSV = "summary.csv"
SUMMARY_MD = "summary.md"
PHASE_DIAGRAM = "phase_diagram.png"
PHASE_L8 = "phase_l8.png"
PHASE_HOLDS = "phase_holds.png"

#: The Markdown table's columns after the grid's (the CSV has every column).
MARKDOWN_COLUMNS = ("n_seeds", "epochs", "diverged", "loss_q05", "loss_q50", "loss_q95",
                    "loss_tail_ratio",
                    "general", "general_fraction", "general_low", "general_high",
                    "length-specific_fraction", "failed_fraction", "best_seed", "best_error",
                    "l8_ok_fraction", "l8_ok_low", "l8_ok_high", "holds_fraction", "holds_low",
                    "holds_high", "worst_error_median", "families")


def axes_of(cells: list) -> list[tuple[str, list[str]]]:
    """The grid's axes as ``[(key, [labels in order]), ...]`` recovered from the cells."""
    keys = list(cells[0]) if cells else []
    axes = []
    for key in keys:
        labels = []
        for cell in cells:
            text = cell_text(cell[key])
            if text not in labels:
                labels.append(text)
        axes.append((key, labels))
    return axes


def to_csv(rows: list[dict]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if v is None else v) for k, v in row.items()})
    return buffer.getvalue()


def write_summary(out: str, cells: list, configs: list, runs: list, census: bool = False,
                  min_census_seeds: int = MIN_CENSUS_SEEDS, command: str = "") -> list[dict]:
    """Write the summary of a sweep's cells into ``out``; returns the rows.

    Args:
      cells: per cell ``{key: value or label}`` (grid order). configs, runs: per cell.
      census: add the discovered census per cell (skipped below ``min_census_seeds`` seeds).
      command: how to regenerate it, written into ``summary.md``.
    """
    dirs = [f"cell_{i:03d}" for i in range(len(cells))]
    rows = summary_rows(cells, runs, census, min_census_seeds, dirs)
    write_text(os.path.join(out, SUMMARY_CSV), to_csv(rows))
    keys = list(cells[0])
    seeds_text = f"{runs[0].n_seeds} seeds a cell"
    measures = {
        "general": ("fraction general", f"Fraction general ({seeds_text})"),
        "l8_ok": ("fraction with length-8 error <= 0.1", "Fraction adding at length 8 (relative "
                  f"error <= 0.1, of the seeds that learned; {seeds_text})"),
        "holds": ("fraction with flag-0 eigenvalue > 0.99", "Fraction holding a sum (flag-0 "
                  f"leading eigenvalue > 0.99, of the seeds that learned; {seeds_text})")}
    any_general = any(r["general"] for r in rows)
    for name, path in (("general" if any_general else "l8_ok", PHASE_DIAGRAM),
                       ("l8_ok", PHASE_L8), ("holds", PHASE_HOLDS)):
        label, title = measures[name]
        if name != "general" and path == PHASE_DIAGRAM:
            title += ": no cell has a general seed"
        save_figure(phase_diagram([r[f"{name}_fraction"] for r in rows],
                                  [r[f"{name}_low"] for r in rows],
                                  [r[f"{name}_high"] for r in rows], axes_of(cells),
                                  label=label, title=title), os.path.join(out, path))
    columns = ["cell", *keys, *(c for c in MARKDOWN_COLUMNS if census or c != "families")]
    table = dict_table([{c: row[c] for c in columns} for row in rows])
    general = sum(r["general"] for r in rows)
    seeds = sum(r["n_seeds"] for r in rows)
    lines = [
        "# Sweep summary", "",
        f"{len(cells)} cells x {runs[0].n_seeds} seeds; grid: "
        + "; ".join(f"{k} = {', '.join(v)}" for k, v in axes_of(cells)) + ".", "",
        "`general`: not failed (final train loss < half the predict-the-mean loss) and a worst "
        "relative RMS error <= 0.1 on the probe grid (lengths 2, 3, 8, 16, 32 x 1, 2, 3, 5 "
        "flags); fractions with 95% Wilson intervals. Losses: final training loss, scaled "
        "units, quantiles over the seeds that did not diverge; `loss_tail_ratio`: the median "
        "of final / the loss at 5/6 of the epochs (1: flat, < 1: still falling). "
        "`best_seed`: the smallest "
        "worst-cell probe error (`best_error`) among seeds that did not fail.", "",
        "Population measures (of the seeds that did not fail): `l8_ok`: relative error <= 0.1 "
        "on the length-8, 2-flag probe cell; `holds`: the flag-0 leading eigenvalue (at the "
        "fixed point nearest h = 0) above 0.99, a near-line attractor; `worst_error_median`: "
        "the median worst-cell probe error. Fractions with 95% Wilson intervals.", "",
        f"General seeds: {general} of {seeds} over all cells (each cell is its own task and "
        "width, so the cells' bounds, not a pooled one, are the statement"
        + (f"; the largest 95% upper bound of a cell is "
           f"{fmt(max(r['general_high'] for r in rows), 3)}" if general == 0 else "") + ").",
        "", table,
        f"![{'fraction general' if any_general else 'fraction adding at length 8'} per cell]"
        f"({PHASE_DIAGRAM})", "", f"![fraction adding at length 8]({PHASE_L8})", "",
        f"![fraction holding a sum]({PHASE_HOLDS})", "",
        "Every cell is a run directory (`gj.Run.load`); all columns are in "
        f"[{SUMMARY_CSV}]({SUMMARY_CSV}).",
    ]
    if census:
        lines += ["", f"Families: the census (`gru_jax.analysis.census(run)`, without "
                      f"commitment epochs), fraction [95% interval]; skipped below "
                      f"{min_census_seeds} seeds. Family numbers are per cell."]
    if command:
        lines += ["", "Regenerate with:", "", "```bash", command, "```"]
    if any(not np.isfinite(r["general_fraction"]) for r in rows):
        lines += ["", "n/a: a cell without seeds."]
    write_text(os.path.join(out, SUMMARY_MD), "\n".join(lines) + "\n")
    return rows
