"""Dissection of ONE network: the blog's part-2 walkthrough, gate responses and the per-step gain.

Works on any params in the PyTorch layout (a run's seed at an eval epoch, a hand-crafted set, an
imported state dict); leaves must have no seed axis. The GRU math is not repeated here: states,
gates and maps come from :func:`gru_jax.model.gru_cell` / :func:`gate_preactivations`; this module
only splits each pre-activation into its named terms (and checks that they add up).

Units: a sequence is given in ORIGINAL units, rows ``(value, flag)`` with integer values in
``[0, high)``; the network sees ``value / high``. Outputs are reported in both units
(``output_scaled`` is what the readout produces, ``output = output_scaled * high``).

Quantities that only make sense for one hidden unit (the per-step gain ``dh_{t+1}/dh_t``; the
scalar map ``h_t -> h_{t+1}`` and its fixed points live in
:func:`gru_jax.analysis.slow_points.dynamics`) raise :class:`ValueError` for ``H > 1``; the
walkthrough and gate responses work for any ``H`` (one row per unit).
"""
from __future__ import annotations

import dataclasses
from typing import Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from ..data import scale_inputs
from ..model import (GATES, forward, gate_preactivations, gru_cell,
                     hidden_size, param_names)

#: Terms of each gate's pre-activation, in the order they are summed (they add up exactly to it).
#: For the candidate the reset gate multiplies the hidden part: ``r * (W_hn h + b_hn)``.
TERM_NAMES = {
    "r": ("value x W_ir[value]", "flag x W_ir[flag]", "b_ir", "W_hr h", "b_hr"),
    "z": ("value x W_iz[value]", "flag x W_iz[flag]", "b_iz", "W_hz h", "b_hz"),
    "n": ("value x W_in[value]", "flag x W_in[flag]", "b_in", "r x W_hn h", "r x b_hn"),
}


# ---- parameters as named scalars ------------------------------------------------------------
def param_index(name: str, hidden: int = 1) -> int:
    """Position of ``name`` in :func:`param_names`; ValueError listing the names if unknown."""
    names = param_names(hidden)
    if name not in names:
        raise ValueError(f"unknown parameter {name!r}; known: {list(names)}")
    return names.index(name)


def one_network(params, where: str):
    """Check there is no leading (seed) axis; return params as float32 jnp arrays."""
    w_hh = np.shape(params["gru"]["weight_hh_l0"])
    if len(w_hh) != 2:
        raise ValueError(f"{where}: expects ONE network (weight_hh_l0 of shape (3H, H)), got "
                         f"shape {w_hh}; select a seed/epoch first")
    return jax.tree_util.tree_map(lambda a: jnp.asarray(a, jnp.float32), params)


def require_one_unit(params, what: str) -> None:
    hidden = hidden_size(params)
    if hidden != 1:
        raise ValueError(f"{what} is defined for ONE hidden unit (a scalar map h -> h'); these "
                         f"params have H={hidden}")


# ---- sequences -------------------------------------------------------------------------------
def parse_sequence(text: str) -> np.ndarray:
    """``"12,0 37,1 12,0 21,1"`` -> ``(T, 2)`` float array of (value, flag) in original units."""
    rows = []
    for token in text.replace(";", " ").split():
        parts = token.split(",")
        if len(parts) != 2:
            raise ValueError(f"sequence element {token!r} is not 'value,flag' "
                             f"(e.g. \"12,0 37,1 12,0 21,1\")")
        try:
            value, flag = float(parts[0]), float(parts[1])
        except ValueError as err:
            raise ValueError(f"sequence element {token!r}: {err}") from err
        rows.append((value, flag))
    if not rows:
        raise ValueError("empty sequence: give at least one 'value,flag' element")
    return _check_rows(np.asarray(rows, np.float64), text.replace(";", " ").split())


def _check_rows(seq: np.ndarray, tokens=None) -> np.ndarray:
    """Rows of (value, flag): finite values, flags exactly 0 or 1 (the target sums the values
    flagged 1); ValueError naming the first element that is not."""
    bad = ~np.isfinite(seq[:, 0]) | ((seq[:, 1] != 0) & (seq[:, 1] != 1))
    if bad.any():
        t = int(np.flatnonzero(bad)[0])
        shown = tokens[t] if tokens else f"{seq[t, 0]:g},{seq[t, 1]:g}"
        raise ValueError(f"sequence element {t} ({shown!r}): the value must be finite and the "
                         f"flag 0 or 1")
    return seq


def _as_sequence(sequence) -> np.ndarray:
    seq = parse_sequence(sequence) if isinstance(sequence, str) else np.asarray(sequence, float)
    if seq.ndim != 2 or seq.shape[-1] != 2 or seq.shape[0] < 1:
        raise ValueError(f"sequence must be (T, 2) rows of (value, flag), got shape {seq.shape}")
    return _check_rows(seq)


def outputs(params, sequences, high: float = 100.0) -> np.ndarray:
    """Network outputs in ORIGINAL units for ``(B, T, 2)`` original-unit sequences -> ``(B,)``."""
    params = one_network(params, "outputs")
    y, _ = _FORWARD(params, jnp.asarray(scale_inputs(sequences, high)))
    return np.asarray(y[:, 0], np.float64) * high


# ---- the walkthrough -------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Walkthrough:
    """One sequence through one network, step by step (T steps, H units).

    sequence: ``(T, 2)`` inputs in original units (value, flag). high: the value scale.
    terms: gate -> ``(T, 5, H)`` pre-activation terms named by :data:`TERM_NAMES` (sum = pre).
    hidden_term: gate -> ``(T, H)``: ``W_hg h_{t-1}`` (without the reset factor for n).
    bias_hh: gate -> ``(H,)``: ``b_hg`` (without the reset factor for n).
    preactivation: gate -> ``(T, H)``. r, z, n: ``(T, H)`` gate values.
    h_prev, h: ``(T, H)`` hidden state before / after each step (``h_prev[0] = 0``).
    gain: ``(T,)`` ``dh_t / dh_{t-1}`` (H = 1), else None.
    output_scaled: readout of ``h[-1]`` (scaled units); output: the same x high (original units).
    target: sum of the flagged values (original units).
    """

    sequence: np.ndarray
    high: float
    terms: dict
    hidden_term: dict
    bias_hh: dict
    preactivation: dict
    r: np.ndarray
    z: np.ndarray
    n: np.ndarray
    h_prev: np.ndarray
    h: np.ndarray
    gain: Optional[np.ndarray]
    output_scaled: float
    output: float
    target: float

    @property
    def gates(self) -> dict:
        return {"r": self.r, "z": self.z, "n": self.n}


def _gate_rows(a, hidden: int, gate: str):
    g = GATES.index(gate)
    return np.asarray(a)[g * hidden:(g + 1) * hidden]


_STEP = jax.jit(gru_cell)
_FORWARD = jax.jit(forward)
#: d h_{t+1} / d h_t of a one-unit cell, by autodiff of the model's own cell.
_STEP_GAIN = jax.jit(jax.grad(lambda gru, h, x: gru_cell(gru, h, x)[0][0], argnums=1))


def walkthrough(params, sequence, high: float = 100.0) -> Walkthrough:
    """Run ``sequence`` through ``params`` and split every gate's pre-activation into its terms.

    r = s(value W_ir[value] + flag W_ir[flag] + b_ir + W_hr h + b_hr), z likewise;
    n = tanh(value W_in[value] + flag W_in[flag] + b_in + r (W_hn h + b_hn));
    h' = (1 - z) n + z h; output = w_out h_T + b_out (x high in original units).

    Args:
      params: one network (PyTorch layout, no seed axis).
      sequence: ``(T, 2)`` original-unit rows (value, flag), or a string like "12,0 37,1".
      high: the value scale (Config.high).

    Returns:
      a :class:`Walkthrough`. States and gates come from :func:`gru_jax.model.gru_cell`; the
      terms are checked to add up to :func:`gru_jax.model.gate_preactivations`.
    """
    seq = _as_sequence(sequence)
    params = one_network(params, "walkthrough")
    gru = params["gru"]
    hidden = hidden_size(params)
    x = scale_inputs(seq, high)
    w_ih, w_hh = np.asarray(gru["weight_ih_l0"]), np.asarray(gru["weight_hh_l0"])
    b_ih, b_hh = np.asarray(gru["bias_ih_l0"]), np.asarray(gru["bias_hh_l0"])

    step, gain_fn = _STEP, (_STEP_GAIN if hidden == 1 else None)
    h = jnp.zeros((hidden,), jnp.float32)
    rows = {key: [] for key in ("h_prev", "h", "r", "z", "n", "gain")}
    terms = {g: [] for g in GATES}
    hidden_term = {g: [] for g in GATES}
    pre = {g: [] for g in GATES}
    for t in range(seq.shape[0]):
        h_next, (r, z, n) = step(gru, h, jnp.asarray(x[t]))
        gi, gh = gate_preactivations(gru, h, jnp.asarray(x[t]))
        h_np, r_np = np.asarray(h), np.asarray(r)
        for g in GATES:
            w = _gate_rows(w_ih, hidden, g)
            wh_h = _gate_rows(w_hh, hidden, g) @ h_np
            bi, bh = _gate_rows(b_ih, hidden, g), _gate_rows(b_hh, hidden, g)
            scale = r_np if g == "n" else np.ones_like(r_np)
            parts = np.stack([x[t, 0] * w[:, 0], x[t, 1] * w[:, 1], bi, scale * wh_h,
                              scale * bh])
            total = np.asarray(gi[GATES.index(g)] + (r if g == "n" else 1.0) * gh[GATES.index(g)])
            if not np.allclose(parts.sum(0), total, rtol=1e-5, atol=1e-5):
                raise AssertionError(f"walkthrough: the terms of gate {g} at step {t} do not add "
                                     f"up ({parts.sum(0)} vs {total})")
            terms[g].append(parts)
            hidden_term[g].append(wh_h)
            pre[g].append(total)
        rows["h_prev"].append(h_np)
        rows["h"].append(np.asarray(h_next))
        rows["r"].append(r_np)
        rows["z"].append(np.asarray(z))
        rows["n"].append(np.asarray(n))
        if gain_fn is not None:
            rows["gain"].append(float(gain_fn(gru, h, jnp.asarray(x[t]))[0]))
        h = h_next
    linear = params["linear"]
    out_scaled = float(np.asarray(linear["weight"])[0] @ np.asarray(h)
                       + np.asarray(linear["bias"])[0])
    stack = lambda v: np.asarray(np.stack(v), np.float64)
    return Walkthrough(
        sequence=seq, high=float(high),
        terms={g: stack(terms[g]) for g in GATES},
        hidden_term={g: stack(hidden_term[g]) for g in GATES},
        bias_hh={g: np.asarray(_gate_rows(b_hh, hidden, g), np.float64) for g in GATES},
        preactivation={g: stack(pre[g]) for g in GATES},
        r=stack(rows["r"]), z=stack(rows["z"]), n=stack(rows["n"]),
        h_prev=stack(rows["h_prev"]), h=stack(rows["h"]),
        gain=np.asarray(rows["gain"]) if gain_fn is not None else None,
        output_scaled=out_scaled, output=out_scaled * float(high),
        target=float(np.sum(seq[:, 0] * (seq[:, 1] != 0))))


def fmt_value(v: float, digits: int = 4) -> str:
    return f"{v:+.{digits}f}"


def walkthrough_markdown(walk: Walkthrough, digits: int = 4) -> str:
    """Two Markdown tables and the output line.

    Table 1, one row per (step, gate, unit): the pre-activation's terms, the pre-activation and
    the gate. For r and z: value x W_i[value], flag x W_i[flag], b_i, W_h h, b_h. For the
    candidate n: value x W_in[value], flag x W_in[flag], b_in, W_hn h, b_hn and r x (W_hn h + b_hn)
    (only that product enters n). Table 2, one row per step: r, z, n, h_{t-1}, h_t and the gain
    dh_t/dh_{t-1} (H = 1).
    """
    hidden = walk.h.shape[1]
    unit = (lambda u: "") if hidden == 1 else (lambda u: f"[{u}]")
    lines = ["| t | input (value, flag) | gate | value x W_i[value] | flag x W_i[flag] | b_i | "
             "W_h h | b_h | r x (W_hn h + b_hn) | pre-activation | gate value |",
             "|---:|:---:|:---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for t in range(walk.h.shape[0]):
        value, flag = walk.sequence[t]
        inp = f"({value:g}, {flag:g})"
        for g in GATES:
            act = walk.gates[g]
            for u in range(hidden):
                tv = walk.terms[g][t, :, u]
                raw_hidden = walk.hidden_term[g][t, u]
                b_h = walk.bias_hh[g][u]
                reset = fmt_value(tv[3] + tv[4], digits) if g == "n" else "-"
                lines.append(
                    f"| {t} | {inp} | {g}{unit(u)} | {fmt_value(tv[0], digits)} | "
                    f"{fmt_value(tv[1], digits)} | {fmt_value(tv[2], digits)} | "
                    f"{fmt_value(raw_hidden, digits)} | {fmt_value(b_h, digits)} | "
                    f"{reset} | {fmt_value(walk.preactivation[g][t, u], digits)} | "
                    f"{act[t, u]:.{digits}f} |")
    lines += ["", "| t | input (value, flag) | r | z | n | h_{t-1} | h_t = (1-z) n + z h_{t-1} | "
              "gain dh_t/dh_{t-1} |", "|---:|:---:|---:|---:|---:|---:|---:|---:|"]
    for t in range(walk.h.shape[0]):
        value, flag = walk.sequence[t]
        join = lambda a: ", ".join(f"{v:.{digits}f}" for v in a)
        gain = f"{walk.gain[t]:.{digits}f}" if walk.gain is not None else "-"
        lines.append(f"| {t} | ({value:g}, {flag:g}) | {join(walk.r[t])} | {join(walk.z[t])} | "
                     f"{join(walk.n[t])} | {join(walk.h_prev[t])} | {join(walk.h[t])} | {gain} |")
    lines += ["", f"output = w_out h_T + b_out = {walk.output_scaled:.6f} (scaled) x {walk.high:g} "
              f"= **{walk.output:.4f}** (original units); target = {walk.target:g}; "
              f"error = {walk.output - walk.target:+.4f}"]
    return "\n".join(lines)


def step_contributions(walk: Walkthrough, step: int, unit: int = 0) -> dict:
    """The terms of each gate at one step, for the cumulative bar chart.

    Returns ``{gate: (term names, (5,) values)}``; each gate's values sum to its pre-activation.
    """
    if not 0 <= step < walk.h.shape[0]:
        raise ValueError(f"step {step} out of range: the sequence has {walk.h.shape[0]} steps")
    return {g: (TERM_NAMES[g], walk.terms[g][step, :, unit]) for g in GATES}


# ---- gate response curves (the blog's Figure 1) ----------------------------------------------
def gate_curves(gru, values, flag, h):
    """Gate values of the first-step map as a function of the scaled value (jax; vmappable).

    Args:
      gru: the "gru" sub-dict of one network. values: ``(V,)`` scaled values (value / high).
      flag: scalar. h: ``(H,)`` the previous hidden state (0 at the first step).

    Returns:
      ``(with_bias, without_bias)``, each ``(3, V, H)``: rows r, z, n of the activations; the
      "without bias" version removes both biases of the gate (for n: b_in and r x b_hn).
    """
    hidden = h.shape[-1]

    def one(v):
        x = jnp.stack([v, jnp.asarray(flag, v.dtype)])
        gi, gh = gate_preactivations(gru, h, x)
        b_i = gru["bias_ih_l0"].reshape(3, hidden)
        b_h = gru["bias_hh_l0"].reshape(3, hidden)
        r = jax.nn.sigmoid(gi[0] + gh[0])
        r_nb = jax.nn.sigmoid(gi[0] + gh[0] - b_i[0] - b_h[0])
        z = jax.nn.sigmoid(gi[1] + gh[1])
        z_nb = jax.nn.sigmoid(gi[1] + gh[1] - b_i[1] - b_h[1])
        n = jnp.tanh(gi[2] + r * gh[2])
        n_nb = jnp.tanh(gi[2] - b_i[2] + r_nb * (gh[2] - b_h[2]))
        return jnp.stack([r, z, n]), jnp.stack([r_nb, z_nb, n_nb])

    with_bias, without = jax.vmap(one)(jnp.asarray(values, jnp.float32))
    return jnp.moveaxis(with_bias, 0, 1), jnp.moveaxis(without, 0, 1)


_GATE_CURVES = jax.jit(gate_curves)


def gate_response(params, values: Optional[Sequence[float]] = None, h: float = 0.0) -> dict:
    """r, z and n over the scaled value range for flag 0 and 1, with and without bias.

    Args:
      params: one network. values: scaled values (default 101 points in [0, 1]).
      h: the previous hidden state, broadcast to all units (0: the first step, as the blog).

    Returns:
      ``{"values": (V,), (gate, flag, bias): (V, H)}`` with gate in "r", "z", "n", flag 0/1,
      bias True/False.
    """
    params = one_network(params, "gate_response")
    values = np.linspace(0.0, 1.0, 101) if values is None else np.asarray(values, float)
    hidden = hidden_size(params)
    h_vec = jnp.full((hidden,), h, jnp.float32)
    out: dict = {"values": values}
    for flag in (0, 1):
        with_bias, without = _GATE_CURVES(params["gru"], jnp.asarray(values, jnp.float32),
                                          jnp.float32(flag), h_vec)
        for gi, gate in enumerate(GATES):
            out[(gate, flag, True)] = np.asarray(with_bias[gi], np.float64)
            out[(gate, flag, False)] = np.asarray(without[gi], np.float64)
    return out
