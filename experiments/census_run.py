"""The census (families and strategies) of a run, written to ``<run>/census/``.

Usage::

    PYTHONPATH=. python3 experiments/census_run.py results/runs/blog1024
    PYTHONPATH=. python3 experiments/census_run.py results/runs/blog1024 --compare --report

``--compare`` / ``--report`` / ``--explore`` then write ``<run>/compare/``, ``<run>/report/``
and ``<run>/explore.html`` with the SAME census, as ``gru-jax pipeline`` does (the census is
computed afresh, then cached in ``<run>/analysis/``, where ``gru-jax compare``, ``report`` and
``explore`` find it).

Writes ``census.json`` (per family, strategy and seed; how they were decided and their
stability; the command and wall time), ``census.md``, ``families_z.png`` (seeds in the
behaviour plane by family), ``families.png`` and ``commitment.png``.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from gru_jax import Run  # noqa: E402
from gru_jax.analysis.cache import CACHE_DIR, cached_census  # noqa: E402
from gru_jax.reports import CompareOptions, run_compare, write_explorer, write_report  # noqa: E402
from gru_jax.reports.census import write_census  # noqa: E402
from gru_jax.stability import comparison_stability  # noqa: E402


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run")
    parser.add_argument("--n-bootstrap", type=int, default=10)
    parser.add_argument("--random-state", type=int, default=0)
    parser.add_argument("--compare", action="store_true", help="also write <run>/compare/")
    parser.add_argument("--report", action="store_true", help="also write <run>/report/")
    parser.add_argument("--explore", action="store_true", help="also write <run>/explore.html")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    run = Run.load(args.run)
    shutil.rmtree(os.path.join(args.run, CACHE_DIR), ignore_errors=True)    # computed afresh
    result = cached_census(args.run, run, n_bootstrap=args.n_bootstrap,
                           random_state=args.random_state)
    wall = time.perf_counter() - start
    command = "PYTHONPATH=. python3 " + " ".join(sys.argv)
    for path in write_census(result, os.path.join(args.run, "census"),
                             os.path.basename(os.path.normpath(args.run)), command, wall,
                             final_epoch=run.config.epochs - 1):
        print(path)
    if args.compare:
        start = time.perf_counter()
        options = CompareOptions()
        stability = comparison_stability(run.config, options)        # reports never train
        print(run_compare(args.run, options=options, census=result, stability=stability),
              f"({time.perf_counter() - start:.0f} s)")
    if args.report:
        start = time.perf_counter()
        print(write_report(args.run, run_comparison=False, census=result),
              f"({time.perf_counter() - start:.0f} s)")
    if args.explore:
        start = time.perf_counter()
        print(write_explorer(args.run, census=result), f"({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
