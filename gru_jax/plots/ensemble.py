"""Figures across an ensemble: quantile bands, trajectory fans, histograms, gate scatter.

Many seeds are drawn as quantile bands, never one line per seed. Every function takes arrays
and returns a Figure; callers save and close it. Given strategy ``labels (S,)`` int and
``names`` (the discovered census), seeds are coloured by strategy
(:mod:`gru_jax.plots.strategies`: the same colour and legend name in every figure).
"""
from __future__ import annotations

from typing import Mapping, Optional, Sequence

import matplotlib.pyplot as plt
import numpy as np

from .strategies import (REFERENCE_STYLES, draw_legend, draw_strategy_bands, strategy_colours,
                         strategy_groups, strategy_label)


def _band_pairs(quantiles: Sequence[float]):
    """Index pairs (lower, upper) of symmetric quantiles, outermost first, and the median."""
    qs = list(quantiles)
    pairs = [(i, len(qs) - 1 - i) for i in range(len(qs) // 2)]
    median = qs.index(0.5) if 0.5 in qs else None
    return pairs, median


def _draw_bands(ax, x, bands, quantiles, color, label):
    pairs, median = _band_pairs(quantiles)
    for k, (lo, hi) in enumerate(pairs):
        ax.fill_between(x, bands[lo], bands[hi], color=color, alpha=0.18 + 0.12 * k, linewidth=0,
                        label=f"{label} {quantiles[lo]:.0%}-{quantiles[hi]:.0%}")
    if median is not None:
        ax.plot(x, bands[median], color=color, linewidth=1.6, label=f"{label} median")


def _epoch_axes(ax, baseline: Optional[float], baseline_style: str, marks: Sequence[int],
                log: bool, ylabel: str, title: str) -> None:
    """The loss figures' common frame: the predict-the-mean line, faint verticals at ``marks``,
    log scale, labels, title and grid."""
    if baseline is not None:
        ax.axhline(baseline, color="grey", linestyle=baseline_style,
                   label=f"predict-the-mean {baseline:.4g}")
    for e in marks:
        ax.axvline(e, color="grey", alpha=0.12, linewidth=0.6)
    if log:
        ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3, which="both")


def plot_loss_bands(curves: Mapping[str, tuple[np.ndarray, np.ndarray]],
                    quantiles: Sequence[float], ylabel: str, title: str,
                    baseline: Optional[float] = None, log: bool = True,
                    marks: Sequence[int] = ()) -> plt.Figure:
    """Median and quantile bands of loss curves over seeds.

    Args:
      curves: ``{label: (epochs (T,), bands (Q, T))}`` (bands from
        :func:`gru_jax.analysis.ensemble.loss_bands`).
      quantiles: the Q levels, symmetric around 0.5.
      baseline: optional horizontal reference (e.g. predict-the-mean).
      marks: epochs to mark with faint verticals (e.g. eval epochs).
    """
    fig, ax = plt.subplots(figsize=(10, 4.8))
    colors = ("tab:blue", "tab:orange", "tab:green", "tab:purple")
    for (label, (x, bands)), color in zip(curves.items(), colors):
        _draw_bands(ax, x, bands, quantiles, color, label)
    _epoch_axes(ax, baseline, "--", marks, log, ylabel, title)
    ax.legend(fontsize=9)
    fig.tight_layout()
    return fig


def plot_loss_by_strategy(x: np.ndarray, loss: np.ndarray, labels: np.ndarray,
                          names: Sequence[str], ylabel: str, title: str,
                          baseline: Optional[float] = None, marks: Sequence[int] = (),
                          log: bool = True) -> plt.Figure:
    """Loss curves ``(S, T)`` at ``x (T,)``: per strategy the median and 25-75% band in its
    colour; black dashed: the median over all seeds; ``baseline``, ``marks`` as in
    :func:`plot_loss_bands`."""
    fig, ax = plt.subplots(figsize=(10, 5.0 + 0.14 * len(names)))
    draw_strategy_bands(ax, x, loss, labels, names)
    with np.errstate(all="ignore"):
        ax.plot(x, np.nanmedian(np.asarray(loss, np.float64), axis=0), "k--", linewidth=1.0,
                label="all seeds: median")
    _epoch_axes(ax, baseline, ":", marks, log, ylabel, title + " (median and 25-75% per strategy)")
    draw_legend(ax, ncol=2)
    fig.tight_layout()
    return fig


def plot_trajectory_fans(epochs: np.ndarray, names: Sequence[str], bands: np.ndarray,
                         quantiles: Sequence[float],
                         marks: Optional[Mapping[str, Mapping[str, float]]] = None,
                         title: str = "Parameter trajectories over seeds",
                         ylabel: str = "parameter value",
                         by_strategy: Optional[tuple] = None) -> plt.Figure:
    """One small panel per parameter: median and quantile fan over seeds against epoch.

    Args:
      epochs: ``(n,)``. names: ``(P,)``. bands: ``(Q, n, P)`` quantiles over seeds.
      marks: optional ``{marker label: {parameter name: value}}`` drawn as horizontal lines
        (e.g. the blog's final weights).
      by_strategy: optional ``(values (S, n, P), labels (S,), strategy names)``: the fan of all
        seeds is then grey and each strategy's median and 25-75% band is drawn in its colour.
    """
    n_params = len(names)
    cols = 4 if n_params > 6 else n_params
    rows = int(np.ceil(n_params / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3.4 * cols, 2.4 * rows), squeeze=False,
                             sharex=True)
    mark_styles = tuple(colour for colour, _ in REFERENCE_STYLES)
    for p, name in enumerate(names):
        ax = axes[p // cols][p % cols]
        if by_strategy is None:
            _draw_bands(ax, epochs, bands[:, :, p], quantiles, "tab:blue", "seeds")
        else:
            lo, hi = bands[0, :, p], bands[-1, :, p]
            ax.fill_between(epochs, lo, hi, color="0.85", linewidth=0,
                            label=f"all seeds {quantiles[0]:.0%}-{quantiles[-1]:.0%}")
            values, labels, strategy_names = by_strategy
            draw_strategy_bands(ax, epochs, np.asarray(values)[:, :, p], labels, strategy_names)
        for (label, values), color in zip((marks or {}).items(), mark_styles):
            if name in values:
                ax.axhline(values[name], color=color, linestyle="--", linewidth=1.0, label=label)
        ax.axhline(0.0, color="black", linewidth=0.5)
        ax.set_title(name, fontsize=9)
        ax.tick_params(labelsize=9)
        ax.grid(alpha=0.3)
        if p % cols == 0:
            ax.set_ylabel(ylabel, fontsize=9)
        if p // cols == rows - 1:
            ax.set_xlabel("epoch (-1 = init)", fontsize=9)
    for p in range(n_params, rows * cols):
        axes[p // cols][p % cols].axis("off")
    handles, labels = axes[0][0].get_legend_handles_labels()
    for p in range(1, n_params):
        for h, name in zip(*axes[p // cols][p % cols].get_legend_handles_labels()):
            if name not in labels:
                handles.append(h)
                labels.append(name)
    fig.suptitle(title)
    # fixed margins: tight_layout over a dozen panels costs seconds per figure
    if by_strategy is None:
        fig.legend(handles, labels, loc="lower right", fontsize=9, ncol=2)
        fig.subplots_adjust(left=0.07, right=0.98, bottom=0.1, top=0.92, wspace=0.3,
                            hspace=0.45)
    else:
        rows_of_legend = int(np.ceil(len(labels) / 2))
        fig.set_size_inches(fig.get_size_inches()[0],
                            fig.get_size_inches()[1] + 0.17 * rows_of_legend)
        bottom = (0.17 * rows_of_legend + 0.5) / fig.get_size_inches()[1]
        fig.legend(handles, labels, loc="lower center", fontsize=9, ncol=2, frameon=False)
        fig.subplots_adjust(left=0.07, right=0.98, bottom=bottom, top=0.93, wspace=0.3,
                            hspace=0.45)
    return fig


def plot_histogram(values: np.ndarray, xlabel: str, title: str, bins: int = 40,
                   log_x: bool = False, marks: Optional[Mapping[str, float]] = None,
                   ylabel: str = "number of seeds", note: Optional[str] = None,
                   labels: Optional[np.ndarray] = None,
                   names: Optional[Sequence[str]] = None) -> plt.Figure:
    """Histogram of one value per seed (non-finite values are left out and counted in the
    title or ``note``); ``marks`` draws labelled verticals (e.g. the blog's value); with
    strategy ``labels (S,)`` and ``names`` the bars are stacked by strategy."""
    values = np.asarray(values, float).ravel()
    keep = np.isfinite(values) & ((values > 0) if log_x else True)
    finite = values[keep]
    fig, ax = plt.subplots(figsize=(8, 4.4) if labels is None else (8, 5.0 + 0.14 * len(names)))
    if finite.size:
        edges = (np.logspace(np.log10(finite.min()), np.log10(finite.max()) + 1e-9, bins + 1)
                 if log_x and finite.min() < finite.max() else bins)
        if labels is None:
            ax.hist(finite, bins=edges, color="tab:blue", alpha=0.8, edgecolor="white")
        else:
            kept = np.asarray(labels)[keep]
            groups = [finite[kept == k] for k in range(len(names))]
            ax.hist(groups, bins=edges, stacked=True, color=strategy_colours(len(names)),
                    edgecolor="white", linewidth=0.3,
                    label=[strategy_label(k, n, len(g)) for k, (n, g) in
                           enumerate(zip(names, groups))])
    if log_x:
        ax.set_xscale("log")
    for (label, x), (color, style) in zip((marks or {}).items(), REFERENCE_STYLES):
        ax.axvline(x, color=color, linestyle=style, linewidth=1.4, label=label)
    if labels is not None or marks:
        draw_legend(ax, below=labels is not None, offset=-0.14)
    left_out = values.size - finite.size
    suffix = (f" ({left_out} of {values.size} seeds not shown: {note or 'undefined'})"
              if left_out else "")
    ax.set_title(title + suffix, fontsize=10)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def plot_gate_ranges(z_ranges: np.ndarray, boxes: Mapping[str, tuple[tuple[float, float],
                                                                     tuple[float, float]]],
                     title: str = "First-step update gate per seed",
                     labels: Optional[np.ndarray] = None,
                     names: Optional[Sequence[str]] = None) -> plt.Figure:
    """Each seed's first-step z range for flag 0 (x) and flag 1 (y), as a cross at the midpoints
    with its extent; ``boxes`` ``{label: ((x lo, x hi), (y lo, y hi))}`` shades reference regions
    (the blog's [0.77, 0.83] x [0.14, 0.20]); coloured by strategy given ``labels``, ``names``."""
    z_ranges = np.asarray(z_ranges, float)
    mid = z_ranges.mean(axis=-1)
    half = (z_ranges[..., 1] - z_ranges[..., 0]) / 2
    fig, ax = plt.subplots(figsize=(7.4, 7.0) if labels is not None else (6.2, 5.6))
    groups = strategy_groups(labels, names, len(mid), "tab:blue", "seed (bars: range over values)")
    for pick, colour, label in groups:
        if pick.any():
            ax.errorbar(mid[pick, 0], mid[pick, 1], xerr=half[pick, 0], yerr=half[pick, 1],
                        fmt="o", markersize=2, alpha=0.35, elinewidth=0.5, color=colour,
                        label=label)
    for (label, ((x0, x1), (y0, y1))), (color, style) in zip(boxes.items(), REFERENCE_STYLES):
        ax.add_patch(plt.Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, edgecolor=color,
                                   linestyle=style, linewidth=1.6, label=label))
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("z for flag 0 (first step, h = 0)")
    ax.set_ylabel("z for flag 1 (first step, h = 0)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    draw_legend(ax, below=labels is not None, offset=-0.1, loc="upper left")
    fig.tight_layout()
    return fig
