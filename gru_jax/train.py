"""The host driver: trains the protocol for many seeds with the compiled program.

``train(cfg, seeds)`` checks its inputs, chooses the engine (:mod:`gru_jax.engines`), builds
each seed's streams, dataset and initial params (:mod:`gru_jax.inputs`), places the seed axis
on the devices (:mod:`gru_jax.sharding`), and runs the compiled program
(:mod:`gru_jax.program`) chunk by chunk: progress bar, a checkpoint after each chunk
(:mod:`gru_jax.checkpoint`), resume. Ensembles larger than memory run as consecutive batches
of seeds with the same results. It returns a :class:`gru_jax.Run`.
"""
from __future__ import annotations

import math
import os
import shutil
import time
from typing import Callable, Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from . import checkpoint as ckpt
from .engines import Engine, resolve_engine
from .inputs import (check_orders, check_seeds, datasets, initial_params, seed_streams,
                     slice_seeds)
from .program import compiled_chunk, compiled_init
from .progress import progress_bar
from .provenance import collect
from .run import Run
from .sharding import seed_sharding

#: On CPUs, the most seeds trained at once (per device); see :func:`auto_seed_batch`.
CPU_SEED_BATCH = 256


def default_chunk_epochs(cfg) -> int:
    """About 20 chunks a run, a whole number of eval periods, at most ``epochs``."""
    periods = max(1, math.ceil(cfg.epochs / 20 / cfg.eval_every))
    return min(cfg.epochs, periods * cfg.eval_every)


def bytes_per_seed(cfg, shared_data: bool = False) -> int:
    """Estimated device memory one seed needs while training (data, order, state, activations,
    and the native engine's packed rows: 64 bytes a training sample for the blog's length)."""
    data = 0 if shared_data else 4 * cfg.n_samples * (2 * cfg.max_len + 1)
    rows = 0 if shared_data else 4 * cfg.n_train * 16 * -(-(2 * cfg.max_len + 1) // 16)
    order = 4 * 4 * cfg.n_train                       # order, sort keys and their temporaries
    activations = 4 * cfg.batch_size * cfg.max_len * 64 * max(1, cfg.hidden_size)
    return data + rows + order + activations + 64 * 1024


def auto_seed_batch(cfg, fraction: float = 0.5) -> int:
    """How many seeds fit in ``fraction`` of the first device's memory (host RAM on CPU).

    On CPU it is also capped at ``CPU_SEED_BATCH`` (x devices): with the XLA engine the rate
    is best at 64-256 seeds, whose per-step arrays stay in cache (unbatched, 1024-4096 seeds
    were 15-40% slower); the native engine is flat from 16 to 256 seeds and 15% slower at 512
    (experiments/PERF_NOTES.md), so larger CPU ensembles run as consecutive batches of 256.
    """
    try:
        stats = jax.local_devices()[0].memory_stats() or {}
    except Exception:  # noqa: BLE001 - backends without memory stats raise various errors
        stats = {}
    if "bytes_limit" in stats:
        budget = stats["bytes_limit"] * fraction
    else:
        budget = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") * fraction
    fit = max(1, int(budget // bytes_per_seed(cfg)) * max(1, jax.local_device_count()))
    if jax.default_backend() == "cpu":
        fit = min(fit, CPU_SEED_BATCH * max(1, jax.local_device_count()))
    return fit


def train(cfg, seeds: Sequence[int] = range(8), *, init=None, data=None, orders=None,
          out: Optional[str] = None, resume: bool = False, chunk_epochs: Optional[int] = None,
          progress: bool = True, mesh=None, on_chunk: Optional[Callable[[int], None]] = None,
          seed_batch: Optional[int] = None, engine: str = "auto", loss_every: int = 1,
          provenance: Optional[dict] = None) -> Run:
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
      engine: "auto", "xla" or "native" (see :func:`gru_jax.engines.resolve_engine`); the Run
        records which one trained it.
      loss_every: with ``out``, store the training loss every ``loss_every`` epochs (and the
        last) in the run directory (:meth:`gru_jax.Run.save`); the returned Run holds all.
      provenance: what ``run.json`` records about versions, devices, host and command
        (default :func:`gru_jax.provenance.collect` at the start of training).
    """
    seeds = check_seeds(seeds)
    chosen = resolve_engine(cfg, engine, mesh)
    if orders is not None:
        orders = check_orders(cfg, orders, len(seeds))
    if seed_batch is not None and seed_batch < 1:
        raise ValueError(f"train: seed_batch must be >= 1, got {seed_batch}")
    chunk_epochs = int(chunk_epochs or default_chunk_epochs(cfg))
    if chunk_epochs < 1:
        raise ValueError(f"train: chunk_epochs must be >= 1, got {chunk_epochs}")
    if int(loss_every) < 1:
        raise ValueError(f"train: loss_every must be >= 1, got {loss_every}")
    seed_batch = int(seed_batch or auto_seed_batch(cfg))
    provenance = collect() if provenance is None else provenance
    options = dict(chunk_epochs=chunk_epochs, progress=progress, mesh=mesh, on_chunk=on_chunk,
                   loss_every=int(loss_every), provenance=provenance)
    if len(seeds) > seed_batch:
        return _train_in_batches(cfg, seeds, seed_batch, chosen, init=init, data=data,
                                 orders=orders, out=out, resume=resume, **options)
    return _train_group(cfg, seeds, chosen, init=init, data=data, orders=orders, out=out,
                        resume=resume, **options)


def _train_in_batches(cfg, seeds, seed_batch, engine: Engine, *, init, data, orders, out,
                      resume, **options) -> Run:
    """Train ``seeds`` in consecutive batches of ``seed_batch`` and join the Runs.

    With ``out``, each finished batch is kept under ``out/batches/`` so a resumed run skips it.
    """
    groups = [(i, min(i + seed_batch, len(seeds))) for i in range(0, len(seeds), seed_batch)]
    if out is not None:
        ckpt.check_out_dir(out, resume)
        ckpt.write_config(out, cfg, seeds)
    runs = []
    start_time = time.perf_counter()
    for index, (start, stop) in enumerate(groups):
        group_out = None if out is None else os.path.join(out, "batches", f"batch_{index:04d}")
        group_init, group_data, group_orders = slice_seeds(start, stop, init, data, orders)
        runs.append(_train_group(       # batches keep every epoch's loss until joined
            cfg, seeds[start:stop], engine, init=group_init, data=group_data,
            orders=group_orders, out=group_out,
            resume=resume and group_out is not None and os.path.isdir(group_out),
            **dict(options, loss_every=1)))
    run = Run.concatenate(runs, wall_s=time.perf_counter() - start_time,
                          provenance=options["provenance"])
    if out is not None:
        run.save(out, overwrite=True, loss_every=options["loss_every"])
        shutil.rmtree(os.path.join(out, "batches"), ignore_errors=True)
    return run


def _train_group(cfg, seeds, engine: Engine, *, init, data, orders, out, resume, chunk_epochs,
                 progress, mesh, on_chunk, loss_every, provenance) -> Run:
    """Train one group of seeds (all at once on the devices); see :func:`train`."""
    if out is not None:
        ckpt.check_out_dir(out, resume)
        if resume and ckpt.is_complete(out):
            return Run.load(out)
    n_seeds = len(seeds)
    streams = seed_streams(cfg, seeds)
    dataset, shared = datasets(cfg, seeds, streams, data)
    params0 = initial_params(cfg, n_seeds, streams, init)
    init_state = lambda params: compiled_init(cfg, engine)(params, streams.order)

    logs, done, state = ckpt.Logs.empty(), 0, None
    if out is not None and resume and os.path.isdir(out):
        restored = ckpt.load_checkpoint(out, cfg, seeds, init_state, engine.name)
        if restored is not None:
            state, logs, done, params0 = restored
    if state is None:
        state = init_state(params0)
    if out is not None:
        ckpt.write_config(out, cfg, seeds)

    put = seed_sharding(n_seeds, mesh)
    state = put(state)
    dataset = dataset if shared else put(dataset)
    order_keys = put(streams.order)
    compiled = compiled_chunk(cfg, engine, chunk_epochs, orders is not None, shared)
    no_orders = jnp.zeros((n_seeds, 1, 1), jnp.int32)
    t_start = time.perf_counter()
    with progress_bar(n_seeds * cfg.epochs, n_seeds * done, progress) as advance:
        while done < cfg.epochs:
            window = no_orders if orders is None else put(jnp.asarray(
                _order_window(orders, done, chunk_epochs)))
            state, log = compiled(state, dataset, order_keys, jnp.int32(done), window)
            n_epochs = min(chunk_epochs, cfg.epochs - done)
            n_evals = sum(1 for e in cfg.eval_epochs if done <= e < done + n_epochs)
            logs = logs.append(log, n_epochs, n_evals)
            done += n_epochs
            if out is not None:
                ckpt.save_checkpoint(out, state, logs, done, params0, engine.name)
            advance(n_seeds * n_epochs)
            if on_chunk is not None:
                on_chunk(done)
    run = Run.from_training(cfg, seeds, params0, jax.vmap(engine.unpack)(state.params),
                            state.diverged, logs, wall_s=time.perf_counter() - t_start,
                            engine=engine.name, provenance=provenance)
    if out is not None:
        run.save(out, overwrite=True, loss_every=loss_every)
        ckpt.remove_checkpoint(out)
    return run


def _order_window(orders: np.ndarray, done: int, chunk_epochs: int) -> np.ndarray:
    """Orders ``(S, chunk_epochs, n_train)`` of the chunk starting at epoch ``done`` (zero
    padded past the run's end; those epochs are skipped)."""
    window = orders[:, done:done + chunk_epochs]
    pad = chunk_epochs - window.shape[1]
    return np.pad(window, ((0, 0), (0, pad), (0, 0))) if pad else window
