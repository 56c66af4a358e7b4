"""Figures of the discovered census: seeds coloured by strategy, the BIC curve, agreement."""
from __future__ import annotations

from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np


def _colours(count: int):
    return plt.get_cmap("tab10" if count <= 10 else "tab20")(np.arange(count) % 20)


def plot_strategy_scatter(x: np.ndarray, y: np.ndarray, labels: np.ndarray,
                          names: Sequence[str], xlabel: str, ylabel: str, title: str):
    """One point per seed at ``(x, y)``, coloured by strategy ``labels (S,)`` (legend: the
    names with their counts)."""
    fig, ax = plt.subplots(figsize=(8.6, 6.2))
    for k, (name, colour) in enumerate(zip(names, _colours(len(names)))):
        member = labels == k
        ax.scatter(x[member], y[member], s=10, color=colour, alpha=0.7,
                   label=f"{k}: {name} ({int(member.sum())})")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize=6.5, loc="upper left", bbox_to_anchor=(0.0, -0.12), frameon=False)
    fig.tight_layout()
    return fig


def plot_bic(bic: Mapping[str, float], chosen: str):
    """BIC against the number of components, one line per covariance type; ``bic`` keys are
    ``"type k"``; the chosen model is circled."""
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    types = sorted({key.split()[0] for key in bic})
    for covariance_type in types:
        ks = sorted(int(key.split()[1]) for key in bic if key.startswith(covariance_type + " "))
        ax.plot(ks, [bic[f"{covariance_type} {k}"] for k in ks], "o-", label=covariance_type)
    ax.plot([int(chosen.split()[1])], [bic[chosen]], "o", ms=14, mfc="none", color="k",
            label=f"chosen: {chosen}")
    ax.set_xlabel("mixture components k")
    ax.set_ylabel("BIC (lower is better)")
    ax.legend()
    fig.tight_layout()
    return fig


def plot_agreement(observed: np.ndarray, chance: np.ndarray, xlabel: str, title: str):
    """Histograms of an observed per-group agreement ``(G,)`` and of its chance
    (permutation) distribution ``(P,)``, on the same bins."""
    fig, ax = plt.subplots(figsize=(7.0, 4.2))
    bins = np.linspace(0.0, 1.0, 21)
    ax.hist(chance, bins=bins, density=True, alpha=0.5, color="grey", label="chance (shuffled)")
    ax.hist(observed, bins=bins, density=True, alpha=0.6, color="C0", label="observed")
    ax.axvline(np.mean(observed), color="C0", ls="--")
    ax.axvline(np.mean(chance), color="grey", ls="--")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("density")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    return fig
