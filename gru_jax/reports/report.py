"""The Markdown report of a run: ``write_report(run_dir)`` -> ``RUN_DIR/report/report.md``.

Sections, each a function of the Run and its discovered census (and the figures saved beside
the Markdown):

1. the strategies: the census table, the threshold axis, the commitment epochs
   (:func:`gru_jax.reports.census.census_lead`, the same section that leads the comparison);
2. the run's Config (differences from the blog's protocol marked) and a summary;
3. the ensemble, seeds coloured by strategy: losses, final losses, plateau exits, the blog's
   claims tested per seed, parameter fans (canonical coordinates at hidden size 1);
4. a link to the comparison with the hand-crafted accumulator (:mod:`gru_jax.reports.compare`);
5. a dissection of the representative seed of each strategy: losses and events, weights over
   epochs, the blog's walkthrough at chosen epochs, gate terms, gate responses, dynamics.

Everything is vectorised over seeds; 1024 seeds x 62 snapshots take well under a minute.
"""
from __future__ import annotations

import dataclasses
import os
import time
from typing import Optional, Sequence

import numpy as np

from ..analysis import dissect, ensemble, events
from ..analysis.census import census as discover_census
from ..analysis.canonical import canonical_vector
from ..blog import EPOCHS, MEAN_BASELINE, SEED37_STATE_DICT, SEQUENCE, Z_FLAG0, Z_FLAG1
from ..config import Config
from ..files import write_text
from ..interop import from_state_dict
from ..plots import dissect as dissect_plots
from ..plots import ensemble as ensemble_plots
from ..model import select_model
from ..run import Run
from ..plots.strategies import short_name
from .census import census_lead, lead_figures
from .compare import run_compare
from .dissection import dissect_network
from .markdown import Figures, fmt, seed_span, table


def pick_epochs(eval_epochs: Sequence[int], wanted: Sequence[int] = EPOCHS,
                count: int = 4) -> list[int]:
    """The wanted eval epochs that exist (plus the last one); if fewer than two of them exist,
    ``count`` evenly spaced eval epochs (first and last included)."""
    eval_epochs = [int(e) for e in eval_epochs]
    found = [e for e in wanted if e in eval_epochs]
    if len(found) >= 2:
        return found if found[-1] == eval_epochs[-1] else found + [eval_epochs[-1]]
    idx = np.unique(np.linspace(0, len(eval_epochs) - 1, min(count, len(eval_epochs))).astype(int))
    return [eval_epochs[i] for i in idx]


# ---- the report ------------------------------------------------------------------------------
def _config_section(run: Run) -> str:
    default = Config()
    rows = []
    for field in dataclasses.fields(Config):
        value = getattr(run.config, field.name)
        mark = "" if value == getattr(default, field.name) else " **(changed)**"
        rows.append((f"`{field.name}`", f"{value}{mark}", getattr(default, field.name)))
    head = (f"{run.n_seeds} seeds (seeds {seed_span(run.seeds)}) x {run.config.epochs} epochs, "
            f"{len(run.eval_epochs)} snapshots (eval every {run.config.eval_every} epochs); "
            f"training wall time {run.wall_s:.1f} s.\n")
    return "## Configuration\n\n" + head + "\n" + table(("field", "this run", "blog's protocol"),
                                                         rows)


def _ensemble_section(run: Run, summary, census, figures: Figures) -> str:
    """Losses, final losses, plateau exits, the blog's claims per seed, parameter fans; seeds
    coloured by strategy."""
    return "\n".join(["## The ensemble\n", _loss_curves(run, census, figures),
                      _final_losses(run, summary, census, figures),
                      _claims(run, summary, census, figures),
                      _parameter_fans(run, census, figures)])


def _loss_curves(run: Run, census, figures: Figures) -> str:
    cfg = run.config
    by = dict(labels=census.families, names=census.legend("family"))
    parts = []
    fig = ensemble_plots.plot_loss_by_strategy(
        run.loss_epochs, run.train_loss, ylabel="train MSE (scaled units)",
        title="Training loss", baseline=MEAN_BASELINE, marks=run.eval_epochs, **by)
    parts.append(figures.add(fig, "ensemble_train_loss.png",
                             f"Training loss (scaled units) of {run.n_seeds} seeds: per "
                             "strategy the median and 25-75% band; black dashed: the median of "
                             "all seeds; dotted: the predict-the-mean baseline 1/6; faint "
                             "verticals: eval epochs."))
    fig = ensemble_plots.plot_loss_by_strategy(
        run.eval_epochs, run.test_loss, ylabel="test MSE (original units)", title="Test loss",
        baseline=MEAN_BASELINE * cfg.high ** 2, **by)
    parts.append(figures.add(fig, "ensemble_test_loss.png",
                             "Test loss (original units, computed at eval epochs): per strategy "
                             "the median and 25-75% band; dotted: the predict-the-mean baseline "
                             f"({MEAN_BASELINE * cfg.high ** 2:.0f} in original units)."))
    return "\n".join(parts)


def _final_losses(run: Run, summary, census, figures: Figures) -> str:
    """Final losses and plateau exits: tables and histograms."""
    qtab = (0.0, 0.05, 0.25, 0.5, 0.75, 0.95, 1.0)
    parts = []
    train_q = ensemble.quantile_table(summary.final_train, qtab)
    test_q = ensemble.quantile_table(summary.final_test, qtab)
    parts.append("### Final losses\n")
    parts.append(table(["loss"] + [f"q{int(q * 100)}" for q in qtab] + ["finite", "NaN"],
                        [["final train (scaled)"] + [train_q[q] for q in qtab]
                         + [train_q["n"], train_q["nan"]],
                         ["last test (original)"] + [test_q[q] for q in qtab]
                         + [test_q["n"], test_q["nan"]]]))
    fig = ensemble_plots.plot_histogram(summary.final_train,
                                        "final training MSE (scaled units, log)",
                                "Final training loss per seed", log_x=True,
                                marks={"blog's seed 37 (~1.0e-4)": 1.0e-4,
                                       "predict-the-mean 1/6": MEAN_BASELINE},
                                note="not finite (diverged)", labels=census.families,
                                names=census.legend("family"))
    parts.append(figures.add(fig, "final_train_loss.png",
                             "Distribution of the final training loss over seeds (log scale), "
                             "stacked by strategy, with the blog's published ~1.0e-4 and the 1/6 "
                             "baseline marked."))
    # plateau exits
    exits = summary.plateau_exit
    exit_q = ensemble.quantile_table(exits, qtab)
    parts.append("### Leaving the predict-the-mean plateau\n")
    parts.append(f"A seed leaves the plateau at the first epoch after which its training loss "
                 f"stays below half the baseline ({MEAN_BASELINE / 2:.4f}, scaled). "
                 f"{exit_q['n']} of {run.n_seeds} seeds left; {exit_q['nan']} never did.\n")
    parts.append(table(["plateau exit epoch"] + [f"q{int(q * 100)}" for q in qtab],
                        [["seeds that left"] + [exit_q[q] for q in qtab]]))
    fig = ensemble_plots.plot_histogram(exits, "epoch of leaving the plateau",
                                        "Plateau exit per seed", note="never left",
                                        labels=census.families,
                                        names=census.legend("family"))
    parts.append(figures.add(fig, "plateau_exit.png",
                             "Epoch at which each seed leaves the predict-the-mean plateau for "
                             "good, stacked by strategy (seeds that never leave are counted in "
                             "the title)."))
    return "\n".join(parts)


def _claims(run: Run, summary, census, figures: Figures) -> str:
    """The blog's claims tested per seed, with single-element answers and gate ranges."""
    parts = ["### The blog's claims, seed by seed\n"]
    rows = []
    for claim in summary.claims:
        lo, hi = claim.interval
        rows.append((claim.name, claim.description, claim.count, claim.total,
                     f"{claim.fraction:.1%}", f"[{lo:.1%}, {hi:.1%}]"))
    parts.append(table(("claim", "test", "seeds", "of", "fraction", "95% CI (Wilson)"), rows))
    single = summary.single_outputs
    sq0 = ensemble.quantile_table(single[:, 0], (0.05, 0.5, 0.95))
    sq1 = ensemble.quantile_table(single[:, 1], (0.05, 0.5, 0.95))
    parts.append("Single-element answers (original units; the blog's net: 41.08 and 101.58):\n")
    parts.append(table(("input", "target", "q5", "median", "q95"),
                        [("[12,0] alone", 0, sq0[0.05], sq0[0.5], sq0[0.95]),
                         ("[12,1] alone", 12, sq1[0.05], sq1[0.5], sq1[0.95])]))
    fig = ensemble_plots.plot_gate_ranges(summary.z_ranges, {
        "blog: [0.77, 0.83] x [0.14, 0.20]": (Z_FLAG0, Z_FLAG1),
        "accumulator corner": ((0.95, 1.0), (0.0, 0.05))}, labels=census.families,
        names=census.legend("family"))
    parts.append(figures.add(fig, "update_gate_ranges.png",
                             "First-step update gate per seed, coloured by strategy: z for flag "
                             "0 (x) against flag 1 (y), at the midpoint of its range over values "
                             "0..99 (bars: the range). Red box: the blog's published ranges (a "
                             "seed has the blog's gate ranges when its bars lie inside it, +- "
                             "0.005); green: where an exact accumulator sits (z ~ 1 for flag 0, "
                             "~ 0 for flag 1)."))
    crossed = summary.flag_first_crossing
    cq = ensemble.quantile_table(crossed, (0.05, 0.25, 0.5, 0.75, 0.95))
    parts.append(f"W_iz[flag] changes sign in {int((summary.flag_crossings > 0).sum())} seeds "
                 f"(more than once in {int((summary.flag_crossings > 1).sum())}); epoch of its "
                 f"first change: median {fmt(cq[0.5])}, 5-95% [{fmt(cq[0.05])}, "
                 f"{fmt(cq[0.95])}].\n")
    fig = ensemble_plots.plot_histogram(crossed,
                                        "epoch of W_iz[flag]'s first sign change (interpolated)",
                                "When the update gate's flag weight changes sign",
                                note="no sign change", labels=census.families,
                                names=census.legend("family"))
    parts.append(figures.add(fig, "flag_weight_sign_change.png",
                             "Epoch at which the update gate's flag weight W_iz[flag] first "
                             "changes sign, stacked by strategy (linear interpolation between "
                             "snapshots; epoch -1 = initial weights)."))
    return "\n".join(parts)


def _parameter_fans(run: Run, census, figures: Figures) -> str:
    """Every parameter's quantile fan over training, in canonical coordinates (at H > 1 in
    each seed's final canonical unit order; beyond 40 coordinates only the readout unit's)."""
    qs = ensemble.QUANTILES
    t_epochs, names, values, _ = ensemble.trajectory_coordinates(run)
    shown = ensemble.readable_coordinates(names)
    only_u0 = len(shown) < len(names)
    names, values = [names[i] for i in shown], values[..., shown]
    fan = ensemble.loss_bands(values.reshape(values.shape[0], -1), qs).reshape(
        (len(qs),) + values.shape[1:])
    hidden = run.config.hidden_size
    marks, note = {}, ""
    if hidden == 1:
        blog_vec = canonical_vector(from_state_dict(SEED37_STATE_DICT))
        marks["blog's final weights"] = dict(zip(names, np.asarray(blog_vec, float)))
        note = " Red dashed: the blog's published final value."
    else:
        note = (" Units in each seed's final canonical order (u0: the largest readout weight)"
                + ("; only unit u0's coordinates and b_out are shown." if only_u0 else "."))
    fig = ensemble_plots.plot_trajectory_fans(t_epochs, names, fan, qs, marks,
                                              title="Parameter trajectories, canonical "
                                                    "coordinates",
                                              by_strategy=(values, census.families,
                                                           census.legend("family")))
    return figures.add(fig, "parameter_fans.png",
                       "Parameters over training in canonical coordinates (sign symmetry fixed, "
                       "r/z biases merged): per strategy the median and 25-75% band over its "
                       f"seeds; grey: 5-95% of all seeds (epoch -1 = init).{note}")


def _comparison_section(run_dir: str, out_dir: str, census, run_comparison: bool) -> str:
    """A link to ``RUN_DIR/compare/compare.md``, running the comparison first if it is missing
    and ``run_comparison``."""
    parts = ["## Learned versus designed\n"]
    compare_dir = os.path.join(run_dir, "compare")
    path = os.path.join(compare_dir, "compare.md")
    if not os.path.exists(path):
        if not run_comparison:
            return "\n".join(parts + [f"(No comparison in {compare_dir}: run `gru-jax compare "
                                      f"{run_dir}` first, or write the report without "
                                      "`--no-compare`.)\n"])
        path = run_compare(run_dir, census=census)
    rel = os.path.relpath(path, out_dir)
    parts.append(f"The comparison with the hand-crafted accumulator (per-parameter distributions, "
                 f"behaviour scatter, distances over training, generalization heatmaps, "
                 f"interpolation and stability) is in [{rel}]({rel}).\n")
    return "\n".join(parts)


def _seed_section(run: Run, index: int, label: str, figures: Figures, out_dir: str,
                  sequence) -> str:
    seed = int(run.seeds[index])
    tag = f"seed{seed}_"
    name = f"Seed {seed} ({label})"
    parts = [f"### {name}\n"]
    loss = run.train_loss[index]
    sigma = max(2.0, min(20.0, loss.shape[0] / 100))
    found = events.acceleration_events(loss, k=5, sigma=sigma)
    fig = dissect_plots.plot_losses(loss, run.eval_epochs, run.test_loss[index],
                            [e.epoch for e in found], title=f"{name}: losses")
    parts.append(figures.add(fig, f"{tag}losses.png",
                             f"{name}: training loss per epoch (scaled units, top) and test loss "
                             "at eval epochs (original units, bottom); grey: eval epochs "
                             "(snapshots); red dashed: the epochs of largest loss acceleration."))
    parts.append(f"Largest loss accelerations (second derivative of log10 train loss after a "
                 f"Gaussian smoothing of sigma = {sigma:g} epochs; negative = the loss starts "
                 "falling faster):\n")
    parts.append(table(("epoch", "acceleration (decades / epoch^2)"),
                        [(e.epoch, e.acceleration) for e in found]))
    parts.append(_seed_weights(run, index, name, tag, figures))
    parts.append(_seed_walkthrough(run, index, sequence))
    final = select_model(run.params, index)
    parts.append(f"#### {name} at the end of training\n")
    parts.append(dissect_network(final, sequence, out_dir, run.config.high, label=name,
                                 figures=figures, prefix=tag))
    out = dissect.outputs(final, np.asarray([[[12, 0]], [[12, 1]]]), run.config.high)
    parts.append(f"Single-element inputs: [12,0] -> {out[0]:.2f} (target 0), [12,1] -> "
                 f"{out[1]:.2f} (target 12); the blog's net: 41.08 and 101.58.\n")
    return "\n".join(parts)


def _seed_weights(run: Run, index: int, name: str, tag: str, figures: Figures) -> str:
    """One seed's weights over training (lines, heatmap) and their zero crossings.

    Hidden size 1: every parameter in the PyTorch layout. H > 1: canonical coordinates in the
    seed's final unit order (beyond 40 coordinates, only the readout unit u0's)."""
    if run.config.hidden_size == 1:
        epochs, names, values = events.weight_trajectory(select_model(run.init_params, index),
                                                         select_model(run.snapshots, index),
                                                         run.eval_epochs)
        what = "every parameter (PyTorch layout)"
    else:
        epochs, names, values, _ = ensemble.trajectory_coordinates(run.select([index]))
        shown = ensemble.readable_coordinates(names)
        only_u0 = len(shown) < len(names)
        names, values = [names[i] for i in shown], values[0][:, shown]
        what = ("canonical coordinates in the seed's final unit order (u0: largest readout)"
                + ("; unit u0's only" if only_u0 else ""))
    parts = [figures.add(dissect_plots.plot_weight_lines(epochs, names, values,
                                                         title=f"{name}: weights over training"),
                         f"{tag}weights.png",
                         f"{name}: {what} at init (epoch -1) and at each eval epoch."),
             figures.add(dissect_plots.plot_weight_heatmap(epochs, names, values,
                                                           title=f"{name}: weights (heatmap)"),
                         f"{tag}weights_heatmap.png",
                         f"{name}: the same trajectories as a heatmap (rows: parameters, "
                         "columns: snapshots, colour: value, symmetric around 0).")]
    crossings = events.zero_crossings(epochs, names, values)
    parts.append(f"Zero crossings ({len(crossings)}; linear interpolation between snapshots):\n")
    shown = crossings[:25]
    if shown:
        parts.append(table(("parameter", "between epochs", "at epoch ~", "direction"),
                           [(c.name, f"{c.epoch_before}..{c.epoch_after}", round(c.epoch, 1),
                             "- to +" if c.direction > 0 else "+ to -") for c in shown]))
    else:
        parts.append("(No parameter changes sign.)\n")
    if len(crossings) > len(shown):
        parts.append(f"({len(crossings) - len(shown)} more not shown.)\n")
    return "\n".join(parts)


def _seed_walkthrough(run: Run, index: int, sequence) -> str:
    """The blog's walkthrough at chosen epochs: z and h per step of the readout unit."""
    eval_list = [int(e) for e in run.eval_epochs]
    final = select_model(run.params, index)
    unit = int(np.argmax(np.abs(final["linear"]["weight"][0])))
    rows, details = [], []
    for epoch in pick_epochs(eval_list):
        params = select_model(run.snapshots, index, eval_list.index(epoch))
        walk = dissect.walkthrough(params, sequence, run.config.high)
        rows.append((epoch, *(f"{v:.3f}" for v in walk.z[:, unit]),
                     *(f"{v:.4f}" for v in walk.h[:, unit]), f"{walk.output:.2f}"))
        details.append(f"<details><summary>Epoch {epoch}: full walkthrough</summary>\n\n"
                       f"{dissect.walkthrough_markdown(walk)}\n\n</details>\n")
    steps = range(len(walk.h))
    which = "" if run.config.hidden_size == 1 else f" (unit {unit}, the readout unit)"
    return "\n".join([f"Walkthrough of the blog's sequence at chosen epochs{which}:\n",
                      table(("epoch", *(f"z_{t}" for t in steps), *(f"h_{t}" for t in steps),
                             "output"), rows)] + details)


def write_report(run_dir: str, out_dir: Optional[str] = None, sequence=SEQUENCE,
                 run_comparison: bool = True, census=None) -> str:
    """Write the Markdown report of the run in ``run_dir``; returns the path of report.md.

    Args:
      run_dir: a complete run directory (:meth:`gru_jax.Run.load`).
      out_dir: where report.md and its PNGs go (default ``RUN_DIR/report``).
      sequence: the walkthrough input, original units (default the blog's example).
      run_comparison: when ``RUN_DIR/compare`` is missing, run
        :func:`gru_jax.reports.compare.run_compare` first (it trains short stability runs:
        minutes); False links an existing one only.
      census: the run's discovered census (:func:`gru_jax.analysis.census`, a
        :class:`gru_jax.analysis.strategies.Census`), if already computed (the pipeline
        computes it once for the comparison and the report).
    """
    start = time.perf_counter()
    run = Run.load(run_dir)
    census = census if census is not None else discover_census(run)
    out_dir = out_dir or os.path.join(run_dir, "report")
    os.makedirs(out_dir, exist_ok=True)
    figures = Figures(out_dir)
    summary = ensemble.summarize(run)
    lead = census_lead(census, ensemble.headline(run), "\n".join(
        figures.add(fig, name, caption)
        for fig, name, caption in lead_figures(census, run.config.epochs - 1)))
    sections = [f"# Report: {os.path.basename(os.path.abspath(run_dir))}\n",
                "The adding problem (sum the flagged values of a sequence) learned by a GRU "
                f"with {run.config.hidden_size} hidden unit(s), trained under the blog's protocol "
                "as an ensemble of seeds. Losses: training in scaled units (targets / high), test "
                "in original units.\n", lead,
                _config_section(run), _ensemble_section(run, summary, census, figures),
                _comparison_section(run_dir, out_dir, census, run_comparison),
                "## Dissections of representative seeds\n",
                "The representative of each strategy (the seed nearest its median features).\n"]
    sections += [_seed_section(run, int(index),
                               f"{census.strategy_labels[k]}: {short_name(census.names[k])}",
                               figures, out_dir,
                               sequence)
                 for k, index in enumerate(census.representative_index)]
    sections.append(f"\n---\nWritten by `gru_jax.reports.write_report` in "
                    f"{time.perf_counter() - start:.1f} s.\n")
    return write_text(os.path.join(out_dir, "report.md"), "\n".join(sections))
