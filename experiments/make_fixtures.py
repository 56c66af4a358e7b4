"""Regenerate the PyTorch reference fixtures in ``tests/fixtures/*.npz`` (needs torch).

    python experiments/make_fixtures.py [--reference ../shared/reference/seed_reference.py]
        [--only model optim plateau init seed_data replay]

The numbers come from the same functions the tests call live when torch is importable
(``tests/torch_reference.py``), so with or without torch the tests check the same thing.
``seed_data`` and a cross-check of the inline protocol come from the blog's own script
(``seed_reference.py``, run as a subprocess; the package never imports it).

Fixtures (all together well under 3 MB):
  model.npz      forward outputs, hidden states, loss gradients: H in {1, 3}, T in {1, 4, 7}
  optim.npz      20 steps of clip_grad_norm_ + Adam(weight_decay): unclipped and clipped cases
  plateau.npz    ReduceLROnPlateau state after each step of a scripted loss sequence, 3 variants
  init.npz       moments (and standard errors) of the seed's init of 1000 torch inits (one
                 manual_seed), H=1, 3
  seed_data.npz  X, Y of seed_reference.py for seeds 37 and 5 (uint8/uint16, exact)
  replay.npz     20 epochs of the seed's protocol, seed 37, eval every 4: init, orders, final
                 weights, train/test losses, lrs
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "tests"))

import torch_reference as ref  # noqa: E402

ALL = ("model", "optim", "plateau", "init", "seed_data", "replay")
SEED_DATA_SEEDS = (37, 5)


def make_model():
    out = {}
    for hidden, length in ref.MODEL_CASES:
        state_dict, x, target = ref.model_case(hidden, length)
        values = {**{"sd." + k: v for k, v in state_dict.items()}, "x": x, "target": target,
                  **ref.torch_forward_and_grads(state_dict, x, target)}
        out.update(ref.pack(f"H{hidden}_T{length}", values))
    return out


def make_optim():
    out = {}
    for name in ref.OPTIM_CASES:
        state_dict, xs, ys = ref.optim_case(name)
        out.update(ref.pack(name, ref.torch_optimizer_steps(name, state_dict, xs, ys)))
    return out


def make_plateau():
    losses = ref.plateau_losses()
    out = {"losses": losses}
    for variant in ref.PLATEAU_VARIANTS:
        out.update(ref.pack(variant, ref.torch_plateau(variant, losses)))
    return out


def make_init():
    out = {}
    for hidden in (1, 3):
        moments = ref.init_moments(ref.flat_weights(ref.torch_init_draws(hidden)))
        out.update(ref.pack(f"H{hidden}", {f"{k}.{part}": v[i] for k, v in moments.items()
                                           for i, part in enumerate(("estimate", "se"))}))
    return out


def run_reference(script, args):
    cmd = [sys.executable, script] + [str(a) for a in args]
    print("  running:", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)


def make_seed_data(script):
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for seed in SEED_DATA_SEEDS:
            path = os.path.join(tmp, f"seed{seed}.npz")
            run_reference(script, ["--epochs", 1, "--seed", seed, "--orders-only", "--out", path])
            with np.load(path) as blob:
                x, y = blob["X"], blob["Y"]
            assert np.array_equal(x.astype(np.uint8), x) and np.array_equal(y.astype(np.uint16), y)
            out.update(ref.pack(f"seed{seed}", {"X": x.astype(np.uint8), "Y": y.astype(np.uint16)}))
    return out


def check_protocol_against_script(script):
    """The inline protocol in torch_reference reproduces seed_reference.py exactly."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "run.json")
        run_reference(script, ["--epochs", ref.REPLAY_EPOCHS, "--seed", ref.REPLAY_SEED,
                               "--record-orders", "--threads", 1, "--out", path])
        with open(path) as handle:
            script_run = json.load(handle)
        script_orders = np.load(path + ".orders.npy")
    inline = ref.torch_protocol(ref.REPLAY_SEED, ref.REPLAY_EPOCHS, 49)   # one thread too
    assert np.array_equal(inline["orders"], script_orders), "orders differ from the script's"
    for key in ref.STATE_DICT_KEYS:
        for stage in ("final", "init"):
            expected = np.asarray(script_run[stage][key], np.float32)
            assert np.array_equal(inline[f"{stage}.{key}"], expected), (stage, key)
    assert np.array_equal(inline["train_losses"], script_run["train_losses"])
    assert np.array_equal(inline["test_losses"], script_run["test_losses"])
    print("  inline protocol == seed_reference.py (orders, init, final, losses: bit-identical)")


def make_replay(script):
    check_protocol_against_script(script)
    run = dict(ref.torch_protocol())
    run["orders"] = run["orders"].astype(np.int16)   # 8000 < 2**15
    return ref.pack(f"seed{ref.REPLAY_SEED}", run)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--reference", default=os.path.join(REPO, "..", "shared", "reference",
                                                        "seed_reference.py"))
    ap.add_argument("--only", nargs="+", choices=ALL, default=list(ALL))
    args = ap.parse_args(argv)
    if not ref.HAVE_TORCH:
        raise SystemExit("make_fixtures.py needs torch (pip install -e .[torch])")
    makers = {"model": make_model, "optim": make_optim, "plateau": make_plateau,
              "init": make_init, "seed_data": lambda: make_seed_data(args.reference),
              "replay": lambda: make_replay(args.reference)}
    os.makedirs(ref.FIXTURES, exist_ok=True)
    for name in args.only:
        print(f"{name}:", flush=True)
        arrays = makers[name]()
        path = os.path.join(ref.FIXTURES, name + ".npz")
        np.savez_compressed(path, **arrays)
        print(f"  wrote {os.path.relpath(path, REPO)} ({os.path.getsize(path) / 1024:.0f} KiB)")
    total = sum(os.path.getsize(os.path.join(ref.FIXTURES, f)) for f in os.listdir(ref.FIXTURES))
    print(f"fixtures total {total / 1024:.0f} KiB")
    assert total < 3 * 2**20, "fixtures must stay under 3 MB"


if __name__ == "__main__":
    main()
