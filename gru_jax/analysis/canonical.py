"""Canonical form of GRU parameters: one representative per symmetry class.

Two exact redundancies make raw weights of different seeds incomparable:

1. **Sign symmetry.** For each hidden unit j, ``h_j -> -h_j`` leaves the output unchanged when
   the weights flip to match. With ``D = diag(s)``, ``s_j = +-1`` (``h~ = D h``)::

       r = s(W_ir x + b_r + W_hr D h~)             -> W_hr <- W_hr D
       z = s(W_iz x + b_z + W_hz D h~)             -> W_hz <- W_hz D
       n~ = D n = tanh(D W_in x + D b_in + r * (D W_hn D h~ + D b_hn))
                                                    -> W_in <- D W_in, b_in <- D b_in,
                                                       W_hn <- D W_hn D, b_hn <- D b_hn
       y = w_out D h~ + b_out                       -> w_out <- w_out D

   (``r * (...)`` is elementwise, and ``D (r * v) = r * (D v)``; ``h' = (1-z) n + z h``
   commutes with ``D``.) For H = 1 the flip negates W_in (both input columns), b_in, b_hn,
   W_hr, W_hz and w_out; W_ir, W_iz, W_hn and the r/z biases stay.
2. **Redundant biases.** For r and z only ``b_ih + b_hh`` enters the equations.

:func:`canonicalize` picks ``s_j = sign(w_out[0, j])`` (readout weight >= 0 afterwards; a zero
weight keeps its sign) and stores the merged r/z biases in ``bias_ih`` (``bias_hh`` rows r, z
set to 0). b_in and b_hn stay separate: ``r`` multiplies only b_hn. Params may carry any leading
axes (seeds, snapshots).
"""
from __future__ import annotations

import numpy as np

# The canonical coordinates of a hidden-size-1 model (the order of canonical_vector).
CANONICAL_NAMES = (
    "W_ir[value]", "W_ir[flag]", "W_iz[value]", "W_iz[flag]", "W_in[value]", "W_in[flag]",
    "W_hr", "W_hz", "W_hn", "b_r", "b_z", "b_in", "b_hn", "w_out", "b_out",
)


def _as_numpy(params):
    return {m: {k: np.asarray(v, np.float32) for k, v in sub.items()} for m, sub in params.items()}


def _hidden(params) -> int:
    return int(np.shape(params["gru"]["weight_hh_l0"])[-1])


def apply_signs(params, signs):
    """Apply the sign symmetry ``h -> D h`` with ``D = diag(signs)``.

    Args:
      params: PyTorch layout, any leading axes ``(...)``.
      signs: ``(..., H)`` of +-1 (broadcast against the leading axes).

    Returns:
      new params (numpy float32) computing exactly the same function.
    """
    p = _as_numpy(params)
    hidden = _hidden(p)
    s = np.asarray(signs, np.float32)
    lead = p["gru"]["weight_hh_l0"].shape[:-2]
    s = np.broadcast_to(s, lead + (hidden,))
    ones = np.ones_like(s)
    row = np.concatenate([ones, ones, s], axis=-1)           # (..., 3H): only n rows flip
    col = s[..., None, :]                                      # (..., 1, H) columns of W_hh
    hh_rows = np.concatenate([ones, ones, s], axis=-1)[..., :, None]   # D on rows of W_hn
    gru = p["gru"]
    return {
        "gru": {
            "weight_ih_l0": gru["weight_ih_l0"] * row[..., :, None],
            "weight_hh_l0": gru["weight_hh_l0"] * col * hh_rows,
            "bias_ih_l0": gru["bias_ih_l0"] * row,
            "bias_hh_l0": gru["bias_hh_l0"] * row,
        },
        "linear": {"weight": p["linear"]["weight"] * col, "bias": p["linear"]["bias"].copy()},
    }


def flip_sign(params):
    """The sign symmetry applied to every hidden unit (``h -> -h``); an involution."""
    p = _as_numpy(params)
    lead = p["gru"]["weight_hh_l0"].shape[:-2]
    return apply_signs(p, -np.ones(lead + (_hidden(p),), np.float32))


def merge_biases(params):
    """r and z biases merged: ``bias_ih[r, z] <- bias_ih + bias_hh``, ``bias_hh[r, z] <- 0``."""
    p = _as_numpy(params)
    hidden = _hidden(p)
    b_ih, b_hh = p["gru"]["bias_ih_l0"].copy(), p["gru"]["bias_hh_l0"].copy()
    b_ih[..., : 2 * hidden] += b_hh[..., : 2 * hidden]
    b_hh[..., : 2 * hidden] = 0.0
    p["gru"]["bias_ih_l0"], p["gru"]["bias_hh_l0"] = b_ih, b_hh
    return p


def canonicalize(params):
    """Map params (any leading axes) to their canonical representative.

    Readout weight >= 0 for every unit (sign symmetry), merged r/z biases. The result computes
    the same outputs (up to float32 rounding of the bias sums) and ``canonicalize`` is
    idempotent.
    """
    p = merge_biases(params)
    w_out = p["linear"]["weight"]
    if w_out.shape[-2] != 1:
        raise ValueError(f"canonicalize: needs one output, readout weight has shape {w_out.shape}")
    signs = np.where(w_out[..., 0, :] < 0, -1.0, 1.0).astype(np.float32)
    return apply_signs(p, signs)


def canonical_vector(params) -> np.ndarray:
    """Canonical coordinates of hidden-size-1 params: ``(...,) -> (..., 15)``, names in
    :data:`CANONICAL_NAMES` (``b_r``/``b_z`` are the merged biases; inputs are (value / high,
    flag))."""
    if _hidden(params) != 1:
        raise ValueError(f"canonical_vector: defined for hidden size 1, got {_hidden(params)}")
    p = canonicalize(params)
    w_ih, w_hh = p["gru"]["weight_ih_l0"], p["gru"]["weight_hh_l0"]
    b_ih, b_hh = p["gru"]["bias_ih_l0"], p["gru"]["bias_hh_l0"]
    columns = [w_ih[..., 0, 0], w_ih[..., 0, 1], w_ih[..., 1, 0], w_ih[..., 1, 1],
               w_ih[..., 2, 0], w_ih[..., 2, 1], w_hh[..., 0, 0], w_hh[..., 1, 0],
               w_hh[..., 2, 0], b_ih[..., 0], b_ih[..., 1], b_ih[..., 2], b_hh[..., 2],
               p["linear"]["weight"][..., 0, 0], p["linear"]["bias"][..., 0]]
    return np.stack(columns, axis=-1).astype(np.float32)


def from_canonical_vector(vector) -> dict:
    """Inverse of :func:`canonical_vector`: ``(..., 15)`` -> params (bias_hh r, z = 0)."""
    v = np.asarray(vector, np.float32)
    if v.shape[-1] != len(CANONICAL_NAMES):
        raise ValueError(f"from_canonical_vector: last axis must be {len(CANONICAL_NAMES)}, "
                         f"got {v.shape}")
    c = {name: v[..., i] for i, name in enumerate(CANONICAL_NAMES)}
    zero = np.zeros_like(c["b_r"])
    w_ih = np.stack([np.stack([c["W_ir[value]"], c["W_ir[flag]"]], -1),
                     np.stack([c["W_iz[value]"], c["W_iz[flag]"]], -1),
                     np.stack([c["W_in[value]"], c["W_in[flag]"]], -1)], axis=-2)
    return {
        "gru": {"weight_ih_l0": w_ih,
                "weight_hh_l0": np.stack([c["W_hr"], c["W_hz"], c["W_hn"]], -1)[..., None],
                "bias_ih_l0": np.stack([c["b_r"], c["b_z"], c["b_in"]], -1),
                "bias_hh_l0": np.stack([zero, zero, c["b_hn"]], -1)},
        "linear": {"weight": c["w_out"][..., None, None], "bias": c["b_out"][..., None]},
    }
