"""Figures of the learned-versus-designed comparison. Each function takes arrays and returns a
matplotlib Figure; the caller saves and closes it."""
from __future__ import annotations

from typing import Mapping, Optional, Sequence

import matplotlib.pyplot as plt
from matplotlib.colors import LogNorm
import numpy as np

from ..blog import MEAN_BASELINE

STRATEGY_COLORS = {"general": "tab:green", "length-specific": "tab:blue", "failed": "tab:red"}
MARK_STYLES = (("tab:red", "-"), ("black", "--"), ("tab:purple", ":"))


def parameter_distributions(vectors: np.ndarray, names: Sequence[str],
                            marks: Mapping[str, np.ndarray], bins: int = 30,
                            clip_marks: float = 25.0) -> plt.Figure:
    """Histogram per canonical coordinate of the seeds' final values, with marked reference sets.

    Args:
      vectors: ``(S, P)`` canonical coordinates. names: ``P`` coordinate names.
      marks: label -> ``(P,)`` values drawn as vertical lines. The panel spans the seeds and
        every mark with ``|value| <= clip_marks``; larger marks (the exact accumulator's readout
        2000) are drawn at the edge, their value in the legend.
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
        ax.hist(finite, bins=bins, color="0.6")
        near = [float(np.asarray(m)[i]) for m in marks.values()
                if abs(float(np.asarray(m)[i])) <= clip_marks]
        span = np.concatenate([finite, near]) if finite.size or near else np.array([-1.0, 1.0])
        lo, hi = float(np.min(span)), float(np.max(span))
        pad = 0.05 * (hi - lo) + 1e-3
        for (label, mark), (color, style) in zip(marks.items(), MARK_STYLES):
            value = float(np.asarray(mark)[i])
            shown = float(np.clip(value, lo - pad, hi + pad))
            ax.axvline(shown, color=color, linestyle=style, label=f"{label} ({value:.3g})")
        ax.set_xlim(lo - 2 * pad, hi + 2 * pad)
        ax.set_title(names[i], fontsize=9)
        ax.set_xlabel("value (scaled-input units)", fontsize=7)
        ax.set_ylabel("seeds", fontsize=7)
        ax.legend(fontsize=5.5, loc="upper right")
    fig.suptitle("Final canonical parameters over seeds, with the hand-crafted and blog values")
    fig.tight_layout()
    return fig


def behaviour_scatter(behaviour: np.ndarray, labels: Optional[np.ndarray],
                      references: Mapping[str, Sequence[float]],
                      blog_box=((0.77, 0.83), (0.14, 0.20))) -> plt.Figure:
    """Mean update gate at flag 0 (x) vs flag 1 (y) per seed, coloured by strategy.

    Args:
      behaviour: ``(S, 2)``. labels: ``(S,)`` strategy names or None.
      references: label -> ``(z0, z1)`` points drawn as stars.
      blog_box: the blog's published ranges, drawn as a rectangle.
    """
    fig, ax = plt.subplots(figsize=(6, 5.5))
    behaviour = np.asarray(behaviour)
    if labels is None:
        ax.scatter(behaviour[:, 0], behaviour[:, 1], s=12, alpha=0.6, label="seeds")
    else:
        for strategy, color in STRATEGY_COLORS.items():
            pick = np.asarray(labels) == strategy
            if pick.any():
                ax.scatter(behaviour[pick, 0], behaviour[pick, 1], s=12, alpha=0.6, color=color,
                           label=f"{strategy} ({pick.sum()})")
    (x0, x1), (y0, y1) = blog_box
    ax.add_patch(plt.Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, edgecolor="black",
                               linestyle="--", label="blog seed 37 ranges"))
    for (label, point), marker in zip(references.items(), ("*", "P", "X")):
        ax.scatter([point[0]], [point[1]], marker=marker, s=220, edgecolor="black",
                   color="gold", label=label, zorder=5)
    ax.set_xlim(-0.02, 1.02)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("mean update gate z at flag-0 steps (1 = hold)")
    ax.set_ylabel("mean update gate z at flag-1 steps (0 = take the candidate)")
    ax.set_title("Update-gate behaviour per seed (length-4, 2-flag probe)")
    ax.legend(fontsize=8, loc="upper right")
    fig.tight_layout()
    return fig


def distance_bands(epochs: np.ndarray, distances: np.ndarray, ylabel: str, title: str,
                   individual: Sequence[int] = (), quantiles=(0.1, 0.25, 0.5, 0.75, 0.9),
                   log: bool = False) -> plt.Figure:
    """Median and quantile bands over seeds of a distance over epochs, plus a few seeds.

    Args:
      epochs: ``(E,)`` (-1 = init, drawn at 0). distances: ``(S, E)``.
      individual: seed positions drawn as thin lines.
    """
    x = np.maximum(np.asarray(epochs), 0)
    d = np.asarray(distances, np.float64)
    q = np.nanquantile(d, quantiles, axis=0)
    fig, ax = plt.subplots(figsize=(7, 4.2))
    ax.fill_between(x, q[0], q[-1], alpha=0.2, color="tab:blue",
                    label=f"{quantiles[0]:.0%}-{quantiles[-1]:.0%} of seeds")
    ax.fill_between(x, q[1], q[-2], alpha=0.35, color="tab:blue",
                    label=f"{quantiles[1]:.0%}-{quantiles[-2]:.0%} of seeds")
    ax.plot(x, q[len(quantiles) // 2], color="tab:blue", linewidth=2, label="median")
    for i in individual:
        ax.plot(x, d[i], linewidth=0.8, alpha=0.8, label=f"seed index {i}")
    if log:
        ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize=7)
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


def census_bars(strategies: Sequence[str], fractions: Sequence[float],
                intervals: Sequence[tuple[float, float]], counts: Sequence[int]) -> plt.Figure:
    """Fraction of seeds per strategy with 95% Wilson intervals."""
    fig, ax = plt.subplots(figsize=(6, 4))
    frac = np.asarray(fractions, np.float64)
    # the interval holds the fraction; clip float rounding (1 - 1e-16) out of the error bars
    lo = np.maximum(frac - np.asarray([i[0] for i in intervals]), 0.0)
    hi = np.maximum(np.asarray([i[1] for i in intervals]) - frac, 0.0)
    colors = [STRATEGY_COLORS.get(s, "0.5") for s in strategies]
    ax.bar(strategies, frac, yerr=[lo, hi], capsize=6, color=colors,
           label="fraction (95% Wilson interval)")
    for i, count in enumerate(counts):
        ax.text(i, frac[i] + 0.02, f"n={count}", ha="center", fontsize=9)
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("strategy")
    ax.set_ylabel("fraction of seeds")
    ax.set_title("Strategy census of the ensemble")
    ax.legend(fontsize=8)
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
    ax.legend(fontsize=7)
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
    ax.axhline(target, color="red", linestyle=":", label=f"target {target:g}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("largest |parameter| (readout 1/gain or 2 x sharpness)")
    ax.set_ylabel("worst-cell relative RMS error")
    ax.set_title("Accumulator: precision vs weight size (gain sets the readout 1/gain)")
    ax.legend(fontsize=6, ncol=2)
    fig.tight_layout()
    return fig


def leading_eigenvalues(eigenvalues: np.ndarray, final_loss: np.ndarray,
                        labels: Optional[np.ndarray], references: Mapping[str, float]
                        ) -> plt.Figure:
    """Per seed: the leading Jacobian eigenvalue at the flag-0 fixed point nearest 0 (x) against
    the final training loss (y, log), coloured by strategy; references as vertical lines.

    Args:
      eigenvalues: ``(S,)`` (1 = a sum held perfectly). final_loss: ``(S,)`` scaled units.
      labels: ``(S,)`` strategy names or None. references: label -> eigenvalue.
    """
    fig, ax = plt.subplots(figsize=(7, 4.6))
    eigenvalues, final_loss = np.asarray(eigenvalues, float), np.asarray(final_loss, float)
    groups = ({"seeds": np.ones(len(eigenvalues), bool)} if labels is None else
              {s: np.asarray(labels) == s for s in STRATEGY_COLORS})
    for name, pick in groups.items():
        if pick.any():
            ax.scatter(eigenvalues[pick], final_loss[pick], s=12, alpha=0.6,
                       color=STRATEGY_COLORS.get(name), label=f"{name} ({pick.sum()})")
    for (label, value), color in zip(references.items(), ("tab:green", "tab:purple")):
        ax.axvline(value, color=color, linestyle="--", label=f"{label} ({value:.3f})")
    ax.set_yscale("log")
    ax.set_xlabel("leading eigenvalue of dh'/dh at the flag-0 fixed point (1 = no leak)")
    ax.set_ylabel("final training loss (scaled units)")
    ax.set_title("How well each seed holds a sum between flags")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
