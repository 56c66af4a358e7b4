"""Engines: how a run's setup (datasets, first orders), a step's loss and gradient and an
epoch's order are computed, and what memory that takes.

``resolve_engine(cfg, name) -> Engine`` chooses, once; everything else (the program, the
setup in :mod:`gru_jax.inputs`, the memory estimate in :mod:`gru_jax.train`) takes the Engine
it is given and never asks which backend it runs on or whether native code is loaded.
``"xla"``: :mod:`gru_jax.engines.xla` (every backend, every model size; no native code).
``"native"``: :mod:`gru_jax.engines.native` (C++ kernels, CPUs, input 2, output 1, hidden 1 to
16). Both give the same datasets and orders bit for bit and the same losses and gradients to
float32 rounding.
"""
from __future__ import annotations

import warnings

import jax

from .. import native as native_library
from ..config import ENGINES, ProgramConfig
from . import native, xla
from .base import Engine

__all__ = ["ENGINES", "Engine", "native_problems", "resolve_engine"]


def native_problems(cfg, devices) -> list[str]:
    """Why the native engine cannot train ``cfg`` on ``devices`` (empty: it can)."""
    problems = []
    if not native.supports(cfg):
        problems.append(f"the native kernels need input 2, output 1 and hidden "
                        f"{native.HIDDEN_SIZES[0]}..{native.HIDDEN_SIZES[-1]} (the Config has "
                        f"hidden {cfg.hidden_size}, input {cfg.input_size}, output "
                        f"{cfg.output_size})")
    if any(d.platform != "cpu" for d in devices):
        problems.append(f"the native kernels run on CPUs only (devices: "
                        f"{sorted({d.platform for d in devices})})")
    if not problems and native_library.load() is None:
        problems.append(f"the native kernels are unavailable: "
                        f"{native_library.unavailable_reason()}")
    return problems


def resolve_engine(cfg, name: str = "auto", mesh=None) -> Engine:
    """The Engine that trains ``cfg``: ``"xla"``, ``"native"`` or ``"auto"``.

    ``"auto"`` picks native when every device is a CPU, the model has input 2, output 1 and a
    hidden size in :data:`gru_jax.engines.native.HIDDEN_SIZES` (1 to 16), and the kernels build
    (a C++ compiler is found; ``GRU_JAX_NATIVE=0`` turns them off), and XLA otherwise, with a
    warning when only the build failed.
    ``"native"`` raises ``ValueError`` naming each condition that fails.

    Args:
      cfg: the :class:`gru_jax.Config` (or its :class:`gru_jax.config.ProgramConfig`: Configs
        that differ only in per-member fields get the same Engine).
      name: ``"auto"``, ``"xla"`` or ``"native"``.
      mesh: the devices that will train (default: the local devices).
    """
    cfg = cfg if isinstance(cfg, ProgramConfig) else ProgramConfig(cfg)
    if name not in ENGINES:
        raise ValueError(f"train: engine must be one of {ENGINES}, got {name!r}")
    if name == "xla":
        return xla.make(cfg)
    devices = list(mesh.devices.flat) if mesh is not None else jax.local_devices()
    problems = native_problems(cfg, devices)
    if name == "native" and problems:
        raise ValueError("train: engine='native' but " + "; ".join(problems))
    if problems:
        if "unavailable" in problems[-1] and "GRU_JAX_NATIVE=0" not in problems[-1]:
            warnings.warn(f"gru_jax: {problems[-1]}; training with the XLA engine (4-5x slower "
                          "on CPUs, same results to float32 rounding)", stacklevel=3)
        return xla.make(cfg)
    return native.make(cfg)
