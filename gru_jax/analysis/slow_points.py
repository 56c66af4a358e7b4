"""Fixed and slow points of the GRU step: at any hidden size (Sussillo & Barak 2013), and
exactly for one unit.

For a constant input ``x = (value / high, flag)`` the step ``F(h) = gru_cell(gru, h, x)`` is a map
of ``[-1, 1]^H`` into itself. A fixed point solves ``G(h) = F(h) - h = 0``; every one lies in
``(-1, 1)^H`` (``h = F(h)`` means ``(1 - z)(n - h) = 0``, so ``h = n = tanh(.)`` where ``z < 1``).
We minimise ``q(h) = 1/2 |G(h)|^2`` from many starts by damped Gauss-Newton
(Levenberg-Marquardt: ``h <- h - (J^T J + mu m I)^{-1} J^T G`` with ``J = dF/dh - I`` from
``jax.jacfwd`` and ``m = max diag(J^T J)``; a step is taken only when it lowers ``q``, then
``mu`` shrinks 3x, else it grows 4x; steps are clipped to ``[-1, 1]^H``). Far from a root that
is gradient descent on ``q`` (bounded steps); near one it is Newton's method on ``G = 0``
(quadratic convergence), and where ``J`` is singular (a line attractor, as the accumulator's
flag-0 map) the damping keeps steps finite. A local minimum of ``q`` above ``max_residual`` is
a slow point, not returned by default. Everything is vmapped over seeds and
starts and jitted; the GRU step is :func:`gru_jax.model.gru_cell`, not rewritten here.

Then: points with ``|G(h)| <= max_residual`` are kept (raise ``max_residual`` to keep the slow
points where ``q`` has a non-zero local minimum), duplicates within ``dedup_tol`` (max-norm) are
merged keeping the lowest residual, and the ``max_points`` lowest-residual points are returned,
padded with ``valid=False``. The eigenvalues of ``dF/dh`` at each point (float64 numpy, sorted by
descending modulus) classify it: ``"unstable"`` if some ``|lambda| > 1 + marginal_tol``, else
``"marginal"`` if some ``|lambda| >= 1 - marginal_tol`` (a line attractor: what an integrator
needs), else ``"stable"``. A count equal to ``max_points`` means at least that many points:
typically a continuum, which this method samples rather than enumerates.

One unit, exactly (:func:`dynamics`): at ``H = 1`` the step is a scalar map ``h -> f(h)`` of
``[-1, 1]`` into itself, so its fixed points are bracketed by the sign changes of ``f(h) - h`` on
a grid and refined by bisection (no starts, none missed between grid points that change sign),
and the map and its gain ``df/dh`` on the grid are what the dissection report draws. It is the
check on :func:`fixed_points` at ``H = 1``: on the trained 1024-seed H = 1 run
(results/runs/blog1024), every second seed at inputs (0, 0) and (0, 1) has the same fixed points
(to 1e-4) by both, and tests/test_slow_points.py asserts it on random bistable models.

Speed: :func:`fixed_point_summary` (two inputs, 64 starts, 60 steps) on 1024 seeds, measured
on this project's 2-core CPU while shared (load average ~6), jax 0.10.2::

    PYTHONPATH=. python -c "
    import time, dataclasses, jax
    from gru_jax import Config
    from gru_jax.model import init_params
    from gru_jax.analysis.slow_points import fixed_point_summary
    for H in (1, 2):
        cfg = dataclasses.replace(Config(), hidden_size=H)
        params = jax.vmap(lambda k: init_params(cfg, k))(
            jax.random.split(jax.random.PRNGKey(0), 1024))
        t = time.time(); fixed_point_summary(params); t1 = time.time() - t
        t = time.time(); fixed_point_summary(params); print(H, t1, time.time() - t)"

    H = 1: 4-10 s first call (compilation included), 2-2.5 s warm
    H = 2: 9-13 s first call, 5-6 s warm
    (the trained 1024-seed H = 1 run results/runs/blog1024: 4.6 s first call)

References:
  Sussillo & Barak (2013), "Opening the black box: low-dimensional dynamics in
  high-dimensional recurrent neural networks", Neural Computation 25(3).
"""
from __future__ import annotations

import dataclasses
from functools import partial
from typing import NamedTuple, Optional, Sequence

import jax
import jax.numpy as jnp
import jax.scipy.linalg
import numpy as np

from ..model import flatten_models, forward, gru_cell, hidden_size
from .dissect import one_network, require_one_unit


class FixedPoints(NamedTuple):
    """Fixed points of each model at one constant input (``...``: the params' leading axes).

    states: ``(..., K, H)`` float32, scaled hidden units. residual: ``(..., K)`` ``|F(h) - h|``
    (Euclidean, float32 arithmetic). eigenvalues: ``(..., K, H)`` complex128 of ``dF/dh``, by
    descending modulus. kind: ``(..., K)`` str, "stable" | "marginal" | "unstable" ("" where not
    valid). valid: ``(..., K)`` bool; invalid rows are padding (states, residual NaN).
    """

    states: np.ndarray
    residual: np.ndarray
    eigenvalues: np.ndarray
    kind: np.ndarray
    valid: np.ndarray


class FixedPointSummary(NamedTuple):
    """Per-model summary of :func:`fixed_point_summary` (``...``: the params' leading axes).

    n_flag0, n_flag1: ``(...,)`` int, valid fixed points at input (value / high, 0) and
    (value / high, 1) (``max_points`` means at least that many, usually a continuum).
    nearest_state: ``(..., H)`` the flag-0 fixed point nearest ``h = 0`` (NaN if none).
    leading_eigenvalue: ``(...,)`` the largest-modulus eigenvalue of ``dF/dh`` there: the
    eigenvalue itself when real, its modulus when complex (NaN if no point).
    leading_is_real: ``(...,)`` bool. leak: ``(...,)`` ``1 - leading_eigenvalue``: the fraction
    of a stored deviation lost per flag-0 step along the slowest direction.
    """

    n_flag0: np.ndarray
    n_flag1: np.ndarray
    nearest_state: np.ndarray
    leading_eigenvalue: np.ndarray
    leading_is_real: np.ndarray
    leak: np.ndarray


def _flatten(params):
    """Leaves to float32 jnp with the leading axes flattened to one seed axis ``S``."""
    flat, lead = flatten_models(params)
    return jax.tree_util.tree_map(jnp.asarray, flat), lead, hidden_size(params)


def typical_sequences(n_sequences: int, seed: int = 0, length: int = 4,
                      flags: int = 2) -> np.ndarray:
    """``(n, length, 2)`` float32 scaled adding-problem inputs: values uniform in [0, 1),
    ``flags`` flagged steps at random positions (numpy generator seeded by ``seed``)."""
    rng = np.random.default_rng(seed)
    values = rng.random((n_sequences, length))
    ranks = np.argsort(np.argsort(rng.random((n_sequences, length)), 1), 1)
    return np.stack([values, ranks < flags], -1).astype(np.float32)


def _minimise(gru, x, h0, n_steps: int):
    """Levenberg-Marquardt on ``G(h) = F(h) - h`` from one start ``h0`` ``(H,)``;
    returns ``(h, |G(h)|)``.

    The damping is ``mu max(diag(J^T J))`` (relative, so a slow map with ``|J| ~ 1e-3`` takes
    Newton steps as readily as a fast one; an absolute damping would shrink its steps to the
    float32 noise of ``G`` and stall). The damped normal matrix is SPD: solved by Cholesky (a
    NaN step from a numerically singular one makes ``q`` NaN, is rejected, damping grows)."""
    g_fn = lambda h: gru_cell(gru, h, x)[0] - h
    eye = jnp.eye(h0.shape[0], dtype=h0.dtype)

    def body(carry, _):
        h, q, mu = carry
        g, jac = g_fn(h), jax.jacfwd(g_fn)(h)
        normal = jac.T @ jac
        damping = mu * (jnp.max(jnp.diagonal(normal)) + 1e-20)      # scale-free (Nielsen)
        factor = jax.scipy.linalg.cho_factor(normal + damping * eye)
        trial = jnp.clip(h - jax.scipy.linalg.cho_solve(factor, jac.T @ g), -1.0, 1.0)
        g_trial = g_fn(trial)
        q_trial = 0.5 * jnp.sum(g_trial * g_trial)
        better = q_trial < q
        return (jnp.where(better, trial, h), jnp.where(better, q_trial, q),
                jnp.where(better, jnp.maximum(mu / 3.0, 1e-9), jnp.minimum(mu * 4.0, 1e9))), None

    g0 = g_fn(h0)
    (h, q, _), _ = jax.lax.scan(body, (h0, 0.5 * jnp.sum(g0 * g0), jnp.float32(1e-3)), None,
                                length=n_steps)
    return h, jnp.linalg.norm(g_fn(h))


@partial(jax.jit, static_argnames=("n_steps",))
def _solve(params, x, starts, sequences, n_steps: int):
    """Minimise from every start of every model (vmapped over both).

    ``starts (S, M0, H)``; ``sequences`` ``(n, T, 2)`` or None: each model's visited states
    (``n T`` of them) are appended to its starts. Returns ``h (S, M, H)``, ``|G(h)| (S, M)``.
    """
    gru = params["gru"]
    if sequences is not None:
        hidden = starts.shape[-1]
        visited = jax.vmap(lambda p: forward(p, sequences)[1].reshape(-1, hidden))(params)
        starts = jnp.concatenate([starts, visited], axis=1)
    per_start = lambda g, h: _minimise(g, x, h, n_steps)
    return jax.vmap(jax.vmap(per_start, (None, 0)))(gru, starts)


_JACOBIANS = jax.jit(jax.vmap(jax.vmap(jax.jacfwd(lambda gru, h, x: gru_cell(gru, h, x)[0], 1),
                                       (None, 0, None)), (0, 0, None)))


def _select(states, residual, max_residual: float, dedup_tol: float, max_points: int):
    """Keep converged points, merge duplicates, take the ``max_points`` best (numpy).

    ``(S, M, H), (S, M) -> (S, K, H), (S, K), (S, K) bool``: greedy over each model's points by
    ascending residual; a point is kept when it converged and no kept point is within
    ``dedup_tol`` (max-norm). Fewer than ``K`` starts: padded.
    """
    count, starts, hidden = states.shape
    if starts < max_points:
        states = np.concatenate([states, np.zeros((count, max_points - starts, hidden),
                                                  states.dtype)], axis=1)
        residual = np.concatenate([residual, np.full((count, max_points - starts), np.inf,
                                                     residual.dtype)], axis=1)
    converged = residual <= max_residual
    order = np.argsort(np.where(converged, residual, np.inf), axis=1, kind="stable")
    states = np.take_along_axis(states, order[..., None], 1)
    residual, converged = (np.take_along_axis(a, order, 1) for a in (residual, converged))
    keep = np.zeros_like(converged)
    for i in range(converged.shape[1]):
        near = np.max(np.abs(states[:, :i] - states[:, i:i + 1]), axis=-1) <= dedup_tol
        keep[:, i] = converged[:, i] & ~np.any(keep[:, :i] & near, axis=1)
    pick = np.argsort(~keep, axis=1, kind="stable")[:, :max_points]
    return (np.take_along_axis(states, pick[..., None], 1), np.take_along_axis(residual, pick, 1),
            np.take_along_axis(keep, pick, 1))


def classify(eigenvalues, marginal_tol: float = 1e-3) -> np.ndarray:
    """``(..., H)`` eigenvalues -> ``(...,)`` "unstable" (some ``|lambda| > 1 + tol``), else
    "marginal" (some ``|lambda| >= 1 - tol``), else "stable"."""
    modulus = np.abs(np.asarray(eigenvalues))
    return np.where(np.any(modulus > 1 + marginal_tol, -1), "unstable",
                    np.where(np.any(modulus >= 1 - marginal_tol, -1), "marginal", "stable"))


def fixed_points(params, x, starts: Optional[np.ndarray] = None, *, seed: int = 0,
                 n_random: int = 31, n_sequences: int = 8, n_steps: int = 60,
                 max_points: int = 16, max_residual: Optional[float] = None,
                 dedup_tol: float = 1e-3, marginal_tol: float = 1e-3) -> FixedPoints:
    """Fixed points of each model's step at the constant input ``x`` (module docstring).

    Args:
      params: PyTorch layout, any leading axes ``(...)``.
      x: ``(2,)`` the constant input in scaled units ``(value / high, flag)``.
      starts: ``(M, H)`` shared or ``(..., M, H)`` per model; default: ``h = 0``, the states each
        model visits on ``n_sequences`` typical length-4, 2-flag sequences, and ``n_random``
        uniform points in ``[-1, 1]^H`` (64 starts), drawn by numpy from ``seed``.
      n_steps: Levenberg-Marquardt steps per start. max_points: ``K``.
      max_residual: a point is valid when ``|F(h) - h| <= max_residual``; default
        ``1e-6 sqrt(H)`` (float32 evaluation of ``G`` at an exact root gives ~1e-7 per unit).
      dedup_tol: points closer than this (max-norm, scaled units) are one point.
      marginal_tol: see :func:`classify`.

    Returns:
      :class:`FixedPoints` with the params' leading axes kept.
    """
    flat, lead, hidden = _flatten(params)
    count = int(np.prod(lead))
    x = jnp.asarray(x, jnp.float32)
    if x.shape != (2,):
        raise ValueError(f"fixed_points: x must be (2,) = (value / high, flag), got {x.shape}")
    if starts is None:
        uniform = np.random.default_rng(seed).uniform(-1.0, 1.0, (count, n_random, hidden))
        h0 = np.concatenate([np.zeros((count, 1, hidden)), uniform], axis=1)
        sequences = jnp.asarray(typical_sequences(n_sequences, seed)) if n_sequences else None
    else:
        starts = np.asarray(starts, np.float32)
        if starts.ndim < 2 or starts.shape[-1] != hidden:
            raise ValueError(f"fixed_points: starts must be (M, {hidden}) or (..., M, {hidden}), "
                             f"got {starts.shape}")
        h0 = np.broadcast_to(starts, lead + starts.shape[-2:]).reshape((count,) + starts.shape[-2:])
        sequences = None
    max_residual = 1e-6 * np.sqrt(hidden) if max_residual is None else max_residual
    h, res = _solve(flat, x, jnp.asarray(h0, jnp.float32), sequences, n_steps)
    states, residual, valid = _select(np.asarray(h), np.asarray(res), max_residual, dedup_tol,
                                      max_points)
    jac = np.asarray(_JACOBIANS(flat["gru"], jnp.asarray(states), x))
    eig = np.linalg.eigvals(jac.astype(np.float64))
    eig = np.take_along_axis(eig, np.argsort(-np.abs(eig), axis=-1, kind="stable"), axis=-1)
    kind = np.where(valid, classify(eig, marginal_tol), "")
    states = np.where(valid[..., None], states, np.nan).astype(np.float32)
    residual = np.where(valid, residual, np.nan).astype(np.float32)
    eig = np.where(valid[..., None], eig, np.nan)
    shape = lead + (max_points,)
    return FixedPoints(states.reshape(shape + (hidden,)), residual.reshape(shape),
                       eig.reshape(shape + (hidden,)), kind.reshape(shape), valid.reshape(shape))


def fixed_point_summary(params, high: float = 100.0, value: float = 0.0, flag1: bool = True,
                        **kwargs) -> FixedPointSummary:
    """Fixed points at the inputs ``(value / high, 0)`` and ``(value / high, 1)``, per model.

    Args:
      params: PyTorch layout, any leading axes. high: the value scale (Config.high).
      value: the constant value in ORIGINAL units (default 0: no input to add).
      flag1: False skips the flag-1 input (its count is then -1): half the cost.
      **kwargs: passed to :func:`fixed_points` (``seed``, ``max_points``, tolerances, ...).

    Returns:
      :class:`FixedPointSummary`: counts at both inputs; at flag 0 the point nearest ``h = 0``,
      its leading eigenvalue and the leak ``1 - leading eigenvalue``.
    """
    u = value / high
    flag0 = fixed_points(params, np.array([u, 0.0]), **kwargs)
    at_flag1 = fixed_points(params, np.array([u, 1.0]), **kwargs) if flag1 else None
    distance = np.where(flag0.valid, np.linalg.norm(np.nan_to_num(flag0.states), axis=-1), np.inf)
    nearest = np.argmin(distance, axis=-1)[..., None]                              # (..., 1)
    found = np.take_along_axis(flag0.valid, nearest, -1)[..., 0]
    state = np.take_along_axis(flag0.states, nearest[..., None], -2)[..., 0, :]
    leading = np.take_along_axis(flag0.eigenvalues[..., 0], nearest, -1)[..., 0]
    is_real = found & (np.abs(leading.imag) <= 1e-12)
    value_out = np.where(is_real, leading.real, np.abs(leading))
    value_out = np.where(found, value_out, np.nan)
    n_flag1 = (at_flag1.valid.sum(-1) if at_flag1 is not None
               else np.full(flag0.valid.shape[:-1], -1))
    return FixedPointSummary(flag0.valid.sum(-1), n_flag1,
                             np.where(found[..., None], state, np.nan), value_out, is_real,
                             1.0 - value_out)


# ---- one unit: the exact scalar map -----------------------------------------------------------
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
    """The map ``h_t -> h_{t+1}`` for each (flag, value), its gain and fixed points, exactly
    (H = 1; :func:`fixed_points` for any H).

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
