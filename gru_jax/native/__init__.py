"""Native CPU kernels for the adding-problem GRU (input 2, output 1, hidden 1 to 16): one
optimizer step's loss and gradient, and the epoch shuffle (``kernels.cc``). Built on first use
with the machine's C++ compiler (``build.py``); the engine that calls them is
:mod:`gru_jax.engines.native`."""
from .build import load, unavailable_reason

__all__ = ["load", "unavailable_reason"]
