"""JAX entry points to the native CPU kernels, written per seed (``vmap`` adds the seed axis).

Both calls use ``vmap_method="expand_dims"``: under ``vmap`` over seeds the kernel receives
every seed at once (one call per step, not one per seed), and an input without a seed axis
(a dataset shared by all seeds) arrives once, not broadcast.
"""
from __future__ import annotations

import math
from typing import Optional

import jax
import jax.numpy as jnp

from ..data import order_words

N_PARAMS = 17  # hidden 1, input 2, output 1


def supports(cfg) -> bool:
    """The kernel is written for the blog's shapes: hidden 1, input 2, output 1."""
    return (cfg.hidden_size, cfg.input_size, cfg.output_size) == (1, 2, 1)


# The state_dict entries in the kernel's flat order (each row-major).
LAYOUT = (("gru", "weight_ih_l0"), ("gru", "weight_hh_l0"), ("gru", "bias_ih_l0"),
          ("gru", "bias_hh_l0"), ("linear", "weight"), ("linear", "bias"))


def flatten_params(params) -> jax.Array:
    """Params (PyTorch layout, hidden 1) -> ``(17,)``: the ``LAYOUT`` entries, row-major."""
    return jnp.concatenate([jnp.reshape(params[module][name], (-1,))
                            for module, name in LAYOUT])


def unflatten_params(flat: jax.Array, like):
    """``(17,)`` -> a params dict with the shapes of ``like``."""
    out, start = {"gru": {}, "linear": {}}, 0
    for module, name in LAYOUT:
        shape = like[module][name].shape
        size = math.prod(shape)
        out[module][name] = flat[start:start + size].reshape(shape)
        start += size
    return out


ROW_ALIGN = 16  # floats: packed rows are whole 64-byte cache lines


def pack_rows(x_train: jax.Array, y_train: jax.Array) -> jax.Array:
    """One row a training sample, as the kernel reads it: ``[v_0, f_0, ..., v_{T-1}, f_{T-1},
    y, 0...]``, padded to a multiple of 16 floats (T = 4: one 64-byte line a sample).

    Args:
      x_train: ``(n, T, 2)`` scaled inputs. y_train: ``(n, 1)`` scaled targets.

    Returns:
      ``(n, width)`` float32, ``width = 16 * ceil((2T + 1) / 16)``.
    """
    n, steps = x_train.shape[0], x_train.shape[1]
    used = 2 * steps + 1
    width = -(-used // ROW_ALIGN) * ROW_ALIGN
    return jnp.concatenate([jnp.reshape(x_train, (n, 2 * steps)), jnp.reshape(y_train, (n, 1)),
                            jnp.zeros((n, width - used), jnp.float32)], axis=1)


def loss_and_grad_flat(flat: jax.Array, rows: jax.Array, index: jax.Array,
                       valid: Optional[jax.Array], steps: int):
    """:func:`loss_and_grad` on flat parameters: ``(17,)`` in, ``(loss, (17,) gradient)`` out."""
    mask = jnp.ones((steps,), jnp.float32) if valid is None else valid.astype(jnp.float32)
    call = jax.ffi.ffi_call(
        "gru_jax_loss_grad",
        (jax.ShapeDtypeStruct((1,), jnp.float32), jax.ShapeDtypeStruct((1, N_PARAMS), jnp.float32)),
        vmap_method="expand_dims")
    loss, grad = call(flat[None], rows[None], index.astype(jnp.int32)[None], mask[None])
    return loss[0], grad[0]


def loss_and_grad(params, rows: jax.Array, index: jax.Array, valid: Optional[jax.Array],
                  steps: int):
    """Batch MSE (scaled units) and its gradient w.r.t. ``params``, like
    ``jax.value_and_grad`` of the seed's loss on the samples ``index``.

    Args:
      params: one model, hidden size 1 (PyTorch layout).
      rows: ``(n, width)`` from :func:`pack_rows`.
      index: ``(B,)`` int32 sample indices. valid: ``(T,)`` bool real steps, or None (all).
      steps: T, the sequence length the rows hold.

    Returns:
      ``(loss, grads)``: scalar float32 and a params-shaped gradient.
    """
    loss, grad = loss_and_grad_flat(flatten_params(params), rows, index, valid, steps)
    return loss, unflatten_params(grad, params)


def _is_params(tree) -> bool:
    return isinstance(tree, dict) and set(tree) == {"gru", "linear"}


def flatten_state(tree):
    """Every params-shaped subtree of ``tree`` (the params, Adam's moments) as ``(17,)``."""
    return jax.tree_util.tree_map(lambda t: flatten_params(t) if _is_params(t) else t, tree,
                                  is_leaf=_is_params)


def unflatten_state(flat_tree, like):
    """Inverse of :func:`flatten_state`, shaped like ``like``."""
    return jax.tree_util.tree_map(lambda t, f: unflatten_params(f, t) if _is_params(t) else f,
                                  like, flat_tree, is_leaf=_is_params)


def next_order(previous: jax.Array, key: jax.Array) -> jax.Array:
    """:func:`gru_jax.data.next_order`, the same permutation bit for bit, by a radix sort.

    Args:
      previous: ``(n,)`` int32 permutation. key: PRNG key for this epoch.

    Returns:
      ``(n,)`` int32 permutation.
    """
    call = jax.ffi.ffi_call("gru_jax_next_order",
                            jax.ShapeDtypeStruct((1,) + previous.shape, jnp.int32),
                            vmap_method="expand_dims")
    return call(previous.astype(jnp.int32)[None], order_words(key)[None])[0]
