"""Is the accumulator far, or is its basin narrow? (issue 26, item 5, the GRU at hidden size 1)

The reachable accumulator (:func:`gru_jax.handcrafted.reachable_accumulator`: finite weights
the protocol can hold, general on lengths 2..100) is perturbed in canonical coordinates
(:func:`gru_jax.analysis.symmetry.coordinates`, 15 numbers at H = 1: weights in scaled input
units, r/z biases merged) at ``--radii`` Euclidean radii, ``--directions`` directions a radius
(uniform on the sphere, numpy ``default_rng(0)``), and every perturbed net is trained under the
blog's protocol (``Config()``, 3000 epochs) with its own data and batch order (member seed
``i``: the init is given, the seed draws the rest). Radius 0 is the unperturbed accumulator
under ``--directions`` data-and-order draws: what the protocol does to the accumulator itself.

The radii run log-spaced from 1e-3 to the largest of: the median distance between a seed's init
and its learned weights, and the median distance from an init to the accumulator (both in
canonical coordinates, over the seeds of ``--reference``, the committed 1024-seed run).

Per radius: the fraction of nets still general at the end (threshold axis: not failed and
worst relative RMS error <= 0.1 on lengths 2, 3, 8, 16, 32 x 1, 2, 3, 5 flags) with its 95%
Wilson interval, the fraction general at the START (the perturbation alone), the median worst
probe error at the end and the median distance travelled from the perturbed start. The basin's
radius is stated as the largest radius at which at least half the nets end general.

Usage::

    nice -n 5 python3 experiments/accumulator_basin.py --out results/accumulator_basin

Training writes a resumable run directory (``--runs``, not committed); outputs: ``basin.json``,
``basin.md`` and ``basin.png`` in ``--out``.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import gru_jax as gj  # noqa: E402
from gru_jax.analysis.stats import wilson_interval  # noqa: E402
from gru_jax.analysis.symmetry import canonical_vector, coordinates, from_canonical_vector  # noqa: E402
from gru_jax.analysis.thresholds import threshold_classes  # noqa: E402
from gru_jax.files import write_json, write_text  # noqa: E402
from gru_jax.handcrafted import reachable_accumulator  # noqa: E402
from gru_jax.run import RunError  # noqa: E402


def typical_distances(reference: "gj.Run", accumulator_vector: np.ndarray) -> dict:
    """Median canonical distances over ``reference``'s seeds: init -> learned, init ->
    accumulator, learned -> accumulator."""
    init = np.asarray(canonical_vector(reference.init_params), np.float64)
    final = np.asarray(canonical_vector(reference.params), np.float64)
    acc = np.asarray(accumulator_vector, np.float64)
    norm = lambda a: np.linalg.norm(a, axis=-1)
    return {"init_to_learned": float(np.median(norm(final - init))),
            "init_to_accumulator": float(np.median(norm(init - acc))),
            "learned_to_accumulator": float(np.median(norm(final - acc)))}


def perturbed_starts(centre: np.ndarray, radii, directions: int, seed: int = 0) -> np.ndarray:
    """``(len(radii) * directions, P)``: ``centre + r u`` with ``u`` uniform on the unit sphere,
    radius-major (the first ``directions`` rows at ``radii[0]``)."""
    rng = np.random.default_rng(seed)
    u = rng.standard_normal((len(radii), directions, centre.shape[-1]))
    u /= np.linalg.norm(u, axis=-1, keepdims=True)
    return (centre + np.asarray(radii)[:, None, None] * u).reshape(-1, centre.shape[-1])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reference", default="results/runs/blog1024")
    parser.add_argument("--n-radii", type=int, default=10, help="radii besides 0")
    parser.add_argument("--directions", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=3000)
    parser.add_argument("--runs", default="runs/accumulator_basin")
    parser.add_argument("--out", default="results/accumulator_basin")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    cfg = gj.Config(epochs=args.epochs)
    accumulator = reachable_accumulator(high=cfg.high)
    centre = coordinates(accumulator).astype(np.float64)
    typical = typical_distances(gj.Run.load(args.reference), centre)
    top = max(typical["init_to_learned"], typical["init_to_accumulator"])
    radii = np.concatenate([[0.0], np.geomspace(1e-3, top, args.n_radii)])
    starts = perturbed_starts(centre, radii, args.directions)
    init = from_canonical_vector(starts)
    seeds = list(range(len(starts)))
    resume = os.path.exists(os.path.join(args.runs, "config.json"))
    try:
        run = gj.Run.load(args.runs)
    except (RunError, FileNotFoundError, OSError):
        run = gj.train(cfg, seeds, init=init, out=args.runs, resume=resume, progress=False,
                       loss_every=10)
    trained_s = time.perf_counter() - start
    final_loss = np.asarray(run.train_loss)[:, -1]
    end = threshold_classes(run.params, final_loss, high=cfg.high)
    begin = threshold_classes(init, np.zeros(len(seeds)), high=cfg.high)
    travelled = np.linalg.norm(np.asarray(coordinates(run.params), np.float64) - starts, axis=-1)
    rows = []
    for i, radius in enumerate(radii):
        part = slice(i * args.directions, (i + 1) * args.directions)
        general = int(np.sum(end.labels[part] == "general"))
        general0 = int(np.sum(begin.labels[part] == "general"))
        rows.append({"radius": float(radius), "nets": args.directions,
                     "general_end": general, "general_end_ci95": list(wilson_interval(
                         general, args.directions)),
                     "general_start": general0,
                     "failed_end": int(np.sum(end.labels[part] == "failed")),
                     "median_worst_error_start": float(np.median(begin.probe_error[part])),
                     "median_worst_error_end": float(np.median(end.probe_error[part])),
                     "median_final_loss": float(np.nanmedian(final_loss[part])),
                     "median_travelled": float(np.median(travelled[part]))})
    held = [r["radius"] for r in rows if r["general_end"] >= r["nets"] / 2]
    result = {"command": "python3 experiments/accumulator_basin.py " + " ".join(
                  sys.argv[1:] if argv is None else argv),
              "typical_distances": typical, "rows": rows,
              "basin_radius": max(held) if held else None,
              "wall_s": time.perf_counter() - start, "train_and_load_s": trained_s}
    os.makedirs(args.out, exist_ok=True)
    write_json(os.path.join(args.out, "basin.json"), result)
    write_text(os.path.join(args.out, "basin.md"), markdown(result))
    figure(result, os.path.join(args.out, "basin.png"))
    print(markdown(result))
    return 0


def markdown(result) -> str:
    t = result["typical_distances"]
    lines = ["# The reachable accumulator's basin under the blog's protocol", "",
             f"Command: `{result['command']}` ({result['wall_s']:.0f} s).", "",
             f"Typical distances in canonical coordinates (medians over the reference run): "
             f"init -> learned {t['init_to_learned']:.3g}, init -> accumulator "
             f"{t['init_to_accumulator']:.3g}, learned -> accumulator "
             f"{t['learned_to_accumulator']:.3g}.", "",
             "| radius | nets | general at the start | general at the end (95% CI) | failed | "
             "median worst error start / end | median final loss | median distance travelled |",
             "|---|---|---|---|---|---|---|---|"]
    for r in result["rows"]:
        lo, hi = r["general_end_ci95"]
        lines.append(
            f"| {r['radius']:.3g} | {r['nets']} | {r['general_start']} | {r['general_end']} "
            f"({r['general_end'] / r['nets']:.2f} [{lo:.2f}, {hi:.2f}]) | {r['failed_end']} | "
            f"{r['median_worst_error_start']:.3g} / {r['median_worst_error_end']:.3g} | "
            f"{r['median_final_loss']:.3g} | {r['median_travelled']:.3g} |")
    radius = result["basin_radius"]
    lines += ["", "Basin radius (the largest radius at which at least half the nets end "
              f"general): {'none' if radius is None else f'{radius:.3g}'}."]
    return "\n".join(lines) + "\n"


def figure(result, path: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    rows = [r for r in result["rows"] if r["radius"] > 0]
    radius = np.array([r["radius"] for r in rows])
    frac = np.array([r["general_end"] / r["nets"] for r in rows])
    lo = np.array([r["general_end_ci95"][0] for r in rows])
    hi = np.array([r["general_end_ci95"][1] for r in rows])
    start = np.array([r["general_start"] / r["nets"] for r in rows])
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    ax.errorbar(radius, frac, yerr=[frac - lo, hi - frac], marker="o", color="tab:blue",
                capsize=3, label="general after 3000 epochs (95% CI)")
    ax.plot(radius, start, "s--", color="tab:gray", label="general at the start")
    t = result["typical_distances"]
    for value, name, style in ((t["init_to_learned"], "init -> learned", ":"),
                               (t["init_to_accumulator"], "init -> accumulator", "-.")):
        ax.axvline(value, color="black", linestyle=style, linewidth=1, label=f"{name} (median)")
    ax.set_xscale("log")
    ax.set_ylim(-0.03, 1.03)
    ax.set_xlabel("perturbation radius (canonical coordinates)", fontsize=10)
    ax.set_ylabel("fraction of nets general", fontsize=10)
    ax.tick_params(labelsize=9)
    ax.legend(fontsize=9, loc="best")
    ax.set_title("The reachable accumulator, perturbed and trained", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
