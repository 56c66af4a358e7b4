"""GPU throughput of gru_jax: the blog's full protocol for 10,000 seeds, and how the rate scales.

    python experiments/bench_gpu.py                    # on a GPU machine: one call, < 8 minutes
    python experiments/bench_gpu.py --seeds 64 --epochs 98 --probe-seeds 16,64 --probe-epochs 98

Prints a table (seeds, seed-epochs/s, us per seed-epoch, compile s, peak device memory) and
writes it with the machine's description to ``--out`` (JSON + Markdown). The steady-state rate
is measured between the end of the first chunk (which includes compilation) and the end of the
last, so compile time and rate are reported separately. It also checks on the device that two
seeds trained alone equal the same seeds inside the largest probe ensemble (<= 1e-5).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys

import jax
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
import gru_jax as gj  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from timing import timed_train  # noqa: E402


def peak_device_bytes() -> int:
    stats = jax.devices()[0].memory_stats() or {}
    return int(stats.get("peak_bytes_in_use", 0))


def timed_run(cfg, n_seeds: int, chunk_epochs: int):
    """Train once; returns (run, row): steady rate and compile time (``timing.timed_train``)."""
    run, stats = timed_train(cfg, n_seeds, chunk_epochs)
    rate = stats["seed_epochs_per_s"]
    row = {"seeds": n_seeds, "epochs": cfg.epochs, "wall_s": round(stats["wall_s"], 2),
           "seed_epochs_per_s": round(rate, 1), "us_per_seed_epoch": round(1e6 / rate, 3),
           "compile_s": round(stats["compile_s"], 2),
           "peak_device_gb": round(peak_device_bytes() / 1e9, 3),
           "final_train_loss_median": float(np.nanmedian(run.train_loss[:, -1])),
           "diverged": int(run.diverged.sum())}
    print(json.dumps(row), flush=True)
    return run, row


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=10000)
    parser.add_argument("--epochs", type=int, default=3000)
    parser.add_argument("--chunk-epochs", type=int, default=147)
    parser.add_argument("--probe-seeds", default="1024,4096")
    parser.add_argument("--probe-epochs", type=int, default=196)
    parser.add_argument("--budget-s", type=float, default=330.0,
                        help="skip/shorten the full run if the probe predicts more than this")
    parser.add_argument("--out", default="results/gpu")
    args = parser.parse_args(argv)

    device = jax.devices()[0]
    machine = {"backend": jax.default_backend(), "device": str(device.device_kind),
               "n_devices": jax.device_count(), "jax": jax.__version__,
               "python": platform.python_version(), "host": platform.node(),
               "command": "python " + " ".join(sys.argv)}
    print(json.dumps(machine), flush=True)
    rows = []
    probe_cfg = gj.Config(epochs=args.probe_epochs)
    probes = [int(s) for s in args.probe_seeds.split(",") if s]
    probe_run = None
    for n_seeds in probes:
        probe_run, row = timed_run(probe_cfg, n_seeds, 49)
        rows.append(row)

    # ensemble invariance on this device: first and last probe seed trained alone
    invariance = None
    if probe_run is not None:
        picks = [0, probes[-1] - 1]
        alone = gj.train(probe_cfg, seeds=picks, progress=False, chunk_epochs=49)
        diffs = []
        for m in ("gru", "linear"):
            for k in alone.params[m]:
                inside = probe_run.params[m][k][picks]
                diffs.append(float(np.max(np.abs(alone.params[m][k] - inside))))
        invariance = {"seeds": picks, "ensemble": probes[-1], "epochs": args.probe_epochs,
                      "max_abs_param_diff": max(diffs)}
        print(json.dumps({"invariance": invariance}), flush=True)

    # the full protocol, if the largest probe's rate says it fits the budget
    rate = rows[-1]["seed_epochs_per_s"] if rows else float("inf")
    epochs = args.epochs
    predicted = args.seeds * epochs / rate
    if predicted > args.budget_s:
        fit = int(args.budget_s * rate / args.seeds) // args.chunk_epochs * args.chunk_epochs
        epochs = max(args.chunk_epochs, fit)
        print(f"full run predicted {predicted:.0f} s > budget: running {epochs} epochs and "
              f"extrapolating", flush=True)
    full_cfg = gj.Config(epochs=epochs)
    full_run, row = timed_run(full_cfg, args.seeds, min(args.chunk_epochs, max(1, epochs // 2)))
    row["predicted_full_protocol_s"] = round(args.seeds * args.epochs / row["seed_epochs_per_s"]
                                             + row["compile_s"], 1)
    rows.append(row)

    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "bench_gpu.json"), "w") as handle:
        json.dump({"machine": machine, "rows": rows, "invariance": invariance}, handle, indent=2)
    np.savez_compressed(os.path.join(args.out, "first16_final_params.npz"),
                        **{k: v[:16] for k, v in gj.to_state_dict(full_run.params).items()},
                        train_loss_final=full_run.train_loss[:16, -1], epochs=epochs)
    lines = [f"# gru_jax on {machine['device']} ({machine['backend']}, jax {machine['jax']})", "",
             f"Command: `{machine['command']}`", "",
             "| seeds | epochs | wall s | seed-epochs/s | us per seed-epoch | compile s "
             "| peak device GB | predicted full protocol s |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['seeds']} | {r['epochs']} | {r['wall_s']} | "
                     f"{r['seed_epochs_per_s']:,.0f} | "
                     f"{r['us_per_seed_epoch']} | {r['compile_s']} | {r['peak_device_gb']} | "
                     f"{r.get('predicted_full_protocol_s', '')} |")
    if invariance:
        lines += ["", f"Seeds {invariance['seeds']} trained alone vs inside the "
                      f"{invariance['ensemble']}-seed "
                      f"ensemble ({invariance['epochs']} epochs): max |param diff| = "
                      f"{invariance['max_abs_param_diff']:.2e}"]
    text = "\n".join(lines) + "\n"
    with open(os.path.join(args.out, "bench_gpu.md"), "w") as handle:
        handle.write(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
