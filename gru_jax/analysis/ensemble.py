"""Across the ensemble: loss bands, final losses, plateau exits and the blog's claims per seed.

Every function is vectorised over the seed axis (1024 seeds x 62 snapshots take milliseconds).
Units: train losses are in scaled units (targets / high), test losses in original units.

The blog's claims, tested per seed (BLOG_FACTS.md):
- **update gate** (its Figure 1): at the first step (h = 0) and over the value range 0..1, z stays
  in [0.77, 0.83] for flag 0 and in [0.14, 0.20] for flag 1. The blog quotes two decimals and its
  own net spans [0.768, 0.835] and [0.139, 0.197], so a seed matches when its range lies inside
  the interval widened by ``tolerance = 0.005`` (half a unit in the last quoted digit). This is
  THE definition of "a seed with the blog's gate ranges" (:func:`blog_gate_matches`) wherever
  the report or the comparison counts such seeds: the blog's ranges are ranges of this
  first-step curve, not of the mean z over a sequence (the comparison's behaviour scatter,
  which also shows the box, places seeds by their mean z on a probe: a different quantity).
- **"learned the concept of four"**: on a single-element input the blog's net answers
  [12, 0] -> 41.08 and [12, 1] -> 101.58 (targets 0 and 12). A seed fails like it when either
  answer is off by more than ``tolerance`` (original units, default 5).
- **the update gate's flag weight W_iz[flag] changes sign** during training (the blog's part 4
  "gradient changed direction"): counted from the initial params through every snapshot.
"""
from __future__ import annotations

import dataclasses
import math
import warnings
from typing import Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from ..blog import MEAN_BASELINE, Z_FLAG0, Z_FLAG1
from ..data import scale_inputs
from ..model import forward, hidden_size
from .stats import wilson_interval
from . import symmetry
from .dissect import gate_curves, param_index
from .events import first_crossing, weight_trajectory

QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)


# ---- losses ----------------------------------------------------------------------------------
def loss_bands(loss: np.ndarray, quantiles: Sequence[float] = QUANTILES) -> np.ndarray:
    """Quantiles over seeds at each epoch, ``(S, T) -> (Q, T)``; NaN (diverged) seeds ignored."""
    loss = np.asarray(loss, np.float64)
    if np.isfinite(loss).all():  # np.quantile is much faster than np.nanquantile
        return np.quantile(loss, np.asarray(quantiles), axis=0)
    with warnings.catch_warnings():  # an epoch where every seed is NaN gives NaN, silently
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanquantile(loss, np.asarray(quantiles), axis=0)


def final_train_loss(run) -> np.ndarray:
    """THE final training loss of each seed of a :class:`gru_jax.Run`: the last epoch's
    (scaled units), NaN for a diverged seed. ``(S,)`` float64. The report, the comparison and
    the census all use it (a diverged seed has no final loss, not its last finite one)."""
    return np.asarray(run.train_loss, np.float64)[:, -1]


def final_values(loss: np.ndarray) -> np.ndarray:
    """Last finite value of each row, ``(S, T) -> (S,)`` (NaN if a row has none)."""
    loss = np.asarray(loss, np.float64)
    finite = np.isfinite(loss)
    last = loss.shape[-1] - 1 - np.argmax(finite[..., ::-1], axis=-1)
    out = np.take_along_axis(loss, last[..., None], axis=-1)[..., 0]
    return np.where(finite.any(axis=-1), out, np.nan)


def plateau_exit_epochs(train_loss: np.ndarray, threshold: float = MEAN_BASELINE / 2
                        ) -> np.ndarray:
    """The epoch at which each seed leaves the predict-the-mean plateau for good.

    A seed has left at epoch ``e`` when its training loss is below ``threshold`` (scaled units;
    default half the 1/6 baseline) at ``e`` and at every later epoch. ``(S, T) -> (S,)`` float,
    NaN for a seed that never leaves (or diverged: NaN losses count as not below).
    """
    loss = np.asarray(train_loss, np.float64)
    above = ~(loss < threshold)  # NaN counts as above
    n = loss.shape[-1]
    any_above = above.any(axis=-1)
    last_above = n - 1 - np.argmax(above[..., ::-1], axis=-1)
    exit_epoch = np.where(any_above, last_above + 1, 0).astype(np.float64)
    return np.where(exit_epoch < n, exit_epoch, np.nan)


def quantile_table(values: np.ndarray, quantiles: Sequence[float] = (0.0, 0.05, 0.25, 0.5,
                                                                         0.75, 0.95, 1.0)) -> dict:
    """``{quantile: value}`` over the finite entries, plus ``n`` (finite count) and ``nan``."""
    values = np.asarray(values, np.float64).ravel()
    finite = values[np.isfinite(values)]
    table = {q: (float(np.quantile(finite, q)) if finite.size else math.nan) for q in quantiles}
    table["n"] = int(finite.size)
    table["nan"] = int(values.size - finite.size)
    return table


# ---- per-seed behaviour ----------------------------------------------------------------------
def _as_jnp(params):
    return jax.tree_util.tree_map(lambda a: jnp.asarray(a, jnp.float32), params)


def first_step_update_gate(params, values: Optional[np.ndarray] = None) -> np.ndarray:
    """z at the first step (h = 0) over the scaled value range, for flag 0 and 1.

    Args:
      params: leaves with a leading seed axis ``(S, ...)``.
      values: scaled values (default 101 points in [0, 1]).

    Returns:
      ``(S, 2, V, H)``: axis 1 is the flag.
    """
    values = np.linspace(0.0, 1.0, 101) if values is None else np.asarray(values, float)
    hidden = hidden_size(params)
    h0 = jnp.zeros((hidden,), jnp.float32)

    def one(gru):
        z0 = gate_curves(gru, values, 0.0, h0)[0][1]
        z1 = gate_curves(gru, values, 1.0, h0)[0][1]
        return jnp.stack([z0, z1])

    return np.asarray(jax.jit(jax.vmap(one))(_as_jnp(params)["gru"]), np.float64)


def update_gate_ranges(params, values: Optional[np.ndarray] = None) -> np.ndarray:
    """``(S, 2, 2)``: [flag][min, max] of the first-step z over values, on each seed's readout
    unit (:func:`readout_unit`; the only unit at hidden size 1)."""
    z = first_step_update_gate(params, values)                          # (S, 2, V, H)
    unit = readout_unit(params)
    z = np.take_along_axis(z, unit[:, None, None, None], axis=-1)[..., 0]
    return np.stack([z.min(axis=2), z.max(axis=2)], axis=-1)


def matches_blog_gate(ranges: np.ndarray, flag0=Z_FLAG0, flag1=Z_FLAG1,
                      tolerance: float = 0.005) -> np.ndarray:
    """Per seed: do both flags' z ranges lie inside the blog's intervals (+- tolerance)?
    ``ranges (S, 2, 2) -> (S,) bool``."""
    ranges = np.asarray(ranges)
    ok = np.ones(ranges.shape[0], bool)
    for flag, (lo, hi) in enumerate((flag0, flag1)):
        ok &= (ranges[:, flag, 0] >= lo - tolerance) & (ranges[:, flag, 1] <= hi + tolerance)
    return ok


def blog_gate_matches(params, tolerance: float = 0.005) -> np.ndarray:
    """Per seed: does it have the blog's gate ranges? ``(S, ...) -> (S,) bool``: the first-step
    update-gate range over values 0..1 (:func:`update_gate_ranges`, the readout unit at H > 1)
    lies inside [0.77, 0.83] (flag 0) and [0.14, 0.20] (flag 1), each widened by
    ``tolerance`` (module docstring). The one definition the report and the comparison use."""
    return matches_blog_gate(update_gate_ranges(params), tolerance=tolerance)


def sequence_outputs(params, sequences: np.ndarray, high: float = 100.0) -> np.ndarray:
    """Outputs of every seed for the same sequences, ORIGINAL units.

    Args:
      params: leaves ``(S, ...)``. sequences: ``(B, T, 2)`` original units (value, flag).

    Returns:
      ``(S, B)``.
    """
    x = jnp.asarray(scale_inputs(sequences, high))
    run_one = jax.jit(jax.vmap(lambda p: forward(p, x)[0][:, 0]))
    return np.asarray(run_one(_as_jnp(params)), np.float64) * high


def single_element_outputs(params, value: float = 12.0, high: float = 100.0) -> np.ndarray:
    """``(S, 2)``: each seed's answer to ``[value, 0]`` alone and ``[value, 1]`` alone."""
    seqs = np.asarray([[[value, 0.0]], [[value, 1.0]]])
    return sequence_outputs(params, seqs, high)


def fails_single_element(outputs: np.ndarray, value: float = 12.0, tolerance: float = 5.0
                         ) -> np.ndarray:
    """``(S, 2) -> (S,) bool``: either single-element answer is off its target (0, value) by more
    than ``tolerance`` (original units)."""
    outputs = np.asarray(outputs, np.float64)
    error = np.abs(outputs - np.asarray([0.0, value]))
    return ~np.all(error <= tolerance, axis=-1)  # NaN (diverged) counts as failing


def readout_unit(params) -> np.ndarray:
    """Per model, the hidden unit with the largest ``|readout weight|``: the unit that carries
    the answer. ``(S, ...) -> (S,)`` int (0 at hidden size 1)."""
    return np.argmax(np.abs(np.asarray(params["linear"]["weight"])[..., 0, :]), axis=-1)


def weight_sign_changes(init_params, snapshots, eval_epochs, name: str = "W_iz[flag]",
                        unit=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sign changes of one named weight from init through all snapshots, per seed.

    Args:
      name: a hidden-size-1 parameter name (:func:`gru_jax.model.param_names`). At hidden size
        H > 1 it is read on ``unit`` (``(S,)`` int per seed; default: each seed's readout unit
        at the last snapshot, :func:`readout_unit`); a unit keeps its identity through one
        seed's training, so the trajectory is that unit's.

    Returns:
      ``(first crossing epoch (S,) float NaN if none, crossings (S,) int,
      trajectory (S, n_eval + 1))``.
    """
    epochs, names, values = weight_trajectory(init_params, snapshots, eval_epochs)
    hidden = hidden_size(snapshots)
    if hidden == 1:
        trajectory = values[..., param_index(name, 1)]
    else:
        last = {m: {k: np.asarray(v)[:, -1] for k, v in sub.items()}
                for m, sub in snapshots.items()}
        unit = readout_unit(last) if unit is None else np.asarray(unit)
        columns = np.asarray([param_index(f"{name}[{u}]", hidden) for u in unit])
        trajectory = np.take_along_axis(values, columns[:, None, None], axis=-1)[..., 0]
    first, count = first_crossing(epochs, trajectory)
    return first, count, trajectory


# ---- the claims, all together ----------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Claim:
    """One of the blog's claims over the ensemble: ``count`` of ``total`` seeds, the fraction and
    its 95% Wilson interval."""

    name: str
    description: str
    count: int
    total: int

    @property
    def fraction(self) -> float:
        return self.count / self.total if self.total else math.nan

    @property
    def interval(self) -> tuple[float, float]:
        return wilson_interval(self.count, self.total)


@dataclasses.dataclass(frozen=True)
class EnsembleSummary:
    """Everything the report's ensemble section shows (arrays have the seed axis first)."""

    final_train: np.ndarray          # (S,) scaled units, :func:`final_train_loss`
    final_test: np.ndarray           # (S,) original units, last eval (NaN: diverged)
    plateau_exit: np.ndarray         # (S,) epoch, NaN = never left
    z_ranges: np.ndarray             # (S, 2, 2) [flag][min, max] first-step z
    matches_gate: np.ndarray         # (S,) bool
    single_outputs: np.ndarray       # (S, 2) original units: [12,0] and [12,1] alone
    fails_single: np.ndarray         # (S,) bool
    flag_first_crossing: np.ndarray  # (S,) epoch of W_iz[flag]'s first sign change, NaN if none
    flag_crossings: np.ndarray       # (S,) int
    claims: list


def summarize(run, plateau_threshold: float = MEAN_BASELINE / 2, gate_tolerance: float = 0.005,
              single_value: float = 12.0, single_tolerance: float = 5.0) -> EnsembleSummary:
    """All per-seed quantities and the blog's claims for a :class:`gru_jax.Run`."""
    high = float(run.config.high)
    final_train = final_train_loss(run)
    final_test = np.asarray(run.test_loss, np.float64)[:, -1]
    exit_epoch = plateau_exit_epochs(run.train_loss, plateau_threshold)
    ranges = update_gate_ranges(run.params)
    gate_ok = blog_gate_matches(run.params, tolerance=gate_tolerance)
    single = single_element_outputs(run.params, single_value, high)
    fails = fails_single_element(single, single_value, single_tolerance)
    first, count, _ = weight_sign_changes(run.init_params, run.snapshots, run.eval_epochs)
    total = run.n_seeds
    learned = np.isfinite(exit_epoch)
    claims = [
        Claim("left the plateau", f"final training loss stayed below {plateau_threshold:.4g} "
              f"(scaled), i.e. the seed left the predict-the-mean plateau", int(learned.sum()),
              total),
        Claim("update gate as the blog's", "first-step z in [0.77, 0.83] for flag 0 and "
              f"[0.14, 0.20] for flag 1 over all values (+-{gate_tolerance})",
              int(gate_ok.sum()), total),
        Claim("fails a single-element input", f"[{single_value:g},0] or [{single_value:g},1] "
              f"alone answered more than {single_tolerance:g} off (0, {single_value:g}), as the "
              "blog's 41.08 / 101.58", int(fails.sum()), total),
        Claim("W_iz[flag] changes sign", "the update gate's flag weight changes sign at least "
              "once between init and the last snapshot", int((count > 0).sum()), total),
    ]
    return EnsembleSummary(final_train=final_train, final_test=final_test,
                           plateau_exit=exit_epoch, z_ranges=ranges, matches_gate=gate_ok,
                           single_outputs=single, fails_single=fails, flag_first_crossing=first,
                           flag_crossings=count, claims=claims)


# ---- what both the report and the comparison state -------------------------------------------
@dataclasses.dataclass(frozen=True)
class Headline:
    """The run-level numbers that the report and the comparison both state, from one place.

    n_seeds; n_diverged (``run.diverged``); n_finite: seeds with a finite
    :func:`final_train_loss`; final_loss_quantiles: ``{0.05, 0.5, 0.95: value}`` of it over
    the finite seeds (scaled units); n_blog_gate: :func:`blog_gate_matches` count.
    """

    n_seeds: int
    n_diverged: int
    n_finite: int
    final_loss_quantiles: dict
    n_blog_gate: int


def headline(run, gate_tolerance: float = 0.005) -> Headline:
    """The :class:`Headline` of a :class:`gru_jax.Run`."""
    final = final_train_loss(run)
    table = quantile_table(final, (0.05, 0.5, 0.95))
    return Headline(int(run.n_seeds), int(np.sum(run.diverged)), table["n"],
                    {q: table[q] for q in (0.05, 0.5, 0.95)},
                    int(np.sum(blog_gate_matches(run.params, gate_tolerance))))


# ---- trajectories in canonical coordinates ---------------------------------------------------
def trajectory_coordinates(run) -> tuple[np.ndarray, tuple, np.ndarray, bool]:
    """Every seed's init + snapshots as named canonical coordinates (r/z biases merged).

    At hidden size 1: :func:`gru_jax.analysis.symmetry.canonical_vector` of every snapshot
    (sign fixed by that snapshot's readout). At H > 1 each seed's trajectory is put in the unit
    order and signs of its FINAL canonical form
    (:func:`gru_jax.analysis.symmetry.canonical_transform`, applied to every snapshot: a unit
    keeps its identity while one seed trains), so unit ``u0`` is the unit with the largest final
    readout weight throughout. Names from :func:`gru_jax.analysis.symmetry.canonical_names`.

    Returns:
      ``(epochs (n,), names (P,), values (S, n, P), canonical)``; ``canonical`` is always True
      (kept for callers that labelled raw coordinates).
    """
    epochs, _, _ = weight_trajectory(run.init_params, run.snapshots, run.eval_epochs)
    stack = {m: {k: np.concatenate([run.init_params[m][k][:, None], v], axis=1)
                 for k, v in sub.items()} for m, sub in run.snapshots.items()}
    hidden = run.config.hidden_size
    if hidden == 1:
        return (epochs, symmetry.canonical_names(1),
                np.asarray(symmetry.canonical_vector(stack), np.float64), True)
    perm, signs = symmetry.canonical_transform(run.params)                  # (S, H)
    shape = (perm.shape[0], len(epochs), hidden)
    aligned = symmetry.apply_signed_permutation(
        stack, np.broadcast_to(perm[:, None], shape), np.broadcast_to(signs[:, None], shape))
    return (epochs, symmetry.canonical_names(hidden),
            np.asarray(symmetry.coordinates(aligned), np.float64), True)


def readable_coordinates(names, limit: int = 40) -> np.ndarray:
    """Indices of the coordinates a figure shows: all of them up to ``limit``, else those of
    unit ``u0`` (the readout unit of the canonical order) and ``b_out``."""
    names = list(names)
    if len(names) <= limit:
        return np.arange(len(names))
    def unit0_only(name):
        units = [part for part in name.replace("]", ",").replace("[", ",").split(",")
                 if part.startswith("u")]
        return all(u == "u0" for u in units)
    return np.asarray([i for i, name in enumerate(names) if unit0_only(name)])
