"""Independent references for the tests: the seed's code (copied verbatim) and PyTorch runs.

Used three ways, so the same function makes every number (no copy-paste):
  * live, by the tests, when torch is importable;
  * by ``experiments/make_fixtures.py``, which stores the results in ``tests/fixtures/*.npz``
    so the tests also run without torch;
  * by ``experiments/torch_ensemble.py`` (the vectorized PyTorch competitor), which takes the
    seed's generator and model from here: this file holds the ONE copy of the blog's code, as
    it is the one that must work without torch (the generator) and that the package never
    imports.

Nothing here imports gru_jax: these are the numbers our code is checked against. The case
inputs (``*_case`` functions) are plain numpy and deterministic.
"""
from __future__ import annotations

import contextlib
import functools
import os

import numpy as np

try:  # torch is optional: without it the tests read the committed fixtures
    import torch
    import torch.nn as nn
except ImportError:  # pragma: no cover - depends on the environment
    torch = nn = None
#: True: the references are computed live. False without torch, or with
#: GRU_JAX_TEST_FIXTURES_ONLY set (to exercise the no-torch path; the seed's model is still
#: defined for experiments/torch_ensemble.py when torch is importable).
HAVE_TORCH = torch is not None and not os.environ.get("GRU_JAX_TEST_FIXTURES_ONLY")

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")
STATE_DICT_KEYS = ("gru.weight_ih_l0", "gru.weight_hh_l0", "gru.bias_ih_l0", "gru.bias_hh_l0",
                   "linear.weight", "linear.bias")


@functools.lru_cache(maxsize=None)
def load_fixture(name: str) -> dict:
    """``tests/fixtures/<name>.npz`` as a dict of arrays (read once per session)."""
    with np.load(os.path.join(FIXTURES, name + ".npz")) as blob:
        return {k: blob[k] for k in blob.files}


def pack(case: str, values: dict) -> dict:
    """``{name: array}`` -> ``{"<case>/<name>": array}`` for one npz holding many cases."""
    return {f"{case}/{k}": np.asarray(v) for k, v in values.items()}


def unpack(fixture: dict, case: str) -> dict:
    prefix = case + "/"
    out = {k[len(prefix):]: v for k, v in fixture.items() if k.startswith(prefix)}
    if not out:
        raise KeyError(f"fixture has no case {case!r}: rerun experiments/make_fixtures.py")
    return out


def reference(fixture: str, case: str, compute):
    """The reference numbers of one case: ``compute()`` live when torch is importable,
    else the ones stored in ``tests/fixtures/<fixture>.npz`` by make_fixtures.py."""
    if HAVE_TORCH:
        return {k: np.asarray(v) for k, v in compute().items()}
    return unpack(load_fixture(fixture), case)


# ---- the seed's code, verbatim ---------------------------------------------------------------
def adding_problem_generator(N, seq_len=6, high=1, delta=0.6):
    actual_seq_len = np.random.randint(int(seq_len * (1 - delta)), int(seq_len * (1 + delta))) if delta > 0 else seq_len  # noqa: E501 (the blog's line, verbatim)
    num_ones = np.random.randint(2, min(actual_seq_len - 1, 4))
    X_num = np.random.randint(low=0, high=high, size=(N, actual_seq_len, 1))
    X_mask = np.zeros((N, actual_seq_len, 1))
    Y = np.ones((N, 1))
    for i in range(N):
        positions = np.random.choice(actual_seq_len, size=num_ones, replace=False)
        X_mask[i, positions] = 1
        Y[i, 0] = np.sum(X_num[i, positions])
    X = np.append(X_num, X_mask, axis=2)
    return X, Y


if torch is not None:
    class AddingProblemGRU(nn.Module):
        def __init__(self, input_size, hidden_size, output_size):
            super().__init__()
            self.gru = nn.GRU(input_size, hidden_size, num_layers=1, batch_first=True)
            self.linear = nn.Linear(hidden_size, output_size)
            for name, param in self.gru.named_parameters():
                if "weight" in name:
                    nn.init.orthogonal_(param)
                elif "bias" in name:
                    nn.init.constant_(param, 0)
            nn.init.xavier_uniform_(self.linear.weight)
            nn.init.zeros_(self.linear.bias)

        def forward(self, x):
            out, hn = self.gru(x)
            return self.linear(out[:, -1, :]), out


@contextlib.contextmanager
def one_thread():
    """Run torch on one thread: these ops are tiny, and extra threads only contend (5x slower
    on a shared 2-core machine). Results are the same as the seed script's with --threads 1."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _model_from_state_dict(state_dict, hidden):
    model = AddingProblemGRU(2, hidden, 1)
    model.load_state_dict({k: torch.tensor(np.asarray(v, np.float32))
                           for k, v in state_dict.items()})
    return model


def _state_dict_np(model):
    return {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}


# ---- 1. forward, hidden states, gradients -----------------------------------------------------
MODEL_CASES = [(hidden, length) for hidden in (1, 3) for length in (1, 4, 7)]


def random_state_dict(rng, hidden, scale=1.0):
    """Random float32 weights AND biases (all non-zero) in the torch layout, I=2, O=1."""
    shapes = {"gru.weight_ih_l0": (3 * hidden, 2), "gru.weight_hh_l0": (3 * hidden, hidden),
              "gru.bias_ih_l0": (3 * hidden,), "gru.bias_hh_l0": (3 * hidden,),
              "linear.weight": (1, hidden), "linear.bias": (1,)}
    return {k: (scale * rng.uniform(-1, 1, shape)).astype(np.float32)
            for k, shape in shapes.items()}


def model_case(hidden, length, batch=5):
    """Deterministic inputs: (state_dict, x (B, T, 2) float32, target (B, 1) float32)."""
    rng = np.random.default_rng(1000 * hidden + length)
    state_dict = random_state_dict(rng, hidden)
    values = rng.uniform(0, 1, (batch, length, 1))
    flags = (rng.uniform(0, 1, (batch, length, 1)) < 0.5).astype(np.float64)
    x = np.concatenate([values, flags], axis=-1).astype(np.float32)
    target = rng.normal(0, 1, (batch, 1)).astype(np.float32)
    return state_dict, x, target


def torch_forward_and_grads(state_dict, x, target):
    """torch: y (B, 1), hidden states (B, T, H), and d mean((y - target)^2) / d every param."""
    hidden = state_dict["gru.weight_hh_l0"].shape[1]
    model = _model_from_state_dict(state_dict, hidden)
    y, hs = model(torch.tensor(x))
    loss = nn.MSELoss()(y, torch.tensor(target))
    loss.backward()
    grads = {k: p.grad.numpy().copy() for k, p in model.named_parameters()}
    return {"y": y.detach().numpy(), "hs": hs.detach().numpy(), "loss": np.float32(loss.item()),
            **{"grad." + k: v for k, v in grads.items()}}


# ---- 2. optimizer steps -------------------------------------------------------------------------
# name: (hidden, lr, weight_decay, clip, target_scale, steps, step at which lr is halved)
OPTIM_CASES = {
    "unclipped": dict(hidden=1, lr=1e-3, weight_decay=1e-5, clip=2.0, target_scale=1.0,
                      steps=20, halve_lr_at=10),
    "clipped": dict(hidden=3, lr=5e-2, weight_decay=1e-2, clip=2.0, target_scale=30.0,
                    steps=20, halve_lr_at=None),
}


def optim_case(name, batch=32, length=4):
    """Deterministic inputs: (init state_dict, xs (steps, B, T, 2), ys (steps, B, 1)).

    Adding-problem-like batches: value / 100, two flags per row, target = flagged sum x scale.
    """
    spec = OPTIM_CASES[name]
    rng = np.random.default_rng(7 + len(name))
    state_dict = random_state_dict(rng, spec["hidden"], scale=0.5)
    values = rng.integers(0, 100, (spec["steps"], batch, length)) / 100.0
    flags = np.zeros_like(values)
    for s in range(spec["steps"]):
        for b in range(batch):
            flags[s, b, rng.choice(length, 2, replace=False)] = 1.0
    xs = np.stack([values, flags], axis=-1).astype(np.float32)
    ys = (spec["target_scale"] * np.sum(values * flags, axis=-1, keepdims=True)).astype(np.float32)
    return state_dict, xs, ys


def torch_optimizer_steps(name, state_dict, xs, ys):
    """torch: clip_grad_norm_ + Adam(lr, weight_decay) on the given batches.

    Returns ``params.<key>`` (steps, ...) after every step, ``grad_norm`` (steps,) before
    clipping, ``loss`` (steps,) and ``lr`` (steps,) used at each step.
    """
    spec = OPTIM_CASES[name]
    model = _model_from_state_dict(state_dict, spec["hidden"])
    opt = torch.optim.Adam(model.parameters(), lr=spec["lr"], weight_decay=spec["weight_decay"])
    history = {k: [] for k in STATE_DICT_KEYS}
    norms, losses, lrs = [], [], []
    for step in range(spec["steps"]):
        if spec["halve_lr_at"] is not None and step == spec["halve_lr_at"]:
            opt.param_groups[0]["lr"] = spec["lr"] / 2
        opt.zero_grad()
        y, _ = model(torch.tensor(xs[step]))
        loss = nn.MSELoss()(y, torch.tensor(ys[step]))
        loss.backward()
        norms.append(float(torch.nn.utils.clip_grad_norm_(model.parameters(), spec["clip"])))
        opt.step()
        losses.append(loss.item())
        lrs.append(opt.param_groups[0]["lr"])
        for k, v in _state_dict_np(model).items():
            history[k].append(v)
    return {**{"params." + k: np.stack(v) for k, v in history.items()},
            "grad_norm": np.asarray(norms), "loss": np.asarray(losses), "lr": np.asarray(lrs)}


# ---- 3. ReduceLROnPlateau -----------------------------------------------------------------------
# (factor, patience, threshold, cooldown, min_lr) of each variant; the first is the seed's.
PLATEAU_VARIANTS = {
    "seed": dict(factor=0.5, patience=5, threshold=1e-4, cooldown=0, min_lr=1e-6),
    "cooldown": dict(factor=0.5, patience=5, threshold=1e-4, cooldown=2, min_lr=1e-6),
    "other": dict(factor=0.3, patience=2, threshold=1e-2, cooldown=3, min_lr=2e-6),
}


def plateau_losses():
    """A scripted test-loss sequence: NaN first, improvements, plateaus, improvements just below
    and above the 1e-4 relative threshold, NaN in the middle, and a long stagnation that cuts the
    LR down to min_lr and keeps it there, then late improvements."""
    seq = [np.nan, 10.0, 9.0, 8.0]
    seq += [8.0] * 7                                  # plateau: cut after the 6th bad one
    best = 8.0
    seq += [best * (1 - 5e-5)] * 7                    # relative gain 5e-5 < 1e-4: not better
    best = best * (1 - 2e-4)
    seq += [best]                                     # gain 2e-4 > 1e-4: better
    seq += [best * 1.5, np.nan, np.nan, best * 2, np.nan, best, best]  # NaN counts as bad
    seq += [best * (1 - 0.02)]                        # better under every variant's threshold
    seq += list(np.linspace(7.9, 8.1, 60))            # long stagnation: down to min_lr
    seq += [5.0, 5.0, 4.0] + [4.0] * 8 + [np.nan] * 3 + [3.0]
    return np.asarray(seq, np.float64)


def torch_plateau(variant, losses, lr=1e-4):
    """torch ReduceLROnPlateau(mode='min') stepped on ``losses``; the state after each step."""
    spec = PLATEAU_VARIANTS[variant]
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=lr)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(
        opt, mode="min", factor=spec["factor"], patience=spec["patience"],
        threshold=spec["threshold"], cooldown=spec["cooldown"], min_lr=spec["min_lr"])
    out = {"lr": [], "best": [], "num_bad": [], "cooldown": []}
    for value in losses:
        sched.step(float(value))
        out["lr"].append(opt.param_groups[0]["lr"])
        out["best"].append(sched.best)
        out["num_bad"].append(sched.num_bad_epochs)
        out["cooldown"].append(sched.cooldown_counter)
    return {k: np.asarray(v) for k, v in out.items()}


# ---- 4. init distributions ----------------------------------------------------------------------
INIT_WEIGHTS = ("gru.weight_ih_l0", "gru.weight_hh_l0", "linear.weight")
INIT_BIASES = ("gru.bias_ih_l0", "gru.bias_hh_l0", "linear.bias")
INIT_DRAWS = 1000


def flat_weights(state_dicts_stacked):
    """``{key: (N, ...)}`` -> ``(N, D)`` the three weight tensors flattened and concatenated."""
    parts = [np.asarray(state_dicts_stacked[k], np.float64) for k in INIT_WEIGHTS]
    return np.concatenate([p.reshape(p.shape[0], -1) for p in parts], axis=1)


def init_moments(flat):
    """Moments of ``(N, D)`` draws and their standard errors.

    Returns ``{name: (estimate, standard_error)}`` for: mean (D,), second moments of all pairs
    E[w_a w_b] (D, D), E|w| (D,), E[w^4] (D,).
    """
    n = flat.shape[0]
    per_draw = {
        "mean": flat,
        "pairs": flat[:, :, None] * flat[:, None, :],
        "abs": np.abs(flat),
        "fourth": flat ** 4,
    }
    return {k: (v.mean(0), v.std(0, ddof=1) / np.sqrt(n)) for k, v in per_draw.items()}


@functools.lru_cache(maxsize=None)
def torch_init_draws(hidden, draws=INIT_DRAWS, seed=0):
    """``draws`` consecutive builds of the seed's ``AddingProblemGRU(2, hidden, 1)`` after one
    ``torch.manual_seed(seed)`` (independent draws of torch's init). ``{key: (draws, ...)}``."""
    out = {k: [] for k in STATE_DICT_KEYS}
    with one_thread():
        torch.manual_seed(seed)
        for _ in range(draws):
            for k, v in _state_dict_np(AddingProblemGRU(2, hidden, 1)).items():
                out[k].append(v)
    return {k: np.stack(v) for k, v in out.items()}


# ---- 8. a short run of the seed's protocol -------------------------------------------------
REPLAY_SEED = 37
REPLAY_EPOCHS = 20
REPLAY_EVAL_EVERY = 4   # the seed uses 49; every 4 epochs tests 5 evaluations in 20 epochs


@functools.lru_cache(maxsize=None)
def torch_protocol(seed=REPLAY_SEED, epochs=REPLAY_EPOCHS, eval_every=REPLAY_EVAL_EVERY):
    """The seed's training protocol (seed_reference.py), inline, parametrised by eval_every,
    on one torch thread. See :func:`blog_protocol`. (Cached: callers must not modify the
    arrays.)"""
    with one_thread():
        return blog_protocol(seed, epochs, eval_every)


def blog_protocol(seed=REPLAY_SEED, epochs=REPLAY_EPOCHS, eval_every=REPLAY_EVAL_EVERY, *,
                  lr=1e-4, patience=5, min_lr=1e-6, hidden=1, with_data=False):
    """The seed's training protocol (seed_reference.py), inline, with its hyper-parameters
    (eval_every, lr, the plateau's patience and min_lr) and the hidden size as arguments.

    Returns ``init.<key>`` and ``final.<key>`` state-dict entries, the per-epoch sample
    ``orders`` (epochs, 8000) int32, ``train_losses`` (epochs,), ``test_losses`` and ``lrs`` at
    ``eval_epochs``; with ``with_data`` also the dataset ``X`` (N, L, 2), ``Y`` (N, 1) (raw,
    float64) and ``max_grad_norm``, the largest gradient norm clip_grad_norm_ saw.
    """
    HIGH, N_SAMPLES, TRAIN_SPLIT, BATCH_SIZE = 100, 10000, 0.8, 256
    np.random.seed(seed)
    torch.manual_seed(seed)
    X, Y = adding_problem_generator(N_SAMPLES, seq_len=4, high=HIGH, delta=0)
    n = int(TRAIN_SPLIT * N_SAMPLES)
    from torch.utils.data import DataLoader, TensorDataset
    tensor = lambda a: torch.tensor(a).float()
    train_loader = DataLoader(TensorDataset(tensor(X[:n]), tensor(Y[:n]), torch.arange(n)),
                              batch_size=BATCH_SIZE, shuffle=True)
    test_loader = DataLoader(TensorDataset(tensor(X[n:]), tensor(Y[n:])),
                             batch_size=BATCH_SIZE, shuffle=False)
    criterion = nn.MSELoss()
    model = AddingProblemGRU(2, hidden, 1)
    init = _state_dict_np(model)
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=1e-5)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode="min", factor=0.5,
                                                       patience=patience, min_lr=min_lr)

    def evaluate():
        model.eval()
        total = 0
        with torch.no_grad():
            for inputs, labels in test_loader:
                inputs[:, :, 0] /= HIGH
                outputs, _ = model(inputs)
                total += criterion(outputs * HIGH, labels).item() * inputs.size(0)
        return total / len(test_loader.dataset)

    orders, train_losses, test_losses, lrs, eval_epochs = [], [], [], [], []
    max_grad_norm = 0.0
    for epoch in range(epochs):
        model.train()
        running, order = 0.0, []
        for inputs, labels, index in train_loader:
            order.append(index)
            inputs[:, :, 0] /= HIGH
            opt.zero_grad()
            outputs, _ = model(inputs)
            loss = criterion(outputs, labels / HIGH)
            loss.backward()
            norm = torch.nn.utils.clip_grad_norm_(model.parameters(), 2.0)
            max_grad_norm = max(max_grad_norm, float(norm))
            opt.step()
            running += loss.item() * inputs.size(0)
        orders.append(torch.cat(order).numpy().astype(np.int32))
        train_losses.append(running / n)
        if epoch % eval_every == 0:
            test = evaluate()
            sched.step(test)
            test_losses.append(test)
            lrs.append(opt.param_groups[0]["lr"])
            eval_epochs.append(epoch)
    final = _state_dict_np(model)
    data = dict(X=X, Y=Y, max_grad_norm=max_grad_norm) if with_data else {}
    return {**{"init." + k: v for k, v in init.items()},
            **{"final." + k: v for k, v in final.items()},
            "orders": np.stack(orders), "train_losses": np.asarray(train_losses),
            "test_losses": np.asarray(test_losses),
            "lrs": np.asarray(lrs), "eval_epochs": np.asarray(eval_epochs), **data}
