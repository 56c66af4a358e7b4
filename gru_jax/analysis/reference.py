"""Learned versus designed: every seed set against a hand-crafted reference.

- distances over epochs, in canonical coordinates (each coordinate divided by its reachable cap,
  :func:`gru_jax.handcrafted.reachable_caps`, so the number is dimensionless: "how many
  protocol-lifetimes of Adam travel apart") and in behaviour (the update gate's mean at flag 0
  and flag 1, :func:`gru_jax.analysis.thresholds.update_gate_behaviour`);
- the training loss along the straight line from each seed to a hand-crafted set (both
  canonical, so the path does not cross the sign symmetry);
- stability: starting points near a hand-crafted set (:func:`perturbed_copies`; the caller
  trains them) and the drift of the trained runs (:func:`stability_summary`).

The default reference for distances and paths is the REACHABLE accumulator: the exact one's
readout weight (2000) would dominate every distance in weight space.
"""
from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from .. import handcrafted
from ..data import scale_inputs
from ..model import forward_columns, hidden_size, map_models
from .thresholds import update_gate_behaviour
from .symmetry import align, canonical_vector, from_canonical_vector, merge_biases
from .generalization import HeldOut, cell_data


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


def _mse_scaled(params, x_columns, y_scaled):
    """MSE (scaled units) of one model: x ``(T, 2, N)`` scaled, y ``(N,)`` scaled -> ``()``."""
    return jnp.mean((forward_columns(params, x_columns)[0][0] - y_scaled) ** 2)


def loss_scaled(params, batch=None, high: int = 100) -> np.ndarray:
    """MSE in scaled units (the training loss) of every model on ``batch``: ``lead -> lead``."""
    x_raw, y_raw = batch if batch is not None else training_batch(high=high)
    x_columns = jnp.asarray(np.transpose(scale_inputs(x_raw, high), (1, 2, 0)))
    y_scaled = jnp.asarray(np.asarray(y_raw, np.float32) / np.float32(high))
    return map_models(_mse_scaled, params, x_columns, y_scaled)


def interpolation_losses(params, reference=None, alphas=np.linspace(0.0, 1.0, 21), batch=None,
                         high: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """Training loss along ``(1 - alpha) * seed + alpha * reference``.

    At hidden size 1 in canonical coordinates (sign fixed by the readout, r/z biases merged);
    at H > 1 each seed's units are first aligned to the reference's
    (:func:`gru_jax.analysis.symmetry.align`), so the path does not cross the symmetry.

    Args:
      params: ``(S, ...)`` learned params. reference: one params set of the same hidden size
        (default: the reachable accumulator). alphas: ``(A,)``, 0 = the seed, 1 = the reference.

    Returns:
      ``(alphas (A,), losses (S, A))`` in scaled units.
    """
    reference = handcrafted.reachable_accumulator() if reference is None else reference
    alphas = np.asarray(alphas, np.float64)
    if hidden_size(params) > 1:
        start = align(params, reference)
        end = merge_biases(reference)
        path = jax.tree_util.tree_map(
            lambda a, b: ((1 - alphas[:, None]) * a.reshape(a.shape[0], 1, -1)
                          + alphas[:, None] * np.reshape(b, (1, 1, -1))).reshape(
                              (a.shape[0], len(alphas)) + a.shape[1:]).astype(np.float32),
            start, end)
        return alphas, loss_scaled(path, batch, high)
    start = canonical_vector(params).astype(np.float64)               # (S, P)
    end = canonical_vector(reference).astype(np.float64)              # (P,)
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


def stability_summary(run, reference=None) -> dict:
    """Drift of a stability run: canonical distance to ``reference`` at init and at the end,
    final train loss, final behaviour (per run)."""
    reference = handcrafted.reachable_accumulator() if reference is None else reference
    return {"start_distance": canonical_distance(run.init_params, reference),
            "final_distance": canonical_distance(run.params, reference),
            "final_train_loss": np.asarray(run.train_loss)[:, -1],
            "final_behaviour": update_gate_behaviour(run.params)}
