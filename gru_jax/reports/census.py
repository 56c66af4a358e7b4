"""The discovered census in what a researcher reads.

- :func:`census_lead`: the section that LEADS the report and the comparison (one function, so
  the two state the same table): the run's :class:`gru_jax.analysis.ensemble.Headline`, the
  census table (strategy, seeds, fraction with its 95% CI, median loss and generalization,
  representative seed, commitment epochs, general / length-specific / failed counts), the
  threshold axis as its own table, the criterion and the bootstrap agreement;
  :func:`lead_figures`: the strategy bars and the commitment epochs.
- On disk (``experiments/census_run.py``): ``census.json``, ``census.md`` and two figures.
"""
from __future__ import annotations

import os

import numpy as np

from ..plots import strategies as strategy_plots
from ..plots.reference import census_bars
from ..analysis.census import STRATEGIES, wilson_interval
from ..analysis.ensemble import Headline
from ..analysis.strategies import Census
from ..files import write_json, write_text
from .markdown import fmt, save_figure, table

CENSUS_HEADER = ["#", "strategy (named from its mechanism)", "seeds", "fraction", "95% CI",
                 "median final loss", "median error L4 k2", "median error L8 k2",
                 "representative seed", "commits at epoch (25/50/75%)",
                 "general / length-specific / failed"]


def census_rows(census: Census) -> list[list]:
    """One row per strategy, in :data:`CENSUS_HEADER` order (losses in scaled units; errors:
    relative RMS error, original units, on the length-L, k-flag cell)."""
    quartiles = census.commitment()
    thresholds = census.threshold_table()
    return [[f"S{k + 1}", census.names[k], int(census.counts[k]), census.fractions[k],
             f"[{census.ci_low[k]:.3f}, {census.ci_high[k]:.3f}]",
             10 ** census.median("log10_final_loss")[k],
             10 ** census.median("log10_error_L4k2")[k],
             10 ** census.median("log10_error_L8k2")[k],
             int(census.representatives[k]),
             " / ".join("-" if not np.isfinite(q) else f"{q:.0f}" for q in quartiles[k]),
             " / ".join(str(c) for c in thresholds[k])] for k in range(census.n_strategies)]


def threshold_axis_markdown(census: Census) -> str:
    """The general / length-specific / failed axis over all seeds: seeds, fraction, 95% CI."""
    total = len(census.labels)
    rows = []
    for cls in STRATEGIES:
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
    ``figures_markdown``: the writer's Markdown for :func:`lead_figures`, placed after the
    tables."""
    ari = census.bootstrap_ari
    stability = (f"Adjusted Rand index of these labels against mixtures refitted on {len(ari)} "
                 f"bootstrap resamples of the seeds: median {np.median(ari):.2f} (range "
                 f"{ari.min():.2f}-{ari.max():.2f}; 1 = the same partition, 0 = chance)."
                 if len(ari) else "No bootstrap.")
    note = f"**Note: {census.note}.**\n\n" if census.note else ""
    return "\n".join([
        "## Strategies (the discovered census)\n", headline_markdown(head),
        f"{note}Each seed is described by {len(census.feature_names)} features of its "
        "mechanism (`gru_jax.analysis.features`: aligned weights, gate values, the flag's "
        "routes, fixed points, generalization, loss); a Gaussian mixture on the standardised "
        f"features discovers **{census.n_strategies} strateg"
        f"{'y' if census.n_strategies == 1 else 'ies'}**, named from their median mechanism "
        "(`gru_jax.analysis.census(run)`). Figures colour seeds by strategy (S1, S2, ...).\n",
        table(CENSUS_HEADER, census_rows(census), 3),
        "Median final loss: scaled units; errors: relative RMS error (original units) on "
        "length 4 / 8 with 2 flags; commitment: the first snapshot epoch from which a seed's "
        "strategy (its snapshots assigned by the fitted mixture; a snapshot in no strategy's "
        "typical region counts as not yet committed) never changes again.\n",
        f"**How the strategies were chosen.** {census.criterion}. {stability}\n",
        "**The threshold axis** (general: adds at other lengths and flag counts, worst "
        "relative error <= 0.1 on a probe grid; failed: final loss >= half the "
        "predict-the-mean baseline; length-specific: the rest):\n",
        threshold_axis_markdown(census), figures_markdown])


def lead_figures(census: Census, final_epoch: int) -> list[tuple]:
    """``[(figure, file name, caption)]`` shown with :func:`census_lead`: the strategies'
    fractions, and (when measured) the commitment epochs."""
    out = [(census_bars(census.names, census.fractions,
                        list(zip(census.ci_low, census.ci_high)), census.counts.tolist()),
            "census.png", "Fraction of seeds in each discovered strategy, with 95% Wilson "
            "intervals.")]
    if np.any(np.isfinite(census.commitment_epoch)):
        out.append((strategy_plots.plot_commitment(census.commitment_epoch, census.labels,
                                                   census.names, census.snapshot_epochs,
                                                   final_epoch),
                    "commitment.png", "When seeds commit: per strategy, the fraction of its "
                    "seeds whose strategy no longer changes from that epoch on (snapshots "
                    "assigned to the fitted mixture; dots: the medians)."))
    return out


def census_json(census: Census) -> dict:
    """Everything a reader needs to redo the tables: per strategy and per seed."""
    quartiles = census.commitment()
    strategies = []
    for k in range(census.n_strategies):
        strategies.append({
            "name": census.names[k], "count": int(census.counts[k]),
            "fraction": float(census.fractions[k]),
            "ci95": [float(census.ci_low[k]), float(census.ci_high[k])],
            "representative_seed": int(census.representatives[k]),
            "threshold_counts": dict(zip(STRATEGIES, census.threshold_table()[k].tolist())),
            "commitment_epoch_quartiles": [None if not np.isfinite(q) else float(q)
                                           for q in quartiles[k]],
            "median_features": dict(zip(census.feature_names,
                                        [float(v) for v in census.median_features[k]]))})
    return {
        "criterion": census.criterion, "bic": census.bic,
        "bootstrap_ari": census.bootstrap_ari.tolist(),
        "features": [{"name": n, "unit": u} for n, u in zip(census.feature_names,
                                                            census.feature_units)],
        "strategies": strategies,
        "seeds": census.seeds.tolist(), "labels": census.labels.tolist(),
        "threshold_labels": census.threshold_labels.tolist(),
        "commitment_epoch": [None if not np.isfinite(e) else float(e)
                             for e in census.commitment_epoch],
        "snapshot_epochs": np.asarray(census.snapshot_epochs).tolist(),
        "snapshot_labels": np.asarray(census.snapshot_labels).tolist()}


def census_markdown(census: Census, title: str, command: str, wall_s: float) -> str:
    """The census table (strategies x fraction, CI, loss, generalization, representative,
    commitment, threshold classes), the criterion, the bootstrap agreement, the features."""
    ari = census.bootstrap_ari
    lines = [f"# Strategy census: {title}", "",
             f"Command: `{command}` ({wall_s:.0f} s).", "",
             (f"**Note: {census.note}.**\n" if census.note else ""),
             table(CENSUS_HEADER, census_rows(census), 3),
             f"**Criterion.** {census.criterion}.", "",
             (f"**Stability.** Adjusted Rand index of the census labels against mixtures "
              f"refitted on {len(ari)} bootstrap resamples of the seeds: median "
              f"{np.median(ari):.3f}, range {ari.min():.3f}-{ari.max():.3f}.") if len(ari)
             else "**Stability.** No bootstrap.", "",
             "Errors: relative RMS error (original units) on the length-L, k-flag cell. "
             "Commitment: every seed's snapshots at epochs "
             f"{', '.join(map(str, np.asarray(census.snapshot_epochs).tolist())) or 'none'} "
             "are assigned to the nearest strategy (the fitted mixture); a seed commits at the "
             "first of these epochs from which its label never changes again.", "",
             "## Median features per strategy", "",
             table(["feature", "unit"] + [f"S{k + 1}" for k in range(census.n_strategies)],
                   [[n, u] + list(census.median_features[:, i])
                    for i, (n, u) in enumerate(zip(census.feature_names,
                                                   census.feature_units))], 3),
             "![z by strategy](strategies_z.png)", "", "![BIC](bic.png)", "",
             "![commitment epochs](commitment.png)" if np.any(
                 np.isfinite(census.commitment_epoch)) else "", ""]
    return "\n".join(lines)


def write_census(census: Census, directory: str, title: str, command: str,
                 wall_s: float, final_epoch: int = 2999) -> list[str]:
    """Write ``census.json``, ``census.md``, ``strategies_z.png``, ``bic.png`` and (when the
    commitment was measured; ``final_epoch``: the run's last epoch) ``commitment.png``."""
    os.makedirs(directory, exist_ok=True)
    z0 = census.features[:, census.feature_names.index("z_flag0")]
    z1 = census.features[:, census.feature_names.index("z_flag1")]
    chosen = f"{census.covariance_type} {len(census.mixture.weights_)}"
    payload = census_json(census)
    payload.update(command=command, wall_s=wall_s)
    return [
        write_json(os.path.join(directory, "census.json"), payload),
        write_text(os.path.join(directory, "census.md"),
                   census_markdown(census, title, command, wall_s)),
        save_figure(strategy_plots.plot_strategy_scatter(
            z0, z1, census.labels, census.names, "mean update gate z at flag-0 steps (1 = hold)",
            "mean update gate z at flag-1 steps (0 = take the candidate)",
            f"Update-gate behaviour per seed, coloured by strategy ({title})"),
            os.path.join(directory, "strategies_z.png")),
        save_figure(strategy_plots.plot_bic(census.bic, chosen),
                    os.path.join(directory, "bic.png"))] + [
        save_figure(fig, os.path.join(directory, name))
        for fig, name, _ in lead_figures(census, final_epoch)[1:]]
