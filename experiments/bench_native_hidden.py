"""The native engine against the XLA engine at several hidden sizes, in one invocation.

    python experiments/bench_native_hidden.py                          # H = 1, 2, 4, 8, 16
    python experiments/bench_native_hidden.py --hidden 2,8 --seeds 64 --xla-epochs 0

For each hidden size H: the loss-and-gradient kernel alone (one jitted call for all seeds on a
batch of 256, repeated; per seed-epoch = 8000 / 256 calls' worth), then training with the
native engine and with the XLA engine (steady state: from the end of the first chunk, which
includes compiling, to the end of the last; compile seconds apart). Each time is given as wall
time and as this process's CPU time (all its threads) divided by the cores it may use: on a
machine shared with other jobs the CPU time is the steadier of the two. The PyTorch ensemble
and the ratios to it are ``experiments/bench_throughput.py --hidden``'s job.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
sys.path.insert(0, HERE)
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import gru_jax as gj  # noqa: E402
from gru_jax import native  # noqa: E402
from gru_jax.engines import native as ops  # noqa: E402

CORES = len(os.sched_getaffinity(0))


def clocks():
    """(wall seconds, process CPU seconds over all threads)."""
    return time.perf_counter(), time.process_time()


def kernel_ms(hidden: int, seeds: int, repeats: int = 20) -> tuple[float, float]:
    """ms per seed-epoch of the loss-and-gradient kernel alone: (wall, CPU / cores)."""
    cfg = gj.Config(hidden_size=hidden)
    rng = np.random.default_rng(0)
    steps, batch = cfg.max_len, cfg.batch_size
    # adding-problem-like inputs (the kernel's cost does not depend on the values)
    x = jnp.asarray(np.concatenate([rng.integers(0, 100, (cfg.n_train, steps, 1)) / 100,
                                    rng.uniform(size=(cfg.n_train, steps, 1)) < 0.5], -1),
                    jnp.float32)
    y = jnp.sum(x[..., :1] * x[..., 1:], axis=1)
    rows = jnp.broadcast_to(ops.pack_rows(x, y), (seeds, cfg.n_train, 16)) + 0.0
    index = jnp.asarray(rng.integers(0, cfg.n_train, (seeds, batch)), jnp.int32)
    flat = jnp.asarray(rng.normal(0, 0.5, (seeds, ops.n_params(hidden))), jnp.float32)
    call = jax.jit(jax.vmap(lambda p, r, i: ops.loss_and_grad_flat(p, r, i, None, steps)))
    jax.block_until_ready(call(flat, rows, index))
    wall0, cpu0 = clocks()
    for _ in range(repeats):
        out = call(flat, rows, index)
    jax.block_until_ready(out)
    wall1, cpu1 = clocks()
    per_epoch = cfg.n_train / batch / (repeats * seeds) * 1e3
    return (wall1 - wall0) * per_epoch, (cpu1 - cpu0) / CORES * per_epoch


def train_ms(hidden: int, seeds: int, epochs: int, engine: str) -> dict:
    """Steady-state training rate: from the end of the first chunk (which includes compiling)
    to the end of the last, one seed batch; wall and CPU / cores, ms per seed-epoch."""
    cfg = gj.Config(hidden_size=hidden, epochs=epochs)
    marks = []
    start = clocks()
    run = gj.train(cfg, seeds=range(seeds), progress=False, chunk_epochs=max(1, epochs // 3),
                   engine=engine, seed_batch=seeds,
                   on_chunk=lambda done: marks.append((done, *clocks())))
    (done0, wall0, cpu0), (done1, wall1, cpu1) = marks[0], marks[-1]
    per = 1e3 / (seeds * (done1 - done0))
    ms = (wall1 - wall0) * per
    return {"engine": run.engine, "ms": ms, "cpu_ms": (cpu1 - cpu0) / CORES * per,
            "compile_s": (wall0 - start[0]) - seeds * done0 * ms / 1e3}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hidden", default="1,2,4,8,16")
    parser.add_argument("--seeds", type=int, default=256)
    parser.add_argument("--epochs", type=int, default=9, help="native training epochs")
    parser.add_argument("--xla-epochs", type=int, default=6, help="0: no XLA rows")
    parser.add_argument("--out", default="", help="write the rows as JSON here")
    args = parser.parse_args(argv)
    header = {"cores": CORES, "load_avg_at_start": os.getloadavg(), "jax": jax.__version__,
              "command": "python " + " ".join(sys.argv)}
    print(json.dumps(header), flush=True)
    if native.load() is None:
        print(f"native kernels unavailable: {native.unavailable_reason()}")
        return 1
    rows = []
    for hidden in [int(h) for h in args.hidden.split(",") if h]:
        row = {"hidden": hidden, "seeds": args.seeds}
        row["kernel_ms"], row["kernel_cpu_ms"] = kernel_ms(hidden, min(args.seeds, 64))
        fast = train_ms(hidden, args.seeds, args.epochs, "native")
        row.update(native_ms=fast["ms"], native_cpu_ms=fast["cpu_ms"],
                   native_compile_s=fast["compile_s"])
        if args.xla_epochs:
            slow = train_ms(hidden, args.seeds, args.xla_epochs, "xla")
            row.update(xla_ms=slow["ms"], xla_cpu_ms=slow["cpu_ms"],
                       xla_compile_s=slow["compile_s"], native_vs_xla=slow["ms"] / fast["ms"])
        rows.append(row)
        print(json.dumps({k: round(v, 4) if isinstance(v, float) else v
                          for k, v in row.items()}), flush=True)
    header["load_avg_at_end"] = os.getloadavg()
    if args.out:
        with open(args.out, "w") as handle:
            json.dump({"machine": header, "rows": rows}, handle, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
