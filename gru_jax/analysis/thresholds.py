"""The threshold axis: each seed general, length-specific or failed, by two measured numbers;
and the update gate's mean behaviour on a fixed probe.

Classes (per seed):

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
from typing import Optional

import jax.numpy as jnp
import numpy as np

from ..blog import MEAN_BASELINE
from ..data import scale_inputs
from ..model import forward_columns, map_models
from .generalization import HeldOut, cell_data, relative_rms_error
from .stats import medoid, wilson_interval

CLASSES = ("general", "length-specific", "failed")
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


@dataclasses.dataclass
class Thresholds:
    """Per-seed labels and their summary.

    labels: ``(S,)`` str among :data:`CLASSES`. behaviour: ``(S, 2)`` mean z (flag 0, 1).
    probe_error: ``(S,)`` worst relative RMS error on the probe grid; probe_errors ``(S, L, K)``
    every cell of it (lengths x flag counts of ``probe``). final_train_loss: ``(S,)``.
    counts, fractions: per class. intervals: per class, 95% Wilson ``(low, high)``.
    representative: per class, the seed INDEX (position) closest to the class's median
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
    probe_errors: np.ndarray = None
    probe: HeldOut = None

    def cell_error(self, length: int, flags: int) -> np.ndarray:
        """``(S,)`` the relative RMS error on one probe cell (length, flag count)."""
        return self.probe_errors[:, self.probe.lengths.index(length),
                                 self.probe.flag_counts.index(flags)]

    def table_rows(self) -> list[tuple]:
        """``(class, count, fraction, low, high, representative index)`` per class."""
        return [(s, self.counts[s], self.fractions[s], *self.intervals[s], self.representative[s])
                for s in CLASSES]


def classify(final_train_loss, probe_error, *, baseline: float = MEAN_BASELINE,
             failed_fraction: float = 0.5, tolerance: float = 0.1) -> np.ndarray:
    """Labels from the two measured numbers (see the module docstring). ``(S,), (S,) -> (S,)``."""
    loss = np.asarray(final_train_loss, np.float64)
    error = np.asarray(probe_error, np.float64)
    failed = ~np.isfinite(loss) | (loss >= failed_fraction * baseline)
    general = ~failed & np.isfinite(error) & (error <= tolerance)
    return np.where(failed, "failed", np.where(general, "general", "length-specific"))


def threshold_classes(params, final_train_loss, *, baseline: float = MEAN_BASELINE,
                      failed_fraction: float = 0.5, tolerance: float = 0.1,
                      probe: Optional[HeldOut] = None, high: int = 100) -> Thresholds:
    """Assign every seed a threshold class; counts, fractions, 95% Wilson intervals,
    representatives.

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
    for name in CLASSES:
        members = np.flatnonzero(labels == name)
        counts[name] = int(members.size)
        fractions[name] = members.size / n_seeds if n_seeds else float("nan")
        intervals[name] = wilson_interval(members.size, n_seeds)
        representative[name] = medoid(behaviour, members)
    return Thresholds(labels, behaviour, probe_error, loss, counts, fractions, intervals,
                      representative, errors.reshape((n_seeds,) + errors.shape[-2:]), grid)


def run_thresholds(run, **options) -> Thresholds:
    """:func:`threshold_classes` of a :class:`gru_jax.Run`'s final params, with the last epoch's
    training loss (NaN for a diverged seed, which therefore counts as failed)."""
    return threshold_classes(run.params, np.asarray(run.train_loss)[:, -1],
                             high=run.config.high, **options)
