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

import functools
import math
from typing import Any, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

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


#: Sequences up to this length run as an unrolled Python loop over time (the training path:
#: T = 4, one fused program); longer ones (the generalization grid, up to 128 steps) as a
#: ``lax.scan``. Same cell, same numbers to float32 rounding.
UNROLL_MAX = 16


def forward_columns(params: Params, x: jax.Array, valid: Optional[jax.Array] = None, *,
                    gates: bool = False):
    """The GRU's run over time, batch on the LAST axes: the one forward pass of the package.

    Every caller (training, evaluation, the analyses) runs the network through this function;
    :func:`forward` is its batch-first wrapper and :func:`map_models` adds leading model axes.

    Args:
      params: one model (see the module docstring), any hidden size.
      x: ``(T, I)`` for one sequence or ``(T, I, *batch)``, float32, value channel already
        divided by ``high`` (:func:`gru_jax.data.scale_inputs`).
      valid: optional bool mask of real steps, ``(T,)`` or ``(T, *batch)``; where False the step
        leaves ``h`` unchanged (left padding of shorter sequences). ``None``: every step is real.
      gates: also return the gates of every step.

    Returns:
      ``(y, hs)``, or ``(y, hs, gates)`` with ``gates=True``: output ``(O, *batch)`` (scaled
      units) from the last hidden state, hidden states ``(T, H, *batch)`` and gates
      ``(T, 3, H, *batch)`` (rows r, z, n).
    """
    gru = params["gru"]
    hidden = gru["weight_hh_l0"].shape[-1]
    h0 = jnp.zeros((hidden,) + x.shape[2:], x.dtype)
    mask = None if valid is None else jnp.asarray(valid)

    def step(h, x_t, valid_t):
        h_next, acts = gru_cell(gru, h, x_t)
        if valid_t is not None:
            h_next = jnp.where(valid_t, h_next, h)
        return h_next, (jnp.stack(acts) if gates else None)

    if x.shape[0] <= UNROLL_MAX:
        h, hs, acts = h0, [], []
        for t in range(x.shape[0]):
            h, act = step(h, x[t], None if mask is None else mask[t])
            hs.append(h)
            acts.append(act)
        hs = jnp.stack(hs)
        acts = jnp.stack(acts) if gates else None
    else:
        def body(h, inputs):
            h_next, act = step(h, *inputs)
            return h_next, (h_next, act if gates else None)

        if mask is None:
            h, (hs, acts) = jax.lax.scan(lambda h, x_t: body(h, (x_t, None)), h0, x)
        else:
            h, (hs, acts) = jax.lax.scan(body, h0, (x, mask))
    y = _affine(params["linear"]["weight"], h) + _column(params["linear"]["bias"], h.ndim - 1)
    return (y, hs, acts) if gates else (y, hs)


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


def nest_params(flat: dict[str, Any]) -> Params:
    """``{"gru.weight_ih_l0": a, ...}`` (torch names) -> ``{"gru": {"weight_ih_l0": a}, ...}``;
    the leaves are not copied or converted."""
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
    return nest_params(dict(variables["params"]))


def param_count(params: Params) -> int:
    return sum(int(leaf.size) for leaf in jax.tree_util.tree_leaves(params))


# ---- parameters as one flat vector ----------------------------------------------------------
#: The params entries in the flat order (each row-major): the torch state dict's order.
LAYOUT = (("gru", "weight_ih_l0"), ("gru", "weight_hh_l0"), ("gru", "bias_ih_l0"),
          ("gru", "bias_hh_l0"), ("linear", "weight"), ("linear", "bias"))
GATES = ("r", "z", "n")
INPUTS = ("value", "flag")


def param_shapes(hidden: int, inputs: int = 2, outputs: int = 1) -> Params:
    """The shape of every params entry (see the module docstring)."""
    return {"gru": {"weight_ih_l0": (3 * hidden, inputs), "weight_hh_l0": (3 * hidden, hidden),
                    "bias_ih_l0": (3 * hidden,), "bias_hh_l0": (3 * hidden,)},
            "linear": {"weight": (outputs, hidden), "bias": (outputs,)}}


def param_names(hidden: int = 1) -> tuple[str, ...]:
    """Names of the entries of :func:`flatten_params`, in order.

    For ``H = 1``: ``W_ir[value], W_ir[flag], W_iz[value], ..., W_hr, W_hz, W_hn, b_ir, b_iz,
    b_in, b_hr, b_hz, b_hn, w_out, b_out`` (17 names). For ``H > 1`` every name gains a unit
    index (``W_iz[flag][u]``, ``W_hz[u,k]``, ``w_out[u]``).
    """
    unit = (lambda u: "") if hidden == 1 else (lambda u: f"[{u}]")
    names = [f"W_i{g}[{i}]{unit(u)}" for g in GATES for u in range(hidden) for i in INPUTS]
    if hidden == 1:
        names += [f"W_h{g}" for g in GATES]
    else:
        names += [f"W_h{g}[{u},{k}]" for g in GATES for u in range(hidden) for k in range(hidden)]
    names += [f"b_i{g}{unit(u)}" for g in GATES for u in range(hidden)]
    names += [f"b_h{g}{unit(u)}" for g in GATES for u in range(hidden)]
    names += [f"w_out{unit(u)}" for u in range(hidden)] + ["b_out"]
    return tuple(names)


def flatten_params(params):
    """Params with any leading axes ``(...)`` -> ``(..., P)`` in :data:`LAYOUT` order, named by
    :func:`param_names` (``P = 17`` for ``H = 1``). numpy in, numpy out; jax arrays (also
    traced ones) in, jax out."""
    leaves = [params[module][name] for module, name in LAYOUT]
    xp = jnp if any(isinstance(leaf, jax.Array) for leaf in leaves) else np
    lead = xp.shape(leaves[0])[:-2]
    return xp.concatenate([xp.reshape(leaf, lead + (-1,)) for leaf in leaves], axis=-1)


def unflatten_params(flat, hidden: int, inputs: int = 2, outputs: int = 1) -> Params:
    """Inverse of :func:`flatten_params`: ``(..., P)`` -> params with leading axes ``(...)``."""
    shapes = param_shapes(hidden, inputs, outputs)
    lead, out, start = flat.shape[:-1], {"gru": {}, "linear": {}}, 0
    for module, name in LAYOUT:
        shape = shapes[module][name]
        size = math.prod(shape)
        out[module][name] = flat[..., start:start + size].reshape(lead + shape)
        start += size
    return out


# ---- many models at once ------------------------------------------------------------------
def hidden_size(params) -> int:
    return int(np.shape(params["gru"]["weight_hh_l0"])[-1])


def select_model(params, *index):
    """The model at ``index`` of params with leading axes (e.g. ``(seed,)`` or
    ``(seed, snapshot)``), as numpy arrays."""
    return {m: {k: np.asarray(v)[index] for k, v in sub.items()} for m, sub in params.items()}


def model_axes(params) -> tuple:
    """The leading axes of params that hold many models (seeds, snapshots): ``()`` for one."""
    return tuple(np.shape(params["gru"]["weight_hh_l0"])[:-2])


def flatten_models(params):
    """Params with leading axes ``lead`` -> ``(params with one model axis M, lead)``, numpy
    float32."""
    lead = model_axes(params)
    count = math.prod(lead)
    flat = jax.tree_util.tree_map(
        lambda a: np.asarray(a, np.float32).reshape((count,) + np.shape(a)[len(lead):]), params)
    return flat, lead


def map_models(fn, params, *args, chunk: int = 1024):
    """``fn(one_model_params, *args)`` for every model of ``params`` (any leading axes).

    ``fn`` is vmapped over models and jitted (with ``args`` shared by all models), and run in
    chunks of ``chunk`` models so memory stays bounded. Returns numpy arrays shaped
    ``lead + fn's output shape`` (a pytree of them if ``fn`` returns one).
    """
    flat, lead = flatten_models(params)
    count = flat["gru"]["weight_hh_l0"].shape[0]
    run = _vmapped(fn, len(args))
    parts = []
    for start in range(0, count, chunk):
        part = jax.tree_util.tree_map(lambda a: a[start:start + chunk], flat)
        parts.append(jax.tree_util.tree_map(np.asarray, run(part, *args)))
    return jax.tree_util.tree_map(
        lambda *p: np.concatenate(p).reshape(lead + p[0].shape[1:]), *parts)


@functools.lru_cache(maxsize=64)
def _vmapped(fn, n_args: int):
    """``jit(vmap(fn))`` over the first argument, the other ``n_args`` shared; cached."""
    return jax.jit(jax.vmap(fn, in_axes=(0,) + (None,) * n_args))
