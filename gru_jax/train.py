"""The host driver: trains the protocol for many seeds with the compiled program.

A training is three values and a run directory:

- :class:`gru_jax.program.ProgramSpec`: what is compiled (shapes, epochs, curriculum, engine);
- :class:`gru_jax.optim.Hyper`: what each member varies (learning rate, weight decay, ...);
- :class:`gru_jax.options.TrainOptions`: how the host drives it (chunks, seeds at once, ...);
- :class:`gru_jax.rundir.RunDir`: where it is checkpointed and saved.

``train(cfg, seeds)`` packs its keywords into TrainOptions once, asks
:func:`gru_jax.engines.resolve_engine` for the Engine, opens the run directory, and runs one
cell: :func:`train_cells` builds each seed's streams, dataset and initial params
(:mod:`gru_jax.inputs`), places the member axis on the devices (:mod:`gru_jax.sharding`) and
runs the compiled program (:mod:`gru_jax.program`) chunk by chunk, with a progress bar and a
checkpoint after each chunk (:mod:`gru_jax.checkpoint`). Ensembles larger than memory run as
consecutive batches of seeds with the same results. :func:`gru_jax.sweep` and
:func:`gru_jax.distributed.train_distributed` run cells the same way. It returns a
:class:`gru_jax.Run`.
"""
from __future__ import annotations

import contextlib
import os
import time
from typing import Callable, Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from . import compilation_cache
from .checkpoint import Logs, load_checkpoint, save_checkpoint
from .config import ProgramConfig
from .engines import Engine, resolve_engine
from .inputs import Inputs, check_seeds, datasets, initial_params, seed_streams
from .optim import member_hyper
from .options import TrainOptions, options_of
from .program import ProgramSpec, compiled_chunk, compiled_init
from .progress import progress_bar
from .provenance import collect
from .run import Run
from .rundir import RunDir
from .sharding import seed_sharding

#: On CPUs, the most seeds trained at once (per device); see :func:`auto_seed_batch`.
CPU_SEED_BATCH = 256


# ---- memory --------------------------------------------------------------------------------
def bytes_per_seed(cfg, engine: Engine, shared_data: bool = False) -> int:
    """Estimated device memory one seed needs while training (data, what the engine prepares
    from it, e.g. the native engine's packed rows, order, state, activations). A per-row task's
    lengths (4 bytes a sample) ride with the data."""
    copies = 1 if cfg.curriculum is None else len(cfg.curriculum) + 1     # stage datasets
    per_row = 1 if cfg.per_row else 0                                     # each row's length
    data = 0 if shared_data else 4 * cfg.n_samples * (2 * cfg.max_len + 1 + per_row) * copies
    prepared = 0 if shared_data else engine.prepared_bytes
    order = 4 * 4 * cfg.n_train                       # order, sort keys and their temporaries
    activations = 4 * cfg.batch_size * cfg.max_len * 64 * max(1, cfg.hidden_size)
    return data + prepared + order + activations + 64 * 1024


def memory_budget(fraction: float = 0.5) -> float:
    """``fraction`` of the first device's memory limit (of the host's available RAM on CPU)."""
    try:
        stats = jax.local_devices()[0].memory_stats() or {}
    except Exception:  # noqa: BLE001 - backends without memory stats raise various errors
        stats = {}
    if "bytes_limit" in stats:
        return stats["bytes_limit"] * fraction
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") * fraction


def auto_seed_batch(cfg, engine: Engine, fraction: float = 0.5) -> int:
    """How many seeds fit in ``fraction`` of the first device's memory (host RAM on CPU).

    On CPU it is also capped at ``CPU_SEED_BATCH`` (x devices): with the XLA engine the rate
    is best at 64-256 seeds, whose per-step arrays stay in cache (unbatched, 1024-4096 seeds
    were 15-40% slower); the native engine is flat from 16 to 256 seeds and 15% slower at 512
    (experiments/PERF_NOTES.md), so larger CPU ensembles run as consecutive batches of 256.
    """
    budget = memory_budget(fraction)
    fit = max(1, int(budget // bytes_per_seed(cfg, engine)) * max(1, jax.local_device_count()))
    if jax.default_backend() == "cpu":
        fit = min(fit, CPU_SEED_BATCH * max(1, jax.local_device_count()))
    return fit


def result_bytes_per_seed(cfg) -> int:
    """Host bytes one seed's results take (losses, test losses, lrs, params at init, at every
    eval epoch and at the end, and the seed itself)."""
    h = cfg.hidden_size
    n_params = 3 * h * cfg.input_size + 3 * h * h + 6 * h + cfg.output_size * (h + 1)
    return 4 * (cfg.epochs + 2 * cfg.n_eval + n_params * (cfg.n_eval + 2)) + 64


def check_fits(cfg, engine: Engine, n_seeds: int) -> None:
    """Refuse, with the estimates, a run that cannot fit: one seed's training needs more than
    90% of the device's available memory, or the results of ``n_seeds`` more than the host's
    RAM."""
    one, device = bytes_per_seed(cfg, engine), memory_budget(0.9)
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


def start_options(options: TrainOptions) -> TrainOptions:
    """``options`` with the provenance of a training that starts now (unless it has one) and
    the persistent compilation cache on (:func:`gru_jax.compilation_cache.enable`)."""
    compilation_cache.enable()
    if options.provenance is not None:
        return options
    return options.replace(provenance=collect(options.command))


# ---- train ---------------------------------------------------------------------------------
def train(cfg, seeds: Sequence[int] = range(8), *, init=None, data=None, orders=None,
          out: Optional[str] = None, resume: bool = False,
          options: Optional[TrainOptions] = None, chunk_epochs: Optional[int] = None,
          progress=True, mesh=None, on_chunk: Optional[Callable[[int], None]] = None,
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
      options: the host options below as one :class:`gru_jax.options.TrainOptions` (then
        leave those keywords out).
      chunk_epochs, progress, mesh, on_chunk, seed_batch, engine, loss_every, provenance: the
        fields of :class:`gru_jax.options.TrainOptions` (see there), packed into one.

    The compiled programs are kept in JAX's persistent compilation cache
    (:func:`gru_jax.compilation_cache.enable`: ``~/.cache/gru_jax/xla`` unless the process has
    a cache already; ``GRU_JAX_COMPILATION_CACHE=0`` turns it off), so the next process that
    trains the same programs loads them instead of compiling.
    """
    options = options_of("train", options, chunk_epochs=chunk_epochs, progress=progress,
                         mesh=mesh, on_chunk=on_chunk, seed_batch=seed_batch, engine=engine,
                         loss_every=loss_every, provenance=provenance)
    return train_run(cfg, seeds, options, Inputs(init, data, orders), out, resume)


def train_run(cfg, seeds: Sequence[int], options: TrainOptions, inputs: Inputs = Inputs(),
              out: Optional[str] = None, resume: bool = False) -> Run:
    """:func:`train` with its options as one object and its explicit inputs as one
    :class:`gru_jax.inputs.Inputs`: the Engine, the memory check, the run directory (opened,
    compared on resume, started), then the seeds in batches (:func:`train_batches`)."""
    engine = resolve_engine(cfg, options.engine, options.mesh)
    check_fits(cfg, engine, len(seeds) if hasattr(seeds, "__len__") else 1)
    seeds = check_seeds(seeds)
    inputs = inputs.checked(cfg, len(seeds))
    options = start_options(options)
    if out is None:
        return train_batches(cfg, seeds, engine, options, inputs)
    run_dir = RunDir(out)
    with run_dir.lock():
        stored = run_dir.open(cfg, seeds, resume, options.seed_batch)
        if run_dir.complete():
            return Run.load(out)
        seed_batch = options.seed_batch or stored or auto_seed_batch(cfg, engine)
        run_dir.start(cfg, seeds, min(seed_batch, len(seeds)))
        return train_batches(cfg, seeds, engine, options.replace(seed_batch=seed_batch),
                             inputs, run_dir)


def train_batches(cfg, seeds: list, engine: Engine, options: TrainOptions,
                  inputs: Inputs = Inputs(), run_dir: Optional[RunDir] = None) -> Run:
    """All seeds at once, or in consecutive batches of ``options.seed_batch`` (default: what
    fits, :func:`auto_seed_batch`) joined into one Run, with the same results.

    With ``run_dir`` (started, locked), each batch is a run directory of its own
    (:meth:`gru_jax.rundir.RunDir.batch`): a resumed run continues the batch that was training
    and loads the finished ones.
    """
    seed_batch = options.seed_batch or auto_seed_batch(cfg, engine)
    if len(seeds) <= seed_batch:
        return train_cells([(cfg, run_dir)], seeds, engine, options, inputs)[0]
    start_time, runs = time.perf_counter(), []
    batch_options = options.replace(loss_every=1)   # batches keep every epoch's loss until joined
    for index, start in enumerate(range(0, len(seeds), seed_batch)):
        stop = min(start + seed_batch, len(seeds))
        batch_dir = None if run_dir is None else run_dir.batch(index)
        if batch_dir is not None:
            batch_dir.start(cfg, seeds[start:stop])
        runs += train_cells([(cfg, batch_dir)], seeds[start:stop], engine, batch_options,
                            inputs.slice(start, stop))
    run = Run.concatenate(runs, wall_s=time.perf_counter() - start_time,
                          provenance=options.provenance)
    if run_dir is not None:
        _save(run, run_dir, options)
    return run


# ---- cells: one compiled program -----------------------------------------------------------
def train_cells(cells, seeds: list, engine: Engine, options: TrainOptions,
                inputs: Inputs = Inputs(), on_cell=None) -> list[Run]:
    """Train several Configs on the same seeds as ONE compiled program; one Run per cell.

    The cells' Configs may differ only in per-member fields (:data:`gru_jax.config.
    MEMBER_FIELDS`: equal :class:`gru_jax.config.ProgramConfig`). A cell whose run directory is
    complete is loaded (after the resume comparison); the others train as members of one
    program per checkpoint epoch (normally one program: all start from scratch or from the
    same chunk), each member reading its own :class:`gru_jax.optim.Hyper`, so a cell's numbers
    are those it has trained alone.

    Args:
      cells: ``[(cfg, run_dir), ...]``; ``run_dir`` a started :class:`gru_jax.rundir.RunDir`
        of these seeds (locked by the caller) or None.
      seeds: distinct seeds, the same for every cell.
      options: ``chunk_epochs`` (default: the first cell's), ``progress``, ``mesh``,
        ``on_chunk``, ``loss_every`` and ``provenance`` are used here.
      inputs: explicit init, data and orders (:func:`train`).
      on_cell: called with ``(position in cells, Run)`` as each cell is loaded or trained.
    """
    runs, waiting = [None] * len(cells), {}
    for position, (cfg, run_dir) in enumerate(cells):
        if run_dir is not None and run_dir.complete():
            run_dir.check_same(cfg, seeds)
            runs[position] = Run.load(run_dir.path)
            if on_cell is not None:
                on_cell(position, runs[position])
        else:
            done = 0 if run_dir is None else run_dir.epochs_done()
            waiting.setdefault(done, []).append(position)
    for group in waiting.values():
        trained = _train_program([cells[p] for p in group], seeds, engine, options, inputs)
        for position, run in zip(group, trained):
            runs[position] = run
            if on_cell is not None:
                on_cell(position, run)
    return runs


def _train_program(cells, seeds: list, engine: Engine, options: TrainOptions,
                   inputs: Inputs) -> list[Run]:
    """The cells as members of one compiled program (members are cells x seeds, cell-major:
    member ``c * S + s`` is seed ``s`` of cell ``c``), continued from their checkpoints (all
    at the same epoch) and checkpointed after every chunk."""
    configs = [cfg for cfg, _ in cells]
    config, n_cells, n_seeds = ProgramConfig(configs[0]), len(cells), len(seeds)
    n_members = n_cells * n_seeds
    tile = lambda tree: jax.tree_util.tree_map(lambda a: jnp.concatenate([a] * n_cells), tree)
    cut = lambda tree, c: jax.tree_util.tree_map(
        lambda a: a[c * n_seeds:(c + 1) * n_seeds], tree)
    streams = seed_streams(config, seeds)
    dataset, shared = datasets(config, seeds, streams, engine, inputs.data)
    dataset = dataset if shared else tile(dataset)
    params0 = tile(initial_params(config, n_seeds, streams, inputs.init))
    spec = ProgramSpec.of(configs, engine, options.chunk_for(config),
                          replay=inputs.orders is not None, shared_data=shared)
    hyper = member_hyper([c for c in configs for _ in seeds])
    init = compiled_init(spec)

    state, done, logs = None, 0, [Logs.empty() for _ in cells]
    restored = [None if run_dir is None else load_checkpoint(
                    run_dir, cfg, seeds,
                    lambda params, c=c: init(params, streams.order, cut(hyper, c)), engine.name)
                for c, (cfg, run_dir) in enumerate(cells)]
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
        state = init(params0, tile(streams.order), hyper)

    put = seed_sharding(n_members, options.mesh)
    state, hyper = put(state), put(hyper)
    dataset = dataset if shared else put(dataset)
    order_keys = put(tile(streams.order))
    compiled, chunk_epochs = compiled_chunk(spec), spec.chunk_epochs
    no_orders = jnp.zeros((n_members, 1, 1), jnp.int32)
    t_start = time.perf_counter()
    with _advancer(options.progress, n_members * config.epochs, n_members * done) as advance:
        while done < config.epochs:
            window = no_orders if inputs.orders is None else put(tile(jnp.asarray(
                _order_window(inputs.orders, done, chunk_epochs))))
            state, log = compiled(state, dataset, order_keys, jnp.int32(done), window, hyper)
            n_epochs = min(chunk_epochs, config.epochs - done)
            n_evals = sum(1 for e in config.eval_epochs if done <= e < done + n_epochs)
            logs = [cell_logs.append(cut(log, c), n_epochs, n_evals)
                    for c, cell_logs in enumerate(logs)]
            done += n_epochs
            for c, (cfg, run_dir) in enumerate(cells):
                if run_dir is not None:
                    save_checkpoint(run_dir, cut(state, c), logs[c], done, cut(params0, c),
                                    engine.name, seeds, cfg)
            advance(n_members * n_epochs)
            if options.on_chunk is not None:
                options.on_chunk(done)
    wall_s = time.perf_counter() - t_start
    final = jax.vmap(engine.unpack)(state.params)
    runs = []
    for c, (cfg, run_dir) in enumerate(cells):
        run = Run.from_training(cfg, seeds, cut(params0, c), cut(final, c),
                                cut(state.diverged, c), **logs[c].trajectories(),
                                wall_s=wall_s, engine=engine.name,
                                provenance=options.provenance)
        if run_dir is not None:
            _save(run, run_dir, options)
        runs.append(run)
    return runs


def _save(run: Run, run_dir: RunDir, options: TrainOptions) -> None:
    """The finished run over its started directory, then what training left there removed."""
    run.save(run_dir.path, overwrite=True, loss_every=options.loss_every)
    run_dir.clear_training()


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
