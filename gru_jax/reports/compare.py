"""``gru-jax compare RUN_DIR``: the learned seeds against the hand-crafted accumulators.

:func:`run_compare` writes ``compare.md`` and its figures (PNG) under ``RUN_DIR/compare/``:
final canonical parameters, the strategy census and gate behaviour, distances over training,
generalization, the loss along straight paths to the designed sets, the stability of the
designed set under the protocol (short training runs) and the accumulator's trade-off.
"""
from __future__ import annotations

import dataclasses
import os
import time
from typing import Optional

import numpy as np

from .. import handcrafted
from ..analysis import reference as ref
from ..analysis.canonical import CANONICAL_NAMES, canonical_vector
from ..analysis.census import run_census, update_gate_behaviour
from ..analysis.generalization import coarse_held_out, fraction_within, relative_rms_error
from ..analysis.tradeoff import tradeoff_table
from ..blog import SEED37_STATE_DICT, Z_FLAG0, Z_FLAG1
from ..files import write_text
from ..interop import from_state_dict
from ..plots import reference as plots
from ..run import Run
from ..train import train
from .markdown import dict_table, save_figure, table


@dataclasses.dataclass(frozen=True)
class CompareOptions:
    """What :func:`run_compare` computes besides the always-cheap sections.

    stability_epochs: epochs of the stability runs (the run's protocol, shortened); 0 skips.
    stability_runs: runs from the reachable accumulator (1 exact + perturbations).
    stability_scale: perturbation std as a fraction of each coordinate's reachable cap.
    n_per_cell: sequences per cell of the coarse generalization grid.
    tradeoff_n_per_cell: the same for the accumulator trade-off table (0 skips it).
    """

    stability_epochs: int = 98
    stability_runs: int = 8
    stability_scale: float = 0.005
    n_per_cell: int = 200
    tradeoff_n_per_cell: int = 100


class _Page:
    """The Markdown lines and the figures of the comparison, saved into ``out_dir``."""

    def __init__(self, out_dir: str):
        self.out_dir, self.md, self.figures = out_dir, [], []

    def figure(self, fig, name: str) -> None:
        save_figure(fig, os.path.join(self.out_dir, name))
        self.figures.append(name)

    def add(self, *lines: str) -> None:
        self.md.extend(lines)


def run_compare(run_dir: str, out_dir: Optional[str] = None,
                options: CompareOptions = CompareOptions(), census=None) -> str:
    """Compare a run with the hand-crafted sets; returns the path of the Markdown file.

    Args:
      run_dir: a saved :class:`gru_jax.Run` of hidden size 1.
      out_dir: default ``RUN_DIR/compare``.
      options: see :class:`CompareOptions`.
      census: the run's :func:`gru_jax.analysis.census.run_census`, if already computed.
    """
    t0 = time.perf_counter()
    run = Run.load(run_dir)
    census = census if census is not None else run_census(run)
    out_dir = out_dir or os.path.join(run_dir, "compare")
    os.makedirs(out_dir, exist_ok=True)
    page = _Page(out_dir)
    page.add(f"# Learned versus designed: `{run_dir}`", "",
             f"{run.n_seeds} seeds, {run.config.epochs} epochs, seq_len {run.config.seq_len}, "
             f"lr {run.config.learning_rate:g}.", "")
    exact, reachable = handcrafted.accumulator(), handcrafted.reachable_accumulator()
    _parameters(page, run, exact, reachable)
    _census(page, run, census, exact, reachable)
    _distances(page, run, census)
    _generalization(page, run, exact, reachable, options.n_per_cell)
    _interpolation(page, run, exact, reachable)
    if options.stability_epochs > 0:
        _stability(page, run, reachable, options)
    if options.tradeoff_n_per_cell > 0:
        rows = tradeoff_table(held_out=coarse_held_out(options.tradeoff_n_per_cell))
        page.figure(plots.tradeoff_plot(rows), "tradeoff.png")
        page.add(f"## The accumulator's trade-off (coarse grid, {options.tradeoff_n_per_cell} "
                 "sequences a cell)", "", dict_table(rows), "")
    page.add("## Figures", "", *[f"![{f}]({f})" for f in page.figures], "",
             f"Computed in {time.perf_counter() - t0:.0f} s.")
    return write_text(os.path.join(out_dir, "compare.md"), "\n".join(page.md) + "\n")


def _parameters(page: _Page, run: Run, exact, reachable) -> None:
    vectors = canonical_vector(run.params)
    marks = {"exact accumulator": canonical_vector(exact),
             "reachable accumulator": canonical_vector(reachable),
             "blog seed 37": canonical_vector(from_state_dict(SEED37_STATE_DICT))}
    page.figure(plots.parameter_distributions(vectors, CANONICAL_NAMES, marks), "parameters.png")
    q = np.nanquantile(vectors, (0.1, 0.5, 0.9), axis=0)
    page.add("## Final canonical parameters", "",
             "Median and 10-90% range over seeds; canonical form: readout weight > 0, r/z biases "
             "merged (b_ih + b_hh).", "",
             table(["parameter", "seeds 10%", "median", "seeds 90%", "exact", "reachable",
                    "blog 37"],
                   [(n, q[0, i], q[1, i], q[2, i], *(float(m[i]) for m in marks.values()))
                    for i, n in enumerate(CANONICAL_NAMES)]))


def _census(page: _Page, run: Run, census, exact, reachable) -> None:
    refs = {"exact accumulator": update_gate_behaviour(exact),
            "reachable accumulator": update_gate_behaviour(reachable)}
    page.figure(plots.behaviour_scatter(census.behaviour, census.labels, refs), "behaviour.png")
    rows = census.table_rows()
    page.figure(plots.census_bars([r[0] for r in rows], [r[2] for r in rows],
                                  [(r[3], r[4]) for r in rows], [r[1] for r in rows]),
                "census.png")
    z = census.behaviour
    inside = ((z[:, 0] >= Z_FLAG0[0]) & (z[:, 0] <= Z_FLAG0[1]) & (z[:, 1] >= Z_FLAG1[0])
              & (z[:, 1] <= Z_FLAG1[1]))
    page.add("## Strategy census", "",
             "failed: final train loss >= 0.5 x the predict-the-mean baseline 1/6 (scaled); "
             "general: worst relative RMS error <= 0.1 on the probe grid (lengths 2, 3, 8, 16, 32 "
             "x flags 1, 2, 3, 5); length-specific: the rest.", "",
             table(["strategy", "seeds", "fraction", "95% low", "95% high",
                    "representative (index / seed)"],
                   [(s, c, f, lo, hi, "-" if rep is None else f"{rep} / {run.seeds[rep]}")
                    for s, c, f, lo, hi, rep in rows]),
             f"Update gate (median over seeds): flag 0 {np.nanmedian(z[:, 0]):.3f}, flag 1 "
             f"{np.nanmedian(z[:, 1]):.3f}; seeds inside the blog's ranges ({list(Z_FLAG0)} and "
             f"{list(Z_FLAG1)}): {int(np.sum(inside))}.", "")


def _distances(page: _Page, run: Run, census) -> None:
    traj = ref.distance_trajectories(run)
    reps = [i for i in census.representative.values() if i is not None]
    page.figure(plots.distance_bands(
        traj.epochs, traj.canonical, "distance (canonical coords / reachable caps)",
        "Distance to the reachable accumulator in weight space", reps), "distance_canonical.png")
    page.figure(plots.distance_bands(
        traj.epochs, traj.behaviour_distance, "distance in (z at flag 0, z at flag 1)",
        "Distance to the accumulator's gate behaviour (1, 0)", reps), "distance_behaviour.png")
    columns = sorted({0, len(traj.epochs) // 2, len(traj.epochs) - 1})
    page.add("## Distance to the hand-crafted set over epochs", "",
             "Canonical: Euclidean norm of (seed - reachable accumulator) / reachable caps. "
             "Behaviour: distance of (z flag 0, z flag 1) to the exact accumulator's (1, 0).", "",
             table(["epoch", "canonical median", "canonical min", "behaviour median",
                    "behaviour min"],
                   [(int(traj.epochs[j]), np.median(traj.canonical[:, j]),
                     np.min(traj.canonical[:, j]), np.median(traj.behaviour_distance[:, j]),
                     np.min(traj.behaviour_distance[:, j])) for j in columns]))


def _generalization(page: _Page, run: Run, exact, reachable, n_per_cell: int) -> None:
    grid = coarse_held_out(n_per_cell)
    errors = relative_rms_error(run.params, grid)
    summary = np.nanmedian(errors.reshape(run.n_seeds, -1), axis=1)
    order = np.argsort(np.nan_to_num(summary, nan=np.inf))
    best, median = int(order[0]), int(order[len(order) // 2])
    hand = relative_rms_error(exact, grid)
    panels = {"exact accumulator": hand, f"median seed (index {median})": errors[median],
              f"best seed (index {best})": errors[best],
              "seeds within 5%": fraction_within(errors, 0.05)}
    page.figure(plots.generalization_heatmaps(grid.lengths, grid.flag_counts, panels,
                                              "seeds within 5%"), "generalization.png")
    train_cell = ((grid.lengths.index(4), grid.flag_counts.index(2))
                  if 4 in grid.lengths and 2 in grid.flag_counts else None)
    models = (("exact accumulator", hand),
              ("reachable accumulator", relative_rms_error(reachable, grid)),
              (f"best seed {best}", errors[best]), (f"median seed {median}", errors[median]))
    page.add(f"## Generalization (coarse grid: {len(grid.lengths)} lengths x "
             f"{len(grid.flag_counts)} flag counts, {n_per_cell} sequences a cell)", "",
             table(["model", "median cell error", "worst cell error", "length 4 / 2 flags error"],
                   [(name, float(np.nanmedian(e)), float(np.nanmax(e)),
                     float(e[train_cell]) if train_cell else float("nan"))
                    for name, e in models]))


def _interpolation(page: _Page, run: Run, exact, reachable) -> None:
    batch = ref.training_batch(high=run.config.high)
    paths = {}
    for label, target in (("to reachable accumulator", reachable),
                          ("to exact accumulator", exact)):
        alphas, paths[label] = ref.interpolation_losses(run.params, target, batch=batch,
                                                        high=run.config.high)
    page.figure(plots.interpolation_paths(alphas, paths), "interpolation.png")
    page.add("## Loss along the straight path seed -> hand-crafted (canonical coordinates)", "",
             "Barrier: max loss on the path minus the larger end loss (scaled units).", "",
             table(["path", "median barrier", "fraction with barrier > 0.01",
                    "median loss at alpha 0.5"],
                   [(label, float(np.median(ref.barrier_height(losses))),
                     float(np.mean(ref.barrier_height(losses) > 0.01)),
                     float(np.median(losses[:, len(alphas) // 2])))
                    for label, losses in paths.items()]))


def _stability(page: _Page, run: Run, reachable, options: CompareOptions) -> None:
    """Train the run's protocol (shortened) from the reachable accumulator and perturbations
    of it, and report the drift."""
    epochs, n = options.stability_epochs, options.stability_runs
    cfg = dataclasses.replace(run.config, epochs=epochs,
                              eval_every=min(run.config.eval_every, epochs))
    start = ref.perturbed_copies(reachable, n, options.stability_scale)
    stab = train(cfg, seeds=range(n), init=start, progress=False)
    s = ref.stability_summary(stab, reachable)
    page.add(f"## Stability: the protocol started from the reachable accumulator ({epochs} "
             f"epochs; run 0 exact, the rest perturbed by {options.stability_scale:.1%} of each "
             "coordinate's cap)", "",
             table(["run", "start distance", "final distance", "final train loss", "z flag 0",
                    "z flag 1"],
                   [(i, s["start_distance"][i], s["final_distance"][i],
                     s["final_train_loss"][i], s["final_behaviour"][i, 0],
                     s["final_behaviour"][i, 1]) for i in range(n)]))
    snap_epochs, params = ref.with_initial(stab)
    page.figure(plots.distance_bands(
        snap_epochs, ref.canonical_distance(params, reachable),
        "distance (canonical coords / reachable caps)",
        "Stability: drift from the reachable accumulator under the protocol", [0]),
        "stability.png")
