"""What decides which family a seed learns? The crossed ensemble (inits x data-and-order draws)
re-read with the two-level census and statistics that could surprise.

Input: the crossed ensemble's per-model features (``results/what_decides/labels.npz``, written
by the first analysis of ``experiments/what_decides_train.py``'s runs: 256 inits x 8 draws,
the blog's protocol; the features are those of :mod:`gru_jax.analysis.features`, so the census
is refitted without retraining), and the committed 1024-seed run for the init -> family
prediction.

1. The census fitted on ONE row per init (draw 0 of each; the other draws of an init are
   near-copies, not extra samples: Hurlbert 1984), every model then assigned.
2. The primary statistic: per mechanism feature, the spread within an init (across its draws)
   against the spread between inits. A ratio near 0 means the init alone fixes the feature; it
   says how much the data and the batch order move a seed, not WHEN the choice is made (the
   forks of ``experiments/what_decides_forks.py`` answer that).
3. Agreement of an init's draws on the family and on the strategy, against the same statistic
   with the inits shuffled within every draw (2000 shuffles).
4. Is the flag-blind family predictable from the init? Logistic regression on the 15 initial
   canonical weights, 8-fold cross-validation grouped by init, ROC AUC with a 95% bootstrap
   interval over inits (2000 resamples); on the crossed ensemble (each (init, draw) a sample)
   and on the 1024 independent seeds of ``results/runs/blog1024``.

Usage::

    PYTHONPATH=. python3 experiments/what_decides.py --out results/what_decides
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.metrics import roc_auc_score  # noqa: E402
from sklearn.model_selection import GroupKFold  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

import gru_jax as gj  # noqa: E402
from gru_jax.analysis.census import census as run_census, cluster  # noqa: E402
from gru_jax.analysis.symmetry import canonical_vector  # noqa: E402
from gru_jax.files import write_json, write_text  # noqa: E402
from gru_jax.reports.census import write_census  # noqa: E402

N_SHUFFLE = 2000
N_BOOT = 2000
SPREAD_FEATURES = ("z_flag0", "z_flag1", "leading_eigenvalue_flag0", "flag_push_n",
                   "log10_error_L8k2", "log10_final_loss")


def with_push(values, names):
    """The features with ``flag_push_n`` (= W_in[flag] x w_out at H = 1) added when absent."""
    names = list(names)
    if "flag_push_n" in names:
        return values, names
    push = values[..., names.index("W_in[flag]")] * values[..., names.index("w_out")]
    return np.concatenate([values, push[..., None]], -1), names + ["flag_push_n"]


def all_agree(labels) -> np.ndarray:
    labels = np.asarray(labels)
    return np.all(labels == labels[:, :1], axis=1)


def pairwise_agreement(labels) -> np.ndarray:
    """``(G, D)`` -> ``(G,)`` the fraction of the row's pairs that share a label."""
    labels = np.asarray(labels)
    d = labels.shape[1]
    same = labels[:, :, None] == labels[:, None, :]
    return (same.sum((1, 2)) - d) / (d * (d - 1))


def agreement_test(labels, rng) -> dict:
    """Rows = inits, columns = draws: the mean pairwise agreement and the fraction of inits
    whose draws all agree, each against inits shuffled within every draw column."""
    observed = pairwise_agreement(labels).mean()
    agree = all_agree(labels).mean()
    null_pair, null_all = [], []
    for _ in range(N_SHUFFLE):
        shuffled = np.stack([rng.permutation(col) for col in labels.T], 1)
        null_pair.append(pairwise_agreement(shuffled).mean())
        null_all.append(all_agree(shuffled).mean())
    return {"mean_pairwise_agreement": float(observed), "chance": float(np.mean(null_pair)),
            "fraction_all_draws_agree": float(agree),
            "chance_fraction_all_agree": float(np.mean(null_all)),
            "kappa": float((observed - np.mean(null_pair)) / (1 - np.mean(null_pair)))}


def spread(values, names, features=SPREAD_FEATURES) -> dict:
    """``values (G, D, F)``: per feature the within-init spread (root mean variance across
    draws), the between-init spread (standard deviation of the inits' means), their ratio."""
    out = {}
    for name in features:
        x = values[..., names.index(name)]
        within = float(np.sqrt(np.nanmean(np.nanvar(x, axis=1, ddof=1))))
        between = float(np.nanstd(np.nanmean(x, axis=1), ddof=1))
        out[name] = {"within": within, "between": between, "ratio": within / between}
    return out


def auc_from_init(init_vectors, target, groups, rng) -> dict:
    """Grouped 8-fold cross-validated ROC AUC of a logistic regression predicting ``target``
    (bool per sample) from ``init_vectors`` (one row per sample), with a bootstrap interval
    over the groups (inits)."""
    score = np.zeros(len(target))
    for train, test in GroupKFold(n_splits=8).split(init_vectors, target, groups):
        model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
        model.fit(init_vectors[train], target[train])
        score[test] = model.predict_proba(init_vectors[test])[:, 1]
    unique = np.unique(groups)
    rows = [np.flatnonzero(groups == g) for g in unique]
    boots = []
    for _ in range(N_BOOT):
        pick = np.concatenate([rows[i] for i in rng.integers(0, len(rows), len(rows))])
        if target[pick].min() != target[pick].max():
            boots.append(roc_auc_score(target[pick], score[pick]))
    return {"auc": float(roc_auc_score(target, score)),
            "ci95": np.percentile(boots, [2.5, 97.5]).tolist(),
            "positives": int(target.sum()), "samples": int(len(target))}


def flag_blind_family(census) -> int:
    """The index of the census's flag-blind family (-1 if none)."""
    matches = [f for f, name in enumerate(census.family_names) if name.startswith("flag-blind")]
    return matches[0] if matches else -1


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--labels", default="results/what_decides/labels.npz")
    parser.add_argument("--features-json", default="results/what_decides/census/census.json",
                        help="the feature names of labels.npz (its first census)")
    parser.add_argument("--blog1024", default="results/runs/blog1024")
    parser.add_argument("--out", default="results/what_decides")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    rng = np.random.default_rng(0)
    stored = np.load(args.labels)
    # labels.npz's columns are the first names of the census.json beside it (this script
    # appends flag_push_n after them)
    names = [f["name"] for f in json.load(open(args.features_json))["features"]]
    values, names = with_push(stored["features"], names[:stored["features"].shape[-1]])
    n_inits, n_draws = values.shape[:2]
    flat = values.reshape(n_inits * n_draws, -1)
    groups = np.repeat(np.arange(n_inits), n_draws)
    census = cluster(flat, names, [""] * len(names), init_groups=groups,
                     seeds=np.arange(len(flat)))
    families = census.families.reshape(n_inits, n_draws)
    strategies = census.labels.reshape(n_inits, n_draws)
    blind = flag_blind_family(census)
    init_vectors = np.repeat(stored["init_canonical"], n_draws, axis=0)
    crossed_auc = (auc_from_init(init_vectors, census.families == blind, groups, rng)
                   if blind >= 0 else None)
    # the 1024 independent seeds: one draw per init, so grouping is per seed
    run = gj.Run.load(args.blog1024)
    blog = run_census(run, commitment=False)
    blog_blind = flag_blind_family(blog)
    blog_auc = (auc_from_init(canonical_vector(run.init_params).astype(np.float64),
                              blog.families == blog_blind, np.arange(run.n_seeds), rng)
                if blog_blind >= 0 else None)
    wall = time.perf_counter() - start
    command = "PYTHONPATH=. python3 experiments/what_decides.py " + " ".join(
        sys.argv[1:] if argv is None else argv)
    summary = {
        "command": command, "wall_s": wall, "n_inits": n_inits, "n_draws": n_draws,
        "families": [{"label": lab, "name": n, "fraction": float(f),
                      "ci95": [float(lo), float(hi)]} for lab, n, f, lo, hi in zip(
            census.family_labels, census.family_names, census.family_fractions,
            census.family_ci_low, census.family_ci_high)],
        "strategies": [{"label": lab, "name": n, "fraction": float(f)} for lab, n, f in zip(
            census.strategy_labels, census.names, census.fractions)],
        "k_stability": {str(k): v for k, v in census.k_stability.items()},
        "fitted_on": f"{len(census.fit_index)} rows (one per init) of {len(flat)}",
        "spread": spread(values, names),
        "family_agreement": agreement_test(families, rng),
        "strategy_agreement": agreement_test(strategies, rng),
        "flag_blind_auc_crossed": crossed_auc, "flag_blind_auc_blog1024": blog_auc}
    os.makedirs(args.out, exist_ok=True)
    write_census(census, os.path.join(args.out, "census"),
                 f"what_decides crossed ensemble ({n_inits} inits x {n_draws} draws), fitted "
                 "on one row per init", command, wall)
    write_json(os.path.join(args.out, "what_decides.json"), summary)
    write_text(os.path.join(args.out, "what_decides.md"), markdown(summary))
    print(markdown(summary))


def markdown(s: dict) -> str:
    fa, sa = s["family_agreement"], s["strategy_agreement"]
    lines = ["# What decides the family? The crossed ensemble re-read", "",
             f"Command: `{s['command']}` ({s['wall_s']:.0f} s). Census {s['fitted_on']}; "
             f"k stability {s['k_stability']}.", "",
             "| family | fraction (95% CI) |", "|---|---|"]
    lines += [f"| {f['label']} {f['name']} | {f['fraction']:.3f} [{f['ci95'][0]:.3f}, "
              f"{f['ci95'][1]:.3f}] |" for f in s["families"]]
    lines += ["", "**Within-init vs between-init spread** (the primary statistic):", "",
              "| feature | within an init (across draws) | between inits | ratio |",
              "|---|---|---|---|"]
    lines += [f"| {n} | {v['within']:.4g} | {v['between']:.4g} | {v['ratio']:.3f} |"
              for n, v in s["spread"].items()]
    lines += ["", f"**Agreement across an init's {s['n_draws']} draws.** Family: mean pairwise "
              f"{fa['mean_pairwise_agreement']:.3f} (chance {fa['chance']:.3f}); all draws "
              f"agree for {fa['fraction_all_draws_agree']:.3f} of inits (chance "
              f"{fa['chance_fraction_all_agree']:.3f}). Strategy: mean pairwise "
              f"{sa['mean_pairwise_agreement']:.3f} (chance {sa['chance']:.3f}); all agree "
              f"{sa['fraction_all_draws_agree']:.3f} (chance "
              f"{sa['chance_fraction_all_agree']:.3f}).", ""]
    for key, label in (("flag_blind_auc_crossed", "crossed ensemble"),
                       ("flag_blind_auc_blog1024", "1024 independent seeds")):
        auc = s[key]
        lines.append(f"**Flag-blind family from the init ({label}).** " + (
            "no flag-blind family" if auc is None else
            f"ROC AUC {auc['auc']:.3f} [{auc['ci95'][0]:.3f}, {auc['ci95'][1]:.3f}] "
            f"({auc['positives']} flag-blind of {auc['samples']}; logistic regression on the "
            "initial canonical weights, 8-fold CV grouped by init)."))
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
