"""The census in what a researcher reads: families first, strategies within them.

- :func:`census_lead`: the section that LEADS the report and the comparison (one function, so
  the two state the same tables): the run's :class:`gru_jax.analysis.ensemble.Headline`, the
  families (fractions with 95% CIs, outcomes per family), the strategies within them, how they
  were decided and how stable that is, and the threshold axis; :func:`lead_figures`: the
  behaviour plane by family, the family fractions, and the commitment epochs.
- On disk (:func:`write_census`): ``census.json``, ``census.md`` and the figures.
"""
from __future__ import annotations

import os

import numpy as np

from ..analysis.census import FAMILY_FEATURES, N_STATES, STRATEGY_FEATURES, Census
from ..analysis.ensemble import Headline
from ..analysis.features import ROUTES, route_shares
from ..analysis.stats import wilson_interval
from ..analysis.thresholds import CLASSES
from ..files import write_json, write_text
from ..plots import strategies as strategy_plots
from ..plots.reference import census_bars
from .markdown import fmt, save_figure, table

FAMILY_HEADER = ["family", "how the flag reaches the memory", "seeds", "fraction (95% CI)",
                 "median final loss", "median error L8 k2", "commits (median epoch)",
                 "general / length-specific / failed"]
STRATEGY_HEADER = ["strategy", "memory and candidate push", "seeds", "fraction (95% CI)",
                   "median final loss", "median error L8 k2", "representative seed"]
MECHANISM_FEATURES = ("z_flag0", "z_flag1", "r_flag0", "r_flag1", "leading_eigenvalue_flag0",
                      "flag_push_n")


def _ci(low, high) -> str:
    return f"[{low:.3f}, {high:.3f}]"


def family_rows(census: Census) -> list[list]:
    """One row per family, in :data:`FAMILY_HEADER` order (loss: scaled units; error: relative
    RMS error on the length-8, 2-flag cell, original units; outcomes, not clustered on)."""
    commit = census.commitment("family")
    thresholds = census.threshold_table("family")
    loss = census.median("log10_final_loss", "family")
    l8 = census.median("log10_error_L8k2", "family")
    return [[census.family_labels[f], census.family_names[f], int(census.family_counts[f]),
             f"{census.family_fractions[f]:.3f} "
             f"{_ci(census.family_ci_low[f], census.family_ci_high[f])}",
             10 ** loss[f], 10 ** l8[f], "-" if not np.isfinite(commit[f, 1]) else
             f"{commit[f, 1]:.0f}", " / ".join(str(c) for c in thresholds[f])]
            for f in range(census.n_families)]


def strategy_rows(census: Census) -> list[list]:
    """One row per strategy, in :data:`STRATEGY_HEADER` order."""
    loss = census.median("log10_final_loss")
    l8 = census.median("log10_error_L8k2")
    return [[census.strategy_labels[k], census.names[k], int(census.counts[k]),
             f"{census.fractions[k]:.3f} {_ci(census.ci_low[k], census.ci_high[k])}",
             10 ** loss[k], 10 ** l8[k], int(census.representatives[k])]
            for k in range(census.n_strategies)]


def mechanism_rows(census: Census) -> list[list]:
    """Per family: the median gates, route shares (r / z / n), leading eigenvalue and push."""
    rows = []
    for f in range(census.n_families):
        members = census.families == f
        med = {n: float(np.nanmedian(census.column(n)[members])) for n in MECHANISM_FEATURES}
        shares = route_shares(np.nanmedian(np.stack(
            [census.column(f"flag_effect_{g}")[members] for g in ROUTES], 1), axis=0))
        rows.append([census.family_labels[f], med["z_flag0"], med["z_flag1"], med["r_flag0"],
                     med["r_flag1"], " / ".join(f"{s:.2f}" for s in shares),
                     med["leading_eigenvalue_flag0"], med["flag_push_n"]])
    return rows


def stability_markdown(census: Census) -> str:
    """How the families were decided and how stable that is, in words."""
    if census.note:
        return f"**Note: {census.note}.**\n"
    ks = ", ".join(f"{k} families in {100 * v:.0f}%" for k, v in census.k_stability.items())
    ari = census.family_ari
    dips = ", ".join(f"{r}: {n}" for r, n in census.dip_sensitivity.items())
    leak = ("The leak's distribution dips at log10 leak " + ", ".join(
        f"{d:.2f} (lambda {1 - 10 ** d:.3f})" for d in census.leak_dips)
            + ": the memory names cut there." if len(census.leak_dips) else
            "The leak's distribution has no dip that deep: the names give the eigenvalue "
            "(the share of a stored sum kept per unflagged step), no class.")
    return (f"**How they were decided.** {census.criterion}. **Stability:** the number of "
            f"families over the full-data fits at {N_STATES} random states and {len(ari)} "
            f"subsamples (80% of the seeds each): {ks}; adjusted Rand index of the "
            f"subsamples' families against these: median {np.median(ari):.2f} (range "
            f"{ari.min():.2f}-{ari.max():.2f}). Families at other dip ratios: {dips}. {leak} "
            "**By construction:** "
            "strategies differ in their leak because they are split on it, and the leak bounds "
            "how well a seed adds at other lengths, so a slow-leak strategy's lower length-8 "
            "error is partly a consequence of the split.\n")


def threshold_axis_markdown(census: Census) -> str:
    """The general / length-specific / failed axis over all seeds: seeds, fraction, 95% CI."""
    total = len(census.threshold_labels)
    rows = []
    for cls in CLASSES:
        count = int(np.sum(census.threshold_labels == cls))
        low, high = wilson_interval(count, total)
        rows.append((cls, count, count / total if total else float("nan"),
                     f"[{low:.3f}, {high:.3f}]"))
    return table(("threshold class", "seeds", "fraction", "95% CI (Wilson)"), rows, 3)


def headline_markdown(head: Headline) -> str:
    """One paragraph: seeds, diverged, final-loss quantiles, seeds with the blog's gate
    ranges (the definitions of :mod:`gru_jax.analysis.ensemble`)."""
    q = head.final_loss_quantiles
    return (f"**The run.** {head.n_seeds} seeds, {head.n_diverged} diverged; final training "
            f"loss (last epoch, scaled units; {head.n_finite} finite) median {fmt(q[0.5], 3)}, "
            f"5-95% {fmt(q[0.05], 3)} to {fmt(q[0.95], 3)}. Seeds with the blog's gate ranges "
            f"(first-step update gate over values 0..1 inside [0.77, 0.83] at flag 0 and "
            f"[0.14, 0.20] at flag 1, +-0.005; `gru_jax.analysis.ensemble.blog_gate_matches`): "
            f"**{head.n_blog_gate}** of {head.n_seeds}.\n")


def census_lead(census: Census, head: Headline, figures_markdown: str = "") -> str:
    """The leading section of the report and the comparison (module docstring);
    ``figures_markdown``: the writer's Markdown for :func:`lead_figures`."""
    return "\n".join([
        "## Families and strategies (the census)\n", headline_markdown(head),
        f"Families say how the flag reaches the memory (decided on the update gate's mean at "
        f"unflagged and flagged steps: {', '.join(FAMILY_FEATURES)}); strategies within a "
        f"family say how the memory leaks and how the flag pushes the candidate "
        f"({', '.join(STRATEGY_FEATURES)}). Losses and errors are outcomes, reported here and "
        f"never clustered on (`gru_jax.analysis.census(run)`).\n",
        table(FAMILY_HEADER, family_rows(census), 3),
        table(STRATEGY_HEADER, strategy_rows(census), 3),
        "The mechanism per family (medians; route shares: the flag's effect on the output "
        "through the reset gate / update gate / candidate):\n",
        table(["family", "z unflagged", "z flagged", "r unflagged", "r flagged",
               "route shares r / z / n", "leading eigenvalue (flag 0)", "candidate push"],
              mechanism_rows(census), 3),
        stability_markdown(census),
        "**The threshold axis** (general: adds at other lengths and flag counts, worst "
        "relative error <= 0.1 on a probe grid; failed: final loss >= half the "
        "predict-the-mean baseline; length-specific: the rest):\n",
        threshold_axis_markdown(census), figures_markdown])


def lead_figures(census: Census, final_epoch: int) -> list[tuple]:
    """``[(figure, file name, caption)]`` shown with :func:`census_lead`: the behaviour plane by
    family, the family fractions, and (when measured) the commitment epochs."""
    legend = census.legend("family")
    out = [(strategy_plots.plot_strategy_scatter(
                census.column("z_flag0"), census.column("z_flag1"), census.families, legend,
                "mean update gate z at unflagged steps (1 = hold)",
                "mean update gate z at flagged steps (0 = write)", "Seeds by family"),
            "families_z.png", "Every seed in the behaviour plane, coloured by family."),
           (census_bars(legend, census.family_fractions,
                        list(zip(census.family_ci_low, census.family_ci_high)),
                        census.family_counts.tolist()),
            "families.png", "Fraction of seeds in each family, with 95% Wilson intervals.")]
    if np.any(np.isfinite(census.commitment_epoch)):
        out.append((strategy_plots.plot_commitment(census.commitment_epoch, census.families,
                                                   legend, census.snapshot_epochs,
                                                   final_epoch),
                    "commitment.png", "When seeds commit: per family, the fraction of its seeds "
                    "whose family no longer changes from that epoch on (every snapshot "
                    "assigned; dots: the medians)."))
    return out


def census_json(census: Census) -> dict:
    """Everything a reader needs to redo the tables: per family, strategy and seed."""
    def medians(mask):
        return {n: (None if not np.isfinite(v) else float(v)) for n, v in zip(
            census.feature_names, np.nanmedian(census.features[mask], axis=0))}

    fam_commit = census.commitment("family")
    families = [{"label": census.family_labels[f], "name": census.family_names[f],
                 "count": int(census.family_counts[f]),
                 "fraction": float(census.family_fractions[f]),
                 "ci95": [float(census.family_ci_low[f]), float(census.family_ci_high[f])],
                 "representative_seed": int(census.family_representatives[f]),
                 "threshold_counts": dict(zip(CLASSES, census.threshold_table("family")[f]
                                              .tolist())),
                 "commitment_epoch_quartiles": [None if not np.isfinite(q) else float(q)
                                                for q in fam_commit[f]],
                 "median_features": medians(census.families == f)}
                for f in range(census.n_families)]
    strategies = [{"label": census.strategy_labels[k], "name": census.names[k],
                   "family": census.family_labels[census.strategy_family[k]],
                   "count": int(census.counts[k]), "fraction": float(census.fractions[k]),
                   "ci95": [float(census.ci_low[k]), float(census.ci_high[k])],
                   "representative_seed": int(census.representatives[k]),
                   "median_features": medians(census.labels == k)}
                  for k in range(census.n_strategies)]

    def nullable(values):
        return [None if not np.isfinite(v) else float(v) for v in values]

    return {
        "criterion": census.criterion, "note": census.note,
        "random_state": census.random_state,
        "k_stability": {str(k): v for k, v in census.k_stability.items()},
        "family_ari": census.family_ari.tolist(),
        "dip_sensitivity": {str(k): v for k, v in census.dip_sensitivity.items()},
        "leak_dips": census.leak_dips.tolist(),
        "family_features": list(FAMILY_FEATURES), "strategy_features": list(STRATEGY_FEATURES),
        "features": [{"name": n, "unit": u} for n, u in zip(census.feature_names,
                                                            census.feature_units)],
        "families": families, "strategies": strategies,
        "seeds": census.seeds.tolist(), "family": census.families.tolist(),
        "strategy": census.labels.tolist(), "fit_index": census.fit_index.tolist(),
        "threshold_labels": census.threshold_labels.tolist(),
        "commitment_epoch": nullable(census.commitment_epoch),
        "strategy_commitment_epoch": nullable(census.strategy_commitment_epoch),
        "snapshot_epochs": np.asarray(census.snapshot_epochs).tolist()}


def census_markdown(census: Census, title: str, command: str, wall_s: float) -> str:
    """The census on its own page: families, strategies, mechanism, stability, the median of
    every feature per strategy, the figures."""
    lines = [f"# Census: {title}", "", f"Command: `{command}` ({wall_s:.0f} s).", "",
             table(FAMILY_HEADER, family_rows(census), 3),
             table(STRATEGY_HEADER, strategy_rows(census), 3),
             table(["family", "z unflagged", "z flagged", "r unflagged", "r flagged",
                    "route shares r / z / n", "leading eigenvalue (flag 0)", "candidate push"],
                   mechanism_rows(census), 3),
             stability_markdown(census),
             "## Median features per strategy", "",
             table(["feature", "unit"] + census.strategy_labels,
                   [[n, u] + [float(v) for v in census.median(n)]
                    for n, u in zip(census.feature_names, census.feature_units)], 3),
             "![families in the behaviour plane](families_z.png)", "",
             "![family fractions](families.png)", "",
             "![commitment epochs](commitment.png)" if np.any(
                 np.isfinite(census.commitment_epoch)) else "", ""]
    return "\n".join(lines)


def write_census(census: Census, directory: str, title: str, command: str,
                 wall_s: float, final_epoch: int = 2999, figure_formats=()) -> list[str]:
    """Write ``census.json``, ``census.md`` and the figures of :func:`lead_figures` (also as
    svg and/or pdf: ``figure_formats``)."""
    os.makedirs(directory, exist_ok=True)
    payload = census_json(census)
    payload.update(command=command, wall_s=wall_s)
    return [write_json(os.path.join(directory, "census.json"), payload),
            write_text(os.path.join(directory, "census.md"),
                       census_markdown(census, title, command, wall_s))] + [
        save_figure(fig, os.path.join(directory, name), formats=figure_formats)
        for fig, name, _ in lead_figures(census, final_epoch)]
