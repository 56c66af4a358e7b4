"""A run's network as PyTorch modules: :func:`to_torch` (needs the ``torch`` extra).

The module is the blog's ``AddingProblemGRU``: ``gru = nn.GRU(2, H, batch_first=True)`` and
``linear = nn.Linear(H, 1)`` reading the last hidden state. Its ``state_dict`` names are
gru_jax's (:data:`gru_jax.interop.STATE_DICT_KEYS`), so ``load_state_dict`` and
:func:`gru_jax.from_state_dict` move weights both ways.
"""
from __future__ import annotations

from typing import Optional

import numpy as np
import torch
from torch import nn

from ..interop import to_state_dict


class AddingProblemGRU(nn.Module):
    """``nn.GRU`` + ``nn.Linear`` on the last hidden state (the blog's model).

    ``forward(x)``: ``x (B, T, 2)`` float32, value already divided by ``high``; returns
    ``(y, hs)``: ``y (B, 1)`` in scaled units and the hidden states ``hs (B, T, H)``, like
    :func:`gru_jax.forward`.
    """

    def __init__(self, hidden_size: int = 1, input_size: int = 2, output_size: int = 1):
        super().__init__()
        self.gru = nn.GRU(input_size, hidden_size, batch_first=True)
        self.linear = nn.Linear(hidden_size, output_size)

    def forward(self, x: torch.Tensor):
        hs, _ = self.gru(x)
        return self.linear(hs[:, -1]), hs


def module_from_params(params) -> AddingProblemGRU:
    """One model's params (gru_jax's layout, no seed axis) as an :class:`AddingProblemGRU`,
    float32, in eval mode."""
    state = {k: torch.from_numpy(np.array(v, np.float32)) for k, v in to_state_dict(params).items()}
    hidden, inputs = state["gru.weight_ih_l0"].shape[0] // 3, state["gru.weight_ih_l0"].shape[1]
    if state["gru.weight_ih_l0"].ndim != 2:
        raise ValueError(f"to_torch: one model's params, got gru.weight_ih_l0 of shape "
                         f"{tuple(state['gru.weight_ih_l0'].shape)} (select a seed first)")
    module = AddingProblemGRU(hidden, inputs, state["linear.weight"].shape[0])
    module.load_state_dict(state)
    return module.eval()


def to_torch(run, seed: Optional[int] = None, epoch=None) -> AddingProblemGRU:
    """A seed's network of ``run`` as a ready ``torch.nn.Module`` (``.gru``: ``nn.GRU``,
    ``.linear``: ``nn.Linear``), its weights the run's.

    Args:
      run: a :class:`gru_jax.Run`, or one model's params (then ``seed`` and ``epoch`` are
        not used).
      seed: a seed VALUE of the run (default: its first seed).
      epoch: an eval epoch, ``"init"`` or ``"final"``/None (:meth:`gru_jax.Run.network`).

    Returns:
      an :class:`AddingProblemGRU` in eval mode; ``module(x)`` gives ``(y, hs)`` as
      ``gj.forward(params, x)`` does, to float32 rounding.
    """
    params = run.network(seed, epoch)[0] if hasattr(run, "network") else run
    return module_from_params(params)
