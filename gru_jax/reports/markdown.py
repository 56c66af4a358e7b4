"""What every report writer shares: number formatting, Markdown tables, numbered figures."""
from __future__ import annotations

import os
from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np

from ..files import atomic_open

DPI = 100


def fmt(value, digits: int = 4) -> str:
    """A table cell: floats in ``%.{digits}g`` ("n/a" if not finite), None as "-"."""
    if value is None:
        return "-"
    if isinstance(value, (float, np.floating)):
        if not np.isfinite(value):
            return "n/a"
        return f"{value:.{digits}g}"
    return str(value)


def table(header: Sequence[str], rows: Sequence[Sequence], digits: int = 4) -> str:
    """A Markdown table (cells through :func:`fmt`), ending with a newline."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(fmt(c, digits) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def dict_table(rows: list[dict], digits: int = 3) -> str:
    """Rows of dicts (same keys) -> a Markdown table; "" for no rows."""
    if not rows:
        return ""
    keys = list(rows[0])
    return table(keys, [[row[k] for k in keys] for row in rows], digits)


#: The vector formats a figure can ALSO be written in, beside its PNG.
FIGURE_FORMATS = ("svg", "pdf")


def save_figure(fig, path: str, dpi: int = DPI, formats=()) -> str:
    """Save a matplotlib Figure as PNG atomically (and, for each of ``formats`` among
    :data:`FIGURE_FORMATS`, beside it with that extension) and release it; returns ``path``."""
    with atomic_open(path, "wb") as handle:
        fig.savefig(handle, format="png", dpi=dpi)
    for kind in formats:
        if kind not in FIGURE_FORMATS:
            raise ValueError(f"figure format must be one of {FIGURE_FORMATS}, got {kind!r}")
        with atomic_open(os.path.splitext(path)[0] + "." + kind, "wb") as handle:
            fig.savefig(handle, format=kind)
    plt.close(fig)
    return path


class Figures:
    """Saves figures (PNG, atomically; ``formats``: also svg and/or pdf beside each) into one
    directory, numbers them, writes captions."""

    def __init__(self, directory: str, formats=()):
        self.directory, self.formats = directory, tuple(formats)
        self.count = 0

    def add(self, fig, name: str, caption: str) -> str:
        """Save ``fig`` as ``name``; returns its Markdown (image + numbered caption)."""
        self.count += 1
        save_figure(fig, os.path.join(self.directory, name), DPI, self.formats)
        alt = caption.replace("[", "(").replace("]", ")")
        return f"![{alt}]({name})\n\n*Figure {self.count}. {caption}*\n"
