"""State-dict conversion (PyTorch names) and the seed blog's JSON files.

The seed's ``model.state_dict()`` names: ``gru.weight_ih_l0`` (3H, I), ``gru.weight_hh_l0``
(3H, H), ``gru.bias_ih_l0`` (3H,), ``gru.bias_hh_l0`` (3H,), ``linear.weight`` (O, H),
``linear.bias`` (O,).
"""
from __future__ import annotations

import json
import math
import os
from typing import Any, Mapping

import numpy as np

#: The blog's seed-37 final weights (BLOG_FACTS.md: the CPU run of its protocol, agreeing with
#: every published digit), as a state dict of nested lists.
BLOG_SEED37_STATE_DICT = {
    "gru.weight_ih_l0": [[0.2308698, 0.6330313], [-0.4197582, -3.0248599],
                         [-0.2839302, -0.8133938]],
    "gru.weight_hh_l0": [[-0.1414806], [-0.8965575], [1.1289151]],
    "gru.bias_ih_l0": [0.7426546, 0.8092875, 0.6560431],
    "gru.bias_hh_l0": [0.7426547, 0.8092874, 0.1652635],
    "linear.weight": [[-4.1571345]], "linear.bias": [0.8693163],
}

STATE_DICT_KEYS = ("gru.weight_ih_l0", "gru.weight_hh_l0", "gru.bias_ih_l0", "gru.bias_hh_l0",
                   "linear.weight", "linear.bias")


def to_state_dict(params) -> dict[str, np.ndarray]:
    """Params (any leading axes, e.g. seeds) -> ``{torch name: np.ndarray}``, float32."""
    out = {}
    for name in STATE_DICT_KEYS:
        module, leaf = name.split(".", 1)
        out[name] = np.asarray(params[module][leaf], dtype=np.float32)
    return out


GATES = ("r", "z", "n")
INPUTS = ("value", "flag")


def param_names(hidden: int = 1) -> tuple[str, ...]:
    """Readable names of the flat parameter vector of :func:`flatten_params`, the blog's notation.

    Gates in torch's order r, z, n; inputs ``value``, ``flag``. For ``H = 1`` (17 names):
    ``W_ir[value], W_ir[flag], W_iz[value], ..., W_in[flag], W_hr, W_hz, W_hn, b_ir, b_iz,
    b_in, b_hr, b_hz, b_hn, w_out, b_out``. For ``H > 1`` every per-unit name gains the unit
    index ``u`` (its row in the torch tensor) and ``W_h`` the column ``k``: ``W_iz[flag][u]``,
    ``W_hz[u,k]``, ``b_iz[u]``, ``w_out[u]`` (``b_out`` stays). ``b_i*`` are rows of
    ``gru.bias_ih_l0``, ``b_h*`` of ``gru.bias_hh_l0``. (Same names as
    :func:`gru_jax.analysis.dissect.param_names`.)
    """
    unit = (lambda u: "") if hidden == 1 else (lambda u: f"[{u}]")
    names = [f"W_i{g}[{i}]{unit(u)}" for g in GATES for u in range(hidden) for i in INPUTS]
    if hidden == 1:
        names += [f"W_h{g}" for g in GATES]
    else:
        names += [f"W_h{g}[{u},{k}]" for g in GATES for u in range(hidden) for k in range(hidden)]
    names += [f"b_i{g}{unit(u)}" for g in GATES for u in range(hidden)]
    names += [f"b_h{g}{unit(u)}" for g in GATES for u in range(hidden)]
    names += [f"w_out{unit(u)}" for u in range(hidden)] + ["b_out"]
    return tuple(names)


def flatten_params(params) -> np.ndarray:
    """Params with any leading axes ``(...)`` -> ``(..., P)`` float32 in :func:`param_names`
    order: the state-dict tensors in :data:`STATE_DICT_KEYS` order, each row-major
    (``P = 17`` for ``H = 1``; ``P = 3H(2 + H) + 6H + H + 1`` in general)."""
    leaves = [np.asarray(v, np.float32) for v in to_state_dict(params).values()]
    lead = leaves[0].shape[:-2]
    return np.concatenate([a.reshape(lead + (-1,)) for a in leaves], axis=-1)


def state_dict_shapes(hidden: int, inputs: int = 2, outputs: int = 1) -> dict[str, tuple]:
    return {"gru.weight_ih_l0": (3 * hidden, inputs), "gru.weight_hh_l0": (3 * hidden, hidden),
            "gru.bias_ih_l0": (3 * hidden,), "gru.bias_hh_l0": (3 * hidden,),
            "linear.weight": (outputs, hidden), "linear.bias": (outputs,)}


def from_state_dict(state_dict: Mapping[str, Any]) -> dict[str, dict[str, np.ndarray]]:
    """``{torch name: array-like}`` -> params, float32 numpy leaves.

    Accepts torch tensors, numpy arrays or nested lists, and an optional common leading axis
    (e.g. seeds) on every array. Raises ``ValueError`` naming a missing/unknown key or a shape
    that does not fit the GRU layout.
    """
    missing = [k for k in STATE_DICT_KEYS if k not in state_dict]
    unknown = [k for k in state_dict if k not in STATE_DICT_KEYS]
    if missing or unknown:
        raise ValueError(f"state dict: missing keys {missing}, unknown keys {unknown}; "
                         f"expected exactly {list(STATE_DICT_KEYS)}")
    arrays = {}
    for name in STATE_DICT_KEYS:
        value = state_dict[name]
        if hasattr(value, "detach"):
            value = value.detach().cpu().numpy()
        arrays[name] = np.asarray(value, dtype=np.float32)
    w_hh = arrays["gru.weight_hh_l0"]
    if w_hh.ndim < 2:
        raise ValueError(f"state dict: gru.weight_hh_l0 must be (3H, H), got shape {w_hh.shape}")
    hidden = w_hh.shape[-1]
    lead = w_hh.shape[:-2]
    inputs = arrays["gru.weight_ih_l0"].shape[-1] if arrays["gru.weight_ih_l0"].ndim else 0
    outputs = arrays["linear.weight"].shape[-2] if arrays["linear.weight"].ndim >= 2 else 0
    for name, shape in state_dict_shapes(hidden, inputs, outputs).items():
        if arrays[name].shape != lead + shape:
            raise ValueError(f"state dict: {name} has shape {arrays[name].shape}, expected "
                             f"{lead + shape} (leading axes {lead}, H={hidden}, I={inputs}, "
                             f"O={outputs})")
    params: dict[str, dict[str, np.ndarray]] = {}
    for name, value in arrays.items():
        module, leaf = name.split(".", 1)
        params.setdefault(module, {})[leaf] = value
    return params


def _json_value(value):
    not_finite = isinstance(value, float) and not math.isfinite(value)
    return None if value is None or not_finite else value


def export_blog_files(run, seed_index: int, directory: str, overwrite: bool = False) -> list[str]:
    """Write one seed of a run as the seed blog's own files, readable by its notebooks.

    Files: ``all_weights.json`` (a list, one ``{torch name: nested list}`` per eval epoch),
    ``train_losses.json`` (one float per epoch, scaled units) and ``test_losses.json`` (one
    entry per epoch: the test loss at eval epochs, ``null`` elsewhere, original units).

    Args:
      run: a :class:`gru_jax.Run`.
      seed_index: position of the seed in ``run.seeds`` (not the seed value).
      directory: created if missing; existing files are not overwritten unless ``overwrite``.
    """
    n_seeds = len(run.seeds)
    if getattr(run, "loss_every", 1) != 1:
        raise ValueError(f"export_blog_files: the blog's train_losses.json has every epoch, this "
                         f"run keeps the training loss every {run.loss_every} epochs (loss_every)")
    if not 0 <= seed_index < n_seeds:
        raise ValueError(f"seed_index {seed_index} out of range: the run has {n_seeds} seeds")
    names = ("all_weights.json", "train_losses.json", "test_losses.json")
    paths = [os.path.join(directory, n) for n in names]
    if not overwrite:
        existing = [p for p in paths if os.path.exists(p)]
        if existing:
            raise FileExistsError(f"refusing to overwrite {existing}; pass overwrite=True")
    os.makedirs(directory, exist_ok=True)
    snapshots = to_state_dict(run.snapshots)
    all_weights = [{k: v[seed_index, i].tolist() for k, v in snapshots.items()}
                   for i in range(len(run.eval_epochs))]
    train = [_json_value(float(v)) for v in run.train_loss[seed_index]]
    test: list = [None] * len(train)
    for i, epoch in enumerate(run.eval_epochs):
        if epoch < len(test):
            test[int(epoch)] = _json_value(float(run.test_loss[seed_index, i]))
    for path, payload in zip(paths, (all_weights, train, test)):
        tmp = path + ".tmp"
        with open(tmp, "w") as handle:
            json.dump(payload, handle)
        os.replace(tmp, path)
    return paths


def load_blog_weights(path: str) -> list[dict[str, np.ndarray]]:
    """Read the seed's ``all_weights.json`` into a list of state dicts."""
    with open(path) as handle:
        entries = json.load(handle)
    return [{k: np.asarray(v, np.float32) for k, v in entry.items()} for entry in entries]
