"""experiments/torch_ensemble.py (the vectorized PyTorch competitor) against the blog's plain loop.

The blog's loop (nn.GRU, DataLoader with shuffle, clip_grad_norm_, torch Adam with coupled
weight decay, ReduceLROnPlateau stepped at epoch % eval_every == 0) is the one inline in
torch_reference.blog_protocol (also the replay test's reference); its per-epoch DataLoader
orders are recorded and replayed by the ensemble on the same init and data, and the weights
must agree to float32 rounding: at hidden size 1 (both forms of the cell) and at hidden sizes
2 and 3 (the feature-major and batch-major baddbmm forms).
"""
import os
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")
import torch_reference as ref  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "experiments"))
import torch_ensemble as te  # noqa: E402

pytestmark = pytest.mark.torch


@pytest.fixture(autouse=True)
def one_thread():
    """One intra-op thread: faster on a shared 2-core machine; restored afterwards."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def blog_loop(seed, epochs, lr=1e-4, eval_every=49, patience=5, min_lr=1e-6, hidden=1):
    """The seed's training loop (seed_reference.py, inline in torch_reference.blog_protocol),
    with its hyper-parameters as arguments.

    Returns the init and final state_dicts, the dataset, the per-epoch sample orders, losses,
    lrs and the largest gradient norm seen by clip_grad_norm_."""
    out = ref.blog_protocol(seed, epochs, eval_every, lr=lr, patience=patience, min_lr=min_lr,
                            hidden=hidden, with_data=True)
    state = lambda part: {k: out[f"{part}.{k}"] for k in ref.STATE_DICT_KEYS}
    return dict(init=state("init"), final=state("final"), X=out["X"], Y=out["Y"],
                orders=out["orders"].astype(np.int64), train_losses=out["train_losses"],
                test_losses=out["test_losses"], lrs=out["lrs"], max_norm=out["max_grad_norm"])


def replay(runs, epochs, **kw):
    """The ensemble on the blog runs' inits, data (one dataset per seed) and orders."""
    theta0 = np.stack([te.theta_from_state_dict(r["init"]) for r in runs])
    data = te.prepare_data(np.stack([r["X"] for r in runs]), np.stack([r["Y"] for r in runs]))
    orders = np.stack([r["orders"] for r in runs], axis=1)          # (epochs, S, n)
    return te.run(theta0, data, epochs, orders=orders, **kw)


def assert_matches(runs, out, atol=1e-5):
    params = te.state_dicts_from_theta(out["theta"])
    for s, r in enumerate(runs):
        for k, v in r["final"].items():
            np.testing.assert_allclose(params[k][s], v, rtol=0, atol=atol, err_msg=f"seed {s} {k}")
        np.testing.assert_allclose(out["train_losses"][:, s], r["train_losses"], rtol=1e-4)
        np.testing.assert_allclose(out["test_losses"][:, s], r["test_losses"], rtol=1e-4)
        np.testing.assert_allclose(out["lrs"][:, s], r["lrs"], rtol=1e-12)


@pytest.mark.parametrize("hidden", [1, 2, 5])
def test_init_is_the_seeds(hidden):
    for s in (0, 37):
        torch.manual_seed(s)
        model = ref.AddingProblemGRU(2, hidden, 1)
        theta = te.seed_init(s, hidden)
        assert theta.shape == (te.n_params(hidden),)
        sd = te.state_dicts_from_theta(theta[None])
        for k, v in model.state_dict().items():
            np.testing.assert_array_equal(sd[k][0], v.numpy())


def test_layout_views_are_the_transposed_weights():
    """The views forward_bmm multiplies by are torch's weights transposed (a hand check of
    one entry each): W_ih[:, g] is torch's row g, W_hh[k, g] is torch's [g, k]."""
    hidden = 3
    torch.manual_seed(4)
    model = ref.AddingProblemGRU(2, hidden, 1)
    theta = torch.tensor(te.theta_from_state_dict(model.state_dict()))[None]
    w_ih, w_hh, b_ih, b_hh, w_out, b_out = (theta[:, sl].view((1,) + stored)
                                            for sl, stored, _ in te.layout(hidden).values())
    sd = model.state_dict()
    assert w_ih[0, 1, 7] == sd["gru.weight_ih_l0"][7, 1]
    assert w_hh[0, 2, 5] == sd["gru.weight_hh_l0"][5, 2]
    assert w_out[0, 1, 0] == sd["linear.weight"][0, 1]


def test_forward_bmm_equals_torch_gru():
    """forward_bmm at H = 4 on random inputs equals the blog's model (nn.GRU + Linear) per
    seed; the H = 1 slab form equals it too."""
    gen = torch.Generator().manual_seed(0)
    L, B = 4, 9
    for hidden, model_fn in ((4, te.forward_bmm), (4, te.forward_bmm_t), (1, te.forward),
                             (1, te.forward_bmm), (1, te.forward_bmm_t)):
        models = []
        for s in range(3):
            torch.manual_seed(s)
            models.append(ref.AddingProblemGRU(2, hidden, 1))
        theta = torch.tensor(np.stack([te.theta_from_state_dict(m.state_dict())
                                       for m in models]))
        v, f = torch.rand(L, 3, B, generator=gen), (torch.rand(L, 3, B, generator=gen) > .5)
        pred = model_fn(theta, v, f.float())
        for s, m in enumerate(models):
            x = torch.stack([v[:, s].T, f[:, s].T.float()], dim=-1)        # (B, L, 2)
            with torch.no_grad():
                expected = m(x)[0][:, 0]
            np.testing.assert_allclose(pred[s].detach().numpy(), expected.numpy(), rtol=0,
                                       atol=2e-6, err_msg=f"H {hidden} seed {s}")


def test_matches_blog_loop_default_protocol():
    """S = 2 seeds (own init, data, DataLoader orders), the blog's hyper-parameters, 3 epochs
    (epoch 0 is an evaluation and plateau step)."""
    epochs = 3
    runs = [blog_loop(s, epochs) for s in (0, 1)]
    out = replay(runs, epochs)
    for r in runs:  # the replay really starts from the seed's init
        np.testing.assert_array_equal(te.seed_init(0 if r is runs[0] else 1),
                                      te.theta_from_state_dict(r["init"]))
    assert_matches(runs, out)


@pytest.mark.parametrize("hidden,seeds,form", [(2, (0, 1), None), (3, (2,), "bmm")])
def test_matches_blog_loop_any_hidden(hidden, seeds, form):
    """The default (feature-major) form at H = 2 (two seeds) and the batch-major form at
    H = 3 (one), 3 epochs of the blog's protocol, replayed on the blog loop's init, data and
    orders."""
    epochs = 3
    runs = [blog_loop(s, epochs, hidden=hidden) for s in seeds]
    assert_matches(runs, replay(runs, epochs, form=form))
    if form is None:
        with pytest.raises(ValueError, match="elementwise"):
            replay(runs, 1, form="elementwise")


def test_bmm_form_matches_blog_loop_at_hidden_1():
    """The baddbmm form forced at H = 1 (``--form bmm``) trains the same weights as the
    blog."""
    runs = [blog_loop(4, 2)]
    assert_matches(runs, replay(runs, 2, form="bmm"))


def test_matches_blog_loop_clipping_and_plateau():
    """A large learning rate (clipping active), evaluation every epoch and patience 0, so the
    plateau cuts the LR twice, the second time to min_lr: still equal to the plain loop
    (measured: 1.6e-6 after 6 epochs at lr 0.3; 2e-9 in the default-protocol test)."""
    epochs, kw = 6, dict(lr=0.3, eval_every=1, patience=0, min_lr=0.1)
    runs = [blog_loop(3, epochs, **kw)]
    assert max(r["max_norm"] for r in runs) > te.CLIP_VALUE          # clipping was exercised
    assert any(len(set(r["lrs"])) > 1 for r in runs)                  # so was the plateau
    assert any(r["lrs"][-1] == kw["min_lr"] for r in runs)            # down to min_lr
    out = replay(runs, epochs, lr=kw["lr"], eval_every=1,
                 plateau=dict(te.PLATEAU, patience=0, min_lr=kw["min_lr"]))
    assert_matches(runs, out)


def test_plateau_matches_torch_scheduler():
    """Per-seed Plateau vs torch's ReduceLROnPlateau on synthetic metric sequences (ties at the
    relative threshold, long plateaus down to min_lr)."""
    rng = np.random.default_rng(0)
    S, steps = 6, 80
    metrics = np.empty((steps, S))
    metrics[:, 0] = 1.0                                                # constant: cut every 6 evals
    metrics[:, 1] = np.linspace(1, 0.1, steps)                         # always better
    metrics[:, 2] = 1.0 * (1 - 0.5e-4) ** np.arange(steps)    # better by less than threshold
    metrics[:, 3:] = np.exp(rng.normal(0, 0.3, (steps, S - 3)).cumsum(0) * 0.1)
    plateau = te.Plateau(1e-4, S, **te.PLATEAU)
    ours = np.stack([plateau.step(torch.tensor(m)).numpy().copy() for m in metrics])
    for s in range(S):
        opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1e-4)
        sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode="min", factor=0.5,
                                                           patience=5, min_lr=1e-6)
        ref = []
        for m in metrics[:, s]:
            sched.step(float(m))
            ref.append(opt.param_groups[0]["lr"])
        np.testing.assert_array_equal(ours[:, s], ref, err_msg=f"sequence {s}")
    assert ours[-1, 0] == 1e-6 and ours[-1, 1] == 1e-4


def test_train_ensemble_api():
    """The public entry point: shapes and finite losses."""
    r = te.train_ensemble(3, 1, seed=5, threads=1, shared_data=True)
    assert r["final_train_loss"].shape == (3,) and np.all(np.isfinite(r["final_train_loss"]))
    assert r["params"]["gru.weight_ih_l0"].shape == (3, 3, 2)
    r = te.train_ensemble(2, 1, seed=5, threads=1, shared_data=False, hidden=2)
    assert r["final_train_loss"].shape == (2,) and np.all(np.isfinite(r["final_train_loss"]))
    assert r["params"]["gru.weight_hh_l0"].shape == (2, 6, 2)
    assert r["per_seed_epoch_ms"] > 0 and r["wall_s"] > 0
