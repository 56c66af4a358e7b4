"""The census: the families and strategies of an ensemble, discovered from its seeds' mechanisms.

Two levels, each decided by MECHANISM features only (outcomes such as the loss and the
generalization errors are reported per family and strategy, never clustered on):

1. **Families**: how the flag reaches the memory, read off the update gate's mean at flag-0 and
   flag-1 steps (:data:`FAMILY_FEATURES`, the behaviour plane): e.g. *gate-write* (the gate
   opens on flags, z ~0.85 / ~0.15), *hold-and-write* (holds, z ~0.98, and half-opens on flags),
   *flag-blind* (the gate opens no wider on flagged steps; the flag reaches the memory through
   the candidate and the reset gate).
2. **Strategies** within a family: the memory (the flag-0 leak, ``log10 |1 - lambda|``) and the
   sign with which the flag pushes the output through the candidate
   (:data:`STRATEGY_FEATURES`).

At each level (:func:`gru_jax.analysis.mixture.partition`): the features are standardised; a
full-covariance Gaussian mixture is chosen by the lowest BIC over k = 1, 2, ... with
:data:`gru_jax.analysis.mixture.N_INIT` EM starts per k (the search range grows while its best
k is its top); then components are joined into MODES while the mixture's density does not dip
below :data:`gru_jax.analysis.mixture.DIP_RATIO` of the lower peak between them. A BIC mixture
splits one curved cluster into several Gaussians, and its k grows with the sample; the modes are
what a reader sees as clusters, and they are what a 32-seed and a 1024-seed run can agree on.
A family or strategy has at least :data:`MIN_SEEDS` seeds (smaller modes join the neighbour
they dip least towards); below ``2 x MIN_SEEDS`` seeds nothing is discovered (one family, one
strategy, and :attr:`Census.note` says so).

The sample fitted on: one row per distinct initialisation (``init_groups``; runs that share
inits would otherwise fit clumps of near-copies), at most :data:`FIT_SAMPLE` rows drawn
uniformly without replacement by ``numpy.random.default_rng(random_state)``; every seed is then
assigned (the group with the largest summed posterior). Beyond :data:`FIT_SAMPLE` seeds
(:func:`census_of`), only the sample is described in full; every other seed is described by
its mechanism alone (the lean features of :func:`gru_jax.analysis.features.seed_features`:
what its assignment needs), so the outcomes reported per family and strategy (median loss
and errors) are the sample's. Beyond :data:`COMMITMENT_SAMPLE` seeds the commitment epochs
are measured on a uniform sample of that many fitted seeds.
The threshold axis is measured on every seed.

The number of families is a consensus (:func:`_family_partition`): the partition is fitted on
all rows under each of :data:`N_STATES` random states and on ``n_bootstrap`` subsamples (80% of
the rows each) under each state; the number chosen most often over all these fits is the
census's, and ``k_stability`` reports how often each number was chosen. Reported with it: the
adjusted Rand index of each subsample's families against the census's (``family_ari``) and
the number of families at other dip ratios (``dip_sensitivity``). Names cut the memory where
the leak's own distribution dips (:attr:`Census.leak_dips`), not at fixed constants.

Commitment: every snapshot of every seed is assigned to a family and a strategy (-1 where the
family mixture's density is below the 1st percentile of the fitted seeds': a model in no family
yet); a seed commits at the first snapshot epoch from which its label equals its final one at
every later snapshot (:func:`commitment_epochs`).

What holds by construction: the strategies differ in their leak because they are split on it,
and a seed's leak bounds how well it can add at other lengths; "a strategy with a slow leak
generalizes better" is therefore partly a consequence of the split, not a finding about it.

References:
  Schwarz (1978), "Estimating the dimension of a model", Ann. Statist. 6(2) (BIC).
  Hennig (2010), "Methods for merging Gaussian mixture components", ADAC 4(1).
  Hubert & Arabie (1985), "Comparing partitions", J. Classification 2 (adjusted Rand index).
  Ben-Hur, Elisseeff & Guyon (2002), "A stability based method for discovering structure in
  clustered data", PSB (k judged by its recurrence over resamples).
"""
from __future__ import annotations

import dataclasses
from typing import Optional

import jax
import numpy as np
from sklearn.metrics import adjusted_rand_score

from ..blog import MEAN_BASELINE
from ..model import flatten_models
from . import mixture
from .features import seed_features
from .stats import medoid, standardisation, wilson_intervals
from .thresholds import CLASSES, threshold_classes

FAMILY_FEATURES = ("z_flag0", "z_flag1")
STRATEGY_FEATURES = ("log10_leak_flag0", "flag_push_n")
MIN_SEEDS = 5
FIT_SAMPLE = 4096
#: Beyond this many seeds the commitment epochs are measured on a uniform sample of this many
#: of the fitted seeds (62 snapshots each: the census's largest cost).
COMMITMENT_SAMPLE = 1024
N_BOOTSTRAP = 10
N_STATES = 3
SUBSAMPLE = 0.8
DIP_SENSITIVITY = (0.1, 0.2, 0.35, 0.5)
#: Family names: "flag-blind" when the gate's median z at flagged steps is no more than this
#: below its z at unflagged steps; "hold-and-write" when it holds at unflagged steps (z >=
#: HOLD). Applied to a family's MEDIAN, these name modes; they decide no seed's membership.
FLAG_BLIND_CONTRAST = 0.1
HOLD = 0.95


@dataclasses.dataclass
class Level:
    """One level's fitted model: the standardisation of its features and its partition."""

    columns: tuple
    fill: np.ndarray
    mean: np.ndarray
    scale: np.ndarray
    partition: Optional[mixture.Partition]

    def standardise(self, values) -> np.ndarray:
        """Raw feature rows ``(N, F_all)`` (all census features) -> ``(N, D)``."""
        x = np.asarray(values, np.float64)[:, list(self.columns)]
        return (np.where(np.isfinite(x), x, self.fill) - self.mean) / self.scale

    def assign(self, values) -> np.ndarray:
        if self.partition is None:
            return np.zeros(len(values), int)
        return self.partition.assign(self.standardise(values))


@dataclasses.dataclass
class Census:
    """The families and strategies of ``S`` seeds (``G`` families, ``K`` strategies, ``F``
    features; module docstring).

    Families: families ``(S,)`` int ``0..G-1`` (0 = the largest); family_labels ``G`` str
    ("F1", ...); family_names ``G`` one-line names; family_counts, family_fractions,
    family_ci_low, family_ci_high ``(G,)`` (95% Wilson); family_representatives ``(G,)`` seed
    values. Strategies: labels ``(S,)`` int ``0..K-1`` (numbered family by family, largest
    first); strategy_labels ``K`` str ("F1a", ...); names ``K`` one-line names;
    strategy_family ``(K,)``; counts, fractions, ci_low, ci_high ``(K,)``; representatives
    ``(K,)`` seed values, representative_index ``(K,)`` positions.
    Per seed: seeds ``(S,)``; features ``(S, F)`` raw (NaN kept), feature_names,
    feature_units; threshold_labels ``(S,)`` str (general / length-specific / failed).
    Stability: k_stability ``{n families: fraction of resamples}``; family_ari ``(R,)``;
    dip_sensitivity ``{dip ratio: n families}``; leak_dips: where the leak's distribution dips
    (log10 units). Commitment: commitment_epoch ``(S,)`` (family), strategy_commitment_epoch
    ``(S,)``, snapshot_epochs ``(E,)``, snapshot_families and snapshot_labels ``(S, E)`` (-1 =
    in no family yet; empty when not measured). fit_index: the rows the mixtures were fitted
    on. criterion: how it was decided, in words; note: "" or why nothing was discovered.
    """

    seeds: np.ndarray
    families: np.ndarray
    family_labels: list
    family_names: list
    family_counts: np.ndarray
    family_fractions: np.ndarray
    family_ci_low: np.ndarray
    family_ci_high: np.ndarray
    family_representatives: np.ndarray
    labels: np.ndarray
    strategy_labels: list
    names: list
    strategy_family: np.ndarray
    counts: np.ndarray
    fractions: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    representatives: np.ndarray
    representative_index: np.ndarray
    features: np.ndarray
    feature_names: tuple
    feature_units: tuple
    threshold_labels: np.ndarray
    k_stability: dict
    family_ari: np.ndarray
    dip_sensitivity: dict
    leak_dips: np.ndarray
    fit_index: np.ndarray
    criterion: str
    family_level: Level
    strategy_levels: list
    reference: dict
    typical_log_density: float
    commitment_epoch: np.ndarray
    strategy_commitment_epoch: np.ndarray
    snapshot_epochs: np.ndarray
    snapshot_families: np.ndarray
    snapshot_labels: np.ndarray
    random_state: int = 0
    note: str = ""
    #: ``(S,)`` each seed's worst relative error on the threshold axis's probe grid (None when
    #: not measured)
    probe_error: Optional[np.ndarray] = None

    @property
    def n_families(self) -> int:
        return len(self.family_labels)

    @property
    def n_strategies(self) -> int:
        return len(self.strategy_labels)

    def legend(self, by: str = "family") -> list:
        """Short legend labels: ``"F1 gate-write"`` per family, ``"F1a slow leak, cand(+)"``
        per strategy (the label and the name's words up to its numbers)."""
        if by == "family":
            return [f"{label} {name.split(' (')[0]}"
                    for label, name in zip(self.family_labels, self.family_names)]
        return [f"{label} {name.split(' (')[0]}{_sign(name)}"
                for label, name in zip(self.strategy_labels, self.names)]

    def column(self, name: str) -> np.ndarray:
        """``(S,)`` one feature of every seed."""
        return self.features[:, self.feature_names.index(name)]

    def median(self, name: str, by: str = "strategy") -> np.ndarray:
        """The median of one feature per strategy ``(K,)`` or per family (``by="family"``)."""
        values = self.column(name)
        groups = self.labels if by == "strategy" else self.families
        count = self.n_strategies if by == "strategy" else self.n_families
        return np.array([np.nanmedian(values[groups == k]) if np.any(groups == k) else np.nan
                         for k in range(count)])

    def threshold_table(self, by: str = "strategy") -> np.ndarray:
        """``(K or G, 3)`` counts of each strategy (family) in general / length-specific /
        failed."""
        groups = self.labels if by == "strategy" else self.families
        count = self.n_strategies if by == "strategy" else self.n_families
        return np.array([[np.sum((groups == k) & (self.threshold_labels == t)) for t in CLASSES]
                         for k in range(count)])

    def commitment(self, by: str = "strategy") -> np.ndarray:
        """``(K or G, 3)`` the 25%, 50% and 75% quantiles of the commitment epochs."""
        groups = self.labels if by == "strategy" else self.families
        epochs = self.strategy_commitment_epoch if by == "strategy" else self.commitment_epoch
        count = self.n_strategies if by == "strategy" else self.n_families
        out = np.full((count, 3), np.nan)
        for k in range(count):
            chosen = epochs[groups == k]
            if np.any(np.isfinite(chosen)):
                out[k] = np.nanpercentile(chosen, [25, 50, 75])
        return out

    def assign(self, values, reject_atypical: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """Raw feature rows ``(N, F)`` -> ``(families (N,), strategies (N,))`` in this census's
        numbering. ``reject_atypical``: -1 for both where the family mixture's density is below
        ``typical_log_density`` (a model in no family yet, e.g. an early snapshot)."""
        values = np.asarray(values, np.float64)
        family = self.family_level.assign(values)
        strategy = np.zeros(len(values), int)
        for f, level in enumerate(self.strategy_levels):
            rows = family == f
            if np.any(rows):
                local = level.assign(values[rows])
                strategy[rows] = np.flatnonzero(self.strategy_family == f)[local]
        if reject_atypical and self.family_level.partition is not None:
            log_density = np.log(np.maximum(self.family_level.partition.mixture.density(
                self.family_level.standardise(values)), 1e-300))
            atypical = log_density < self.typical_log_density
            family, strategy = np.where(atypical, -1, family), np.where(atypical, -1, strategy)
        return family, strategy


# ---- fitting ---------------------------------------------------------------------------------
def _fit_level(values, columns, rows, random_state: int, max_groups: int) -> Level:
    """Standardise ``columns`` over ``rows`` and partition them (None below 2 x MIN_SEEDS)."""
    fill, mean, scale = standardisation(values[np.ix_(rows, columns)])
    level = Level(tuple(columns), fill, mean, scale, None)
    if len(rows) < 2 * MIN_SEEDS or max_groups < 2:
        return level
    z = level.standardise(values[rows])
    level.partition = mixture.partition(z, max_k=max(1, len(rows) // MIN_SEEDS),
                                        random_state=random_state, min_group=MIN_SEEDS)
    return level


def _renumber(level: Level, values) -> np.ndarray:
    """Number a level's groups by how many of ``values``' rows they hold (largest first; ties:
    by the median of the level's first feature), in place; returns the rows' groups."""
    labels = level.assign(values)
    if level.partition is None:
        return labels
    count = np.bincount(labels, minlength=level.partition.n_groups)
    first = level.standardise(values)[:, 0]
    middle = np.array([np.median(first[labels == g]) if count[g] else np.inf
                       for g in range(len(count))])
    new = np.argsort(np.lexsort((middle, -count)))
    part = level.partition
    level.partition = part._replace(labels=new[part.labels],
                                    component_group=new[part.component_group])
    return new[labels]


def _fit_rows(count: int, init_groups, fit_sample: int, random_state: int) -> np.ndarray:
    """One row per init group (the first), at most ``fit_sample`` of them, drawn uniformly by
    ``default_rng(random_state)``; sorted."""
    if init_groups is None:
        rows = np.arange(count)
    else:
        _, rows = np.unique(np.asarray(init_groups), return_index=True)
    if len(rows) > fit_sample:
        rows = np.random.default_rng(random_state).choice(rows, fit_sample, replace=False)
    return np.sort(rows)


def _family_partition(z, random_state: int, n_bootstrap: int):
    """The families by consensus over random states and subsamples.

    Fits the partition on all rows under each of :data:`N_STATES` random states
    (``random_state, random_state + 1, ...``) and on ``n_bootstrap`` subsamples under each
    (each row kept with probability :data:`SUBSAMPLE`, as Ben-Hur et al. 2002; a bootstrap's
    repeated rows would form tight clumps that a density method reads as modes). The number of
    families is the one chosen most often over all these fits (ties: the smaller); the
    partition is the fit with that number whose mixture has the lowest BIC on ALL rows.
    Returns ``(partition, {n families: fraction of fits}, subsample fits)``."""
    n = len(z)
    max_k = max(1, n // MIN_SEEDS)
    full, subsamples = [], []
    for state in range(random_state, random_state + N_STATES):
        full.append(mixture.partition(z, max_k=max_k, random_state=state, min_group=MIN_SEEDS))
        rng = np.random.default_rng(10_000 + state)
        for _ in range(n_bootstrap):
            weight = (rng.random(n) < SUBSAMPLE).astype(np.float64)
            subsamples.append(mixture.partition(z, max_k=max_k, random_state=state,
                                                min_group=MIN_SEEDS, point_weight=weight))
    counts: dict = {}
    for part in full + subsamples:
        counts[part.n_groups] = counts.get(part.n_groups, 0) + 1
    modal = min(counts, key=lambda k: (-counts[k], k))
    chosen = min((p for p in full + subsamples if p.n_groups == modal),
                 key=lambda part: _bic_on(part.mixture, z))
    total = sum(counts.values())
    return chosen, {k: counts[k] / total for k in sorted(counts)}, subsamples


def _bic_on(fitted: mixture.Mixture, z) -> float:
    """The BIC of a fitted mixture evaluated on the rows ``z`` (wherever it was fitted)."""
    log_density = np.log(np.maximum(fitted.density(z), 1e-300))
    return float(-2.0 * log_density.sum() + fitted.n_parameters * np.log(len(z)))


def family_name(median: dict) -> str:
    """A family's name from its median update gate at flag-0 and flag-1 steps."""
    z0, z1 = median["z_flag0"], median["z_flag1"]
    if z1 >= z0 - FLAG_BLIND_CONTRAST:
        kind = "flag-blind gate"
    elif z0 >= HOLD:
        kind = "hold-and-write"
    else:
        kind = "gate-write"
    return f"{kind} (z {z0:.2f} unflagged / {z1:.2f} flagged)"


def strategy_name(median: dict, leak_dips) -> str:
    """A strategy's name: its memory (the band of the leak between the dips of its
    distribution: "slow leak" below the lowest dip, "fast leak" above the highest, "leak band
    i" between, with the leading eigenvalue; with no dip, "keeps 0.72 a step": the eigenvalue,
    the share of a stored sum kept per unflagged step), and the candidate's flag push "(+)" /
    "(-)"."""
    leak = median["log10_leak_flag0"]
    eig = median.get("leading_eigenvalue_flag0", 1.0 - 10.0 ** leak)
    dips = np.sort(np.asarray(leak_dips))
    band = int(np.searchsorted(dips, leak)) if np.isfinite(leak) else -1
    if not len(dips) or band < 0:
        memory = f"keeps {eig:.2f} a step"
    elif band == 0:
        memory = "slow leak"
    elif band == len(dips):
        memory = "fast leak"
    else:
        memory = f"leak band {band + 1}"
    push = median.get("flag_push_n", np.nan)
    sign = "" if not np.isfinite(push) else (", candidate(+)" if push >= 0 else ", candidate(-)")
    name = (f"{memory}{sign}" if memory.startswith("keeps")
            else f"{memory} (lambda {eig:.2f}){sign}")
    loss = median.get("log10_final_loss")
    if loss is not None and np.isfinite(loss) and 10 ** loss >= 0.5 * MEAN_BASELINE:
        name = "non-learner: " + name
    return name


def _leak_dips(values, rows, column: int, random_state: int) -> np.ndarray:
    """The cuts between the 1-D modes of the leak over ``rows`` (log10 units), ascending."""
    leak = values[rows, column]
    leak = leak[np.isfinite(leak)]
    if leak.size < 2 * MIN_SEEDS or np.ptp(leak) == 0:
        return np.zeros(0)
    mean, scale = leak.mean(), leak.std()
    part = mixture.partition(((leak - mean) / scale)[:, None], max_k=leak.size // MIN_SEEDS,
                             random_state=random_state, min_group=MIN_SEEDS)
    order = np.argsort([np.median(leak[part.labels == g]) for g in range(part.n_groups)])
    cuts = [part.boundary(a, b)[0] for a, b in zip(order[:-1], order[1:])]
    return np.sort(np.asarray(cuts) * scale + mean)


def cluster(values, names, units, *, seeds=None, threshold_labels=None, reference=None,
            init_groups=None, random_state: int = 0, n_bootstrap: int = N_BOOTSTRAP,
            fit_sample: int = FIT_SAMPLE, fit_index=None) -> Census:
    """The census of a ready feature matrix ``values (S, F)`` (columns named ``names``, which
    must include :data:`FAMILY_FEATURES` and :data:`STRATEGY_FEATURES`; module docstring).

    ``seeds`` default ``0..S-1``; ``threshold_labels`` default all "" (not measured);
    ``init_groups (S,)``: rows with equal values share an initialisation (one of them is fitted
    on); ``reference``: the alignment reference the features were computed with;
    ``fit_index``: the rows to fit on (default :func:`_fit_rows`).
    """
    values = np.asarray(values, np.float64)
    names = tuple(names)
    count = values.shape[0]
    seeds = np.arange(count) if seeds is None else np.asarray(seeds)
    rows = (_fit_rows(count, init_groups, fit_sample, random_state) if fit_index is None
            else np.asarray(fit_index))
    family_cols = [names.index(n) for n in FAMILY_FEATURES]
    strategy_cols = [names.index(n) for n in STRATEGY_FEATURES]
    note = "" if len(rows) >= 2 * MIN_SEEDS else (
        f"too few seeds for a census: {len(rows)} distinct seeds (discovering families needs "
        f"at least {2 * MIN_SEEDS}, {MIN_SEEDS} a family); all seeds are shown as one family "
        "and one strategy")
    family_level = _fit_level(values, family_cols, rows, random_state, 0)
    subsamples, k_stability = [], {1: 1.0}
    if not note:
        family_level.partition, k_stability, subsamples = _family_partition(
            family_level.standardise(values[rows]), random_state, n_bootstrap)
    families = _renumber(family_level, values)
    n_families = int(families.max()) + 1
    leak_dips = (np.zeros(0) if note else
                 _leak_dips(values, rows, names.index("log10_leak_flag0"), random_state))
    # strategies within each family (fitted on the family's fitted rows)
    strategy_levels, labels, strategy_family = [], np.zeros(count, int), []
    for f in range(n_families):
        family_rows = rows[families[rows] == f]
        level = _fit_level(values, strategy_cols, family_rows, random_state,
                           0 if note else len(family_rows) // MIN_SEEDS)
        members = np.flatnonzero(families == f)
        local = _renumber(level, values[members])
        present = np.unique(local)
        labels[members] = len(strategy_family) + np.searchsorted(present, local)
        strategy_family += [f] * len(present)
        if level.partition is not None and len(present) < level.partition.n_groups:
            kept = level.partition
            level.partition = kept._replace(component_group=np.searchsorted(
                present, np.where(np.isin(kept.component_group, present), kept.component_group,
                                  present[0])))
        strategy_levels.append(level)
    strategy_family = np.asarray(strategy_family, int)
    # names, sizes, intervals, representatives
    fam_median = [dict(zip(names, np.nanmedian(values[families == f], axis=0)))
                  for f in range(n_families)]
    family_names = _unique([family_name(m) for m in fam_median])
    family_labels = [f"F{f + 1}" for f in range(n_families)]
    strategy_labels, strategy_names = [], []
    for k, f in enumerate(strategy_family):
        index = int(np.sum(strategy_family[:k] == f))
        strategy_labels.append(f"F{f + 1}{chr(ord('a') + index)}" if np.sum(
            strategy_family == f) > 1 else f"F{f + 1}")
        strategy_names.append(strategy_name(dict(zip(names, np.nanmedian(
            values[labels == k], axis=0))), leak_dips))
    family_counts = np.bincount(families, minlength=n_families)
    counts = np.bincount(labels, minlength=len(strategy_family))
    family_ci, ci = wilson_intervals(family_counts, count), wilson_intervals(counts, count)
    z_family = family_level.standardise(values)
    family_rep = np.array([medoid(z_family, np.flatnonzero(families == f))
                           for f in range(n_families)])
    rep_index = np.array([medoid(strategy_levels[f].standardise(values),
                                 np.flatnonzero(labels == k))
                          for k, f in enumerate(strategy_family)])
    # stability
    if family_level.partition is None:
        ari, dips, typical = np.zeros(0), {r: 1 for r in DIP_SENSITIVITY}, -np.inf
    else:
        z_fit = family_level.standardise(values[rows])
        ari = np.array([adjusted_rand_score(families[rows], sub.assign(z_fit))
                        for sub in subsamples])
        part = family_level.partition
        sizes = np.bincount(np.argmax(part.mixture.component_log_density(z_fit), axis=1),
                            minlength=part.mixture.k)
        dips = {r: int(mixture.modes(part.mixture, sizes, r, MIN_SEEDS).max()) + 1
                for r in DIP_SENSITIVITY}
        typical = float(np.percentile(np.log(np.maximum(part.mixture.density(z_fit), 1e-300)),
                                      1))
    per_init = "one per initialisation, " if init_groups is not None else ""
    sampled = "a uniform sample, " if len(rows) < count and len(rows) == fit_sample else ""
    criterion = (
        f"families: modes of a Gaussian mixture on the standardised {', '.join(FAMILY_FEATURES)} "
        f"(k by the lowest BIC, {mixture.N_INIT} EM starts per k, search range grown while its "
        f"best k is its top; components joined while the density between them stays above "
        f"{mixture.DIP_RATIO} of the lower peak; at least {MIN_SEEDS} seeds each); strategies: "
        f"the same within each family on {', '.join(STRATEGY_FEATURES)}; fitted on "
        f"{len(rows)} of {count} seeds ({per_init}{sampled}"
        f"random_state {random_state}), every seed then assigned")
    return Census(
        seeds, families, family_labels, family_names, family_counts, family_counts / count,
        family_ci[:, 0], family_ci[:, 1], seeds[family_rep], labels, strategy_labels,
        strategy_names, strategy_family, counts, counts / count, ci[:, 0], ci[:, 1],
        seeds[rep_index], rep_index, values, names, tuple(units),
        np.full(count, "") if threshold_labels is None else np.asarray(threshold_labels),
        k_stability, ari, dips, leak_dips, rows, criterion, family_level, strategy_levels,
        reference, typical, np.full(count, np.nan), np.full(count, np.nan), np.zeros(0),
        np.zeros((count, 0), int), np.zeros((count, 0), int), random_state, note)


def _sign(name: str) -> str:
    return " cand(+)" if "candidate(+)" in name else " cand(-)" if "candidate(-)" in name else ""


def _unique(names: list) -> list:
    """Distinct names: a repeated name gains " (2)", " (3)", ..."""
    seen: dict = {}
    out = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        out.append(name if seen[name] == 1 else f"{name} ({seen[name]})")
    return out


def commitment_epochs(snapshot_labels, final_labels, epochs, final_epoch: int) -> np.ndarray:
    """When each seed commits: the first evaluated epoch from which its label equals its final
    label at every later evaluation (``final_epoch`` if even the last snapshot differs).

    ``(S, E) int, (S,) int, (E,) ascending -> (S,) float``.
    """
    same = np.asarray(snapshot_labels) == np.asarray(final_labels)[:, None]
    stays = np.flip(np.logical_and.accumulate(np.flip(same, 1), axis=1), 1)
    first = np.argmax(stays, axis=1)
    return np.where(stays[:, -1], np.asarray(epochs)[first], final_epoch).astype(np.float64)


def init_groups_of(init_params) -> np.ndarray:
    """``(S,)`` int: seeds with bit-identical initial params share a group."""
    flat = flatten_models(init_params)[0]
    leaves = [np.asarray(leaf).reshape(np.shape(leaf)[0], -1)
              for leaf in jax.tree_util.tree_leaves(flat)]
    rows = np.concatenate(leaves, axis=1)
    _, groups = np.unique(rows, axis=0, return_inverse=True)
    return groups.reshape(-1)


def census_of(params, final_train_loss, *, seeds=None, high: int = 100, init_groups=None,
              snapshots=None, snapshot_epochs=None, snapshot_losses=None,
              final_epoch: Optional[int] = None, **options) -> Census:
    """The census of final params ``(S, ...)`` with their last training losses ``(S,)``.

    Args:
      init_groups: ``(S,)``, equal for seeds that share an initialisation (fitted once).
      snapshots: optional params ``(S, E, ...)`` at ``snapshot_epochs (E,)`` with training
        losses ``snapshot_losses (S, E)``: each assigned to a family and a strategy, and the
        commitment epochs measured (``final_epoch``: the epoch of the final params).
      **options: ``random_state``, ``n_bootstrap``, ``fit_sample`` (:func:`cluster`).
    """
    loss = np.asarray(final_train_loss, np.float64)
    count = loss.shape[0]
    fit_sample = options.get("fit_sample", FIT_SAMPLE)
    rows = _fit_rows(count, init_groups, fit_sample, options.get("random_state", 0))
    sampled = count > fit_sample
    take = lambda tree, index: jax.tree_util.tree_map(lambda a: np.asarray(a)[index], tree)
    if not sampled:
        feats = seed_features(params, loss, high=high)
        values = feats.values
    else:
        # the full description of the fitted sample; every other seed by the lean features
        # (its mechanism, for its assignment; its outcome columns NaN)
        feats = seed_features(take(params, rows), loss[rows], high=high)
        others = np.setdiff1d(np.arange(count), rows)
        values = np.empty((count, feats.values.shape[1]))
        values[rows] = feats.values
        values[others] = seed_features(take(params, others), loss[others],
                                       reference=feats.reference, high=high, lean=True).values
    thresholds = threshold_classes(params, loss, high=high)
    result = cluster(values, feats.names, feats.units, seeds=seeds,
                     threshold_labels=thresholds.labels, reference=feats.reference,
                     init_groups=init_groups, fit_index=rows, **options)
    result.probe_error = thresholds.probe_error
    if snapshots is None:
        return result
    # commitment: every snapshot of every seed, or of COMMITMENT_SAMPLE of the fitted seeds
    placed = np.arange(count)
    if count > COMMITMENT_SAMPLE:
        placed = np.sort(np.random.default_rng(options.get("random_state", 0)).choice(
            rows, min(COMMITMENT_SAMPLE, len(rows)), replace=False))
    flat, _ = flatten_models(take(snapshots, placed))
    losses = np.asarray(snapshot_losses, np.float64)[placed]
    snapshot_values = seed_features(flat, losses.reshape(-1), reference=feats.reference,
                                    high=high, lean=True).values
    families, strategies = result.assign(snapshot_values, reject_atypical=True)
    epochs = np.asarray(snapshot_epochs)
    final_epoch = int(epochs[-1]) if final_epoch is None else final_epoch
    families, strategies = families.reshape(losses.shape), strategies.reshape(losses.shape)
    snapshot_families = np.full((count, len(epochs)), -1)
    snapshot_labels = np.full((count, len(epochs)), -1)
    commit, strategy_commit = np.full(count, np.nan), np.full(count, np.nan)
    snapshot_families[placed], snapshot_labels[placed] = families, strategies
    commit[placed] = commitment_epochs(families, result.families[placed], epochs, final_epoch)
    strategy_commit[placed] = commitment_epochs(strategies, result.labels[placed], epochs,
                                                final_epoch)
    return dataclasses.replace(
        result, snapshot_epochs=epochs, snapshot_families=snapshot_families,
        snapshot_labels=snapshot_labels, commitment_epoch=commit,
        strategy_commitment_epoch=strategy_commit)


def census(run, *, commitment: bool = True, **options) -> Census:
    """The census of a :class:`gru_jax.Run` (any hidden size): its final params and last-epoch
    losses, one fitted row per distinct initialisation; with ``commitment``, every snapshot
    assigned (commitment epochs). ``**options``: ``random_state``, ``n_bootstrap``,
    ``fit_sample`` (:func:`cluster`)."""
    loss = np.asarray(run.train_loss)
    final = loss[:, -1].astype(np.float64)
    kwargs = {}
    if commitment:
        epochs = np.asarray(run.eval_epochs)
        kwargs = dict(snapshots=run.snapshots, snapshot_epochs=epochs,
                      snapshot_losses=_losses_at(run, epochs), final_epoch=run.config.epochs - 1)
    return census_of(run.params, final, seeds=np.asarray(run.seeds), high=run.config.high,
                     init_groups=init_groups_of(run.init_params), **kwargs, **options)


def _losses_at(run, epochs) -> np.ndarray:
    """``(S, E)`` training losses at ``epochs`` (the stored loss nearest each, when thinned)."""
    stored = np.asarray(run.loss_epochs) if hasattr(run, "loss_epochs") else np.arange(
        np.shape(run.train_loss)[1])
    index = np.clip(np.searchsorted(stored, epochs), 0, len(stored) - 1)
    return np.asarray(run.train_loss)[:, index]
