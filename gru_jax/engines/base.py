"""The engine type: how a run's setup (datasets, first orders), one optimizer step's loss and
gradient, and one epoch's order are made, and what memory that takes.

Following optax's pattern, an :class:`Engine` is a NamedTuple of pure functions; the training
program (:mod:`gru_jax.program`) and its driver (:mod:`gru_jax.train`, :mod:`gru_jax.inputs`)
call them and never ask which engine they hold, which backend they run on, or whether native
code is loaded. Each engine is a value of this type built by a factory in its own module:
:func:`gru_jax.engines.xla.make` (no native code at all) and :func:`gru_jax.engines.native.make`.
"""
from __future__ import annotations

from typing import Any, Callable, NamedTuple


class Engine(NamedTuple):
    """What an engine supplies: per-seed functions for the program (``vmap`` adds the seed
    axis), ensemble functions for the setup, and its memory per seed.

    Attributes:
      name: ``"xla"`` or ``"native"``; recorded in every Run.
      pack: params (PyTorch layout, :mod:`gru_jax.model`) -> the layout the optimizer steps on
        (XLA: the params unchanged; native: one flat ``(P,)`` vector, the kernel's own layout).
        The optimizer state is built on the packed params, so it has the same layout.
      unpack: the inverse of ``pack``.
      prepare: a :class:`gru_jax.data.Dataset` -> what ``loss_and_grad`` reads (XLA: the
        training arrays and the valid-step mask; native: the training set packed one row a
        sample). Called once per compiled chunk.
      loss_and_grad: ``(packed params, prepared, index (B,) int32) -> (loss, gradient)``: the
        batch MSE in scaled units over the samples ``index`` and its gradient, shaped like the
        packed params.
      next_order: ``(previous (n_train,) int32, key) -> (n_train,) int32``: the next epoch's
        sample order (:func:`gru_jax.data.next_order`; every engine gives the same permutation
        bit for bit).
      datasets: ``(S, 2)`` raw data keys -> the seeds' jax-generator :class:`gru_jax.data.
        Dataset` ``(S, ...)`` (jitted; every engine gives the same numbers bit for bit).
      first_orders: ``(S, 2)`` raw order keys -> ``(S, n_train)`` int32, each seed's first
        sample order (:func:`gru_jax.data.first_orders`; the same permutations bit for bit).
      prepared_bytes: bytes a seed's ``prepare`` adds beside its dataset (the native engine's
        packed rows; the memory estimate, :func:`gru_jax.train.bytes_per_seed`).
    """

    name: str
    pack: Callable[[Any], Any]
    unpack: Callable[[Any], Any]
    prepare: Callable[[Any], Any]
    loss_and_grad: Callable[[Any, Any, Any], tuple]
    next_order: Callable[[Any, Any], Any]
    datasets: Callable[[Any], Any]
    first_orders: Callable[[Any], Any]
    prepared_bytes: int
