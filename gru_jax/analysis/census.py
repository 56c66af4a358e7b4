"""Behaviour of the update gate and a census of the strategies an ensemble ends in.

Strategies (per seed):

- ``"failed"``: the final training loss is at least ``failed_fraction`` (default 0.5) of the
  predict-the-mean baseline ``1/6`` (scaled units), or it is not finite: nothing learned.
- ``"general"``: not failed, and the worst relative RMS error over a PROBE grid off the training
  distribution (lengths 2, 3, 8, 16, 32 x flags 1, 2, 3, 5; 200 sequences a cell) is at most
  ``tolerance`` (default 0.1): it adds at any length, like the hand-crafted accumulator.
- ``"length-specific"``: the rest: fits its training data but not other lengths/flag counts, as
  the blog's seed 37 does ("learned the concept of four").

The update-gate behaviour is measured on a fixed probe of the training distribution (length 4, 2
flags, values 0..99, 1000 sequences): the mean of ``z`` over all steps whose flag is 0, and over
all steps whose flag is 1 (``z`` depends on the value and on ``h``; both are averaged over).
The blog's seed 37 has z in [0.77, 0.83] (flag 0) and [0.14, 0.20] (flag 1); the accumulator
has z ~ 1 and ~ 0.
"""
from __future__ import annotations

import dataclasses
import sys
import types
from typing import Optional

import jax.numpy as jnp
import numpy as np

from ..blog import MEAN_BASELINE
from ..data import scale_inputs
from ..model import forward_columns, map_models
from .generalization import HeldOut, cell_data, relative_rms_error

STRATEGIES = ("general", "length-specific", "failed")
PROBE_SEED = 4
PROBE_HELD_OUT = HeldOut(lengths=(2, 3, 8, 16, 32), flag_counts=(1, 2, 3, 5), n_per_cell=200,
                         seed=PROBE_SEED)


def behaviour_probe(length: int = 4, flags: int = 2, n: int = 1000, high: int = 100):
    """The fixed probe ``(x raw (n, L, 2), y raw (n,))`` for :func:`update_gate_behaviour`."""
    return cell_data(HeldOut((length,), (flags,), n, PROBE_SEED, high), length, flags)


def _gate_means(params, x_columns):
    """One model, x ``(T, 2, N)`` scaled -> ``(2,)`` mean z at flag-0 steps, at flag-1 steps
    (z averaged over hidden units)."""
    _, _, gates = forward_columns(params, x_columns, gates=True)
    z = jnp.mean(gates[:, 1], axis=1)                             # (T, N)
    on = x_columns[:, 1, :] > 0.5
    z_flag0 = jnp.sum(jnp.where(on, 0.0, z)) / jnp.maximum(jnp.sum(~on), 1)
    z_flag1 = jnp.sum(jnp.where(on, z, 0.0)) / jnp.maximum(jnp.sum(on), 1)
    return jnp.stack([z_flag0, z_flag1])


def update_gate_behaviour(params, probe=None, high: int = 100, chunk_models: int = 1024
                          ) -> np.ndarray:
    """Mean update gate for flag 0 and for flag 1 (averaged over values, steps and sequences).

    Args:
      params: PyTorch layout, any leading axes ``lead`` (seeds, snapshots).
      probe: raw ``(x (N, L, 2), y)``; default :func:`behaviour_probe` (length 4, 2 flags).

    Returns:
      ``lead + (2,)``: ``[..., 0]`` mean z where the flag is 0, ``[..., 1]`` where it is 1.
    """
    x_raw = (probe or behaviour_probe(high=high))[0]
    x_columns = jnp.asarray(np.transpose(scale_inputs(x_raw, high), (1, 2, 0)))
    return map_models(_gate_means, params, x_columns, chunk=chunk_models)


def wilson_interval(successes, total, z: float = 1.959964) -> tuple[float, float]:
    """95% (default) Wilson score interval of a binomial proportion; (nan, nan) if total = 0."""
    if total == 0:
        return float("nan"), float("nan")
    p = successes / total
    denom = 1.0 + z * z / total
    center = (p + z * z / (2 * total)) / denom
    half = z * np.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / denom
    low, high = max(0.0, center - half), min(1.0, center + half)
    # at p = 0 and p = 1 the bound is exactly 0 and 1 (rounding would exclude p itself)
    return (0.0 if successes == 0 else float(low)), (1.0 if successes == total else float(high))


@dataclasses.dataclass
class Census:
    """Per-seed labels and their summary.

    labels: ``(S,)`` str among :data:`STRATEGIES`. behaviour: ``(S, 2)`` mean z (flag 0, 1).
    probe_error: ``(S,)`` worst relative RMS error on the probe grid. final_train_loss: ``(S,)``.
    counts, fractions: per strategy. intervals: per strategy, 95% Wilson ``(low, high)``.
    representative: per strategy, the seed INDEX (position) closest to the strategy's median
    behaviour, or None when no seed has it.
    """

    labels: np.ndarray
    behaviour: np.ndarray
    probe_error: np.ndarray
    final_train_loss: np.ndarray
    counts: dict
    fractions: dict
    intervals: dict
    representative: dict

    def table_rows(self) -> list[tuple]:
        """``(strategy, count, fraction, low, high, representative index)`` per strategy."""
        return [(s, self.counts[s], self.fractions[s], *self.intervals[s], self.representative[s])
                for s in STRATEGIES]


def classify(final_train_loss, probe_error, *, baseline: float = MEAN_BASELINE,
             failed_fraction: float = 0.5, tolerance: float = 0.1) -> np.ndarray:
    """Labels from the two measured numbers (see the module docstring). ``(S,), (S,) -> (S,)``."""
    loss = np.asarray(final_train_loss, np.float64)
    error = np.asarray(probe_error, np.float64)
    failed = ~np.isfinite(loss) | (loss >= failed_fraction * baseline)
    general = ~failed & np.isfinite(error) & (error <= tolerance)
    return np.where(failed, "failed", np.where(general, "general", "length-specific"))


def strategy_census(params, final_train_loss, *, baseline: float = MEAN_BASELINE,
                    failed_fraction: float = 0.5, tolerance: float = 0.1,
                    probe: Optional[HeldOut] = None, high: int = 100) -> Census:
    """Assign every seed a strategy; counts, fractions, 95% Wilson intervals, representatives.

    Args:
      params: final params with a seed axis ``(S, ...)``.
      final_train_loss: ``(S,)`` last epoch's training loss, scaled units.
      baseline: the predict-the-mean loss (scaled units; 1/6 for values 0..99).
      failed_fraction: "failed" if loss >= failed_fraction x baseline.
      tolerance: "general" if the worst probe-cell relative RMS error <= tolerance.
      probe: the probe grid (default :data:`PROBE_HELD_OUT`).
    """
    loss = np.asarray(final_train_loss, np.float64).reshape(-1)
    n_seeds = loss.shape[0]
    grid = probe or dataclasses.replace(PROBE_HELD_OUT, high=high)
    errors = relative_rms_error(params, grid)
    probe_error = np.nanmax(errors.reshape(n_seeds, -1), axis=1)
    behaviour = update_gate_behaviour(params, high=high).reshape(n_seeds, 2)
    labels = classify(loss, probe_error, baseline=baseline, failed_fraction=failed_fraction,
                      tolerance=tolerance)
    counts, fractions, intervals, representative = {}, {}, {}, {}
    for strategy in STRATEGIES:
        members = np.flatnonzero(labels == strategy)
        counts[strategy] = int(members.size)
        fractions[strategy] = members.size / n_seeds if n_seeds else float("nan")
        intervals[strategy] = wilson_interval(members.size, n_seeds)
        representative[strategy] = _medoid(behaviour, members)
    return Census(labels, behaviour, probe_error, loss, counts, fractions, intervals,
                  representative)


def run_census(run, **options) -> Census:
    """:func:`strategy_census` of a :class:`gru_jax.Run`'s final params, with the last epoch's
    training loss (NaN for a diverged seed, which therefore counts as failed)."""
    return strategy_census(run.params, np.asarray(run.train_loss)[:, -1],
                           high=run.config.high, **options)


def _medoid(points: np.ndarray, members: np.ndarray) -> Optional[int]:
    """Index (among ``members``) nearest to the members' median point; None if empty."""
    if members.size == 0:
        return None
    pts = np.nan_to_num(points[members], nan=0.0)
    centre = np.median(pts, axis=0)
    return int(members[np.argmin(np.sum((pts - centre) ** 2, axis=1))])


class _CallableModule(types.ModuleType):
    """This module, callable: ``gru_jax.analysis.census(run)`` is the discovered census
    (:func:`gru_jax.analysis.strategies.census`), while ``gru_jax.analysis.census.run_census``
    and the other names of this module keep working (the package exports the name ``census``
    for the new census; a plain function of that name would hide this module)."""

    def __call__(self, run, **options):
        from .strategies import census  # noqa: PLC0415 - strategies imports this module
        return census(run, **options)


sys.modules[__name__].__class__ = _CallableModule
