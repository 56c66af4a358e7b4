"""State-dict conversion (PyTorch names) and the seed blog's JSON files.

The seed's ``model.state_dict()`` names: ``gru.weight_ih_l0`` (3H, I), ``gru.weight_hh_l0``
(3H, H), ``gru.bias_ih_l0`` (3H,), ``gru.bias_hh_l0`` (3H,), ``linear.weight`` (O, H),
``linear.bias`` (O,).
"""
from __future__ import annotations

import json
import math
import os
from typing import Any, Mapping, Optional

import numpy as np

from .config import Config
from .files import OptionRequiredError, write_json
from .model import nest_params, param_shapes

STATE_DICT_KEYS = ("gru.weight_ih_l0", "gru.weight_hh_l0", "gru.bias_ih_l0", "gru.bias_hh_l0",
                   "linear.weight", "linear.bias")


def to_state_dict(params) -> dict[str, np.ndarray]:
    """Params (any leading axes, e.g. seeds) -> ``{torch name: np.ndarray}``, float32."""
    out = {}
    for name in STATE_DICT_KEYS:
        module, leaf = name.split(".", 1)
        out[name] = np.asarray(params[module][leaf], dtype=np.float32)
    return out


def state_dict_shapes(hidden: int, inputs: int = 2, outputs: int = 1) -> dict[str, tuple]:
    """``{torch name: shape}`` of one model."""
    shapes = param_shapes(hidden, inputs, outputs)
    return {f"{m}.{k}": shape for m, sub in shapes.items() for k, shape in sub.items()}


def from_state_dict(state_dict: Mapping[str, Any]) -> dict[str, dict[str, np.ndarray]]:
    """``{torch name: array-like}`` -> params, float32 numpy leaves.

    Accepts torch tensors, numpy arrays or nested lists, and an optional common leading axis
    (e.g. seeds) on every array. Raises ``ValueError`` naming a missing/unknown key or a shape
    that does not fit the GRU layout.
    """
    if not isinstance(state_dict, Mapping):
        raise ValueError(f"state dict: expected a mapping of torch names to arrays, got "
                         f"{type(state_dict).__name__}")
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
        arrays[name] = _as_float32(name, value)
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
    return nest_params(arrays)


def _as_float32(name: str, value) -> np.ndarray:
    """One state-dict entry as float32; ValueError naming it if it is not real numbers or holds
    a finite value float32 cannot represent (it would become inf)."""
    try:
        array = np.asarray(value)
        if array.dtype.kind == "c":
            raise ValueError(f"complex dtype {array.dtype}; the GRU's parameters are real")
        if array.dtype.kind not in "biuf":
            array = np.asarray(array, np.float64)
    except (TypeError, ValueError) as err:
        raise ValueError(f"state dict: {name} must hold real numbers: {err}") from None
    with np.errstate(over="ignore"):
        as32 = array.astype(np.float32)
    overflow = np.isfinite(array) & ~np.isfinite(as32)
    if overflow.any():
        worst = array[overflow].flat[0]
        raise ValueError(f"state dict: {name} holds {worst!r}, beyond float32's range "
                         f"(|x| <= {float(np.finfo(np.float32).max):.4g})")
    return as32


def _json_value(value):
    not_finite = isinstance(value, float) and not math.isfinite(value)
    return None if value is None or not_finite else value


def export_blog_files(run, directory: str, *, seed: Optional[int] = None,
                      seed_index: Optional[int] = None, overwrite: bool = False) -> list[str]:
    """Write one seed of a run as the seed blog's own files, readable by its notebooks.

    Files: ``all_weights.json`` (a list, one ``{torch name: nested list}`` per eval epoch),
    ``train_losses.json`` (one float per epoch, scaled units) and ``test_losses.json`` (one
    entry per epoch: the test loss at eval epochs, ``null`` elsewhere, original units).

    Args:
      run: a :class:`gru_jax.Run`.
      directory: created if missing; existing files are not overwritten unless ``overwrite``.
      seed: the seed VALUE (``export_blog_files(run, "blog", seed=37)``), as everywhere in
        gru_jax; or ``seed_index``: its position in ``run.seeds``. Exactly one of the two.
    """
    n_seeds = len(run.seeds)
    if (seed is None) == (seed_index is None):
        raise ValueError("export_blog_files: give exactly one of seed (a seed value of the run) "
                         "or seed_index (its position in run.seeds)")
    if getattr(run, "loss_every", 1) != 1:
        raise ValueError(f"export_blog_files: the blog's train_losses.json has every epoch, this "
                         f"run keeps the training loss every {run.loss_every} epochs (loss_every)")
    if seed is not None:
        seed_index = run.index_of(seed)
    elif not 0 <= seed_index < n_seeds:
        raise ValueError(f"seed_index {seed_index} out of range: the run has {n_seeds} seeds")
    names = ("all_weights.json", "train_losses.json", "test_losses.json")
    paths = [os.path.join(directory, n) for n in names]
    if not overwrite:
        existing = [p for p in paths if os.path.exists(p)]
        if existing:
            raise OptionRequiredError(f"refusing to overwrite {existing}; "
                                      "{option} to replace them", "overwrite")
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
        write_json(path, payload, indent=None)
    return paths


def load_blog_weights(path: str) -> list[dict[str, np.ndarray]]:
    """Read the seed's ``all_weights.json`` into a list of state dicts."""
    with open(path) as handle:
        entries = json.load(handle)
    return [{k: np.asarray(v, np.float32) for k, v in entry.items()} for entry in entries]


def load_weights(path: str, epoch=None, eval_epochs=None):
    """One network's params from a file: a state dict (``.json`` or ``.npz``, torch names), or
    the seed blog's ``all_weights.json`` (a list, one state dict per eval epoch).

    Args:
      path: the file. epoch: for ``all_weights.json``, an eval epoch or ``None``/"final" (the
        last entry). eval_epochs: the eval epochs the list holds (default the blog's 0, 49, ...).
    """
    if path.endswith(".npz"):
        with np.load(path, allow_pickle=False) as handle:
            return from_state_dict({k: handle[k] for k in handle.files})
    if not path.endswith(".json"):
        raise ValueError(f"--weights {path}: expected a .json or .npz state dict")
    with open(path) as handle:
        payload = json.load(handle)
    if not isinstance(payload, list):
        return from_state_dict(payload)
    eval_epochs = list(eval_epochs if eval_epochs is not None else Config().eval_epochs)
    if epoch in (None, "final"):
        return from_state_dict(payload[-1])
    if int(epoch) not in eval_epochs[:len(payload)]:
        raise ValueError(f"--epoch {epoch}: the blog's all_weights.json holds epochs "
                         f"0, 49, ..., {eval_epochs[len(payload) - 1]}")
    return from_state_dict(payload[eval_epochs.index(int(epoch))])
