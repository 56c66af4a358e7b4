"""The GRU's symmetry group at any hidden size: signed permutations of the hidden units, and
the canonical form that picks one representative per orbit.

A GRU with ``H`` units computes the same outputs after any relabelling of its units combined
with a sign flip of each unit's state. Write the transform as ``h~ = T h`` with
``h~[i] = signs[i] * h[perm[i]]`` (new unit ``i`` is old unit ``perm[i]``, flipped when
``signs[i] = -1``), i.e. ``T = D P`` with ``P[i, perm[i]] = 1`` and ``D = diag(signs)``. Then::

    r~ = s(P W_ir x + P b_r + P W_hr P^T D h~)      rows permuted, NOT flipped (s is not odd)
    z~ = s(P W_iz x + P b_z + P W_hz P^T D h~)
    n~ = D P n = tanh(D P W_in x + D P b_in + r~ * (D P W_hn P^T D h~ + D P b_hn))
                                                    rows permuted AND flipped (tanh is odd)
    y  = w_out P^T D h~ + b_out                     readout columns permuted and flipped

and ``h~' = (1 - z~) n~ + z~ h~`` commutes with ``T`` (``r * (...)`` is elementwise, and
``D (r * v) = r * (D v)``). So: W_ih and both biases get the row map ``P`` (times ``D`` on the n
rows), W_hh gets it on its rows and ``P^T D`` on its columns, the readout gets ``P^T D`` on its
columns. The inverse of ``(perm, signs)`` is ``(argsort(perm), signs[argsort(perm)])``.

At ``H = 1`` the group is just the sign flip ``h -> -h`` (:func:`flip_sign`): it negates W_in
(both input columns), b_in, b_hn, W_hr, W_hz and w_out; W_ir, W_iz, W_hn and the r/z biases
stay. :func:`canonicalize` then only fixes the sign (readout weight >= 0), and
:func:`canonical_vector` gives the 15 coordinates of :data:`CANONICAL_NAMES`.

The r and z biases enter only as ``b_ih + b_hh`` (:func:`merge_biases`): every function here
that returns a representative (:func:`canonicalize`, :func:`align`) merges them into
``bias_ih`` and zeroes ``bias_hh`` there. b_in and b_hn stay separate: ``r`` multiplies only
b_hn.

Params are numpy/jax arrays in the PyTorch layout with any leading axes (seeds, snapshots);
results are float32 numpy. Inputs are ``(value / high, flag)``: weights are per scaled unit.

References:
  Ainsworth, Hayase & Srinivasa (2023), "Git Re-Basin: Merging Models modulo Permutation
  Symmetries", ICLR (weight matching by linear assignment, used by :func:`align`).
"""
from __future__ import annotations

import math

import numpy as np
from scipy.optimize import linear_sum_assignment

from ..model import GATES, INPUTS, hidden_size, model_axes

# The canonical coordinates of a hidden-size-1 model (the order of canonical_vector at H = 1;
# canonical_names(1)).
CANONICAL_NAMES = (
    "W_ir[value]", "W_ir[flag]", "W_iz[value]", "W_iz[flag]", "W_in[value]", "W_in[flag]",
    "W_hr", "W_hz", "W_hn", "b_r", "b_z", "b_in", "b_hn", "w_out", "b_out",
)


def _as_numpy(params):
    return {m: {k: np.asarray(v, np.float32) for k, v in sub.items()} for m, sub in params.items()}


def merge_biases(params):
    """r and z biases merged: ``bias_ih[r, z] <- bias_ih + bias_hh``, ``bias_hh[r, z] <- 0``.

    Args:
      params: PyTorch layout, any leading axes.

    Returns:
      float32 numpy params computing the same outputs (up to the rounding of the sums).
    """
    p = _as_numpy(params)
    hidden = hidden_size(p)
    b_ih, b_hh = p["gru"]["bias_ih_l0"].copy(), p["gru"]["bias_hh_l0"].copy()
    b_ih[..., : 2 * hidden] += b_hh[..., : 2 * hidden]
    b_hh[..., : 2 * hidden] = 0.0
    p["gru"]["bias_ih_l0"], p["gru"]["bias_hh_l0"] = b_ih, b_hh
    return p


def inverse(perm, signs):
    """The inverse signed permutation: ``(..., H), (..., H) -> (argsort(perm), signs[argsort])``."""
    perm = np.asarray(perm)
    inv = np.argsort(perm, axis=-1)
    return inv, np.take_along_axis(np.asarray(signs), inv, axis=-1)


def apply_signed_permutation(params, perm, signs):
    """Relabel and flip hidden units: ``h~[i] = signs[i] h[perm[i]]`` (module docstring).

    Args:
      params: PyTorch layout, any leading axes ``(...)``.
      perm: ``(..., H)`` int, a permutation of ``0..H-1`` per model (broadcast against ``...``).
      signs: ``(..., H)`` of +-1 (broadcast likewise).

    Returns:
      params (float32 numpy, same layout and leading axes) computing the same outputs; the
      biases are moved, not merged.
    """
    p = _as_numpy(params)
    hidden, lead = hidden_size(p), model_axes(p)
    perm = np.broadcast_to(np.asarray(perm, np.intp), lead + (hidden,))
    if np.all(perm == np.arange(hidden)):
        # Fast path (always taken at H = 1): every unit stays in place, only signs act; the
        # gathers below would only copy (~15x slower on (1024, 21) models at H = 1).
        gather = lambda a, index, axis: a
    else:
        if np.any(np.sort(perm, axis=-1) != np.arange(hidden)):
            raise ValueError(f"apply_signed_permutation: perm must permute 0..{hidden - 1}")
        gather = lambda a, index, axis: np.take_along_axis(a, index, axis=axis)
    s = np.broadcast_to(np.asarray(signs, np.float32), lead + (hidden,))
    ones = np.ones_like(s)
    rows = np.concatenate([perm + g * hidden for g in range(3)], axis=-1)     # (..., 3H)
    row_sign = np.concatenate([ones, ones, s], axis=-1)                          # (..., 3H)
    take_rows = lambda a: gather(a, rows[..., :, None], -2)
    gru = p["gru"]
    w_hh = take_rows(gru["weight_hh_l0"]) * row_sign[..., :, None]
    w_hh = gather(w_hh, perm[..., None, :], -1) * s[..., None, :]
    w_out = gather(p["linear"]["weight"], perm[..., None, :], -1)
    return {
        "gru": {"weight_ih_l0": take_rows(gru["weight_ih_l0"]) * row_sign[..., :, None],
                "weight_hh_l0": w_hh,
                "bias_ih_l0": gather(gru["bias_ih_l0"], rows, -1) * row_sign,
                "bias_hh_l0": gather(gru["bias_hh_l0"], rows, -1) * row_sign},
        "linear": {"weight": w_out * s[..., None, :], "bias": p["linear"]["bias"].copy()},
    }


def flip_sign(params):
    """Every hidden unit's sign flipped (``h -> -h``, units kept in place); an involution.

    Args:
      params: PyTorch layout, any leading axes.

    Returns:
      float32 numpy params computing exactly the same outputs.
    """
    return apply_signed_permutation(params, np.arange(hidden_size(params)), -1.0)


def _one_output(params, where: str) -> np.ndarray:
    w_out = np.asarray(params["linear"]["weight"])
    if w_out.shape[-2] != 1:
        raise ValueError(f"{where}: needs one output, readout weight has shape {w_out.shape}")
    return w_out[..., 0, :]


def _sort_keys(p) -> list[np.ndarray]:
    """Per-unit coordinates ``(..., H)`` of sign-fixed, merged params, most significant FIRST.

    Each depends only on its own unit (no off-diagonal W_hh), so it moves with the unit under
    any permutation and is unchanged once the signs are fixed.
    """
    hidden = hidden_size(p)
    gru = p["gru"]
    w_ih = gru["weight_ih_l0"].reshape(model_axes(p) + (3, hidden, -1))
    b_ih = gru["bias_ih_l0"].reshape(model_axes(p) + (3, hidden))
    b_hn = gru["bias_hh_l0"][..., 2 * hidden:]
    diag = np.diagonal(gru["weight_hh_l0"].reshape(model_axes(p) + (3, hidden, hidden)),
                       0, -2, -1)
    keys = [np.abs(p["linear"]["weight"][..., 0, :]), b_ih[..., 1, :], b_ih[..., 0, :],
            b_ih[..., 2, :], b_hn]
    keys += [w_ih[..., g, :, i] for g in (1, 0, 2) for i in range(w_ih.shape[-1])]
    keys += [diag[..., g, :] for g in (1, 0, 2)]
    return keys


def canonicalize(params):
    """One representative per orbit of the signed permutations, same outputs.

    1. Merge the r/z biases (``bias_ih[r, z] += bias_hh[r, z]``, ``bias_hh[r, z] = 0``).
    2. Flip every unit whose readout weight is negative (readout >= 0; a zero keeps its sign).
    3. Sort the units by DESCENDING key, lexicographically: ``|w_out|``, then the merged z bias,
       the merged r bias, ``b_in``, ``b_hn``, ``W_iz`` (value, flag), ``W_ir``, ``W_in``, then the
       diagonal recurrent weights ``W_hz[u,u]``, ``W_hr[u,u]``, ``W_hn[u,u]``.

    Invariant: ``canonicalize(apply_signed_permutation(p, perm, signs)) == canonicalize(p)``
    exactly (every step only moves and negates floats) for generic ``p``: no zero readout
    weight, no two units equal in every key. At ``H = 1`` only step 2 acts (one unit: nothing
    to sort).

    Args:
      params: PyTorch layout with one output, any leading axes.

    Returns:
      float32 numpy params, same layout and leading axes.
    """
    merged = merge_biases(params)
    return apply_signed_permutation(merged, *_canonical_transform_of_merged(merged))


def canonical_transform(params):
    """The signed permutation that :func:`canonicalize` applies: ``(perm, signs)``, each
    ``(..., H)``, with ``canonicalize(p) == apply_signed_permutation(merge_biases(p), perm,
    signs)``. Applied to a seed's earlier snapshots it follows the same units through training
    (a unit keeps its identity while one seed trains)."""
    return _canonical_transform_of_merged(merge_biases(params))


def _canonical_transform_of_merged(merged):
    """:func:`canonical_transform` of params whose r/z biases are merged already."""
    w_out = _one_output(merged, "canonicalize")
    hidden = hidden_size(merged)
    first_signs = np.where(w_out < 0, -1.0, 1.0).astype(np.float32)
    if hidden == 1:                                      # one unit: nothing to sort
        return np.zeros(first_signs.shape, np.intp), first_signs
    flipped = apply_signed_permutation(merged, np.arange(hidden), first_signs)
    keys = [-k for k in _sort_keys(flipped)]            # descending
    order = np.lexsort(keys[::-1], axis=-1)              # lexsort: LAST key is primary
    return order, np.take_along_axis(first_signs, order, axis=-1)


def canonical_names(hidden_size: int) -> tuple[str, ...]:
    """Names of :func:`canonical_vector`'s coordinates (``3 H^2 + 11 H + 1`` of them).

    Order: input weights ``W_i{g}[u{u},{value|flag}]`` (gate r, z, n; unit; input), recurrent
    ``W_h{g}[u{u},u{k}]`` (gate; row unit u, the receiving one; column unit k, the sending one),
    merged biases ``b_r[u{u}]``, ``b_z[u{u}]``, then ``b_in[u{u}]``, ``b_hn[u{u}]``, readout
    ``w_out[u{u}]``, ``b_out``. At ``H = 1`` exactly :data:`CANONICAL_NAMES` (no unit
    indices).
    """
    if hidden_size < 1:
        raise ValueError(f"canonical_names: hidden_size must be >= 1, got {hidden_size}")
    if hidden_size == 1:
        return CANONICAL_NAMES
    units = range(hidden_size)
    names = [f"W_i{g}[u{u},{i}]" for g in GATES for u in units for i in INPUTS]
    names += [f"W_h{g}[u{u},u{k}]" for g in GATES for u in units for k in units]
    names += [f"b_{b}[u{u}]" for b in ("r", "z", "in", "hn") for u in units]
    names += [f"w_out[u{u}]" for u in units] + ["b_out"]
    return tuple(names)


def canonical_vector(params) -> np.ndarray:
    """Coordinates of the canonical form: ``(...,) -> (..., 3 H^2 + 11 H + 1)`` float32, named
    by :func:`canonical_names` (inputs (value / high, flag); r/z biases merged)."""
    return coordinates(canonicalize(params))


def coordinates(params) -> np.ndarray:
    """The named coordinates of :func:`canonical_names` read off params AS THEY ARE (units in
    their current order; r/z biases merged first): ``(...,) -> (..., 3 H^2 + 11 H + 1)``."""
    p = merge_biases(params)
    hidden, lead = hidden_size(p), model_axes(p)
    gru = p["gru"]
    if gru["weight_ih_l0"].shape[-1] != len(INPUTS):
        raise ValueError(f"canonical_vector: needs inputs {INPUTS}, weight_ih has shape "
                         f"{gru['weight_ih_l0'].shape}")
    parts = [gru["weight_ih_l0"].reshape(lead + (-1,)),          # (3, H, 2) gate, unit, input
             gru["weight_hh_l0"].reshape(lead + (-1,)),          # (3, H, H) gate, row, column
             gru["bias_ih_l0"], gru["bias_hh_l0"][..., 2 * hidden:],
             p["linear"]["weight"][..., 0, :], p["linear"]["bias"][..., :1]]
    return np.concatenate(parts, axis=-1).astype(np.float32)


def from_canonical_vector(vector) -> dict:
    """Inverse of :func:`coordinates` (and so of :func:`canonical_vector`): ``(..., P)`` ->
    params with leading axes ``(...)``, float32 numpy, ``bias_hh`` r, z = 0; the hidden size is
    read off ``P = 3 H^2 + 11 H + 1`` (15 at ``H = 1``, :data:`CANONICAL_NAMES`)."""
    v = np.array(vector, np.float32)                      # a copy: the leaves below are views
    size = v.shape[-1] if v.ndim else 0
    hidden = (math.isqrt(121 + 12 * (size - 1)) - 11) // 6 if size else 0
    if hidden < 1 or 3 * hidden ** 2 + 11 * hidden + 1 != size:
        raise ValueError(f"from_canonical_vector: last axis must be 3 H^2 + 11 H + 1 "
                         f"(15 at H = 1), got {v.shape}")
    lead, inputs = v.shape[:-1], len(INPUTS)
    ends = np.cumsum([3 * hidden * inputs, 3 * hidden * hidden, 3 * hidden, hidden, hidden])
    w_ih, w_hh, b_ih, b_hn, w_out, b_out = np.split(v, ends, axis=-1)
    b_hh = np.concatenate([np.zeros(lead + (2 * hidden,), np.float32), b_hn], axis=-1)
    return {"gru": {"weight_ih_l0": w_ih.reshape(lead + (3 * hidden, inputs)),
                    "weight_hh_l0": w_hh.reshape(lead + (3 * hidden, hidden)),
                    "bias_ih_l0": b_ih, "bias_hh_l0": b_hh},
            "linear": {"weight": w_out.reshape(lead + (1, hidden)), "bias": b_out}}


# ---- alignment to a reference ---------------------------------------------------------------
def _unit_features(p, perm=None, signs=None):
    """Per-unit features of ONE merged model, split by how they respond to the unit's sign.

    ``even``: unchanged when the unit flips (its r/z input weights and merged biases, and with an
    estimate its r/z rows of W_hh); ``odd``: negated (n input weights, ``b_in``, ``b_hn``,
    readout, and with an estimate its n row and its whole column of W_hh). The W_hh parts need
    the OTHER units' labels: they are taken after the current estimate ``(perm, signs)`` is applied
    to the other side (columns for a row, rows for a column); ``perm=None`` leaves W_hh out.

    Returns:
      ``(even, odd)``: ``(H, Fe)``, ``(H, Fo)``.
    """
    hidden = hidden_size(p)
    gru = p["gru"]
    w_ih = gru["weight_ih_l0"].reshape(3, hidden, -1)
    b_ih, b_hh = gru["bias_ih_l0"].reshape(3, hidden), gru["bias_hh_l0"].reshape(3, hidden)
    even = [w_ih[0], w_ih[1], b_ih[0, :, None], b_ih[1, :, None]]
    odd = [w_ih[2], b_ih[2, :, None], b_hh[2, :, None], p["linear"]["weight"].T]
    if perm is not None:
        w_hh = gru["weight_hh_l0"].reshape(3, hidden, hidden)
        incoming = w_hh[:, :, perm] * signs                               # columns relabelled
        outgoing = w_hh[:, perm, :] * np.stack([np.ones_like(signs)] * 2 + [signs])[:, :, None]
        even += [incoming[0], incoming[1]]
        odd += [incoming[2], outgoing.transpose(2, 0, 1).reshape(hidden, -1)]
    return np.concatenate(even, axis=1), np.concatenate(odd, axis=1)


def _match(model, reference, perm=None, signs=None):
    """One linear assignment: the ``(perm, signs)`` maximising the summed feature inner products
    ``<ref_j, s model_perm[j]>`` (the best sign per pair: the sign of the odd inner product)."""
    hidden = hidden_size(reference)
    ref_even, ref_odd = _unit_features(reference, *(() if perm is None else
                                                    (np.arange(hidden), np.ones(hidden))))
    even, odd = _unit_features(model, perm, signs)
    odd_score = ref_odd @ odd.T.astype(np.float64)                     # (H ref, H model)
    score = ref_even @ even.T.astype(np.float64) + np.abs(odd_score)
    _, new_perm = linear_sum_assignment(score, maximize=True)
    best_sign = np.where(odd_score < 0, -1.0, 1.0)
    return new_perm, best_sign[np.arange(hidden), new_perm].astype(np.float32)


def _align_one(model, reference, max_iter: int):
    perm, signs = _match(model, reference)
    for _ in range(max_iter):
        new_perm, new_signs = _match(model, reference, perm, signs)
        if np.array_equal(new_perm, perm) and np.array_equal(new_signs, signs):
            break
        perm, signs = new_perm, new_signs
    return perm, signs


def align_transform(params, reference, max_iter: int = 20):
    """The signed permutation that best matches each model to ONE reference model.

    Weight matching (Git Re-Basin): maximise the summed inner products of each reference unit's
    weights with its matched unit's weights (equivalently, minimise the squared distance),
    choosing per pair the better sign, by ``scipy.optimize.linear_sum_assignment``. A unit's
    weights are its input rows (r, z, n), merged biases, readout column and its row and column of
    W_hh. The W_hh parts depend on how the OTHER units are matched, so: first match without W_hh,
    then re-match with W_hh relabelled by the current match until it stops changing (at most
    ``max_iter`` rounds; Git Re-Basin alternates over layers the same way).

    Args:
      params: PyTorch layout, any leading axes ``(...)``.
      reference: one model (no leading axes), same hidden size.

    Returns:
      ``(perm, signs)``, ``(..., H)`` int and ``(..., H)`` float32 +-1, such that
      ``apply_signed_permutation(params, perm, signs)`` is aligned: its unit ``j`` plays the part
      of the reference's unit ``j``.
    """
    ref = merge_biases(reference)
    if model_axes(ref):
        raise ValueError(f"align: reference must be ONE model, got leading axes {model_axes(ref)}")
    p = merge_biases(params)
    hidden, lead = hidden_size(p), model_axes(p)
    if hidden != hidden_size(ref):
        raise ValueError(f"align: hidden sizes differ ({hidden} vs reference {hidden_size(ref)})")
    count = int(np.prod(lead))
    flat = {m: {k: v.reshape((count,) + v.shape[len(lead):]) for k, v in sub.items()}
            for m, sub in p.items()}
    perms = np.zeros((count, hidden), np.intp)
    signs = np.zeros((count, hidden), np.float32)
    for i in range(count):
        one = {m: {k: v[i] for k, v in sub.items()} for m, sub in flat.items()}
        perms[i], signs[i] = _align_one(one, ref, max_iter)
    return perms.reshape(lead + (hidden,)), signs.reshape(lead + (hidden,))


def align(params, reference, max_iter: int = 20):
    """Params relabelled and flipped to match ``reference`` (see :func:`align_transform`).

    Args:
      params: PyTorch layout, any leading axes. reference: one model.

    Returns:
      float32 numpy params, same layout and leading axes, same outputs, r/z biases merged (so
      coordinates compare directly with the merged reference).
    """
    perm, signs = align_transform(params, reference, max_iter)
    return apply_signed_permutation(merge_biases(params), perm, signs)
