"""Timing shared by the benchmarks: gru_jax's steady-state rate from its per-chunk callbacks."""
from __future__ import annotations

import time

import jax

import gru_jax as gj
from gru_jax.engines import resolve_engine
from gru_jax.inputs import datasets, initial_params, seed_streams
from gru_jax.optim import member_hyper
from gru_jax.program import ProgramSpec, compiled_init
from gru_jax.train import auto_seed_batch


def timed_train(cfg, n_seeds: int, chunk_epochs: int, engine: str = "auto",
                seed_batch=None):
    """Train ``n_seeds`` seeds with ``engine`` ("auto", "xla" or "native"); returns
    ``(run, stats)``.

    ``stats``: ``seed_batch``, ``wall_s``, ``seed_epochs_per_s`` (steady state: from the end of
    the first chunk of each seed batch to the end of its last, summed over batches, so data,
    state setup and compilation are excluded) and ``compile_s`` (the first chunk's time beyond
    what the steady rate accounts for).
    """
    per_batch = min(n_seeds, seed_batch or auto_seed_batch(cfg, resolve_engine(cfg, engine)))
    marks = []
    start = time.perf_counter()
    run = gj.train(cfg, seeds=range(n_seeds), progress=False, chunk_epochs=chunk_epochs,
                   engine=engine, seed_batch=per_batch,
                   on_chunk=lambda done: marks.append((done, time.perf_counter())))
    wall = time.perf_counter() - start
    segments, current = [], []
    for done, stamp in marks:
        if current and done <= current[-1][0]:
            segments.append(current)
            current = []
        current.append((done, stamp))
    segments.append(current)
    seed_epochs = sum(per_batch * (seg[-1][0] - seg[0][0]) for seg in segments)
    seconds = sum(seg[-1][1] - seg[0][1] for seg in segments)
    rate = seed_epochs / seconds if seconds > 0 else float("nan")
    first_done, first_t = marks[0]
    return run, {"seed_batch": per_batch, "engine": run.engine, "wall_s": wall,
                 "seed_epochs_per_s": rate,
                 "compile_s": (first_t - start) - per_batch * first_done / rate}


def setup_seconds(cfg, n_seeds: int, engine: str = "auto", seed_batch=None,
                  first_seed: int = 0) -> float:
    """Seconds ``gj.train`` spends before its first step for seeds ``first_seed ..
    first_seed + n_seeds - 1``: per group of ``seed_batch`` (default as train chooses), the
    streams, datasets, initial params, first orders and initial state, the calls
    ``gru_jax.train._train_program`` makes, finished (``block_until_ready``). Call it once on
    other seeds first to leave compilation out."""
    chosen = resolve_engine(cfg, engine)
    per_batch = min(n_seeds, seed_batch or auto_seed_batch(cfg, chosen))
    init = compiled_init(ProgramSpec.of([cfg], chosen, cfg.epochs))
    start = time.perf_counter()
    for first in range(first_seed, first_seed + n_seeds, per_batch):
        seeds = list(range(first, min(first + per_batch, first_seed + n_seeds)))
        streams = seed_streams(cfg, seeds)
        data, _ = datasets(cfg, seeds, streams, chosen)
        params = initial_params(cfg, len(seeds), streams)
        state = init(params, streams.order, member_hyper([cfg] * len(seeds)))
        jax.block_until_ready((data, state))
    return time.perf_counter() - start
