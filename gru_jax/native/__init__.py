"""Native CPU kernels for the blog's model shape (hidden 1): one optimizer step's loss and
gradient, and the epoch shuffle. Built on first use with the machine's C++ compiler; where
that fails the trainer uses the XLA path. See ``build.py`` and ``ops.py``."""
from .build import load, unavailable_reason
from .ops import loss_and_grad, next_order, pack_rows, supports

__all__ = ["load", "unavailable_reason", "loss_and_grad", "next_order", "pack_rows", "supports"]
