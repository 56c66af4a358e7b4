"""The Markdown report of a run: ``write_report(run_dir)`` -> ``RUN_DIR/report/report.md``.

``report.md`` is ONE page (:func:`first_page`): the run in two sentences, the families and
strategies with fractions and 95% intervals (short labels), the blog's questions answered in
one table, four figures (the seeds in the behaviour plane by family with the accumulators
marked; loss bands by family; family fractions; learned weights against the accumulators'),
and the configuration where it differs from the blog's protocol. The rest are appendices
beside it, linked from the first page:

- ``census.md``: the census in full (mechanism per family, how it was decided and how stable,
  the threshold axis, commitment; :func:`gru_jax.reports.census.census_lead`, the section
  that also leads the comparison's appendix);
- ``ensemble.md``: losses, final losses, plateau exits, the blog's claims per seed, parameter
  fans, every figure coloured by family;
- ``dissections.md``: the representative seed of each family: losses and events, weights
  over epochs, the blog's walkthrough, gate terms, gate responses, dynamics;
- the comparison with the hand-crafted accumulators (``../compare/compare.md``).
"""
from __future__ import annotations

import dataclasses
import os
import time
from typing import Optional, Sequence

import numpy as np

from ..analysis import dissect, ensemble, events
from ..analysis.cache import cached_census
from ..analysis.features import seed_features
from ..analysis.stats import wilson_interval
from ..analysis.symmetry import canonical_vector
from ..blog import EPOCHS, MEAN_BASELINE, SEED37_STATE_DICT, SEQUENCE, Z_FLAG0, Z_FLAG1
from ..config import Config
from ..files import write_json, write_text
from ..interop import from_state_dict
from ..plots import dissect as dissect_plots
from ..plots import ensemble as ensemble_plots
from ..model import hidden_size, select_model
from ..run import Run
from ..plots.reference import behaviour_scatter, census_bars
from .census import census_lead, family_rows, lead_figures, strategy_rows
from .compare import accumulator_behaviour, run_compare, weights_figure
from .dissection import dissect_network
from .markdown import Figures, fmt, table


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


# ---- the first page --------------------------------------------------------------------------
def config_differences(cfg) -> list[tuple]:
    """``(field, this run, blog's protocol)`` for every Config field that differs from the
    blog's protocol (:class:`gru_jax.Config`'s defaults)."""
    default = Config()
    return [(f"`{f.name}`", getattr(cfg, f.name), getattr(default, f.name))
            for f in dataclasses.fields(Config) if getattr(cfg, f.name) != getattr(default,
                                                                                   f.name)]


def task_text(cfg) -> str:
    """The task in words: lengths and flag counts, per row or per dataset."""
    if getattr(cfg, "per_row_lengths", None):
        lengths = f"each row its own length in {cfg.per_row_lengths[0]}..{cfg.per_row_lengths[1]}"
    elif cfg.delta > 0:
        lo, hi = cfg.length_range
        lengths = f"one length per dataset in {lo}..{hi - 1}"
    else:
        lengths = f"length {cfg.seq_len}"
    if getattr(cfg, "per_row_flags", None):
        flags = f"each row {cfg.per_row_flags[0]}-{cfg.per_row_flags[1]} flags"
    elif cfg.n_flags is not None:
        flags = f"{cfg.n_flags} flags"
    else:
        flags = "the seed's flag rule (2 at length 4)"
    extra = " with a curriculum" if cfg.curriculum else ""
    return f"sequences of {lengths}, {flags}{extra}"


def _ci(count: int, total: int) -> str:
    low, high = wilson_interval(count, total)
    return f"{count} of {total} ({count / total:.1%}; 95% CI {low:.1%}-{high:.1%})"


def blog_family(census, high: int) -> str:
    """The family the blog's own net (seed 37) falls in, at hidden size 1 ("" otherwise)."""
    blog = from_state_dict(SEED37_STATE_DICT)
    if census.reference is None or hidden_size(census.reference) != 1:
        return ""
    stacked = {m: {k: np.asarray(v)[None] for k, v in sub.items()} for m, sub in blog.items()}
    feats = seed_features(stacked, np.array([1e-4]), reference=census.reference, high=high)
    family = int(census.assign(feats.values)[0][0])
    return f"{census.family_labels[family]} ({census.legend('family')[family].split(' ', 1)[1]})"


def blog_questions(run: Run, census, summary) -> list[tuple]:
    """The blog's questions, each answered over the ensemble: ``(question, answer)``."""
    total = run.n_seeds
    classes = census.threshold_labels
    learned = int(np.sum(classes != "failed"))
    general = int(np.sum(classes == "general"))
    q = ensemble.quantile_table(ensemble.final_train_loss(run), (0.05, 0.5, 0.95))
    claims = {c.name: c for c in summary.claims}
    eig = census.column("leading_eigenvalue_flag0")
    holds = int(np.sum(eig > 0.99))
    rows = [("Does every seed learn the task?",
             f"{_ci(learned, total)} reach a final loss below half the predict-the-mean loss; "
             f"median final loss {fmt(q[0.5], 3)} (5-95% {fmt(q[0.05], 3)}-{fmt(q[0.95], 3)}; "
             "the blog: ~1.0e-4, scaled units)."),
            ("Does any seed learn to add at other lengths and flag counts?",
             f"{_ci(general, total)} are general (worst relative error <= 0.1 on lengths 2-32 x "
             "1-5 flags); the hand-crafted accumulator is."),
            ("Does a seed keep a sum over unflagged steps (a line attractor)?",
             f"{_ci(holds, total)} have a flag-0 leading eigenvalue above 0.99 (median "
             f"{np.nanmedian(eig):.3f}; the accumulator: 1)."),
            ("Is the blog's net typical?",
             f"{_ci(claims['update gate as the blog' + chr(39) + 's'].count, total)} have its "
             "first-step gate ranges" + (f"; its own weights fall in {family}" if (
                 family := blog_family(census, run.config.high)) else "") + ".")]
    if "fails a single-element input" in claims:
        rows.append(("Does a seed fail a single-element input as the blog's net does?",
                     _ci(claims["fails a single-element input"].count, total) + "."))
    if "W_iz[flag] changes sign" in claims:
        rows.append(("Does the update gate's flag weight change sign during training?",
                     _ci(claims["W_iz[flag] changes sign"].count, total) + "."))
    return rows


def first_page(run: Run, run_dir: str, census, summary, figures: Figures,
               compare_link: str) -> str:
    """``report.md``: the one page (module docstring)."""
    cfg = run.config
    legend = census.legend("family")
    families = "; ".join(f"{legend[f]} {census.family_fractions[f]:.0%}"
                         for f in range(census.n_families))
    learned = int(np.sum(census.threshold_labels != "failed"))
    general = int(np.sum(census.threshold_labels == "general"))
    z = np.stack([census.column("z_flag0"), census.column("z_flag1")], 1)
    behaviour = figures.add(
        behaviour_scatter(z, census.families, accumulator_behaviour(cfg.high, cfg.hidden_size),
                          legend, census.threshold_labels), "behaviour.png",
        "Every seed in the behaviour plane (mean update gate at unflagged vs flagged steps), "
        "coloured by family; stars: the hand-crafted accumulators; dashed box: the blog's "
        "first-step ranges (for orientation).")
    losses = figures.add(
        ensemble_plots.plot_loss_by_strategy(np.asarray(run.loss_epochs),
                                             np.asarray(run.train_loss), census.families,
                                             legend, ylabel="training loss (scaled units)",
                                             title="Training loss by family",
                                             baseline=MEAN_BASELINE),
        "loss_by_family.png", "Training loss per family: the median and 25-75% band.")
    fractions = figures.add(
        census_bars(legend, census.family_fractions,
                    list(zip(census.family_ci_low, census.family_ci_high)),
                    census.family_counts.tolist()),
        "families.png", "Fraction of seeds in each family, with 95% Wilson intervals.")
    weights = figures.add(weights_figure(run, census), "weights.png",
                          "Final parameters (canonical coordinates) stacked by family, with "
                          "the accumulators' and the blog's values (black).")
    differences = config_differences(cfg)
    note = f"**Note: {census.note}.**\n" if census.note else ""
    return "\n".join([
        f"# Report: {os.path.basename(os.path.abspath(run_dir))}\n",
        f"{run.n_seeds} seeds of a GRU with {cfg.hidden_size} hidden unit(s), each trained "
        f"for {cfg.epochs} epochs on the adding problem ({task_text(cfg)}). {learned} learned "
        f"the task and {general} learned to add at every length; the seeds fall into "
        f"{census.n_families} famil{'y' if census.n_families == 1 else 'ies'}: {families}.\n",
        note + "## Families and strategies\n",
        "A family is how the flag reaches the memory (the update gate at unflagged and flagged "
        "steps); a strategy, within it, how the memory leaks and how the flag pushes the "
        "candidate. Loss and errors are outcomes, not clustered on. How this was decided and "
        "how stable it is: [census.md](census.md).\n",
        table(["family", "how the flag reaches the memory", "seeds", "fraction (95% CI)",
               "median final loss", "median error L8 k2", "commits (median epoch)",
               "general / length-specific / failed"], family_rows(census), 3),
        table(["strategy", "memory and candidate push", "seeds", "fraction (95% CI)",
               "median final loss", "median error L8 k2", "representative seed"],
              strategy_rows(census), 3),
        "## The blog's questions\n",
        table(["question", "over the ensemble"], blog_questions(run, census, summary)),
        "## Figures\n", behaviour, losses, fractions, weights,
        "## Configuration\n",
        (table(("field", "this run", "blog's protocol"), differences) if differences else
         "The blog's protocol, every field at its default.\n")
        + f"\nTraining took {run.wall_s:.1f} s ({run.provenance.get('device_kind', '?')}).\n",
        "## More\n",
        "- [census.md](census.md): the census in full (mechanism per family, stability, the "
        "threshold axis, commitment epochs).",
        "- [ensemble.md](ensemble.md): losses, final losses, plateau exits, the blog's claims "
        "seed by seed, parameter trajectories.",
        "- [dissections.md](dissections.md): the representative seed of each family, "
        "dissected.",
        f"- {compare_link}", ""])


def _ensemble_section(run: Run, summary, census, figures: Figures) -> str:
    """Losses, final losses, plateau exits, the blog's claims per seed, parameter fans; seeds
    coloured by strategy."""
    return "\n".join([_loss_curves(run, census, figures),
                      _final_losses(run, summary, census, figures),
                      _claims(run, summary, census, figures),
                      _parameter_fans(run, census, figures)])


def _by_family(census) -> dict:
    """The keyword arguments that colour a figure by the census's families."""
    return dict(labels=census.families, names=census.legend("family"))


def _loss_curves(run: Run, census, figures: Figures) -> str:
    cfg = run.config
    by = _by_family(census)
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
    by = _by_family(census)
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
                                note="not finite (diverged)", **by)
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
                                        "Plateau exit per seed", note="never left", **by)
    parts.append(figures.add(fig, "plateau_exit.png",
                             "Epoch at which each seed leaves the predict-the-mean plateau for "
                             "good, stacked by strategy (seeds that never leave are counted in "
                             "the title)."))
    return "\n".join(parts)


def _claims(run: Run, summary, census, figures: Figures) -> str:
    """The blog's claims tested per seed, with single-element answers and gate ranges."""
    by = _by_family(census)
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
        "accumulator corner": ((0.95, 1.0), (0.0, 0.05))}, **by)
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
                                note="no sign change", **by)
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
    """The link to ``RUN_DIR/compare/compare.md`` (one Markdown list item), running the
    comparison first if it is missing and ``run_comparison``."""
    compare_dir = os.path.join(run_dir, "compare")
    path = os.path.join(compare_dir, "compare.md")
    if not os.path.exists(path):
        if not run_comparison:
            return (f"No comparison in {compare_dir}: run `gru-jax compare {run_dir}` first, or "
                    "write the report without `--no-compare`.")
        path = run_compare(run_dir, census=census)
    rel = os.path.relpath(path, out_dir)
    return (f"[{rel}]({rel}): learned versus designed (parameters, behaviour, fixed points, "
            "distances over training, generalization, the loss along straight paths).")


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
                 run_comparison: bool = True, census=None, figure_formats=()) -> str:
    """Write the report of the run in ``run_dir`` (module docstring); returns the path of
    report.md.

    Args:
      run_dir: a complete run directory (:meth:`gru_jax.Run.load`).
      out_dir: where report.md, its appendices and PNGs go (default ``RUN_DIR/report``).
      sequence: the walkthrough input, original units (default the blog's example).
      run_comparison: when ``RUN_DIR/compare`` is missing, run
        :func:`gru_jax.reports.compare.run_compare` first; False links an existing one only.
      census: the run's census (:func:`gru_jax.analysis.census`), if already computed (the
        pipeline computes it once for the comparison and the report).
      figure_formats: also write every figure as svg and/or pdf beside its PNG.
    """
    start = time.perf_counter()
    timings: dict = {}
    mark = [start]

    def lap(part: str) -> None:
        now = time.perf_counter()
        timings[part] = now - mark[0]
        mark[0] = now

    run = Run.load(run_dir)
    census = census if census is not None else cached_census(run_dir, run)
    lap("load and census")
    out_dir = out_dir or os.path.join(run_dir, "report")
    os.makedirs(out_dir, exist_ok=True)
    summary = ensemble.summarize(run)
    lap("ensemble summary")
    figures = Figures(out_dir, figure_formats)          # each page numbers its own figures
    lead = census_lead(census, ensemble.headline(run), "\n".join(
        figures.add(fig, name, caption)
        for fig, name, caption in lead_figures(census, run.config.epochs - 1)))
    name = os.path.basename(os.path.abspath(run_dir))
    write_text(os.path.join(out_dir, "census.md"),
               f"# Census: {name}\n\n[back to the report](report.md)\n\n{lead}")
    lap("census.md")
    write_text(os.path.join(out_dir, "ensemble.md"), "\n".join([
        f"# The ensemble: {name}\n", "[back to the report](report.md)\n",
        "Losses: training in scaled units (targets / high), test in original units; figures "
        "coloured by family.\n", _ensemble_section(run, summary, census,
                                                     Figures(out_dir, figure_formats))]))
    lap("ensemble.md")
    sections = [f"# Dissections: {name}\n", "[back to the report](report.md)\n",
                "The representative of each family (the seed nearest its median mechanism); "
                "every strategy's representative is in the strategy table of the report "
                "(`gru-jax dissect RUN --seed S` dissects any seed).\n"]
    position = {int(seed): i for i, seed in enumerate(np.asarray(run.seeds))}
    legend = census.legend("family")
    figures = Figures(out_dir, figure_formats)
    sections += [_seed_section(run, position[int(seed)], legend[f], figures, out_dir, sequence)
                 for f, seed in enumerate(census.family_representatives)]
    write_text(os.path.join(out_dir, "dissections.md"), "\n".join(sections))
    lap("dissections.md")
    compare_link = _comparison_section(run_dir, out_dir, census, run_comparison)
    lap("comparison")
    page = first_page(run, run_dir, census, summary, Figures(out_dir, figure_formats),
                      compare_link)
    lap("first page")
    timings["total"] = time.perf_counter() - start
    write_json(os.path.join(out_dir, "timings.json"), timings)
    page += (f"\n---\nWritten by `gru_jax.reports.write_report` in "
             f"{timings['total']:.1f} s.\n")
    return write_text(os.path.join(out_dir, "report.md"), page)
