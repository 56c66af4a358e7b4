"""jax's default PRNG (threefry2x32), the same bits, generated faster on XLA:CPU.

jax lowers threefry2x32 on CPUs as a ``fori_loop`` of five 4-round blocks (to save compile
time): each block is a pass over the whole count array, so drawing a dataset's 120,000 words is
memory-bound (~60 ns a word measured on this project's loaded 2-core machine). The same hash
with its 20 rounds unrolled fuses into one loop that keeps the words in registers (~13 ns a
word, same machine and load). :data:`FAST_THREEFRY` is a PRNG implementation whose keys hold
the same ``(2,)`` uint32 data as ``jax.random.key``'s and whose ``random_bits`` is that unrolled
hash, written as jax's partitionable ``threefry_random_bits`` (jax's default since 0.5): seeding,
``split`` and ``fold_in`` are jax's own. Every ``jax.random`` function therefore returns the
same numbers for ``fast_key(key_data(k))`` as for ``k`` (tested bit for bit in
``tests/test_prng.py``); setup (:mod:`gru_jax.inputs`) draws its datasets, initial params and
first orders through it.
"""
from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
from jax.extend.random import define_prng_impl, threefry_prng_impl

_ROTATIONS = ((13, 15, 26, 6), (17, 29, 16, 24))
_PARITY = np.uint32(0x1BD11BDA)


def _rotate_left(x: jax.Array, distance: int) -> jax.Array:
    return (x << np.uint32(distance)) | (x >> np.uint32(32 - distance))


def threefry2x32(key: jax.Array, high: jax.Array, low: jax.Array):
    """The Threefry-2x32 block cipher (Salmon et al. 2011, 20 rounds), unrolled.

    Args:
      key: ``(2,)`` uint32 key data.
      high, low: uint32 count words, any (equal) shape.

    Returns:
      the two uint32 output words, each shaped like ``high``.
    """
    schedule = (key[0], key[1], key[0] ^ key[1] ^ _PARITY)
    x0, x1 = high + schedule[0], low + schedule[1]
    for block in range(5):
        for distance in _ROTATIONS[block % 2]:
            x0 = x0 + x1
            x1 = x0 ^ _rotate_left(x1, distance)
        x0 = x0 + schedule[(block + 1) % 3]
        x1 = x1 + schedule[(block + 2) % 3] + np.uint32(block + 1)
    return x0, x1


def _random_bits(key: jax.Array, bit_width: int, shape) -> jax.Array:
    """jax's partitionable threefry random bits: element ``i`` (row-major) hashes the count
    ``(0, i)``; 32 bits are the xor of the two output words."""
    size = math.prod(shape)
    if size >= 2**32:
        raise ValueError(f"prng: {size} random words in one draw; at most 2**32 - 1")
    low = jax.lax.iota(np.uint32, size).reshape(shape)
    hi_word, lo_word = threefry2x32(key, jnp.zeros_like(low), low)
    if bit_width == 64:
        return (hi_word.astype(np.uint64) << np.uint64(32)) | lo_word.astype(np.uint64)
    dtype = {8: np.uint8, 16: np.uint16, 32: np.uint32}[bit_width]
    return (hi_word ^ lo_word).astype(dtype)


FAST_THREEFRY = define_prng_impl(
    key_shape=(2,), seed=threefry_prng_impl.seed, split=threefry_prng_impl.split,
    random_bits=_random_bits, fold_in=threefry_prng_impl.fold_in,
    name="threefry2x32_unrolled", tag="fry_unrolled")


def fast_key(key_data: jax.Array) -> jax.Array:
    """A key of :data:`FAST_THREEFRY` holding ``key_data`` (``(..., 2)`` uint32, e.g. from
    ``jax.random.key_data(jax.random.key(s))``): same numbers as the default key, faster.

    Falls back to the default implementation when jax's ``jax_threefry_partitionable`` is off
    (its bits are then laid out differently)."""
    if not jax.config.jax_threefry_partitionable:
        return jax.random.wrap_key_data(key_data)
    return jax.random.wrap_key_data(key_data, impl=FAST_THREEFRY)
