"""Fixed and slow points of the GRU step at any hidden size (Sussillo & Barak 2013).

For a constant input ``x = (value / high, flag)`` the step ``F(h) = gru_cell(gru, h, x)`` is a map
of ``[-1, 1]^H`` into itself. A fixed point solves ``G(h) = F(h) - h = 0``; every one lies in
``(-1, 1)^H`` (``h = F(h)`` means ``(1 - z)(n - h) = 0``, so ``h = n = tanh(.)`` where ``z < 1``).
We minimise ``q(h) = 1/2 |G(h)|^2`` from many starts by damped Gauss-Newton
(Levenberg-Marquardt: ``h <- h - (J^T J + mu I)^{-1} J^T G`` with ``J = dF/dh - I`` from
``jax.jacfwd``; a step is taken only when it lowers ``q``, then ``mu`` shrinks 3x, else it grows
4x). Far from a root that is gradient descent on ``q`` (bounded steps); near one it is Newton's
method on ``G = 0`` (quadratic convergence), and where ``J`` is singular (a line attractor, as the
accumulator's flag-0 map) the damping keeps steps finite. Everything is vmapped over seeds and
starts and jitted; the GRU step is :func:`gru_jax.model.gru_cell`, not rewritten here.

Then: points with ``|G(h)| <= max_residual`` are kept (raise ``max_residual`` to keep the slow
points where ``q`` has a non-zero local minimum), duplicates within ``dedup_tol`` (max-norm) are
merged keeping the lowest residual, and the ``max_points`` lowest-residual points are returned,
padded with ``valid=False``. The eigenvalues of ``dF/dh`` at each point (float64 numpy, sorted by
descending modulus) classify it: ``"unstable"`` if some ``|lambda| > 1 + marginal_tol``, else
``"marginal"`` if some ``|lambda| >= 1 - marginal_tol`` (a line attractor: what an integrator
needs), else ``"stable"``. A count equal to ``max_points`` means at least that many points:
typically a continuum, which this method samples rather than enumerates.

Speed (2 shared CPU cores, jax 0.10.2 CPU, compile included; 64 starts, 60 steps, both flag
inputs): see the ``Timing`` block at the end of this docstring.

Timing::

    PYTHONPATH=. python -c "import time, jax, numpy as np; from gru_jax import Config; \
      from gru_jax.model import init_params; from gru_jax.analysis.fixed_points import \
      fixed_point_summary as f; import dataclasses as d; [print(H, (lambda p: (lambda t: \
      (f(p), time.time() - t)[1])(time.time()))(jax.vmap(lambda k: init_params(d.replace( \
      Config(), hidden_size=H), k))(jax.random.split(jax.random.PRNGKey(0), 1024)))) \
      for H in (1, 2)]"
    -> H = 1: TIMING_H1 s; H = 2: TIMING_H2 s (1024 seeds each)

References:
  Sussillo & Barak (2013), "Opening the black box: low-dimensional dynamics in
  high-dimensional recurrent neural networks", Neural Computation 25(3).
"""
from __future__ import annotations

from functools import partial
from typing import NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np

from ..model import forward, gru_cell


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
    hidden = int(np.shape(params["gru"]["weight_hh_l0"])[-1])
    lead = tuple(np.shape(params["gru"]["weight_hh_l0"])[:-2])
    count = int(np.prod(lead))
    flat = jax.tree_util.tree_map(
        lambda a: jnp.asarray(a, jnp.float32).reshape((count,) + np.shape(a)[len(lead):]), params)
    return flat, lead, hidden


def _typical_sequences(key, n_sequences: int, length: int = 4, flags: int = 2) -> jax.Array:
    """``(n, length, 2)`` scaled adding-problem inputs: values uniform in [0, 1), ``flags``
    flagged steps at random positions."""
    value_key, flag_key = jax.random.split(key)
    values = jax.random.uniform(value_key, (n_sequences, length))
    ranks = jnp.argsort(jnp.argsort(jax.random.uniform(flag_key, (n_sequences, length)), 1), 1)
    return jnp.stack([values, (ranks < flags).astype(jnp.float32)], -1)


@partial(jax.jit, static_argnames=("n_random", "n_sequences"))
def _default_starts(params, key, n_random: int, n_sequences: int) -> jax.Array:
    """Starts ``(S, 1 + 4 n_sequences + n_random, H)``: ``h = 0``, the states each model visits
    on ``n_sequences`` typical length-4 sequences, and uniform points in ``[-1, 1]^H``."""
    seq_key, random_key = jax.random.split(key)
    x = _typical_sequences(seq_key, n_sequences)
    count, hidden = params["gru"]["weight_hh_l0"].shape[0], params["gru"]["weight_hh_l0"].shape[-1]
    visited = jax.vmap(lambda p: forward(p, x)[1].reshape(-1, hidden))(params)
    uniform = jax.random.uniform(random_key, (count, n_random, hidden), minval=-1.0, maxval=1.0)
    return jnp.concatenate([jnp.zeros((count, 1, hidden)), visited, uniform], axis=1)


def _minimise(gru, x, h0, n_steps: int):
    """Levenberg-Marquardt on ``G(h) = F(h) - h`` from one start ``h0`` ``(H,)``;
    returns ``(h, |G(h)|)``."""
    g_fn = lambda h: gru_cell(gru, h, x)[0] - h
    eye = jnp.eye(h0.shape[0], dtype=h0.dtype)

    def body(carry, _):
        h, q, mu = carry
        g, jac = g_fn(h), jax.jacfwd(g_fn)(h)
        normal = jac.T @ jac
        step = jnp.linalg.solve(normal + mu * eye, jac.T @ g)
        trial = jnp.clip(h - step, -1.0, 1.0)
        g_trial = g_fn(trial)
        q_trial = 0.5 * jnp.sum(g_trial * g_trial)
        better = q_trial < q
        return (jnp.where(better, trial, h), jnp.where(better, q_trial, q),
                jnp.where(better, jnp.maximum(mu / 3.0, 1e-12), jnp.minimum(mu * 4.0, 1e6))), None

    g0 = g_fn(h0)
    (h, q, _), _ = jax.lax.scan(body, (h0, 0.5 * jnp.sum(g0 * g0), jnp.float32(1e-3)), None,
                                length=n_steps)
    return h, jnp.linalg.norm(g_fn(h))


def _select(states, residual, max_residual, dedup_tol, max_points: int):
    """Keep converged points, merge duplicates, take the ``max_points`` best.

    ``(M, H), (M,) -> (K, H), (K,), (K,) bool``: greedy over starts by ascending residual; a
    point is kept when it converged and no kept point is within ``dedup_tol`` (max-norm).
    """
    if residual.shape[0] < max_points:                  # fewer starts than K: pad
        pad = max_points - residual.shape[0]
        states = jnp.concatenate([states, jnp.zeros((pad, states.shape[1]), states.dtype)])
        residual = jnp.concatenate([residual, jnp.full((pad,), jnp.inf, residual.dtype)])
    count = residual.shape[0]
    converged = residual <= max_residual
    order = jnp.argsort(jnp.where(converged, residual, jnp.inf))
    states, residual, converged = states[order], residual[order], converged[order]
    close = jnp.max(jnp.abs(states[:, None, :] - states[None, :, :]), axis=-1) <= dedup_tol
    index = jnp.arange(count)

    def body(keep, i):
        duplicate = jnp.any(keep & close[i] & (index < i))
        return keep.at[i].set(converged[i] & ~duplicate), None

    keep, _ = jax.lax.scan(body, jnp.zeros(count, bool), index)
    pick = jnp.argsort(~keep, stable=True)[:max_points]
    return states[pick], residual[pick], keep[pick]


@partial(jax.jit, static_argnames=("n_steps", "max_points"))
def _solve(params, x, starts, n_steps: int, max_residual, dedup_tol, max_points: int):
    """Per model (vmapped over ``S``): minimise from every start, select, Jacobians.

    ``starts (S, M, H) -> states (S, K, H), residual (S, K), valid (S, K), dF/dh (S, K, H, H)``.
    """
    def one_model(gru, h0):
        h, res = jax.vmap(lambda h: _minimise(gru, x, h, n_steps))(h0)
        states, res, valid = _select(h, res, max_residual, dedup_tol, max_points)
        jac = jax.vmap(jax.jacfwd(lambda h: gru_cell(gru, h, x)[0]))(states)
        return states, res, valid, jac

    return jax.vmap(one_model)(params["gru"], starts)


def classify(eigenvalues, marginal_tol: float = 1e-3) -> np.ndarray:
    """``(..., H)`` eigenvalues -> ``(...,)`` "unstable" (some ``|lambda| > 1 + tol``), else
    "marginal" (some ``|lambda| >= 1 - tol``), else "stable"."""
    modulus = np.abs(np.asarray(eigenvalues))
    return np.where(np.any(modulus > 1 + marginal_tol, -1), "unstable",
                    np.where(np.any(modulus >= 1 - marginal_tol, -1), "marginal", "stable"))


def fixed_points(params, x, starts: Optional[np.ndarray] = None, *, key=None,
                 n_random: int = 31, n_sequences: int = 8, n_steps: int = 60,
                 max_points: int = 16, max_residual: float = 1e-5, dedup_tol: float = 1e-3,
                 marginal_tol: float = 1e-3) -> FixedPoints:
    """Fixed points of each model's step at the constant input ``x`` (module docstring).

    Args:
      params: PyTorch layout, any leading axes ``(...)``.
      x: ``(2,)`` the constant input in scaled units ``(value / high, flag)``.
      starts: ``(M, H)`` shared or ``(..., M, H)`` per model; default: ``h = 0``, the states each
        model visits on ``n_sequences`` typical length-4, 2-flag sequences, and ``n_random``
        uniform points in ``[-1, 1]^H`` (64 starts), drawn from ``key`` (default PRNGKey(0)).
      n_steps: Levenberg-Marquardt steps per start. max_points: ``K``.
      max_residual: a point is valid when ``|F(h) - h| <= max_residual``.
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
        key = jax.random.PRNGKey(0) if key is None else key
        h0 = _default_starts(flat, key, n_random, n_sequences)
    else:
        starts = np.asarray(starts, np.float32)
        if starts.ndim < 2 or starts.shape[-1] != hidden:
            raise ValueError(f"fixed_points: starts must be (M, {hidden}) or (..., M, {hidden}), "
                             f"got {starts.shape}")
        h0 = jnp.asarray(np.broadcast_to(starts, lead + starts.shape[-2:])
                         .reshape((count,) + starts.shape[-2:]))
    states, residual, valid, jac = (np.asarray(a) for a in _solve(
        flat, x, h0, n_steps, jnp.float32(max_residual), jnp.float32(dedup_tol), max_points))
    eig = np.linalg.eigvals(jac.astype(np.float64))
    eig = np.take_along_axis(eig, np.argsort(-np.abs(eig), axis=-1, kind="stable"), axis=-1)
    kind = np.where(valid, classify(eig, marginal_tol), "")
    states = np.where(valid[..., None], states, np.nan).astype(np.float32)
    residual = np.where(valid, residual, np.nan).astype(np.float32)
    eig = np.where(valid[..., None], eig, np.nan)
    shape = lead + (max_points,)
    return FixedPoints(states.reshape(shape + (hidden,)), residual.reshape(shape),
                       eig.reshape(shape + (hidden,)), kind.reshape(shape), valid.reshape(shape))


def fixed_point_summary(params, high: float = 100.0, value: float = 0.0,
                        **kwargs) -> FixedPointSummary:
    """Fixed points at the inputs ``(value / high, 0)`` and ``(value / high, 1)``, per model.

    Args:
      params: PyTorch layout, any leading axes. high: the value scale (Config.high).
      value: the constant value in ORIGINAL units (default 0: no input to add).
      **kwargs: passed to :func:`fixed_points` (``key``, ``max_points``, tolerances, ...).

    Returns:
      :class:`FixedPointSummary`: counts at both inputs; at flag 0 the point nearest ``h = 0``,
      its leading eigenvalue and the leak ``1 - leading eigenvalue``.
    """
    u = value / high
    flag0 = fixed_points(params, np.array([u, 0.0]), **kwargs)
    flag1 = fixed_points(params, np.array([u, 1.0]), **kwargs)
    distance = np.where(flag0.valid, np.linalg.norm(np.nan_to_num(flag0.states), axis=-1), np.inf)
    nearest = np.argmin(distance, axis=-1)[..., None]                              # (..., 1)
    found = np.take_along_axis(flag0.valid, nearest, -1)[..., 0]
    state = np.take_along_axis(flag0.states, nearest[..., None], -2)[..., 0, :]
    leading = np.take_along_axis(flag0.eigenvalues[..., 0], nearest, -1)[..., 0]
    is_real = found & (np.abs(leading.imag) <= 1e-12)
    value_out = np.where(is_real, leading.real, np.abs(leading))
    value_out = np.where(found, value_out, np.nan)
    return FixedPointSummary(flag0.valid.sum(-1), flag1.valid.sum(-1),
                             np.where(found[..., None], state, np.nan), value_out, is_real,
                             1.0 - value_out)
