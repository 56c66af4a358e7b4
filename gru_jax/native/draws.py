"""A seed's setup by the native kernels (``setup.h``): its jax-generator dataset and its first
sample order, the numbers of :mod:`gru_jax.data`'s jax code bit for bit, ~5x faster on CPUs.

Keys are derived by jax as before (:func:`gru_jax.data.dataset_scalars`,
:func:`gru_jax.data.first_orders`' words); the kernels do the per-element work: the dataset's
120,000 Threefry words, ``randint``'s arithmetic, the flags' ranks and the targets, and the
permutation's stable sorts. Scaling (:func:`gru_jax.data.prepare`) stays in XLA, where its
division has always been made. Where the kernels do not load (no compiler, another backend,
``GRU_JAX_NATIVE=0``), :func:`datasets_fn` returns None and :func:`first_orders` is
:func:`gru_jax.data.first_orders`.
"""
from __future__ import annotations

import functools
from typing import Callable, Optional

import jax
import jax.numpy as jnp

from ..data import dataset_scalars, prepare, shuffle_rounds, shuffle_words
from ..data import first_orders as jax_first_orders
from ..prng import fast_key
from .build import load

#: Longest padded row the dataset kernel ranks (``kMaxWidth`` in ``setup.h``).
MAX_WIDTH = 64


def available() -> bool:
    """The native setup kernels run here: a CPU backend and a loaded kernel library."""
    return jax.default_backend() == "cpu" and load() is not None


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
    kernels do not apply (not :func:`available`, a curriculum, rows longer than
    :data:`MAX_WIDTH`)."""
    if cfg.curriculum is not None or cfg.max_len > MAX_WIDTH or not available():
        return None

    def make(key_data):
        keys, scalars = jax.vmap(lambda k: _dataset_inputs(cfg, k))(key_data)
        seeds = key_data.shape[0]
        x, y = jax.ffi.ffi_call(
            "gru_jax_dataset_raw",
            (jax.ShapeDtypeStruct((seeds, cfg.n_samples, cfg.max_len, 2), jnp.float32),
             jax.ShapeDtypeStruct((seeds, cfg.n_samples, 1), jnp.float32)))(keys, scalars)
        return jax.vmap(lambda a, b, n: prepare(cfg, a, b, n))(x, y, scalars[:, 0])

    return jax.jit(make)


@functools.lru_cache(maxsize=8)
def _sort_fn(n: int):
    def sort(words):
        return jax.ffi.ffi_call("gru_jax_first_order",
                                jax.ShapeDtypeStruct((words.shape[0], n), jnp.int32))(words)
    return jax.jit(sort)


def first_orders(order_keys, n: int) -> jax.Array:
    """:func:`gru_jax.data.first_orders` (every seed's first order, ``(S, n)`` int32), the
    same permutations, with the rounds' stable sorts done by the native kernel."""
    if not available() or shuffle_rounds(n) == 0:
        return jax_first_orders(order_keys, n)
    return _sort_fn(n)(shuffle_words(n)(order_keys))
