"""CPU throughput: the blog's loop, a vectorized PyTorch ensemble and gru_jax, side by side.

    python experiments/bench_throughput.py                      # the table in results/bench_cpu/
    python experiments/bench_throughput.py --jax-seeds 1,16,64 --jax-epochs 20 --xla-seeds ''
    python experiments/bench_throughput.py --skip-baselines     # a machine without torch
    python experiments/bench_throughput.py --hidden 1,2,4,8,16  # adds the any-hidden-size table
    python experiments/bench_throughput.py --hidden 1,2,4,8,16 --only-hidden \
        --hidden-engines auto --hidden-repeat 3                  # results/bench_hidden_final/
    python experiments/bench_throughput.py --hidden 1,2 --only-hidden --hidden-seeds 16 \
        --hidden-epochs 3 --torch-epochs 2 --out /tmp/bench        # a smoke run

One invocation runs, in this order: the blog's own script (``seed_reference.py``, a subprocess,
a few epochs), the vectorized PyTorch ensemble (``experiments/torch_ensemble.py``) at 1024
seeds, gru_jax's native CPU engine at each of ``--jax-seeds`` and its XLA engine at each of
``--xla-seeds``. gru_jax's rate is the steady state between the end of its first chunk (which
includes compilation) and the end of the last; compile time is reported apart. Peak RSS is
this process's high-water mark after each gru_jax run (it only grows, so a row's value bounds
that run from above). Writes ``--out``/bench_cpu.{json,md}.

``--hidden`` then adds, per hidden size H, ``--hidden-seeds`` seeds of: gru_jax with
``engine="auto"`` and with ``engine="xla"`` (skipped where auto chose xla), and the PyTorch
ensemble at the same H (``--torch-epochs``; its fastest form, at each of
``--hidden-torch-threads``), each row in its own subprocess so its peak RSS (``ru_maxrss``) is
its own. A gru_jax row reports the steady ms per seed-epoch, the ratio to the FASTEST PyTorch
row at that H, the compile seconds (first chunk beyond the steady rate:
XLA compilation plus one seed batch's setup), and setup per seed: what ``train`` spends before
the first step (streams, datasets, initial params, first orders; ``timing.setup_seconds``),
the median of three consecutive seed batches timed after a warm-up on other seeds (each batch
is in the JSON), with the warm-up's extra time (setup compilation) reported as
``setup_compile_s``. The PyTorch row's setup is its init and data (one shared
dataset). ``--hidden-repeat`` runs the rows of each H that many times, alternating PyTorch and
gru_jax, and adds per-H medians and ranges: on a shared VM one pair of rows can move by 20%.
Writes ``--out``/bench_hidden.{json,md}.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import subprocess
import sys
import time


HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
sys.path.insert(0, HERE)
import gru_jax as gj  # noqa: E402
from timing import setup_seconds, timed_train  # noqa: E402


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo ('' where there is none)."""
    try:
        with open("/proc/cpuinfo") as handle:
            names = [line.split(":", 1)[1].strip() for line in handle
                     if line.startswith("model name")]
    except OSError:
        return ""
    return names[0] if names else ""


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6


def blog_loop_ms(script: str, epochs: int, threads: int) -> float:
    """ms per epoch of the blog's own loop (one seed), parsed from its last line."""
    out_json = os.path.join("/tmp", f"blog_bench_{os.getpid()}.json")
    proc = subprocess.run([sys.executable, script, "--epochs", str(epochs), "--seed", "37",
                           "--out", out_json, "--threads", str(threads)],
                          capture_output=True, text=True, check=True)
    match = re.search(r"per_epoch=([\d.]+)ms", proc.stdout)
    return float(match.group(1))


def torch_ensemble_ms(n_seeds: int, epochs: int, threads) -> float:
    import torch_ensemble
    result = torch_ensemble.train_ensemble(n_seeds, epochs, seed=0, threads=threads)
    return float(result["per_seed_epoch_ms"])


def jax_row(n_seeds: int, epochs: int, chunk: int, engine: str, cfg=None) -> dict:
    """gru_jax's steady rate (see ``timing.timed_train``); ``cfg`` default: the blog's."""
    cfg = gj.Config(epochs=epochs) if cfg is None else cfg
    _, stats = timed_train(cfg, n_seeds, chunk, engine=engine)
    rate = stats["seed_epochs_per_s"]
    return {"engine": stats["engine"], "seeds": n_seeds, "seed_batch": stats["seed_batch"],
            "epochs": epochs,
            "seed_epochs_per_s": rate, "ms_per_seed_epoch": 1e3 / rate,
            "compile_s": stats["compile_s"], "peak_rss_gb": peak_rss_gb()}


def hidden_jax_row(hidden: int, n_seeds: int, epochs: int, engine: str) -> dict:
    """One gru_jax row of the any-hidden-size table (run in a child process)."""
    cfg = gj.Config(epochs=epochs, hidden_size=hidden)
    start = time.perf_counter()
    setup_seconds(cfg, n_seeds, engine, first_seed=10**6)            # compile setup
    warm = time.perf_counter() - start
    # three consecutive batches, as a large run meets them; the median (one batch can move by
    # 20% on a shared VM, and the first after the warm-up is the slowest)
    setups = [setup_seconds(cfg, n_seeds, engine, first_seed=k * n_seeds) for k in range(3)]
    setup = sorted(setups)[1]
    row = jax_row(n_seeds, epochs, max(1, epochs // 3), engine, cfg)
    row.update(hidden=hidden, engine_asked=engine, setup_ms_per_seed=1e3 * setup / n_seeds,
               setup_ms_per_seed_batches=[1e3 * t / n_seeds for t in setups],
               setup_compile_s=warm - setups[0])
    return row


def hidden_torch_row(hidden: int, n_seeds: int, epochs: int, threads) -> dict:
    """The PyTorch ensemble's row at hidden size ``hidden`` (run in a child process)."""
    import torch_ensemble
    result = torch_ensemble.train_ensemble(n_seeds, epochs, seed=0, threads=threads,
                                           hidden=hidden)
    form = torch_ensemble.default_form(hidden)
    return {"engine": f"torch ensemble ({form}, {threads} thread{'s' if threads > 1 else ''})",
            "threads": threads, "form": form, "hidden": hidden, "seeds": n_seeds,
            "epochs": epochs,
            "ms_per_seed_epoch": float(result["per_seed_epoch_ms"]),
            "setup_ms_per_seed": 1e3 * result["setup_s"] / n_seeds,
            "peak_rss_gb": peak_rss_gb()}


def child_row(spec: dict) -> dict:
    if spec["kind"] == "torch":
        return hidden_torch_row(spec["hidden"], spec["seeds"], spec["epochs"], spec["threads"])
    return hidden_jax_row(spec["hidden"], spec["seeds"], spec["epochs"], spec["engine"])


def run_child(spec: dict) -> dict:
    """``child_row(spec)`` in a fresh Python process (its own peak RSS and compile caches)."""
    proc = subprocess.run([sys.executable, os.path.abspath(__file__), "--child-row",
                           json.dumps(spec)], capture_output=True, text=True)
    rows = [line for line in proc.stdout.splitlines() if line.startswith("ROW ")]
    if proc.returncode or not rows:
        raise RuntimeError(f"benchmark row {spec} failed:\n{proc.stderr[-3000:]}")
    return json.loads(rows[-1][4:])


def hidden_table(args) -> list[dict]:
    """The any-hidden-size rows, printed as they come: per H, ``--hidden-repeat`` rounds of
    the PyTorch rows then the gru_jax rows (each row marked with its round)."""
    rows = []
    for hidden in [int(h) for h in args.hidden.split(",") if h]:
        for round_index in range(args.hidden_repeat):
            rows += hidden_round(args, hidden, round_index)
    return rows


def hidden_round(args, hidden: int, round_index: int) -> list[dict]:
    """One round at hidden size ``hidden``: PyTorch at each thread count, then gru_jax's
    engines, each ratio against this round's fastest PyTorch row."""
    rows = []
    common = dict(hidden=hidden, seeds=args.hidden_seeds)
    torch_row = None
    for threads in ([] if args.skip_baselines else _ints(args.hidden_torch_threads)):
        row = run_child(dict(common, kind="torch", epochs=args.torch_epochs, threads=threads))
        row["round"] = round_index
        rows.append(row)
        print(json.dumps(_rounded(row)), flush=True)
        if torch_row is None or row["ms_per_seed_epoch"] < torch_row["ms_per_seed_epoch"]:
            torch_row = row                        # the baseline: the fastest of them
    for engine in _engines(args.hidden_engines):
        epochs = args.hidden_xla_epochs if engine == "xla" else args.hidden_epochs
        row = run_child(dict(common, kind="jax", engine=engine, epochs=epochs))
        row["round"] = round_index
        if torch_row is not None:
            row["x_torch_ensemble"] = torch_row["ms_per_seed_epoch"] / row["ms_per_seed_epoch"]
        rows.append(row)
        print(json.dumps(_rounded(row)), flush=True)
        if engine == "auto" and row["engine"] == "xla":
            break                                  # auto chose xla: the xla row is this one
    return rows


def hidden_summary(rows: list[dict]) -> list[str]:
    """Per H and gru_jax engine: median and range over the rounds of the ratio to PyTorch, the
    ms per seed-epoch and the setup ms per seed (Markdown lines)."""
    import numpy as np
    lines = ["", "Over the rounds (median, and min-max):", "",
             "| H | engine | rounds | ms per seed-epoch | x torch ensemble | setup ms per seed |",
             "|---:|---|---:|---|---|---|"]
    keys = sorted({(r["hidden"], r["engine"]) for r in rows if "compile_s" in r})
    for hidden, engine in keys:
        mine = [r for r in rows if (r["hidden"], r["engine"]) == (hidden, engine)
                and "compile_s" in r]
        cell = lambda key, spec: (
            "-" if any(key not in r for r in mine) else
            f"{format(float(np.median([r[key] for r in mine])), spec)} "
            f"({format(min(r[key] for r in mine), spec)}-"
            f"{format(max(r[key] for r in mine), spec)})")
        lines.append(f"| {hidden} | {engine} | {len(mine)} | {cell('ms_per_seed_epoch', '.3f')} "
                     f"| {cell('x_torch_ensemble', '.1f')} | {cell('setup_ms_per_seed', '.3f')} |")
    return lines


def _engines(text: str) -> list[str]:
    engines = [e.strip() for e in text.split(",") if e.strip()]
    unknown = sorted(set(engines) - {"auto", "xla", "native"})
    if unknown:
        raise SystemExit(f"--hidden-engines: unknown {unknown}; use auto, native, xla")
    return engines


def _ints(text: str) -> list[int]:
    return [int(v) for v in text.split(",") if v.strip()]


def _rounded(row: dict) -> dict:
    return {k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()}


def hidden_markdown(rows: list[dict], machine: dict) -> str:
    processor = machine['processor'] or machine['machine']
    lines = [f"# CPU throughput at every hidden size ({machine['cpus']} cores, {processor})", "",
             f"Command: `{machine['command']}`; load average at start "
             f"{machine['load_avg_at_start']}, at end {machine.get('load_avg_at_end')}", "",
             "| H | engine | seeds | epochs | ms per seed-epoch | x torch ensemble | compile s "
             "| setup ms per seed | setup compile s | peak RSS GB |",
             "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    fmt = lambda row, key, spec: format(row[key], spec) if key in row else "-"
    for r in rows:
        lines.append(f"| {r['hidden']} | {r['engine']} | {r['seeds']} | {r['epochs']} | "
                     f"{r['ms_per_seed_epoch']:.4f} | {fmt(r, 'x_torch_ensemble', '.2f')} | "
                     f"{fmt(r, 'compile_s', '.1f')} | {r['setup_ms_per_seed']:.3f} | "
                     f"{fmt(r, 'setup_compile_s', '.1f')} | {r['peak_rss_gb']:.2f} |")
    if any(r.get("round", 0) > 0 for r in rows):
        lines += hidden_summary(rows)
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reference", default=os.path.join(HERE, "..", "..", "shared", "reference",
                                                            "seed_reference.py"))
    parser.add_argument("--blog-epochs", type=int, default=20)
    parser.add_argument("--torch-seeds", type=int, default=1024)
    parser.add_argument("--torch-epochs", type=int, default=3)
    parser.add_argument("--torch-threads", type=int, default=1,
                        help="torch threads for both PyTorch baselines (default 1: on a shared "
                             "2-core machine one thread is several times faster than two)")
    parser.add_argument("--jax-seeds", default="1,16,64,256,1024,4096",
                        help="seed counts for the native CPU engine")
    parser.add_argument("--xla-seeds", default="256,1024",
                        help="seed counts for the XLA engine ('' for none)")
    parser.add_argument("--skip-baselines", action="store_true",
                        help="no PyTorch baselines (ratios are then left out)")
    parser.add_argument("--jax-epochs", type=int, default=0,
                        help="epochs per gru_jax run (default: scaled so each run is ~60k "
                             "seed-epochs)")
    parser.add_argument("--out", default=os.path.join(HERE, "..", "results", "bench_cpu"))
    parser.add_argument("--hidden", default="",
                        help="comma-separated hidden sizes for the any-hidden-size table, "
                             "e.g. 1,2,4,8,16 ('' for none)")
    parser.add_argument("--hidden-seeds", type=int, default=256,
                        help="seeds per row of the any-hidden-size table")
    parser.add_argument("--hidden-epochs", type=int, default=30,
                        help="epochs per gru_jax row of the any-hidden-size table (3 chunks; "
                             "the rate is taken over the last two)")
    parser.add_argument("--hidden-xla-epochs", type=int, default=6,
                        help="epochs per XLA-engine row of the any-hidden-size table")
    parser.add_argument("--hidden-repeat", type=int, default=1,
                        help="rounds of the rows at each H (PyTorch and gru_jax alternate); "
                             "the table then adds medians and ranges over the rounds")
    parser.add_argument("--hidden-torch-threads", default="1,2",
                        help="torch thread counts for the any-hidden-size PyTorch rows; the "
                             "ratio is to the fastest of them")
    parser.add_argument("--hidden-engines", default="auto,xla",
                        help="gru_jax engines for the any-hidden-size rows (auto: native on a "
                             "CPU up to H = 16; xla is skipped where auto chose it)")
    parser.add_argument("--only-hidden", action="store_true",
                        help="only the any-hidden-size table (no blog loop, no H = 1 sweep)")
    parser.add_argument("--child-row", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child_row is not None:
        print("ROW " + json.dumps(child_row(json.loads(args.child_row))), flush=True)
        return 0

    machine = {"machine": platform.machine(), "processor": platform.processor() or cpu_model(),
               "cpus": os.cpu_count(), "python": platform.python_version(),
               "load_avg_at_start": os.getloadavg(), "jax": __import__("jax").__version__,
               "command": "python " + " ".join(sys.argv)}
    print(json.dumps(machine), flush=True)
    if not args.only_hidden:
        h1_sweep(args, machine)
    if args.hidden:
        rows = hidden_table(args)
        machine["load_avg_at_end"] = os.getloadavg()
        os.makedirs(args.out, exist_ok=True)
        with open(os.path.join(args.out, "bench_hidden.json"), "w") as handle:
            json.dump({"machine": machine, "rows": rows}, handle, indent=2)
        text = hidden_markdown(rows, machine)
        with open(os.path.join(args.out, "bench_hidden.md"), "w") as handle:
            handle.write(text)
        print(text)
    return 0


def h1_sweep(args, machine: dict) -> None:
    """The hidden-size-1 rows: blog loop, PyTorch ensemble, native and xla seed sweeps."""
    blog_ms = torch_ms = float("nan")
    if not args.skip_baselines:
        blog_ms = blog_loop_ms(args.reference, args.blog_epochs, args.torch_threads or 1)
        print(f"blog loop: {blog_ms:.2f} ms per epoch (one seed)", flush=True)
        torch_ms = torch_ensemble_ms(args.torch_seeds, args.torch_epochs, args.torch_threads)
        print(f"vectorized torch ensemble: {torch_ms:.3f} ms per seed-epoch at "
              f"{args.torch_seeds} seeds", flush=True)
    rows = []
    plan = [("native", int(s)) for s in args.jax_seeds.split(",") if s]
    plan += [("xla", int(s)) for s in args.xla_seeds.split(",") if s]
    for engine, n_seeds in plan:
        epochs = args.jax_epochs or int(min(294, max(12, 60000 // n_seeds)))
        if engine == "xla" and not args.jax_epochs:
            epochs = max(12, epochs // 4)             # ~4x slower: keep the run short
        chunk = max(1, epochs // 3)
        row = jax_row(n_seeds, epochs, chunk, engine)
        row["x_torch_ensemble"] = torch_ms / row["ms_per_seed_epoch"]
        row["x_blog_loop"] = blog_ms / row["ms_per_seed_epoch"]
        rows.append(row)
        print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()}),
              flush=True)
    machine["load_avg_at_end"] = os.getloadavg()
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "bench_cpu.json"), "w") as handle:
        json.dump({"machine": machine, "blog_loop_ms_per_epoch": blog_ms,
                   "torch_ensemble_ms_per_seed_epoch": torch_ms,
                   "torch_ensemble_seeds": args.torch_seeds, "gru_jax": rows}, handle, indent=2)
    processor = machine['processor'] or machine['machine']
    lines = [f"# CPU throughput ({machine['cpus']} cores, {processor})",
             "", f"Command: `{machine['command']}`; load average at start "
                 f"{machine['load_avg_at_start']}", "",
             f"- blog's loop (seed_reference.py, 1 seed): {blog_ms:.2f} ms per epoch",
             f"- vectorized PyTorch ensemble at {args.torch_seeds} seeds: {torch_ms:.3f} ms per "
             "seed-epoch",
             "", "| engine | seeds | seed batch | epochs | seed-epochs/s | ms per seed-epoch "
                 "| x torch ensemble | x blog loop | compile s | peak RSS GB |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['engine']} | {r['seeds']} | {r['seed_batch']} | {r['epochs']} | "
                     f"{r['seed_epochs_per_s']:,.0f} | "
                     f"{r['ms_per_seed_epoch']:.4f} | {r['x_torch_ensemble']:.2f} | "
                     f"{r['x_blog_loop']:.0f} | {r['compile_s']:.1f} | {r['peak_rss_gb']:.2f} |")
    text = "\n".join(lines) + "\n"
    with open(os.path.join(args.out, "bench_cpu.md"), "w") as handle:
        handle.write(text)
    print(text)


if __name__ == "__main__":
    sys.exit(main())
