"""The seed's optimizer as optax transformations, and its ReduceLROnPlateau as a pure function.

Per step, in torch's order: ``clip_grad_norm_(params, clip)`` (grads scaled by
``min(1, clip / (norm + 1e-6))``), then coupled L2 (``grad += weight_decay * param``, Adam's
``weight_decay``, NOT AdamW), then Adam (bias-corrected moments), then ``-lr``.
"""
from __future__ import annotations

import math
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


def scale_by_adam_torch(b1: float, b2: float, eps: float) -> optax.GradientTransformation:
    """Adam's direction ``m_hat / (sqrt(v_hat) + eps)`` with torch's bias corrections.

    Same state as ``optax.scale_by_adam``; the difference is the bias correction
    ``1 - b**t``: optax forms it in float32 (``1 - 0.999f`` is off by 1.3e-5 relative), torch in
    float64. ``-expm1(t log b)`` gives it to float32 precision, so the first steps match torch
    to ~1e-7 instead of ~6e-6 (tests/test_optim.py).
    """
    log_b1, log_b2 = math.log(b1), math.log(b2)

    def init_fn(params):
        zeros = lambda p: jnp.zeros_like(p)
        return optax.ScaleByAdamState(count=jnp.zeros([], jnp.int32),
                                      mu=jax.tree_util.tree_map(zeros, params),
                                      nu=jax.tree_util.tree_map(zeros, params))

    def update_fn(updates, state, params=None):
        del params
        mu = jax.tree_util.tree_map(lambda g, m: (1 - b1) * g + b1 * m, updates, state.mu)
        nu = jax.tree_util.tree_map(lambda g, v: (1 - b2) * g * g + b2 * v, updates, state.nu)
        count = state.count + 1
        steps = count.astype(jnp.float32)
        correction1 = -jnp.expm1(steps * log_b1)
        correction2 = -jnp.expm1(steps * log_b2)
        direction = jax.tree_util.tree_map(
            lambda m, v: (m / correction1) / (jnp.sqrt(v / correction2) + eps), mu, nu)
        return direction, optax.ScaleByAdamState(count=count, mu=mu, nu=nu)

    return optax.GradientTransformation(init_fn, update_fn)


def direction(cfg) -> optax.GradientTransformation:
    """clip -> coupled L2 -> Adam's scaled direction (learning rate NOT applied)."""
    return optax.chain(
        clip_grad_norm_torch(cfg.clip),
        optax.add_decayed_weights(cfg.weight_decay),
        scale_by_adam_torch(cfg.beta1, cfg.beta2, cfg.eps),
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
