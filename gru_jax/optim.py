"""The seed's optimizer as optax transformations, and its ReduceLROnPlateau as a pure function.

Per step, in torch's order: ``clip_grad_norm_(params, clip)`` (grads scaled by
``min(1, clip / (norm + 1e-6))``), then coupled L2 (``grad += weight_decay * param``, Adam's
``weight_decay``, NOT AdamW), then Adam (bias-corrected moments), then ``-lr``.

Every constant the optimizer and the schedule read comes from a :class:`Hyper`: float32 (and
int32) scalars for one member, so an ensemble can give each member its own learning rate,
weight decay, clip, Adam constants and plateau schedule inside one compiled program (a leading
member axis under ``vmap``). :func:`hyper_of` forms the derived constants (``1 - beta1``,
``log beta1``, ``1 - threshold``) in float64 and rounds them once to float32: the very values
the program folded when it read them as Python constants, so per-member numbers equal the
constant program's.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from .config import MEMBER_FIELDS  # noqa: F401 - which fields a Hyper holds


class Hyper(NamedTuple):
    """One member's optimizer and schedule constants (scalars; ``(M,)`` for M members).

    float32: learning_rate (initial), weight_decay, clip, beta1, one_minus_beta1, log_beta1,
    beta2, one_minus_beta2, log_beta2, eps, plateau_factor, plateau_keep (``1 - threshold``),
    min_lr. int32: plateau_patience, plateau_cooldown (evaluations).
    """

    learning_rate: jax.Array
    weight_decay: jax.Array
    clip: jax.Array
    beta1: jax.Array
    one_minus_beta1: jax.Array
    log_beta1: jax.Array
    beta2: jax.Array
    one_minus_beta2: jax.Array
    log_beta2: jax.Array
    eps: jax.Array
    plateau_factor: jax.Array
    plateau_keep: jax.Array
    plateau_patience: jax.Array
    plateau_cooldown: jax.Array
    min_lr: jax.Array


def hyper_of(cfg) -> Hyper:
    """A Config's :class:`Hyper` as numpy float32/int32 scalars (derived values formed in
    float64, then rounded once)."""
    f32 = np.float32
    log = lambda b: f32(math.log(b)) if b > 0 else f32(-np.inf)
    return Hyper(learning_rate=f32(cfg.learning_rate), weight_decay=f32(cfg.weight_decay),
                 clip=f32(cfg.clip), beta1=f32(cfg.beta1), one_minus_beta1=f32(1 - cfg.beta1),
                 log_beta1=log(cfg.beta1), beta2=f32(cfg.beta2),
                 one_minus_beta2=f32(1 - cfg.beta2), log_beta2=log(cfg.beta2), eps=f32(cfg.eps),
                 plateau_factor=f32(cfg.plateau_factor),
                 plateau_keep=f32(1.0 - cfg.plateau_threshold),
                 plateau_patience=np.int32(cfg.plateau_patience),
                 plateau_cooldown=np.int32(cfg.plateau_cooldown), min_lr=f32(cfg.min_lr))


def member_hyper(configs) -> Hyper:
    """Stack the :class:`Hyper` of one Config per member: ``(M,)`` numpy arrays."""
    hypers = [hyper_of(cfg) for cfg in configs]
    return Hyper(*(np.stack(column) for column in zip(*hypers)))


#: The :class:`Hyper` fields each member field sets.
HYPER_FIELDS = {"learning_rate": ("learning_rate",), "weight_decay": ("weight_decay",),
                "clip": ("clip",), "beta1": ("beta1", "one_minus_beta1", "log_beta1"),
                "beta2": ("beta2", "one_minus_beta2", "log_beta2"), "eps": ("eps",),
                "plateau_factor": ("plateau_factor",), "plateau_patience": ("plateau_patience",),
                "plateau_threshold": ("plateau_keep",), "plateau_cooldown": ("plateau_cooldown",),
                "min_lr": ("min_lr",)}


#: Per-member fields compiled into a program as constants unless they vary among its members:
#: XLA rounds Adam's ``(1 - beta1) * g + beta1 * m`` differently (float32 rounding, ~1e-7)
#: when ``beta1`` is an array than when it is a constant, and the program of one Config must
#: keep the numbers it always had. Every other per-member field is always an array (an
#: array or a constant gives the same bits: tests/test_sweep.py).
CONSTANT_FIELDS = ("beta1", "beta2")


def compiled_constants(configs) -> tuple[tuple[str, np.floating], ...]:
    """The :class:`Hyper` entries a program compiles in as constants: those of the
    :data:`CONSTANT_FIELDS` that do not vary among ``configs`` (the members' Configs), with
    the first Config's float32 values, as ``((hyper field, value), ...)`` (hashable: part of
    :class:`gru_jax.program.ProgramSpec`)."""
    configs = list(configs)
    constants = hyper_of(configs[0])
    return tuple((name, getattr(constants, name)) for field in CONSTANT_FIELDS
                 if len({getattr(cfg, field) for cfg in configs}) == 1
                 for name in HYPER_FIELDS[field])


def program_hyper(members: Hyper, constants=()) -> Hyper:
    """What a compiled program reads: the members' values (arrays, one per member), except the
    entries of ``constants`` (:func:`compiled_constants`), compiled in."""
    fixed = dict(constants)
    return Hyper(*(fixed.get(name, getattr(members, name)) for name in Hyper._fields))


def _as_hyper(source) -> Hyper:
    """A Hyper as is; a Config's constants otherwise."""
    return source if isinstance(source, Hyper) else hyper_of(source)


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


def scale_by_adam_torch(b1, b2, eps, one_minus_b1=None, one_minus_b2=None, log_b1=None,
                        log_b2=None) -> optax.GradientTransformation:
    """Adam's direction ``m_hat / (sqrt(v_hat) + eps)`` with torch's bias corrections.

    Same state as ``optax.scale_by_adam``; the difference is the bias correction
    ``1 - b**t``: optax forms it in float32 (``1 - 0.999f`` is off by 1.3e-5 relative), torch in
    float64. ``-expm1(t log b)`` gives it to float32 precision, so the first steps match torch
    to ~1e-7 instead of ~6e-6 (tests/test_optim.py).

    Args:
      b1, b2, eps: Python floats, or per-member arrays with the derived constants given too
        (``one_minus_b*`` = ``1 - b*`` and ``log_b*`` = ``log b*``, see :func:`hyper_of`).
    """
    one_minus_b1 = 1 - b1 if one_minus_b1 is None else one_minus_b1
    one_minus_b2 = 1 - b2 if one_minus_b2 is None else one_minus_b2
    log_b1 = math.log(b1) if log_b1 is None else log_b1
    log_b2 = math.log(b2) if log_b2 is None else log_b2

    def init_fn(params):
        zeros = lambda p: jnp.zeros_like(p)
        return optax.ScaleByAdamState(count=jnp.zeros([], jnp.int32),
                                      mu=jax.tree_util.tree_map(zeros, params),
                                      nu=jax.tree_util.tree_map(zeros, params))

    def update_fn(updates, state, params=None):
        del params
        mu = jax.tree_util.tree_map(lambda g, m: one_minus_b1 * g + b1 * m, updates, state.mu)
        nu = jax.tree_util.tree_map(lambda g, v: one_minus_b2 * g * g + b2 * v, updates,
                                    state.nu)
        count = state.count + 1
        steps = count.astype(jnp.float32)
        correction1 = -jnp.expm1(steps * log_b1)
        correction2 = -jnp.expm1(steps * log_b2)
        direction = jax.tree_util.tree_map(
            lambda m, v: (m / correction1) / (jnp.sqrt(v / correction2) + eps), mu, nu)
        return direction, optax.ScaleByAdamState(count=count, mu=mu, nu=nu)

    return optax.GradientTransformation(init_fn, update_fn)


def direction(source) -> optax.GradientTransformation:
    """clip -> coupled L2 -> Adam's scaled direction (learning rate NOT applied), with the
    constants of a Config or of one member's :class:`Hyper`."""
    hyper = _as_hyper(source)
    return optax.chain(
        clip_grad_norm_torch(hyper.clip),
        optax.add_decayed_weights(hyper.weight_decay),
        scale_by_adam_torch(hyper.beta1, hyper.beta2, hyper.eps, hyper.one_minus_beta1,
                            hyper.one_minus_beta2, hyper.log_beta1, hyper.log_beta2),
    )


def make_optimizer(source) -> optax.GradientTransformation:
    """The full torch-equivalent optimizer with an injectable learning rate.

    ``source``: a Config, or one member's :class:`Hyper` (traced per member under vmap).
    ``opt_state.hyperparams["learning_rate"]`` holds the (per-seed, under vmap) learning rate the
    plateau schedule sets.
    """
    hyper = _as_hyper(source)

    def build(learning_rate):
        return optax.chain(direction(hyper), optax.scale_by_learning_rate(learning_rate))

    return optax.inject_hyperparams(build)(
        learning_rate=jnp.asarray(hyper.learning_rate, jnp.float32))


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


def plateau_init(source) -> PlateauState:
    """The schedule's start (``source``: a Config or one member's :class:`Hyper`)."""
    return PlateauState(best=jnp.float32(jnp.inf), num_bad=jnp.int32(0), cooldown=jnp.int32(0),
                        lr=jnp.asarray(_as_hyper(source).learning_rate, jnp.float32))


def plateau_step(source, state: PlateauState, metric: jax.Array) -> PlateauState:
    """One ``scheduler.step(metric)``: the seed calls it only at eval epochs, on the test loss.

    Improvement means ``metric < best * (1 - threshold)``; the LR is cut (``lr * factor``,
    floored at ``min_lr``, applied only if it changes by more than 1e-8) when ``num_bad``
    EXCEEDS ``patience``. A NaN metric is never an improvement (as in torch). ``source``: a
    Config or one member's :class:`Hyper`.
    """
    hyper = _as_hyper(source)
    better = metric < state.best * hyper.plateau_keep
    best = jnp.where(better, metric, state.best)
    num_bad = jnp.where(better, 0, state.num_bad + 1)
    in_cooldown = state.cooldown > 0
    cooldown = jnp.where(in_cooldown, state.cooldown - 1, state.cooldown)
    num_bad = jnp.where(in_cooldown, 0, num_bad)
    reduce = num_bad > hyper.plateau_patience
    new_lr = jnp.maximum(state.lr * hyper.plateau_factor, hyper.min_lr)
    changed = reduce & (state.lr - new_lr > TORCH_PLATEAU_EPS)
    lr = jnp.where(changed, new_lr, state.lr)
    cooldown = jnp.where(reduce, hyper.plateau_cooldown, cooldown)
    num_bad = jnp.where(reduce, 0, num_bad)
    return PlateauState(best=best.astype(jnp.float32), num_bad=num_bad.astype(jnp.int32),
                        cooldown=cooldown.astype(jnp.int32), lr=lr.astype(jnp.float32))
