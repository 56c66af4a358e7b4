"""A seed's setup by the native kernels (``setup.h``): its jax-generator dataset and its first
sample order, the numbers of :mod:`gru_jax.data`'s jax code bit for bit, faster on CPUs.

Keys are derived by jax as before (:func:`gru_jax.data.dataset_scalars`,
:func:`gru_jax.data.shuffle_keys`). The kernels do the per-element work:
- the dataset's 120,000 Threefry words, ``randint``'s arithmetic, the flags' ranks, the
  targets, and the scaling of :func:`gru_jax.data.prepare` as XLA compiles it (a
  multiplication by the float32 reciprocal of ``high``: the same numbers, tested);
- the first permutation's words and stable sorts.

Only the native engine calls them (:mod:`gru_jax.engines.native`: it exists only where the
kernels load, on CPUs); :func:`datasets_fn` returns None for the datasets the kernel does not
draw, and the engine then uses :func:`gru_jax.data.jax_datasets_fn`.
"""
from __future__ import annotations

import functools
from typing import Callable, Optional

import jax
import jax.numpy as jnp

from ..data import Dataset, dataset_scalars, shuffle_keys, shuffle_rounds
from ..data import first_orders as jax_first_orders
from ..prng import fast_key

#: Longest padded row the dataset kernel ranks (``kMaxWidth`` in ``setup.h``).
MAX_WIDTH = 64


def _dataset_inputs(cfg, key_data: jax.Array):
    """One seed's kernel inputs: ``(keys (3, 2) uint32, scalars (3,) int32)``: the key data of
    ``randint``'s two draws (``split(value_key)``) and of the flags' draw; ``[length, num_ones,
    high]``."""
    length, num_ones, value_key, flag_key = dataset_scalars(cfg, fast_key(key_data))
    keys = jnp.concatenate([jax.random.key_data(jax.random.split(value_key)),
                            jax.random.key_data(flag_key)[None]])
    return keys, jnp.stack([length, num_ones, jnp.int32(cfg.high)])


@functools.lru_cache(maxsize=16)
def datasets_fn(cfg) -> Optional[Callable]:
    """Jitted ``(S, 2)`` raw data keys -> the seeds' :class:`gru_jax.data.Dataset` ``(S, ...)``,
    equal bit for bit to ``vmap(prepare(jax_dataset_raw(fast_key(k))))``; None where the
    kernel does not apply (a curriculum, a per-row task: the kernel draws one length and flag
    count per dataset, rows longer than :data:`MAX_WIDTH`). Needs the loaded kernels."""
    if cfg.curriculum is not None or cfg.per_row_draws or cfg.max_len > MAX_WIDTH:
        return None

    def make(key_data):
        keys, scalars = jax.vmap(lambda k: _dataset_inputs(cfg, k))(key_data)
        seeds, width, n_test = key_data.shape[0], cfg.max_len, cfg.n_samples - cfg.n_train
        shape = lambda rows, *tail: jax.ShapeDtypeStruct((seeds, rows) + tail, jnp.float32)
        x_train, y_train, x_test, y_test = jax.ffi.ffi_call(
            "gru_jax_dataset", (shape(cfg.n_train, width, 2), shape(cfg.n_train, 1),
                                shape(n_test, width, 2), shape(n_test, 1)))(keys, scalars)
        return Dataset(x_train, y_train, x_test, y_test, scalars[:, 0])

    return jax.jit(make)


@functools.lru_cache(maxsize=8)
def first_orders_fn(n: int) -> Optional[Callable]:
    """Jitted ``(S, 2)`` raw order keys -> ``(S, n)`` int32 first orders
    (:func:`gru_jax.data.first_orders`' permutations): the rounds' keys by jax
    (:func:`gru_jax.data.shuffle_keys`), their words and sorts by the kernel. None where
    there is nothing to permute (n <= 1). Needs the loaded kernels."""
    if shuffle_rounds(n) == 0:
        return None

    def orders(key_data):
        keys = jax.vmap(lambda k: jnp.stack(
            [jax.random.key_data(r) for r in shuffle_keys(fast_key(k), n)]))(key_data)
        return jax.ffi.ffi_call("gru_jax_first_order",
                                jax.ShapeDtypeStruct((key_data.shape[0], n), jnp.int32))(keys)
    return jax.jit(orders)


def first_orders(order_keys, n: int) -> jax.Array:
    """:func:`gru_jax.data.first_orders` (every seed's first order, ``(S, n)`` int32), the
    same permutations, with the rounds' words and stable sorts made by the native kernel."""
    fn = first_orders_fn(n)
    return jax_first_orders(order_keys, n) if fn is None else fn(order_keys)
