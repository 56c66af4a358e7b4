"""The vectorized PyTorch competitor: the blog's full protocol for S seeds at once, on CPU,
at any hidden size H.

"What a skilled PyTorch user would write" instead of looping the blog's script over seeds:

* every tensor carries a leading seed axis; the P = 3H^2 + 13H + 1 parameters of one seed
  (input 2, output 1, torch gate order r, z, n) live in one row of a leaf tensor ``theta`` of
  shape (S, P), so clipping and Adam are a handful of tensor ops on (S, P). A row holds, in
  order, ``W_ih`` stored as (in, 3H) (torch's ``weight_ih_l0`` transposed), ``W_hh`` as
  (H, 3H), ``b_ih`` (3H,), ``b_hh`` (3H,), the readout weight as (H, 1) and bias (1,): the
  model reads them as views of shape (S, 2, 3H), (S, H, 3H), ... (:func:`layout`);
* the length-T GRU is unrolled by hand with the ``torch.nn.GRU`` equations
  (r = s(W_ir x + b_ir + W_hr h + b_hr), z = ..., n = tanh(W_in x + b_in + r (W_hn h + b_hn)),
  h' = (1 - z) n + z h, h0 = 0). At any H (:func:`forward_bmm`) every matrix product is one
  ``torch.baddbmm`` over the seed axis: the input projection of all T steps at once,
  (S, B T, 2) x (S, 2, 3H), then one (S, B, H) x (S, H, 3H) a step. At H = 1 the matrices
  are 1 x 3, so :func:`forward` (the default there) writes the cell as elementwise
  ``addcmul``s on (gate, seed, batch) slabs instead: measured 1.6x faster than the
  ``baddbmm`` form at H = 1 (``--form bmm`` runs that form at H = 1 too). Above H = 1 the
  default is the feature-major form (:func:`forward_bmm_t`): activations (S, 3H, B) with the
  batch contiguous, each product (S, 3H, in) x (S, in, B), faster than the batch-major
  :func:`forward_bmm` at every H measured;
* gradients come from autograd on the batched loss sum_s mean_b (y_sb - t_sb)^2: each seed's
  gradient is exactly its own;
* per seed: ``clip_grad_norm_(2.0)`` (grads scaled by min(1, 2 / (norm + 1e-6)), norm over
  that seed's own P parameters), then coupled weight decay (grad += 1e-5 theta), then Adam
  (torch semantics: lerp first moment, bias correction, denom sqrt(v)/sqrt(bc2) + eps), with a
  per-seed learning rate;
* per seed ``ReduceLROnPlateau(mode='min', factor=.5, patience=5, threshold=1e-4 rel,
  cooldown=0, min_lr=1e-6)`` as tensor ops, stepped only at epochs with ``epoch % 49 == 0`` on
  that epoch's test loss in original units (prediction x 100 vs raw target);
* per-seed, per-epoch shuffles by argsort of float64 random keys (a uniformly random
  permutation: ties among 8000 float64 keys have probability ~1e-9); batches of 256, the final
  batch of 64 is a full optimizer step with its own mean;
* init like the seed, per seed s: ``torch.manual_seed(s)`` and the blog's ``AddingProblemGRU``
  constructor (nn.GRU / nn.Linear default init consume the RNG first, then ``orthogonal_`` on
  the stacked (3H, I) and (3H, H) matrices, zero biases, ``xavier_uniform_`` readout);
* data: the blog's generator after ``np.random.seed(s)``, per seed (``shared_data=False``), or
  one dataset (that of ``seed``) shared by all seeds (``shared_data=True``, the default: the
  blog's generator is a Python loop of ~0.1 s per seed, and sharing the data changes nothing in
  the arithmetic per seed-epoch).

    python experiments/torch_ensemble.py --seeds 1024 --epochs 20 [--hidden 1] [--seed 0]
        [--threads N] [--per-seed-data] [--sweep 1,16,64,256,1024] [--form F]

prints the wall time and ms per seed-epoch (the training loop only: data generation and init
are excluded; every epoch, including the first, is timed). ``--threads`` defaults to torch's
own choice (all cores); on a 2-core machine shared with other processes one thread is several
times faster than two (idle OpenMP workers spin against the other load), so say which you use.
At 1024 seeds about a quarter of an epoch (H = 1) is the argsort of 1024 x 8000 float64 keys.
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import time

import numpy as np
import torch

# The seed's code (data generator and model, verbatim) has ONE copy in the repository:
# tests/torch_reference.py, the tests' independent reference (it also works without torch).
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "tests"))
from torch_reference import AddingProblemGRU, adding_problem_generator  # noqa: E402

# ---- the blog's constants ------------------------------------------------------------------------
DELTA, SEQ_LEN, HIGH, N_SAMPLES, TRAIN_SPLIT = 0, 4, 100, 10000, 0.8
BATCH_SIZE, LEARNING_RATE, WEIGHT_DECAY, CLIP_VALUE, EVAL_EVERY = 256, 1e-4, 1e-5, 2.0, 49
BETAS, EPS = (0.9, 0.999), 1e-8
PLATEAU = dict(factor=0.5, patience=5, threshold=1e-4, min_lr=1e-6, eps=1e-8)


def n_params(hidden: int) -> int:
    """Parameters of one seed: 3H x 2 + 3H x H + 3H + 3H + H + 1."""
    return 3 * hidden * hidden + 13 * hidden + 1


def hidden_of(n: int) -> int:
    """The hidden size whose models have ``n`` parameters."""
    for hidden in range(1, 257):
        if n_params(hidden) == n:
            return hidden
    raise ValueError(f"no hidden size has {n} parameters")


def layout(hidden: int) -> dict:
    """One seed's row of theta: {state_dict key: (slice, stored shape, torch shape)}. Weight
    matrices are stored transposed, (in, out), so ``x @ W`` is a ``baddbmm``."""
    three = 3 * hidden
    entries = [("gru.weight_ih_l0", (2, three), (three, 2)),
               ("gru.weight_hh_l0", (hidden, three), (three, hidden)),
               ("gru.bias_ih_l0", (1, three), (three,)), ("gru.bias_hh_l0", (1, three), (three,)),
               ("linear.weight", (hidden, 1), (1, hidden)), ("linear.bias", (1, 1), (1,))]
    out, start = {}, 0
    for key, stored, torch_shape in entries:
        size = stored[0] * stored[1]
        out[key] = (slice(start, start + size), stored, torch_shape)
        start += size
    return out


# ---- parameters: state_dict <-> one row of theta ------------------------------------------------
def _numpy(value) -> np.ndarray:
    return np.asarray(value.detach().numpy() if torch.is_tensor(value) else value, np.float32)


def theta_from_state_dict(sd) -> np.ndarray:
    """One seed's state dict (torch shapes, any H) -> its row of theta (P,)."""
    hidden = _numpy(sd["gru.weight_hh_l0"]).shape[1]
    row = np.zeros(n_params(hidden), np.float32)
    for k, (sl, stored, torch_shape) in layout(hidden).items():
        v = _numpy(sd[k])
        assert v.shape == torch_shape, (k, v.shape)
        row[sl] = (v.T if v.ndim == 2 else v).reshape(-1)
    return row


def state_dicts_from_theta(theta) -> dict:
    """(S, P) -> {state_dict key: array (S, *torch shape)}."""
    theta = np.asarray(theta)
    S = theta.shape[0]
    out = {}
    for k, (sl, stored, torch_shape) in layout(hidden_of(theta.shape[1])).items():
        block = theta[:, sl].reshape((S,) + stored)
        out[k] = (np.swapaxes(block, 1, 2) if len(torch_shape) == 2 else block.reshape(
            (S,) + torch_shape))
    return out


def seed_init(seed: int, hidden: int = 1) -> np.ndarray:
    """The seed's initial weights for one seed, exactly as the blog's script draws them."""
    torch.manual_seed(seed)
    return theta_from_state_dict(AddingProblemGRU(2, hidden, 1).state_dict())


def seed_data(seed: int):
    """The blog's dataset of one seed: X (N, L, 2) float64 raw, Y (N, 1) float64 raw."""
    np.random.seed(seed)
    return adding_problem_generator(N_SAMPLES, seq_len=SEQ_LEN, high=HIGH, delta=DELTA)


def prepare_data(Xs, Ys):
    """Stacked raw datasets X (D, N, L, 2), Y (D, N, 1) (D = 1 shared, or D = S) -> the tensors
    the loop uses: ``train`` (2L + 1, D, n_train) float32 with channels value/HIGH at steps
    0..L-1, flag at steps 0..L-1, scaled target (one gather per batch fetches all three); test
    value/HIGH and flag (L, D, n_test) and raw test targets (D, n_test)."""
    Xs = np.asarray(Xs)
    Ys = np.asarray(Ys)
    n = int(TRAIN_SPLIT * Xs.shape[1])
    X = torch.tensor(Xs).float()                       # float32 first, then /HIGH (as the blog)
    Y = torch.tensor(Ys[..., 0]).float()
    v = (X[..., 0] / HIGH).permute(2, 0, 1)            # (L, D, N)
    f = X[..., 1].permute(2, 0, 1)
    train = torch.cat([v[:, :, :n], f[:, :, :n], (Y[:, :n] / HIGH)[None]], dim=0).contiguous()
    return dict(train=train, v_te=v[:, :, n:].contiguous(), f_te=f[:, :, n:].contiguous(),
                y_te=Y[:, n:].contiguous())


# ---- the model on the seed axis ------------------------------------------------------------------
def forward(theta, v, f):
    """Hidden size 1: theta (S, 17); v, f (L, S or 1, B) -> prediction (S, B) in scaled units.

    Gates r, z are computed together on a (2, S, B) slab and n apart, so no backward pass has to
    scatter a slice's gradient into a zero-filled full-size buffer."""
    P = theta.t().unsqueeze(-1)                         # (17, S, 1): P[k] is seed-wise param k
    w_v, w_f = P[0:3], P[3:6]                           # (3, S, 1): W_i* columns (value, flag)
    w_hh, b_ih, b_hh = P[6:9], P[9:12], P[12:15]
    v1, f1 = v.unsqueeze(1), f.unsqueeze(1)              # (L, 1, S, B)
    # input projections for all steps: (L, 2, S, B) for r, z and (L, S, B) for n
    gi_rz = torch.addcmul(torch.addcmul(b_ih[:2], w_v[:2], v1), w_f[:2], f1).unbind(0)
    gi_n = torch.addcmul(torch.addcmul(b_ih[2], w_v[2], v), w_f[2], f).unbind(0)
    w_hrz, b_hrz, w_hn, b_hn = w_hh[:2], b_hh[:2], w_hh[2], b_hh[2]
    h = None
    for t in range(v.shape[0]):
        if h is None:                                    # h0 = 0: W_h* h vanishes
            r, z = torch.sigmoid(gi_rz[t] + b_hrz).unbind(0)
            n = torch.tanh(torch.addcmul(gi_n[t], r, b_hn))
            h = n - z * n                                # (1 - z) n + z h0
        else:
            r, z = torch.sigmoid(gi_rz[t] + torch.addcmul(b_hrz, w_hrz, h)).unbind(0)
            n = torch.tanh(torch.addcmul(gi_n[t], r, torch.addcmul(b_hn, w_hn, h)))
            h = torch.addcmul(n, z, h - n)               # (1 - z) n + z h
    return torch.addcmul(P[16], P[15], h)


def forward_bmm(theta, v, f):
    """Any hidden size H: theta (S, P); v, f (L, S or 1, B) -> prediction (S, B), scaled units.

    The input projection of all L steps is one ``baddbmm`` (S, L B, 2) x (S, 2, 3H); each step
    after the first adds one (S, B, H) x (S, H, 3H) ``baddbmm`` (h0 = 0: the first step's
    hidden term is b_hh alone). Activations are cut with ``unbind`` and ``split``, whose
    backward is one ``stack``/``cat``: slicing them (``gi[:, t]``, ``g[..., :2H]``) made
    autograd scatter each slice's gradient into a zero-filled full-size buffer, 1.7-1.8x slower
    at H = 2 and 8 (256 seeds, measured)."""
    S = theta.shape[0]
    L, _, B = v.shape
    hidden = hidden_of(theta.shape[1])
    two = 2 * hidden
    w_ih, w_hh, b_ih, b_hh, w_out, b_out = (theta[:, sl].view((S,) + stored)
                                            for sl, stored, _ in layout(hidden).values())
    x = torch.stack([v, f], dim=-1).expand(L, S, B, 2)
    x = x.permute(1, 0, 2, 3).reshape(S, L * B, 2)                    # (S, L B, 2)
    gi = torch.baddbmm(b_ih, x, w_ih).view(S, L, B, 3 * hidden).unbind(1)
    h = None
    for t in range(L):
        g_rz, g_n = gi[t].split([two, hidden], dim=-1)                  # (S, B, 2H), (S, B, H)
        gh = b_hh if h is None else torch.baddbmm(b_hh, h, w_hh)         # (S, 1 or B, 3H)
        gh_rz, gh_n = gh.split([two, hidden], dim=-1)
        r, z = torch.sigmoid(g_rz + gh_rz).split(hidden, dim=-1)
        n = torch.tanh(torch.addcmul(g_n, r, gh_n))
        h = n - z * n if h is None else torch.lerp(n, h, z)              # (1 - z) n + z h
    return torch.baddbmm(b_out, h, w_out).squeeze(-1)


def forward_bmm_t(theta, v, f):
    """Any hidden size H, feature-major: the same cell as :func:`forward_bmm` with every
    activation laid out (S, features, B), so the batch is the contiguous axis and each matrix
    product is (S, 3H, in) x (S, in, B): ``W x`` in torch's own orientation. theta (S, P);
    v, f (L, S or 1, B) -> prediction (S, B), scaled units.

    Measured against :func:`forward_bmm` (one step's product and its backward, 256 seeds x
    256 samples, one thread): 2.8x faster at H = 2, 1.4x at H = 4, 1.3x at H = 8, 1.2x at
    H = 16; ``--form`` picks either."""
    S = theta.shape[0]
    L, _, B = v.shape
    hidden = hidden_of(theta.shape[1])
    two = 2 * hidden
    w_ih, w_hh, b_ih, b_hh, w_out, b_out = (theta[:, sl].view((S,) + stored).transpose(1, 2)
                                            for sl, stored, _ in layout(hidden).values())
    x = torch.stack([v, f], dim=0).expand(2, L, S, B)                 # (2, L, S, B)
    x = x.permute(2, 0, 1, 3).reshape(S, 2, L * B)                    # (S, 2, L B)
    gi = torch.baddbmm(b_ih, w_ih, x).view(S, 3 * hidden, L, B).unbind(2)   # L x (S, 3H, B)
    h = None
    for t in range(L):
        g_rz, g_n = gi[t].split([two, hidden], dim=1)                   # (S, 2H, B), (S, H, B)
        gh = b_hh if h is None else torch.baddbmm(b_hh, w_hh, h)         # (S, 3H, 1 or B)
        gh_rz, gh_n = gh.split([two, hidden], dim=1)
        r, z = torch.sigmoid(g_rz + gh_rz).split(hidden, dim=1)
        n = torch.tanh(torch.addcmul(g_n, r, gh_n))
        h = n - z * n if h is None else torch.lerp(n, h, z)              # (1 - z) n + z h
    return torch.baddbmm(b_out, w_out, h).squeeze(1)


#: The cell's forms (``--form``): elementwise (H = 1 only), batch-major and feature-major
#: batched products.
FORMS = {"elementwise": forward, "bmm": forward_bmm, "bmm_t": forward_bmm_t}


def default_form(hidden: int) -> str:
    """The fastest form measured at ``hidden``: elementwise at H = 1, feature-major above."""
    return "elementwise" if hidden == 1 else "bmm_t"


def predict(model, theta, v, f, chunk=64):
    """``model(theta, v, f)`` (no gradients) in chunks of ``chunk`` seeds: the bmm form's
    (S, L n_test, 3H) input projection of the whole test set would not fit at large S and H."""
    S = theta.shape[0]
    shared = v.shape[1] == 1
    parts = []
    for a in range(0, S, chunk):
        sl = slice(0, 1) if shared else slice(a, a + chunk)
        parts.append(model(theta[a:a + chunk], v[:, sl], f[:, sl]))
    return torch.cat(parts)


class Plateau:
    """Per-seed torch ReduceLROnPlateau (mode min, relative threshold, cooldown 0) as tensor ops."""

    def __init__(self, lr0, n_seeds, factor, patience, threshold, min_lr, eps):
        self.lr = torch.full((n_seeds,), float(lr0), dtype=torch.float64)
        self.best = torch.full((n_seeds,), float("inf"), dtype=torch.float64)
        self.bad = torch.zeros(n_seeds, dtype=torch.int64)
        self.factor, self.patience, self.threshold = factor, patience, threshold
        self.min_lr, self.eps = min_lr, eps

    def step(self, metric):
        metric = metric.to(torch.float64)
        better = metric < self.best * (1.0 - self.threshold)
        self.best = torch.where(better, metric, self.best)
        self.bad = torch.where(better, torch.zeros_like(self.bad), self.bad + 1)
        cut = self.bad > self.patience
        new_lr = torch.clamp(self.lr * self.factor, min=self.min_lr)
        self.lr = torch.where(cut & (self.lr - new_lr > self.eps), new_lr, self.lr)
        self.bad = torch.where(cut, torch.zeros_like(self.bad), self.bad)
        return self.lr


def run(theta0, data, epochs, *, orders=None, generator=None, lr=LEARNING_RATE,
        weight_decay=WEIGHT_DECAY, clip=CLIP_VALUE, betas=BETAS, eps=EPS, batch_size=BATCH_SIZE,
        eval_every=EVAL_EVERY, plateau=None, form=None):
    """Train S seeds from theta0 (S, P) on ``data`` (from prepare_data, D = 1 or S); the hidden
    size is the one with P parameters.

    ``orders``: optional (epochs, S, n_train) sample orders to replay (else argsort of random
    keys from ``generator``). ``form``: a key of :data:`FORMS` (default: :func:`default_form`).
    Returns dict(theta (S, P) float32, train_losses (epochs, S), test_losses (n_evals, S),
    lrs (n_evals, S), wall_s)."""
    theta = torch.tensor(np.asarray(theta0, np.float32)).requires_grad_(True)
    S = theta.shape[0]
    hidden = hidden_of(theta.shape[1])
    form = form or default_form(hidden)
    if form == "elementwise" and hidden != 1:
        raise ValueError(f"form 'elementwise' is the hidden-size-1 cell; hidden size is {hidden}")
    model = FORMS[form]
    train = data["train"]
    v_te, f_te, y_te = data["v_te"], data["f_te"], data["y_te"]
    C, D, n = train.shape
    L = (C - 1) // 2
    assert D in (1, S), (D, S)
    shared = D == 1
    if shared:
        train = train[:, 0]                                          # (C, n)
    sched = Plateau(lr, S, **(plateau or PLATEAU))
    b1, b2 = betas
    m = torch.zeros_like(theta, requires_grad=False)
    s2 = torch.zeros_like(theta, requires_grad=False)
    lr_col = torch.full((S, 1), -lr, dtype=torch.float64)
    step = 0
    train_losses, test_losses, lrs = [], [], []
    t0 = time.perf_counter()
    for epoch in range(epochs):
        if orders is not None:
            perm = torch.as_tensor(np.asarray(orders[epoch]), dtype=torch.int64)
        else:
            perm = torch.argsort(torch.rand(S, n, generator=generator, dtype=torch.float64), dim=1)
        running = torch.zeros(S, dtype=torch.float64)
        for start in range(0, n, batch_size):
            idx = perm[:, start:start + batch_size]                      # (S, B)
            B = idx.shape[1]
            if shared:
                batch = torch.index_select(train, 1, idx.reshape(-1)).view(C, S, B)
            else:
                batch = torch.gather(train, 2, idx.unsqueeze(0).expand(C, S, B))
            vb, fb, yb = batch[:L], batch[L:2 * L], batch[2 * L]         # (L, S, B) x 2, (S, B)
            pred = model(theta, vb, fb)
            per_seed = (pred - yb).square().mean(dim=1)                  # (S,) each seed's mean
            theta.grad = None
            per_seed.sum().backward()
            with torch.no_grad():
                g = theta.grad
                norm = torch.linalg.vector_norm(g, dim=1, keepdim=True)   # per seed
                g = g * torch.clamp(clip / (norm + 1e-6), max=1.0)       # clip_grad_norm_
                g = g.add(theta, alpha=weight_decay)                      # coupled L2
                step += 1
                m.lerp_(g, 1 - b1)
                s2.mul_(b2).addcmul_(g, g, value=1 - b2)
                bc1 = 1 - b1 ** step
                bc2_sqrt = (1 - b2 ** step) ** 0.5
                denom = (s2.sqrt() / bc2_sqrt).add_(eps)
                theta.addcdiv_(m * (lr_col / bc1).to(torch.float32), denom)
                running += per_seed.detach().to(torch.float64) * B
        train_losses.append(running / n)
        if epoch % eval_every == 0:
            with torch.no_grad():
                pred = predict(model, theta, v_te, f_te)                   # (S, n_test)
                tl = (pred * HIGH - y_te).square().mean(dim=1)
            test_losses.append(tl.to(torch.float64))
            lr_col = -sched.step(tl)[:, None]
            lrs.append(sched.lr.clone())
    wall = time.perf_counter() - t0
    stack = lambda xs: torch.stack(xs).numpy() if xs else np.zeros((0, S))
    return dict(theta=theta.detach().numpy().copy(), train_losses=stack(train_losses),
                test_losses=stack(test_losses), lrs=stack(lrs), wall_s=wall)


def train_ensemble(n_seeds, epochs, seed=0, threads=None, shared_data=True, hidden=1,
                   form=None):
    """The blog's protocol for seeds ``seed, ..., seed + n_seeds - 1`` at once.

    shared_data=True: every seed trains on the dataset of ``seed`` (its own init and shuffles);
    False: each seed on its own dataset (np.random.seed(s) + the blog's generator).
    Returns dict(wall_s, per_seed_epoch_ms, final_train_loss (S,), params {state_dict key:
    (S, *shape)}, train_losses (epochs, S), test_losses, lrs, shared_data, setup_s (init and
    data, per ensemble))."""
    if threads:
        torch.set_num_threads(int(threads))
    seeds = range(seed, seed + n_seeds)
    start = time.perf_counter()
    theta0 = np.stack([seed_init(s, hidden) for s in seeds])
    datasets = [seed_data(s) for s in (seeds[:1] if shared_data else seeds)]
    data = prepare_data(np.stack([d[0] for d in datasets]), np.stack([d[1] for d in datasets]))
    setup_s = time.perf_counter() - start
    gen = torch.Generator().manual_seed(seed)
    out = run(theta0, data, epochs, generator=gen, form=form)
    return dict(wall_s=out["wall_s"], per_seed_epoch_ms=out["wall_s"] / (n_seeds * epochs) * 1e3,
                setup_s=setup_s,
                final_train_loss=out["train_losses"][-1],
                params=state_dicts_from_theta(out["theta"]),
                train_losses=out["train_losses"], test_losses=out["test_losses"], lrs=out["lrs"],
                shared_data=shared_data)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, default=1024)
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--hidden", type=int, default=1)
    ap.add_argument("--form", choices=sorted(FORMS), default=None,
                    help="the cell's form (default: elementwise at hidden size 1, bmm_t above)")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--per-seed-data", action="store_true",
                    help="each seed its own dataset (slow setup)")
    ap.add_argument("--sweep", default=None,
                    help="comma-separated seed counts, e.g. 1,16,64,256,1024")
    a = ap.parse_args(argv)
    counts = [int(c) for c in a.sweep.split(",")] if a.sweep else [a.seeds]
    print(f"# torch {torch.__version__}, threads {a.threads or torch.get_num_threads()}, "
          f"{os.cpu_count()} CPUs, {platform.processor() or platform.machine()}; "
          f"data {'per seed' if a.per_seed_data else 'shared'}; epochs {a.epochs}; hidden "
          f"{a.hidden} (form {a.form or default_form(a.hidden)})")
    print(f"{'seeds':>6} {'wall_s':>8} {'ms/seed-epoch':>14} {'seed-epochs/s':>14} "
          f"{'mean final train':>17}")
    for S in counts:
        r = train_ensemble(S, a.epochs, seed=a.seed, threads=a.threads,
                           shared_data=not a.per_seed_data, hidden=a.hidden,
                           form=a.form)
        print(f"{S:6d} {r['wall_s']:8.2f} {r['per_seed_epoch_ms']:14.3f} "
              f"{1e3 / r['per_seed_epoch_ms']:14.1f} "
              f"{float(np.mean(r['final_train_loss'])):17.6g}", flush=True)


if __name__ == "__main__":
    main()
