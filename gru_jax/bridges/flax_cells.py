"""gru_jax's params to and from Flax's GRU cells: ``flax.linen.GRUCell`` and
``flax.nnx.GRUCell``, each with a readout (``linen.Dense`` / ``nnx.Linear``).

The three cells compute the same equations with the biases placed differently (read off the
installed Flax source)::

    torch / gru_jax   r = sigmoid(W_ir x + b_ir + W_hr h + b_hr)
                      z = sigmoid(W_iz x + b_iz + W_hz h + b_hz)
                      n = tanh(W_in x + b_in + r * (W_hn h + b_hn))
                      h' = (1 - z) * n + z * h
    linen.GRUCell     submodules ir, iz, in (Dense with bias), hr, hz (no bias), hn (with
                      bias): one bias each for r and z, so b_ir + b_hr and b_iz + b_hz merge
                      into ir and iz; b_in and b_hn stay apart (in, hn). Kernels are
                      (in, out): the transposes of torch's rows.
    nnx.GRUCell       dense_i: Linear(I, 3H) with bias, dense_h: Linear(H, 3H) WITHOUT one
                      (gates r, z, n along the last axis), so it cannot hold b_hn, which r
                      multiplies. :func:`to_nnx` gives dense_h a bias (``use_bias=True``,
                      ``bias`` the three b_h*), which its ``__call__`` adds before splitting
                      the gates: torch's equations exactly.

The conversions back put merged biases on the input side (``b_hr = b_hz = 0``): the same
network, not the same numbers in the state dict. All arrays float32.
"""
from __future__ import annotations

from typing import Optional

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from ..interop import from_state_dict, to_state_dict

GATES = ("r", "z", "n")


def _split(params):
    """(state dict, H, I, O) of one model, float32 numpy."""
    sd = to_state_dict(params)
    if sd["gru.weight_hh_l0"].ndim != 2:
        raise ValueError(f"one model's params expected, got gru.weight_hh_l0 of shape "
                         f"{sd['gru.weight_hh_l0'].shape}")
    hidden = sd["gru.weight_hh_l0"].shape[1]
    return sd, hidden, sd["gru.weight_ih_l0"].shape[1], sd["linear.weight"].shape[0]


def _rows(matrix: np.ndarray, hidden: int) -> list[np.ndarray]:
    """Torch's stacked (3H, C) -> the three (H, C) gate blocks r, z, n."""
    return [matrix[g * hidden:(g + 1) * hidden] for g in range(3)]


def to_linen(params) -> tuple[dict, dict]:
    """``(cell_params, dense_params)`` for ``linen.GRUCell(features=H)`` and
    ``linen.Dense(O)``: ``cell.apply({"params": cell_params}, h, x)`` is one step,
    ``dense.apply({"params": dense_params}, h)`` the readout."""
    sd, hidden, _, _ = _split(params)
    w_i, w_h = _rows(sd["gru.weight_ih_l0"], hidden), _rows(sd["gru.weight_hh_l0"], hidden)
    b_i, b_h = _rows(sd["gru.bias_ih_l0"], hidden), _rows(sd["gru.bias_hh_l0"], hidden)
    cell = {
        "ir": {"kernel": w_i[0].T, "bias": b_i[0] + b_h[0]},
        "iz": {"kernel": w_i[1].T, "bias": b_i[1] + b_h[1]},
        "in": {"kernel": w_i[2].T, "bias": b_i[2]},
        "hr": {"kernel": w_h[0].T}, "hz": {"kernel": w_h[1].T},
        "hn": {"kernel": w_h[2].T, "bias": b_h[2]},
    }
    dense = {"kernel": sd["linear.weight"].T, "bias": sd["linear.bias"]}
    return _float32(cell), _float32(dense)


def from_linen(cell_params, dense_params) -> dict:
    """gru_jax params from ``linen.GRUCell`` + ``linen.Dense`` params (the merged r, z biases
    on the input side)."""
    cell = jax.tree_util.tree_map(lambda a: np.asarray(a, np.float32), dict(cell_params))
    zero = np.zeros_like(cell["ir"]["bias"])
    return from_state_dict({
        "gru.weight_ih_l0": np.concatenate([cell[g]["kernel"].T for g in ("ir", "iz", "in")]),
        "gru.weight_hh_l0": np.concatenate([cell[g]["kernel"].T for g in ("hr", "hz", "hn")]),
        "gru.bias_ih_l0": np.concatenate([cell["ir"]["bias"], cell["iz"]["bias"],
                                          cell["in"]["bias"]]),
        "gru.bias_hh_l0": np.concatenate([zero, zero, cell["hn"]["bias"]]),
        "linear.weight": np.asarray(dense_params["kernel"], np.float32).T,
        "linear.bias": np.asarray(dense_params["bias"], np.float32)})


def to_nnx(params, rngs: nnx.Rngs | None = None) -> tuple[nnx.GRUCell, nnx.Linear]:
    """``(cell, readout)``: an ``nnx.GRUCell(I, H)`` and an ``nnx.Linear(H, O)`` holding the
    params; ``cell(h, x)`` is one step (its ``dense_h`` given the hidden biases, see the module
    docstring), ``readout(h)`` the output."""
    sd, hidden, inputs, outputs = _split(params)
    rngs = rngs if rngs is not None else nnx.Rngs(0)
    cell = nnx.GRUCell(inputs, hidden, rngs=rngs)
    readout = nnx.Linear(hidden, outputs, rngs=rngs)
    cell.dense_i.kernel = nnx.Param(jnp.asarray(sd["gru.weight_ih_l0"].T))
    cell.dense_i.bias = nnx.Param(jnp.asarray(sd["gru.bias_ih_l0"]))
    cell.dense_h.kernel = nnx.Param(jnp.asarray(sd["gru.weight_hh_l0"].T))
    cell.dense_h.use_bias = True
    cell.dense_h.bias = nnx.Param(jnp.asarray(sd["gru.bias_hh_l0"]))
    readout.kernel = nnx.Param(jnp.asarray(sd["linear.weight"].T))
    readout.bias = nnx.Param(jnp.asarray(sd["linear.bias"]))
    return cell, readout


def from_nnx(cell: nnx.GRUCell, readout: nnx.Linear) -> dict:
    """gru_jax params from an ``nnx.GRUCell`` (a stock one: hidden biases 0) and its
    ``nnx.Linear`` readout."""
    bias_h = _array(cell.dense_h.bias)
    if bias_h is None:                                   # a stock cell: no hidden biases
        bias_h = np.zeros(3 * cell.hidden_features, np.float32)
    return from_state_dict({
        "gru.weight_ih_l0": _array(cell.dense_i.kernel).T,
        "gru.weight_hh_l0": _array(cell.dense_h.kernel).T,
        "gru.bias_ih_l0": _array(cell.dense_i.bias), "gru.bias_hh_l0": bias_h,
        "linear.weight": _array(readout.kernel).T, "linear.bias": _array(readout.bias)})


def _array(variable: Optional[nnx.Variable]) -> Optional[np.ndarray]:
    """An nnx parameter's value as float32 numpy; None for a missing one (a bias-less Linear
    holds None in newer Flax, a Param of None in older ones)."""
    if variable is None:
        return None
    try:
        return np.asarray(variable[...], np.float32)
    except TypeError:                                    # Param(None)[...]
        return None


def _float32(tree):
    return jax.tree_util.tree_map(lambda a: np.asarray(a, np.float32), tree)
