"""Gaussian mixtures fitted from many starts at once, k chosen by BIC, and groups as the modes
of the fitted density.

Why not one scikit-learn fit per k: a census fits hundreds of mixtures (every k, many starts,
bootstrap resamples, several random states). Here the starts of one k run as ONE batched EM in
numpy (arrays ``(starts, k, N, D)``), which is what makes "enough starts to reach the
criterion's minimum every time" affordable. The EM is the textbook one (full covariances,
``reg_covar`` added to each diagonal, as scikit-learn's ``GaussianMixture``; tested against it).

- :func:`fit`: the best of ``n_init`` EM runs (k-means++ seeds, a few Lloyd steps, then EM).
- :func:`select`: k by the lowest BIC; the search range grows while its best k is its top.
- :func:`modes`: components joined into groups while the density of two groups has no dip
  between their peaks (hierarchical ridge-line merging); a BIC mixture splits one curved or
  skewed cluster into several Gaussians, the modes are what a reader sees as clusters, and
  their number does not grow with the sample size the way BIC's k does.
- :func:`partition`: select, then modes, then every point's group: the census's building block.

References:
  Dempster, Laird & Rubin (1977), "Maximum likelihood from incomplete data via the EM
  algorithm", JRSS B 39(1).
  Schwarz (1978), "Estimating the dimension of a model", Ann. Statist. 6(2) (BIC).
  Arthur & Vassilvitskii (2007), "k-means++: the advantages of careful seeding", SODA.
  Hennig (2010), "Methods for merging Gaussian mixture components", ADAC 4(1) (ridge-line and
  dip-based merging of components into clusters).
"""
from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

#: Added to every covariance's diagonal (the data are standardised: 0.03 standard deviations).
REG_COVAR = 1e-3
#: EM starts per k.
N_INIT = 16
MAX_ITER = 300
#: EM stops when no start's mean log-likelihood moved by more than this.
TOL = 1e-4
#: Two groups are one mode unless the density between their peaks falls below this fraction of
#: the lower peak (0.2: to a fifth of it). The census reports its answer at other ratios too.
DIP_RATIO = 0.2
#: The search for k starts at 1..K_START and grows by K_STEP while the best k is the top.
K_START = 8
K_STEP = 4
#: No group is smaller than this many points (smaller modes join their nearest neighbour).
MIN_GROUP = 5
_LOG_2PI = np.log(2 * np.pi)


class Mixture(NamedTuple):
    """A fitted Gaussian mixture on ``D`` standardised features.

    weights ``(k,)``, means ``(k, D)``, covariances ``(k, D, D)``; log_likelihood: the total
    over the ``n`` points it was fitted on.
    """

    weights: np.ndarray
    means: np.ndarray
    covariances: np.ndarray
    log_likelihood: float
    n: float

    @property
    def k(self) -> int:
        return len(self.weights)

    @property
    def n_parameters(self) -> int:
        k, d = self.means.shape
        return k * d + k * d * (d + 1) // 2 + k - 1

    def bic(self) -> float:
        """Bayesian information criterion: ``-2 log L + p log n`` (lower is better)."""
        return -2.0 * self.log_likelihood + self.n_parameters * np.log(self.n)

    def component_log_density(self, z) -> np.ndarray:
        """``(N, D) -> (N, k)``: ``log w_c + log N(z; mu_c, Sigma_c)``."""
        z = np.asarray(z, np.float64)
        precision = np.linalg.inv(self.covariances)
        log_det = np.linalg.slogdet(self.covariances)[1]
        diff = z[:, None, :] - self.means[None]                           # (N, k, D)
        maha = np.einsum("nkd,kde,nke->nk", diff, precision, diff)
        return (np.log(np.maximum(self.weights, 1e-300)) - 0.5 * log_det)[None] - 0.5 * (
            z.shape[1] * _LOG_2PI + maha)

    def posterior(self, z) -> np.ndarray:
        """``(N, D) -> (N, k)`` responsibilities."""
        log_p = self.component_log_density(z)
        return np.exp(log_p - _logsumexp(log_p, axis=1)[:, None])

    def density(self, z) -> np.ndarray:
        """``(N, D) -> (N,)`` the mixture's density."""
        return np.exp(self.component_log_density(z)).sum(axis=1)


# ---- EM, batched over starts, compiled --------------------------------------------------------
def _log_gauss(z, weights, means, precision, log_det):
    """``z (N, D)``, ``weights (M, k)``, ``means (M, k, D)``, ``precision (M, k, D, D)``,
    ``log_det (M, k)`` -> ``(M, k, N)`` log ``w N(z; mu, Sigma)``.

    The quadratic form is written out over the ``D^2`` entries (D is a handful of features), so
    XLA fuses it into one pass over ``(M, k, N)`` instead of batched 2 x 2 matrix products."""
    d = z.shape[1]
    diff = [z[None, None, :, a] - means[:, :, a, None] for a in range(d)]    # D x (M, k, N)
    maha = 0.0
    for a in range(d):
        maha = maha + precision[:, :, a, a, None] * diff[a] * diff[a]
        for b in range(a + 1, d):
            maha = maha + 2.0 * precision[:, :, a, b, None] * diff[a] * diff[b]
    return (jnp.log(jnp.maximum(weights, 1e-30)) - 0.5 * log_det)[..., None] - 0.5 * (
        d * _LOG_2PI + maha)


def _m_step(z, point_weight, resp, reg_covar):
    """Weighted M-step: ``resp (M, k, N)`` -> weights ``(M, k)``, means, covariances, and
    their precisions and log-determinants."""
    r = resp * point_weight[None, None]
    counts = r.sum(-1) + 1e-6                                           # (M, k)
    d = z.shape[1]
    means = jnp.stack([(r * z[None, None, :, a]).sum(-1) for a in range(d)], -1) / counts[..., None]
    diff = [z[None, None, :, a] - means[:, :, a, None] for a in range(d)]
    rows = [[(r * diff[a] * diff[b]).sum(-1) / counts for b in range(d)] for a in range(d)]
    cov = jnp.stack([jnp.stack(row, -1) for row in rows], -2) + reg_covar * jnp.eye(d)[None, None]
    precision = jnp.linalg.inv(cov)
    log_det = jnp.linalg.slogdet(cov)[1]
    return counts / point_weight.sum(), means, cov, precision, log_det


def _kmeans_seeds(key, z, point_weight, active, n_init, lloyd_steps: int = 10):
    """``(n_init, K, N)`` one-hot hard assignments to the ``active (K,)`` components: k-means++
    seeds drawn with the points' weights, then ``lloyd_steps`` weighted Lloyd steps."""
    n, k_pad = z.shape[0], active.shape[0]
    keys = jax.random.split(key, k_pad)
    log_w = jnp.log(jnp.maximum(point_weight, 1e-30))
    first = jax.random.categorical(keys[0], jnp.broadcast_to(log_w, (n_init, n)))
    centres = [z[first]]                                                 # K x (M, D)
    closest = jnp.sum((z[None] - centres[0][:, None]) ** 2, -1)          # (M, N)
    for c in range(1, k_pad):
        pick = jax.random.categorical(keys[c],
                                      log_w[None] + jnp.log(jnp.maximum(closest, 1e-30)))
        centres.append(z[pick])
        update = jnp.minimum(closest, jnp.sum((z[None] - centres[c][:, None]) ** 2, -1))
        closest = jnp.where(active[c], update, closest)
    centres = jnp.stack(centres, axis=1)                                 # (M, K, D)
    far = jnp.where(active, 0.0, jnp.inf)[None, :, None]

    def assign(centres):
        d2 = jnp.sum((z[None, None] - centres[:, :, None]) ** 2, -1) + far     # (M, K, N)
        return jax.nn.one_hot(jnp.argmin(d2, axis=1), k_pad, axis=1)

    def lloyd(centres, _):
        one_hot = assign(centres) * point_weight[None, None]
        count = one_hot.sum(-1)
        moved = one_hot @ z / jnp.maximum(count, 1e-12)[..., None]
        return jnp.where(count[..., None] > 0, moved, centres), None

    centres, _ = jax.lax.scan(lloyd, centres, None, length=lloyd_steps)
    return assign(centres)


@functools.partial(jax.jit, static_argnames=("n_init", "max_iter"))
def _em(key, z, point_weight, active, reg_covar, tol, *, n_init, max_iter):
    """``n_init`` EM runs at once of a mixture of the ``active (K,)`` components (the inactive
    ones keep weight 0) -> weights ``(M, K)``, means, covariances, total weighted
    log-likelihood ``(M,)``, iterations run. One compilation serves every k up to K."""
    resp = _kmeans_seeds(key, z, point_weight, active, n_init)
    params = _m_step(z, point_weight, resp, reg_covar)
    off = jnp.where(active, 0.0, -1e30)[None, :, None]

    def log_likelihood(params):
        log_p = _log_gauss(z, params[0], params[1], params[3], params[4]) + off
        log_norm = jax.nn.logsumexp(log_p, axis=1)                       # (M, N)
        return log_p, log_norm, (log_norm * point_weight[None]).sum(-1) / point_weight.sum()

    def body(carry):
        params, previous, _, step = carry
        log_p, log_norm, mean_ll = log_likelihood(params)
        resp = jnp.exp(log_p - log_norm[:, None])
        return _m_step(z, point_weight, resp, reg_covar), mean_ll, previous, step + 1

    def cond(carry):
        _, current, previous, step = carry
        return (step < max_iter) & jnp.any(jnp.abs(current - previous) >= tol)

    start = (params, jnp.full((n_init,), -jnp.inf), jnp.full((n_init,), jnp.inf), 0)
    params, _, _, steps = jax.lax.while_loop(cond, body, start)
    total = log_likelihood(params)[2] * point_weight.sum()
    return params[0], params[1], params[2], total, steps


def _bucket(n: int, smallest: int = 64) -> int:
    """Rows padded to the next power of two (at least ``smallest``): few compiled shapes."""
    return max(smallest, 1 << max(0, int(n - 1).bit_length()))


def fit(z, k: int, n_init: int = N_INIT, random_state: int = 0, reg_covar: float = REG_COVAR,
        max_iter: int = MAX_ITER, tol: float = TOL, point_weight=None,
        k_pad: int = None) -> Mixture:
    """The best (highest log-likelihood) of ``n_init`` EM runs of a ``k``-component,
    full-covariance Gaussian mixture on ``z (N, D)``, all runs in one compiled program (float32);
    starts from ``jax.random.key(random_state)``. ``point_weight (N,)``: each point's weight
    (a resample is integer weights; default 1). The program is compiled for ``k_pad``
    components (default: ``k`` rounded up to a multiple of 4) and ``N`` rounded up to a power
    of two, so fits of many k and sample sizes share a few compilations."""
    z = np.asarray(z, np.float64)
    n, d = z.shape
    weight = np.ones(n) if point_weight is None else np.asarray(point_weight, np.float64)
    k_pad = k_pad or -(-k // 4) * 4
    rows = _bucket(n)
    z_pad = np.zeros((rows, d), np.float32)
    z_pad[:n] = z
    w_pad = np.zeros(rows, np.float32)
    w_pad[:n] = weight
    weights, means, cov, total, _ = _em(
        jax.random.key(random_state), jnp.asarray(z_pad), jnp.asarray(w_pad),
        jnp.arange(k_pad) < k, reg_covar, tol, n_init=n_init, max_iter=max_iter)
    total = np.asarray(total, np.float64)
    best = int(np.nanargmax(np.where(np.isfinite(total), total, -np.inf)))
    mixture = Mixture(np.asarray(weights[best, :k], np.float64),
                      np.asarray(means[best, :k], np.float64),
                      np.asarray(cov[best, :k], np.float64), float("nan"), float(weight.sum()))
    # the likelihood in float64 from the float32 fit: the BIC compares fits of different k
    log_norm = _logsumexp(mixture.component_log_density(z), axis=1)
    return mixture._replace(log_likelihood=float(np.sum(weight * log_norm)))


def _logsumexp(a, axis):
    top = a.max(axis=axis, keepdims=True)
    return (top + np.log(np.exp(a - top).sum(axis=axis, keepdims=True))).squeeze(axis)


def select(z, max_k: int, n_init: int = N_INIT, random_state: int = 0,
           reg_covar: float = REG_COVAR, point_weight=None) -> tuple[Mixture, dict]:
    """The lowest-BIC mixture over ``k = 1..`` (at most ``max_k``; the search starts at
    :data:`K_START` and grows by :data:`K_STEP` while its best k is its top, so the range is
    never the answer's ceiling unless ``max_k`` is). Start seeds: ``random_state * 1000 + k``.
    ``point_weight``: as in :func:`fit` (the BIC's ``n`` is their sum).

    Returns ``(mixture, {k: bic})``.
    """
    z = np.asarray(z, np.float64)
    n = z.shape[0] if point_weight is None else int(np.sum(np.asarray(point_weight) > 0))
    max_k = max(1, min(max_k, n - 1))
    fitted: dict = {}
    top = min(K_START, max_k)
    while True:
        for k in range(1, top + 1):
            if k not in fitted:
                fitted[k] = fit(z, k, n_init, random_state * 1000 + k, reg_covar,
                                point_weight=point_weight, k_pad=-(-top // 4) * 4)
        best = min(fitted, key=lambda k: fitted[k].bic())
        if best < top or top >= max_k:
            return fitted[best], {k: fitted[k].bic() for k in sorted(fitted)}
        top = min(top + K_STEP, max_k)


# ---- modes -----------------------------------------------------------------------------------
def _group_density(mixture: Mixture, groups: list, points) -> np.ndarray:
    """``(P, D)`` points -> ``(P, len(groups))`` each group's share of the density."""
    dens = np.exp(mixture.component_log_density(points))
    return np.stack([dens[:, g].sum(axis=1) for g in groups], axis=1)


def _peak(mixture: Mixture, group: list) -> np.ndarray:
    """The densest of a group's component means (its mode, near enough)."""
    candidates = mixture.means[group]
    return candidates[np.argmax(_group_density(mixture, [group], candidates)[:, 0])]


def _ridge(mixture: Mixture, a: list, b: list, steps: int = 65):
    """The path between the peaks of groups ``a`` and ``b`` and the density of their components
    along it: ``(path (steps, D), density (steps,))``."""
    t = np.linspace(0.0, 1.0, steps)[:, None]
    path = _peak(mixture, a) * (1 - t) + _peak(mixture, b) * t
    return path, _group_density(mixture, [a + b], path)[:, 0]


def ridge_ratio(mixture: Mixture, a: list, b: list) -> float:
    """How little the density of groups ``a`` and ``b`` (their components only) dips on the
    straight path between their peaks: ``min / min(peak_a, peak_b)`` (1 = no dip)."""
    _, f = _ridge(mixture, a, b)
    return float(f.min() / max(min(f[0], f[-1]), 1e-300))


def modes(mixture: Mixture, component_sizes, dip_ratio: float = DIP_RATIO,
          min_group: float = MIN_GROUP) -> np.ndarray:
    """Components -> groups: repeatedly join the two groups whose density dips least between
    their peaks, while that ratio is at least ``dip_ratio``; then a group of less than
    ``min_group`` points (``component_sizes (k,)``: points, or summed weights, per component)
    joins the group it dips least towards.

    Returns ``(k,)`` the group of each component, ``0..G-1``.
    """
    groups = [[c] for c in range(mixture.k)]
    sizes = np.asarray(component_sizes, np.float64)

    def best_pair(candidates):
        best = (-1.0, None)
        for a, b in candidates:
            ratio = ridge_ratio(mixture, groups[a], groups[b])
            if ratio > best[0]:
                best = (ratio, (a, b))
        return best

    while len(groups) > 1:
        pairs = [(a, b) for a in range(len(groups)) for b in range(a + 1, len(groups))]
        ratio, pair = best_pair(pairs)
        small = [i for i, g in enumerate(groups) if sizes[g].sum() < min_group]
        if ratio < dip_ratio:
            if not small:
                break
            ratio, pair = best_pair([(small[0], b) for b in range(len(groups))
                                     if b != small[0]])
        a, b = sorted(pair)
        groups[a] = groups[a] + groups[b]
        del groups[b]
    out = np.zeros(mixture.k, int)
    for index, group in enumerate(groups):
        out[group] = index
    return out


class Partition(NamedTuple):
    """Points grouped by the modes of a BIC-chosen mixture.

    labels ``(N,)`` int ``0..G-1`` (0 = the largest group); component_group ``(k,)``: each
    component's group (same numbering); mixture; bic ``{k: bic}``.
    """

    labels: np.ndarray
    component_group: np.ndarray
    mixture: Mixture
    bic: dict

    @property
    def n_groups(self) -> int:
        return int(self.component_group.max()) + 1

    def group_posterior(self, z) -> np.ndarray:
        """``(N, D) -> (N, G)``: each group's summed responsibility."""
        post = self.mixture.posterior(z)
        return np.stack([post[:, self.component_group == g].sum(1)
                         for g in range(self.n_groups)], axis=1)

    def assign(self, z) -> np.ndarray:
        """Group of new standardised points ``(N, D) -> (N,)``: the largest summed posterior."""
        return np.argmax(self.group_posterior(z), axis=1)

    def boundary(self, a: int, b: int) -> np.ndarray:
        """Where the density dips on the path between the peaks of groups ``a`` and ``b``:
        ``(D,)`` (in 1-D: the cut between two modes)."""
        path, f = _ridge(self.mixture, list(np.flatnonzero(self.component_group == a)),
                         list(np.flatnonzero(self.component_group == b)))
        return path[np.argmin(f)]


def partition(z, max_k: int, n_init: int = N_INIT, random_state: int = 0,
              dip_ratio: float = DIP_RATIO, min_group: float = MIN_GROUP,
              point_weight=None) -> Partition:
    """:func:`select` then :func:`modes`; every point assigned (:meth:`Partition.assign`); groups
    numbered by descending size (ties: by the first coordinate of their mean); a group no point
    falls in is dissolved (its components join the group that claims their means).
    ``point_weight``: as in :func:`fit` (sizes are summed weights)."""
    z = np.asarray(z, np.float64)
    weight = np.ones(len(z)) if point_weight is None else np.asarray(point_weight, np.float64)
    mixture, bic = select(z, max_k, n_init, random_state, point_weight=point_weight)
    component = np.argmax(mixture.component_log_density(z), axis=1)
    sizes = np.bincount(component, weights=weight, minlength=mixture.k)
    group = modes(mixture, sizes, dip_ratio, min_group)
    raw = Partition(np.zeros(0, int), group, mixture, bic).assign(z)
    count = np.bincount(raw, weights=weight, minlength=group.max() + 1)
    if np.any(count == 0):                                   # a group that claims no point
        kept = np.flatnonzero(count > 0)
        claims = Partition(np.zeros(0, int), group, mixture, bic).group_posterior(mixture.means)
        group = np.where(np.isin(group, kept), group, kept[np.argmax(claims[:, kept], axis=1)])
        group = np.searchsorted(kept, group)
        raw = Partition(np.zeros(0, int), group, mixture, bic).assign(z)
        count = np.bincount(raw, weights=weight, minlength=group.max() + 1)
    first = np.array([np.average(z[raw == g, 0], weights=weight[raw == g])
                      for g in range(len(count))])
    order = np.lexsort((first, -count))                   # new number i = old group order[i]
    renumber = np.argsort(order)
    return Partition(renumber[raw], renumber[group], mixture, bic)
