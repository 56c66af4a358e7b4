"""Start-up and compilation-cache benchmark: fresh processes, timed from outside.

    python experiments/bench_startup.py                       # results/bench_startup/
    python experiments/bench_startup.py --repeat 1 --rounds 1 --out /tmp/bench_startup  # smoke

One invocation measures, each in a fresh Python process:

1. ``python -c "import jax"``, ``python -c "import gru_jax"``, ``python -c "import gru_jax;
   gru_jax.train"`` (the trainer: JAX, Flax, optax), ``gru-jax --version`` and
   ``gru-jax train --help``: ``--repeat`` rounds, the commands interleaved within a round (so
   a load that drifts on a shared machine touches them alike); medians;
2. ``gru-jax train --seeds 8 --epochs 20 --out DIR --no-progress``, ``--rounds`` rounds of
   four runs: with the persistent compilation cache on (a new, empty cache directory each
   round: ``GRU_JAX_COMPILATION_CACHE=<tmp>/xla``), first (cold: every program compiled and
   written) then second (warm: loaded); then with the cache off
   (``GRU_JAX_COMPILATION_CACHE=0``), first and second. The command runs through its entry
   point (``gru_jax.cli.main``, what the ``gru-jax`` script calls) in ``python -c`` with a
   ``jax.monitoring`` listener, which adds up XLA's compile time (``backend_compile``) and
   the time spent reading the cache.

Each training row gives the process's wall time, the time before the training loop (imports,
datasets, tracing and lowering every program, compiling the init program, loading the native
kernels), the training loop (``run.json`` ``wall_s``: the chunks, the first one's compilation
included) and the XLA compile and cache-read seconds inside them; medians over the rounds.
The ratios are warm over cold. The suite's own cache variables (``JAX_COMPILATION_CACHE_DIR``
...) are removed from the children's environment.

Writes ``--out``/bench_startup.{json,md} and prints the Markdown.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
GRU_JAX = shutil.which("gru-jax") or os.path.join(os.path.dirname(sys.executable), "gru-jax")
TRAIN_ARGS = ["train", "--seeds", "8", "--epochs", "20", "--no-progress"]
#: The test suite's cache settings, which a child must not inherit.
SUITE_VARIABLES = ("JAX_COMPILATION_CACHE_DIR", "JAX_COMPILATION_CACHE_MAX_SIZE",
                   "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "GRU_JAX_COMPILATION_CACHE")


def child_environment(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in SUITE_VARIABLES}
    env.update(extra)
    return env


def timed(argv: list[str], env: dict) -> float:
    """Wall seconds of one fresh process (it must succeed)."""
    start = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, text=True, cwd=ROOT)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed:\n{done.stderr[-3000:]}")
    return elapsed


#: ``gru-jax ARGS`` through its entry point, with XLA's compile and cache-read seconds written
#: to $BENCH_DURATIONS as JSON at exit.
DRIVER = """
import atexit, json, os, sys
import jax.monitoring
seconds = {"compile": 0.0, "cache_read": 0.0}
def listen(name, duration, **kwargs):
    if name.endswith("backend_compile_duration"):
        seconds["compile"] += duration
    elif name.endswith("cache_retrieval_time_sec"):
        seconds["cache_read"] += duration
jax.monitoring.register_event_duration_secs_listener(listen)
atexit.register(lambda: json.dump(seconds, open(os.environ["BENCH_DURATIONS"], "w")))
from gru_jax.cli import main
sys.exit(main(sys.argv[1:]))
"""


def interleaved_medians(commands: dict, repeat: int, env: dict) -> dict:
    """``{name: {"median_s", "times_s"}}``: ``repeat`` rounds, every command once a round."""
    times = {name: [] for name in commands}
    for _ in range(repeat):
        for name, argv in commands.items():
            times[name].append(timed(argv, env))
    return {name: {"median_s": statistics.median(t), "times_s": t} for name, t in times.items()}


def train_row(label: str, out: str, env: dict) -> dict:
    durations = out + ".durations.json"
    wall = timed([sys.executable, "-c", DRIVER, *TRAIN_ARGS, "--out", out],
                 dict(env, BENCH_DURATIONS=durations))
    with open(os.path.join(out, "run.json")) as handle:
        loop = float(json.load(handle)["wall_s"])
    with open(durations) as handle:
        seconds = json.load(handle)
    return {"run": label, "process_s": wall, "before_loop_s": wall - loop,
            "training_loop_s": loop, "xla_compile_s": seconds["compile"],
            "cache_read_s": seconds["cache_read"]}


ROW_KEYS = ("process_s", "before_loop_s", "training_loop_s", "xla_compile_s", "cache_read_s")
LABELS = ("cache on, first (cold)", "cache on, second (warm)", "cache off, first",
          "cache off, second")


def train_rounds(rounds: int, work: str) -> tuple[list, list, int]:
    """``rounds`` x the four runs; returns (median rows, every row, cache entries)."""
    every, entries = [], 0
    for round_index in range(rounds):
        cache = os.path.join(work, f"xla_{round_index}")
        on = child_environment(GRU_JAX_COMPILATION_CACHE=cache)
        off = child_environment(GRU_JAX_COMPILATION_CACHE="0")
        for index, (label, env) in enumerate(zip(LABELS, (on, on, off, off))):
            out = os.path.join(work, f"run_{round_index}_{index}")
            every.append(dict(train_row(label, out, env), round=round_index))
            if index == 0:
                entries = len(os.listdir(cache))
    medians = [dict({"run": label}, **{key: statistics.median(r[key] for r in every
                                                              if r["run"] == label)
                                       for key in ROW_KEYS}) for label in LABELS]
    return medians, every, entries


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=7,
                        help="rounds of the import rows (medians)")
    parser.add_argument("--rounds", type=int, default=3,
                        help="rounds of the four training runs (medians)")
    parser.add_argument("--out", default=os.path.join(ROOT, "results", "bench_startup"))
    args = parser.parse_args(argv)
    env = child_environment()
    python = sys.executable
    imports = interleaved_medians({
        "import jax": [python, "-c", "import jax"],
        "import gru_jax": [python, "-c", "import gru_jax"],
        "import gru_jax; gru_jax.train": [python, "-c", "import gru_jax; gru_jax.train"],
        "gru-jax --version": [GRU_JAX, "--version"],
        "gru-jax train --help": [GRU_JAX, "train", "--help"]}, args.repeat, env)
    work = tempfile.mkdtemp(prefix="gru_jax_bench_startup_")
    try:
        rows, every, entries = train_rounds(args.rounds, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    jax_s = imports["import jax"]["median_s"]
    given = " ".join(argv if argv is not None else sys.argv[1:])
    result = {"command": ("python experiments/bench_startup.py " + given).strip(),
              "host": platform.node(), "cpus": os.cpu_count(), "python": platform.python_version(),
              "imports": imports, "train": rows, "train_every_round": every,
              "cache_entries": entries,
              "ratios": {
                  "import gru_jax / import jax": imports["import gru_jax"]["median_s"] / jax_s,
                  "gru_jax.train / import jax":
                      imports["import gru_jax; gru_jax.train"]["median_s"] / jax_s,
                  "warm / cold process (cache on)": rows[1]["process_s"] / rows[0]["process_s"],
                  "warm / cold before the loop":
                      rows[1]["before_loop_s"] / rows[0]["before_loop_s"],
                  "warm / cold training loop": rows[1]["training_loop_s"]
                  / rows[0]["training_loop_s"],
                  "warm / cold XLA compile": rows[1]["xla_compile_s"] / rows[0]["xla_compile_s"],
                  "second / first process (cache off)": rows[3]["process_s"] / rows[2]["process_s"],
                  "warm (cache on) / second (cache off) process":
                      rows[1]["process_s"] / rows[3]["process_s"]}}
    text = markdown(result)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "bench_startup.json"), "w") as handle:
        json.dump(result, handle, indent=2)
    with open(os.path.join(args.out, "bench_startup.md"), "w") as handle:
        handle.write(text)
    print(text)
    return 0


def markdown(result: dict) -> str:
    lines = ["# Start-up and the compilation cache", "",
             f"`{result['command']}` on {result['host']} ({result['cpus']} CPUs, Python "
             f"{result['python']}); every row a fresh process, timed from outside.", "",
             "| command | median wall (s) | vs `import jax` |", "|---|---:|---:|"]
    jax_s = result["imports"]["import jax"]["median_s"]
    for name, row in result["imports"].items():
        lines.append(f"| `{name}` | {row['median_s']:.2f} | {row['median_s'] / jax_s:.2f}x |")
    lines += ["", "`gru-jax train --seeds 8 --epochs 20 --no-progress`, the persistent compilation "
              f"cache on (a new directory; {result['cache_entries']} entries after the first "
              f"run) and off; medians of {len(result['train_every_round']) // 4} rounds:", "",
              "| run | process (s) | before the training loop (s) | training loop (s) | "
              "XLA compile (s) | cache reads (s) |", "|---|---:|---:|---:|---:|---:|"]
    for row in result["train"]:
        lines.append(f"| {row['run']} | {row['process_s']:.2f} | {row['before_loop_s']:.2f} | "
                     f"{row['training_loop_s']:.2f} | {row['xla_compile_s']:.2f} | "
                     f"{row['cache_read_s']:.2f} |")
    lines += ["", "| ratio | value |", "|---|---:|"]
    lines += [f"| {name} | {value:.2f} |" for name, value in result["ratios"].items()]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
