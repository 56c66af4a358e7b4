"""Figures of the census: seeds coloured by family or strategy, agreement, commitment epochs;
and the group colours and legend labels every ensemble figure shares.

Group ``k`` (0 = the largest family, or strategy) is drawn in ``strategy_colours(K)[k]`` in
every figure and labelled by the short label the caller passes (``"F1 gate-write"``, from
:func:`gru_jax.analysis.census.Census.legend`) with its seed count. References (the blog, the
hand-crafted accumulators) are drawn in black and greys, which no group uses.
"""
from __future__ import annotations

from typing import Mapping, Optional, Sequence

import matplotlib.pyplot as plt
import numpy as np

ABBREVIATIONS = (("update-gate", "z"), ("reset-gate", "r"), ("candidate", "cand"),
                 (" flag route", " route"), ("mostly holds", "~holds"),
                 ("barely writes", "weak write"), ("half-writes", "half write"),
                 ("multistable ", "multi "), ("non-learner: ", "FAILS: "))


#: (colour, line style) of reference marks (the blog, the accumulators, targets): black in three
#: styles, so that no reference shares a family's or a strategy's colour.
REFERENCE_STYLES = (("black", "-"), ("black", "--"), ("black", ":"), ("black", "-."))


def draw_legend(ax, below: bool = True, offset: float = -0.12, loc: Optional[str] = None,
                ncol: int = 1) -> None:
    """The axes' legend, fontsize 9: ``below`` the axes (a strategy legend, too long to sit
    inside: left-aligned, unframed, its top ``offset`` axes-heights under the axes), else
    inside at ``loc`` (None: matplotlib's best place)."""
    if below:
        ax.legend(fontsize=9, loc="upper left", bbox_to_anchor=(0.0, offset), frameon=False,
                  ncol=ncol)
    elif loc is None:
        ax.legend(fontsize=9, ncol=ncol)
    else:
        ax.legend(fontsize=9, loc=loc, ncol=ncol)


def strategy_colours(count: int) -> np.ndarray:
    """``(count, 4)`` RGBA: strategy k's colour in every figure (tab10; tab20 beyond 10)."""
    return plt.get_cmap("tab10" if count <= 10 else "tab20")(np.arange(count) % 20)



def short_name(name: str, width: int = 40) -> str:
    """A legend-sized strategy name: :data:`ABBREVIATIONS` applied, then cut at ``width``
    characters (ending in "...")."""
    for long, short in ABBREVIATIONS:
        name = name.replace(long, short)
    return name if len(name) <= width else name[:width - 3].rstrip() + "..."


def strategy_label(k: int, name: str, count: Optional[int] = None) -> str:
    """``"short label (count)"``: group k's legend entry (``k`` kept for the callers' loops)."""
    return short_name(name) + ("" if count is None else f" ({count})")


def strategy_groups(labels, names: Sequence[str], n_seeds: int, colour, label: str
                    ) -> list[tuple[np.ndarray, object, str]]:
    """``(mask (S,), colour, legend label)`` per strategy of ``labels (S,)``, or one group of all
    ``n_seeds`` seeds (``colour``, ``label``) when ``labels`` is None."""
    if labels is None:
        return [(np.ones(n_seeds, bool), colour, label)]
    labels = np.asarray(labels)
    return [(labels == k, c, strategy_label(k, n, int(np.sum(labels == k))))
            for k, (n, c) in enumerate(zip(names, strategy_colours(len(names))))]


def draw_strategy_bands(ax, x: np.ndarray, values: np.ndarray, labels: np.ndarray,
                        names: Sequence[str], band=(0.25, 0.75), legend: bool = True) -> None:
    """On ``ax``: per strategy, the median over its seeds of ``values (S, T)`` against
    ``x (T,)`` and (strategies of >= 3 seeds) its ``band`` quantiles, in the strategy's colour."""
    values = np.asarray(values, np.float64)
    for k, (name, colour) in enumerate(zip(names, strategy_colours(len(names)))):
        member = np.asarray(labels) == k
        if not member.any():
            continue
        with np.errstate(all="ignore"):
            q = np.nanquantile(values[member], (band[0], 0.5, band[1]), axis=0)
        ax.plot(x, q[1], color=colour, linewidth=1.4,
                label=strategy_label(k, name, int(member.sum())) if legend else None)
        if member.sum() >= 3:
            ax.fill_between(x, q[0], q[2], color=colour, alpha=0.15, linewidth=0)


def plot_commitment(commitment_epoch: np.ndarray, labels: np.ndarray, names: Sequence[str],
                    snapshot_epochs: np.ndarray, final_epoch: int):
    """When seeds commit to their final strategy: per strategy, the fraction of its seeds
    committed by each epoch (a step curve over ``commitment_epoch (S,)``; NaN = not measured),
    with the medians marked; ``snapshot_epochs (E,)``: the epochs that were assigned (ticks)."""
    fig, ax = plt.subplots(figsize=(8.6, 5.2))
    epochs = np.asarray(commitment_epoch, np.float64)
    for k, (name, colour) in enumerate(zip(names, strategy_colours(len(names)))):
        mine = np.sort(epochs[(np.asarray(labels) == k) & np.isfinite(epochs)])
        if not mine.size:
            continue
        steps = np.concatenate([[0.0], mine, [final_epoch]])
        share = np.concatenate([[0.0], np.arange(1, mine.size + 1) / mine.size, [1.0]])
        ax.step(steps, share, where="post", color=colour, linewidth=1.6,
                label=strategy_label(k, name, int(mine.size)) + f", median {np.median(mine):.0f}")
        ax.plot([np.median(mine)], [0.5], "o", color=colour)
    for e in np.asarray(snapshot_epochs):
        ax.axvline(e, color="grey", alpha=0.2, linewidth=0.6)
    ax.set_xlim(-0.02 * final_epoch, 1.02 * final_epoch)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("epoch (grey: the snapshots assigned)")
    ax.set_ylabel("fraction of the group's seeds committed")
    ax.set_title("When seeds commit to their final family")
    ax.grid(alpha=0.3)
    draw_legend(ax, offset=-0.13)
    fig.tight_layout()
    return fig


def plot_strategy_scatter(x: np.ndarray, y: np.ndarray, labels: np.ndarray,
                          names: Sequence[str], xlabel: str, ylabel: str, title: str):
    """One point per seed at ``(x, y)``, coloured by strategy ``labels (S,)`` (legend: the
    names with their counts)."""
    fig, ax = plt.subplots(figsize=(8.6, 6.2))
    for k, (name, colour) in enumerate(zip(names, strategy_colours(len(names)))):
        member = labels == k
        ax.scatter(x[member], y[member], s=10, color=colour, alpha=0.7,
                   label=strategy_label(k, name, int(member.sum())))
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    draw_legend(ax)
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
