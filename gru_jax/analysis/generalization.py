"""Generalization benchmark: fixed held-out sets over sequence length x number of flags.

Every cell ``(length L, flags k)`` with ``k <= L`` holds ``n_per_cell`` sequences drawn ONCE from
a fixed seed (numpy ``default_rng((seed, L, k))``, so any cell is reproducible on its own): values
are integers uniform in ``[0, high)``, the ``k`` flagged positions a uniformly random k-subset of
the ``L`` steps, the target the sum of the flagged raw values (original units).

Error measure, per cell, in original units::

    relative RMS error = sqrt(mean((prediction - target)^2)) / sqrt(mean(target^2))

(the RMS error as a fraction of the RMS target; well defined although single targets can be 0).

Sizes (CPU): the full grid (lengths 2..100 x flags 1..10, 954 cells) at the default
``n_per_cell=1000`` is 954,000 sequences, ~48M GRU steps per model: ~1 s per model on one CPU
core, fine for the hand-crafted sets and a handful of seeds. Whole ensembles and their snapshots
use :func:`coarse_held_out` (13 lengths x 7 flag counts, 200 sequences a cell; ~0.5M steps per
model), which a 256-seed x 62-snapshot run evaluates in minutes. Lengths are grouped into
power-of-two buckets (left-padded, padding steps skipped by a mask: at most 2x the work, ~7
compiled shapes) and models are evaluated in chunks of ``chunk_models`` (vmapped), so memory
stays bounded (~chunk_models x sequences-per-bucket x 4 bytes per live array).
"""
from __future__ import annotations

import dataclasses
from typing import Iterator

import jax
import jax.numpy as jnp
import numpy as np

from ..data import scale_inputs
from ..model import flatten_models, forward_columns, model_axes

HELD_OUT_SEED = 20240817
FULL_LENGTHS = tuple(range(2, 101))
FULL_FLAG_COUNTS = tuple(range(1, 11))
COARSE_LENGTHS = (2, 3, 4, 5, 6, 8, 10, 15, 20, 30, 50, 75, 100)
COARSE_FLAG_COUNTS = (1, 2, 3, 4, 6, 8, 10)


@dataclasses.dataclass(frozen=True)
class HeldOut:
    """The definition of a held-out grid (the data are regenerated from it on demand).

    lengths: sequence lengths (rows). flag_counts: numbers of flags (columns).
    n_per_cell: sequences per cell. seed: the fixed data seed. high: values are in ``[0, high)``.
    """

    lengths: tuple = FULL_LENGTHS
    flag_counts: tuple = FULL_FLAG_COUNTS
    n_per_cell: int = 1000
    seed: int = HELD_OUT_SEED
    high: int = 100

    def __post_init__(self):
        if min(self.lengths) < 1 or min(self.flag_counts) < 1 or self.n_per_cell < 1:
            raise ValueError(f"HeldOut: lengths, flag counts and n_per_cell must be >= 1, got "
                             f"{self}")

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.lengths), len(self.flag_counts)

    @property
    def valid(self) -> np.ndarray:
        """``(n_lengths, n_flag_counts)`` bool: the cell exists (``flags <= length``)."""
        return np.asarray(self.flag_counts)[None, :] <= np.asarray(self.lengths)[:, None]


def full_held_out(n_per_cell: int = 1000, seed: int = HELD_OUT_SEED) -> HeldOut:
    """Lengths 2..100 x flags 1..10 (the accumulator's target grid)."""
    return HeldOut(FULL_LENGTHS, FULL_FLAG_COUNTS, n_per_cell, seed)


def coarse_held_out(n_per_cell: int = 200, seed: int = HELD_OUT_SEED) -> HeldOut:
    """13 lengths x 7 flag counts spanning the full grid: for ensembles and snapshots."""
    return HeldOut(COARSE_LENGTHS, COARSE_FLAG_COUNTS, n_per_cell, seed)


def cell_data(held_out: HeldOut, length: int, flags: int):
    """One cell's sequences. Returns ``(x, y)``: raw ``(n, L, 2)`` float64 (value, flag) and raw
    targets ``(n,)`` (original units)."""
    rng = np.random.default_rng((held_out.seed, length, flags))
    n = held_out.n_per_cell
    values = rng.integers(0, held_out.high, (n, length))
    ranks = np.argsort(np.argsort(rng.random((n, length)), axis=1), axis=1)
    mask = ranks < flags
    x = np.stack([values, mask], axis=-1).astype(np.float64)
    y = np.sum(np.where(mask, values, 0), axis=1).astype(np.float64)
    return x, y


def length_batches(held_out: HeldOut
                   ) -> Iterator[tuple[int, int, list[int], np.ndarray, np.ndarray]]:
    """Per length: ``(row, length, flag columns, x (C*n, L, 2), y (C*n,))``, cells concatenated
    in column order (``n_per_cell`` rows each)."""
    for row, length in enumerate(held_out.lengths):
        columns = [c for c, k in enumerate(held_out.flag_counts) if k <= length]
        if not columns:
            continue
        parts = [cell_data(held_out, length, held_out.flag_counts[c]) for c in columns]
        yield (row, length, columns, np.concatenate([p[0] for p in parts]),
               np.concatenate([p[1] for p in parts]))


@jax.jit
def _predict_chunk(params, x_columns, valid):
    """Final outputs of M models on one batch: params ``(M, ...)``, x ``(T, 2, N)`` scaled,
    valid ``(T, N)`` bool (False: the step keeps ``h``; left padding) -> ``(M, N)`` scaled units."""
    return jax.vmap(lambda p: forward_columns(p, x_columns, valid)[0][0])(params)


def predict_final(params, x_raw, high: int = 100, chunk_models: int = 256,
                  lengths=None) -> np.ndarray:
    """Outputs in ORIGINAL units of every model on raw sequences.

    Args:
      params: PyTorch layout with any leading axes ``lead`` (seeds, snapshots; none for one).
      x_raw: ``(N, T, 2)`` raw values and flags (values NOT divided by ``high``).
      lengths: optional ``(N,)`` real lengths: sequence i is its LAST ``lengths[i]`` steps (left
        padding, skipped). Default: all ``T`` steps are real.

    Returns:
      ``lead + (N,)`` float64.
    """
    flat, lead = flatten_models(params)
    count = flat["gru"]["weight_hh_l0"].shape[0]
    x = scale_inputs(x_raw, high)
    steps = x.shape[1]
    lengths = np.full(x.shape[0], steps) if lengths is None else np.asarray(lengths)
    valid = np.arange(steps)[:, None] >= steps - lengths[None, :]                # (T, N)
    x_columns = np.transpose(x, (1, 2, 0))                                       # (T, 2, N)
    n_seq = x.shape[0]
    width = 1 << (n_seq - 1).bit_length()     # pad N to a power of two (fewer compiled shapes)
    x_columns = jnp.asarray(np.pad(x_columns, ((0, 0), (0, 0), (0, width - n_seq))))
    valid = jnp.asarray(np.pad(valid, ((0, 0), (0, width - n_seq))))
    # model chunks padded to a power of two: few distinct shapes, so few compiles across calls
    chunk = 1 << (max(1, min(chunk_models, count)) - 1).bit_length()
    outputs = []
    for start in range(0, count, chunk):
        part = jax.tree_util.tree_map(lambda a: a[start:start + chunk], flat)
        size = part["gru"]["weight_hh_l0"].shape[0]
        if size < chunk:
            part = jax.tree_util.tree_map(
                lambda a: np.concatenate([a, np.repeat(a[-1:], chunk - size, 0)]), part)
        outputs.append(np.asarray(_predict_chunk(part, x_columns, valid))[:size, :n_seq])
    return (np.concatenate(outputs).astype(np.float64) * high).reshape(lead + (x.shape[0],))


def _bucket(length: int) -> int:
    """Padded time length of a length: the next power of two (at most 2x the work, and only
    ~log2(max length) compiled shapes)."""
    return 1 << (int(length) - 1).bit_length()


def relative_rms_error(params, held_out: HeldOut = None, chunk_models: int = 256) -> np.ndarray:
    """Relative RMS error per cell of every model (see the module docstring).

    Args:
      params: PyTorch layout, any leading axes ``lead`` (e.g. ``(S,)`` or ``(S, n_eval)``).
      held_out: the grid (default: :func:`full_held_out`).

    Returns:
      ``lead + (n_lengths, n_flag_counts)`` float64; NaN where ``flags > length``.
    """
    held_out = held_out or full_held_out()
    lead = model_axes(params)
    out = np.full(lead + held_out.shape, np.nan)
    n = held_out.n_per_cell
    buckets: dict[int, list] = {}
    for row, length, columns, x, y in length_batches(held_out):
        buckets.setdefault(_bucket(length), []).append((row, length, columns, x, y))
    for width, members in sorted(buckets.items()):
        xs = [np.pad(x, ((0, 0), (width - x.shape[1], 0), (0, 0))) for _, _, _, x, _ in members]
        lengths = np.concatenate([np.full(len(m[3]), m[1]) for m in members])
        pred = predict_final(params, np.concatenate(xs), held_out.high, chunk_models, lengths)
        offset = 0
        for row, _, columns, x, y in members:
            part = pred[..., offset:offset + len(y)]
            offset += len(y)
            err = ((part - y) ** 2).reshape(lead + (len(columns), n)).mean(-1)
            scale = (y ** 2).reshape(len(columns), n).mean(-1)
            out[..., row, columns] = np.sqrt(err / scale)
    return out


def fraction_within(errors: np.ndarray, tolerance: float = 0.05) -> np.ndarray:
    """Per cell, the fraction of models (first axis) whose relative RMS error <= tolerance.
    ``(S, nL, nK) -> (nL, nK)``, NaN where the cell does not exist."""
    errors = np.asarray(errors)
    frac = np.mean(errors <= tolerance, axis=0)
    return np.where(np.isnan(errors[0]), np.nan, frac)


def summary_error(errors: np.ndarray) -> np.ndarray:
    """One number per model: the worst cell's relative RMS error. ``(..., nL, nK) -> (...)``."""
    return np.nanmax(errors, axis=(-2, -1))


def run_errors(run, held_out: HeldOut = None, snapshots: bool = True) -> np.ndarray:
    """Relative RMS error per cell of a :class:`gru_jax.Run`: every seed at every snapshot
    (``(S, n_eval, nL, nK)``) or at the end (``(S, nL, nK)``). Default grid: the coarse one."""
    params = run.snapshots if snapshots else run.params
    return relative_rms_error(params, held_out or coarse_held_out(n_per_cell=100))
