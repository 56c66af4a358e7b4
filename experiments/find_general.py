"""Can training find the general accumulator? Ensembles under the variations the blog's part 3
suggests, each classified by :func:`gru_jax.analysis.thresholds.threshold_classes`.

Variations (each a ``dataclasses.replace`` of the base protocol):

- ``blog``: the protocol as is (length 4, 2 flags);
- ``length_per_dataset`` (named ``mixed_lengths`` in the committed ``gpu_256x3000/``):
  ``seq_len=8, delta=0.5``, the blog's ``delta``: ONE length in [4, 12) per dataset, so each
  seed still trains on a single length;
- ``more_flags``: ``seq_len=12`` (the flag rule ``randint(2, min(L-1, 4))`` draws 2 or 3 flags
  ONCE per dataset);
- ``lengths_per_row``: ``seq_len=11, per_row_lengths=(4, 11)``: every row its own length, left
  padded, so a batch mixes lengths;
- ``flags_per_row``: ``per_row_flags=(1, 3)``: every row its own flag count;
- ``longer_training``: 4 x the base epochs;
- ``larger_lr``: ``learning_rate=1e-3`` (10 x).

Usage (defaults are modest; the full question needs e.g. ``--seeds 256 --epochs 3000``)::

    python3 experiments/find_general.py --seeds 8 --epochs 98 --n-samples 2000 \
        --out results/find_general

Writes ``summary.json`` and ``summary.md`` (per variation: counts, fractions, 95% Wilson
intervals of general / length-specific / failed, median final loss, wall time) into ``--out``.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from gru_jax import Config, train  # noqa: E402
from gru_jax.analysis.thresholds import threshold_classes  # noqa: E402


def variations(base: Config) -> dict[str, Config]:
    """The named variants of ``base``."""
    return {
        "blog": base,
        "length_per_dataset": dataclasses.replace(base, seq_len=8, delta=0.5),
        "more_flags": dataclasses.replace(base, seq_len=12),
        "lengths_per_row": dataclasses.replace(base, seq_len=11, per_row_lengths=(4, 11)),
        "flags_per_row": dataclasses.replace(base, per_row_flags=(1, 3)),
        "longer_training": dataclasses.replace(base, epochs=4 * base.epochs),
        "larger_lr": dataclasses.replace(base, learning_rate=1e-3),
    }


def run_variation(cfg: Config, seeds) -> dict:
    """Train one ensemble and classify its seeds; returns a JSON-ready summary."""
    t0 = time.perf_counter()
    run = train(cfg, seeds=seeds, progress=False)
    wall = time.perf_counter() - t0
    final_loss = np.asarray(run.train_loss)[:, -1]
    census = threshold_classes(run.params, final_loss, high=cfg.high)
    return {
        "config": {k: v for k, v in cfg.to_dict().items() if v != getattr(Config(), k)},
        "n_seeds": len(seeds), "wall_s": wall,
        "counts": census.counts, "fractions": census.fractions,
        "intervals": {k: list(v) for k, v in census.intervals.items()},
        "median_final_train_loss": float(np.nanmedian(final_loss)),
        "median_probe_error": float(np.nanmedian(census.probe_error)),
        "best_probe_error": float(np.nanmin(census.probe_error)),
        "median_z": np.nanmedian(census.behaviour, axis=0).tolist(),
    }


def to_markdown(results: dict, command: str, total_s: float) -> str:
    lines = ["# Can training find the general accumulator?", "",
             f"Command: `{command}`", f"Total wall time: {total_s:.0f} s (2 shared CPU cores).",
             "", "Census rules: failed = final train loss >= 0.5 x 1/6 (scaled); general = worst "
             "relative RMS error <= 0.1 on the probe grid (lengths 2, 3, 8, 16, 32 x flags 1, 2, "
             "3, 5); length-specific = the rest.", "",
             "| variation | changes | seeds | general (95% CI) | length-specific | failed | "
             "median final loss | median / best probe error | median z (flag 0, 1) | wall s |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for name, r in results.items():
        changes = ", ".join(f"{k}={v}" for k, v in r["config"].items()) or "-"
        lo, hi = r["intervals"]["general"]
        z0, z1 = r["median_z"]
        lines.append(
            f"| {name} | {changes} | {r['n_seeds']} | {r['counts']['general']} "
            f"({r['fractions']['general']:.2f}; {lo:.2f}-{hi:.2f}) | "
            f"{r['counts']['length-specific']} | {r['counts']['failed']} | "
            f"{r['median_final_train_loss']:.3g} | {r['median_probe_error']:.3g} / "
            f"{r['best_probe_error']:.3g} | {z0:.2f}, {z1:.2f} | {r['wall_s']:.0f} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=16)
    parser.add_argument("--epochs", type=int, default=294)
    parser.add_argument("--n-samples", type=int, default=10000)
    parser.add_argument("--out", default="results/find_general")
    parser.add_argument("--only", nargs="*", default=None, help="variation names to run")
    args = parser.parse_args(argv)
    base = Config(epochs=args.epochs, n_samples=args.n_samples)
    chosen = variations(base)
    if args.only:
        chosen = {k: v for k, v in chosen.items() if k in args.only}
    os.makedirs(args.out, exist_ok=True)
    t0 = time.perf_counter()
    results = {}
    for name, cfg in chosen.items():
        results[name] = run_variation(cfg, list(range(args.seeds)))
        print(name, results[name]["counts"], f"{results[name]['wall_s']:.0f} s", flush=True)
    total = time.perf_counter() - t0
    command = "python3 experiments/find_general.py " + " ".join(argv or sys.argv[1:])
    with open(os.path.join(args.out, "summary.json"), "w") as handle:
        json.dump({"command": command, "total_wall_s": total, "results": results}, handle,
                  indent=2)
    with open(os.path.join(args.out, "summary.md"), "w") as handle:
        handle.write(to_markdown(results, command, total))
    print(os.path.join(args.out, "summary.md"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
