"""gru_jax: the adding-problem GRU of the blog series, trained as seed ensembles in JAX.

Public API::

    cfg = Config()                          # the blog's protocol
    X, Y = seed_dataset(cfg, seed=37)       # == the seed's numpy generator
    params = init_params(cfg, key)          # PyTorch layout
    y, hs = forward(params, x)              # x (B, T, 2) value / high; y (B, 1); hs (B, T, H)
    sd = to_state_dict(params); params = from_state_dict(sd)
    run = train(cfg, seeds=range(256))      # -> Run
    sw = sweep(cfg, {"learning_rate": [1e-4, 1e-3]}, seeds=range(64), out="runs/sw")  # Sweep
    run.save(path); Run.load(path)
    module = to_torch(run, seed=37)         # torch.nn.Module: .gru (nn.GRU), .linear

Importing the package is cheap: it loads nothing but this file and :mod:`gru_jax.version`.
Each public name is imported from its module on first use (PEP 562's module ``__getattr__``),
and so are the subpackages (``gru_jax.analysis``, ``gru_jax.reports``, ...): ``gj.train``
loads JAX and the trainer, ``gj.sweep`` the reports (matplotlib, scikit-learn) as well, and
``gru-jax --version`` none of them.
"""
from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING

from .version import __version__  # the one version source

#: Public name -> the module that defines it.
_EXPORTS = {
    "Config": "config", "seed_dataset": "data", "init_params": "model", "forward": "model",
    "to_state_dict": "interop", "from_state_dict": "interop",
    "export_blog_files": "interop", "load_blog_weights": "interop",
    "train": "train", "sweep": "sweeps", "Sweep": "sweeps", "Run": "run", "RunError": "run",
    "to_torch": "bridges.torch_module",
}
#: Submodules reachable as attributes (``gj.analysis.census(run)``), imported on first use.
_SUBMODULES = (
    "analysis", "blog", "bridges", "checkpoint", "cli", "compilation_cache", "config", "data",
    "distributed", "engines", "export", "files", "grid", "handcrafted", "inputs", "interop",
    "lock", "model", "native", "optim", "options", "plots", "prng", "program", "progress",
    "provenance", "reports", "run", "rundir", "sharding", "stability", "sweeps", "version",
)

__all__ = ["__version__", "blog", "Config", "seed_dataset", "init_params", "forward",
           "to_state_dict", "from_state_dict", "export_blog_files", "load_blog_weights",
           "train", "sweep", "Sweep", "Run", "RunError", "to_torch"]

if TYPE_CHECKING:  # what the names are, for type checkers and editors; nothing runs here
    from . import blog
    from .bridges.torch_module import to_torch
    from .config import Config
    from .data import seed_dataset
    from .interop import export_blog_files, from_state_dict, load_blog_weights, to_state_dict
    from .model import forward, init_params
    from .run import Run, RunError
    from .sweeps import Sweep, sweep
    from .train import train


def __getattr__(name: str):
    """A public name or a submodule, imported on first use and then kept in the package."""
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    elif name in _SUBMODULES:
        value = importlib.import_module(f".{name}", __name__)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS) | set(_SUBMODULES))


class _Package(types.ModuleType):
    """The package's class, for one name: ``gru_jax.train`` is the function, also after its
    module ``gru_jax.train`` has been imported (Python's import system then sets the package
    attribute of that name to the module; this property keeps answering the function, as the
    eager ``from .train import train`` of earlier releases did)."""

    @property
    def train(self):
        return importlib.import_module(".train", __name__).train

    @train.setter
    def train(self, module) -> None:  # the import system's setattr(package, "train", module)
        pass


sys.modules[__name__].__class__ = _Package
