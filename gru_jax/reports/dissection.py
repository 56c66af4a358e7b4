"""One network dissected: the walkthrough, gate terms, gate responses and (H = 1) dynamics.

Shared by the report (a representative seed of each strategy) and ``gru-jax dissect``.
"""
from __future__ import annotations

import os
from typing import Optional

import numpy as np

from ..analysis import dissect, dynamics
from ..blog import Z_FLAG0, Z_FLAG1
from ..files import write_text
from ..model import GATES, hidden_size
from ..plots import dissect as plots
from .markdown import Figures


def dissect_network(params, sequence, out_dir: str, high: float = 100.0, label: str = "",
                    figures: Optional[Figures] = None, prefix: str = "") -> str:
    """Walkthrough, gate terms, gate responses and (H = 1) dynamics of ONE network.

    Writes PNGs into ``out_dir`` and returns the Markdown (tables + captioned figures).
    """
    figures = figures or Figures(out_dir)
    walk = dissect.walkthrough(params, sequence, high)
    seq_text = " ".join(f"[{v:g},{f:g}]" for v, f in walk.sequence)
    parts = [f"Input {seq_text} (original units): output **{walk.output:.4f}**, target "
             f"{walk.target:g}.\n", dissect.walkthrough_markdown(walk), ""]
    flag_steps = [int(np.argmax(walk.sequence[:, 1] == f)) for f in (0, 1)
                  if np.any(walk.sequence[:, 1] == f)]
    for t in sorted(set([0] + flag_steps)):
        contributions = dissect.step_contributions(walk, t)
        acts = {g: float(walk.gates[g][t, 0]) for g in GATES}
        fig = plots.plot_contributions(contributions, acts, title=f"{label} step t={t}, input "
                                       f"[{walk.sequence[t, 0]:g}, {walk.sequence[t, 1]:g}]")
        parts.append(figures.add(fig, f"{prefix}contributions_t{t}.png",
                                 f"{label}: cumulative contribution of each term to the three "
                                 f"gates' pre-activations at step t={t} (input "
                                 f"[{walk.sequence[t, 0]:g}, {walk.sequence[t, 1]:g}], h_(t-1) = "
                                 f"{walk.h_prev[t, 0]:+.4f}); bars are the terms, the line their "
                                 f"running sum, which ends at the pre-activation."))
    resp = dissect.gate_response(params)
    panels = {}
    for gate in ("z", "r"):
        panels[plots.GATE_TITLES[gate]] = {
            f"flag {f}{'' if b else ', no bias'}": resp[(gate, f, b)][:, 0]
            for f in (0, 1) for b in (True, False)}
    fig = plots.plot_gate_response(resp["values"], panels, title=f"{label} first-step gates")
    parts.append(figures.add(fig, f"{prefix}gate_response.png",
                             f"{label}: update gate z and reset gate r at the first step (h = 0) "
                             "against value / high, for flag 0 and 1, with the biases (solid) and "
                             "without them (dashed), as the blog's Figure 1. The blog's net has z in "
                             f"{list(Z_FLAG0)} for flag 0 and {list(Z_FLAG1)} for flag 1."))
    if hidden_size(params) == 1:
        dyn = dynamics.dynamics(params, high=high)
        maps, gains = {}, {}
        for fi, flag in enumerate(dyn.flags):
            for vi, value in enumerate(dyn.values):
                if vi in (0, len(dyn.values) // 2, len(dyn.values) - 1):
                    key = f"flag {flag:g}, value {value:g}"
                    maps[key], gains[key] = dyn.h_next[fi, vi], dyn.gain[fi, vi]
        fixed = [(f"flag {p['flag']:g}, value {p['value']:g}", p["h"], p["gain"])
                 for p in dyn.fixed_points if not p["continuum"]]
        fig = plots.plot_dynamics(dyn.h_grid, maps, gains, fixed, title=f"{label} dynamics")
        parts.append(figures.add(fig, f"{prefix}dynamics.png",
                                 f"{label}: the one-unit map h_t -> h_(t+1) (left) and its gain "
                                 "dh_(t+1)/dh_t (right) for flag 0 and 1 at three input values; "
                                 "dots are fixed points (filled = stable, |gain| < 1). A perfect "
                                 "accumulator has gain 1 everywhere for flag 0."))
        parts += ["Fixed points of the map (all values of the dynamics grid):\n",
                  dynamics.fixed_points_markdown(dyn), ""]
    else:
        parts.append(f"(Dynamics, fixed points and gain are defined for one hidden unit; "
                     f"this network has H={hidden_size(params)}.)\n")
    return "\n".join(parts)


def write_dissection(params, sequence, out_dir: str, high: float = 100.0,
                     label: str = "") -> str:
    """Write ``out_dir/dissect.md`` and its PNGs for ONE network; returns the path of the
    Markdown file."""
    os.makedirs(out_dir, exist_ok=True)
    markdown = dissect_network(params, sequence, out_dir, high, label=label)
    return write_text(os.path.join(out_dir, "dissect.md"), f"# {label}\n\n{markdown}\n")
