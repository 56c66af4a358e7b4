"""The native engine: the C++ kernels of :mod:`gru_jax.native`, called through the XLA FFI.

Both calls use ``vmap_method="expand_dims"``: under ``vmap`` over seeds the kernel receives
every seed at once (one call per step, not one per seed), and an input without a seed axis
(a dataset shared by all seeds) arrives once, not broadcast. The kernels cover the adding
problem's GRU (input 2, output 1) at hidden sizes :data:`HIDDEN_SIZES` on CPUs; params travel
as one flat ``(P,)`` vector (:func:`gru_jax.model.flatten_params` order, ``P =``
:func:`n_params`), so the optimizer works on one small array per operation instead of six.
"""
from __future__ import annotations

import functools
from typing import Optional

import jax
import jax.numpy as jnp

from ..data import (Dataset, first_orders, jax_datasets_fn, order_words, split_lengths,
                    valid_mask)
from ..model import flatten_params, hidden_size, unflatten_params
from ..native import draws
from .base import Engine

#: Hidden sizes with a compiled loss kernel (``kMaxHidden`` in ``gru_jax/native/kernels.cc``).
HIDDEN_SIZES = tuple(range(1, 17))
ROW_ALIGN = 16  # floats: packed rows are whole 64-byte cache lines


def n_params(hidden: int) -> int:
    """Length of the flat params at input 2, output 1: ``3H*2 + 3H*H + 6H + H + 1``."""
    return 3 * hidden * 2 + 3 * hidden * hidden + 6 * hidden + hidden + 1


def supports(cfg) -> bool:
    """The kernels are written for input 2, output 1 and the hidden sizes :data:`HIDDEN_SIZES`."""
    return (cfg.input_size, cfg.output_size) == (2, 1) and cfg.hidden_size in HIDDEN_SIZES


def row_width(steps: int) -> int:
    """Floats per packed row at sequence length ``steps``: ``2T + 1`` rounded up to 16 (an
    even number, so float ``2T + 1`` is always free for the row's first real step)."""
    return -(-(2 * steps + 1) // ROW_ALIGN) * ROW_ALIGN


def pack_rows(x_train: jax.Array, y_train: jax.Array,
              first: Optional[jax.Array] = None) -> jax.Array:
    """One row a training sample, as the kernel reads it: ``[v_0, f_0, ..., v_{T-1}, f_{T-1},
    y, first, 0...]``, padded to a multiple of 16 floats (T = 4: one 64-byte line a sample).

    Written by the native ``gru_jax_pack_rows`` (a copy), which first asks the OS for 2 MiB
    pages over the rows: the loss kernel reads them at random, and with 4 KiB pages almost
    every row of a large ensemble costs a TLB miss (experiments/PERF_NOTES.md).

    Args:
      x_train: ``(n, T, 2)`` scaled inputs. y_train: ``(n, 1)`` scaled targets.
      first: ``(n,)`` each row's first real step ``T - length`` (per-row tasks; read by
        ``gru_jax_loss_grad_rows``); default 0.

    Returns:
      ``(n, width)`` float32, ``width =`` :func:`row_width` ``(T)``.
    """
    n, steps = x_train.shape[0], x_train.shape[1]
    first = jnp.zeros((n,), jnp.float32) if first is None else first.astype(jnp.float32)
    call = jax.ffi.ffi_call(
        "gru_jax_pack_rows", jax.ShapeDtypeStruct((1, n, row_width(steps)), jnp.float32),
        vmap_method="expand_dims")
    return call(x_train.astype(jnp.float32)[None], y_train.astype(jnp.float32)[None],
                first[None])[0]


def loss_and_grad_flat(flat: jax.Array, rows: jax.Array, index: jax.Array,
                       valid: Optional[jax.Array], steps: int, per_row: bool = False):
    """Batch MSE (scaled units) and its gradient on flat params: ``(P,)`` in,
    ``(loss, (P,) gradient)`` out; the hidden size is read from P (:func:`n_params`).

    Args:
      flat: ``(P,)`` params (:func:`gru_jax.model.flatten_params`). rows: ``(n, width)`` from
        :func:`pack_rows`. index: ``(B,)`` int32 sample indices. valid: ``(T,)`` bool real
        steps, or None (all). steps: T, the sequence length the rows hold. per_row: also skip
        each sample's steps before the ``first`` its row holds (per-row lengths).
    """
    mask = jnp.ones((steps,), jnp.float32) if valid is None else valid.astype(jnp.float32)
    call = jax.ffi.ffi_call(
        "gru_jax_loss_grad_rows" if per_row else "gru_jax_loss_grad",
        (jax.ShapeDtypeStruct((1,), jnp.float32),
         jax.ShapeDtypeStruct((1, flat.shape[-1]), jnp.float32)),
        vmap_method="expand_dims")
    loss, grad = call(flat[None], rows[None], index.astype(jnp.int32)[None], mask[None])
    return loss[0], grad[0]


def loss_and_grad(params, rows: jax.Array, index: jax.Array, valid: Optional[jax.Array],
                  steps: int, per_row: bool = False):
    """:func:`loss_and_grad_flat` on params in the PyTorch layout (any hidden size in
    :data:`HIDDEN_SIZES`): like ``jax.value_and_grad`` of the seed's loss on the samples
    ``index``; returns ``(loss, grads)`` with a params-shaped gradient."""
    loss, grad = loss_and_grad_flat(flatten_params(params), rows, index, valid, steps, per_row)
    return loss, unflatten_params(grad, hidden=hidden_size(params))


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


@functools.lru_cache(maxsize=32)
def make(cfg) -> Engine:
    """The native engine for ``cfg`` (a :class:`gru_jax.config.ProgramConfig`, which
    :func:`supports` must accept; cached per ProgramConfig), once the kernels are loaded
    (:func:`gru_jax.engines.resolve_engine`). Its setup runs on the kernels too: each seed's
    dataset (:func:`gru_jax.native.draws.datasets_fn`; jax's for the datasets the kernel does
    not draw) and first order, the same numbers as the XLA engine's bit for bit."""
    masked = cfg.variable_length        # delta > 0, a short curriculum stage, per-row lengths

    def prepare(data: Dataset):
        if cfg.per_row:                   # each row's first real step travels in its row
            first = cfg.max_len - split_lengths(cfg, data.length)[0]
            return pack_rows(data.x_train, data.y_train, first), None
        rows = pack_rows(data.x_train, data.y_train)
        return rows, (valid_mask(data.length, cfg.max_len) if masked else None)

    def step_loss_and_grad(flat, prepared, index):
        rows, valid = prepared
        return loss_and_grad_flat(flat, rows, index, valid, cfg.max_len, cfg.per_row)

    native_orders = draws.first_orders_fn(cfg.n_train)        # None: nothing to permute
    return Engine(name="native", pack=flatten_params,
                  unpack=lambda flat: unflatten_params(flat, hidden=cfg.hidden_size),
                  prepare=prepare, loss_and_grad=step_loss_and_grad, next_order=next_order,
                  datasets=draws.datasets_fn(cfg) or jax_datasets_fn(cfg, True),
                  first_orders=native_orders or (lambda keys: first_orders(keys, cfg.n_train)),
                  prepared_bytes=4 * cfg.n_train * row_width(cfg.max_len))
