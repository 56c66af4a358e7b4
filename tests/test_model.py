"""gru_jax.model against PyTorch: forward outputs, hidden sequences, gradients, and the init."""
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gru_jax as gj
import torch_reference as ref

RTOL = 1e-5  # float32, relative to the largest reference magnitude


def rel_err(ours, theirs) -> float:
    """max|ours - theirs| / max|theirs| (a relative error that ignores tiny entries); absolute
    when the reference is exactly zero (d loss / d W_hh at T = 1, where h0 = 0)."""
    ours, theirs = np.asarray(ours, np.float64), np.asarray(theirs, np.float64)
    assert ours.shape == theirs.shape, (ours.shape, theirs.shape)
    scale = np.max(np.abs(theirs))
    diff = np.max(np.abs(ours - theirs))
    return float(diff / scale) if scale > 0 else float(diff)   # exact zeros: absolute


def torch_case(hidden, length):
    state_dict, x, target = ref.model_case(hidden, length)
    expected = ref.reference("model", f"H{hidden}_T{length}",
                             lambda: ref.torch_forward_and_grads(state_dict, x, target))
    return state_dict, x, target, expected


def loss_fn(params, x, target):
    y, _ = gj.forward(params, x)
    return jnp.mean((y - target) ** 2)


@pytest.mark.parametrize("hidden,length", ref.MODEL_CASES)
def test_forward_matches_torch(hidden, length):
    state_dict, x, _, expected = torch_case(hidden, length)
    y, hs = gj.forward(gj.from_state_dict(state_dict), x)
    assert y.shape == (x.shape[0], 1) and hs.shape == (x.shape[0], length, hidden)
    assert rel_err(y, expected["y"]) <= RTOL
    assert rel_err(hs, expected["hs"]) <= RTOL


@pytest.mark.parametrize("hidden,length", ref.MODEL_CASES)
def test_gradients_match_torch(hidden, length):
    state_dict, x, target, expected = torch_case(hidden, length)
    loss, grads = jax.value_and_grad(loss_fn)(gj.from_state_dict(state_dict), x, target)
    assert rel_err(loss, expected["loss"]) <= RTOL
    ours = gj.to_state_dict(grads)
    for name in ref.STATE_DICT_KEYS:
        assert rel_err(ours[name], expected["grad." + name]) <= RTOL, name


def test_worked_example_of_the_blog():
    """The blog's final weights (CPU torch state_dict in BLOG_FACTS) on its worked examples."""
    final = {
        "gru.weight_ih_l0": [[0.2308698, 0.6330313], [-0.4197582, -3.0248599],
                             [-0.2839302, -0.8133938]],
        "gru.weight_hh_l0": [[-0.1414806], [-0.8965575], [1.1289151]],
        "gru.bias_ih_l0": [0.7426546, 0.8092875, 0.6560431],
        "gru.bias_hh_l0": [0.7426547, 0.8092874, 0.1652635],
        "linear.weight": [[-4.1571345]], "linear.bias": [0.8693163]}
    params = gj.from_state_dict(final)
    x = np.array([[[12, 0], [37, 1], [12, 0], [21, 1]],
                  [[75, 1], [38, 1], [12, 0], [12, 0]]], np.float32)
    x[..., 0] /= 100
    y, hs = gj.forward(params, x)
    np.testing.assert_allclose(np.asarray(y[:, 0]) * 100, [57.81, 112.553955078125], atol=6e-3)
    np.testing.assert_allclose(hs[0, :, 0], [0.1103, 0.0161, 0.1264, 0.0701], atol=6e-5)
    one = gj.forward(params, np.array([[[0.12, 0.0]], [[0.12, 1.0]]], np.float32))[0]
    np.testing.assert_allclose(np.asarray(one[:, 0]) * 100, [41.08, 101.58], atol=6e-3)


# ---- init distributions ----------------------------------------------------------------------
OUR_DRAWS = 10000
SIGMAS = 5.0


def our_init_draws(hidden, draws=OUR_DRAWS):
    """``draws`` inits, vmapped but NOT jitted: under jit the two batched QRs run concurrently
    and jaxlib's CPU orgqr kernel (ParallelBatchMap) can deadlock on a 2-thread pool."""
    cfg = gj.Config(hidden_size=hidden)
    keys = jax.random.split(jax.random.key(2024 + hidden), draws)
    return gj.to_state_dict(jax.vmap(lambda k: gj.init_params(cfg, k))(keys))


@pytest.fixture(scope="module", params=[1, 3], ids=["H1", "H3"])
def init_draws(request):
    hidden = request.param
    ours = our_init_draws(hidden)

    def torch_moments():
        moments = ref.init_moments(ref.flat_weights(ref.torch_init_draws(hidden)))
        return {f"{k}.{part}": v[i] for k, v in moments.items() for i, part in
                enumerate(("estimate", "se"))}

    theirs = ref.reference("init", f"H{hidden}", torch_moments)
    return hidden, ours, theirs


def test_init_moments_match_torch(init_draws):
    """Means, all pairwise second moments, E|w| and E[w^4] of every weight entry agree with the
    seed's torch init within 5 combined standard errors."""
    _, ours, theirs = init_draws
    moments = ref.init_moments(ref.flat_weights(ours))
    for name, (estimate, se) in moments.items():
        their_est, their_se = theirs[f"{name}.estimate"], theirs[f"{name}.se"]
        tol = SIGMAS * np.sqrt(se ** 2 + their_se ** 2) + 1e-7
        worst = np.max(np.abs(estimate - their_est) / tol)
        assert worst <= 1.0, f"{name}: off by {worst * SIGMAS:.1f} standard errors"


def test_init_hand_derived(init_draws):
    """Exact facts of the init: orthonormal columns of the WHOLE stacked matrices (Haar, so
    E[w^2] = 1/(3H) per entry, not per-gate orthogonal), zero biases, xavier-uniform readout."""
    hidden, ours, _ = init_draws
    for name in ("gru.weight_ih_l0", "gru.weight_hh_l0"):
        w = ours[name].astype(np.float64)                          # (N, 3H, C)
        gram = np.einsum("nrc,nrd->ncd", w, w)
        np.testing.assert_allclose(gram, np.broadcast_to(np.eye(w.shape[2]), gram.shape), atol=1e-5)
        se = np.std(w ** 2, axis=0) / np.sqrt(w.shape[0])
        assert np.all(np.abs(np.mean(w ** 2, axis=0) - 1 / (3 * hidden)) <= SIGMAS * se), name
    for name in ref.INIT_BIASES:
        assert np.all(ours[name] == 0), name
    bound = math.sqrt(6 / (hidden + 1))
    w = ours["linear.weight"].astype(np.float64)
    assert np.all(np.abs(w) <= bound)
    n = w.shape[0]
    assert abs(np.mean(w ** 2) / bound ** 2 - 1 / 3) <= SIGMAS * np.sqrt(4 / 45 / (n * hidden))
    assert abs(np.mean(np.abs(w)) / bound - 1 / 2) <= SIGMAS * np.sqrt(1 / 12 / (n * hidden))


@pytest.mark.torch
def test_torch_init_biases_zero_and_fixture_current():
    """Live torch: the seed's init has zero biases, and the committed fixture is up to date."""
    draws = ref.torch_init_draws(1)
    for name in ref.INIT_BIASES:
        assert np.all(draws[name] == 0)
    stored = ref.unpack(ref.load_fixture("init"), "H1")
    live = ref.init_moments(ref.flat_weights(draws))
    np.testing.assert_allclose(stored["mean.estimate"], live["mean"][0], rtol=1e-6, atol=1e-9)


@pytest.mark.torch
@pytest.mark.parametrize("hidden,length", [(1, 4), (3, 7)])
def test_model_fixture_current(hidden, length):
    """The committed fixture equals a live torch run (so the no-torch path checks the same)."""
    state_dict, x, target = ref.model_case(hidden, length)
    live = ref.torch_forward_and_grads(state_dict, x, target)
    stored = ref.unpack(ref.load_fixture("model"), f"H{hidden}_T{length}")
    for name, value in live.items():
        np.testing.assert_allclose(stored[name], value, rtol=1e-6, atol=1e-7, err_msg=name)
