"""The phase diagram of a sweep: the grid's cells on its axes, colour = a fraction per cell."""
from __future__ import annotations

import itertools
import math

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

MAX_PANEL_COLUMNS = 4


def phase_diagram(fraction, low, high, axes, label: str = "fraction general",
                  title: str = "") -> Figure:
    """Heatmaps of ``fraction`` over the grid, each cell annotated ``fraction [low, high]``.

    Args:
      fraction, low, high: ``(n_cells,)`` per cell in grid order (the last axis fastest): the
        fraction and its 95% interval.
      axes: ``[(key, [value labels]), ...]`` in grid order; their sizes multiply to n_cells.
        One axis: one row of cells. Two: rows = the first, columns = the second. More: one
        panel per combination of the leading axes (a facet), each a heatmap of the last two.
      label: the colour bar's label.
    """
    fraction, low, high = (np.asarray(a, np.float64) for a in (fraction, low, high))
    sizes = [len(values) for _, values in axes]
    if int(np.prod(sizes)) != fraction.size:
        raise ValueError(f"phase_diagram: axes of sizes {sizes} do not hold {fraction.size} cells")
    if len(axes) == 1:
        axes = [("", [""])] + list(axes)
        sizes = [1] + sizes
    rows_key, rows = axes[-2]
    cols_key, cols = axes[-1]
    facets = list(itertools.product(*[values for _, values in axes[:-2]]))
    n_panels = len(facets)
    n_columns = min(n_panels, MAX_PANEL_COLUMNS)
    n_rows = math.ceil(n_panels / n_columns)
    width = max(3.0, 1.3 * len(cols) + 1.5)
    height = max(2.0, 0.9 * len(rows) + 1.2)
    fig, grid = plt.subplots(n_rows, n_columns, figsize=(width * n_columns + 1, height * n_rows),
                             squeeze=False, layout="constrained")
    shape = (n_panels, len(rows), len(cols))
    fraction, low, high = (a.reshape(shape) for a in (fraction, low, high))
    top = max(0.05, float(np.nanmax(fraction)) if np.isfinite(fraction).any() else 0.05)
    image = None
    for panel, facet in enumerate(facets):
        ax = grid[panel // n_columns][panel % n_columns]
        image = ax.imshow(fraction[panel], vmin=0.0, vmax=top, cmap="viridis", aspect="auto")
        for r, c in itertools.product(range(len(rows)), range(len(cols))):
            value = fraction[panel, r, c]
            text = "n/a" if not np.isfinite(value) else (
                f"{value:.2f}\n[{low[panel, r, c]:.2f}, {high[panel, r, c]:.2f}]")
            ax.text(c, r, text, ha="center", va="center", fontsize=9,
                    color="white" if not np.isfinite(value) or value < 0.6 * top else "black")
        ax.set_xticks(range(len(cols)), [str(v) for v in cols])
        ax.set_yticks(range(len(rows)), [str(v) for v in rows])
        ax.set_xlabel(cols_key)
        ax.set_ylabel(rows_key)
        names = [key for key, _ in axes[:-2]]
        if names:
            ax.set_title(", ".join(f"{k}={v}" for k, v in zip(names, facet)), fontsize=9)
    for panel in range(n_panels, n_rows * n_columns):
        grid[panel // n_columns][panel % n_columns].axis("off")
    fig.colorbar(image, ax=grid.ravel().tolist(), label=label)
    if title:
        fig.suptitle(title)
    return fig
