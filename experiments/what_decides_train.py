"""Train the ensembles of the "what decides the strategy?" experiment (the blog's protocol).

Two designs, both through the Config's fixed-stream seeds (:class:`gru_jax.Config`):

- ``crossed``: draws ``j = 0..n_draws-1``; draw ``j`` is ``Config(data_seed=D + j,
  order_seed=D + j)`` trained on seeds ``0..n_inits-1``, so every seed keeps ITS OWN
  initialisation (the init of seed ``i``, the same as blog1024's seed ``i``) while the data set
  and the batch order are draw ``j``'s, shared by all seeds of the draw. Every (init, draw) pair
  is one run: ``n_inits x n_draws`` runs, a fully crossed design.
- ``converse``: for a few initialisations ``s``, ``Config(init_seed=s)`` trained on
  ``n_converse`` member seeds: one init, many data-and-order draws (the members' own streams).

Each ensemble is written (with checkpoints, resumable) under ``--out`` (default
``runs/what_decides``, not committed; the analysis commits the compact results). Usage::

    nice -n 10 python3 experiments/what_decides_train.py crossed --inits 256 --draws 8
    nice -n 10 python3 experiments/what_decides_train.py converse --init-seeds 3,17,40,101 \
        --members 64

Prints each ensemble's wall time; ``timing.json`` in ``--out`` collects them.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from gru_jax import Config, Run, train  # noqa: E402
from gru_jax.run import RunError  # noqa: E402

DRAW_BASE = 10_000          # crossed: draw j uses data_seed = order_seed = DRAW_BASE + j
MEMBER_BASE = 20_000        # converse: member seeds MEMBER_BASE .. MEMBER_BASE + members - 1


def ensembles(args) -> list[tuple[str, Config, list[int]]]:
    """``(name, Config, seeds)`` of every ensemble the chosen design trains."""
    base = Config(epochs=args.epochs)
    if args.design == "crossed":
        seeds = list(range(args.inits))
        return [(f"crossed/draw_{j:02d}",
                 dataclasses.replace(base, data_seed=DRAW_BASE + j, order_seed=DRAW_BASE + j),
                 seeds) for j in range(args.draws)]
    inits = [int(s) for s in args.init_seeds.split(",")]
    members = list(range(MEMBER_BASE, MEMBER_BASE + args.members))
    return [(f"converse/init_{s:04d}", dataclasses.replace(base, init_seed=s), members)
            for s in inits]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("design", choices=("crossed", "converse"))
    parser.add_argument("--inits", type=int, default=256)
    parser.add_argument("--draws", type=int, default=8)
    parser.add_argument("--init-seeds", default="0,1,2,3")
    parser.add_argument("--members", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=3000)
    parser.add_argument("--out", default="runs/what_decides")
    args = parser.parse_args(argv)
    timing_path = os.path.join(args.out, "timing.json")
    os.makedirs(args.out, exist_ok=True)
    timing = json.load(open(timing_path)) if os.path.exists(timing_path) else {}
    for name, cfg, seeds in ensembles(args):
        path = os.path.join(args.out, name)
        try:
            Run.load(path)
            print(f"{name}: done already", flush=True)
            continue
        except RunError:
            pass
        start = time.perf_counter()
        train(cfg, seeds, out=path, resume=os.path.exists(os.path.join(path, "checkpoint.npz")),
              progress=False)
        wall = time.perf_counter() - start
        timing[name] = {"seeds": len(seeds), "epochs": cfg.epochs, "wall_s": wall,
                        "command": "python3 " + " ".join(sys.argv)}
        with open(timing_path, "w") as f:
            json.dump(timing, f, indent=1)
        print(f"{name}: {len(seeds)} seeds x {cfg.epochs} epochs in {wall:.0f} s", flush=True)


if __name__ == "__main__":
    main()
