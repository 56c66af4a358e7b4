"""The discovered census on disk: ``census.json``, ``census.md`` and two figures."""
from __future__ import annotations

import os

import numpy as np

from ..plots import strategies as strategy_plots
from ..analysis.census import STRATEGIES
from ..analysis.strategies import Census
from ..files import write_json, write_text
from .markdown import save_figure, table


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
    quartiles = census.commitment()
    thresholds = census.threshold_table()
    rows = []
    for k in range(census.n_strategies):
        rows.append([k, census.names[k], int(census.counts[k]), census.fractions[k],
                     f"[{census.ci_low[k]:.3f}, {census.ci_high[k]:.3f}]",
                     10 ** census.median("log10_final_loss")[k],
                     10 ** census.median("log10_error_L4k2")[k],
                     10 ** census.median("log10_error_L8k2")[k],
                     int(census.representatives[k]),
                     " / ".join("-" if not np.isfinite(q) else f"{q:.0f}" for q in quartiles[k]),
                     " / ".join(str(c) for c in thresholds[k])])
    header = ["#", "strategy (from its mechanism)", "seeds", "fraction", "95% CI",
              "median final loss", "median error L4 k2", "median error L8 k2",
              "representative seed", "commits at epoch (25/50/75%)",
              "general / length-specific / failed"]
    ari = census.bootstrap_ari
    lines = [f"# Strategy census: {title}", "",
             f"Command: `{command}` ({wall_s:.0f} s).", "",
             table(header, rows, 3),
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
             table(["feature", "unit"] + [str(k) for k in range(census.n_strategies)],
                   [[n, u] + list(census.median_features[:, i])
                    for i, (n, u) in enumerate(zip(census.feature_names,
                                                   census.feature_units))], 3),
             "![z by strategy](strategies_z.png)", "", "![BIC](bic.png)", ""]
    return "\n".join(lines)


def write_census(census: Census, directory: str, title: str, command: str,
                 wall_s: float) -> list[str]:
    """Write ``census.json``, ``census.md``, ``strategies_z.png`` and ``bic.png``."""
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
                    os.path.join(directory, "bic.png"))]
