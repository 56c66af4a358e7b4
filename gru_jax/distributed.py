"""One ensemble over several processes or machines (``jax.distributed``), joined into one run.

Seeds never interact, so each process trains its own share of the seeds with
:func:`gru_jax.train.train` (the same :class:`gru_jax.options.TrainOptions`) on its own
devices, each share in its part of the run directory (:meth:`gru_jax.rundir.RunDir.part`),
and process 0 joins the parts::

    OUT/config.json, OUT/run.json        written by process 0 at the start (complete: false)
    OUT/processes/process_000/           process 0's part: a complete run directory
    OUT/processes/process_001/           ...
    OUT/ (the joined run)                process 0, once every part is complete; then
                                         OUT/processes/ is removed

Shares: with ``S`` seeds and ``P`` processes, process ``i`` trains the contiguous block
``seeds[i * S // P : (i + 1) * S // P]`` (:func:`process_share`), so the joined run keeps the
seeds in the order given. Every process needs ``OUT`` on a file system they all see (a
cluster's shared home or scratch): the parts meet there, and the barrier is that file system
(process 0 waits until each part's ``run.json`` says complete, the others until the joined
run's does) -- no collective operation, so no accelerator interconnect is needed.

Resume: a restarted job with ``resume=True`` gives every process the same share and part
directory, so each continues its own part from its last checkpoint (a complete part is not
retrained; a complete joined run is returned as it is).
"""
from __future__ import annotations

import os
import time
from typing import Optional, Sequence

import jax

from .files import OptionRequiredError
from .options import TrainOptions, options_of
from .provenance import collect
from .run import Run
from .rundir import RunDir
from .train import train_run


def process_share(seeds: Sequence[int], num_processes: int, process_id: int) -> list[int]:
    """Process ``process_id``'s seeds: ``seeds[i * S // P : (i + 1) * S // P]`` (contiguous,
    sizes differ by at most one, every seed in exactly one share, in order)."""
    seeds = list(seeds)
    if not 0 <= process_id < num_processes:
        raise ValueError(f"process_id {process_id} is not in [0, num_processes={num_processes})")
    if len(seeds) < num_processes:
        raise ValueError(f"train_distributed: {len(seeds)} seeds cannot be shared by "
                         f"{num_processes} processes (at least one seed each)")
    size = len(seeds)
    return seeds[process_id * size // num_processes:(process_id + 1) * size // num_processes]


def part_directory(out: str, process_id: int) -> str:
    """``out/processes/process_<i:03d>``: where process ``i`` trains its share."""
    return RunDir(out).part(process_id).path


def wait_until_complete(directories: Sequence[str], timeout_s: Optional[float] = None,
                        poll_s: float = 1.0) -> None:
    """Block until every directory holds a complete run (polling the shared file system).

    ``timeout_s``: ``None`` waits as long as it takes (a dead peer ends the job through
    jax.distributed's heartbeat); otherwise ``TimeoutError`` naming the directories missing.
    """
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    while True:
        waiting = [d for d in directories if not RunDir(d).complete()]
        if not waiting:
            return
        if deadline is not None and time.monotonic() > deadline:
            raise TimeoutError(f"train_distributed: after {timeout_s} s these parts are still "
                               f"not complete: {waiting}")
        time.sleep(poll_s)


def initialize(coordinator: Optional[str] = None, num_processes: Optional[int] = None,
               process_id: Optional[int] = None) -> tuple[int, int]:
    """Start ``jax.distributed`` (once) and return ``(process_id, num_processes)``.

    With all three arguments ``None`` JAX detects the cluster (SLURM, Open MPI, ...).
    ``num_processes=1`` without a coordinator skips ``jax.distributed``: one process.
    """
    if num_processes == 1 and coordinator is None:
        return 0, 1
    if not jax.distributed.is_initialized():
        jax.distributed.initialize(coordinator, num_processes, process_id)
    return jax.process_index(), jax.process_count()


def train_distributed(cfg, seeds: Sequence[int], out: str, *, coordinator: Optional[str] = None,
                      num_processes: Optional[int] = None, process_id: Optional[int] = None,
                      resume: bool = False, timeout_s: Optional[float] = None,
                      options: Optional[TrainOptions] = None, **keywords) -> Optional[Run]:
    """Train ``seeds`` across the processes of a ``jax.distributed`` job; call it in EVERY
    process with the same arguments (except ``process_id``).

    Args:
      cfg: the :class:`gru_jax.Config`.
      seeds: all the job's seeds (distinct); process ``i`` trains :func:`process_share`.
      out: the joined run's directory, on a file system every process sees.
      coordinator: ``"host:port"`` of process 0's coordination service; with
        ``num_processes`` and ``process_id``, passed to ``jax.distributed.initialize``. All
        ``None``: auto-detected (SLURM, Open MPI).
      resume: continue an interrupted job (each process its own part; see the module docs).
      timeout_s: how long to wait for the other processes (``None``: no limit).
      options: a :class:`gru_jax.options.TrainOptions` for every part (its ``command`` also
        goes into the joined run's provenance; default ``sys.argv``), or its fields as
        keywords (``engine``, ``chunk_epochs``, ``seed_batch``, ``progress``, ...); not
        ``init``/``data``/``orders``/``out``.

    Returns:
      the joined :class:`gru_jax.Run` (saved at ``out``) in process 0, ``None`` elsewhere.
    """
    seeds = [int(s) for s in seeds]
    if len(set(seeds)) != len(seeds):
        raise ValueError("train_distributed: seeds contain duplicates")
    for name in ("init", "data", "orders", "out"):
        if name in keywords:
            raise ValueError(f"train_distributed: {name}= is not supported (each process "
                             "trains its own seeds from their own streams)")
    options = options_of("train_distributed", options, **keywords)
    index, count = initialize(coordinator, num_processes, process_id)
    share = process_share(seeds, count, index)
    provenance = collect(options.command)
    joined, part = RunDir(out), RunDir(out).part(index)
    if joined.complete():
        if not resume:
            raise OptionRequiredError(f"{out} already holds a complete run; choose a new "
                                      "directory or {option} to return it", "resume")
        return Run.load(out) if index == 0 else None
    resume_part = resume and os.path.isdir(part.path)
    if index != 0:
        train_run(cfg, share, options, out=part.path, resume=resume_part)
        # leave together: process 0 joins once every part is complete (then removes the parts)
        wait_until_complete([out], timeout_s)
        return None
    with joined.lock():        # one job writes the joined run: a second one is refused
        _start_joined(joined, cfg, seeds, resume)
        train_run(cfg, share, options, out=part.path, resume=resume_part)
        return _join(joined, count, provenance, timeout_s)


def _join(joined: RunDir, count: int, provenance: dict, timeout_s: Optional[float]) -> Run:
    """Process 0: wait for every part, save their concatenation at ``out``, remove them."""
    parts = [joined.part(i).path for i in range(count)]
    wait_until_complete(parts, timeout_s)
    runs = [Run.load(p) for p in parts]
    provenance["processes"] = [dict(r.provenance, first_seed=int(r.seeds[0]),
                                    n_seeds=r.n_seeds) for r in runs]
    Run.concatenate(runs, wall_s=max(r.wall_s for r in runs),
                    provenance=provenance).save(joined.path, overwrite=True)
    joined.clear_training()
    return Run.load(joined.path)


def _start_joined(joined: RunDir, cfg, seeds: list[int], resume: bool) -> None:
    """Process 0: refuse a foreign run at ``out`` (the resume comparison of
    :meth:`gru_jax.rundir.RunDir.check_same`); start the joined run."""
    if joined.has_config():
        if not resume:
            raise OptionRequiredError(f"{joined.path} already holds a run (config.json); "
                                      "choose a new directory or {option} to continue it",
                                      "resume")
        joined.check_same(cfg, seeds)
    joined.start(cfg, seeds)
