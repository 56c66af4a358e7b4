"""The GRU + linear readout in PyTorch's layout (``torch.nn.GRU`` + ``torch.nn.Linear``).

Parameters are a plain dict, exactly the seed's ``state_dict`` split at the first dot::

    {"gru": {"weight_ih_l0": (3H, I), "weight_hh_l0": (3H, H),
             "bias_ih_l0": (3H,), "bias_hh_l0": (3H,)},
     "linear": {"weight": (O, H), "bias": (O,)}}

Rows of the stacked gate tensors are in torch's gate order r, z, n. The math is written once,
for ONE example (:func:`gru_cell`); a Python loop over the (short,
static) time axis adds time. The batch rides along as TRAILING axes (``(H, B)``, ``(I, B)``): with
the tiny gate/hidden/input sizes leading, the batch is the contiguous axis, which is what makes
the cell vectorise (see experiments/PERF_NOTES.md).
"""
from __future__ import annotations

from typing import Any, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp

Params = dict[str, dict[str, jax.Array]]


def _column(vector: jax.Array, ndim: int) -> jax.Array:
    """Append unit axes so a ``(R,)`` or ``(R, C)`` parameter broadcasts against
    ``(..., *batch)``."""
    return vector.reshape(vector.shape + (1,) * ndim)


def _affine(weight: jax.Array, vector: jax.Array) -> jax.Array:
    """``weight @ vector`` for a column or a batch of columns:
    ``(R, C), (C, *batch) -> (R, *batch)``.

    Written as a sum of C broadcast products (C = 1 or 2 here) so the batch stays the contiguous
    last axis and the whole cell fuses into elementwise loops: neither tiny matmuls nor a
    reduction over C (which XLA:CPU materialises as a broadcast of the weights to the batch).
    """
    if weight.shape[1] > 16:
        return jnp.tensordot(weight, vector, axes=1)
    rows = weight.shape[0]
    total = None
    for c in range(weight.shape[1]):
        term = _column(weight[:, c], vector.ndim - 1) * vector[c][None]
        total = term if total is None else total + term
    return jnp.broadcast_to(total, (rows,) + vector.shape[1:])


def gate_preactivations(gru: dict[str, jax.Array], h: jax.Array, x: jax.Array):
    """The input and hidden terms of the three gates.

    Args:
      gru: the ``"gru"`` sub-dict of the params.
      h: hidden state ``(H,)`` for one example, or ``(H, *batch)``.
      x: input ``(I,)`` or ``(I, *batch)`` (value already divided by ``high``).

    Returns:
      ``(gi, gh)``, each ``(3, H, *batch)``: rows r, z, n of ``W_i x + b_i`` and ``W_h h + b_h``.
    """
    hidden = gru["weight_hh_l0"].shape[-1]
    batch = x.shape[1:]
    gi = _affine(gru["weight_ih_l0"], x) + _column(gru["bias_ih_l0"], len(batch))
    gh = _affine(gru["weight_hh_l0"], h) + _column(gru["bias_hh_l0"], len(batch))
    return gi.reshape((3, hidden) + batch), gh.reshape((3, hidden) + batch)


def gru_cell(gru: dict[str, jax.Array], h: jax.Array, x: jax.Array):
    """One step of ``torch.nn.GRU``, written for one example (a column); any trailing batch
    axes ride along elementwise.

    r  = sigmoid(W_ir x + b_ir + W_hr h + b_hr)
    z  = sigmoid(W_iz x + b_iz + W_hz h + b_hz)
    n  = tanh(W_in x + b_in + r * (W_hn h + b_hn))
    h' = (1 - z) * n + z * h

    Args:
      gru: ``{"weight_ih_l0": (3H, I), "weight_hh_l0": (3H, H), "bias_ih_l0": (3H,),
        "bias_hh_l0": (3H,)}``.
      h: ``(H, *batch)``. x: ``(I, *batch)``.

    Returns:
      ``(h_next, (r, z, n))``, each ``(H, *batch)``.
    """
    gi, gh = gate_preactivations(gru, h, x)
    r = jax.nn.sigmoid(gi[0] + gh[0])
    z = jax.nn.sigmoid(gi[1] + gh[1])
    n = jnp.tanh(gi[2] + r * gh[2])
    h_next = (1.0 - z) * n + z * h
    return h_next, (r, z, n)


def forward_columns(params: Params, x: jax.Array, valid: Optional[jax.Array] = None):
    """The seed's ``forward`` with the batch on the LAST axis (the fast layout).

    Args:
      params: see the module docstring (one model, no seed axis).
      x: ``(T, I)`` for one sequence or ``(T, I, B)`` for a batch, float32, value channel
        already divided by ``high``.
      valid: optional ``(T,)`` bool; where False the step leaves ``h`` unchanged (left padding
        of shorter sequences). ``None``: every step is real.

    Returns:
      ``(y, hs)``: output ``(O, *batch)`` from the last hidden state and hidden states
      ``(T, H, *batch)``.
    """
    gru = params["gru"]
    hidden = gru["weight_hh_l0"].shape[-1]
    h = jnp.zeros((hidden,) + x.shape[2:], x.dtype)
    hs = []
    for t in range(x.shape[0]):
        h_next, _ = gru_cell(gru, h, x[t])
        h = h_next if valid is None else jnp.where(valid[t], h_next, h)
        hs.append(h)
    y = _affine(params["linear"]["weight"], h) + _column(params["linear"]["bias"], h.ndim - 1)
    return y, jnp.stack(hs)


def forward(params: Params, x: jax.Array, valid: Optional[jax.Array] = None):
    """Batched forward, equal to the seed's ``model(x)``.

    Args:
      params: one model (no seed axis).
      x: ``(B, T, I)`` float32, value channel already divided by ``high``.
      valid: optional ``(T,)`` bool mask of real steps (left padding).

    Returns:
      ``(y, hs)``: ``(B, O)`` outputs (scaled units) and ``(B, T, H)`` hidden states.
    """
    x = jnp.asarray(x, jnp.float32)
    if x.ndim != 3:
        raise ValueError(f"forward: x must be (batch, time, input), got shape {x.shape}")
    in_size = params["gru"]["weight_ih_l0"].shape[-1]
    if x.shape[-1] != in_size:
        raise ValueError(f"forward: x has {x.shape[-1]} input channels, params expect {in_size}")
    y, hs = forward_columns(params, jnp.transpose(x, (1, 2, 0)), valid)
    return y.T, jnp.transpose(hs, (2, 0, 1))


def _orthogonal_stacked(key, shape, dtype=jnp.float32):
    """``torch.nn.init.orthogonal_`` on the WHOLE stacked matrix (not per gate): Haar-random
    matrix with orthonormal columns (rows if it is wide), shape ``(3H, C)``."""
    return nn.initializers.orthogonal(column_axis=-1)(key, shape, dtype)


class AddingGRU(nn.Module):
    """Flax owner of the parameters, in the PyTorch layout and with the seed's init.

    Init: ``orthogonal_`` on the stacked ``weight_ih_l0`` (3H, I) and ``weight_hh_l0`` (3H, H);
    all six bias vectors zero; readout ``xavier_uniform_`` (bound sqrt(6 / (H + O))), bias zero.
    """

    input_size: int = 2
    hidden_size: int = 1
    output_size: int = 1

    @nn.compact
    def __call__(self, x, valid=None):
        hidden, inputs, outputs = self.hidden_size, self.input_size, self.output_size
        zeros = nn.initializers.zeros
        gru = {
            "weight_ih_l0": self.param("gru.weight_ih_l0", _orthogonal_stacked,
                                       (3 * hidden, inputs)),
            "weight_hh_l0": self.param("gru.weight_hh_l0", _orthogonal_stacked,
                                       (3 * hidden, hidden)),
            "bias_ih_l0": self.param("gru.bias_ih_l0", zeros, (3 * hidden,)),
            "bias_hh_l0": self.param("gru.bias_hh_l0", zeros, (3 * hidden,)),
        }
        linear = {
            "weight": self.param("linear.weight",
                                 nn.initializers.glorot_uniform(in_axis=-1, out_axis=-2),
                                 (outputs, hidden)),
            "bias": self.param("linear.bias", zeros, (outputs,)),
        }
        return forward({"gru": gru, "linear": linear}, x, valid)


def _nest(flat: dict[str, Any]) -> Params:
    """``{"gru.weight_ih_l0": a, ...}`` -> ``{"gru": {"weight_ih_l0": a}, ...}``."""
    nested: dict[str, dict[str, Any]] = {}
    for name, value in flat.items():
        module, leaf = name.split(".", 1)
        nested.setdefault(module, {})[leaf] = value
    return nested


def init_params(cfg, key: jax.Array) -> Params:
    """One model's initial parameters, drawn like the seed's ``AddingProblemGRU.__init__``.

    Args:
      cfg: a :class:`gru_jax.Config` (uses input/hidden/output sizes).
      key: a JAX PRNG key.

    Returns:
      params in the PyTorch layout (see the module docstring), float32.
    """
    module = AddingGRU(cfg.input_size, cfg.hidden_size, cfg.output_size)
    dummy = jnp.zeros((1, 1, cfg.input_size), jnp.float32)
    variables = module.init(key, dummy)
    return _nest(dict(variables["params"]))


def param_count(params: Params) -> int:
    return sum(int(leaf.size) for leaf in jax.tree_util.tree_leaves(params))
