"""gru_jax's params to and from ``equinox.nn.GRUCell`` + ``equinox.nn.Linear`` (needs the
``equinox`` extra).

Equinox's cell (read off its source, ``equinox/nn/_rnn.py``) holds ``weight_ih (3H, I)`` and
``weight_hh (3H, H)`` in torch's layout and gate order (r, z, n), one ``bias (3H,)`` added on
the input side and ``bias_n (H,)`` inside the reset product::

    r = sigmoid(W_ir x + bias_r + W_hr h)
    z = sigmoid(W_iz x + bias_z + W_hz h)
    n = tanh(W_in x + bias_n' + r * (W_hn h + bias_n))
    h' = n + z * (h - n)                     (= (1 - z) n + z h)

so ``bias = b_ih + (b_hr, b_hz, 0)`` and ``bias_n = b_hn``; back, the merged biases go to the
input side (``b_hr = b_hz = 0``). Equinox's cell is for one example: ``cell(x, h)`` with
``x (I,)``, ``h (H,)``; ``jax.vmap`` adds the batch.
"""
from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ..interop import from_state_dict, to_state_dict


def to_equinox(params, key=None) -> tuple[eqx.nn.GRUCell, eqx.nn.Linear]:
    """``(cell, readout)`` holding one model's params (float32)."""
    sd = to_state_dict(params)
    if sd["gru.weight_hh_l0"].ndim != 2:
        raise ValueError(f"to_equinox: one model's params expected, got gru.weight_hh_l0 of "
                         f"shape {sd['gru.weight_hh_l0'].shape}")
    hidden, inputs = sd["gru.weight_hh_l0"].shape[1], sd["gru.weight_ih_l0"].shape[1]
    outputs = sd["linear.weight"].shape[0]
    cell_key, linear_key = jax.random.split(jax.random.key(0) if key is None else key)
    cell = eqx.nn.GRUCell(inputs, hidden, key=cell_key)
    readout = eqx.nn.Linear(hidden, outputs, key=linear_key)
    b_h = sd["gru.bias_hh_l0"].copy()
    merged = sd["gru.bias_ih_l0"] + np.concatenate([b_h[:2 * hidden], np.zeros(hidden,
                                                                                np.float32)])
    values = {"weight_ih": sd["gru.weight_ih_l0"], "weight_hh": sd["gru.weight_hh_l0"],
              "bias": merged, "bias_n": b_h[2 * hidden:]}
    cell = eqx.tree_at(lambda c: [getattr(c, n) for n in values], cell,
                       [jnp.asarray(v, jnp.float32) for v in values.values()])
    readout = eqx.tree_at(lambda r: (r.weight, r.bias), readout,
                          (jnp.asarray(sd["linear.weight"]), jnp.asarray(sd["linear.bias"])))
    return cell, readout


def from_equinox(cell: eqx.nn.GRUCell, readout: eqx.nn.Linear) -> dict:
    """gru_jax params from an ``equinox.nn.GRUCell`` and its ``Linear`` readout."""
    hidden = cell.hidden_size
    zeros = np.zeros(hidden, np.float32)
    bias = np.zeros(3 * hidden, np.float32) if cell.bias is None else np.asarray(cell.bias)
    bias_n = zeros if cell.bias_n is None else np.asarray(cell.bias_n)
    return from_state_dict({
        "gru.weight_ih_l0": np.asarray(cell.weight_ih),
        "gru.weight_hh_l0": np.asarray(cell.weight_hh),
        "gru.bias_ih_l0": bias, "gru.bias_hh_l0": np.concatenate([zeros, zeros, bias_n]),
        "linear.weight": np.asarray(readout.weight),
        "linear.bias": (np.zeros(readout.out_features, np.float32) if readout.bias is None
                        else np.asarray(readout.bias))})
