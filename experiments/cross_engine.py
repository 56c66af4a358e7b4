"""Two runs of the same seeds, compared seed by seed (e.g. native engine on a CPU vs XLA on a GPU).

    python experiments/cross_engine.py runs/cpu1024 results/runs/blog1024 --out results/cpu1024

Prints and writes (``--out``/cross_engine.{json,md}) the per-seed largest parameter difference
and the relative difference of the final train loss, as quantiles over seeds.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import gru_jax as gj  # noqa: E402


def compare(a: gj.Run, b: gj.Run) -> dict:
    if a.config != b.config or not np.array_equal(a.seeds, b.seeds):
        raise ValueError("cross_engine: the runs must have the same Config and seeds")
    per_leaf = [np.abs(a.params[m][k] - b.params[m][k]).reshape(a.n_seeds, -1).max(axis=1)
                for m in a.params for k in a.params[m]]
    param = np.max(np.stack(per_leaf), axis=0)                      # (S,)
    loss = np.abs(a.train_loss[:, -1] - b.train_loss[:, -1]) / np.abs(b.train_loss[:, -1])
    qs = [0.0, 0.5, 0.9, 0.99, 1.0]
    return {"seeds": a.n_seeds, "epochs": int(a.train_loss.shape[1]),
            "engines": [a.engine or "unrecorded", b.engine or "unrecorded"],
            "quantiles": qs,
            "max_abs_param_diff": np.quantile(param, qs).tolist(),
            "final_train_loss_rel_diff": np.quantile(loss, qs).tolist(),
            "fraction_params_within_1e-4": float(np.mean(param < 1e-4)),
            "median_final_train_loss": [float(np.median(a.train_loss[:, -1])),
                                        float(np.median(b.train_loss[:, -1]))]}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run_a")
    parser.add_argument("run_b")
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    result = compare(gj.Run.load(args.run_a), gj.Run.load(args.run_b))
    result["runs"] = [args.run_a, args.run_b]
    fmt = lambda xs: " | ".join(f"{x:.2e}" for x in xs)
    text = "\n".join([
        f"# {args.run_a} ({result['engines'][0]}) vs {args.run_b} ({result['engines'][1]})", "",
        f"{result['seeds']} seeds x {result['epochs']} epochs, the same Config and seeds.", "",
        "| per seed | min | median | 90% | 99% | max |", "|---|---:|---:|---:|---:|---:|",
        f"| max abs parameter difference | {fmt(result['max_abs_param_diff'])} |",
        f"| final train loss, relative difference | {fmt(result['final_train_loss_rel_diff'])} |",
        "", f"Seeds whose parameters all agree within 1e-4: "
            f"{100 * result['fraction_params_within_1e-4']:.1f}%. Median final train loss: "
            f"{result['median_final_train_loss'][0]:.6g} vs "
            f"{result['median_final_train_loss'][1]:.6g}.",
        ""])
    print(text)
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        with open(os.path.join(args.out, "cross_engine.json"), "w") as handle:
            json.dump(result, handle, indent=2)
        with open(os.path.join(args.out, "cross_engine.md"), "w") as handle:
            handle.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
