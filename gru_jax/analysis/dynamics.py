"""The exact 1-D dynamics of a one-unit GRU: the map ``h_t -> h_(t+1)`` at a constant input,
its gain ``dh_(t+1)/dh_t`` and its fixed points (a perfect accumulator has gain 1 for flag 0).

Defined for hidden size 1, where the map is a scalar function and its fixed points can be found
exactly on a grid; the cell is :func:`gru_jax.model.gru_cell`.
"""
from __future__ import annotations

import dataclasses
from typing import Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from ..model import gru_cell
from .dissect import one_network, require_one_unit


# ---- one-unit dynamics -----------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Dynamics:
    """The scalar map ``h_{t+1} = f(h_t; value, flag)`` of a one-unit GRU.

    h_grid: ``(G,)``. values: ``(V,)`` original units. flags: ``(F,)``. high: value scale.
    h_next, gain: ``(F, V, G)``: ``f(h)`` and ``df/dh`` on the grid.
    fixed_points: one dict per fixed point: flag, value, h (the fixed point), gain (df/dh there),
      stable (``|gain| < 1``), continuum (None, or the ``(low, high)`` range of a line of fixed
      points, then h is NaN and gain the median gain on it).
    """

    h_grid: np.ndarray
    values: np.ndarray
    flags: np.ndarray
    high: float
    h_next: np.ndarray
    gain: np.ndarray
    fixed_points: list


def _scalar_map(gru, h, value_scaled, flag):
    """``h_{t+1}`` of a one-unit cell as a scalar function of scalars."""
    x = jnp.stack([value_scaled, flag])
    return gru_cell(gru, jnp.reshape(h, (1,)), x)[0][0]


_MAP_AND_GAIN = jax.value_and_grad(_scalar_map, argnums=1)
#: f and df/dh on a grid: h (G,) x values (V,) x flags (F,) -> (F, V, G) each.
_GRID_MAP = jax.jit(jax.vmap(jax.vmap(jax.vmap(_MAP_AND_GAIN, (None, 0, None, None)),
                                      (None, None, 0, None)), (None, None, None, 0)))
#: f and df/dh at paired points: h, values, flags all (K,).
_POINT_MAP = jax.jit(jax.vmap(_MAP_AND_GAIN, (None, 0, 0, 0)))


def step_map(params, h, value: float, flag: float, high: float = 100.0):
    """``(f(h), df/dh)`` of the one-unit map for input (value [original units], flag); ``h``
    any shape. ValueError for H > 1."""
    params = one_network(params, "step_map")
    require_one_unit(params, "step_map")
    h = np.asarray(h, np.float32)
    flat = jnp.asarray(h.reshape(-1))
    k = flat.shape[0]
    fh, gh = _POINT_MAP(params["gru"], flat, jnp.full((k,), value / high, jnp.float32),
                        jnp.full((k,), flag, jnp.float32))
    return np.asarray(fh).reshape(h.shape), np.asarray(gh).reshape(h.shape)


def dynamics(params, values: Sequence[float] = (0, 12, 25, 50, 75, 99), flags=(0, 1),
             high: float = 100.0, h_grid: Optional[np.ndarray] = None,
             bisection_steps: int = 60, continuum_atol: float = 1e-6) -> Dynamics:
    """The map ``h_t -> h_{t+1}`` for each (flag, value), its gain and fixed points (H = 1).

    Fixed points ``f(h*) = h*`` are bracketed by sign changes of ``f(h) - h`` on the grid (the map
    sends [-1, 1] into itself since h' is a convex mix of h and tanh) and refined by bisection;
    a fixed point is stable when ``|f'(h*)| < 1``. When ``|f(h) - h| <= continuum_atol`` on more
    than half the grid (a perfect memory, as the hand-crafted accumulator's flag-0 map) the
    (flag, value) gets ONE entry with ``h = nan`` and ``continuum = (lowest, highest)`` fixed h.
    """
    params = one_network(params, "dynamics")
    require_one_unit(params, "dynamics")
    h_grid = np.linspace(-1.0, 1.0, 401) if h_grid is None else np.asarray(h_grid, float)
    values = np.asarray(values, float)
    flags = np.asarray(flags, float)
    gru = params["gru"]
    h_next, gain = _GRID_MAP(gru, jnp.asarray(h_grid, jnp.float32),
                             jnp.asarray(values / high, jnp.float32),
                             jnp.asarray(flags, jnp.float32))
    h_next, gain = np.asarray(h_next, np.float64), np.asarray(gain, np.float64)
    residual = h_next - h_grid
    fixed = []
    brackets = []
    for fi in range(len(flags)):
        for vi in range(len(values)):
            res = residual[fi, vi]
            flat = np.abs(res) <= continuum_atol
            if flat.mean() > 0.5:  # a line of (numerically) fixed points, e.g. a perfect memory
                fixed.append({"flag": float(flags[fi]), "value": float(values[vi]),
                              "h": float("nan"), "gain": float(np.median(gain[fi, vi][flat])),
                              "stable": False, "continuum": (float(h_grid[flat].min()),
                                                             float(h_grid[flat].max()))})
                continue
            exact = np.flatnonzero(res == 0)
            for k in exact:
                brackets.append((fi, vi, h_grid[k], h_grid[k]))
            cross = np.flatnonzero(np.sign(res[:-1]) * np.sign(res[1:]) < 0)
            for k in cross:
                brackets.append((fi, vi, h_grid[k], h_grid[k + 1]))
    if brackets:
        fb = np.asarray([b[0] for b in brackets])
        vb = np.asarray([b[1] for b in brackets])
        lo = np.asarray([b[2] for b in brackets])
        hi = np.asarray([b[3] for b in brackets])
        pairs = lambda hh, vv, ff: _POINT_MAP(gru, hh, vv, ff)
        v_s = jnp.asarray(values[vb] / high, jnp.float32)
        fl = jnp.asarray(flags[fb], jnp.float32)
        res = lambda hh: (np.asarray(pairs(jnp.asarray(hh, jnp.float32), v_s, fl)[0],
                                     np.float64) - hh)
        r_lo = res(lo)
        for _ in range(bisection_steps):
            mid = 0.5 * (lo + hi)
            r_mid = res(mid)
            left = np.sign(r_mid) == np.sign(r_lo)
            lo, r_lo = np.where(left, mid, lo), np.where(left, r_mid, r_lo)
            hi = np.where(left, hi, mid)
        h_star = 0.5 * (lo + hi)
        _, g_star = pairs(jnp.asarray(h_star, jnp.float32), v_s, fl)
        for i in range(len(brackets)):
            fixed.append({"flag": float(flags[fb[i]]), "value": float(values[vb[i]]),
                          "h": float(h_star[i]), "gain": float(g_star[i]),
                          "stable": bool(abs(float(g_star[i])) < 1.0), "continuum": None})
    return Dynamics(h_grid=h_grid, values=values, flags=flags, high=float(high), h_next=h_next,
                    gain=gain, fixed_points=fixed)


def fixed_points_markdown(dyn: Dynamics, digits: int = 4) -> str:
    """Markdown table of the fixed points of :func:`dynamics`."""
    lines = ["| flag | value | fixed point h* | gain f'(h*) | stable |",
             "|---:|---:|---:|---:|:---:|"]
    for p in dyn.fixed_points:
        if p.get("continuum"):
            lo, hi = p["continuum"]
            lines.append(f"| {p['flag']:g} | {p['value']:g} | every h in [{lo:+.3f}, {hi:+.3f}] | "
                         f"{p['gain']:.{digits}f} | neutral (a line of fixed points) |")
            continue
        lines.append(f"| {p['flag']:g} | {p['value']:g} | {p['h']:+.{digits}f} | "
                     f"{p['gain']:.{digits}f} | {'yes' if p['stable'] else 'no'} |")
    return "\n".join(lines)
