"""``gru-jax compare RUN_DIR``: the learned seeds against the hand-crafted accumulators.

:func:`run_compare` writes ``compare.md`` and its figures (PNG) under ``RUN_DIR/compare/``:
first the discovered strategy census (:func:`gru_jax.reports.census.census_lead`, the same
section that leads the report), then final canonical parameters, gate behaviour, fixed points,
distances over training (seeds coloured by strategy), generalization, the loss along straight
paths to the designed sets, the stability of the designed set under the protocol (short
training runs) and the accumulator's trade-off.
"""
from __future__ import annotations

import contextlib
import dataclasses
import os
import time
from typing import Optional

import jax
import numpy as np

from .. import handcrafted
from ..analysis import reference as ref
from ..analysis import symmetry
from ..analysis.cache import cached_census
from ..analysis.ensemble import final_train_loss, headline, readable_coordinates
from ..analysis.features import gates_and_route, medoid_reference
from ..analysis.slow_points import fixed_point_summary
from ..analysis.symmetry import canonical_names, canonical_vector
from ..analysis.thresholds import update_gate_behaviour
from ..analysis.generalization import coarse_held_out, fraction_within, relative_rms_error
from ..analysis.tradeoff import tradeoff_table
from ..blog import SEED37_STATE_DICT
from ..files import write_json, write_text
from ..interop import from_state_dict
from ..plots import reference as plots
from ..run import Run
from .census import census_lead, lead_figures
from .markdown import dict_table, save_figure, table


@dataclasses.dataclass(frozen=True)
class CompareOptions:
    """What :func:`run_compare` computes besides the always-cheap sections.

    stability_epochs: epochs of the stability runs (the run's protocol, shortened); 0 skips.
    stability_runs: runs from the reachable accumulator (1 exact + perturbations).
    stability_scale: perturbation std as a fraction of each coordinate's reachable cap.
    n_per_cell: sequences per cell of the coarse generalization grid.
    tradeoff_n_per_cell: the same for the accumulator trade-off table (0, the default, skips
      it: it describes the accumulator, not the run, and costs ~10 s).
    figure_formats: also write every figure as svg and/or pdf beside its PNG.
    """

    stability_epochs: int = 98
    stability_runs: int = 8
    stability_scale: float = 0.005
    n_per_cell: int = 200
    tradeoff_n_per_cell: int = 0
    figure_formats: tuple = ()


class _Page:
    """The Markdown lines and the figures of the comparison, saved into ``out_dir``."""

    def __init__(self, out_dir: str, formats=()):
        self.out_dir, self.formats = out_dir, tuple(formats)
        self.md, self.figures, self.keys, self.timings = [], [], [], {}

    @contextlib.contextmanager
    def timed(self, part: str):
        """Add the wall time of the enclosed block to ``timings[part]`` (seconds)."""
        start = time.perf_counter()
        yield
        self.timings[part] = self.timings.get(part, 0.0) + time.perf_counter() - start

    def key(self, question: str, answer: str) -> None:
        """A row of the first page's table of key numbers."""
        self.keys.append((question, answer))

    def figure(self, fig, name: str) -> None:
        save_figure(fig, os.path.join(self.out_dir, name), formats=self.formats)
        self.figures.append(name)

    def add(self, *lines: str) -> None:
        self.md.extend(lines)


def run_compare(run_dir: str, out_dir: Optional[str] = None,
                options: CompareOptions = CompareOptions(), census=None,
                stability: Optional[Run] = None) -> str:
    """Compare a run with the hand-crafted sets; returns the path of the Markdown file.

    Args:
      run_dir: a saved :class:`gru_jax.Run`, any hidden size (at H > 1 the parameters are
        aligned to the ensemble's medoid, distances and paths are in aligned coordinates, and
        the stability runs, which start from the one-unit reachable accumulator, are skipped).
      out_dir: default ``RUN_DIR/compare``.
      options: see :class:`CompareOptions`.
      census: the run's discovered census (:func:`gru_jax.analysis.census`), if already
        computed (the pipeline computes it once for the comparison and the report).
      stability: the stability runs (:func:`gru_jax.stability.comparison_stability` of the
        run's Config and ``options``), trained by the caller: the comparison never trains.
        None with ``options.stability_epochs > 0`` at H = 1: the section says how to add them.
    """
    t0 = time.perf_counter()
    run = Run.load(run_dir)
    if np.all(run.diverged):
        raise ValueError(f"compare {run_dir}: all {run.n_seeds} seeds diverged (their losses "
                         "are NaN); there is nothing learned to compare")
    census = census if census is not None else cached_census(run_dir, run)
    out_dir = out_dir or os.path.join(run_dir, "compare")
    os.makedirs(out_dir, exist_ok=True)
    page = _Page(out_dir, options.figure_formats)
    page.add(f"# Learned versus designed, in detail: `{run_dir}`", "",
             "[back to the comparison's first page](compare.md)", "",
             f"{run.n_seeds} seeds, {run.config.epochs} epochs, seq_len {run.config.seq_len}, "
             f"lr {run.config.learning_rate:g}.", "")
    lead_md = []
    with page.timed("census lead"):
        for fig, name, caption in lead_figures(census, run.config.epochs - 1):
            page.figure(fig, name)
            lead_md.append(f"![{name}]({name})\n\n*{caption}*\n")
        page.add(census_lead(census, headline(run), "\n".join(lead_md)), "")
    hidden = run.config.hidden_size
    exact = handcrafted.accumulator(hidden_size=hidden)
    reachable = handcrafted.reachable_accumulator()        # one unit: the protocol's reach
    with page.timed("parameters"):
        _parameters(page, run, census)
    with page.timed("behaviour"):
        _behaviour(page, run, census, exact, reachable)
    with page.timed("fixed points"):
        _fixed_points(page, run, census, exact, out_dir)
    with page.timed("distances"):
        _distances(page, run, census)
    with page.timed("generalization"):
        _generalization(page, run, census, exact, reachable, options.n_per_cell)
    with page.timed("interpolation"):
        _interpolation(page, run, exact, reachable)
    if options.stability_epochs > 0 and hidden == 1 and stability is not None:
        with page.timed("stability (report of the runs)"):
            _stability(page, stability, reachable, options)
    elif options.stability_epochs > 0 and hidden == 1:
        page.add("## Stability", "", "(Not run: the stability runs train; pass them as "
                 "`stability=gru_jax.stability.comparison_stability(run.config, options)`, as "
                 "`gru-jax compare` does.)", "")
    elif options.stability_epochs > 0:
        page.add("## Stability", "", "(Skipped: the stability runs start from the reachable "
                 "accumulator, which is designed for one hidden unit; this run has "
                 f"H = {hidden}.)", "")
    if options.tradeoff_n_per_cell > 0:
        with page.timed("trade-off table"):
            rows = tradeoff_table(held_out=coarse_held_out(options.tradeoff_n_per_cell))
        page.figure(plots.tradeoff_plot(rows), "tradeoff.png")
        page.add(f"## The accumulator's trade-off (coarse grid, {options.tradeoff_n_per_cell} "
                 "sequences a cell)", "", dict_table(rows), "")
    page.add("## Figures", "", *[f"![{f}]({f})" for f in page.figures], "",
             f"Computed in {time.perf_counter() - t0:.0f} s.")
    page.timings["total"] = time.perf_counter() - t0
    write_json(os.path.join(out_dir, TIMINGS), page.timings)
    write_text(os.path.join(out_dir, DETAILS), "\n".join(page.md) + "\n")
    return write_text(os.path.join(out_dir, "compare.md"), _first_page(run, run_dir, census,
                                                                       page))


#: The comparison's appendix: every section, the census lead first.
DETAILS = "details.md"
#: Seconds per section of the comparison (the profile of issue 23).
TIMINGS = "timings.json"
#: The first page's figures: (file, caption).
FIRST_PAGE_FIGURES = (
    ("behaviour.png", "Every seed in the behaviour plane by family; stars: the accumulators."),
    ("parameters.png", "Final parameters stacked by family, with the accumulators' values."),
    ("generalization.png", "Relative error over lengths x flag counts: the exact accumulator, "
                           "the median and the best seed, and the share of seeds within 5%."),
    ("interpolation.png", "The training loss along the straight path from each seed to the "
                          "accumulators: the barrier between learned and designed."))


def _first_page(run: Run, run_dir: str, census, page: _Page) -> str:
    """``compare.md``: one page of key numbers and four figures; the rest in details.md."""
    legend = census.legend("family")
    figures = [f"![{name}]({name})\n\n*{caption}*\n" for name, caption in FIRST_PAGE_FIGURES
               if name in page.figures]
    return "\n".join([
        f"# Learned versus designed: `{run_dir}`\n",
        f"{run.n_seeds} seeds (families: " + "; ".join(
            f"{legend[f]} {census.family_fractions[f]:.0%}" for f in range(census.n_families))
        + ") against the hand-crafted accumulators: the exact one (`handcrafted.accumulator`, "
        "any length and flag count) and the reachable one (finite weights the protocol can "
        "hold).\n",
        table(["question", "over the ensemble"], page.keys), *figures,
        f"Everything else (the census in full, every table and figure): [{DETAILS}]({DETAILS}).",
        ""])


def weights(run: Run):
    """The seeds' final parameters beside the accumulators': ``(vectors (S, P), names, marks
    {label: (P,)}, shown (indices drawn), aligned)``. Hidden size 1: canonical coordinates, with
    the exact and reachable accumulators and the blog's seed 37; H > 1: every seed aligned
    (signed permutation of units) to the ensemble's medoid, with the exact accumulator aligned
    the same way; beyond 40 coordinates only unit u0's are drawn."""
    hidden = run.config.hidden_size
    exact = handcrafted.accumulator(hidden_size=hidden)
    if hidden == 1:
        marks = {"exact accumulator": canonical_vector(exact),
                 "reachable accumulator": canonical_vector(handcrafted.reachable_accumulator()),
                 "blog seed 37": canonical_vector(from_state_dict(SEED37_STATE_DICT))}
        names = list(canonical_names(1))
        return canonical_vector(run.params), names, marks, list(range(len(names))), False
    reference = medoid_reference(run.params)
    names = canonical_names(hidden)
    vectors = symmetry.coordinates(symmetry.align(run.params, reference))
    marks = {"exact accumulator (aligned)": symmetry.coordinates(
        symmetry.align(exact, reference))}
    return vectors, names, marks, readable_coordinates(names), True


def weights_figure(run: Run, census):
    """The histogram of every final parameter, stacked by family, with the references."""
    vectors, names, marks, shown, _ = weights(run)
    return plots.parameter_distributions(vectors[:, shown], [names[i] for i in shown],
                                         {k: np.asarray(v)[shown] for k, v in marks.items()},
                                         labels=census.families,
                                         strategy_names=census.legend("family"))


def _parameters(page: _Page, run: Run, census) -> None:
    vectors, names, marks, shown, aligned = weights(run)
    page.figure(weights_figure(run, census), "parameters.png")
    q = np.nanquantile(vectors, (0.1, 0.5, 0.9), axis=0)
    if not aligned:
        page.add("## Final canonical parameters", "",
                 "Median and 10-90% range over seeds; canonical form: readout weight > 0, r/z "
                 "biases merged (b_ih + b_hh).", "")
    else:
        page.add("## Final parameters, aligned", "",
                 f"Hidden size {run.config.hidden_size}: each seed's units are matched (a signed "
                 "permutation, by linear assignment: `gru_jax.analysis.align`) to those of the "
                 "ensemble's medoid in canonical form (unit u0: its largest readout weight); r/z "
                 "biases merged. Median and 10-90% range over seeds"
                 + ("; the figure shows unit u0 and b_out only." if len(shown) < len(names)
                    else "."), "")
    page.add(table(["parameter", "seeds 10%", "median", "seeds 90%", *marks],
                   [(n, q[0, i], q[1, i], q[2, i], *(float(m[i]) for m in marks.values()))
                    for i, n in enumerate(names)]))


def accumulator_behaviour(high: int, hidden: int = 1) -> dict:
    """The accumulators' place in the behaviour plane: ``{label: (z flag 0, z flag 1)}``."""
    return {"exact accumulator": gates_and_route(handcrafted.accumulator(hidden_size=hidden),
                                                 high)[:2],
            "reachable accumulator": gates_and_route(handcrafted.reachable_accumulator(),
                                                     high)[:2]}


def _fixed_points(page: _Page, run: Run, census, exact, out_dir: str) -> None:
    """Per seed: fixed points of the step at flag 0 and flag 1 (value 0), the leading
    eigenvalue and the leak at the flag-0 point nearest 0; per-seed CSV, ensemble table and a
    figure coloured by strategy."""
    summary = fixed_point_summary(run.params, high=run.config.high)
    hand = fixed_point_summary(exact, high=run.config.high)
    write_text(os.path.join(out_dir, "fixed_points.csv"), "seed,family,strategy,threshold_class,"
               "n_flag0,n_flag1,leading_eigenvalue_flag0,leading_is_real,leak_per_step\n"
               + "".join(
                   f"{seed},{census.family_labels[family]},{census.strategy_labels[label]},"
                   f"{cls},{a},{b},{ev:.6g},{bool(real)},{leak:.6g}\n"
                   for seed, family, label, cls, a, b, ev, real, leak in zip(
                       run.seeds, census.families, census.labels, census.threshold_labels,
                       summary.n_flag0,
                       summary.n_flag1, summary.leading_eigenvalue, summary.leading_is_real,
                       summary.leak)))
    page.figure(plots.leading_eigenvalues(summary.leading_eigenvalue, final_train_loss(run),
                                          census.families,
                                          {"exact accumulator": float(hand.leading_eigenvalue)},
                                          census.legend("family")),
                "fixed_points.png")
    qs = (0.05, 0.25, 0.5, 0.75, 0.95)
    rows = []
    for label, values in (("leading eigenvalue at flag 0", summary.leading_eigenvalue),
                          ("leak per flag-0 step", summary.leak),
                          ("fixed points at flag 0", summary.n_flag0.astype(float)),
                          ("fixed points at flag 1", summary.n_flag1.astype(float))):
        finite = values[np.isfinite(values)]
        rows.append((label, *(np.quantile(finite, qs) if finite.size else [np.nan] * 5)))
    eig = np.asarray(summary.leading_eigenvalue, np.float64)
    page.key("How well do seeds hold a sum?",
             f"flag-0 leading eigenvalue median {np.nanmedian(eig):.3f} (5-95% "
             f"{np.nanquantile(eig, 0.05):.3f}-{np.nanquantile(eig, 0.95):.3f}); above 0.99 in "
             f"{int(np.sum(eig > 0.99))} of {len(eig)}; the exact accumulator: "
             f"{float(hand.leading_eigenvalue):.4f}")
    page.add("## Fixed points: how a seed holds a sum", "",
             "For a constant input (value 0, flag 0 or 1) the step h -> h' has fixed points; at "
             "the flag-0 point nearest h = 0 the Jacobian's leading eigenvalue says how much of "
             "a stored sum survives a step without a flag (1: all of it, a line attractor; the "
             f"exact accumulator: {float(hand.leading_eigenvalue):.4f}). Found from many starts "
             "by `gru_jax.analysis.fixed_point_summary`; per seed in `fixed_points.csv`.", "",
             table(["quantity", "q5", "q25", "median", "q75", "q95"], rows))


def _behaviour(page: _Page, run: Run, census, exact, reachable) -> None:
    """The update gate's mean at flag-0 and flag-1 steps per seed (the census's ``z_flag0``,
    ``z_flag1`` features: at H > 1 weighted by |readout|), coloured by strategy."""
    refs = accumulator_behaviour(run.config.high, run.config.hidden_size)
    z = census.features[:, [census.feature_names.index("z_flag0"),
                            census.feature_names.index("z_flag1")]]
    page.figure(plots.behaviour_scatter(z, census.families, refs, census.legend("family"),
                                        census.threshold_labels), "behaviour.png")
    page.key("Where do seeds sit in the behaviour plane?",
             f"mean update gate, median over seeds: {np.nanmedian(z[:, 0]):.3f} at unflagged and "
             f"{np.nanmedian(z[:, 1]):.3f} at flagged steps; the exact accumulator: "
             f"{refs['exact accumulator'][0]:.3f} / {refs['exact accumulator'][1]:.3f}")
    page.add("## Update-gate behaviour", "",
             "![behaviour.png](behaviour.png)", "",
             "*Mean update gate per seed at flag-0 steps (x) and flag-1 steps (y) on the "
             "length-4, 2-flag probe (at hidden size > 1 units weighted by |readout weight|), "
             "coloured by strategy; marker: the threshold class. The dashed box is drawn at "
             "the blog's published first-step ranges for orientation only: a seed has the "
             "blog's gate ranges when its FIRST-STEP z over all values lies in them (the count "
             "in the census section), not when its mean z on a sequence does.*", "",
             f"Mean update gate, median over seeds: flag 0 {np.nanmedian(z[:, 0]):.3f}, flag 1 "
             f"{np.nanmedian(z[:, 1]):.3f}.", "")


def _distances(page: _Page, run: Run, census) -> None:
    if run.config.hidden_size > 1:
        _behaviour_distances(page, run, census)
        return
    traj = ref.distance_trajectories(run)
    by = dict(labels=census.families, names=census.legend("family"))
    page.figure(plots.distance_bands(
        traj.epochs, traj.canonical, "distance (canonical coords / reachable caps)",
        "Distance to the reachable accumulator in weight space", **by), "distance_canonical.png")
    page.figure(plots.distance_bands(
        traj.epochs, traj.behaviour_distance, "distance in (z at flag 0, z at flag 1)",
        "Distance to the accumulator's gate behaviour (1, 0)", **by), "distance_behaviour.png")
    columns = sorted({0, len(traj.epochs) // 2, len(traj.epochs) - 1})
    page.add("## Distance to the hand-crafted set over epochs", "",
             "Canonical: Euclidean norm of (seed - reachable accumulator) / reachable caps. "
             "Behaviour: distance of (z flag 0, z flag 1) to the exact accumulator's (1, 0).", "",
             table(["epoch", "canonical median", "canonical min", "behaviour median",
                    "behaviour min"],
                   [(int(traj.epochs[j]), np.median(traj.canonical[:, j]),
                     np.min(traj.canonical[:, j]), np.median(traj.behaviour_distance[:, j]),
                     np.min(traj.behaviour_distance[:, j])) for j in columns]))


def _behaviour_distances(page: _Page, run: Run, census) -> None:
    """H > 1: the distance of each seed's gate behaviour to the accumulator's over training
    (weight-space distances need the one-unit reachable caps)."""
    epochs, params = ref.with_initial(run)
    behaviour = update_gate_behaviour(params, high=run.config.high)
    distance = np.sqrt(np.sum((behaviour - np.array([1.0, 0.0])) ** 2, axis=-1))
    page.figure(plots.distance_bands(
        epochs, distance, "distance in (z at flag 0, z at flag 1)",
        "Distance to the accumulator's gate behaviour (1, 0)", labels=census.families,
        names=census.legend("family")), "distance_behaviour.png")
    columns = sorted({0, len(epochs) // 2, len(epochs) - 1})
    page.add("## Distance to the hand-crafted set over epochs", "",
             "Behaviour: distance of (mean z at flag 0, at flag 1; averaged over units) to the "
             "accumulator's (1, 0). (Weight-space distances are scaled by the one-unit reachable "
             "caps and are not defined at this hidden size.)", "",
             table(["epoch", "behaviour median", "behaviour min"],
                   [(int(epochs[j]), np.median(distance[:, j]), np.min(distance[:, j]))
                    for j in columns]))


def _same_shapes(a, b) -> bool:
    """Two params pytrees with the same structure and leaf shapes."""
    shapes = [jax.tree_util.tree_map(np.shape, t) for t in (a, b)]
    return shapes[0] == shapes[1]


#: The coarse grid (lengths up to 100) is evaluated on at most this many seeds: a uniform
#: sample (numpy ``default_rng(0)``) plus the seed with the smallest probe-grid error.
GENERALIZATION_SAMPLE = 256


def _generalization(page: _Page, run: Run, census, exact, reachable, n_per_cell: int) -> None:
    grid = coarse_held_out(n_per_cell)
    count = run.n_seeds
    chosen = np.arange(count)
    if count > GENERALIZATION_SAMPLE:
        chosen = np.random.default_rng(0).choice(count, GENERALIZATION_SAMPLE, replace=False)
        if census.probe_error is not None and np.isfinite(census.probe_error).any():
            chosen = np.union1d(chosen, [int(np.nanargmin(census.probe_error))])
    chosen = np.sort(chosen)
    # the seeds and the accumulators in one call where their shapes agree (the one-unit
    # reachable accumulator beside a wider run cannot join): one compile per length bucket
    singles = [exact, reachable] if _same_shapes(reachable, exact) else [exact]
    every = jax.tree_util.tree_map(
        lambda p, *one: np.concatenate([np.asarray(o)[None] for o in one]
                                       + [np.asarray(p)[chosen]]), run.params, *singles)
    all_errors = relative_rms_error(every, grid)
    hand, errors = all_errors[0], all_errors[len(singles):]
    reachable_errors = (all_errors[1] if len(singles) == 2
                        else relative_rms_error(reachable, grid))
    summary = np.nanmedian(errors.reshape(len(chosen), -1), axis=1)
    order = np.argsort(np.nan_to_num(summary, nan=np.inf))
    best, median = int(order[0]), int(order[len(order) // 2])
    best_seed, median_seed = int(run.seeds[chosen[best]]), int(run.seeds[chosen[median]])
    sampled = (f" ({len(chosen)} of the {count} seeds: a uniform sample and the seed with the "
               "smallest probe-grid error)" if len(chosen) < count else "")
    panels = {"exact accumulator": hand, f"median seed ({median_seed})": errors[median],
              f"best seed ({best_seed})": errors[best],
              "seeds within 5%" + (" (sample)" if sampled else ""): fraction_within(errors,
                                                                                  0.05)}
    page.figure(plots.generalization_heatmaps(grid.lengths, grid.flag_counts, panels,
                                              list(panels)[-1]), "generalization.png")
    train_cell = ((grid.lengths.index(4), grid.flag_counts.index(2))
                  if 4 in grid.lengths and 2 in grid.flag_counts else None)
    models = (("exact accumulator", hand),
              ("reachable accumulator", reachable_errors),
              (f"best seed {best_seed}", errors[best]),
              (f"median seed {median_seed}", errors[median]))
    page.key("How far from adding are they?",
             f"median cell error: the median seed ({median_seed}) "
             f"{float(np.nanmedian(errors[median])):.3g}, the best ({best_seed}) "
             f"{float(np.nanmedian(errors[best])):.3g} (worst cell "
             f"{float(np.nanmax(errors[best])):.3g}), the reachable accumulator "
             f"{float(np.nanmedian(reachable_errors)):.3g}, the exact one "
             f"{float(np.nanmedian(hand)):.2g}")
    page.add(f"## Generalization (coarse grid: {len(grid.lengths)} lengths x "
             f"{len(grid.flag_counts)} flag counts, {n_per_cell} sequences a cell{sampled})", "",
             table(["model", "median cell error", "worst cell error", "length 4 / 2 flags error"],
                   [(name, float(np.nanmedian(e)), float(np.nanmax(e)),
                     float(e[train_cell]) if train_cell else float("nan"))
                    for name, e in models]))


def _interpolation(page: _Page, run: Run, exact, reachable) -> None:
    batch = ref.training_batch(high=run.config.high)
    paths = {}
    if run.config.hidden_size == 1:
        targets = (("to reachable accumulator", reachable), ("to exact accumulator", exact))
    else:
        targets = (("to exact accumulator (seed aligned to it)", exact),)
    for label, target in targets:
        alphas, paths[label] = ref.interpolation_losses(run.params, target, batch=batch,
                                                        high=run.config.high)
    page.figure(plots.interpolation_paths(alphas, paths), "interpolation.png")
    coords = ("canonical coordinates" if run.config.hidden_size == 1 else
              "aligned coordinates: each seed's units matched to the accumulator's")
    for label, losses in paths.items():
        barrier = ref.barrier_height(losses)
        page.key(f"Is the accumulator downhill ({label})?",
                 f"median barrier {float(np.median(barrier)):.3g} (scaled loss); a barrier "
                 f"above 0.01 in {float(np.mean(barrier > 0.01)):.0%} of seeds")
    page.add(f"## Loss along the straight path seed -> hand-crafted ({coords})", "",
             "Barrier: max loss on the path minus the larger end loss (scaled units).", "",
             table(["path", "median barrier", "fraction with barrier > 0.01",
                    "median loss at alpha 0.5"],
                   [(label, float(np.median(ref.barrier_height(losses))),
                     float(np.mean(ref.barrier_height(losses) > 0.01)),
                     float(np.median(losses[:, len(alphas) // 2])))
                    for label, losses in paths.items()]))


def _stability(page: _Page, stab: Run, reachable, options: CompareOptions) -> None:
    """The drift of the stability runs ``stab`` (the run's protocol, shortened, from the
    reachable accumulator and perturbations of it; trained by the caller)."""
    epochs, n = stab.config.epochs, stab.n_seeds
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
