"""What decides which strategy a seed learns? Analysis of the ensembles of
``experiments/what_decides_train.py`` (crossed: inits x data-and-order draws; converse: a few
inits x many draws).

1. The census (:func:`gru_jax.analysis.strategies.census_of`) is fitted on the crossed
   ensemble's final models (all draws pooled); the converse models are assigned to its
   strategies (:meth:`Census.assign_params`).
2. Is the strategy fixed by the initialisation? Per init, the pairwise agreement of its draws
   (fraction of draw pairs with the same strategy), averaged over inits, against chance: the same
   statistic after shuffling the inits within every draw (each draw keeps its strategy mix),
   2000 times. Also per draw across inits (is it fixed by the data and order?), the fraction of
   inits whose draws all agree, and Cohen-style ``(observed - chance) / (1 - chance)``.
3. Do the initial weights predict the strategy? Classifiers (logistic regression; random
   forest) on the initial canonical weights (:func:`gru_jax.analysis.symmetry.canonical_vector`,
   15 numbers at H = 1), each (init, draw) one sample, 8-fold cross-validation GROUPED by init
   (held-out inits are unseen); held-out accuracy against the majority-class baseline of each
   training fold; 95% intervals by bootstrap over inits (2000 resamples). The ceiling for ANY
   function of the init is the mean, over inits, of the modal strategy's share of the draws.

Usage (after training)::

    PYTHONPATH=. python3 experiments/what_decides.py --runs runs/what_decides \
        --out results/what_decides
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from sklearn.ensemble import RandomForestClassifier  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.model_selection import GroupKFold  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

from gru_jax import Run  # noqa: E402
from gru_jax.run import RunError  # noqa: E402
from gru_jax.analysis.strategies import census_of  # noqa: E402
from gru_jax.analysis.symmetry import canonical_vector  # noqa: E402
from gru_jax.files import write_json, write_npz  # noqa: E402
from gru_jax.plots.strategies import plot_agreement  # noqa: E402
from gru_jax.reports.census import write_census  # noqa: E402
from gru_jax.reports.markdown import save_figure  # noqa: E402

N_SHUFFLE = 2000
N_BOOT = 2000


def complete_runs(pattern: str) -> list[str]:
    """The run directories matching ``pattern`` that hold a complete run (training may still
    be going on in the others)."""
    done = []
    for path in sorted(glob.glob(pattern)):
        try:
            Run.load(path)
            done.append(path)
        except RunError:
            print(f"skipped (not complete): {path}", flush=True)
    return done


def stack_runs(paths):
    """Final params ``(G, S, ...)``, final losses ``(G, S)``, init params ``(G, S, ...)``."""
    runs = [Run.load(p) for p in paths]
    stack = lambda get: {m: {k: np.stack([np.asarray(get(r)[m][k]) for r in runs])
                             for k in runs[0].params[m]} for m in runs[0].params}
    loss = np.stack([np.asarray(r.train_loss)[:, -1] for r in runs])
    return stack(lambda r: r.params), loss, stack(lambda r: r.init_params), runs


def pairwise_agreement(labels) -> np.ndarray:
    """``(G, D)`` labels -> ``(G,)`` fraction of the ``D (D - 1) / 2`` pairs in each row that
    share a label."""
    labels = np.asarray(labels)
    d = labels.shape[1]
    same = labels[:, :, None] == labels[:, None, :]
    return (same.sum((1, 2)) - d) / (d * (d - 1))


def agreement_test(labels, rng) -> dict:
    """Rows = inits, columns = draws: observed mean agreement across draws vs inits shuffled
    within every draw column (:data:`N_SHUFFLE` times)."""
    observed = pairwise_agreement(labels)
    null = np.array([pairwise_agreement(np.stack([rng.permutation(col) for col in labels.T], 1)
                                        ).mean() for _ in range(N_SHUFFLE)])
    boot = [observed[rng.integers(0, len(observed), len(observed))].mean()
            for _ in range(N_BOOT)]
    chance = float(null.mean())
    all_agree = np.all(labels == labels[:, :1], axis=1)
    null_all = [np.mean(np.all(s == s[:, :1], axis=1)) for s in
                (np.stack([rng.permutation(col) for col in labels.T], 1) for _ in range(200))]
    return {"mean_agreement": float(observed.mean()),
            "ci95": np.percentile(boot, [2.5, 97.5]).tolist(),
            "chance_mean": chance, "chance_ci95": np.percentile(null, [2.5, 97.5]).tolist(),
            "p_value": float((1 + np.sum(null >= observed.mean())) / (1 + N_SHUFFLE)),
            "kappa": float((observed.mean() - chance) / (1 - chance)),
            "fraction_all_agree": float(all_agree.mean()),
            "chance_fraction_all_agree": float(np.mean(null_all)),
            "per_group": observed, "null": null}


def modal_share(labels) -> np.ndarray:
    """``(G, D)`` -> ``(G,)`` share of the row's most common label."""
    return np.array([np.bincount(row).max() / len(row) for row in np.asarray(labels)])


def classify_from_init(init_vectors, labels, rng) -> dict:
    """Grouped cross-validated accuracy of classifiers on the initial canonical weights.

    ``init_vectors (G, F)`` one per init; ``labels (G, D)``. Returns accuracies with bootstrap
    CIs over inits."""
    n_inits, n_draws = labels.shape
    x = np.repeat(init_vectors, n_draws, axis=0)
    y = labels.reshape(-1)
    groups = np.repeat(np.arange(n_inits), n_draws)
    models = {"logistic regression": lambda: make_pipeline(
                  StandardScaler(), LogisticRegression(max_iter=2000, C=1.0)),
              "random forest": lambda: RandomForestClassifier(
                  n_estimators=300, min_samples_leaf=4, random_state=0, n_jobs=1)}
    out = {}
    baseline_correct = np.zeros(len(y), bool)
    for name, make in models.items():
        correct = np.zeros(len(y), bool)
        for train, test in GroupKFold(n_splits=8).split(x, y, groups):
            model = make().fit(x[train], y[train])
            correct[test] = model.predict(x[test]) == y[test]
            baseline_correct[test] = np.bincount(y[train]).argmax() == y[test]
        out[name] = correct
    out["majority baseline"] = baseline_correct
    per_init = {k: v.reshape(n_inits, n_draws).mean(1) for k, v in out.items()}
    result = {}
    for name, acc in per_init.items():
        boot = [acc[idx].mean() for idx in (rng.integers(0, n_inits, n_inits)
                                            for _ in range(N_BOOT))]
        result[name] = {"accuracy": float(acc.mean()),
                        "ci95": np.percentile(boot, [2.5, 97.5]).tolist()}
    for name in models:
        diff = per_init[name] - per_init["majority baseline"]
        boot = [diff[idx].mean() for idx in (rng.integers(0, n_inits, n_inits)
                                             for _ in range(N_BOOT))]
        result[name]["gain_over_baseline"] = float(diff.mean())
        result[name]["gain_ci95"] = np.percentile(boot, [2.5, 97.5]).tolist()
    return result


def converse_summary(census, paths, crossed_labels) -> list[dict]:
    """Per converse init: its strategies over many draws (and over the crossed draws)."""
    rows = []
    for path in paths:
        run = Run.load(path)
        labels = census.assign_params(run.params, np.asarray(run.train_loss)[:, -1])
        init_seed = run.config.init_seed
        counts = np.bincount(labels, minlength=census.n_strategies)
        rows.append({"init_seed": int(init_seed), "draws": int(len(labels)),
                     "counts": counts.tolist(), "modal_share": float(counts.max() / len(labels)),
                     "pairwise_agreement": float(pairwise_agreement(labels[None])[0]),
                     "crossed_labels": crossed_labels[init_seed].tolist()})
    return rows


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", default="runs/what_decides")
    parser.add_argument("--out", default="results/what_decides")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    rng = np.random.default_rng(0)
    crossed = complete_runs(os.path.join(args.runs, "crossed", "draw_*"))
    params, loss, init, runs = stack_runs(crossed)                 # (D, S, ...)
    n_draws, n_inits = loss.shape
    flat = {m: {k: v.reshape((-1,) + v.shape[2:]) for k, v in sub.items()}
            for m, sub in params.items()}
    census = census_of(flat, loss.reshape(-1), n_bootstrap=10)
    labels = census.labels.reshape(n_draws, n_inits).T             # (inits, draws)
    init_vectors = canonical_vector({m: {k: v[0] for k, v in sub.items()}
                                     for m, sub in init.items()}).astype(np.float64)
    by_init = agreement_test(labels, rng)
    by_draw = agreement_test(labels.T, rng)
    classifier = classify_from_init(init_vectors, labels, rng)
    converse = converse_summary(census, complete_runs(os.path.join(args.runs, "converse",
                                                                   "init_*")), labels)
    timing = json.load(open(os.path.join(args.runs, "timing.json")))
    wall = time.perf_counter() - start
    command = "PYTHONPATH=. python3 " + " ".join(sys.argv)
    os.makedirs(args.out, exist_ok=True)
    write_census(census, os.path.join(args.out, "census"),
                 f"what_decides crossed ensemble ({n_inits} inits x {n_draws} draws, "
                 f"{runs[0].config.epochs} epochs)", command, wall)
    save_figure(plot_agreement(by_init["per_group"], by_init["null"],
                               "pairwise agreement of an init's strategies across its draws",
                               f"Is the strategy fixed by the initialisation? ({n_inits} inits x "
                               f"{n_draws} draws)"), os.path.join(args.out, "agreement.png"))
    write_npz(os.path.join(args.out, "labels.npz"),
              {"labels": labels, "init_canonical": init_vectors,
               "features": census.features.reshape(n_draws, n_inits, -1).transpose(1, 0, 2),
               "final_train_loss": loss.T, "draw_seeds": np.array(
                   [r.config.data_seed for r in runs])})
    strip = lambda d: {k: v for k, v in d.items() if k not in ("per_group", "null")}
    summary = {
        "command": command, "analysis_wall_s": wall, "training": timing,
        "training_wall_s": float(sum(t["wall_s"] for t in timing.values())),
        "epochs": runs[0].config.epochs, "n_inits": n_inits, "n_draws": n_draws,
        "crossed_runs": crossed,
        "strategies": [{"name": n, "fraction": float(f), "ci95": [float(lo), float(hi)]}
                       for n, f, lo, hi in zip(census.names, census.fractions, census.ci_low,
                                               census.ci_high)],
        "bootstrap_ari_median": float(np.median(census.bootstrap_ari)),
        "fixed_by_init": strip(by_init), "fixed_by_draw": strip(by_draw),
        "ceiling_modal_share": float(modal_share(labels).mean()),
        "classifier": classifier, "converse": converse}
    write_json(os.path.join(args.out, "what_decides.json"), summary)
    print(json.dumps({k: summary[k] for k in ("strategies", "fixed_by_init", "fixed_by_draw",
                                              "ceiling_modal_share", "classifier", "converse")},
                     indent=1))


if __name__ == "__main__":
    main()
