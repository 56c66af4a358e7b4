"""Figures for one network / one seed: gate-term contributions, gate responses, the one-unit
map, losses and weights over epochs. Every function takes arrays and returns a Figure; callers
save it (``fig.savefig(path)``) and close it (``plt.close(fig)``).
"""
from __future__ import annotations

from typing import Mapping, Optional, Sequence

import matplotlib.pyplot as plt
import numpy as np

from ..blog import MEAN_BASELINE

GATE_TITLES = {"r": "reset gate r", "z": "update gate z", "n": "candidate n"}


def plot_contributions(contributions: Mapping[str, tuple[Sequence[str], np.ndarray]],
                       activations: Optional[Mapping[str, float]] = None,
                       title: str = "Gate pre-activation terms") -> plt.Figure:
    """Cumulative-contribution bars (the blog's part-2 figure), one panel per gate.

    Args:
      contributions: ``{gate: (term names (K,), term values (K,))}``; the terms add up to the
        gate's pre-activation.
      activations: optional ``{gate: activation}`` shown in each panel's title.
    """
    gates = list(contributions)
    fig, axes = plt.subplots(1, len(gates), figsize=(4.6 * len(gates), 4.2), squeeze=False)
    for ax, gate in zip(axes[0], gates):
        names, values = contributions[gate]
        values = np.asarray(values, float)
        cumulative = np.cumsum(values)
        start = cumulative - values
        x = np.arange(len(values))
        colors = ["tab:green" if v >= 0 else "tab:red" for v in values]
        ax.bar(x, values, bottom=start, color=colors, edgecolor="black", width=0.6,
               label="term (green +, red -)")
        ax.plot(x, cumulative, "o-", color="black", markersize=4, label="cumulative sum")
        ax.axhline(0.0, color="grey", linewidth=0.8)
        ax.set_xticks(x)
        ax.set_xticklabels(names, rotation=35, ha="right", fontsize=9)
        ax.set_ylabel("pre-activation (dimensionless)")
        head = GATE_TITLES.get(gate, gate)
        if activations is not None and gate in activations:
            act = "sigmoid" if gate in ("r", "z") else "tanh"
            head += f": sum {cumulative[-1]:+.3f} -> {act} = {activations[gate]:.4f}"
        ax.set_title(head, fontsize=10)
        ax.legend(fontsize=9, loc="best")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_gate_response(values: np.ndarray, panels: Mapping[str, Mapping[str, np.ndarray]],
                       xlabel: str = "value / high (scaled input)",
                       title: str = "First-step gate response") -> plt.Figure:
    """Gate value against the scaled input value, one panel per gate (the blog's Figure 1).

    Args:
      values: ``(V,)`` scaled values. panels: ``{panel title: {curve label: (V,)}}``; labels
        containing "no bias" are drawn dashed.
    """
    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 4.2), squeeze=False)
    for ax, (panel, curves) in zip(axes[0], panels.items()):
        for label, curve in curves.items():
            ax.plot(values, np.asarray(curve), linestyle="--" if "no bias" in label else "-",
                    linewidth=2, label=label)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("gate activation (0..1)")
        ax.set_ylim(-0.02, 1.02)
        ax.set_title(panel)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=9)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_dynamics(h_grid: np.ndarray, maps: Mapping[str, np.ndarray],
                  gains: Mapping[str, np.ndarray],
                  fixed_points: Sequence[tuple[str, float, float]] = (),
                  title: str = "One-unit dynamics h_t -> h_{t+1}") -> plt.Figure:
    """Left: the maps ``h_{t+1} = f(h_t)`` with the identity; right: the gain ``df/dh``.

    Args:
      h_grid: ``(G,)``. maps, gains: ``{label: (G,)}`` (same labels).
      fixed_points: ``(label, h*, gain)`` tuples, marked on the map (filled: stable).
    """
    fig, (ax_map, ax_gain) = plt.subplots(1, 2, figsize=(11, 4.6))
    colors = {}
    for label, curve in maps.items():
        line, = ax_map.plot(h_grid, curve, linewidth=1.6, label=label)
        colors[label] = line.get_color()
        ax_gain.plot(h_grid, gains[label], linewidth=1.6, color=line.get_color(), label=label)
    ax_map.plot(h_grid, h_grid, color="black", linestyle=":", label="identity h_{t+1} = h_t")
    for label, h_star, gain in fixed_points:
        stable = abs(gain) < 1
        ax_map.plot([h_star], [h_star], "o", color=colors.get(label, "black"),
                    markerfacecolor=colors.get(label, "black") if stable else "white", markersize=6)
    ax_map.set_xlabel("h_t (hidden state)")
    ax_map.set_ylabel("h_{t+1}")
    ax_map.set_title("map (dots: fixed points; filled = stable)")
    ax_map.grid(alpha=0.3)
    ax_map.legend(fontsize=9)
    ax_gain.axhline(1.0, color="black", linestyle=":", label="gain 1 (perfect memory)")
    ax_gain.set_xlabel("h_t (hidden state)")
    ax_gain.set_ylabel("gain dh_{t+1}/dh_t")
    ax_gain.set_title("per-step gain")
    ax_gain.grid(alpha=0.3)
    ax_gain.legend(fontsize=9)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_losses(train_loss: np.ndarray, eval_epochs: np.ndarray, test_loss: np.ndarray,
                events: Sequence[int] = (), baseline: Optional[float] = MEAN_BASELINE,
                title: str = "Losses") -> plt.Figure:
    """Training loss per epoch (scaled units) above the test loss at eval epochs (original
    units), both log-scale; dotted verticals mark the eval epochs' snapshots and red dashed
    verticals the given events (e.g. largest loss accelerations)."""
    epochs = np.arange(len(train_loss))
    fig, (ax_tr, ax_te) = plt.subplots(2, 1, figsize=(10, 6.4), sharex=True)
    ax_tr.semilogy(epochs, train_loss, color="tab:blue", linewidth=1.2, label="train loss")
    if baseline is not None:
        ax_tr.axhline(baseline, color="grey", linestyle="--",
                      label=f"predict-the-mean {baseline:.4f}")
    ax_te.semilogy(eval_epochs, test_loss, "o-", color="tab:orange", markersize=3,
                   label="test loss (eval epochs)")
    for ax in (ax_tr, ax_te):
        for k, e in enumerate(eval_epochs):
            ax.axvline(e, color="grey", alpha=0.15, linewidth=0.6,
                       label="eval epoch (snapshot)" if k == 0 and ax is ax_tr else None)
        for k, e in enumerate(events):
            ax.axvline(e, color="tab:red", linestyle="--", linewidth=1.0,
                       label="loss-acceleration event" if k == 0 and ax is ax_tr else None)
        ax.grid(alpha=0.3, which="both")
    ax_tr.set_ylabel("train MSE (scaled units)")
    ax_te.set_ylabel("test MSE (original units)")
    ax_te.set_xlabel("epoch")
    ax_tr.legend(fontsize=9, loc="upper right")
    ax_te.legend(fontsize=9, loc="upper right")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_weight_lines(epochs: np.ndarray, names: Sequence[str], values: np.ndarray,
                      title: str = "Weights over training") -> plt.Figure:
    """Every parameter against epoch, one line each (``values (n, P)``; epoch -1 = init)."""
    fig, ax = plt.subplots(figsize=(11, 5.6))
    cmap = plt.get_cmap("tab20")
    for p, name in enumerate(names):
        ax.plot(epochs, values[:, p], linewidth=1.3, color=cmap(p % 20), label=name,
                linestyle="-" if p < 20 else "--")
    ax.axhline(0.0, color="black", linewidth=0.7)
    ax.set_xlabel("epoch (-1 = initial weights)")
    ax.set_ylabel("parameter value")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=9, ncol=1, loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.tight_layout()
    return fig


def plot_weight_heatmap(epochs: np.ndarray, names: Sequence[str], values: np.ndarray,
                        title: str = "Weights over training (heatmap)") -> plt.Figure:
    """Parameters (rows) x snapshots (columns) coloured by value, symmetric around 0."""
    values = np.asarray(values, float)
    limit = float(np.nanmax(np.abs(values))) if np.isfinite(values).any() else 1.0
    fig, ax = plt.subplots(figsize=(11, 0.28 * len(names) + 1.8))
    image = ax.imshow(values.T, aspect="auto", cmap="RdBu_r", vmin=-limit, vmax=limit,
                      interpolation="nearest")
    ax.set_yticks(np.arange(len(names)))
    ax.set_yticklabels(names, fontsize=9)
    ticks = np.unique(np.linspace(0, len(epochs) - 1, min(len(epochs), 12)).astype(int))
    ax.set_xticks(ticks)
    ax.set_xticklabels([str(int(epochs[t])) for t in ticks], fontsize=9)
    ax.set_xlabel("epoch of snapshot (-1 = initial weights)")
    ax.set_title(title)
    fig.colorbar(image, ax=ax, label="parameter value")
    fig.tight_layout()
    return fig
