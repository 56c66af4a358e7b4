"""The discovered strategy census of a run, written to ``<run>/census/``.

Usage::

    PYTHONPATH=. python3 experiments/census_run.py results/runs/blog1024

Writes ``census.json`` (per strategy and per seed, the criterion, BIC table, bootstrap ARI, the
command and wall time), ``census.md`` (the census table), ``strategies_z.png`` (seeds by update
gate, coloured by strategy) and ``bic.png``.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from gru_jax import Run  # noqa: E402
from gru_jax.analysis.strategies import census  # noqa: E402
from gru_jax.reports.census import write_census  # noqa: E402


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run")
    parser.add_argument("--n-bootstrap", type=int, default=20)
    parser.add_argument("--commitment-stride", type=int, default=6)
    args = parser.parse_args(argv)
    start = time.perf_counter()
    result = census(Run.load(args.run), commitment_stride=args.commitment_stride,
                    n_bootstrap=args.n_bootstrap)
    wall = time.perf_counter() - start
    command = "PYTHONPATH=. python3 " + " ".join(sys.argv)
    for path in write_census(result, os.path.join(args.run, "census"),
                             os.path.basename(os.path.normpath(args.run)), command, wall):
        print(path)


if __name__ == "__main__":
    main()
