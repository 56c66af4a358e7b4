"""The hand-crafted accumulators measured: weight size, reach and precision.

:mod:`gru_jax.handcrafted` constructs the designed weight sets and derives their error bounds;
this module evaluates them with the analyses (canonical form, the generalization grid):
:func:`tradeoff_table` (precision against weight size of the exact accumulator) and
:func:`reachable_tradeoff` (the same for the accumulator inside the protocol's reach).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ..handcrafted import (REACH, Reach, accumulator, reachable_accumulator, reachable_caps,
                           worst_bound)
from .symmetry import canonical_vector
from .generalization import coarse_held_out, relative_rms_error


def max_weight(params) -> float:
    """Largest absolute parameter (merged r/z biases counted as one)."""
    return float(np.max(np.abs(canonical_vector(params))))


def within_reach(params, reach: Reach = REACH) -> bool:
    """True if every canonical coordinate is within its reachable cap."""
    return bool(np.all(np.abs(canonical_vector(params)) <= reachable_caps(reach) + 1e-6))


def tradeoff_table(gains: Sequence[float] = (1e-1, 1e-2, 3e-3, 1e-3, 5e-4, 1e-4),
                   sharpnesses: Sequence[float] = (6.0, 10.0, 13.0, 16.0, 20.0),
                   held_out=None, measure: bool = True) -> list[dict]:
    """Precision vs range vs weight size of :func:`accumulator`.

    One row per (gain, sharpness): ``max_weight`` (largest |canonical coordinate|), the
    worst-case first-order ``bound`` over the grid, and (``measure``) the ``measured`` worst
    relative RMS error on ``held_out`` (default: the coarse grid, float32 JAX forward) plus the
    ``range``: the largest scaled sum before tanh's argument reaches 0.1 (``0.1 / a``).
    """
    held_out = held_out or coarse_held_out()
    settings = [(g, s) for g in gains for s in sharpnesses]
    models = [accumulator(g, s) for g, s in settings]
    if measure:   # all settings in one vectorised evaluation
        stacked = {m: {k: np.stack([p[m][k] for p in models]) for k in models[0][m]}
                   for m in models[0]}
        worst = np.nanmax(relative_rms_error(stacked, held_out), axis=(-2, -1))
    rows = []
    for i, ((gain, sharpness), params) in enumerate(zip(settings, models)):
        row = {"gain": gain, "sharpness": sharpness, "max_weight": max_weight(params),
               "range": 0.1 / gain,
               "bound": worst_bound(gain, sharpness, held_out.lengths, held_out.flag_counts,
                                    held_out.high)}
        if measure:
            row["measured"] = float(worst[i])
        rows.append(row)
    return rows


def reachable_tradeoff(gains: Sequence[float] = (0.2, 0.4, 0.6, 0.8, 1.0, 1.5),
                       holds: Sequence[float] = (8.0, 10.6, 13.0), held_out=None) -> list[dict]:
    """Measured worst and median relative RMS error of :func:`reachable_accumulator` per
    (gain, hold bias) on ``held_out`` (default: the coarse grid)."""
    held_out = held_out or coarse_held_out()
    rows = []
    for gain in gains:
        for hold in holds:
            params = reachable_accumulator(gain, hold)
            errors = relative_rms_error(params, held_out)
            rows.append({"gain": gain, "hold_bias": hold, "max_weight": max_weight(params),
                         "worst": float(np.nanmax(errors)), "median": float(np.nanmedian(errors)),
                         "within_reach": within_reach(params)})
    return rows
