"""The host driver: trains the protocol for many seeds with the compiled program.

``train(cfg, seeds)`` checks its inputs, chooses the engine (:mod:`gru_jax.engines`), builds
each seed's streams, dataset and initial params (:mod:`gru_jax.inputs`), places the seed axis
on the devices (:mod:`gru_jax.sharding`), and runs the compiled program
(:mod:`gru_jax.program`) chunk by chunk: progress bar, a checkpoint after each chunk
(:mod:`gru_jax.checkpoint`), resume. Ensembles larger than memory run as consecutive batches
of seeds with the same results. It returns a :class:`gru_jax.Run`.
"""
from __future__ import annotations

import contextlib
import math
import os
import shutil
import time
from typing import Callable, Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from . import checkpoint as ckpt
from . import compilation_cache
from .engines import Engine, resolve_engine
from .engines.native import row_width
from .inputs import (check_count, check_orders, check_seeds, datasets, initial_params,
                     seed_streams, slice_seeds)
from .lock import run_lock
from .optim import (CONSTANT_FIELDS, member_hyper, program_config, program_key,
                    varying_fields)
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
    and the native engine's packed rows: 64 bytes a training sample for the blog's length; a
    per-row task's lengths, 4 bytes a sample, ride in the rows' spare float)."""
    copies = 1 if cfg.curriculum is None else len(cfg.curriculum) + 1     # stage datasets
    per_row = 1 if cfg.per_row else 0                                     # each row's length
    data = 0 if shared_data else 4 * cfg.n_samples * (2 * cfg.max_len + 1 + per_row) * copies
    rows = 0 if shared_data else 4 * cfg.n_train * row_width(cfg.max_len)
    order = 4 * 4 * cfg.n_train                       # order, sort keys and their temporaries
    activations = 4 * cfg.batch_size * cfg.max_len * 64 * max(1, cfg.hidden_size)
    return data + rows + order + activations + 64 * 1024


def memory_budget(fraction: float = 0.5) -> float:
    """``fraction`` of the first device's memory limit (of the host's available RAM on CPU)."""
    try:
        stats = jax.local_devices()[0].memory_stats() or {}
    except Exception:  # noqa: BLE001 - backends without memory stats raise various errors
        stats = {}
    if "bytes_limit" in stats:
        return stats["bytes_limit"] * fraction
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") * fraction


def auto_seed_batch(cfg, fraction: float = 0.5) -> int:
    """How many seeds fit in ``fraction`` of the first device's memory (host RAM on CPU).

    On CPU it is also capped at ``CPU_SEED_BATCH`` (x devices): with the XLA engine the rate
    is best at 64-256 seeds, whose per-step arrays stay in cache (unbatched, 1024-4096 seeds
    were 15-40% slower); the native engine is flat from 16 to 256 seeds and 15% slower at 512
    (experiments/PERF_NOTES.md), so larger CPU ensembles run as consecutive batches of 256.
    """
    budget = memory_budget(fraction)
    fit = max(1, int(budget // bytes_per_seed(cfg)) * max(1, jax.local_device_count()))
    if jax.default_backend() == "cpu":
        fit = min(fit, CPU_SEED_BATCH * max(1, jax.local_device_count()))
    return fit


def result_bytes_per_seed(cfg) -> int:
    """Host bytes one seed's results take (losses, test losses, lrs, params at init, at every
    eval epoch and at the end, and the seed itself)."""
    h = cfg.hidden_size
    n_params = 3 * h * cfg.input_size + 3 * h * h + 6 * h + cfg.output_size * (h + 1)
    return 4 * (cfg.epochs + 2 * cfg.n_eval + n_params * (cfg.n_eval + 2)) + 64


def check_fits(cfg, n_seeds: int) -> None:
    """Refuse, with the estimates, a run that cannot fit: one seed's training needs more than
    90% of the device's available memory, or the results of ``n_seeds`` more than the host's
    RAM."""
    one, device = bytes_per_seed(cfg), memory_budget(0.9)
    if one > device:
        raise ValueError(
            f"train: one seed needs about {_gib(one)} of device memory to train (seq_len "
            f"{cfg.seq_len}, n_samples {cfg.n_samples}, batch_size {cfg.batch_size}), more than "
            f"the {_gib(device)} available; choose a smaller seq_len, n_samples or batch_size")
    host = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    results = n_seeds * result_bytes_per_seed(cfg)
    if results > host:
        raise ValueError(
            f"train: {n_seeds} seeds x {cfg.epochs} epochs need about {_gib(results)} of host "
            f"memory for their results ({result_bytes_per_seed(cfg)} bytes a seed), this "
            f"machine has {_gib(host)}; train fewer seeds per run")


def _gib(n_bytes: float) -> str:
    return f"{n_bytes / 2**30:.3g} GiB"


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
        end. Must not already hold a run unless ``resume``. One writer at a time: a second
        raises :class:`gru_jax.lock.RunLockedError` naming the holder.
      resume: continue ``out``'s run from its checkpoint. Its Config, seeds and grouping of
        seeds (``seed_batch``) are checked before anything is written: a difference raises
        ValueError naming each field and both values. A complete run is returned as stored.
      chunk_epochs: epochs per compiled chunk (default: about 20 chunks).
      progress: show a progress bar (seeds x epochs, rate, ETA); or a callable
        ``advance(seed_epochs)`` called after every chunk (a caller's own bar).
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

    The compiled programs are kept in JAX's persistent compilation cache
    (:func:`gru_jax.compilation_cache.enable`: ``~/.cache/gru_jax/xla`` unless the process has
    a cache already; ``GRU_JAX_COMPILATION_CACHE=0`` turns it off), so the next process that
    trains the same programs loads them instead of compiling.
    """
    compilation_cache.enable()
    check_fits(cfg, len(seeds) if hasattr(seeds, "__len__") else 1)
    seeds = check_seeds(seeds)
    seed_batch = check_count("seed_batch", seed_batch, allow_none=True)
    chunk_epochs = check_count("chunk_epochs", chunk_epochs, allow_none=True)
    loss_every = check_count("loss_every", loss_every)
    chosen = resolve_engine(program_config(cfg), engine, mesh)   # one Engine per program
    if orders is not None:
        orders = check_orders(cfg, orders, len(seeds))
    provenance = collect() if provenance is None else provenance
    options = dict(chunk_epochs=chunk_epochs or default_chunk_epochs(cfg), progress=progress,
                   mesh=mesh, on_chunk=on_chunk, loss_every=loss_every, provenance=provenance)
    inputs = dict(init=init, data=data, orders=orders)
    if out is None:
        return _train_seeds(cfg, seeds, seed_batch or auto_seed_batch(cfg), chosen, inputs,
                            None, **options)
    with run_lock(out):
        ckpt.check_out_dir(out, resume)
        if resume and ckpt.started(out):
            stored = ckpt.check_resume(out, cfg, seeds, seed_batch)
            if ckpt.is_complete(out):
                return Run.load(out)
            seed_batch = seed_batch or stored
        seed_batch = seed_batch or auto_seed_batch(cfg)
        ckpt.write_config(out, cfg, seeds, min(seed_batch, len(seeds)))
        return _train_seeds(cfg, seeds, seed_batch, chosen, inputs, out, **options)


def _train_seeds(cfg, seeds, seed_batch: int, engine: Engine, inputs: dict, out, **options):
    """All seeds at once, or in consecutive batches of ``seed_batch``."""
    if len(seeds) > seed_batch:
        return _train_in_batches(cfg, seeds, seed_batch, engine, out=out, **inputs, **options)
    return _train_group(cfg, seeds, engine, out=out, **inputs, **options)


def _train_in_batches(cfg, seeds, seed_batch, engine: Engine, *, init, data, orders, out,
                      **options) -> Run:
    """Train ``seeds`` in consecutive batches of ``seed_batch`` and join the Runs.

    With ``out`` (started, locked), each batch is a run directory ``out/batches/batch_<i>``:
    a resumed run continues the batch that was training and skips the finished ones.
    """
    groups = [(i, min(i + seed_batch, len(seeds))) for i in range(0, len(seeds), seed_batch)]
    runs = []
    start_time = time.perf_counter()
    for index, (start, stop) in enumerate(groups):
        group_out = None if out is None else os.path.join(out, "batches", f"batch_{index:04d}")
        if group_out is not None:
            ckpt.write_config(group_out, cfg, seeds[start:stop])
        group_init, group_data, group_orders = slice_seeds(start, stop, init, data, orders)
        runs.append(_train_group(       # batches keep every epoch's loss until joined
            cfg, seeds[start:stop], engine, init=group_init, data=group_data,
            orders=group_orders, out=group_out, **dict(options, loss_every=1)))
    run = Run.concatenate(runs, wall_s=time.perf_counter() - start_time,
                          provenance=options["provenance"])
    if out is not None:
        run.save(out, overwrite=True, loss_every=options["loss_every"])
        shutil.rmtree(os.path.join(out, "batches"), ignore_errors=True)
    return run


def _train_group(cfg, seeds, engine: Engine, *, init, data, orders, out, chunk_epochs,
                 progress, mesh, on_chunk, loss_every, provenance) -> Run:
    """Train one group of seeds (all at once on the devices); see :func:`train`.

    ``out``: a started run directory of exactly these seeds (:func:`gru_jax.checkpoint.
    write_config`); its checkpoint, if any, is continued, and a complete run is returned.
    """
    if out is not None and ckpt.is_complete(out):
        ckpt.check_resume(out, cfg, seeds, None)
        return Run.load(out)
    return train_cells([(cfg, out)], seeds, engine, init=init, data=data, orders=orders,
                       chunk_epochs=chunk_epochs, progress=progress, mesh=mesh,
                       on_chunk=on_chunk, loss_every=loss_every, provenance=provenance)[0]


def train_cells(cells, seeds, engine: Engine, *, chunk_epochs: int, progress=True, mesh=None,
                on_chunk=None, loss_every: int = 1, provenance: Optional[dict] = None,
                init=None, data=None, orders=None) -> list[Run]:
    """Train several Configs on the same seeds as ONE compiled program; one Run per cell.

    The cells' Configs may differ only in per-member fields (:data:`gru_jax.optim.
    MEMBER_FIELDS`: equal :func:`gru_jax.optim.program_config`). The program's members are
    cells x seeds, cell-major (member ``c * S + s`` is seed ``s`` of cell ``c``); each member
    reads its own :class:`gru_jax.optim.Hyper`, so a cell's numbers are those it has trained
    alone (the learning rate and the varying fields become arrays, see
    :func:`gru_jax.optim.program_hyper`).

    Args:
      cells: ``[(cfg, out), ...]``; ``out`` a started run directory of these seeds (locked by
        the caller) or None. Every cell's checkpoint must be at the same epoch (or absent in
        all): each is continued, and after every chunk each cell's checkpoint is written.
      seeds: distinct seeds, the same for every cell.
      progress: True/False (a bar for this program) or a callable ``advance(seed_epochs)``.
      Others: as for :func:`train` (the compilation cache included).
    """
    compilation_cache.enable()
    configs = [cell_cfg for cell_cfg, _ in cells]
    cfg, n_cells, n_seeds = configs[0], len(cells), len(seeds)
    if len({program_config(c) for c in configs}) != 1:
        raise ValueError("train_cells: the cells differ in fields that are not per-member")
    n_members = n_cells * n_seeds
    # only beta1/beta2 change the program when they vary (optim.CONSTANT_FIELDS): a sweep over
    # the other fields runs gj.train's own program
    varying = tuple(f for f in varying_fields(configs) if f in CONSTANT_FIELDS)
    key = program_key(cfg, varying)
    tile = lambda tree: jax.tree_util.tree_map(lambda a: jnp.concatenate([a] * n_cells), tree)
    cut = lambda tree, c: jax.tree_util.tree_map(
        lambda a: a[c * n_seeds:(c + 1) * n_seeds], tree)
    streams = seed_streams(cfg, seeds)
    dataset, shared = datasets(cfg, seeds, streams, data)
    dataset = dataset if shared else tile(dataset)
    params0 = tile(initial_params(cfg, n_seeds, streams, init))
    hyper = member_hyper([c for c in configs for _ in seeds])
    init_cell = lambda c: lambda params: compiled_init(key, engine)(
        params, streams.order, cut(hyper, c))

    state, done, logs = None, 0, [ckpt.Logs.empty() for _ in cells]
    restored = [None if out is None else
                ckpt.load_checkpoint(out, cell_cfg, seeds, init_cell(c), engine.name)
                for c, (cell_cfg, out) in enumerate(cells)]
    if any(r is not None for r in restored):
        dones = {None if r is None else r[2] for r in restored}
        if len(dones) != 1:
            raise ValueError(f"train_cells: the cells' checkpoints are at different epochs "
                             f"{sorted(dones, key=str)}; train them in separate groups")
        state = jax.tree_util.tree_map(lambda *a: jnp.concatenate(a), *[r[0] for r in restored])
        params0 = jax.tree_util.tree_map(lambda *a: jnp.concatenate(a),
                                         *[r[3] for r in restored])
        logs, done = [r[1] for r in restored], restored[0][2]
    if state is None:
        state = compiled_init(key, engine)(params0, tile(streams.order), hyper)

    put = seed_sharding(n_members, mesh)
    state, hyper = put(state), put(hyper)
    dataset = dataset if shared else put(dataset)
    order_keys = put(tile(streams.order))
    compiled = compiled_chunk(key, engine, chunk_epochs, orders is not None, shared, varying)
    no_orders = jnp.zeros((n_members, 1, 1), jnp.int32)
    t_start = time.perf_counter()
    with _advancer(progress, n_members * cfg.epochs, n_members * done) as advance:
        while done < cfg.epochs:
            window = no_orders if orders is None else put(tile(jnp.asarray(
                _order_window(orders, done, chunk_epochs))))
            state, log = compiled(state, dataset, order_keys, jnp.int32(done), window, hyper)
            n_epochs = min(chunk_epochs, cfg.epochs - done)
            n_evals = sum(1 for e in cfg.eval_epochs if done <= e < done + n_epochs)
            logs = [cell_logs.append(cut(log, c), n_epochs, n_evals)
                    for c, cell_logs in enumerate(logs)]
            done += n_epochs
            for c, (cell_cfg, out) in enumerate(cells):
                if out is not None:
                    ckpt.save_checkpoint(out, cut(state, c), logs[c], done, cut(params0, c),
                                         engine.name, seeds, cell_cfg)
            advance(n_members * n_epochs)
            if on_chunk is not None:
                on_chunk(done)
    wall_s = time.perf_counter() - t_start
    final = jax.vmap(engine.unpack)(state.params)
    runs = []
    for c, (cell_cfg, out) in enumerate(cells):
        run = Run.from_training(cell_cfg, seeds, cut(params0, c), cut(final, c),
                                cut(state.diverged, c), logs[c], wall_s=wall_s,
                                engine=engine.name, provenance=provenance)
        if out is not None:
            run.save(out, overwrite=True, loss_every=loss_every)
            ckpt.remove_checkpoint(out)
        runs.append(run)
    return runs


@contextlib.contextmanager
def _advancer(progress, total: int, completed: int):
    """``progress`` as a callable ``advance(seed_epochs)``: the caller's, or a bar's."""
    if callable(progress):
        yield progress
        return
    with progress_bar(total, completed, bool(progress)) as advance:
        yield advance


def _order_window(orders: np.ndarray, done: int, chunk_epochs: int) -> np.ndarray:
    """Orders ``(S, chunk_epochs, n_train)`` of the chunk starting at epoch ``done`` (zero
    padded past the run's end; those epochs are skipped)."""
    window = orders[:, done:done + chunk_epochs]
    pad = chunk_epochs - window.shape[1]
    return np.pad(window, ((0, 0), (0, pad), (0, 0))) if pad else window
