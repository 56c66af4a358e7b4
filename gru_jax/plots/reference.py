"""Figures of the learned-versus-designed comparison. Each function takes arrays and returns a
matplotlib Figure; the caller saves and closes it."""
from __future__ import annotations

from typing import Mapping, Optional, Sequence

import matplotlib.pyplot as plt
from matplotlib.colors import LogNorm
import numpy as np

from ..blog import MEAN_BASELINE
from .strategies import (REFERENCE_STYLES, draw_legend, draw_strategy_bands, strategy_colours,
                         strategy_groups, strategy_label)

CLASS_MARKERS = {"length-specific": "o", "general": "^", "failed": "x"}
MARK_STYLES = REFERENCE_STYLES


def parameter_distributions(vectors: np.ndarray, names: Sequence[str],
                            marks: Mapping[str, np.ndarray], bins: int = 30,
                            clip_marks: float = 25.0, labels: Optional[np.ndarray] = None,
                            strategy_names: Optional[Sequence[str]] = None) -> plt.Figure:
    """Histogram per canonical coordinate of the seeds' final values, with marked reference sets.

    Args:
      vectors: ``(S, P)`` canonical coordinates. names: ``P`` coordinate names.
      marks: label -> ``(P,)`` values drawn as vertical lines. The panel spans the seeds and
        every mark with ``|value| <= clip_marks``; a larger mark (the exact accumulator's
        readout 2000) is drawn as an arrow at the edge with its value, never as a line inside
        the range, and its legend entry says "off the axis".
      labels, strategy_names: optional strategy per seed ``(S,)`` int and the names: the
        histograms are stacked by strategy (colours and names in the figure's legend).
    """
    count = len(names)
    cols = 5
    rows = int(np.ceil(count / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.6 * rows))
    for i, ax in enumerate(np.ravel(axes)):
        if i >= count:
            ax.axis("off")
            continue
        values = np.asarray(vectors)[:, i]
        finite = values[np.isfinite(values)]
        if labels is None:
            ax.hist(finite, bins=bins, color="0.6")
        elif finite.size:
            kept = np.asarray(labels)[np.isfinite(values)]
            ax.hist([finite[kept == k] for k in range(len(strategy_names))],
                    bins=np.histogram_bin_edges(finite, bins), stacked=True,
                    color=strategy_colours(len(strategy_names)))
        near = [float(np.asarray(m)[i]) for m in marks.values()
                if abs(float(np.asarray(m)[i])) <= clip_marks]
        span = np.concatenate([finite, near]) if finite.size or near else np.array([-1.0, 1.0])
        lo, hi = float(np.min(span)), float(np.max(span))
        pad = 0.05 * (hi - lo) + 1e-3
        for (label, mark), (color, style) in zip(marks.items(), MARK_STYLES):
            value = float(np.asarray(mark)[i])
            if lo - pad <= value <= hi + pad:
                ax.axvline(value, color=color, linestyle=style, label=f"{label} ({value:.3g})")
            else:                     # off the axis: an arrow at the edge, never a line in range
                edge = hi + 2 * pad if value > hi else lo - 2 * pad
                ax.annotate(f"{value:.3g}", xy=(edge, 0.9), xycoords=("data", "axes fraction"),
                            ha="right" if value > hi else "left", fontsize=9, color=color,
                            arrowprops=dict(arrowstyle="->", color=color))
                ax.plot([], [], color=color, linestyle=style,
                        label=f"{label} ({value:.3g}, off the axis)")
        ax.set_xlim(lo - 2 * pad, hi + 2 * pad)
        ax.set_title(names[i], fontsize=9)
        ax.set_xlabel("value (scaled-input units)", fontsize=9)
        ax.set_ylabel("seeds", fontsize=9)
        ax.legend(fontsize=9, loc="upper right")
    fig.suptitle("Final canonical parameters over seeds, with the hand-crafted and blog values")
    if labels is not None:
        handles = [plt.Rectangle((0, 0), 1, 1, color=c) for c in
                   strategy_colours(len(strategy_names))]
        fig.legend(handles, [strategy_label(k, n, int(np.sum(np.asarray(labels) == k)))
                             for k, n in enumerate(strategy_names)],
                   loc="lower center", ncol=2, fontsize=9, frameon=False)
        fig.tight_layout(rect=(0, 0.03 * (len(strategy_names) + 1) / 2 + 0.02, 1, 1))
    else:
        fig.tight_layout()
    return fig


def behaviour_scatter(behaviour: np.ndarray, labels: Optional[np.ndarray],
                      references: Mapping[str, Sequence[float]],
                      names: Sequence[str] = (), classes: Optional[np.ndarray] = None,
                      blog_box=((0.77, 0.83), (0.14, 0.20))) -> plt.Figure:
    """Mean update gate at flag 0 (x) vs flag 1 (y) per seed, coloured by strategy.

    Args:
      behaviour: ``(S, 2)``. labels: ``(S,)`` strategy (int, census numbering) or None;
        names: the strategies' names.
      classes: optional ``(S,)`` threshold class per seed (general / length-specific /
        failed), drawn as the marker (:data:`CLASS_MARKERS`).
      references: label -> ``(z0, z1)`` points drawn as stars.
      blog_box: the blog's published ranges, drawn as a rectangle.
    """
    fig, ax = plt.subplots(figsize=(7.4, 7.6) if labels is not None else (6, 5.5))
    behaviour = np.asarray(behaviour)
    classes = (np.full(len(behaviour), "length-specific") if classes is None
               else np.asarray(classes))
    if labels is None:
        ax.scatter(behaviour[:, 0], behaviour[:, 1], s=12, alpha=0.6, label="seeds")
    else:
        labels = np.asarray(labels)
        for k, (name, colour) in enumerate(zip(names, strategy_colours(len(names)))):
            for cls, marker in CLASS_MARKERS.items():
                pick = (labels == k) & (classes == cls)
                if pick.any():
                    ax.scatter(behaviour[pick, 0], behaviour[pick, 1], s=12, alpha=0.6,
                               color=colour, marker=marker)
            ax.scatter([], [], s=12, color=colour,
                       label=strategy_label(k, name, int(np.sum(labels == k))))
        for cls, marker in CLASS_MARKERS.items():
            if np.any(classes == cls) and len(set(classes.tolist())) > 1:
                ax.scatter([], [], s=14, color="black", marker=marker,
                           label=f"marker: {cls} ({int(np.sum(classes == cls))})")
    (x0, x1), (y0, y1) = blog_box
    ax.add_patch(plt.Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, edgecolor="black",
                               linestyle="--", label="blog seed 37's first-step ranges"))
    for (label, point), marker in zip(references.items(), ("*", "P", "X")):
        ax.scatter([point[0]], [point[1]], marker=marker, s=220, edgecolor="black",
                   color="gold", label=label, zorder=5)
    ax.set_xlim(-0.02, 1.02)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("mean update gate z at flag-0 steps (1 = hold)")
    ax.set_ylabel("mean update gate z at flag-1 steps (0 = take the candidate)")
    ax.set_title("Update-gate behaviour per seed (length-4, 2-flag probe)")
    draw_legend(ax, below=labels is not None, offset=-0.1, loc="upper right")
    fig.tight_layout()
    return fig


def distance_bands(epochs: np.ndarray, distances: np.ndarray, ylabel: str, title: str,
                   individual: Sequence[int] = (), quantiles=(0.1, 0.25, 0.5, 0.75, 0.9),
                   log: bool = False, labels: Optional[np.ndarray] = None,
                   names: Sequence[str] = (), seeds: Optional[Sequence[int]] = None
                   ) -> plt.Figure:
    """Median and quantile bands over seeds of a distance over epochs, plus a few seeds.

    Args:
      epochs: ``(E,)`` (-1 = init, drawn at 0). distances: ``(S, E)``.
      individual: rows of ``distances`` drawn as thin lines, labelled with their seed values
        (``seeds``, ``(S,)``; default: the row is the seed).
      labels, names: optional strategy per seed ``(S,)`` int and the names: the bands are then
        per strategy (median and 25-75%, in its colour) over a grey band of all seeds.
    """
    x = np.maximum(np.asarray(epochs), 0)
    d = np.asarray(distances, np.float64)
    q = np.nanquantile(d, quantiles, axis=0)
    fig, ax = plt.subplots(figsize=(7, 4.2) if labels is None else (8.6, 5.0 + 0.14 * len(names)))
    if labels is None:
        ax.fill_between(x, q[0], q[-1], alpha=0.2, color="tab:blue",
                        label=f"{quantiles[0]:.0%}-{quantiles[-1]:.0%} of seeds")
        ax.fill_between(x, q[1], q[-2], alpha=0.35, color="tab:blue",
                        label=f"{quantiles[1]:.0%}-{quantiles[-2]:.0%} of seeds")
        ax.plot(x, q[len(quantiles) // 2], color="tab:blue", linewidth=2, label="median")
    else:
        ax.fill_between(x, q[0], q[-1], color="0.88", linewidth=0,
                        label=f"all seeds {quantiles[0]:.0%}-{quantiles[-1]:.0%}")
        draw_strategy_bands(ax, x, d, labels, names)
    for i in individual:
        ax.plot(x, d[i], linewidth=0.8, alpha=0.8, color="black" if labels is not None else None,
                linestyle=":", label=f"seed {i if seeds is None else int(seeds[i])}")
    if log:
        ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    draw_legend(ax, below=labels is not None, offset=-0.14)
    fig.tight_layout()
    return fig


def generalization_heatmaps(lengths: Sequence[int], flag_counts: Sequence[int],
                            panels: Mapping[str, np.ndarray], fraction_panel: Optional[str] = None
                            ) -> plt.Figure:
    """Heatmaps over (flags, length): relative RMS error (log colour scale) per panel; the panel
    named ``fraction_panel`` holds fractions of seeds (linear 0..1 scale)."""

    names = list(panels)
    fig, axes = plt.subplots(1, len(names), figsize=(4.2 * len(names), 4.2), squeeze=False)
    extent = (-0.5, len(lengths) - 0.5, -0.5, len(flag_counts) - 0.5)
    for ax, name in zip(axes[0], names):
        data = np.asarray(panels[name], np.float64).T           # (flags, lengths)
        if name == fraction_panel:
            image = ax.imshow(data, origin="lower", aspect="auto", extent=extent, vmin=0, vmax=1,
                              cmap="viridis")
            label = "fraction of seeds within 5%"
        else:
            image = ax.imshow(np.clip(data, 1e-7, None), origin="lower", aspect="auto",
                              extent=extent, norm=LogNorm(1e-6, 10), cmap="magma_r")
            label = "relative RMS error"
        fig.colorbar(image, ax=ax, label=label)
        step = max(1, len(lengths) // 8)
        ax.set_xticks(range(0, len(lengths), step))
        ax.set_xticklabels([str(lengths[i]) for i in range(0, len(lengths), step)])
        ax.set_yticks(range(len(flag_counts)))
        ax.set_yticklabels([str(k) for k in flag_counts])
        ax.set_xlabel("sequence length (steps)")
        ax.set_ylabel("number of flags")
        ax.set_title(name, fontsize=10)
    fig.suptitle("Generalization over length x number of flags (blank: flags > length)")
    fig.tight_layout()
    return fig


def census_bars(names: Sequence[str], fractions: Sequence[float],
                intervals: Sequence[tuple[float, float]], counts: Sequence[int]) -> plt.Figure:
    """Fraction of seeds per discovered strategy (S1, S2, ... in the strategy colours, names in
    the legend) with 95% Wilson intervals."""
    fig, ax = plt.subplots(figsize=(7.4, 4.4 + 0.16 * len(names)))
    frac = np.asarray(fractions, np.float64)
    # the interval holds the fraction; clip float rounding (1 - 1e-16) out of the error bars
    lo = np.maximum(frac - np.asarray([i[0] for i in intervals]), 0.0)
    hi = np.maximum(np.asarray([i[1] for i in intervals]) - frac, 0.0)
    colours = strategy_colours(len(names))
    ticks = [f"S{k + 1}" for k in range(len(names))]
    ax.bar(ticks, frac, yerr=[lo, hi], capsize=6, color=colours)
    for k, count in enumerate(counts):
        ax.text(k, frac[k] + hi[k] + 0.02, f"n={count}", ha="center", fontsize=9)
    for k, name in enumerate(names):
        ax.bar([ticks[k]], [0], color=colours[k], label=strategy_label(k, name))
    ax.set_ylim(0, 1.08)
    ax.set_xlabel("strategy (bars: 95% Wilson interval)")
    ax.set_ylabel("fraction of seeds")
    ax.set_title("Discovered strategies of the ensemble")
    draw_legend(ax, offset=-0.14)
    fig.tight_layout()
    return fig


def interpolation_paths(alphas: np.ndarray, paths: Mapping[str, np.ndarray],
                        baseline: float = MEAN_BASELINE) -> plt.Figure:
    """Training loss (scaled units, log) along seed -> hand-crafted straight lines: median and
    10-90% band over seeds, one colour per reference."""
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for (label, losses), color in zip(paths.items(), ("tab:blue", "tab:orange", "tab:green")):
        q = np.nanquantile(np.asarray(losses, np.float64), (0.1, 0.5, 0.9), axis=0)
        ax.fill_between(alphas, q[0], q[2], alpha=0.25, color=color,
                        label=f"{label}: 10-90% of seeds")
        ax.plot(alphas, q[1], color=color, linewidth=2, label=f"{label}: median")
    ax.axhline(baseline, color="gray", linestyle=":", label="predict-the-mean baseline (1/6)")
    ax.set_yscale("log")
    ax.set_xlabel("interpolation alpha (0 = learned seed, 1 = hand-crafted set)")
    ax.set_ylabel("training loss, MSE (scaled units)")
    ax.set_title("Loss along the straight path from each seed to the hand-crafted set")
    ax.legend(fontsize=9)
    fig.tight_layout()
    return fig


def tradeoff_plot(rows: Sequence[Mapping], target: float = 1e-4) -> plt.Figure:
    """The accumulator's precision vs weight size: worst relative RMS error (measured, and the
    first-order bound) against the largest weight, one line per gate sharpness.

    Args:
      rows: :func:`gru_jax.handcrafted.tradeoff_table` rows (keys gain, sharpness, max_weight,
        bound, and optionally measured).
    """
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for i, sharp in enumerate(sorted({r["sharpness"] for r in rows})):
        sel = sorted((r for r in rows if r["sharpness"] == sharp), key=lambda r: r["max_weight"])
        color = plt.cm.viridis(i / max(1, len({r["sharpness"] for r in rows}) - 1))
        weight = [r["max_weight"] for r in sel]
        if "measured" in sel[0]:
            ax.plot(weight, [r["measured"] for r in sel], "o-", color=color,
                    label=f"sharpness {sharp:g}: measured")
        ax.plot(weight, [r["bound"] for r in sel], "--", color=color, alpha=0.6,
                label=f"sharpness {sharp:g}: bound")
    ax.axhline(target, color="black", linestyle=":", label=f"target {target:g}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("largest |parameter| (readout 1/gain or 2 x sharpness)")
    ax.set_ylabel("worst-cell relative RMS error")
    ax.set_title("Accumulator: precision vs weight size (gain sets the readout 1/gain)")
    ax.legend(fontsize=9, ncol=2)
    fig.tight_layout()
    return fig


def leading_eigenvalues(eigenvalues: np.ndarray, final_loss: np.ndarray,
                        labels: Optional[np.ndarray], references: Mapping[str, float],
                        names: Sequence[str] = ()) -> plt.Figure:
    """Per seed: the leading Jacobian eigenvalue at the flag-0 fixed point nearest 0 (x) against
    the final training loss (y, log), coloured by strategy; references as vertical lines.

    Args:
      eigenvalues: ``(S,)`` (1 = a sum held perfectly). final_loss: ``(S,)`` scaled units.
      labels: ``(S,)`` strategy (int, census numbering) or None; names: the strategies'.
      references: label -> eigenvalue.
    """
    fig, ax = plt.subplots(figsize=(7, 4.6) if labels is None else (7.4, 6.4))
    eigenvalues, final_loss = np.asarray(eigenvalues, float), np.asarray(final_loss, float)
    groups = strategy_groups(labels, names, len(eigenvalues), None,
                             f"seeds ({len(eigenvalues)})")
    for pick, colour, label in groups:
        if pick.any():
            ax.scatter(eigenvalues[pick], final_loss[pick], s=12, alpha=0.6, color=colour,
                       label=label)
    for (label, value), color in zip(references.items(), ("tab:green", "tab:purple")):
        ax.axvline(value, color=color, linestyle="--", label=f"{label} ({value:.3f})")
    ax.set_yscale("log")
    ax.set_xlabel("leading eigenvalue of dh'/dh at the flag-0 fixed point (1 = no leak)")
    ax.set_ylabel("final training loss (scaled units)")
    ax.set_title("How well each seed holds a sum between flags")
    ax.grid(alpha=0.3)
    draw_legend(ax, below=labels is not None)
    fig.tight_layout()
    return fig
