"""One network dissected: the walkthrough, gate terms, gate responses and (H = 1) dynamics.

Shared by the report (a representative seed of each strategy) and ``gru-jax dissect``.
"""
from __future__ import annotations

import os
from typing import Optional

import numpy as np

from ..analysis import dissect
from ..analysis.slow_points import dynamics, fixed_points, fixed_points_markdown
from ..blog import Z_FLAG0, Z_FLAG1
from ..files import write_text
from ..model import GATES, hidden_size
from ..plots import dissect as plots
from .markdown import Figures, table


def dissect_network(params, sequence, out_dir: str, high: float = 100.0, label: str = "",
                    figures: Optional[Figures] = None, prefix: str = "") -> str:
    """Walkthrough, gate terms, gate responses and dynamics of ONE network, any hidden size.

    Per-unit figures show the readout unit (the largest ``|readout weight|``; the only unit at
    H = 1). Dynamics: the exact 1-D map at H = 1; fixed points and their Jacobian eigenvalues
    (:func:`gru_jax.analysis.fixed_points`) at H > 1. Writes PNGs into ``out_dir`` and returns
    the Markdown (tables + captioned figures).
    """
    figures = figures or Figures(out_dir)
    walk = dissect.walkthrough(params, sequence, high)
    unit = int(np.argmax(np.abs(np.asarray(params["linear"]["weight"])[0])))
    seq_text = " ".join(f"[{v:g},{f:g}]" for v, f in walk.sequence)
    parts = [f"Input {seq_text} (original units): output **{walk.output:.4f}**, target "
             f"{walk.target:g}.\n", dissect.walkthrough_markdown(walk), ""]
    parts += _contributions(walk, unit, label, prefix, figures)
    parts.append(_gate_response(params, unit, label, prefix, figures))
    if hidden_size(params) == 1:
        parts += _one_unit_dynamics(params, high, label, prefix, figures)
    else:
        parts += _fixed_points(params, high, label)
    return "\n".join(parts)


def _unit_label(params, unit: int) -> str:
    return "" if hidden_size(params) == 1 else f" (unit {unit}, the readout unit)"


def _contributions(walk, unit: int, label: str, prefix: str, figures: Figures) -> list[str]:
    """The gate-term bars at the first step and at the first flag-0 and flag-1 steps."""
    parts = []
    which = "" if walk.h.shape[1] == 1 else f", unit {unit}"
    flag_steps = [int(np.argmax(walk.sequence[:, 1] == f)) for f in (0, 1)
                  if np.any(walk.sequence[:, 1] == f)]
    for t in sorted(set([0] + flag_steps)):
        contributions = dissect.step_contributions(walk, t, unit)
        acts = {g: float(walk.gates[g][t, unit]) for g in GATES}
        fig = plots.plot_contributions(contributions, acts, title=f"{label} step t={t}{which}, "
                                       f"input [{walk.sequence[t, 0]:g}, {walk.sequence[t, 1]:g}]")
        parts.append(figures.add(fig, f"{prefix}contributions_t{t}.png",
                                 f"{label}: cumulative contribution of each term to the three "
                                 f"gates' pre-activations at step t={t}{which} (input "
                                 f"[{walk.sequence[t, 0]:g}, {walk.sequence[t, 1]:g}], h_(t-1) = "
                                 f"{walk.h_prev[t, unit]:+.4f}); bars are the terms, the line "
                                 "their running sum, which ends at the pre-activation."))
    return parts


def _gate_response(params, unit: int, label: str, prefix: str, figures: Figures) -> str:
    resp = dissect.gate_response(params)
    panels = {}
    for gate in ("z", "r"):
        panels[plots.GATE_TITLES[gate]] = {
            f"flag {f}{'' if b else ', no bias'}": resp[(gate, f, b)][:, unit]
            for f in (0, 1) for b in (True, False)}
    fig = plots.plot_gate_response(resp["values"], panels, title=f"{label} first-step gates"
                                   f"{_unit_label(params, unit)}")
    return figures.add(fig, f"{prefix}gate_response.png",
                       f"{label}: update gate z and reset gate r{_unit_label(params, unit)} at "
                       "the first step (h = 0) against value / high, for flag 0 and 1, with the "
                       "biases (solid) and without them (dashed), as the blog's Figure 1. The "
                       f"blog's net has z in {list(Z_FLAG0)} for flag 0 and {list(Z_FLAG1)} for "
                       "flag 1.")


def _one_unit_dynamics(params, high: float, label: str, prefix: str,
                       figures: Figures) -> list[str]:
    dyn = dynamics(params, high=high)
    maps, gains = {}, {}
    for fi, flag in enumerate(dyn.flags):
        for vi, value in enumerate(dyn.values):
            if vi in (0, len(dyn.values) // 2, len(dyn.values) - 1):
                key = f"flag {flag:g}, value {value:g}"
                maps[key], gains[key] = dyn.h_next[fi, vi], dyn.gain[fi, vi]
    fixed = [(f"flag {p['flag']:g}, value {p['value']:g}", p["h"], p["gain"])
             for p in dyn.fixed_points if not p["continuum"]]
    fig = plots.plot_dynamics(dyn.h_grid, maps, gains, fixed, title=f"{label} dynamics")
    return [figures.add(fig, f"{prefix}dynamics.png",
                        f"{label}: the one-unit map h_t -> h_(t+1) (left) and its gain "
                        "dh_(t+1)/dh_t (right) for flag 0 and 1 at three input values; dots are "
                        "fixed points (filled = stable, |gain| < 1). A perfect accumulator has "
                        "gain 1 everywhere for flag 0."),
            "Fixed points of the map (all values of the dynamics grid):\n",
            fixed_points_markdown(dyn), ""]


def _fixed_points(params, high: float, label: str, values=(0, 50, 99)) -> list[str]:
    """Fixed points of the step at constant inputs (value, flag), any hidden size: states,
    leading Jacobian eigenvalue, kind."""
    rows = []
    for flag in (0, 1):
        for value in values:
            fp = fixed_points(params, np.array([value / high, flag], np.float32))
            for k in np.flatnonzero(fp.valid):
                lead = fp.eigenvalues[k, 0]
                rows.append((f"({value:g}, {flag})", "(" + ", ".join(
                    f"{v:+.4f}" for v in fp.states[k]) + ")", f"{abs(lead):.4f}",
                    f"{lead.real:+.4f}{lead.imag:+.4f}i" if abs(lead.imag) > 1e-6 else
                    f"{lead.real:+.4f}", str(fp.kind[k])))
    return [f"Fixed points of h_t -> h_(t+1) at constant inputs (value, flag) ({label}; found "
            "from many starts by `gru_jax.analysis.fixed_points`; eigenvalues of dh_(t+1)/dh_t, "
            "largest modulus first; *marginal*: |lambda| within 1e-3 of 1, a line attractor "
            "that can hold a sum):\n",
            table(("input (value, flag)", "state h", "|lambda_1|", "lambda_1", "kind"), rows)]


def write_dissection(params, sequence, out_dir: str, high: float = 100.0,
                     label: str = "") -> str:
    """Write ``out_dir/dissect.md`` and its PNGs for ONE network; returns the path of the
    Markdown file."""
    os.makedirs(out_dir, exist_ok=True)
    markdown = dissect_network(params, sequence, out_dir, high, label=label)
    return write_text(os.path.join(out_dir, "dissect.md"), f"# {label}\n\n{markdown}\n")
