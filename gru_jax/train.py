"""The ensemble trainer: the seed's whole protocol for S seeds as one jitted program.

``make_train_chunk(cfg, ...)`` builds ``chunk(state, data, streams, first_epoch, orders)``:
``vmap`` over seeds of a ``lax.scan`` over epochs, each a ``lax.scan`` over the full batches
plus one step for the remainder batch (8000 = 31 x 256 + 64 by default). ``train`` drives it
chunk by chunk on the host: progress bar, checkpoint after each chunk, resume.

Engines (:func:`resolve_engine`): a step's loss and gradient and the epoch shuffle come from
JAX (``"xla"``: ``jax.value_and_grad`` of :mod:`gru_jax.model`, the sort of
:func:`gru_jax.data.next_order`) or from the native CPU kernels (``"native"``:
:mod:`gru_jax.native`, hidden size 1); everything else (vmap, scans, optax, the plateau
schedule, snapshots) is the same program.

Randomness: seed ``s`` has key ``jax.random.key(s)`` split into named streams
``init_key, data_key, order_key``; ``Config.{init,data,order}_seed`` replaces a stream by the one
of that fixed seed for every member. Epoch ``e``'s order uses ``fold_in(order_key, e)`` only,
so a seed's numbers depend neither on its neighbours nor on where chunks start.
"""
from __future__ import annotations

import dataclasses
import functools
import math
import os
import time
import warnings
from typing import Any, Callable, NamedTuple, Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax

from . import checkpoint as ckpt
from .data import (Dataset, jax_dataset_raw, next_order, prepare, seed_dataset, valid_mask)
from .interop import from_state_dict
from .model import forward_columns, init_params
from . import native
from .native import ops as native_ops
from .optim import PlateauState, make_optimizer, plateau_init, plateau_step
from .progress import progress_bar
from .run import Run


class TrainState(NamedTuple):
    """Everything that evolves, for ONE seed (a leading seed axis in an ensemble).

    params: the model (PyTorch layout). opt_state: optax state of :func:`make_optimizer`.
    plateau: the LR schedule. order: ``(n_train,)`` int32, the last epoch's sample order.
    diverged: bool, set once a step produced a non-finite loss or parameter (then frozen).
    """

    params: Any
    opt_state: Any
    plateau: PlateauState
    order: jax.Array
    diverged: jax.Array


class Streams(NamedTuple):
    """Per-seed PRNG keys (raw uint32 key data, ``(2,)`` each)."""

    init: jax.Array
    data: jax.Array
    order: jax.Array


class ChunkLog(NamedTuple):
    """What one chunk returns besides the state (per seed; the seed axis leads).

    train_loss: ``(C,)`` per-epoch train loss (scaled units; NaN past the run's end or after
      divergence). test_loss, lr: ``(slots,)`` at the chunk's eval epochs, in order.
    snapshots: params with ``(slots, ...)`` leaves, taken after each eval epoch's training.
    """

    train_loss: jax.Array
    test_loss: jax.Array
    lr: jax.Array
    snapshots: Any


def seed_streams(cfg, seeds: Sequence[int]) -> Streams:
    """Named keys for every seed, honouring the Config's fixed-stream seeds. ``(S, 2)`` each.

    Seed ``s``: ``init_key, data_key, order_key = jax.random.split(jax.random.key(s), 3)``;
    a fixed ``Config.<stream>_seed`` replaces that stream by the one of the fixed seed.
    """

    @jax.jit
    def streams_of(seed_values):
        keys = jax.vmap(lambda s: jax.random.split(jax.random.key(s), 3))(seed_values)
        return jax.random.key_data(keys)                       # (S, 3, 2)

    own = streams_of(jnp.asarray(np.asarray(seeds, np.uint32)))
    columns = []
    for index, fixed in enumerate((cfg.init_seed, cfg.data_seed, cfg.order_seed)):
        column = own[:, index]
        if fixed is not None:
            column = jnp.broadcast_to(streams_of(jnp.asarray([fixed], jnp.uint32))[0, index],
                                      column.shape)
        columns.append(column)
    return Streams(*columns)


def _wrap(key_data):
    return jax.random.wrap_key_data(key_data)


# ---- the per-seed program --------------------------------------------------------------------
def make_epoch_fns(cfg, use_native: bool = False):
    """Pure per-seed functions: ``train_epoch`` and ``evaluate`` (see their docstrings).

    With ``use_native`` a step's loss and gradient come from the native CPU kernel
    (:mod:`gru_jax.native`, hidden size 1 only) instead of ``jax.value_and_grad`` of the model;
    ``train_epoch`` then needs the packed ``rows`` of :func:`gru_jax.native.pack_rows`.
    """
    optimizer = make_optimizer(cfg)
    sizes = cfg.batch_sizes
    n_full = sum(1 for s in sizes if s == cfg.batch_size)
    rest = cfg.n_train - n_full * cfg.batch_size
    masked = cfg.delta > 0

    def mask_of(data: Dataset):
        return valid_mask(data.length, cfg.max_len) if masked else None

    def batch_loss(params, x, y, valid):
        """MSE mean over the batch, scaled units. x ``(T, 2, B)``, y ``(1, B)``."""
        pred, _ = forward_columns(params, x, valid)
        return jnp.mean((pred - y) ** 2)

    def loss_and_grad(params, data: Dataset, index: jax.Array, rows):
        """Batch loss and gradient on the samples ``index`` ``(B,)`` (native: flat params)."""
        if use_native:
            return native_ops.loss_and_grad_flat(params, rows, index, mask_of(data), cfg.max_len)
        x = jnp.transpose(data.x_train[index], (1, 2, 0))        # (T, 2, B)
        y = data.y_train[index].T                                  # (1, B)
        return jax.value_and_grad(batch_loss)(params, x, y, mask_of(data))

    def train_step(state: TrainState, data: Dataset, index: jax.Array, rows=None):
        """One optimizer step on the samples ``index`` ``(B,)``; returns (state, batch loss)."""
        loss, grads = loss_and_grad(state.params, data, index, rows)
        updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        finite = jnp.isfinite(loss) & jnp.all(jnp.stack(
            [jnp.all(jnp.isfinite(p)) for p in jax.tree_util.tree_leaves(params)]))
        diverged = state.diverged | ~finite
        keep = lambda new, old: jax.tree_util.tree_map(
            lambda a, b: jnp.where(diverged, b, a), new, old)
        state = state._replace(params=keep(params, state.params),
                               opt_state=keep(opt_state, state.opt_state), diverged=diverged)
        return state, loss

    def train_epoch(state: TrainState, data: Dataset, order: jax.Array, rows=None):
        """All steps of one epoch in ``order`` ``(n_train,)``; returns (state, epoch train loss).

        The epoch loss is ``sum(batch loss x batch size) / n_train`` like the seed's. ``rows``:
        the packed training set, for the native kernel only.
        """
        state = state._replace(order=order)
        if use_native:
            # The steps run on flat (17,) params and moments: the kernel's own layout, and one
            # small array per optimizer operation instead of six.
            like = state
            state = state._replace(params=native_ops.flatten_state(state.params),
                                   opt_state=native_ops.flatten_state(state.opt_state))
        full = order[: n_full * cfg.batch_size].reshape(n_full, cfg.batch_size)
        total = jnp.float32(0.0)
        if n_full:
            state, losses = jax.lax.scan(lambda s, idx: train_step(s, data, idx, rows), state,
                                         full)
            total = jnp.sum(losses) * cfg.batch_size
        if rest:
            state, last = train_step(state, data, order[n_full * cfg.batch_size:], rows)
            total = total + last * rest
        loss = total / cfg.n_train
        if use_native:
            state = state._replace(
                params=native_ops.unflatten_state(state.params, like.params),
                opt_state=native_ops.unflatten_state(state.opt_state, like.opt_state))
        return state, jnp.where(state.diverged, jnp.nan, loss)

    def evaluate(params, data: Dataset):
        """Test MSE in ORIGINAL units: ``mean((pred * high - y)^2)`` over the test set."""
        pred, _ = forward_columns(params, jnp.transpose(data.x_test, (1, 2, 0)), mask_of(data))
        return jnp.mean((pred * cfg.high - data.y_test.T) ** 2)

    return optimizer, train_epoch, evaluate


def eval_slots(cfg, chunk_epochs: int) -> int:
    """Most eval epochs any window of ``chunk_epochs`` consecutive epochs can hold."""
    return (chunk_epochs - 1) // cfg.eval_every + 1


def make_train_chunk(cfg, chunk_epochs: int, replay: bool, use_native: bool = False):
    """Build the per-seed chunk function (vmap it over seeds; jit the result).

    ``chunk(state, data, order_key, first_epoch, orders) -> (state, ChunkLog)`` trains epochs
    ``first_epoch .. first_epoch + chunk_epochs - 1`` (epochs ``>= cfg.epochs`` are skipped).
    With ``replay`` the orders come from ``orders`` ``(chunk_epochs, n_train)``; otherwise
    each epoch's order is :func:`next_order` of the last one with key
    ``fold_in(order_key, epoch)``. ``use_native``: steps and shuffles by the native CPU kernels
    (same orders bit for bit, same losses and gradients to float32 rounding).
    """
    _, train_epoch, evaluate = make_epoch_fns(cfg, use_native)
    shuffle = native_ops.next_order if use_native else next_order
    slots = eval_slots(cfg, chunk_epochs)

    def chunk(state: TrainState, data: Dataset, order_key, first_epoch, orders):
        order_key = _wrap(order_key)
        rows = native_ops.pack_rows(data.x_train, data.y_train) if use_native else None
        empty_snaps = jax.tree_util.tree_map(
            lambda p: jnp.zeros((slots,) + p.shape, p.dtype), state.params)
        carry0 = (state, empty_snaps, jnp.full((slots,), jnp.nan, jnp.float32),
                  jnp.full((slots,), jnp.nan, jnp.float32), jnp.int32(0))

        def one_epoch(carry, step):
            state, snaps, tests, lrs, slot = carry
            epoch = first_epoch + step

            def run(carry):
                state, snaps, tests, lrs, slot = carry
                if replay:
                    order = jax.lax.dynamic_index_in_dim(orders, step, 0, keepdims=False)
                else:
                    order = shuffle(state.order, jax.random.fold_in(order_key, epoch))
                state, loss = train_epoch(state, data, order, rows)

                # The evaluation is a cond on the params alone: a cond over the whole carry
                # (order, optimizer state, snapshot buffers) made XLA copy it every epoch.
                is_eval = (epoch % cfg.eval_every) == 0

                def do_eval(params, plateau, diverged):
                    test = jnp.where(diverged, jnp.nan, evaluate(params, data))
                    return plateau_step(cfg, plateau, test), test

                def no_eval(params, plateau, diverged):
                    return plateau, jnp.float32(jnp.nan)

                plateau, test = jax.lax.cond(is_eval, do_eval, no_eval, state.params,
                                             state.plateau, state.diverged)
                hyper = dict(state.opt_state.hyperparams)
                hyper["learning_rate"] = plateau.lr          # unchanged unless evaluated
                state = state._replace(
                    plateau=plateau, opt_state=state.opt_state._replace(hyperparams=hyper))

                def record(buffer, value):
                    """Write ``value`` at ``slot`` on eval epochs (else rewrite what is there)."""
                    old = jax.lax.dynamic_index_in_dim(buffer, slot, 0, keepdims=False)
                    return jax.lax.dynamic_update_index_in_dim(
                        buffer, jnp.where(is_eval, value, old), slot, 0)

                snaps = jax.tree_util.tree_map(record, snaps, state.params)
                carry = (state, snaps, record(tests, test), record(lrs, plateau.lr),
                         slot + is_eval.astype(jnp.int32))
                return carry, loss

            def skip(carry):
                return carry, jnp.float32(jnp.nan)

            return jax.lax.cond(epoch < cfg.epochs, run, skip, carry)

        (state, snaps, tests, lrs, _), losses = jax.lax.scan(
            one_epoch, carry0, jnp.arange(chunk_epochs, dtype=jnp.int32))
        return state, ChunkLog(losses, tests, lrs, snaps)

    return chunk


@functools.lru_cache(maxsize=16)
def compiled_chunk(cfg, chunk_epochs: int, replay: bool, shared_data: bool,
                   use_native: bool = False):
    """``jit(vmap(chunk))`` over seeds, cached per (Config, chunk length, replay, shared data,
    engine) so that repeated ``train`` calls (notebooks, tests, seed batches) compile once per
    shape."""
    chunk = make_train_chunk(cfg, chunk_epochs, replay, use_native)
    return jax.jit(jax.vmap(chunk, in_axes=(0, None if shared_data else 0, 0, None, 0)))


# ---- host side -------------------------------------------------------------------------------
def _check_seeds(seeds) -> list[int]:
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise ValueError("train: seeds is empty; give at least one seed")
    bad = [s for s in seeds if not 0 <= s < 2**32]
    if bad:
        raise ValueError(f"train: seeds must be ints in [0, 2**32), got {bad[:5]}")
    if len(set(seeds)) != len(seeds):
        raise ValueError("train: seeds contain duplicates")
    return seeds


def _initial_params(cfg, n_seeds: int, streams: Streams, init):
    if init is None:
        return jax.vmap(lambda k: init_params(cfg, _wrap(k)))(streams.init)
    params = from_state_dict(init) if "gru.weight_ih_l0" in init else from_state_dict(
        {f"{m}.{k}": v for m, sub in init.items() for k, v in sub.items()})
    expected = (3 * cfg.hidden_size, cfg.input_size)
    w_ih = params["gru"]["weight_ih_l0"]
    if w_ih.shape[-2:] != expected:
        raise ValueError(f"train: init gru.weight_ih_l0 has shape {w_ih.shape}, the Config "
                         f"needs (..., {expected[0]}, {expected[1]})")
    if w_ih.ndim == 2:
        params = jax.tree_util.tree_map(lambda a: np.broadcast_to(a, (n_seeds,) + a.shape), params)
    elif w_ih.shape[0] != n_seeds:
        raise ValueError(f"train: init has a leading axis of {w_ih.shape[0]}, but there are "
                         f"{n_seeds} seeds")
    return jax.tree_util.tree_map(jnp.asarray, params)


def _datasets(cfg, seeds, streams: Streams, data):
    """Returns (Dataset, shared) where shared means no seed axis (one dataset for all)."""
    if data is not None:
        if not (isinstance(data, (tuple, list)) and len(data) == 2):
            raise ValueError("train: data must be a pair (X, Y) of raw arrays (N, L, 2), (N, 1)")
        x, y = (np.asarray(a) for a in data)
        if x.ndim == 4:
            if x.shape[0] != len(seeds) or y.shape[0] != len(seeds):
                raise ValueError(f"train: per-seed data has leading axis {x.shape[0]}, "
                                 f"but there are {len(seeds)} seeds")
            return jax.vmap(lambda a, b: prepare(cfg, a, b))(x, y), False
        return prepare(cfg, x, y), True
    if cfg.data_generator == "numpy":
        if cfg.data_seed is not None:
            return prepare(cfg, *seed_dataset(cfg, cfg.data_seed)), True
        prepared = [prepare(cfg, *seed_dataset(cfg, s)) for s in seeds]
        return jax.tree_util.tree_map(lambda *a: jnp.stack(a), *prepared), False
    if cfg.data_seed is not None:
        return _dataset_fn(cfg, False)(streams.data[0]), True
    return _dataset_fn(cfg, True)(streams.data), False


@functools.lru_cache(maxsize=16)
def _dataset_fn(cfg, per_seed: bool):
    """Jitted jax-generator dataset maker (cached per Config, so repeated calls reuse it)."""
    make = lambda k: prepare(cfg, *jax_dataset_raw(cfg, _wrap(k)))
    return jax.jit(jax.vmap(make) if per_seed else make)


def _check_orders(cfg, orders, n_seeds):
    orders = np.asarray(orders)
    expected = (n_seeds, cfg.epochs, cfg.n_train)
    if orders.shape != expected:
        raise ValueError(f"train: orders must have shape (seeds, epochs, n_train) = {expected}, "
                         f"got {orders.shape}")
    if not np.issubdtype(orders.dtype, np.integer):
        raise ValueError(f"train: orders must be integers, got dtype {orders.dtype}")
    if orders.min() < 0 or orders.max() >= cfg.n_train:
        raise ValueError(f"train: orders hold indices outside [0, {cfg.n_train})")
    return orders.astype(np.int32)


def _complete(out: str) -> bool:
    import json
    path = os.path.join(out, "run.json")
    if not os.path.exists(path):
        return False
    with open(path) as handle:
        return bool(json.load(handle).get("complete"))


def default_chunk_epochs(cfg) -> int:
    """About 20 chunks a run, a whole number of eval periods, at most ``epochs``."""
    periods = max(1, math.ceil(cfg.epochs / 20 / cfg.eval_every))
    return min(cfg.epochs, periods * cfg.eval_every)


def initial_state(cfg, params, streams: Streams) -> TrainState:
    return _initial_state_fn(cfg)(params, streams.order)


@functools.lru_cache(maxsize=16)
def _initial_state_fn(cfg):
    optimizer = make_optimizer(cfg)

    def one(p, order_key):
        first = jax.random.permutation(jax.random.fold_in(_wrap(order_key), -1 % 2**31),
                                       cfg.n_train).astype(jnp.int32)
        return TrainState(params=p, opt_state=optimizer.init(p), plateau=plateau_init(cfg),
                          order=first, diverged=jnp.bool_(False))

    return jax.jit(jax.vmap(one))


def bytes_per_seed(cfg, shared_data: bool = False) -> int:
    """Estimated device memory one seed needs while training (data, order, state, activations,
    and the native engine's packed rows: 64 bytes a training sample for the blog's length)."""
    data = 0 if shared_data else 4 * cfg.n_samples * (2 * cfg.max_len + 1)
    rows = 0 if shared_data else 4 * cfg.n_train * 16 * -(-(2 * cfg.max_len + 1) // 16)
    order = 4 * 4 * cfg.n_train                       # order, sort keys and their temporaries
    activations = 4 * cfg.batch_size * cfg.max_len * 64 * max(1, cfg.hidden_size)
    return data + rows + order + activations + 64 * 1024


CPU_SEED_BATCH = 256
ENGINES = ("auto", "xla", "native")


def resolve_engine(cfg, engine: str = "auto", mesh=None) -> str:
    """Which implementation trains: ``"native"`` (the CPU kernels of :mod:`gru_jax.native`)
    or ``"xla"`` (the model differentiated by JAX; every backend, every model size).

    ``"auto"`` picks native when every device is a CPU, the model is the blog's shape (hidden
    1, input 2, output 1) and the kernels build (a C++ compiler is found); xla otherwise.
    ``"native"`` raises ``ValueError`` naming the condition that fails. Both give the same
    shuffles bit for bit and the same losses and gradients to float32 rounding.
    """
    if engine not in ENGINES:
        raise ValueError(f"train: engine must be one of {ENGINES}, got {engine!r}")
    if engine == "xla":
        return "xla"
    devices = list(mesh.devices.flat) if mesh is not None else jax.local_devices()
    problems = []
    if not native_ops.supports(cfg):
        problems.append(f"the native kernels need hidden 1, input 2, output 1 (the Config has "
                        f"{cfg.hidden_size}, {cfg.input_size}, {cfg.output_size})")
    if any(d.platform != "cpu" for d in devices):
        problems.append(f"the native kernels run on CPUs only (devices: "
                        f"{sorted({d.platform for d in devices})})")
    if not problems and native.load() is None:
        reason = native.unavailable_reason()
        problems.append(f"the native kernels are unavailable: {reason}")
        if engine == "auto" and "GRU_JAX_NATIVE=0" not in reason:
            warnings.warn(f"gru_jax: {problems[-1]}; training with the XLA engine (4-5x slower "
                          "on CPUs, same results to float32 rounding)", stacklevel=3)
    if engine == "native" and problems:
        raise ValueError("train: engine='native' but " + "; ".join(problems))
    return "xla" if problems else "native"


def auto_seed_batch(cfg, fraction: float = 0.5) -> int:
    """How many seeds fit in ``fraction`` of the first device's memory (host RAM on CPU).

    On CPU it is also capped at ``CPU_SEED_BATCH`` (x devices): with the XLA engine the rate
    is best at 64-256 seeds, whose per-step arrays stay in cache (unbatched, 1024-4096 seeds
    were 15-40% slower); the native engine is flat from 16 to 256 seeds and 15% slower at 512
    (experiments/PERF_NOTES.md), so larger CPU ensembles run as consecutive batches of 256.
    """
    stats = {}
    try:
        stats = jax.devices()[0].memory_stats() or {}
    except Exception:  # noqa: BLE001 - backends without memory stats
        stats = {}
    if "bytes_limit" in stats:
        budget = stats["bytes_limit"] * fraction
    else:
        budget = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") * fraction
    fit = max(1, int(budget // bytes_per_seed(cfg)) * max(1, jax.local_device_count()))
    if jax.default_backend() == "cpu":
        fit = min(fit, CPU_SEED_BATCH * max(1, jax.local_device_count()))
    return fit


def _slice_data(data, start: int, stop: int):
    """Seeds [start, stop) of explicit data: per-seed ``(S, N, L, 2)`` data is cut, shared
    ``(N, L, 2)`` data is passed on whole."""
    x, y = data
    x = np.asarray(x)
    return (x[start:stop], np.asarray(y)[start:stop]) if x.ndim == 4 else data


def _train_in_batches(cfg, seeds, seed_batch, *, init, data, orders, out, resume, **kwargs):
    """Train ``seeds`` in consecutive batches of ``seed_batch`` and join the Runs.

    With ``out``, each finished batch is kept under ``out/batches/`` so a resumed run skips it.
    """
    import shutil
    groups = [(i, min(i + seed_batch, len(seeds))) for i in range(0, len(seeds), seed_batch)]
    if out is not None:
        ckpt.check_out_dir(out, resume)
        ckpt.write_config(out, cfg, seeds)
    runs = []
    start_time = time.perf_counter()
    for index, (start, stop) in enumerate(groups):
        group_out = None if out is None else os.path.join(out, "batches", f"batch_{index:04d}")
        group_init = init
        if init is not None:
            flat = init if "gru.weight_ih_l0" in init else {
                f"{m}.{k}": v for m, sub in init.items() for k, v in sub.items()}
            if np.asarray(flat["gru.weight_ih_l0"]).ndim == 3:
                group_init = {k: np.asarray(v)[start:stop] for k, v in flat.items()}
        group_data = None if data is None else _slice_data(data, start, stop)
        group_orders = None if orders is None else np.asarray(orders)[start:stop]
        runs.append(train(cfg, seeds[start:stop], init=group_init, data=group_data,
                          orders=group_orders, out=group_out,
                          resume=resume and group_out is not None and os.path.isdir(group_out),
                          seed_batch=seed_batch, **kwargs))
    run = Run.concatenate(runs, wall_s=time.perf_counter() - start_time)
    if out is not None:
        run.save(out, overwrite=True)
        shutil.rmtree(os.path.join(out, "batches"), ignore_errors=True)
    return run


def train(cfg, seeds: Sequence[int] = range(8), *, init=None, data=None, orders=None,
          out: Optional[str] = None, resume: bool = False, chunk_epochs: Optional[int] = None,
          progress: bool = True, mesh=None, on_chunk: Optional[Callable[[int], None]] = None,
          seed_batch: Optional[int] = None, engine: str = "auto") -> Run:
    """Train the protocol for every seed at once; returns a :class:`gru_jax.Run`.

    Args:
      cfg: the :class:`gru_jax.Config`.
      seeds: distinct ints; each seed's numbers do not depend on the others.
      init: optional explicit initial params (state dict or params; optional seed axis).
      data: optional explicit raw ``(X, Y)``: ``(N, L, 2)``/``(N, 1)`` shared by all seeds, or
        with a leading seed axis.
      orders: optional explicit sample orders, int ``(S, epochs, n_train)`` (replay).
      out: run directory; a checkpoint is written there after every chunk and the run at the
        end. Must not already hold a run unless ``resume``.
      resume: continue from ``out``'s checkpoint (same Config and seeds required).
      chunk_epochs: epochs per compiled chunk (default: about 20 chunks).
      progress: show a progress bar (seeds x epochs, rate, ETA).
      mesh: optional ``jax.sharding.Mesh`` with axis "seeds"; default: all local devices.
      on_chunk: called with the number of finished epochs after each chunk (tests use it).
      seed_batch: most seeds trained at once; more are trained in consecutive batches with the
        same results (default: what fits half the device's memory, see ``auto_seed_batch``).
      engine: "auto", "xla" or "native" (see :func:`resolve_engine`); the Run records which.
    """
    seeds = _check_seeds(seeds)
    engine = resolve_engine(cfg, engine, mesh)
    n_seeds = len(seeds)
    if orders is not None:
        orders = _check_orders(cfg, orders, n_seeds)
    if seed_batch is not None and seed_batch < 1:
        raise ValueError(f"train: seed_batch must be >= 1, got {seed_batch}")
    seed_batch = int(seed_batch or auto_seed_batch(cfg))
    if n_seeds > seed_batch:
        return _train_in_batches(cfg, seeds, seed_batch, init=init, data=data, orders=orders,
                                 out=out, resume=resume, chunk_epochs=chunk_epochs,
                                 progress=progress, mesh=mesh, on_chunk=on_chunk,
                                 engine=engine)
    chunk_epochs = int(chunk_epochs or default_chunk_epochs(cfg))
    if chunk_epochs < 1:
        raise ValueError(f"train: chunk_epochs must be >= 1, got {chunk_epochs}")
    if out is not None:
        ckpt.check_out_dir(out, resume)

    streams = seed_streams(cfg, seeds)
    dataset, shared = _datasets(cfg, seeds, streams, data)
    params0 = _initial_params(cfg, n_seeds, streams, init)

    logs = ckpt.Logs.empty()
    done = 0
    state = None
    if out is not None and resume and os.path.isdir(out):
        if _complete(out):
            return Run.load(out)
        restored = ckpt.load_checkpoint(out, cfg, seeds,
                                        lambda p: initial_state(cfg, p, streams))
        if restored is not None:
            state, logs, done, params0 = restored
    if state is None:
        state = initial_state(cfg, params0, streams)
    if out is not None:
        ckpt.write_config(out, cfg, seeds)

    from .sharding import seed_sharding  # late: only the trainer needs it
    put = seed_sharding(n_seeds, mesh)
    state = put(state)
    if not shared:
        dataset = put(dataset)
    order_keys = put(streams.order)

    compiled = compiled_chunk(cfg, chunk_epochs, orders is not None, shared, engine == "native")
    dummy_orders = jnp.zeros((n_seeds, 1, 1), jnp.int32)
    t_start = time.perf_counter()
    with progress_bar(n_seeds * cfg.epochs, n_seeds * done, progress) as advance:
        while done < cfg.epochs:
            if orders is not None:
                window = orders[:, done:done + chunk_epochs]
                pad = chunk_epochs - window.shape[1]
                if pad:
                    window = np.pad(window, ((0, 0), (0, pad), (0, 0)))
                chunk_orders = put(jnp.asarray(window))
            else:
                chunk_orders = dummy_orders
            state, log = compiled(state, dataset, order_keys, jnp.int32(done), chunk_orders)
            n_epochs = min(chunk_epochs, cfg.epochs - done)
            n_evals = sum(1 for e in cfg.eval_epochs if done <= e < done + n_epochs)
            logs = logs.append(log, n_epochs, n_evals)
            done += n_epochs
            if out is not None:
                ckpt.save_checkpoint(out, state, logs, done, params0)
            advance(n_seeds * n_epochs)
            if on_chunk is not None:
                on_chunk(done)
    wall = time.perf_counter() - t_start
    run = Run.from_training(cfg, seeds, params0, state, logs, wall_s=wall, engine=engine)
    if out is not None:
        run.save(out, overwrite=True)
        ckpt.remove_checkpoint(out)
    return run
