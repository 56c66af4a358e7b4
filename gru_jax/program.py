"""The compiled training program: the blog's protocol for ONE seed, vmapped over seeds.

``make_train(spec)`` returns ``train_chunk``, a pure function of one seed's state, data and
hyperparameters that trains ``spec.chunk_epochs`` epochs (PureJaxRL's shape: one factory,
named inner functions, nested ``lax.scan``s)::

    train_chunk                      scan over the chunk's epochs
      train_epoch                    scan over the epoch's full batches, then the remainder
        train_step                   engine.loss_and_grad -> optax update -> divergence guard
      end_of_epoch                   on eval epochs: evaluate, plateau LR step, snapshot

The :class:`ProgramSpec` is everything that is compiled, and the cache key:
:func:`compiled_chunk` is ``jit(vmap(train_chunk))`` over members, cached per spec; the host
driver (:mod:`gru_jax.train`) calls it chunk by chunk. The program never branches on the
engine: the :class:`gru_jax.engines.Engine` supplies the step's loss and gradient, the order,
the first orders and the layout the optimizer steps on.

Randomness: epoch ``e``'s order uses ``fold_in(order_key, e)`` only, so a seed's numbers
depend neither on its neighbours nor on where chunks start.

Hyperparameters: the optimizer's and the plateau schedule's constants come from each member's
:class:`gru_jax.optim.Hyper` (an argument with the member axis). The spec holds no per-member
field (its :class:`gru_jax.config.ProgramConfig` refuses to give one), so members with
different learning rates, weight decays, ... train in one program, each with the numbers it
has alone.
"""
from __future__ import annotations

import dataclasses
import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from .config import ProgramConfig
from .data import Dataset, split_lengths, valid_mask
from .engines import Engine
from .model import forward_columns
from .optim import (Hyper, PlateauState, compiled_constants, make_optimizer, plateau_init,
                    plateau_step, program_hyper)


@dataclasses.dataclass(frozen=True)
class ProgramSpec:
    """What a compiled program is built from: static, hashable, the compile-cache key.

    Attributes:
      config: the :class:`gru_jax.config.ProgramConfig` every member shares (shapes, data,
        epochs, curriculum, eval period); it has no per-member field.
      engine: the :class:`gru_jax.engines.Engine` (made for ``config``).
      chunk_epochs: epochs per call of the program.
      replay: the orders are given (``orders``), not drawn.
      shared_data: one dataset for every member (no member axis on the data).
      constants: ``((Hyper field, float32 value), ...)``: the per-member constants compiled in
        because no member varies them (:func:`gru_jax.optim.compiled_constants`: beta1/beta2).
    """

    config: ProgramConfig
    engine: Engine
    chunk_epochs: int
    replay: bool = False
    shared_data: bool = False
    constants: tuple = ()

    @classmethod
    def of(cls, configs, engine: Engine, chunk_epochs: int, replay: bool = False,
           shared_data: bool = False) -> "ProgramSpec":
        """The spec of a program whose members have these Configs (equal but for per-member
        fields; one Config for a plain ensemble)."""
        configs = list(configs)
        config = ProgramConfig(configs[0])
        if any(ProgramConfig(c) != config for c in configs[1:]):
            raise ValueError("train: the cells differ in fields that are not per-member")
        return cls(config, engine, int(chunk_epochs), bool(replay), bool(shared_data),
                   compiled_constants(configs))


class TrainState(NamedTuple):
    """Everything that evolves, for ONE seed (a leading seed axis in an ensemble).

    params: the model in the engine's packed layout (``engine.unpack`` gives the PyTorch
    layout). opt_state: optax state of :func:`gru_jax.optim.make_optimizer`, on the packed
    params. plateau: the LR schedule. order: ``(n_train,)`` int32, the last epoch's sample
    order. diverged: bool, set once a step produced a non-finite loss or parameter (then frozen).
    """

    params: Any
    opt_state: Any
    plateau: PlateauState
    order: jax.Array
    diverged: jax.Array


class ChunkLog(NamedTuple):
    """What one chunk returns besides the state (per seed; the seed axis leads).

    train_loss: ``(C,)`` per-epoch train loss (scaled units; NaN past the run's end or after
      divergence). test_loss, lr: ``(slots,)`` at the chunk's eval epochs, in order (test loss
      in original units). snapshots: params (PyTorch layout) with ``(slots, ...)`` leaves,
      taken after each eval epoch's training.
    """

    train_loss: jax.Array
    test_loss: jax.Array
    lr: jax.Array
    snapshots: Any


def eval_slots(cfg, chunk_epochs: int) -> int:
    """Most eval epochs any window of ``chunk_epochs`` consecutive epochs can hold."""
    return (chunk_epochs - 1) // cfg.eval_every + 1


def make_init(engine: Engine):
    """``init(params, first, hyper) -> TrainState`` for one seed: packed params, fresh
    optimizer and plateau state (at ``hyper``'s learning rate), and the first order ``first``
    ``(n_train,)`` (:func:`gru_jax.data.first_order` of the seed's order key)."""

    def init(params, first, hyper: Hyper):
        packed = engine.pack(params)
        return TrainState(params=packed, opt_state=make_optimizer(hyper).init(packed),
                          plateau=plateau_init(hyper), order=first, diverged=jnp.bool_(False))

    return init


def make_train(spec: ProgramSpec):
    """Build the per-seed ``train_chunk`` of ``spec`` (vmap it over members; jit the result).

    ``train_chunk(state, data, order_key, first_epoch, orders, hyper) -> (state, ChunkLog)``
    trains epochs ``first_epoch .. first_epoch + chunk_epochs - 1`` (epochs ``>= epochs`` are
    skipped) with the member's :class:`gru_jax.optim.Hyper` (less ``spec.constants``, compiled
    in). With ``spec.replay`` the orders come from ``orders`` ``(chunk_epochs, n_train)``;
    otherwise each epoch's order is ``engine.next_order`` of the last one with key
    ``fold_in(order_key, epoch)``.

    The factory is longer than 80 lines because it holds the whole program as named inner
    functions (PureJaxRL's shape), each short and each closing over the spec's config and
    engine.
    """
    cfg, engine, chunk_epochs, replay = spec.config, spec.engine, spec.chunk_epochs, spec.replay
    n_full = cfg.n_train // cfg.batch_size
    rest = cfg.n_train - n_full * cfg.batch_size
    slots = eval_slots(cfg, chunk_epochs)
    masked = cfg.variable_length
    staged = cfg.curriculum is not None
    stage_starts = jnp.asarray([start for start, _, _ in cfg.curriculum or ()], jnp.int32)
    reset_stages = staged and cfg.curriculum_schedule == "reset"

    def train_step(state: TrainState, prepared, index, optimizer):
        """One optimizer step on the samples ``index`` ``(B,)``; returns (state, batch loss)."""
        loss, grads = engine.loss_and_grad(state.params, prepared, index)
        updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        finite = jnp.isfinite(loss) & jnp.all(jnp.stack(
            [jnp.all(jnp.isfinite(p)) for p in jax.tree_util.tree_leaves(params)]))
        diverged = state.diverged | ~finite
        keep = lambda new, old: jax.tree_util.tree_map(
            lambda a, b: jnp.where(diverged, b, a), new, old)
        return state._replace(params=keep(params, state.params),
                              opt_state=keep(opt_state, state.opt_state),
                              diverged=diverged), loss

    def train_epoch(state: TrainState, prepared, order, optimizer):
        """All steps of one epoch in ``order`` ``(n_train,)``; returns (state, epoch loss).

        The epoch loss is ``sum(batch loss x batch size) / n_train`` like the seed's (NaN once
        the seed diverged).
        """
        state = state._replace(order=order)
        total = jnp.float32(0.0)
        if n_full:
            full = order[: n_full * cfg.batch_size].reshape(n_full, cfg.batch_size)
            state, losses = jax.lax.scan(
                lambda s, idx: train_step(s, prepared, idx, optimizer), state, full)
            total = jnp.sum(losses) * cfg.batch_size
        if rest:
            state, last = train_step(state, prepared, order[n_full * cfg.batch_size:], optimizer)
            total = total + last * rest
        return state, jnp.where(state.diverged, jnp.nan, total / cfg.n_train)

    def evaluate(params, data: Dataset):
        """Test MSE in ORIGINAL units: ``mean((pred * high - y)^2)`` over the test set (each
        test row masked by its own length in per-row tasks)."""
        valid = valid_mask(split_lengths(cfg, data.length)[1], cfg.max_len) if masked else None
        pred, _ = forward_columns(params, jnp.transpose(data.x_test, (1, 2, 0)), valid)
        return jnp.mean((pred * cfg.high - data.y_test.T) ** 2)

    def with_plateau(state: TrainState, plateau: PlateauState) -> TrainState:
        """``state`` with this plateau state, its LR injected into the optimizer."""
        injected = dict(state.opt_state.hyperparams)
        injected["learning_rate"] = plateau.lr
        return state._replace(plateau=plateau,
                              opt_state=state.opt_state._replace(hyperparams=injected))

    def end_of_epoch(state: TrainState, data: Dataset, is_eval, hyper: Hyper):
        """On eval epochs: test loss, plateau step and the new LR; returns (state, test loss).

        A cond on the params and plateau alone: a cond over the whole carry (order, optimizer
        state, snapshot buffers) made XLA copy it every epoch.
        """
        def do_eval(params, plateau, diverged):
            test = jnp.where(diverged, jnp.nan, evaluate(engine.unpack(params), data))
            return plateau_step(hyper, plateau, test), test

        def no_eval(params, plateau, diverged):
            return plateau, jnp.float32(jnp.nan)

        plateau, test = jax.lax.cond(is_eval, do_eval, no_eval, state.params, state.plateau,
                                     state.diverged)
        return with_plateau(state, plateau), test       # LR unchanged unless evaluated

    def reset_schedule(state: TrainState, epoch, hyper: Hyper) -> TrainState:
        """At a later curriculum stage's first epoch: the plateau schedule from its start
        (LR = the member's learning rate); Adam's moments and step count are kept."""
        new_stage = jnp.any(epoch == stage_starts[1:])
        return with_plateau(state, jax.tree_util.tree_map(
            lambda fresh, old: jnp.where(new_stage, fresh, old), plateau_init(hyper),
            state.plateau))

    def train_chunk(state: TrainState, data: Dataset, order_key, first_epoch, orders,
                    hyper: Hyper):
        order_key = jax.random.wrap_key_data(order_key)
        hyper = program_hyper(hyper, spec.constants)
        optimizer = make_optimizer(hyper)
        if staged:            # data: (stages + 1, ...): the curriculum's, then the final task's
            stages = jax.vmap(engine.prepare)(data)
            data = jax.tree_util.tree_map(lambda a: a[-1], data)
            prepared = None
        else:
            prepared = engine.prepare(data)
        log0 = ChunkLog(train_loss=None, test_loss=jnp.full((slots,), jnp.nan, jnp.float32),
                        lr=jnp.full((slots,), jnp.nan, jnp.float32),
                        snapshots=jax.tree_util.tree_map(
                            lambda p: jnp.zeros((slots,) + p.shape, p.dtype),
                            engine.unpack(state.params)))

        def one_epoch(carry, step):
            state, log, slot = carry
            epoch = first_epoch + step
            if replay:
                order = jax.lax.dynamic_index_in_dim(orders, step, 0, keepdims=False)
            else:
                order = engine.next_order(state.order, jax.random.fold_in(order_key, epoch))
            epoch_data = prepared
            if reset_stages:
                state = reset_schedule(state, epoch, hyper)
            if staged:
                stage = jnp.sum(epoch >= stage_starts) - 1
                epoch_data = jax.tree_util.tree_map(
                    lambda a: jax.lax.dynamic_index_in_dim(a, stage, 0, keepdims=False), stages)
            state, loss = train_epoch(state, epoch_data, order, optimizer)
            is_eval = (epoch % cfg.eval_every) == 0
            state, test = end_of_epoch(state, data, is_eval, hyper)

            def record(buffer, value):
                """Write ``value`` at ``slot`` on eval epochs (else rewrite what is there)."""
                old = jax.lax.dynamic_index_in_dim(buffer, slot, 0, keepdims=False)
                return jax.lax.dynamic_update_index_in_dim(
                    buffer, jnp.where(is_eval, value, old), slot, 0)

            log = log._replace(
                test_loss=record(log.test_loss, test), lr=record(log.lr, state.plateau.lr),
                snapshots=jax.tree_util.tree_map(record, log.snapshots,
                                                 engine.unpack(state.params)))
            return (state, log, slot + is_eval.astype(jnp.int32)), loss

        def maybe_epoch(carry, step):
            skip = lambda carry, step: (carry, jnp.float32(jnp.nan))
            return jax.lax.cond(first_epoch + step < cfg.epochs, one_epoch, skip, carry,
                                step)

        (state, log, _), losses = jax.lax.scan(
            maybe_epoch, (state, log0, jnp.int32(0)), jnp.arange(chunk_epochs, dtype=jnp.int32))
        return state, log._replace(train_loss=losses)

    return train_chunk


@functools.lru_cache(maxsize=16)
def compiled_chunk(spec: ProgramSpec):
    """``jit(vmap(train_chunk))`` over members, cached per :class:`ProgramSpec`, so repeated
    ``train`` calls (notebooks, tests, seed batches, other learning rates) compile once per
    spec. The result takes ``(state, data, order_keys, first_epoch, orders, hyper)``: ``hyper``
    a :class:`gru_jax.optim.Hyper` of ``(M,)`` leaves, the data without a member axis when
    ``spec.shared_data``."""
    in_axes = (0, None if spec.shared_data else 0, 0, None, 0, 0)
    return jax.jit(jax.vmap(make_train(spec), in_axes=in_axes))


@functools.lru_cache(maxsize=16)
def _compiled_init(engine: Engine):
    return jax.jit(jax.vmap(make_init(engine)))


def compiled_init(spec: ProgramSpec):
    """``(params (M, ...), order keys (M, 2), hyper (M,)) -> TrainState``: each member's first
    order (``spec.engine.first_orders``), then ``jit(vmap(init))`` over members (cached per
    engine)."""
    init, engine = _compiled_init(spec.engine), spec.engine
    return lambda params, order_keys, hyper: init(params, engine.first_orders(order_keys), hyper)
