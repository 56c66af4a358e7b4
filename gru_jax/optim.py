"""The seed's optimizer as optax transformations, and its ReduceLROnPlateau as a pure function.

Per step, in torch's order: ``clip_grad_norm_(params, clip)`` (grads scaled by
``min(1, clip / (norm + 1e-6))``), then coupled L2 (``grad += weight_decay * param``, Adam's
``weight_decay``, NOT AdamW), then Adam (bias-corrected moments), then ``-lr``.
"""
from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

TORCH_CLIP_EPS = 1e-6


class ClipState(NamedTuple):
    """Stateless."""


def clip_grad_norm_torch(max_norm: float) -> optax.GradientTransformation:
    """``torch.nn.utils.clip_grad_norm_``: scale all grads by ``min(1, max_norm/(norm+1e-6))``.

    Differs from ``optax.clip_by_global_norm`` by the ``1e-6`` and by always multiplying (the
    factor is clamped at 1), exactly like torch.
    """

    def init_fn(params):
        del params
        return ClipState()

    def update_fn(updates, state, params=None):
        del params
        norm = optax.tree.norm(updates)
        scale = jnp.minimum(1.0, max_norm / (norm + TORCH_CLIP_EPS))
        return jax.tree_util.tree_map(lambda g: g * scale.astype(g.dtype), updates), state

    return optax.GradientTransformation(init_fn, update_fn)


def direction(cfg) -> optax.GradientTransformation:
    """clip -> coupled L2 -> Adam's scaled direction (learning rate NOT applied)."""
    return optax.chain(
        clip_grad_norm_torch(cfg.clip),
        optax.add_decayed_weights(cfg.weight_decay),
        optax.scale_by_adam(b1=cfg.beta1, b2=cfg.beta2, eps=cfg.eps),
    )


def make_optimizer(cfg) -> optax.GradientTransformation:
    """The full torch-equivalent optimizer with an injectable learning rate.

    ``opt_state.hyperparams["learning_rate"]`` holds the (per-seed, under vmap) learning rate the
    plateau schedule sets.
    """

    def build(learning_rate):
        return optax.chain(direction(cfg), optax.scale_by_learning_rate(learning_rate))

    return optax.inject_hyperparams(build)(learning_rate=cfg.learning_rate)


# ---- ReduceLROnPlateau -----------------------------------------------------------------------
class PlateauState(NamedTuple):
    """torch ``ReduceLROnPlateau`` state (mode 'min', threshold_mode 'rel'), all scalars.

    best: best metric so far (inf at start). num_bad: evaluations since the last improvement.
    cooldown: remaining cooldown evaluations. lr: the current learning rate.
    """

    best: jax.Array
    num_bad: jax.Array
    cooldown: jax.Array
    lr: jax.Array


TORCH_PLATEAU_EPS = 1e-8


def plateau_init(cfg) -> PlateauState:
    return PlateauState(best=jnp.float32(jnp.inf), num_bad=jnp.int32(0), cooldown=jnp.int32(0),
                        lr=jnp.float32(cfg.learning_rate))


def plateau_step(cfg, state: PlateauState, metric: jax.Array) -> PlateauState:
    """One ``scheduler.step(metric)``: the seed calls it only at eval epochs, on the test loss.

    Improvement means ``metric < best * (1 - threshold)``; the LR is cut (``lr * factor``,
    floored at ``min_lr``, applied only if it changes by more than 1e-8) when ``num_bad``
    EXCEEDS ``patience``. A NaN metric is never an improvement (as in torch).
    """
    better = metric < state.best * (1.0 - cfg.plateau_threshold)
    best = jnp.where(better, metric, state.best)
    num_bad = jnp.where(better, 0, state.num_bad + 1)
    in_cooldown = state.cooldown > 0
    cooldown = jnp.where(in_cooldown, state.cooldown - 1, state.cooldown)
    num_bad = jnp.where(in_cooldown, 0, num_bad)
    reduce = num_bad > cfg.plateau_patience
    new_lr = jnp.maximum(state.lr * cfg.plateau_factor, cfg.min_lr)
    changed = reduce & (state.lr - new_lr > TORCH_PLATEAU_EPS)
    lr = jnp.where(changed, new_lr, state.lr)
    cooldown = jnp.where(reduce, cfg.plateau_cooldown, cooldown)
    num_bad = jnp.where(reduce, 0, num_bad)
    return PlateauState(best=best.astype(jnp.float32), num_bad=num_bad.astype(jnp.int32),
                        cooldown=cooldown.astype(jnp.int32), lr=lr.astype(jnp.float32))
