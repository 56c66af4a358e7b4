"""gru_jax.optim against PyTorch: clip_grad_norm_ + Adam(weight_decay) steps, ReduceLROnPlateau."""
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gru_jax as gj
from gru_jax.optim import (clip_grad_norm_torch, make_optimizer, plateau_init, plateau_step)
import torch_reference as ref


def set_learning_rate(opt_state, lr):
    """What the trainer does when the plateau schedule changes the LR."""
    hyper = dict(opt_state.hyperparams)
    hyper["learning_rate"] = jnp.asarray(lr, jnp.asarray(hyper["learning_rate"]).dtype)
    return opt_state._replace(hyperparams=hyper)


def our_optimizer_steps(name, state_dict, xs, ys):
    spec = ref.OPTIM_CASES[name]
    cfg = gj.Config(hidden_size=spec["hidden"], learning_rate=spec["lr"],
                    weight_decay=spec["weight_decay"], clip=spec["clip"])
    optimizer = make_optimizer(cfg)

    def loss_fn(params, x, y):
        pred, _ = gj.forward(params, x)
        return jnp.mean((pred - y) ** 2)

    @jax.jit
    def step(params, opt_state, x, y):
        loss, grads = jax.value_and_grad(loss_fn)(params, x, y)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss, optax.tree.norm(grads)

    params = jax.tree_util.tree_map(jnp.asarray, gj.from_state_dict(state_dict))
    opt_state = optimizer.init(params)
    history, norms, losses = [], [], []
    for i in range(spec["steps"]):
        if spec["halve_lr_at"] is not None and i == spec["halve_lr_at"]:
            opt_state = set_learning_rate(opt_state, spec["lr"] / 2)
        params, opt_state, loss, norm = step(params, opt_state, xs[i], ys[i])
        history.append(gj.to_state_dict(params))
        norms.append(float(norm))
        losses.append(float(loss))
    return history, np.asarray(norms), np.asarray(losses)


@pytest.mark.parametrize("name", list(ref.OPTIM_CASES))
def test_optimizer_steps_match_torch(name):
    """Every parameter after every one of 20 steps equals torch's clip_grad_norm_ + Adam with
    coupled weight decay (and an LR change mid-run in the unclipped case)."""
    spec = ref.OPTIM_CASES[name]
    state_dict, xs, ys = ref.optim_case(name)
    expected = ref.reference("optim", name,
                             lambda: ref.torch_optimizer_steps(name, state_dict, xs, ys))
    # the case really is in the regime its name says
    if name == "clipped":
        assert np.all(expected["grad_norm"] > spec["clip"])
    else:
        assert np.all(expected["grad_norm"] < spec["clip"])
    history, norms, losses = our_optimizer_steps(name, state_dict, xs, ys)
    np.testing.assert_allclose(norms, expected["grad_norm"], rtol=1e-5)
    np.testing.assert_allclose(losses, expected["loss"], rtol=1e-5)
    for i, params in enumerate(history):
        for key in ref.STATE_DICT_KEYS:
            theirs = expected["params." + key][i]
            np.testing.assert_allclose(params[key], theirs, rtol=1e-5, atol=1e-5,
                                       err_msg=f"{name}: {key} after step {i + 1}")


def test_clip_is_torchs_formula():
    """Hand-derived: scale = min(1, max_norm / (norm + 1e-6)), applied to every leaf."""
    clip = clip_grad_norm_torch(2.0)
    grads = {"a": jnp.array([3.0, 0.0]), "b": jnp.array([[0.0], [4.0]])}   # norm 5
    out, _ = clip.update(grads, clip.init(grads))
    scale = 2.0 / (5.0 + 1e-6)
    np.testing.assert_allclose(out["a"], [3.0 * scale, 0.0], rtol=1e-7)
    np.testing.assert_allclose(out["b"], [[0.0], [4.0 * scale]], rtol=1e-7)
    small = {"a": jnp.array([0.6, 0.8])}                                       # norm 1: untouched
    out, _ = clip.update(small, clip.init(small))
    np.testing.assert_array_equal(out["a"], small["a"])


def first_step(lr=0.1, weight_decay=0.5, clip=1.0):
    """Our first update and the hand-derived one: clipped g, then g + wd * theta (coupled L2,
    not AdamW), then Adam's first step -lr * m_hat / (sqrt(v_hat) + eps) = -lr * g / (|g| + eps)
    (m_hat = g, v_hat = g^2 exactly, as torch computes its bias corrections in float64)."""
    cfg = gj.Config(learning_rate=lr, weight_decay=weight_decay, clip=clip)
    optimizer = make_optimizer(cfg)
    params = {"w": jnp.array([1.0, -2.0, 0.0])}
    grads = {"w": jnp.array([3.0, 0.0, -4.0])}                 # norm 5 -> scaled by 1/(5+1e-6)
    updates, _ = optimizer.update(grads, optimizer.init(params), params)
    g = np.array([3.0, 0.0, -4.0]) / (5.0 + 1e-6) + weight_decay * np.array([1.0, -2.0, 0.0])
    return np.asarray(updates["w"]), -lr * g / (np.abs(g) + 1e-8)


def test_first_step_is_coupled_adam():
    ours, expected = first_step()
    np.testing.assert_allclose(ours, expected, rtol=2e-5)


def test_adam_bias_correction_is_torch_exact():
    """optax.scale_by_adam forms 1 - b**t in float32 (1 - 0.999f = 0.00099998713): early steps
    ~6.4e-6 (relative) longer than torch's float64; gru_jax.optim.scale_by_adam_torch is exact."""
    ours, expected = first_step()
    np.testing.assert_allclose(ours, expected, rtol=1e-6)


# ---- ReduceLROnPlateau ---------------------------------------------------------------------------
def plateau_config(variant):
    spec = ref.PLATEAU_VARIANTS[variant]
    return gj.Config(plateau_factor=spec["factor"], plateau_patience=spec["patience"],
                     plateau_threshold=spec["threshold"], plateau_cooldown=spec["cooldown"],
                     min_lr=spec["min_lr"])


@pytest.mark.parametrize("variant", list(ref.PLATEAU_VARIANTS))
def test_plateau_matches_torch(variant):
    """lr, best, bad-evaluation count and cooldown after every step of a scripted sequence
    (NaNs, plateaus, gains just below/above the threshold, cuts down to min_lr)."""
    losses = ref.plateau_losses()
    expected = ref.reference("plateau", variant, lambda: ref.torch_plateau(variant, losses))
    cfg = plateau_config(variant)
    step = jax.jit(lambda state, metric: plateau_step(cfg, state, metric))
    state = plateau_init(cfg)
    got = {"lr": [], "best": [], "num_bad": [], "cooldown": []}
    for value in losses:
        state = step(state, jnp.float32(value))
        got["lr"].append(float(state.lr))
        got["best"].append(float(state.best))
        got["num_bad"].append(int(state.num_bad))
        got["cooldown"].append(int(state.cooldown))
    np.testing.assert_allclose(got["lr"], expected["lr"], rtol=1e-6)
    np.testing.assert_allclose(got["best"], expected["best"], rtol=1e-6)
    np.testing.assert_array_equal(got["num_bad"], expected["num_bad"])
    np.testing.assert_array_equal(got["cooldown"], expected["cooldown"])
    # the script exercises what it claims to
    lrs = np.asarray(expected["lr"])
    assert lrs[-1] == pytest.approx(cfg.min_lr) and len(np.unique(lrs)) >= 5


def test_plateau_scripted_sequence_hand_checked():
    """Independent of torch: the seed's schedule cuts after the 6th bad evaluation in a row."""
    cfg = gj.Config()
    state = plateau_init(cfg)
    lrs = []
    for value in [1.0] + [1.0] * 6 + [0.5] + [0.5 * (1 - 5e-5)] * 6:
        state = plateau_step(cfg, state, jnp.float32(value))
        lrs.append(float(state.lr))
    np.testing.assert_allclose(lrs, [1e-4] * 6 + [5e-5] * 7 + [2.5e-5], rtol=1e-6)


@pytest.mark.torch
@pytest.mark.parametrize("fixture,case", [("optim", "clipped"), ("plateau", "seed")])
def test_optim_fixtures_current(fixture, case):
    """The committed fixtures equal a live torch run."""
    stored = ref.unpack(ref.load_fixture(fixture), case)
    if fixture == "optim":
        live = ref.torch_optimizer_steps(case, *ref.optim_case(case))
    else:
        live = ref.torch_plateau(case, ref.load_fixture("plateau")["losses"])
        np.testing.assert_array_equal(ref.load_fixture("plateau")["losses"], ref.plateau_losses())
    for name, value in live.items():
        np.testing.assert_allclose(stored[name], value, rtol=1e-6, atol=1e-7, err_msg=name)
