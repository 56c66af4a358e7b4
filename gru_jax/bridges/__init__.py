"""Bridges: a run's networks and numbers in other libraries' shapes.

=======================  =================================================================
module                   what it gives (and what it needs)
=======================  =================================================================
``torch_module``         :func:`to_torch`: a seed's network as a ``torch.nn.Module``
                         (``nn.GRU`` + ``nn.Linear``, the blog's ``AddingProblemGRU``);
                         needs the ``torch`` extra
``flax_cells``           params to and from ``flax.linen.GRUCell`` + ``Dense`` and
                         ``flax.nnx.GRUCell`` + ``Linear`` (Flax is a dependency)
``equinox_cell``         params to and from ``equinox.nn.GRUCell`` + ``Linear``; needs the
                         ``equinox`` extra
``xarray_run``           ``run.to_xarray()`` / :func:`~gru_jax.bridges.xarray_run.from_xarray`
                         and the hidden-state trajectories on a probe set (seed x sample x
                         time x unit) as netCDF or Parquet; needs the ``xarray`` extra
=======================  =================================================================

Each module imports its library at its top; this package imports none of them until one of
its modules is used (``gru_jax.bridges.equinox_cell``, or the attribute
``gru_jax.bridges.equinox_cell`` on first access), so a missing optional library only matters
to the bridge that needs it.
"""
from __future__ import annotations

import importlib

MODULES = ("torch_module", "flax_cells", "equinox_cell", "xarray_run")

__all__ = list(MODULES)


def __getattr__(name: str):
    """A bridge module, imported on first use."""
    if name not in MODULES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module = importlib.import_module(f".{name}", __name__)
    globals()[name] = module
    return module
