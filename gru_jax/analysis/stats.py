"""Small statistics shared by the analyses: intervals, standardisation, medoids, density dips.

Every function is plain numpy on the host; none knows what a GRU is.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

#: 1.96: the normal quantile of a two-sided 95% interval.
Z95 = 1.959964


def wilson_interval(successes, total, z: float = Z95) -> tuple[float, float]:
    """95% (default) Wilson score interval of a binomial proportion; (nan, nan) if total = 0.

    References:
      Wilson (1927), "Probable inference, the law of succession, and statistical inference",
      JASA 22(158).
    """
    if total == 0:
        return float("nan"), float("nan")
    p = successes / total
    denom = 1.0 + z * z / total
    center = (p + z * z / (2 * total)) / denom
    half = z * np.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / denom
    low, high = max(0.0, center - half), min(1.0, center + half)
    # at p = 0 and p = 1 the bound is exactly 0 and 1 (rounding would exclude p itself)
    return (0.0 if successes == 0 else float(low)), (1.0 if successes == total else float(high))


def wilson_intervals(counts, total) -> np.ndarray:
    """``(K,)`` counts of ``total`` -> ``(K, 2)`` 95% Wilson intervals."""
    return np.array([wilson_interval(int(c), total) for c in np.asarray(counts).reshape(-1)],
                    np.float64).reshape(-1, 2)


def standardisation(values) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(fill, mean, scale)`` for ``(N, F)`` raw features: column medians of the finite values
    (0 for a column with none), means and standard deviations after filling (0 -> 1)."""
    values = np.asarray(values, np.float64)
    finite = np.isfinite(values)
    fill = np.array([np.median(col[ok]) if ok.any() else 0.0
                     for col, ok in zip(values.T, finite.T)])
    filled = np.where(finite, values, fill)
    scale = filled.std(axis=0)
    return fill, filled.mean(axis=0), np.where(scale > 1e-12, scale, 1.0)


def medoid(points: np.ndarray, members: np.ndarray) -> Optional[int]:
    """The index (among ``members``) of the point nearest the members' coordinatewise median;
    None if ``members`` is empty. ``points (N, F)``; NaN counts as 0."""
    members = np.asarray(members)
    if members.size == 0:
        return None
    pts = np.nan_to_num(np.asarray(points, np.float64)[members], nan=0.0)
    centre = np.median(pts, axis=0)
    return int(members[np.argmin(np.sum((pts - centre) ** 2, axis=1))])


def density_dips(values, grid_size: int = 512, max_ratio: float = 0.5,
                 bandwidth: Optional[float] = None) -> np.ndarray:
    """Where a 1-D distribution dips: the minima of its Gaussian kernel density estimate that
    lie below ``max_ratio`` times the LOWER of the two highest peaks on either side.

    Args:
      values: ``(N,)`` samples (non-finite ones are dropped).
      grid_size: points of the evaluation grid over the samples' range.
      max_ratio: how deep a dip must be (0.5: the density halves between two modes).
      bandwidth: the kernel's standard deviation; default Silverman's rule
        ``0.9 min(sd, IQR / 1.34) N^(-1/5)``.

    Returns:
      ``(D,)`` the dips' locations, ascending (empty when the density is unimodal at that
      depth).

    References:
      Silverman (1986), "Density Estimation for Statistics and Data Analysis", eq. 3.31.
    """
    x = np.asarray(values, np.float64)
    x = x[np.isfinite(x)]
    if x.size < 3 or np.ptp(x) == 0:
        return np.zeros(0)
    if bandwidth is None:
        iqr = np.subtract(*np.percentile(x, [75, 25]))
        spread = min(np.std(x), iqr / 1.34) if iqr > 0 else np.std(x)
        bandwidth = 0.9 * spread * x.size ** -0.2
    grid = np.linspace(x.min(), x.max(), grid_size)
    density = np.zeros(grid_size)
    for start in range(0, x.size, 4096):                # bounded memory: (grid, 4096) a block
        block = x[start:start + 4096]
        density += np.exp(-0.5 * ((grid[:, None] - block[None, :]) / bandwidth) ** 2).sum(1)
    dips = []
    for i in range(1, grid_size - 1):
        if density[i] <= density[i - 1] and density[i] < density[i + 1]:
            lower_peak = min(density[:i].max(), density[i + 1:].max())
            if density[i] <= max_ratio * lower_peak:
                dips.append(grid[i])
    return np.asarray(dips)
