"""The best generalizer of every phase-diagram cell, dissected beside the hand-crafted
accumulator: its error per held-out length and flag count, and its fixed points at flag 0
(count, leading Jacobian eigenvalue, leak = 1 - eigenvalue; the accumulator's is 1: a perfect
integrator holds its sum).

    python3 experiments/phase_diagram_best.py --sweep results/phase_diagram

Reads the sweep directory (``sweep.json``, ``summary.csv``, one run directory per cell) and
writes into ``--out`` (default: ``SWEEP/best``): ``best_seeds.csv``, ``best_seeds.md`` and
``best_seeds.png`` (relative RMS error against length at 2 flags, one line per cell's best
seed, the accumulators dashed). Units: errors are relative RMS errors (RMS error over RMS
target) on the census's probe grid, the one that defines "general" (lengths 2, 3, 8, 16, 32 x
1, 2, 3, 5 flags), at 1000 sequences a cell instead of its 200; eigenvalues of
``dh_(t+1) / dh_t`` at the fixed point nearest ``h = 0`` for the input (value 0, flag 0).
"""
from __future__ import annotations

import argparse
import dataclasses
import csv
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import jax  # noqa: E402
import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from gru_jax import handcrafted  # noqa: E402
from gru_jax.analysis.thresholds import PROBE_HELD_OUT  # noqa: E402
from gru_jax.analysis.generalization import relative_rms_error  # noqa: E402
from gru_jax.analysis.slow_points import fixed_point_summary  # noqa: E402
from gru_jax.files import write_text  # noqa: E402
from gru_jax.reports.markdown import dict_table, save_figure  # noqa: E402
from gru_jax.sweeps import Sweep  # noqa: E402

COLUMNS = ("label", "task", "hidden_size", "seed", "worst_error", "worst_error_half",
           "worst_cell", "error_len8", "error_len16", "error_len32", "n_fixed_flag0",
           "eigenvalue_flag0", "leak_flag0", "cell_median_worst_half", "cell_median_worst_final")


def model_row(label: str, task: str, hidden: int, seed, params, held,
              half=None) -> tuple[dict, np.ndarray]:
    """One model's row (see COLUMNS) and its ``(n_lengths, n_flags)`` errors; ``half``: its
    params halfway through training (``worst_error_half``; NaN without)."""
    errors = relative_rms_error(params, held)
    worst_half = (float(np.nanmax(relative_rms_error(half, held))) if half is not None
                  else float("nan"))
    two = list(held.flag_counts).index(2)
    by_length = dict(zip(held.lengths, errors[:, two]))
    points = fixed_point_summary(params, high=held.high)
    return {"label": label, "task": task, "hidden_size": hidden, "seed": seed,
            "worst_error": float(np.nanmax(errors)), "worst_error_half": worst_half,
            "worst_cell": _worst_cell(errors, held),
            "error_len8": float(by_length[8]),
            "error_len16": float(by_length[16]), "error_len32": float(by_length[32]),
            "n_fixed_flag0": int(points.n_flag0),
            "eigenvalue_flag0": float(points.leading_eigenvalue),
            "leak_flag0": float(points.leak), "cell_median_worst_half": float("nan"),
            "cell_median_worst_final": float("nan")}, errors


def median_worst(params) -> float:
    """The median over models (leading axis) of the worst-cell error on the census's probe."""
    return float(np.median(np.nanmax(relative_rms_error(params, PROBE_HELD_OUT), (-2, -1))))


def _worst_cell(errors: np.ndarray, held) -> str:
    """``"length L, K flags"`` of the largest error."""
    row, column = np.unravel_index(np.nanargmax(errors), errors.shape)
    return f"length {held.lengths[row]}, {held.flag_counts[column]} flags"


def figure(rows: list, curves: list, held) -> plt.Figure:
    """Error against length at 2 flags: one panel per task, a line per cell's best seed."""
    tasks = list(dict.fromkeys(r["task"] for r in rows if r["task"] != "designed"))
    fig, axes = plt.subplots(1, len(tasks), figsize=(4.2 * len(tasks), 3.6), sharey=True,
                             squeeze=False)
    two = list(held.flag_counts).index(2)
    hidden_sizes = sorted({r["hidden_size"] for r in rows if r["task"] != "designed"})
    colours = plt.cm.viridis(np.linspace(0, 0.9, len(hidden_sizes)))
    for ax, task in zip(axes[0], tasks):
        for row, errors in zip(rows, curves):
            if row["task"] == "designed":
                ax.plot(held.lengths, errors[:, two], "k--" if "exact" in row["label"] else "k:",
                        label=row["label"])
            elif row["task"] == task:
                colour = colours[hidden_sizes.index(row["hidden_size"])]
                ax.plot(held.lengths, errors[:, two], "o-", color=colour,
                        label=f"H = {row['hidden_size']} (seed {row['seed']})")
        ax.axhline(0.1, color="0.5", lw=0.8)
        ax.set_xscale("log", base=2)
        ax.set_xticks(held.lengths, [str(n) for n in held.lengths])
        ax.set_yscale("log")
        ax.legend(fontsize=6, loc="lower right")
        ax.set_xlabel("sequence length (2 flags)")
        ax.set_title(f"task: {task}")
    axes[0][0].set_ylabel("relative RMS error of the cell's best seed")
    fig.suptitle("Best generalizer per cell against the hand-crafted accumulators "
                 "(grey line: the bar for 'general', 0.1)")
    fig.tight_layout()
    return fig


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sweep", default="results/phase_diagram")
    parser.add_argument("--out", default=None, help="default: SWEEP/best")
    args = parser.parse_args(argv)
    out = args.out or os.path.join(args.sweep, "best")
    summary = os.path.join(args.sweep, "summary.csv")
    if not os.path.exists(summary):
        print(f"error: {summary} not found: run the sweep first", file=sys.stderr)
        return 2
    sweep = Sweep.load(args.sweep)
    with open(summary) as handle:
        cells = list(csv.DictReader(handle))
    held = dataclasses.replace(PROBE_HELD_OUT, n_per_cell=1000)
    rows, curves = [], []
    for cell, run in zip(cells, sweep.runs):
        if not cell["best_seed"] or cell["best_seed"] == "None":
            continue
        seed = int(cell["best_seed"])
        index = list(run.seeds).index(seed)
        params = jax.tree_util.tree_map(lambda a, i=index: np.asarray(a)[i], run.params)
        middle = int(np.searchsorted(run.eval_epochs, run.config.epochs // 2))
        half = jax.tree_util.tree_map(lambda a, i=index: np.asarray(a)[i, middle],
                                      run.snapshots)
        row, errors = model_row(f"cell {cell['cell']}", cell["task"],
                                int(cell["hidden_size"]), seed, params, held, half)
        row["cell_median_worst_half"] = median_worst(jax.tree_util.tree_map(
            lambda a: np.asarray(a)[:, middle], run.snapshots))
        row["cell_median_worst_final"] = median_worst(run.params)
        rows.append(row)
        curves.append(errors)
        print(f"cell {cell['cell']}: {cell['task']} H = {cell['hidden_size']}, seed {seed}, "
              f"worst error {row['worst_error']:.3g}, eigenvalue {row['eigenvalue_flag0']:.4f}",
              flush=True)
    for label, params in (("exact accumulator", handcrafted.accumulator()),
                          ("reachable accumulator", handcrafted.reachable_accumulator())):
        row, errors = model_row(label, "designed", 1, "", params, held)
        rows.append(row)
        curves.append(errors)
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "best_seeds.csv"), "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    save_figure(figure(rows, curves, held), os.path.join(out, "best_seeds.png"))
    command = "python3 experiments/phase_diagram_best.py " + " ".join(
        sys.argv[1:] if argv is None else argv)
    write_text(os.path.join(out, "best_seeds.md"), "\n".join([
        "# The best generalizer of each cell, beside the hand-crafted accumulators", "",
        "Per cell, the seed with the smallest worst-cell error (`best_seed` of the summary), "
        "its relative RMS error on the census's probe grid (lengths 2, 3, 8, 16, 32 x 1, 2, 3, "
        "5 flags; 1000 sequences a cell, where the summary's `best_error` used 200) at its "
        "worst cell and at lengths 8, 16, 32 with 2 flags, and its fixed points at the input "
        "(value 0, flag 0): how many, and at the one "
        "nearest h = 0 the leading eigenvalue of dh_(t+1)/dh_t and the leak 1 - eigenvalue "
        "(an integrator that holds its sum has eigenvalue 1, leak 0). `worst_error_half`: the "
        "same seed's worst-cell error at the first snapshot at or after half the epochs "
        "(is it still improving?); `cell_median_worst_half` / `_final`: the median over ALL "
        "the cell's seeds of the worst-cell error (census probe, 200 sequences a cell) then "
        "and at the end.", "",
        dict_table([{k: row[k] for k in COLUMNS} for row in rows]), "",
        "![best seeds](best_seeds.png)", "",
        "Regenerate with:", "", "```bash", command, "```", ""]))
    print(f"-> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
