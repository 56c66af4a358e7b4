"""A census that DISCOVERS the strategies of an ensemble from its seeds' mechanisms.

1. Features: :func:`gru_jax.analysis.features.seed_features` (aligned weights, gate behaviour,
   flag routes, fixed points, generalization, loss; names and units there).
2. Standardise: NaN -> the column's median; each column minus its mean, over its standard
   deviation (a constant column is left at 0).
3. Cluster: scikit-learn ``GaussianMixture`` for ``k = 1..max_strategies`` and covariance types
   "full" and "diag" (``reg_covar = 0.01``: features are resolved to 0.1 standard deviation, so
   a discrete column such as a fixed-point count cannot collapse a component onto a point), 4
   initialisations each, ``random_state`` fixed; THE CRITERION: the lowest Bayesian information
   criterion (BIC) over all of them. Strategies are numbered by descending size.
4. Stability: ``n_bootstrap`` resamples of the seeds (with replacement); the chosen model
   (same k and covariance type) refitted on each labels ALL seeds; the adjusted Rand index
   (ARI) of those labels against the census labels (1 = the same partition; ~0 = chance).
5. Names from the mechanism (:func:`strategy_name`): the flag's route(s), what the update gate
   does at flag-0 / flag-1 steps, and the flag-0 memory (leading eigenvalue, fixed points).
6. Per strategy: fraction with a 95% Wilson interval, median loss and generalization errors, a
   representative seed (nearest the strategy's median standardised features), and the epoch at
   which its seeds commit (:func:`commitment_epochs`: snapshots assigned to the most probable
   strategy of the fitted mixture, or to none (-1) where the mixture's density is below the
   1st percentile of the final seeds' (early snapshots lie far from every strategy and would
   otherwise fall to the broadest component); the first evaluated epoch from which a seed's
   label equals its final one at every later evaluation).
7. Few seeds: ``k`` is at most ``S // MIN_SEEDS_PER_STRATEGY`` (a strategy needs a handful of
   seeds to have a median, a spread and a CI; on 8 seeds of the blog's protocol an uncapped BIC
   picks 7 one-seed "strategies"). Below ``2 x MIN_SEEDS_PER_STRATEGY`` seeds there is NO
   discovery: every seed is put in one strategy (named from its median mechanism as usual),
   there is no bootstrap, and ``Census.note`` says "too few seeds for a census"; the writers
   print that note beside the table.
8. The threshold classes (general / length-specific / failed,
   :func:`gru_jax.analysis.census.strategy_census`) stay a separate axis (``threshold_labels``).

References:
  Schwarz (1978), "Estimating the dimension of a model", Ann. Statist. 6(2) (BIC).
  Hubert & Arabie (1985), "Comparing partitions", J. Classification 2 (adjusted Rand index).
"""
from __future__ import annotations

import dataclasses
from typing import Optional

import jax
import numpy as np
from sklearn.metrics import adjusted_rand_score
from sklearn.mixture import GaussianMixture
from threadpoolctl import threadpool_limits

from ..blog import MEAN_BASELINE
from .census import STRATEGIES, _medoid, strategy_census, wilson_interval
from .ensemble import final_train_loss
from ..model import flatten_models
from .features import ROUTES, medoid_reference, route_shares, seed_features

COVARIANCE_TYPES = ("full", "diag")
REG_COVAR = 1e-2
N_INIT = 4
MIN_SEEDS_PER_STRATEGY = 5
ROUTE_NAMES = {"z": "update-gate", "r": "reset-gate", "n": "candidate"}


@dataclasses.dataclass
class Census:
    """The discovered strategies of an ensemble (``S`` seeds, ``K`` strategies, ``F`` features).

    labels ``(S,)`` int in ``0..K-1`` (0 = the largest strategy); names ``K`` str;
    counts, fractions, ci_low, ci_high ``(K,)`` (95% Wilson); representatives ``(K,)`` seed
    VALUES, representative_index ``(K,)`` positions; seeds ``(S,)``; features ``(S, F)`` raw
    (NaN kept), feature_names, feature_units ``F`` str; criterion: how ``K`` was chosen;
    covariance_type; bic: ``{"full 3": bic, ...}``; bootstrap_ari ``(B,)``; threshold_labels
    ``(S,)`` str (general / length-specific / failed); median_features ``(K, F)``;
    commitment_epoch ``(S,)`` (NaN if not measured); snapshot_epochs and snapshot_labels
    ``(S, E)`` (the snapshots used for commitment, -1 = in no strategy yet; empty if none);
    typical_log_density: the 1st percentile of the mixture's log density over the seeds;
    note: "" or why no strategies were discovered (too few seeds: module docstring, step 7).
    """

    labels: np.ndarray
    names: list
    counts: np.ndarray
    fractions: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    representatives: np.ndarray
    representative_index: np.ndarray
    seeds: np.ndarray
    features: np.ndarray
    feature_names: tuple
    feature_units: tuple
    criterion: str
    covariance_type: str
    bic: dict
    bootstrap_ari: np.ndarray
    threshold_labels: np.ndarray
    median_features: np.ndarray
    commitment_epoch: np.ndarray
    snapshot_epochs: np.ndarray
    snapshot_labels: np.ndarray
    reference: dict
    mixture: GaussianMixture
    fill: np.ndarray
    mean: np.ndarray
    scale: np.ndarray
    order: np.ndarray
    typical_log_density: float
    note: str = ""

    @property
    def n_strategies(self) -> int:
        return len(self.names)

    def standardise(self, values) -> np.ndarray:
        """Raw ``(N, F)`` features -> the standardised coordinates the mixture was fitted on."""
        values = np.asarray(values, np.float64)
        values = np.where(np.isnan(values), self.fill, values)
        return (values - self.mean) / self.scale

    def assign(self, values, reject_atypical: bool = False) -> np.ndarray:
        """The strategy (census numbering) of new raw feature rows ``(N, F)`` -> ``(N,)``.

        ``reject_atypical``: -1 where the mixture's log density is below
        ``typical_log_density`` (the 1st percentile of the census's own seeds): a model that
        is in no strategy yet (an early snapshot) rather than in the broadest one."""
        z = self.standardise(values)
        labels = np.argmax(self.mixture.predict_proba(z)[:, self.order], axis=1)
        if reject_atypical:
            labels = np.where(self.mixture.score_samples(z) < self.typical_log_density, -1,
                              labels)
        return labels

    def assign_params(self, params, final_train_loss, high: int = 100,
                      reject_atypical: bool = False) -> np.ndarray:
        """Features of new models (aligned to this census's reference) -> strategies
        ``lead`` (see :meth:`assign`)."""
        lead = np.shape(params["gru"]["weight_hh_l0"])[:-2]
        feats = seed_features(params, final_train_loss, reference=self.reference, high=high)
        return self.assign(feats.values, reject_atypical).reshape(lead)

    def median(self, name: str) -> np.ndarray:
        """``(K,)`` the strategies' median of one feature."""
        return self.median_features[:, self.feature_names.index(name)]

    def threshold_table(self) -> np.ndarray:
        """``(K, 3)`` counts of each strategy in general / length-specific / failed."""
        return np.array([[np.sum((self.labels == k) & (self.threshold_labels == t))
                          for t in STRATEGIES] for k in range(self.n_strategies)])

    def commitment(self) -> np.ndarray:
        """``(K, 3)`` the 25%, 50% and 75% quantiles of each strategy's commitment epochs."""
        out = np.full((self.n_strategies, 3), np.nan)
        for k in range(self.n_strategies):
            epochs = self.commitment_epoch[self.labels == k]
            if np.any(np.isfinite(epochs)):
                out[k] = np.nanpercentile(epochs, [25, 50, 75])
        return out


def standardisation(values) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(fill, mean, scale)`` for ``(N, F)`` raw features: column medians (NaN -> 0 if a column
    is all NaN), means and standard deviations after filling (0 -> 1)."""
    values = np.asarray(values, np.float64)
    fill = np.nan_to_num(np.nanmedian(np.where(np.isfinite(values), values, np.nan), axis=0)
                         if np.any(np.isfinite(values)) else np.zeros(values.shape[1]))
    filled = np.where(np.isfinite(values), values, fill)
    scale = filled.std(axis=0)
    return fill, filled.mean(axis=0), np.where(scale > 1e-12, scale, 1.0)


def select_mixture(z, max_strategies: int = 8, random_state: int = 0):
    """The lowest-BIC GaussianMixture over ``k = 1..max_strategies`` and
    :data:`COVARIANCE_TYPES`. ``z (N, F)`` standardised -> ``(mixture, {"type k": bic})``."""
    bic, best = {}, None
    for covariance_type in COVARIANCE_TYPES:
        for k in range(1, max(1, min(max_strategies, len(z) - 1)) + 1):
            model = _mixture(k, covariance_type, random_state).fit(z)
            bic[f"{covariance_type} {k}"] = float(model.bic(z))
            if best is None or bic[f"{covariance_type} {k}"] < best[0]:
                best = (bic[f"{covariance_type} {k}"], model)
    return best[1], bic


def _mixture(k: int, covariance_type: str, random_state: int) -> GaussianMixture:
    return GaussianMixture(k, covariance_type=covariance_type, reg_covar=REG_COVAR,
                           n_init=N_INIT, random_state=random_state)


def bootstrap_ari(z, labels, n_components: int, covariance_type: str, n_bootstrap: int = 20,
                  random_state: int = 0) -> np.ndarray:
    """ARI of the census labels against the labels of a mixture refitted on each of
    ``n_bootstrap`` resamples of the rows (numpy ``default_rng(random_state)``) -> ``(B,)``."""
    rng = np.random.default_rng(random_state)
    scores = []
    for b in range(n_bootstrap):
        rows = rng.integers(0, len(z), len(z))
        model = _mixture(n_components, covariance_type, random_state + 1 + b).fit(z[rows])
        scores.append(adjusted_rand_score(labels, model.predict(z)))
    return np.asarray(scores)


def strategy_name(median: dict) -> str:
    """A name from a strategy's median features (``{feature name: value}``).

    Route: the routes whose share of the flag effects is >= 0.25, largest first ("update-gate",
    "reset-gate", "candidate"); the candidate gains "(+)" or "(-)": the sign of
    ``sum_u w_out[u] W_in[u, flag]``, whether the flag pushes the output up or down through the
    candidate (sign-flip invariant; omitted when the weights are not among the features).
    Update gate at flag-0 steps: "holds" (z >= 0.95), "mostly holds"
    (>= 0.7), "overwrites"; at flag-1 steps: "writes" (z <= 0.2), "half-writes" (<= 0.5),
    "barely writes". Memory at flag 0: "integrator" (leading eigenvalue >= 0.98), "slow leak"
    (>= 0.8), "fast leak"; "multistable" when the median count of flag-0 fixed points > 1. A
    median loss >= 0.5 x the mean baseline prefixes "non-learner".
    """
    shares = route_shares([median[f"flag_effect_{g}"] for g in ROUTES])
    order = [i for i in np.argsort(-np.nan_to_num(shares)) if shares[i] >= 0.25]
    route = "+".join(ROUTE_NAMES[ROUTES[i]] + (_candidate_sign(median) if ROUTES[i] == "n"
                                               else "") for i in order) or "no"
    z0, z1 = median["z_flag0"], median["z_flag1"]
    hold = "holds" if z0 >= 0.95 else "mostly holds" if z0 >= 0.7 else "overwrites"
    write = "writes" if z1 <= 0.2 else "half-writes" if z1 <= 0.5 else "barely writes"
    eig = median["leading_eigenvalue_flag0"]
    memory = ("integrator" if eig >= 0.98 else "slow leak" if eig >= 0.8 else "fast leak")
    if median["n_fixed_flag0"] > 1:
        memory = "multistable " + memory
    name = (f"{route} flag route, z {hold} ({z0:.2f}) / {write} ({z1:.2f}), "
            f"{memory} ({eig:.2f})")
    loss = median.get("log10_final_loss")
    if loss is not None and np.isfinite(loss) and 10 ** loss >= 0.5 * MEAN_BASELINE:
        name = "non-learner: " + name
    return name


def _candidate_sign(median: dict) -> str:
    """"(+)" / "(-)": the sign of ``sum_u w_out[u] W_in[u, flag]`` (H = 1 names, or
    ``W_in[u{u},flag]`` / ``w_out[u{u}]``); "" if these features are absent."""
    if "W_in[flag]" in median and "w_out" in median:
        push = median["W_in[flag]"] * median["w_out"]
    else:
        units = sum(1 for k in median if k.startswith("W_in[u") and k.endswith(",flag]"))
        if not units:
            return ""
        push = sum(median[f"W_in[u{u},flag]"] * median[f"w_out[u{u}]"] for u in range(units))
    return "(+)" if push >= 0 else "(-)"


def commitment_epochs(snapshot_labels, final_labels, epochs, final_epoch: int) -> np.ndarray:
    """When each seed commits: the first evaluated epoch from which its label equals its final
    label at every later evaluation (``final_epoch`` if even the last snapshot differs).

    ``(S, E) int, (S,) int, (E,) ascending -> (S,) float``.
    """
    same = np.asarray(snapshot_labels) == np.asarray(final_labels)[:, None]
    # suffix "all equal from here": reverse cumulative AND
    stays = np.flip(np.logical_and.accumulate(np.flip(same, 1), axis=1), 1)
    first = np.argmax(stays, axis=1)
    return np.where(stays[:, -1], np.asarray(epochs)[first], final_epoch).astype(np.float64)


def cluster(values, names, units, *, seeds=None, threshold_labels=None, reference=None,
            max_strategies: int = 8, n_bootstrap: int = 20, random_state: int = 0,
            namer=None) -> Census:
    """Steps 2-7 of the module docstring on a ready feature matrix ``values (S, F)``.

    ``namer``: ``{feature name: median} -> str`` (default :func:`strategy_name`, which needs
    the features of :func:`gru_jax.analysis.features.seed_features`).
    ``seeds`` default ``0..S-1``; ``threshold_labels`` default all "" (not measured);
    ``reference``: the alignment reference the features were computed with (kept so that
    :meth:`Census.assign_params` can place new models).
    """
    values = np.asarray(values, np.float64)
    count = values.shape[0]
    seeds = np.arange(count) if seeds is None else np.asarray(seeds)
    fill, mean, scale = standardisation(values)
    z = (np.where(np.isfinite(values), values, fill) - mean) / scale
    cap = min(max_strategies, count // MIN_SEEDS_PER_STRATEGY)
    note = "" if cap >= 2 else (
        f"too few seeds for a census: {count} seeds (discovering strategies needs at least "
        f"{2 * MIN_SEEDS_PER_STRATEGY}, {MIN_SEEDS_PER_STRATEGY} a strategy); all seeds are "
        "shown as one strategy")
    if note:
        n_bootstrap = 0
    with threadpool_limits(limits=1):        # tiny matrices: threads only contend (and vary)
        # one seed: scikit-learn fits no mixture to one row; its twin gives the same centre
        mixture, bic = select_mixture(z if count > 1 else np.repeat(z, 2, axis=0),
                                      max(cap, 1), random_state)
    raw = mixture.predict(z)
    sizes = np.bincount(raw, minlength=mixture.n_components)
    order = np.argsort(-sizes, kind="stable")                    # census k = mixture order[k]
    labels = np.argsort(order)[raw]
    present = [k for k in range(len(order)) if np.any(labels == k)]  # a component may be empty
    labels = np.searchsorted(present, labels)
    order = order[present]
    n_strategies = len(present)
    median_features = np.stack([np.nanmedian(values[labels == k], axis=0)
                                for k in range(n_strategies)])
    names_k = [(namer or strategy_name)(dict(zip(names, row))) for row in median_features]
    names_k = _unique(names_k)
    counts = np.bincount(labels, minlength=n_strategies)
    intervals = np.array([wilson_interval(int(c), count) for c in counts])
    rep_index = np.array([_medoid(z, np.flatnonzero(labels == k)) for k in range(n_strategies)])
    with threadpool_limits(limits=1):
        ari = bootstrap_ari(z, labels, mixture.n_components, mixture.covariance_type,
                            n_bootstrap, random_state)
    k_chosen = mixture.n_components
    criterion = (f"lowest BIC of scikit-learn GaussianMixture over k = 1..{max(cap, 1)} "
                 f"components (at most {max_strategies}, and at most one per "
                 f"{MIN_SEEDS_PER_STRATEGY} seeds) x covariance {'/'.join(COVARIANCE_TYPES)} "
                 f"(reg_covar {REG_COVAR}, "
                 f"n_init {N_INIT}, random_state {random_state}) on the standardised features: "
                 f"chosen {mixture.covariance_type} {k_chosen}")
    return Census(labels, names_k, counts, counts / count, intervals[:, 0], intervals[:, 1],
                  seeds[rep_index], rep_index, seeds, values, tuple(names), tuple(units),
                  criterion, mixture.covariance_type, bic, ari,
                  np.full(count, "") if threshold_labels is None else np.asarray(threshold_labels),
                  median_features, np.full(count, np.nan), np.zeros(0), np.zeros((count, 0), int),
                  reference, mixture, fill, mean, scale, order,
                  float(np.percentile(mixture.score_samples(z), 1)), note)


def _unique(names: list) -> list:
    """Distinct names: a repeated name gains " (variant 2)", " (variant 3)", ..."""
    seen: dict = {}
    out = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        out.append(name if seen[name] == 1 else f"{name} (variant {seen[name]})")
    return out


def census_of(params, final_train_loss, *, seeds=None, high: int = 100, snapshots=None,
              snapshot_epochs=None, snapshot_losses=None, final_epoch: Optional[int] = None,
              **options) -> Census:
    """The census of final params ``(S, ...)`` with their last training losses ``(S,)``.

    Args:
      snapshots: optional params ``(S, E, ...)`` at ``snapshot_epochs (E,)`` with training
        losses ``snapshot_losses (S, E)``: each is assigned to a strategy and the commitment
        epochs are measured (``final_epoch``: the epoch of the final params).
      **options: ``max_strategies``, ``n_bootstrap``, ``random_state`` (:func:`cluster`).
    """
    loss = np.asarray(final_train_loss, np.float64)
    count = loss.shape[0]
    if snapshots is None:
        feats = seed_features(params, loss, high=high)
    else:
        # final params and snapshots in ONE call (one compilation; the snapshots aligned to
        # the final params' medoid, as Census.assign_params would)
        flat, _ = flatten_models(snapshots)
        both = jax.tree_util.tree_map(
            lambda a, b: np.concatenate([np.asarray(a, np.float32), b]), params, flat)
        feats = seed_features(both, np.concatenate([loss, np.asarray(
            snapshot_losses, np.float64).reshape(-1)]), reference=medoid_reference(params),
            high=high)
        snapshot_values = feats.values[count:]
        feats = feats._replace(values=feats.values[:count])
    thresholds = strategy_census(params, loss, high=high).labels
    result = cluster(feats.values, feats.names, feats.units, seeds=seeds,
                     threshold_labels=thresholds, reference=feats.reference, **options)
    if snapshots is None:
        return result
    snapshot_labels = result.assign(snapshot_values, reject_atypical=True).reshape(
        np.shape(snapshot_losses))
    epochs = np.asarray(snapshot_epochs)
    final_epoch = int(epochs[-1]) if final_epoch is None else final_epoch
    commit = commitment_epochs(snapshot_labels, result.labels, epochs, final_epoch)
    return dataclasses.replace(result, commitment_epoch=commit, snapshot_epochs=epochs,
                               snapshot_labels=snapshot_labels)


def census(run, *, commitment_stride: int = 6, **options) -> Census:
    """The census of a :class:`gru_jax.Run` (any hidden size): its final params and last-epoch
    losses; commitment from every ``commitment_stride``-th snapshot (and the last one);
    ``commitment_stride=0`` skips it. ``**options``: see :func:`cluster`."""
    loss = np.asarray(run.train_loss)
    final = final_train_loss(run)
    kwargs = {}
    if commitment_stride:
        n_eval = len(run.eval_epochs)
        picked = sorted(set(range(0, n_eval, commitment_stride)) | {n_eval - 1})
        epochs = np.asarray(run.eval_epochs)[picked]
        kwargs = dict(snapshots=_take_snapshots(run.snapshots, picked), snapshot_epochs=epochs,
                      snapshot_losses=loss[:, epochs], final_epoch=loss.shape[1] - 1)
    return census_of(run.params, final, seeds=np.asarray(run.seeds),
                     high=run.config.high, **kwargs, **options)


def _take_snapshots(snapshots, picked):
    return {m: {k: np.asarray(v)[:, picked] for k, v in sub.items()}
            for m, sub in snapshots.items()}
