"""Events in a training trajectory: loss accelerations and weight zero crossings.

Acceleration follows the blog's part 4: smooth the per-epoch training loss with a Gaussian
(:func:`gaussian_smooth`, equal to ``scipy.ndimage.gaussian_filter1d(mode='nearest')``), take
the second derivative by finite differences
(``np.gradient`` twice) and report the epochs where its magnitude peaks. By default the smoothing
is done on ``log10(loss)``: the loss spans four decades, and on the raw scale the first epochs'
drop would drown every later event (pass ``log=False`` for the raw scale).

Zero crossings use the weight trajectory of a run: the initial params (labelled epoch ``-1``,
"before epoch 0") followed by the snapshots taken after each eval epoch's training. A crossing
is placed by linear interpolation between the two snapshots that bracket it.

All functions take arrays with any leading axes (e.g. seeds) and work along the last axis.
"""
from __future__ import annotations

import dataclasses
from typing import Optional, Sequence

import numpy as np

from ..model import flatten_params, hidden_size, param_names

#: Epoch label of the initial params in a weight trajectory (before epoch 0's training).
INIT_EPOCH = -1


# ---- loss acceleration -----------------------------------------------------------------------

def gaussian_smooth(values: np.ndarray, sigma: float, truncate: float = 4.0) -> np.ndarray:
    """Gaussian smoothing along the last axis, edges extended with their end values.

    The same numbers as ``scipy.ndimage.gaussian_filter1d(values, sigma, mode="nearest")``
    (kernel radius ``int(truncate * sigma + 0.5)``), in numpy alone.

    Args:
      values: ``(..., n)``. sigma: kernel width in samples (> 0).

    Returns:
      ``(..., n)`` float64.
    """
    if sigma <= 0:
        raise ValueError(f"gaussian_smooth: sigma must be > 0, got {sigma}")
    values = np.asarray(values, np.float64)
    radius = int(truncate * float(sigma) + 0.5)
    offsets = np.arange(-radius, radius + 1)
    kernel = np.exp(-0.5 * (offsets / float(sigma)) ** 2)
    kernel /= kernel.sum()
    padded = np.concatenate([np.repeat(values[..., :1], radius, axis=-1), values,
                             np.repeat(values[..., -1:], radius, axis=-1)], axis=-1)
    n = values.shape[-1]
    smooth = np.zeros_like(values)
    for weight, offset in zip(kernel, range(2 * radius + 1)):
        smooth += weight * padded[..., offset:offset + n]
    return smooth

def smoothed_acceleration(loss: np.ndarray, sigma: float = 20.0, log: bool = True) -> np.ndarray:
    """Second derivative (per epoch^2) of the Gaussian-smoothed loss, ``(..., T) -> (..., T)``.

    Args:
      loss: per-epoch loss, last axis = epochs (any units; NaN-free).
      sigma: Gaussian width in epochs.
      log: smooth ``log10(loss)`` (default) instead of the loss itself.
    """
    values = np.asarray(loss, np.float64)
    if values.shape[-1] < 3:
        raise ValueError(f"need at least 3 epochs for a second derivative, got {values.shape[-1]}")
    if log:
        values = np.log10(np.maximum(values, np.finfo(np.float64).tiny))
    smooth = gaussian_smooth(values, sigma)
    return np.gradient(np.gradient(smooth, axis=-1), axis=-1)


@dataclasses.dataclass(frozen=True)
class Acceleration:
    """One loss-acceleration event: the epoch and the smoothed second derivative there
    (negative: the loss starts to fall faster; positive: a fall slows down)."""

    epoch: int
    acceleration: float


def acceleration_events(loss: np.ndarray, k: int = 5, sigma: float = 20.0, log: bool = True,
                        min_separation: Optional[int] = None, edge: Optional[int] = None
                        ) -> list[Acceleration]:
    """The ``k`` epochs of largest ``|acceleration|`` of one loss curve ``(T,)``.

    Candidates are local maxima of ``|acceleration|``; they are taken greedily by size, each at
    least ``min_separation`` epochs (default ``3 sigma``) from those already taken. The first and
    last ``edge`` epochs (default ``2 sigma``) are skipped: smoothing is biased there. Returns at
    most ``k`` events, largest first.
    """
    loss = np.asarray(loss, np.float64)
    if loss.ndim != 1:
        raise ValueError(f"acceleration_events takes ONE loss curve (T,), got shape {loss.shape}")
    finite = np.isfinite(loss)
    if not finite.all():  # a diverged seed: analyse the finite prefix
        stop = int(np.argmin(finite))
        loss = loss[:stop]
    if loss.shape[0] < 3:
        return []
    acc = smoothed_acceleration(loss, sigma, log)
    size = np.abs(acc)
    separation = int(round(3 * sigma)) if min_separation is None else int(min_separation)
    edge = int(round(2 * sigma)) if edge is None else int(edge)
    inner = np.arange(loss.shape[0])
    inner = inner[(inner >= edge) & (inner < loss.shape[0] - edge)]
    if inner.size == 0:
        return []
    left = np.r_[-np.inf, size[:-1]]
    right = np.r_[size[1:], -np.inf]
    peaks = inner[(size[inner] >= left[inner]) & (size[inner] >= right[inner]) & (size[inner] > 0)]
    chosen: list[int] = []
    for epoch in peaks[np.argsort(-size[peaks], kind="stable")]:
        if all(abs(int(epoch) - c) >= separation for c in chosen):
            chosen.append(int(epoch))
        if len(chosen) == k:
            break
    return [Acceleration(epoch=e, acceleration=float(acc[e])) for e in chosen]


# ---- weight trajectories and zero crossings --------------------------------------------------
def weight_trajectory(init_params, snapshots, eval_epochs) -> tuple[np.ndarray, tuple, np.ndarray]:
    """Init + snapshots as one trajectory of named scalars.

    Args:
      init_params: params with leaves ``(..., *shape)`` (e.g. ``(S, ...)``), or None to omit.
      snapshots: params with leaves ``(..., n_eval, *shape)``.
      eval_epochs: ``(n_eval,)``.

    Returns:
      ``(epochs (n,), names (P,), values (..., n, P))`` with ``n = n_eval + 1`` when the init is
      given (its epoch is :data:`INIT_EPOCH`).
    """
    values = flatten_params(snapshots)
    epochs = np.asarray(eval_epochs, np.int64)
    if init_params is not None:
        values = np.concatenate([flatten_params(init_params)[..., None, :], values], axis=-2)
        epochs = np.r_[INIT_EPOCH, epochs]
    return epochs, param_names(hidden_size(snapshots)), values


def _signs_filled(values: np.ndarray) -> np.ndarray:
    """Sign along the last axis with zeros replaced by the last non-zero sign before them
    (leading zeros, e.g. a bias initialised at 0, stay 0 and never count as a crossing)."""
    sign = np.sign(values)
    n = sign.shape[-1]
    idx = np.where(sign != 0, np.arange(n), 0)
    idx = np.maximum.accumulate(idx, axis=-1)
    return np.take_along_axis(sign, idx, axis=-1)


def crossing_epochs(epochs: Sequence[float], values: np.ndarray) -> np.ndarray:
    """Where each trajectory changes sign, ``(..., n) -> (..., n - 1)``.

    Entry ``i`` is the linearly interpolated epoch of a sign change between samples ``i`` and
    ``i + 1`` (NaN where the sign does not change). Exact zeros carry the previous sign.
    """
    epochs = np.asarray(epochs, np.float64)
    values = np.asarray(values, np.float64)
    if values.shape[-1] != epochs.shape[0]:
        raise ValueError(f"values has {values.shape[-1]} samples on its last axis, epochs "
                         f"{epochs.shape[0]}")
    sign = _signs_filled(values)
    change = sign[..., :-1] * sign[..., 1:] < 0
    a, b = values[..., :-1], values[..., 1:]
    with np.errstate(divide="ignore", invalid="ignore"):
        frac = np.where(change, a / (a - b), np.nan)
    frac = np.clip(frac, 0.0, 1.0)
    return np.where(change, epochs[:-1] + frac * np.diff(epochs), np.nan)


def first_crossing(epochs: Sequence[float], values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(first crossing epoch (...) [NaN if none], number of crossings (...) int)``."""
    cross = crossing_epochs(epochs, values)
    count = np.sum(np.isfinite(cross), axis=-1)
    first_idx = np.argmax(np.isfinite(cross), axis=-1)
    first = np.take_along_axis(cross, first_idx[..., None], axis=-1)[..., 0]
    return np.where(count > 0, first, np.nan), count


@dataclasses.dataclass(frozen=True)
class Crossing:
    """A weight changing sign between two snapshots: its name, the bracketing snapshot epochs,
    the interpolated epoch and the direction (+1: negative to positive)."""

    name: str
    epoch_before: int
    epoch_after: int
    epoch: float
    direction: int


def zero_crossings(epochs: Sequence[int], names: Sequence[str], values: np.ndarray
                   ) -> list[Crossing]:
    """All sign changes of ONE seed's trajectory ``values (n, P)``, in time order."""
    values = np.asarray(values, np.float64)
    if values.ndim != 2:
        raise ValueError(f"zero_crossings takes ONE trajectory (n, P), got shape {values.shape}")
    epochs = np.asarray(epochs)
    cross = crossing_epochs(epochs, values.T)  # (P, n - 1)
    sign = _signs_filled(values.T)
    found = []
    for p, i in zip(*np.nonzero(np.isfinite(cross))):
        found.append(Crossing(name=names[p], epoch_before=int(epochs[i]),
                              epoch_after=int(epochs[i + 1]), epoch=float(cross[p, i]),
                              direction=int(sign[p, i + 1])))
    return sorted(found, key=lambda c: (c.epoch, c.name))
