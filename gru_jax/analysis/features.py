"""A description of each seed's mechanism: one feature vector per model, with names and units.

The groups, in order (``H`` = hidden size; every model is first ALIGNED to one reference model
with :func:`gru_jax.analysis.symmetry.align`, so unit ``u`` plays the same part in every seed):

1. ``weights``: the aligned coordinates of :func:`gru_jax.analysis.symmetry.coordinates`
   (``3 H^2 + 11 H + 1`` of them; r/z biases merged). Unit: weight per scaled input
   (inputs are ``(value / high, flag)``) or per scaled hidden unit; biases in pre-activation
   units.
2. ``gates``: on :data:`BEHAVIOUR_PROBE` (length 4, 2 flags), the mean update gate ``z`` and
   reset gate ``r`` over all flag-0 steps and over all flag-1 steps: ``z_flag0, z_flag1,
   r_flag0, r_flag1`` (unitless, in (0, 1); 1 = hold / use the state). At ``H > 1`` the units
   are averaged with weights ``|w_out[u]| / sum |w_out|`` (the units the readout listens to).
3. ``route``: how the flag reaches the output. For gate ``g`` in r, z, n, the flag's input to
   that gate is MEAN-ABLATED (``W_ig[:, flag] x_flag`` replaced by ``W_ig[:, flag] mean_flag``,
   ``mean_flag = 2 / 4`` on the probe; done on the weights: ``W_ig[:, flag] = 0``,
   ``b_ig += W_ig[:, flag] / 2``) and ``flag_effect_g = RMS(y_ablated - y) / RMS(target)``
   (unitless; 0 = the flag does nothing through this gate). The route shares
   ``effect_g / sum effect`` are derived from these (:func:`route_shares`), not features.
   ``flag_push_n = sum_u w_out[u] W_in[u, flag]``: how the flag moves the output through the
   candidate's pre-activation (sign-flip invariant; its sign is the "(+)" / "(-)" of a name).
4. ``fixed points`` (:func:`gru_jax.analysis.slow_points.fixed_point_summary`, value 0):
   ``leading_eigenvalue_flag0`` (unitless: the factor a stored deviation keeps per flag-0
   step, at the flag-0 fixed point nearest ``h = 0``), ``log10_leak_flag0``
   (``log10 max(|1 - eigenvalue|, 1e-6)``; log10 of the fraction lost per step),
   ``n_fixed_flag0``, ``n_fixed_flag1`` (counts; 16 = a continuum).
5. ``generalization``: ``log10_error_L{L}k{k}``: log10 relative RMS error (original units,
   :func:`gru_jax.analysis.generalization.relative_rms_error`) on the cells of
   :data:`FEATURE_CELLS` (length L, k flags; 200 sequences a cell).
6. ``loss``: ``log10_final_loss`` (log10 of the last epoch's training MSE, scaled units), when
   the caller gives losses.

NaN (no flag-0 fixed point found, a diverged seed) is kept here; the clustering imputes it.

Speed: 1024 trained H = 1 seeds on this project's 2-core CPU: see :func:`seed_features`.
"""
from __future__ import annotations

from typing import NamedTuple, Optional

import jax.numpy as jnp
import numpy as np

from ..data import scale_inputs
from ..model import flatten_models, forward_columns, hidden_size, map_models, model_axes
from .thresholds import behaviour_probe
from .generalization import HeldOut, relative_rms_error
from .slow_points import fixed_point_summary
from .symmetry import (align, canonical_names, canonical_vector, canonicalize, coordinates,
                       merge_biases)

ROUTES = ("r", "z", "n")
FEATURE_CELLS = ((4, 2), (2, 1), (8, 2), (16, 3))
FEATURE_SEED = 7
LEAK_FLOOR = 1e-6


class SeedFeatures(NamedTuple):
    """values ``(S, F)`` float64; names, units, groups: ``F`` strings each; reference: the
    model every seed was aligned to (params, no leading axes)."""

    values: np.ndarray
    names: tuple
    units: tuple
    groups: tuple
    reference: dict


def medoid_reference(params) -> dict:
    """The canonical form of the model whose canonical vector is nearest (Euclidean,
    coordinates standardised over the models) to the coordinatewise median: one model, no
    leading axes. ``params``: any leading axes."""
    params = flatten_models(params)[0]
    vectors = canonical_vector(params).astype(np.float64)
    scale = np.nanstd(vectors, axis=0)
    z = np.nan_to_num((vectors - np.nanmedian(vectors, 0)) / np.where(scale > 0, scale, 1.0),
                      nan=1e6)
    index = int(np.argmin(np.sum(z * z, axis=1)))
    return {m: {k: np.asarray(v)[index] for k, v in sub.items()}
            for m, sub in canonicalize(params).items()}


def _readout_weights(params):
    w = jnp.abs(params["linear"]["weight"][0])
    return w / jnp.maximum(jnp.sum(w), 1e-12)


def _behaviour(params, x_columns):
    """One model on the probe: ``(y, [z_flag0, z_flag1, r_flag0, r_flag1], push)``."""
    y, _, gates = forward_columns(params, x_columns, gates=True)
    unit_weight = _readout_weights(params)[None, :, None]
    r = jnp.sum(gates[:, 0] * unit_weight, axis=1)                # (T, N)
    z = jnp.sum(gates[:, 1] * unit_weight, axis=1)
    on = x_columns[:, 1, :] > 0.5
    mean_over = lambda a, where: jnp.sum(jnp.where(where, a, 0.0)) / jnp.maximum(
        jnp.sum(where), 1)
    hidden = params["gru"]["weight_hh_l0"].shape[-1]
    push = jnp.sum(params["linear"]["weight"][0]
                   * params["gru"]["weight_ih_l0"][2 * hidden:3 * hidden, 1])
    return y, [mean_over(z, ~on), mean_over(z, on), mean_over(r, ~on), mean_over(r, on)], push


def _gates_only(params, x_columns, target):
    """:func:`_gates_and_route` without the three ablated passes (effects NaN)."""
    _, behaviour, push = _behaviour(params, x_columns)
    return jnp.stack(behaviour + [jnp.float32(jnp.nan)] * len(ROUTES) + [push])


def _gates_and_route(params, x_columns, target):
    """One model on the probe ``x (T, 2, N)`` scaled, ``target (N,)`` scaled ->
    ``(8,)``: z_flag0, z_flag1, r_flag0, r_flag1, flag_effect_r, flag_effect_z, flag_effect_n,
    flag_push_n."""
    y, behaviour, push = _behaviour(params, x_columns)
    hidden = params["gru"]["weight_hh_l0"].shape[-1]
    mean_flag = jnp.mean(x_columns[:, 1, :])
    scale = jnp.sqrt(jnp.mean(target ** 2))
    effects = []
    for g in range(len(ROUTES)):
        rows = slice(g * hidden, (g + 1) * hidden)
        w_ih, b_ih = params["gru"]["weight_ih_l0"], params["gru"]["bias_ih_l0"]
        flag_weight = w_ih[rows, 1]
        ablated = {"gru": {**params["gru"],
                           "weight_ih_l0": w_ih.at[rows, 1].set(0.0),
                           "bias_ih_l0": b_ih.at[rows].add(flag_weight * mean_flag)},
                   "linear": params["linear"]}
        y_ablated = forward_columns(ablated, x_columns)[0]
        effects.append(jnp.sqrt(jnp.mean((y_ablated - y) ** 2)) / scale)
    return jnp.stack(behaviour + effects + [push])


def gates_and_route(params, high: int = 100, probe=None, routes: bool = True) -> np.ndarray:
    """Gate behaviour and flag routes (module docstring, groups 2 and 3).

    Args:
      params: PyTorch layout, any leading axes ``lead``.
      probe: raw ``(x (N, L, 2), y (N,))``; default the length-4, 2-flag behaviour probe.
      routes: False skips the three ablated passes (the flag effects come back NaN).

    Returns:
      ``lead + (8,)``: z_flag0, z_flag1, r_flag0, r_flag1, flag_effect_r, flag_effect_z,
      flag_effect_n, flag_push_n.
    """
    x_raw, y_raw = probe or behaviour_probe(high=high)
    x_columns = jnp.asarray(np.transpose(scale_inputs(x_raw, high), (1, 2, 0)), jnp.float32)
    target = jnp.asarray(np.asarray(y_raw) / high, jnp.float32)
    return map_models(_gates_and_route if routes else _gates_only, params, x_columns, target)


def route_shares(effects) -> np.ndarray:
    """``(..., 3)`` flag effects (r, z, n) -> each route's share of their sum (NaN if 0)."""
    effects = np.asarray(effects, np.float64)
    total = np.sum(effects, axis=-1, keepdims=True)
    return np.where(total > 0, effects / np.where(total > 0, total, 1.0), np.nan)


#: The lean fixed-point search of :func:`mechanism_features`: h = 0 and the states visited on
#: two typical sequences (9 starts instead of 64), 40 steps, the flag-0 input only.
LEAN_FIXED_POINTS = dict(flag1=False, n_random=0, n_sequences=2, n_steps=40)


def _fixed_point_features(params, high: float, lean: bool = False) -> np.ndarray:
    summary = fixed_point_summary(params, high=high, **(LEAN_FIXED_POINTS if lean else {}))
    eig = np.asarray(summary.leading_eigenvalue, np.float64)
    leak = np.log10(np.maximum(np.abs(1.0 - eig), LEAK_FLOOR))
    return np.stack([eig, np.where(np.isfinite(eig), leak, np.nan),
                     np.asarray(summary.n_flag0, np.float64),
                     np.asarray(summary.n_flag1, np.float64)], axis=-1)


def _generalization_features(params, high: int, n_per_cell: int) -> np.ndarray:
    lengths = sorted({length for length, _ in FEATURE_CELLS})
    flags = sorted({k for _, k in FEATURE_CELLS})
    grid = HeldOut(tuple(lengths), tuple(flags), n_per_cell, FEATURE_SEED, high)
    errors = relative_rms_error(params, grid)
    cells = [errors[..., lengths.index(length), flags.index(k)] for length, k in FEATURE_CELLS]
    return np.log10(np.maximum(np.stack(cells, axis=-1), 1e-12))


def feature_names(hidden: int, with_loss: bool = True) -> tuple[tuple, tuple, tuple]:
    """``(names, units, groups)`` of :func:`seed_features`' columns (module docstring)."""
    weights = canonical_names(hidden)
    rows = [(n, "weight (scaled units)", "weights") for n in weights]
    rows += [(f"{g}_flag{f}", "gate value (0-1)", "gates") for g in ("z", "r") for f in (0, 1)]
    rows += [(f"flag_effect_{g}", "RMS output change / RMS target", "route") for g in ROUTES]
    rows += [("flag_push_n", "output weight x candidate flag weight", "route")]
    rows += [("leading_eigenvalue_flag0", "factor kept per flag-0 step", "fixed points"),
             ("log10_leak_flag0", "log10 fraction lost per flag-0 step", "fixed points"),
             ("n_fixed_flag0", "count (16 = continuum)", "fixed points"),
             ("n_fixed_flag1", "count (16 = continuum)", "fixed points")]
    rows += [(f"log10_error_L{length}k{k}", "log10 relative RMS error", "generalization")
             for length, k in FEATURE_CELLS]
    if with_loss:
        rows += [("log10_final_loss", "log10 MSE (scaled units)", "loss")]
    return tuple(r[0] for r in rows), tuple(r[1] for r in rows), tuple(r[2] for r in rows)


def seed_features(params, final_train_loss=None, *, reference: Optional[dict] = None,
                  high: int = 100, n_per_cell: int = 200, lean: bool = False) -> SeedFeatures:
    """The feature matrix of every model (module docstring).

    Args:
      params: PyTorch layout, any leading axes ``lead`` (flattened to ``S`` rows, C order).
      final_train_loss: ``lead`` last-epoch training losses (scaled units), or None (no loss
        column).
      reference: the model to align to (default :func:`medoid_reference` of ``params``).
      high: the value scale. n_per_cell: sequences per generalization cell.
      lean: the mechanism a census assigns by, at a fraction of the cost (placing 62
        snapshots of 1024 seeds): the route ablations and the generalization cells are left
        NaN and the fixed points come from :data:`LEAN_FIXED_POINTS` (the flag-1 count -1).

    Returns:
      :class:`SeedFeatures` with ``values (S, F)``.

    Speed: the 1024 trained seeds of results/runs/blog1024 (H = 1) take ~15-25 s on this
    project's shared 2-core CPU (fixed points ~5 s, generalization ~5 s, alignment ~1 s).
    """
    hidden = hidden_size(params)
    lead = model_axes(params)
    count = int(np.prod(lead))
    reference = medoid_reference(params) if reference is None else merge_biases(reference)
    aligned = align(params, reference)
    columns = [coordinates(aligned).reshape(count, -1).astype(np.float64),
               gates_and_route(aligned, high, routes=not lean).reshape(count, -1).astype(
                   np.float64),
               _fixed_point_features(aligned, high, lean).reshape(count, -1),
               (np.full((count, len(FEATURE_CELLS)), np.nan) if lean else
                _generalization_features(aligned, high, n_per_cell).reshape(count, -1))]
    if final_train_loss is not None:
        loss = np.asarray(final_train_loss, np.float64).reshape(count, 1)
        columns.append(np.log10(np.where(loss > 0, loss, np.nan)))
    names, units, groups = feature_names(hidden, final_train_loss is not None)
    return SeedFeatures(np.concatenate(columns, axis=1), names, units, groups, reference)
