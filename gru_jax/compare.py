"""``gru-jax compare RUN_DIR``: the learned seeds against the hand-crafted accumulators.

Writes figures (PNG) and ``compare.md`` under ``RUN_DIR/compare/`` (or ``out_dir``). Everything
is a library call: :func:`run_compare` from Python does what the CLI does.
"""
from __future__ import annotations

import os
import time
from typing import Optional

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from . import handcrafted  # noqa: E402
from .analysis import compare as cmp  # noqa: E402
from .analysis.canonical import CANONICAL_NAMES, canonical_vector  # noqa: E402
from .analysis.census import STRATEGIES, strategy_census, update_gate_behaviour  # noqa: E402
from .analysis.generalization import (coarse_held_out, fraction_within,  # noqa: E402
                                      relative_rms_error)
from .interop import BLOG_SEED37_STATE_DICT, from_state_dict  # noqa: E402
from .plots import compare as plots  # noqa: E402
from .run import Run  # noqa: E402

# The blog's seed 37 final weights (BLOG_FACTS: the CPU replay, agreeing with every published digit)
BLOG_SEED37 = from_state_dict(BLOG_SEED37_STATE_DICT)


def _save(fig, out_dir: str, name: str) -> str:
    path = os.path.join(out_dir, name)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return name


def _md_table(header, rows) -> list[str]:
    fmt = lambda v: (f"{v:.4g}" if isinstance(v, (float, np.floating)) else str(v))
    return (["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
            + ["| " + " | ".join(fmt(v) for v in row) + " |" for row in rows])


def run_compare(run_dir: str, out_dir: Optional[str] = None, stability_epochs: int = 98,
                stability_runs: int = 8, n_per_cell: int = 200,
                stability_scale: float = 0.005,
                tradeoff_n_per_cell: int = 100) -> str:
    """Compare a run with the hand-crafted sets; returns the path of the Markdown file.

    Args:
      run_dir: a saved :class:`gru_jax.Run`.
      out_dir: default ``RUN_DIR/compare``.
      stability_epochs: epochs of the stability runs (the run's protocol, shortened); 0 skips.
      stability_runs: runs from the reachable accumulator (1 exact + perturbations).
      stability_scale: perturbation std as a fraction of each coordinate's reachable cap.
      n_per_cell: sequences per cell of the coarse generalization grid.
      tradeoff_n_per_cell: the same for the accumulator trade-off table (0 skips it).
    """
    t0 = time.perf_counter()
    run = Run.load(run_dir)
    out_dir = out_dir or os.path.join(run_dir, "compare")
    os.makedirs(out_dir, exist_ok=True)
    exact, reachable = handcrafted.accumulator(), handcrafted.reachable_accumulator()
    figures, md = [], [f"# Learned versus designed: `{run_dir}`", "",
                       f"{run.n_seeds} seeds, {run.config.epochs} epochs, "
                       f"seq_len {run.config.seq_len}, lr {run.config.learning_rate:g}.", ""]

    # canonical parameters
    vectors = canonical_vector(run.params)
    marks = {"exact accumulator": canonical_vector(exact),
             "reachable accumulator": canonical_vector(reachable),
             "blog seed 37": canonical_vector(BLOG_SEED37)}
    figures.append(_save(plots.parameter_distributions(vectors, CANONICAL_NAMES, marks),
                         out_dir, "parameters.png"))
    md += ["## Final canonical parameters", "",
           "Median and 10-90% range over seeds; canonical form: readout weight > 0, r/z biases "
           "merged (b_ih + b_hh).", ""]
    q = np.nanquantile(vectors, (0.1, 0.5, 0.9), axis=0)
    md += _md_table(["parameter", "seeds 10%", "median", "seeds 90%", "exact", "reachable",
                     "blog 37"],
                    [(n, q[0, i], q[1, i], q[2, i], *(float(m[i]) for m in marks.values()))
                     for i, n in enumerate(CANONICAL_NAMES)]) + [""]

    # census and behaviour
    census = strategy_census(run.params, np.asarray(run.train_loss)[:, -1],
                             high=run.config.high)
    refs = {"exact accumulator": update_gate_behaviour(exact),
            "reachable accumulator": update_gate_behaviour(reachable)}
    figures.append(_save(plots.behaviour_scatter(census.behaviour, census.labels, refs),
                         out_dir, "behaviour.png"))
    rows = census.table_rows()
    figures.append(_save(plots.census_bars([r[0] for r in rows], [r[2] for r in rows],
                                           [(r[3], r[4]) for r in rows], [r[1] for r in rows]),
                         out_dir, "census.png"))
    md += ["## Strategy census", "",
           "failed: final train loss >= 0.5 x the predict-the-mean baseline 1/6 (scaled); "
           "general: worst relative RMS error <= 0.1 on the probe grid (lengths 2, 3, 8, 16, 32 x "
           "flags 1, 2, 3, 5); length-specific: the rest.", ""]
    md += _md_table(["strategy", "seeds", "fraction", "95% low", "95% high",
                     "representative (index / seed)"],
                    [(s, c, f, lo, hi, "-" if rep is None else f"{rep} / {run.seeds[rep]}")
                     for s, c, f, lo, hi, rep in rows]) + [""]
    z = census.behaviour
    md += [f"Update gate (median over seeds): flag 0 {np.nanmedian(z[:, 0]):.3f}, flag 1 "
           f"{np.nanmedian(z[:, 1]):.3f}; seeds inside the blog's ranges ([0.77, 0.83] and "
           f"[0.14, 0.20]): {int(np.sum((z[:, 0] >= .77) & (z[:, 0] <= .83) & (z[:, 1] >= .14) & (z[:, 1] <= .20)))}.",
           ""]

    # trajectories
    traj = cmp.distance_trajectories(run)
    reps = [i for i in census.representative.values() if i is not None]
    figures.append(_save(plots.distance_bands(
        traj.epochs, traj.canonical, "distance (canonical coords / reachable caps)",
        "Distance to the reachable accumulator in weight space", reps), out_dir,
        "distance_canonical.png"))
    figures.append(_save(plots.distance_bands(
        traj.epochs, traj.behaviour_distance, "distance in (z at flag 0, z at flag 1)",
        "Distance to the accumulator's gate behaviour (1, 0)", reps), out_dir,
        "distance_behaviour.png"))
    md += ["## Distance to the hand-crafted set over epochs", "",
           "Canonical: Euclidean norm of (seed - reachable accumulator) / reachable caps. "
           "Behaviour: distance of (z flag 0, z flag 1) to the exact accumulator's (1, 0).", ""]
    md += _md_table(["epoch", "canonical median", "canonical min", "behaviour median",
                     "behaviour min"],
                    [(int(traj.epochs[j]), np.median(traj.canonical[:, j]),
                      np.min(traj.canonical[:, j]), np.median(traj.behaviour_distance[:, j]),
                      np.min(traj.behaviour_distance[:, j]))
                     for j in sorted({0, len(traj.epochs) // 2, len(traj.epochs) - 1})]) + [""]

    # generalization
    grid = coarse_held_out(n_per_cell)
    errors = relative_rms_error(run.params, grid)
    summary = np.nanmedian(errors.reshape(run.n_seeds, -1), axis=1)
    order = np.argsort(np.nan_to_num(summary, nan=np.inf))
    best, median = int(order[0]), int(order[len(order) // 2])
    hand = relative_rms_error(exact, grid)
    panels = {"exact accumulator": hand,
              f"median seed (index {median})": errors[median],
              f"best seed (index {best})": errors[best],
              "seeds within 5%": fraction_within(errors, 0.05)}
    figures.append(_save(plots.generalization_heatmaps(grid.lengths, grid.flag_counts, panels,
                                                       "seeds within 5%"),
                         out_dir, "generalization.png"))
    train_cell = (grid.lengths.index(4), grid.flag_counts.index(2)) if (
        4 in grid.lengths and 2 in grid.flag_counts) else None
    md += ["## Generalization (coarse grid: "
           f"{len(grid.lengths)} lengths x {len(grid.flag_counts)} flag counts, "
           f"{n_per_cell} sequences a cell)", ""]
    md += _md_table(["model", "median cell error", "worst cell error",
                     "length 4 / 2 flags error"],
                    [(name, float(np.nanmedian(e)), float(np.nanmax(e)),
                      float(e[train_cell]) if train_cell else float("nan"))
                     for name, e in (("exact accumulator", hand),
                                     ("reachable accumulator",
                                      relative_rms_error(reachable, grid)),
                                     (f"best seed {best}", errors[best]),
                                     (f"median seed {median}", errors[median]))]) + [""]

    # interpolation
    batch = cmp.training_batch(high=run.config.high)
    paths = {}
    for label, ref in (("to reachable accumulator", reachable), ("to exact accumulator", exact)):
        alphas, losses = cmp.interpolation_losses(run.params, ref, batch=batch,
                                                  high=run.config.high)
        paths[label] = losses
    figures.append(_save(plots.interpolation_paths(alphas, paths), out_dir, "interpolation.png"))
    md += ["## Loss along the straight path seed -> hand-crafted (canonical coordinates)", "",
           "Barrier: max loss on the path minus the larger end loss (scaled units).", ""]
    md += _md_table(["path", "median barrier", "fraction with barrier > 0.01",
                     "median loss at alpha 0.5"],
                    [(label, float(np.median(cmp.barrier_height(l))),
                      float(np.mean(cmp.barrier_height(l) > 0.01)),
                      float(np.median(l[:, len(alphas) // 2]))) for label, l in paths.items()]
                    ) + [""]

    # stability
    if stability_epochs > 0:
        import dataclasses
        cfg = dataclasses.replace(run.config, epochs=stability_epochs,
                                  eval_every=min(run.config.eval_every, stability_epochs))
        stab = cmp.stability_runs(reachable, cfg, n=stability_runs, scale=stability_scale)
        s = cmp.stability_summary(stab, reachable)
        md += [f"## Stability: the protocol started from the reachable accumulator "
               f"({stability_epochs} epochs; run 0 exact, the rest perturbed by "
               f"{stability_scale:.1%} of each coordinate's cap)",
               ""]
        md += _md_table(["run", "start distance", "final distance", "final train loss",
                         "z flag 0", "z flag 1"],
                        [(i, s["start_distance"][i], s["final_distance"][i],
                          s["final_train_loss"][i], s["final_behaviour"][i, 0],
                          s["final_behaviour"][i, 1]) for i in range(stability_runs)]) + [""]
        epochs, params = cmp.with_initial(stab)
        figures.append(_save(plots.distance_bands(
            epochs, cmp.canonical_distance(params, reachable),
            "distance (canonical coords / reachable caps)",
            "Stability: drift from the reachable accumulator under the protocol", [0]),
            out_dir, "stability.png"))

    # the hand-crafted trade-off
    if tradeoff_n_per_cell > 0:
        rows = handcrafted.tradeoff_table(held_out=coarse_held_out(tradeoff_n_per_cell))
        figures.append(_save(plots.tradeoff_plot(rows), out_dir, "tradeoff.png"))
        md += [f"## The accumulator's trade-off (coarse grid, {tradeoff_n_per_cell} sequences "
               "a cell)", "", handcrafted.format_table(rows), ""]
    md += ["## Figures", ""] + [f"![{f}]({f})" for f in figures] + [
        "", f"Computed in {time.perf_counter() - t0:.0f} s."]
    path = os.path.join(out_dir, "compare.md")
    with open(path, "w") as handle:
        handle.write("\n".join(md) + "\n")
    return path


def register(subparsers) -> None:
    """Add ``compare RUN_DIR`` to the CLI's subparsers."""
    parser = subparsers.add_parser("compare", help="learned seeds vs the hand-crafted "
                                                   "accumulators: figures + compare.md")
    parser.add_argument("run_dir")
    parser.add_argument("--out", default=None, help="output folder (default RUN_DIR/compare)")
    parser.add_argument("--stability-epochs", type=int, default=98,
                        help="epochs of the stability runs from the hand-crafted set (0: skip)")
    parser.add_argument("--stability-runs", type=int, default=8)
    parser.add_argument("--n-per-cell", type=int, default=200,
                        help="sequences per cell of the generalization grid")
    parser.set_defaults(func=lambda args: print(run_compare(
        args.run_dir, args.out, args.stability_epochs, args.stability_runs, args.n_per_cell)))
