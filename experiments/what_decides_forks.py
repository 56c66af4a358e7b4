"""When does the initialisation decide a seed's family? Forks and noise (issue 21, item 3).

Two designs that could surprise, trained under the blog's protocol:

- ``forks`` (after Frankle et al. 2020, instability analysis): parents ``0..P-1`` train for
  ``k`` epochs (``k`` in ``--fork-epochs``, default 0, 25, 100, 400); each parent's params at
  epoch ``k`` are copied ``--copies`` times and every copy trains the remaining ``3000 - k``
  epochs with FRESH data and batch order (its own seed's streams). ``k = 0`` is the init itself.
  A copy restarts Adam's moments and the plateau schedule at the fork (the Run stores params,
  not optimiser state): a small transient at ``k > 0``, stated here rather than hidden.
- ``noise``: the same parents' inits trained with ``--copies`` fresh data-and-order draws at
  batch sizes 16, 256 (the blog's) and 2048 (two orders of magnitude of gradient noise).

Training writes resumable run directories under ``--runs`` (not committed). The analysis fits
ONE census on the ``k = 0`` copies, one row per init (the same inits trained with other draws
are not extra samples), and assigns every other model to it. Per fork epoch and batch size:
the fraction of parents whose copies all share a family (and a strategy), against the same
statistic with the parents shuffled within each copy column (the chance level, 2000 shuffles);
the within-parent vs between-parent spread (standard deviation) of the final mechanism features;
per batch size the families' fractions and the fraction holding a sum (flag-0 eigenvalue >
0.99), with 95% intervals.

Usage::

    nice -n 5 python3 experiments/what_decides_forks.py train --parents 96 --copies 4
    python3 experiments/what_decides_forks.py analyse --out results/what_decides_forks
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

import gru_jax as gj  # noqa: E402
from gru_jax.analysis.census import census_of  # noqa: E402
from gru_jax.analysis.features import seed_features  # noqa: E402
from gru_jax.analysis.stats import wilson_interval  # noqa: E402
from gru_jax.files import write_json, write_text  # noqa: E402
from gru_jax.run import RunError  # noqa: E402
from what_decides import all_agree, spread  # noqa: E402  (this folder, the crossed analysis)

FORK_EPOCHS = (0, 25, 100, 400)
BATCH_SIZES = (16, 256, 2048)
#: A copy's seed: COPY_BASE * (1 + design index) + parent * 100 + copy (fresh streams).
COPY_BASE = 1_000_000
N_SHUFFLE = 2000
SPREAD_FEATURES = ("z_flag0", "z_flag1", "log10_leak_flag0", "flag_push_n",
                   "log10_error_L8k2", "log10_final_loss")


def copy_seeds(parents: int, copies: int, design: int) -> list[int]:
    return [COPY_BASE * (1 + design) + p * 100 + c for p in range(parents) for c in range(copies)]


def _load_or_train(path, cfg, seeds, **kwargs):
    try:
        return gj.Run.load(path)
    except (RunError, FileNotFoundError, OSError):
        pass
    resume = os.path.exists(os.path.join(path, "config.json"))
    start = time.perf_counter()
    run = gj.train(cfg, seeds, out=path, resume=resume, progress=False, loss_every=10,
                   **kwargs)
    print(f"{path}: {len(seeds)} seeds x {cfg.epochs} epochs in "
          f"{time.perf_counter() - start:.0f} s", flush=True)
    return run


def _repeat(params, copies: int):
    return {m: {k: np.repeat(np.asarray(v), copies, axis=0) for k, v in sub.items()}
            for m, sub in params.items()}


def train(args) -> None:
    base = gj.Config()
    parents = list(range(args.parents))
    for k in args.fork_epochs:
        if k == 0:
            init = _parent_inits(args.runs, parents)
        else:
            parent = _load_or_train(os.path.join(args.runs, f"parents_{k}"),
                                    dataclasses.replace(base, epochs=k), parents)
            init = parent.params
        _load_or_train(os.path.join(args.runs, f"fork_{k}"),
                       dataclasses.replace(base, epochs=base.epochs - k),
                       copy_seeds(args.parents, args.copies, 0 if k == 0 else 1 + list(
                           args.fork_epochs).index(k)), init=_repeat(init, args.copies))
    for batch in args.batch_sizes:
        if batch == base.batch_size:
            continue                        # the blog's batch size: the k = 0 forks are it
        _load_or_train(os.path.join(args.runs, f"batch_{batch}"),
                       dataclasses.replace(base, batch_size=batch),
                       copy_seeds(args.parents, args.copies, 10 + batch),
                       init=_repeat(_parent_inits(args.runs, parents), args.copies))


def _parent_inits(runs: str, parents) -> dict:
    """The parents' initial params (each parent seed's own init stream), as gj.train draws
    them: the init_params of a 1-epoch run, cached on disk."""
    run = _load_or_train(os.path.join(runs, "parents_init"), dataclasses.replace(
        gj.Config(), epochs=1), list(parents))
    return run.init_params


# ---- analysis --------------------------------------------------------------------------------
def agreement(labels, rng) -> dict:
    """The fraction of parents whose copies all agree, its 95% Wilson interval, and the same
    fraction with the parents shuffled within every copy column (chance)."""
    agree = all_agree(labels)
    null = np.array([all_agree(np.stack([rng.permutation(col) for col in labels.T], 1)).mean()
                     for _ in range(N_SHUFFLE)])
    low, high = wilson_interval(int(agree.sum()), len(agree))
    return {"fraction_all_agree": float(agree.mean()), "ci95": [low, high],
            "chance": float(null.mean()), "chance_ci95": np.percentile(null, [2.5, 97.5]).tolist(),
            "p_value": float((1 + np.sum(null >= agree.mean())) / (1 + N_SHUFFLE))}


def analyse(args) -> None:
    start = time.perf_counter()
    rng = np.random.default_rng(0)
    runs = {f"fork_{k}": gj.Run.load(os.path.join(args.runs, f"fork_{k}"))
            for k in args.fork_epochs}
    runs.update({f"batch_{b}": gj.Run.load(os.path.join(args.runs, f"batch_{b}"))
                 for b in args.batch_sizes if b != 256})
    reference = runs["fork_0"]
    parents = reference.n_seeds // args.copies
    groups = np.repeat(np.arange(parents), args.copies)
    census = census_of(reference.params, np.asarray(reference.train_loss)[:, -1],
                       seeds=np.asarray(reference.seeds), init_groups=groups)
    result = {"census": {
        "families": [{"label": lab, "name": n} for lab, n in zip(census.family_labels,
                                                                 census.family_names)],
        "strategies": [{"label": lab, "name": n} for lab, n in zip(census.strategy_labels,
                                                                   census.names)],
        "k_stability": {str(k): v for k, v in census.k_stability.items()},
        "fitted_on": f"{len(census.fit_index)} rows, one per parent init"}}
    table = []
    for name, run in runs.items():
        loss = np.asarray(run.train_loss)[:, -1].astype(np.float64)
        feats = seed_features(run.params, loss, reference=census.reference)
        fam, strat = census.assign(feats.values)
        fam, strat = fam.reshape(parents, -1), strat.reshape(parents, -1)
        values = feats.values.reshape(parents, args.copies, -1)
        eig = feats.values[:, feats.names.index("leading_eigenvalue_flag0")]
        holds = int(np.sum(eig > 0.99))
        counts = np.bincount(fam.reshape(-1), minlength=census.n_families)
        entry = {"design": name, "models": int(run.n_seeds),
                 "family_agreement": agreement(fam, rng),
                 "strategy_agreement": agreement(strat, rng),
                 "spread": spread(values, list(feats.names), SPREAD_FEATURES),
                 "family_fractions": {census.family_labels[f]: {
                     "fraction": float(counts[f] / run.n_seeds),
                     "ci95": list(wilson_interval(int(counts[f]), run.n_seeds))}
                     for f in range(census.n_families)},
                 "holds": {"fraction": holds / run.n_seeds,
                           "ci95": list(wilson_interval(holds, run.n_seeds))},
                 "median_final_loss": float(np.nanmedian(loss))}
        table.append(entry)
        print(name, json.dumps({k: entry[k] for k in ("family_agreement",)}), flush=True)
    result["designs"] = table
    result["command"] = "python3 experiments/what_decides_forks.py " + " ".join(sys.argv[1:])
    result["analysis_wall_s"] = time.perf_counter() - start
    os.makedirs(args.out, exist_ok=True)
    write_json(os.path.join(args.out, "forks.json"), result)
    write_text(os.path.join(args.out, "forks.md"), markdown(result, census))


def markdown(result, census) -> str:
    lines = ["# When does the initialisation decide the family? Forks and noise", "",
             f"Command: `{result['command']}` (analysis {result['analysis_wall_s']:.0f} s).", "",
             "Families (fitted on the k = 0 copies, one row per parent init): " + "; ".join(
                 f"{f['label']} {f['name']}" for f in result["census"]["families"]) + ".", "",
             "| design | models | all copies same family (95% CI) | chance | all copies same "
             "strategy | chance | within / between spread: z unflagged, z flagged, leak, "
             "push, L8 error, loss | holds a sum (95% CI) | "
             + " | ".join(census.family_labels) + " |",
             "|---|---|---|---|---|---|---|---|" + "---|" * census.n_families]
    for d in result["designs"]:
        fa, sa = d["family_agreement"], d["strategy_agreement"]
        ratios = ", ".join(f"{d['spread'][n]['ratio']:.2f}" for n in SPREAD_FEATURES)
        fams = " | ".join(f"{v['fraction']:.2f} [{v['ci95'][0]:.2f}, {v['ci95'][1]:.2f}]"
                          for v in d["family_fractions"].values())
        lines.append(
            f"| {d['design']} | {d['models']} | {fa['fraction_all_agree']:.2f} "
            f"[{fa['ci95'][0]:.2f}, {fa['ci95'][1]:.2f}] | {fa['chance']:.2f} | "
            f"{sa['fraction_all_agree']:.2f} | {sa['chance']:.2f} | {ratios} | "
            f"{d['holds']['fraction']:.3f} [{d['holds']['ci95'][0]:.3f}, "
            f"{d['holds']['ci95'][1]:.3f}] | {fams} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("stage", choices=("train", "analyse"))
    parser.add_argument("--parents", type=int, default=96)
    parser.add_argument("--copies", type=int, default=4)
    parser.add_argument("--fork-epochs", default=",".join(map(str, FORK_EPOCHS)))
    parser.add_argument("--batch-sizes", default=",".join(map(str, BATCH_SIZES)))
    parser.add_argument("--runs", default="runs/what_decides_forks")
    parser.add_argument("--out", default="results/what_decides_forks")
    args = parser.parse_args(argv)
    args.fork_epochs = [int(v) for v in args.fork_epochs.split(",")]
    args.batch_sizes = [int(v) for v in args.batch_sizes.split(",")]
    (train if args.stage == "train" else analyse)(args)


if __name__ == "__main__":
    main()
