"""Learned versus designed: every seed set against the hand-crafted accumulators.

- distances over epochs, in canonical coordinates (each coordinate divided by its reachable cap,
  :func:`gru_jax.handcrafted.reachable_caps`, so the number is dimensionless: "how many
  protocol-lifetimes of Adam travel apart") and in behaviour (the update gate's mean at flag 0
  and flag 1, :func:`gru_jax.analysis.census.update_gate_behaviour`);
- the training loss along the straight line from each seed to a hand-crafted set (both
  canonical, so the path does not cross the sign symmetry);
- stability: the blog's protocol started from a hand-crafted set and from perturbations of it.

The default reference for distances and paths is the REACHABLE accumulator: the exact one's
readout weight (2000) would dominate every distance in weight space.
"""
from __future__ import annotations

import dataclasses
from typing import Callable, Optional

import jax
import jax.numpy as jnp
import numpy as np

from .. import handcrafted
from ..config import Config
from ..model import gru_cell
from .canonical import canonical_vector, from_canonical_vector
from .census import update_gate_behaviour
from .generalization import HeldOut, _flatten_models, cell_data


def _leaf_lead(params) -> tuple:
    return tuple(np.shape(params["gru"]["weight_hh_l0"])[:-2])


def with_initial(run):
    """``(epochs (n_eval + 1,), params (S, n_eval + 1, ...))``: init params as epoch -1, then
    the snapshots."""
    stacked = jax.tree_util.tree_map(
        lambda init, snaps: np.concatenate([np.asarray(init)[:, None], np.asarray(snaps)], 1),
        run.init_params, run.snapshots)
    return np.concatenate([[-1], np.asarray(run.eval_epochs)]), stacked


def canonical_distance(params, reference=None, scale=None) -> np.ndarray:
    """Scaled Euclidean distance in canonical coordinates: ``lead -> lead`` (dimensionless).

    Args:
      params: any leading axes. reference: one params set (default: reachable accumulator).
      scale: ``(15,)`` per-coordinate divisor (default: the reachable caps).
    """
    reference = handcrafted.reachable_accumulator() if reference is None else reference
    scale = handcrafted.reachable_caps() if scale is None else np.asarray(scale)
    diff = (canonical_vector(params) - canonical_vector(reference)) / scale
    return np.sqrt(np.sum(diff.astype(np.float64) ** 2, axis=-1))


def behaviour_distance(params, reference=None, behaviour=None) -> np.ndarray:
    """Euclidean distance of (mean z at flag 0, at flag 1) to the reference's: ``lead -> lead``.

    ``behaviour`` may pass precomputed :func:`update_gate_behaviour` of ``params``.
    """
    reference = handcrafted.accumulator() if reference is None else reference
    ours = update_gate_behaviour(params) if behaviour is None else behaviour
    theirs = update_gate_behaviour(reference)
    return np.sqrt(np.sum((ours - theirs) ** 2, axis=-1))


@dataclasses.dataclass
class Trajectories:
    """epochs ``(E,)`` (-1 = init); canonical, behaviour_distance ``(S, E)``;
    behaviour ``(S, E, 2)``."""

    epochs: np.ndarray
    canonical: np.ndarray
    behaviour_distance: np.ndarray
    behaviour: np.ndarray


def distance_trajectories(run, reference=None, behaviour_reference=None) -> Trajectories:
    """Distances of every seed to the hand-crafted set at init and at every snapshot."""
    epochs, params = with_initial(run)
    behaviour = update_gate_behaviour(params)
    return Trajectories(epochs, canonical_distance(params, reference),
                        behaviour_distance(params, behaviour_reference, behaviour), behaviour)


# ---- loss along a straight path -------------------------------------------------------------
def training_batch(length: int = 4, flags: int = 2, n: int = 2000, high: int = 100, seed: int = 7):
    """A fixed batch of the training distribution: raw ``(x (n, L, 2), y (n,))``."""
    return cell_data(HeldOut((length,), (flags,), n, seed, high), length, flags)


@jax.jit
def _mse_scaled(params, x_columns, y_scaled):
    """MSE (scaled units) of M models: params ``(M, ...)``, x ``(T, 2, N)`` -> ``(M,)``."""

    def one(p):
        gru = p["gru"]
        h0 = jnp.zeros((1, x_columns.shape[-1]), jnp.float32)
        h, _ = jax.lax.scan(lambda h, x_t: (gru_cell(gru, h, x_t)[0], None), h0, x_columns)
        pred = p["linear"]["weight"][0, 0] * h[0] + p["linear"]["bias"][0]
        return jnp.mean((pred - y_scaled) ** 2)

    return jax.vmap(one)(params)


def loss_scaled(params, batch=None, high: int = 100) -> np.ndarray:
    """MSE in scaled units (the training loss) of every model on ``batch``: ``lead -> lead``."""
    x_raw, y_raw = batch if batch is not None else training_batch(high=high)
    flat, lead = _flatten_models(params)
    x = np.asarray(x_raw, np.float32).copy()
    x[..., 0] /= high
    out = _mse_scaled(flat, jnp.asarray(np.transpose(x, (1, 2, 0))),
                      jnp.asarray(np.asarray(y_raw, np.float32) / high))
    return np.asarray(out).reshape(lead)


def interpolation_losses(params, reference=None, alphas=np.linspace(0.0, 1.0, 21), batch=None,
                         high: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """Training loss along ``(1 - alpha) * seed + alpha * reference`` in canonical coordinates.

    Args:
      params: ``(S, ...)`` learned params. reference: one params set (default: the reachable
        accumulator). alphas: ``(A,)``, 0 = the seed, 1 = the reference.

    Returns:
      ``(alphas (A,), losses (S, A))`` in scaled units.
    """
    reference = handcrafted.reachable_accumulator() if reference is None else reference
    start = canonical_vector(params).astype(np.float64)               # (S, P)
    end = canonical_vector(reference).astype(np.float64)              # (P,)
    alphas = np.asarray(alphas, np.float64)
    path = (1 - alphas[None, :, None]) * start[:, None, :] + alphas[None, :, None] * end
    return alphas, loss_scaled(from_canonical_vector(path.astype(np.float32)), batch, high)


def barrier_height(losses: np.ndarray) -> np.ndarray:
    """Per path: max loss along it minus the larger of its two ends (> 0: a barrier). ``(S,)``."""
    losses = np.asarray(losses)
    return np.max(losses, axis=-1) - np.maximum(losses[..., 0], losses[..., -1])


# ---- stability ------------------------------------------------------------------------------
def perturbed_copies(params, n: int, scale: float, seed: int = 0, include_exact: bool = True):
    """``n`` copies of one params set (``(n, ...)``), Gaussian noise of std ``scale`` x each
    coordinate's reachable cap added in canonical coordinates; copy 0 exact if
    ``include_exact``."""
    rng = np.random.default_rng(seed)
    base = canonical_vector(params).astype(np.float64)
    noise = rng.normal(size=(n, base.shape[-1])) * scale * handcrafted.reachable_caps()
    if include_exact:
        noise[0] = 0.0
    return from_canonical_vector((base + noise).astype(np.float32))


def stability_runs(reference=None, cfg: Optional[Config] = None, n: int = 8,
                   scale: float = 0.005, seed: int = 0, train_fn: Optional[Callable] = None):
    """Train the protocol from ``reference`` (copy 0) and ``n - 1`` perturbations of it.

    Args:
      reference: default the reachable accumulator. cfg: the protocol (default ``Config()``).
      n: runs; scale: perturbation std in units of each coordinate's reachable cap.
      train_fn: the trainer (default :func:`gru_jax.train`); called as
        ``train_fn(cfg, seeds=range(n), init=params, progress=False)``.

    Returns:
      the :class:`gru_jax.Run` (its ``init_params`` are the starting points).
    """
    if train_fn is None:
        from ..train import train as train_fn
    reference = handcrafted.reachable_accumulator() if reference is None else reference
    start = perturbed_copies(reference, n, scale, seed)
    return train_fn(cfg or Config(), seeds=range(n), init=start, progress=False)


def stability_summary(run, reference=None) -> dict:
    """Drift of a stability run: canonical distance to ``reference`` at init and at the end,
    final train loss, final behaviour (per run)."""
    reference = handcrafted.reachable_accumulator() if reference is None else reference
    return {"start_distance": canonical_distance(run.init_params, reference),
            "final_distance": canonical_distance(run.params, reference),
            "final_train_loss": np.asarray(run.train_loss)[:, -1],
            "final_behaviour": update_gate_behaviour(run.params)}
