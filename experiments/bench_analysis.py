"""Answers at the speed of training: the census, the comparison and the report of N seeds,
beside the time to train the same N seeds for 300 epochs, in one invocation (issue 23).

    python experiments/bench_analysis.py --sizes 256,1024,10000,100000 \
        --out results/bench_analysis

Ensembles: N <= 1024 are the first N seeds of the committed ``results/runs/blog1024``; larger
N are SYNTHETIC: seeds of blog1024 drawn at random (``default_rng(0)``), every weight, init and
snapshot jittered by 1% (multiplicative Gaussian), the losses scaled by a log-normal factor and
kept every 10th epoch. Each ensemble is written to a temporary run directory.

Each part runs in a FRESH process (imports and compilations included, as a user's command
pays them; the persistent compilation cache on, as the CLI has it), timed as a whole and with
its peak resident memory (``os.wait4``):

- ``census``: :func:`gru_jax.analysis.cache.cached_census` with no cache (features, mixtures,
  stability, commitment);
- ``compare``: :func:`gru_jax.reports.run_compare` with the cached census, without the
  stability runs (``--no-stability``), and ``compare+stability`` with them (N <= 1024);
- ``report``: :func:`gru_jax.reports.write_report` with the cached census;
- ``train``: ``gj.train(Config(epochs=300), range(N))``, measured up to ``--max-train``
  seeds; beyond, extrapolated from the largest measured size's seconds per seed (the native
  engine's rate is flat in the seed count on CPUs; stated in the table).

Per-section times of compare and report come from their ``timings.json``. Results:
``OUT/bench.json`` and ``OUT/README.md`` (the table, the machine, the command).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))

import gru_jax as gj  # noqa: E402
from gru_jax.files import write_json, write_text  # noqa: E402


def synthetic_run(run: "gj.Run", count: int, seed: int = 0):
    """``(Run, pick, rng)``: ``count`` seeds of ``run`` drawn at random (``pick``), weights,
    inits and snapshots jittered by 1%, losses scaled by a log-normal factor and kept every
    10th epoch; ``rng`` continues the draws (module docstring)."""
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, run.n_seeds, count)
    jitter = lambda a: (a * (1 + 0.01 * rng.standard_normal(a.shape))).astype(np.float32)
    take = lambda tree: {m: {k: jitter(np.asarray(v)[pick]) for k, v in sub.items()}
                         for m, sub in tree.items()}
    loss = np.asarray(run.train_loss)
    kept = np.unique(np.append(np.arange(0, loss.shape[1], 10), loss.shape[1] - 1))
    factor = np.exp(0.3 * rng.standard_normal((count, 1))).astype(np.float32)
    fake = gj.Run(config=run.config, seeds=np.arange(count), eval_epochs=run.eval_epochs,
               init_params=take(run.init_params), params=take(run.params),
               snapshots=take(run.snapshots), train_loss=loss[pick][:, kept] * factor,
               test_loss=np.asarray(run.test_loss)[pick] * factor,
               lr=np.asarray(run.lr)[pick], diverged=np.asarray(run.diverged)[pick],
               loss_every=10)
    return fake, pick, rng


def make_ensemble(base: "gj.Run", count: int, path: str, seed: int = 0) -> str:
    """A run directory of ``count`` seeds (module docstring)."""
    if count <= base.n_seeds:
        base.select(list(range(count))).save(path)
        return path
    synthetic_run(base, count, seed)[0].save(path)
    return path


def child(part: str, run_dir: str, count: int) -> None:
    """One part, in this (fresh) process, with the persistent compilation cache on as the CLI
    has it (``gru-jax compare``, ``report``, ``train``): a part reuses what an earlier part or
    size compiled for the same shapes."""
    gj.compilation_cache.enable()
    if part == "census":
        shutil.rmtree(os.path.join(run_dir, "analysis"), ignore_errors=True)
        gj.analysis.cache.cached_census(run_dir)
    elif part in ("compare", "compare+stability"):
        options = gj.reports.CompareOptions(
            stability_epochs=gj.reports.CompareOptions.stability_epochs
            if part == "compare+stability" else 0)
        gj.reports.run_compare(run_dir, options=options)
    elif part == "report":
        gj.reports.write_report(run_dir, run_comparison=False)
    elif part == "train":
        gj.train(gj.Config(epochs=300), range(count), progress=False)


def measure(part: str, run_dir: str, count: int) -> dict:
    """Wall seconds and peak RSS (MB) of :func:`child` in a fresh process."""
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, __file__, "--child", part, "--run-dir", run_dir,
                             "--count", str(count)])
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if status != 0:
        raise SystemExit(f"{part} at {count} seeds failed (status {status})")
    return {"wall_s": wall, "peak_mb": usage.ru_maxrss / 1024}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="256,1024,10000,100000")
    parser.add_argument("--base", default="results/runs/blog1024")
    parser.add_argument("--max-train", type=int, default=1024,
                        help="train 300 epochs up to this many seeds; extrapolate beyond")
    parser.add_argument("--max-report", type=int, default=10000,
                        help="compare and report up to this many seeds (census at every size)")
    parser.add_argument("--out", default="results/bench_analysis")
    parser.add_argument("--child", default=None)
    parser.add_argument("--run-dir", default=None)
    parser.add_argument("--count", type=int, default=0)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.run_dir, args.count)
        return
    sizes = [int(s) for s in args.sizes.split(",")]
    base = gj.Run.load(args.base)
    rows, rate = [], None
    scratch = tempfile.mkdtemp(prefix="bench_analysis_")
    try:
        for count in sizes:
            run_dir = make_ensemble(base, count, os.path.join(scratch, f"n{count}"))
            row = {"seeds": count, "synthetic": count > base.n_seeds}
            if count <= args.max_train:
                row["train"] = measure("train", run_dir, count)
                rate = row["train"]["wall_s"] / count
            else:
                row["train"] = {"wall_s": rate * count, "extrapolated": True}
            row["census"] = measure("census", run_dir, count)
            if count <= args.max_report:
                row["compare"] = measure("compare", run_dir, count)
                row["compare_sections"] = json.load(open(os.path.join(
                    run_dir, "compare", "timings.json")))
                if count <= base.n_seeds:
                    row["compare+stability"] = measure("compare+stability", run_dir, count)
                row["report"] = measure("report", run_dir, count)
                row["report_sections"] = json.load(open(os.path.join(
                    run_dir, "report", "timings.json")))
            rows.append(row)
            print(json.dumps(row), flush=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    command = "python experiments/bench_analysis.py " + " ".join(sys.argv[1:])
    import jax
    machine = (f"{platform.machine()}, {os.cpu_count()} cores, jax {jax.__version__}, "
               f"gru_jax {gj.__version__}")
    os.makedirs(args.out, exist_ok=True)
    write_json(os.path.join(args.out, "bench.json"), {"command": command, "rows": rows,
                                                      "machine": machine})
    write_text(os.path.join(args.out, "README.md"), markdown(rows, command, machine))
    print(markdown(rows, command, machine))


def markdown(rows, command: str, machine: str) -> str:
    cell = lambda row, part: (f"{row[part]['wall_s']:.0f} s, {row[part]['peak_mb']:.0f} MB"
                              if part in row else "-")
    lines = ["# The census, comparison and report against training (issue 23)", "",
             f"Command: `{command}`; machine: {machine}. Every part in a fresh process "
             "(imports and compilation included); peak resident memory per process.", "",
             "| seeds | train 300 epochs | census | compare (no stability) | compare with "
             "stability | report | (compare + report) / train |", "|---|---|---|---|---|---|---|"]
    for row in rows:
        train = row["train"]["wall_s"]
        both = sum(row[p]["wall_s"] for p in ("compare", "report") if p in row)
        lines.append(
            f"| {row['seeds']}{' (synthetic)' if row['synthetic'] else ''} | {train:.0f} s"
            f"{' (extrapolated)' if row['train'].get('extrapolated') else ''} | "
            f"{cell(row, 'census')} | {cell(row, 'compare')} | "
            f"{cell(row, 'compare+stability')} | {cell(row, 'report')} | "
            + (f"{both / train:.2f} |" if "report" in row else "- |"))
    lines += ["", "Seconds per section (compare without stability; report), from the parts' "
              "`timings.json`:", ""]
    for row in rows:
        for key in ("compare_sections", "report_sections"):
            if key in row:
                lines.append(f"- {row['seeds']} seeds, {key.split('_')[0]}: " + ", ".join(
                    f"{name} {seconds:.1f}" for name, seconds in row[key].items()))
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
