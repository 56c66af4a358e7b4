"""The XLA engine: the model's loss differentiated by ``jax.value_and_grad``.

Runs on every backend and at every model size, and runs no native code (its datasets and first
orders are jax's and numpy's too); on CPUs the native engine is faster where it applies
(:mod:`gru_jax.engines.native`).
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from ..data import (Dataset, first_orders, jax_datasets_fn, next_order, split_lengths,
                    valid_mask)
from ..model import forward_columns
from .base import Engine


def batch_loss(params, x, y, valid):
    """MSE over a batch, scaled units. x ``(T, 2, B)`` scaled inputs, y ``(1, B)`` scaled targets,
    valid ``(T,)`` or (per-row lengths) ``(T, B)`` bool, or None."""
    pred, _ = forward_columns(params, x, valid)
    return jnp.mean((pred - y) ** 2)


@functools.lru_cache(maxsize=32)
def make(cfg) -> Engine:
    """The XLA engine for ``cfg`` (a :class:`gru_jax.config.ProgramConfig`; cached: the same
    one gives the same Engine object, so compiled programs keyed on it are reused)."""
    masked = cfg.variable_length

    def prepare(data: Dataset):
        """Training arrays and what masks them: the ``(T,)`` valid mask, the training rows'
        lengths ``(n_train,)`` (per-row tasks) or None."""
        if cfg.per_row:
            return data.x_train, data.y_train, split_lengths(cfg, data.length)[0]
        return data.x_train, data.y_train, (valid_mask(data.length, cfg.max_len) if masked
                                            else None)

    def loss_and_grad(params, prepared, index):
        x_train, y_train, valid = prepared
        x = jnp.transpose(x_train[index], (1, 2, 0))        # (T, 2, B): batch last
        y = y_train[index].T                                  # (1, B)
        if cfg.per_row:                                       # (T, B): each row's own steps
            valid = valid_mask(valid[index], cfg.max_len)
        return jax.value_and_grad(batch_loss)(params, x, y, valid)

    identity = lambda tree: tree
    return Engine(name="xla", pack=identity, unpack=identity, prepare=prepare,
                  loss_and_grad=loss_and_grad, next_order=next_order,
                  datasets=jax_datasets_fn(cfg, True),
                  first_orders=lambda keys: first_orders(keys, cfg.n_train), prepared_bytes=0)
