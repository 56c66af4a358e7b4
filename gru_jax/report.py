"""The Markdown report of a run, and the ``report`` / ``dissect`` CLI subcommands.

``write_report(run_dir)`` writes ``RUN_DIR/report/report.md`` with its PNGs beside it:

1. the run's Config (differences from the blog's protocol marked) and a summary;
2. the ensemble: loss bands, final losses, plateau exits, the blog's claims tested per seed,
   parameter fans in canonical coordinates;
3. the comparison with the hand-crafted accumulator (``gru_jax.compare``) and the strategy
   census (``gru_jax.analysis.census``) when those modules are available;
4. a dissection of a representative seed of each strategy: losses and events, weights over
   epochs, the blog's walkthrough at chosen epochs, gate terms, gate responses, dynamics.

Everything is vectorised over seeds; 1024 seeds x 62 snapshots take well under a minute.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from typing import Optional, Sequence

import numpy as np

from .analysis import dissect, ensemble, events
from .config import Config
from .interop import BLOG_SEED37_STATE_DICT, from_state_dict
from .run import Run

#: The epochs the blog's part 3 showed the walkthrough at.
BLOG_EPOCHS = (0, 735, 1519, 2989)
#: The blog's published final weights (seed 37; BLOG_FACTS.md), as a state dict.
BLOG_STATE_DICT = BLOG_SEED37_STATE_DICT
DPI = 100


class _Figures:
    """Saves figures into the report directory, numbers them and writes their captions."""

    def __init__(self, directory: str):
        self.directory = directory
        self.count = 0

    def add(self, fig, name: str, caption: str) -> str:
        import matplotlib.pyplot as plt

        self.count += 1
        path = os.path.join(self.directory, name)
        fig.savefig(path, dpi=DPI)
        plt.close(fig)
        alt = caption.replace("[", "(").replace("]", ")")
        return f"![{alt}]({name})\n\n*Figure {self.count}. {caption}*\n"


def _fmt(value, digits: int = 4) -> str:
    if value is None:
        return "-"
    if isinstance(value, (float, np.floating)):
        if not np.isfinite(value):
            return "n/a"
        return f"{value:.{digits}g}"
    return str(value)


def _table(header: Sequence[str], rows: Sequence[Sequence]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(_fmt(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def _select(tree, *index):
    return {m: {k: np.asarray(v)[index] for k, v in sub.items()} for m, sub in tree.items()}


def pick_epochs(eval_epochs: Sequence[int], wanted: Sequence[int] = BLOG_EPOCHS,
                count: int = 4) -> list[int]:
    """The wanted eval epochs that exist (plus the last one); if fewer than two of them exist,
    ``count`` evenly spaced eval epochs (first and last included)."""
    eval_epochs = [int(e) for e in eval_epochs]
    found = [e for e in wanted if e in eval_epochs]
    if len(found) >= 2:
        return found if found[-1] == eval_epochs[-1] else found + [eval_epochs[-1]]
    idx = np.unique(np.linspace(0, len(eval_epochs) - 1, min(count, len(eval_epochs))).astype(int))
    return [eval_epochs[i] for i in idx]


# ---- one network: shared by the report and `gru-jax dissect` ---------------------------------
def dissect_network(params, sequence, out_dir: str, high: float = 100.0, label: str = "",
                    figures: Optional[_Figures] = None, prefix: str = "") -> str:
    """Walkthrough, gate terms, gate responses and (H = 1) dynamics of ONE network.

    Writes PNGs into ``out_dir`` and returns the Markdown (tables + captioned figures).
    """
    from .plots import dissect as plots

    figures = figures or _Figures(out_dir)
    walk = dissect.walkthrough(params, sequence, high)
    seq_text = " ".join(f"[{v:g},{f:g}]" for v, f in walk.sequence)
    parts = [f"Input {seq_text} (original units): output **{walk.output:.4f}**, target "
             f"{walk.target:g}.\n", dissect.walkthrough_markdown(walk), ""]
    flag_steps = [int(np.argmax(walk.sequence[:, 1] == f)) for f in (0, 1)
                  if np.any(walk.sequence[:, 1] == f)]
    for t in sorted(set([0] + flag_steps)):
        contributions = dissect.step_contributions(walk, t)
        acts = {g: float(walk.gates[g][t, 0]) for g in dissect.GATES}
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
                             "[0.77, 0.83] for flag 0 and [0.14, 0.20] for flag 1."))
    if dissect.hidden_size(params) == 1:
        dyn = dissect.dynamics(params, high=high)
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
                  dissect.fixed_points_markdown(dyn), ""]
    else:
        parts.append(f"(Dynamics, fixed points and gain are defined for one hidden unit; "
                     f"this network has H={dissect.hidden_size(params)}.)\n")
    return "\n".join(parts)


# ---- the report ------------------------------------------------------------------------------
def _config_section(run: Run) -> str:
    default = Config()
    rows = []
    for field in dataclasses.fields(Config):
        value = getattr(run.config, field.name)
        mark = "" if value == getattr(default, field.name) else " **(changed)**"
        rows.append((f"`{field.name}`", f"{value}{mark}", getattr(default, field.name)))
    finite = int(np.isfinite(run.train_loss[:, -1]).sum())
    head = (f"{run.n_seeds} seeds ({_seed_span(run.seeds)}) x {run.config.epochs} epochs, "
            f"{len(run.eval_epochs)} snapshots (eval every {run.config.eval_every} epochs); "
            f"{int(run.diverged.sum())} diverged, {finite} with a finite final loss; training "
            f"wall time {run.wall_s:.1f} s.\n")
    return "## Configuration\n\n" + head + "\n" + _table(("field", "this run", "blog's protocol"),
                                                         rows)


def _seed_span(seeds) -> str:
    seeds = np.asarray(seeds)
    if seeds.size and np.array_equal(seeds, np.arange(seeds[0], seeds[0] + seeds.size)):
        return f"seeds {seeds[0]}..{seeds[-1]}"
    return "seeds " + ", ".join(map(str, seeds[:8].tolist())) + (" ..." if seeds.size > 8 else "")


def _ensemble_section(run: Run, summary, figures: _Figures) -> str:
    from .plots import ensemble as eplots

    cfg = run.config
    qs = ensemble.QUANTILES
    epochs = np.arange(run.train_loss.shape[1])
    parts = ["## The ensemble\n"]
    train_bands = ensemble.loss_bands(run.train_loss, qs)
    fig = eplots.plot_loss_bands({"train": (epochs, train_bands)}, qs,
                                 "train MSE (scaled units)", "Training loss over seeds",
                                 baseline=ensemble.MEAN_BASELINE, marks=run.eval_epochs)
    parts.append(figures.add(fig, "ensemble_train_loss.png",
                             f"Training loss (scaled units) of {run.n_seeds} seeds: median and "
                             "5-95% / 25-75% bands; dashed: the predict-the-mean baseline 1/6; "
                             "faint verticals: eval epochs."))
    test_bands = ensemble.loss_bands(run.test_loss, qs)
    fig = eplots.plot_loss_bands({"test": (run.eval_epochs, test_bands)}, qs,
                                 "test MSE (original units)", "Test loss over seeds",
                                 baseline=ensemble.MEAN_BASELINE * cfg.high ** 2)
    parts.append(figures.add(fig, "ensemble_test_loss.png",
                             "Test loss (original units, computed at eval epochs) over seeds: "
                             "median and quantile bands; dashed: the predict-the-mean baseline "
                             f"({ensemble.MEAN_BASELINE * cfg.high ** 2:.0f} in original units)."))
    # final losses
    qtab = (0.0, 0.05, 0.25, 0.5, 0.75, 0.95, 1.0)
    train_q = ensemble.quantile_table(summary.final_train, qtab)
    test_q = ensemble.quantile_table(summary.final_test, qtab)
    parts.append("### Final losses\n")
    parts.append(_table(["loss"] + [f"q{int(q * 100)}" for q in qtab] + ["finite", "NaN"],
                        [["final train (scaled)"] + [train_q[q] for q in qtab]
                         + [train_q["n"], train_q["nan"]],
                         ["last test (original)"] + [test_q[q] for q in qtab]
                         + [test_q["n"], test_q["nan"]]]))
    fig = eplots.plot_histogram(summary.final_train, "final training MSE (scaled units, log)",
                                "Final training loss per seed", log_x=True,
                                marks={"blog's seed 37 (~1.0e-4)": 1.0e-4,
                                       "predict-the-mean 1/6": ensemble.MEAN_BASELINE},
                                note="not finite (diverged)")
    parts.append(figures.add(fig, "final_train_loss.png",
                             "Distribution of the final training loss over seeds (log scale), "
                             "with the blog's published ~1.0e-4 and the 1/6 baseline marked."))
    # plateau exits
    exits = summary.plateau_exit
    exit_q = ensemble.quantile_table(exits, qtab)
    parts.append("### Leaving the predict-the-mean plateau\n")
    parts.append(f"A seed leaves the plateau at the first epoch after which its training loss "
                 f"stays below half the baseline ({ensemble.MEAN_BASELINE / 2:.4f}, scaled). "
                 f"{exit_q['n']} of {run.n_seeds} seeds left; {exit_q['nan']} never did.\n")
    parts.append(_table(["plateau exit epoch"] + [f"q{int(q * 100)}" for q in qtab],
                        [["seeds that left"] + [exit_q[q] for q in qtab]]))
    fig = eplots.plot_histogram(exits, "epoch of leaving the plateau", "Plateau exit per seed",
                                note="never left")
    parts.append(figures.add(fig, "plateau_exit.png",
                             "Epoch at which each seed leaves the predict-the-mean plateau for "
                             "good (seeds that never leave are counted in the title)."))
    # the blog's claims
    parts.append("### The blog's claims, seed by seed\n")
    rows = []
    for claim in summary.claims:
        lo, hi = claim.interval
        rows.append((claim.name, claim.description, claim.count, claim.total,
                     f"{claim.fraction:.1%}", f"[{lo:.1%}, {hi:.1%}]"))
    parts.append(_table(("claim", "test", "seeds", "of", "fraction", "95% CI (Wilson)"), rows))
    single = summary.single_outputs
    sq0 = ensemble.quantile_table(single[:, 0], (0.05, 0.5, 0.95))
    sq1 = ensemble.quantile_table(single[:, 1], (0.05, 0.5, 0.95))
    parts.append("Single-element answers (original units; the blog's net: 41.08 and 101.58):\n")
    parts.append(_table(("input", "target", "q5", "median", "q95"),
                        [("[12,0] alone", 0, sq0[0.05], sq0[0.5], sq0[0.95]),
                         ("[12,1] alone", 12, sq1[0.05], sq1[0.5], sq1[0.95])]))
    fig = eplots.plot_gate_ranges(summary.z_ranges, {
        "blog: [0.77, 0.83] x [0.14, 0.20]": (ensemble.BLOG_Z_FLAG0, ensemble.BLOG_Z_FLAG1),
        "accumulator corner": ((0.95, 1.0), (0.0, 0.05))})
    parts.append(figures.add(fig, "update_gate_ranges.png",
                             "First-step update gate per seed: z for flag 0 (x) against flag 1 "
                             "(y), at the midpoint of its range over values 0..99 (bars: the "
                             "range). Red box: the blog's published ranges; green: where an exact "
                             "accumulator sits (z ~ 1 for flag 0, ~ 0 for flag 1)."))
    crossed = summary.flag_first_crossing
    cq = ensemble.quantile_table(crossed, (0.05, 0.25, 0.5, 0.75, 0.95))
    parts.append(f"W_iz[flag] changes sign in {int((summary.flag_crossings > 0).sum())} seeds "
                 f"(more than once in {int((summary.flag_crossings > 1).sum())}); epoch of its "
                 f"first change: median {_fmt(cq[0.5])}, 5-95% [{_fmt(cq[0.05])}, "
                 f"{_fmt(cq[0.95])}].\n")
    fig = eplots.plot_histogram(crossed, "epoch of W_iz[flag]'s first sign change (interpolated)",
                                "When the update gate's flag weight changes sign",
                                note="no sign change")
    parts.append(figures.add(fig, "flag_weight_sign_change.png",
                             "Epoch at which the update gate's flag weight W_iz[flag] first "
                             "changes sign (linear interpolation between snapshots; epoch -1 = "
                             "initial weights)."))
    # parameter fans
    t_epochs, names, values, canonical = ensemble.trajectory_coordinates(run)
    fan = ensemble.loss_bands(values.reshape(values.shape[0], -1), qs).reshape(
        (len(qs),) + values.shape[1:])
    marks = {}
    if canonical:
        from .analysis import canonical as canon

        blog_vec = canon.canonical_vector(from_state_dict(BLOG_STATE_DICT))
        marks["blog's final weights"] = dict(zip(names, np.asarray(blog_vec, float)))
    else:
        marks["blog's final weights"] = dict(zip(
            names, dissect.flatten_params(from_state_dict(BLOG_STATE_DICT))))
    coords = "canonical coordinates (sign symmetry fixed, r/z biases merged)" if canonical else \
        "raw PyTorch-layout coordinates (gru_jax.analysis.canonical not available)"
    fig = eplots.plot_trajectory_fans(t_epochs, names, fan, qs, marks,
                                      title=f"Parameter trajectories, {coords.split(' (')[0]}")
    parts.append(figures.add(fig, "parameter_fans.png",
                             f"Every parameter over training in {coords}: median and 5-95% / "
                             "25-75% fans over seeds (epoch -1 = init); red dashed: the blog's "
                             "published final value."))
    return "\n".join(parts)


def _comparison_section(run_dir: str, out_dir: str, run_comparison: bool = True) -> str:
    parts = ["## Learned versus designed\n"]
    try:
        from . import compare
    except ImportError:
        return "\n".join(parts + ["(The comparison module `gru_jax.compare` is not available in "
                                  "this install; this section is skipped.)\n"])
    compare_dir = os.path.join(run_dir, "compare")
    path = None
    if not os.path.isdir(compare_dir):
        if not run_comparison:
            return "\n".join(parts + [f"(No comparison in {compare_dir}: run `gru-jax compare "
                                      f"{run_dir}` first, or write the report without "
                                      "`--no-compare`.)\n"])
        try:
            path = compare.run_compare(run_dir)
        except Exception as err:  # the report must not die with the comparison
            return "\n".join(parts + [f"(The comparison failed: `{type(err).__name__}: "
                                      f"{err}`; run `gru-jax compare {run_dir}` to see why.)\n"])
    if path is None:
        found = [f for f in sorted(os.listdir(compare_dir)) if f.endswith(".md")]
        path = os.path.join(compare_dir, found[0]) if found else None
    if path is None:
        return "\n".join(parts + [f"({compare_dir} holds no Markdown summary.)\n"])
    rel = os.path.relpath(path, out_dir)
    parts.append(f"The comparison with the hand-crafted accumulator (per-parameter distributions, "
                 f"behaviour scatter, distances over training, generalization heatmaps, "
                 f"interpolation and stability) is in [{rel}]({rel}).\n")
    return "\n".join(parts)


def _census(run: Run, final_train: np.ndarray):
    """``(labels per representative: {strategy: seed index}, Markdown)``."""
    try:
        from .analysis import census
        result = census.strategy_census(run.params, final_train, high=run.config.high)
    except Exception as err:  # missing or failing: fall back to loss ranks
        order = np.argsort(np.where(np.isfinite(final_train), final_train, np.inf))
        reps = {"best final loss": int(order[0]),
                "median final loss": int(order[len(order) // 2]),
                "worst final loss": int(order[-1])}
        note = (f"(Strategy census unavailable: `{type(err).__name__}: {err}`. Seeds are picked "
                "by final training loss instead.)\n")
        return reps, note
    rows = [(s, c, f"{f:.1%}", f"[{lo:.1%}, {hi:.1%}]",
             "-" if rep is None else int(run.seeds[rep]))
            for s, c, f, lo, hi, rep in result.table_rows()]
    text = ("### Strategy census\n\nEach seed is labelled by behaviour (`gru_jax.analysis.census`): "
            "*failed* (final loss >= half the baseline), *general* (adds at other lengths and flag "
            "counts too, like the accumulator), *length-specific* (fits length 4 only, like the "
            "blog's net).\n\n"
            + _table(("strategy", "seeds", "fraction", "95% CI (Wilson)", "representative seed"),
                     rows))
    reps = {s: rep for s, rep in result.representative.items() if rep is not None}
    return reps, text


def _seed_section(run: Run, index: int, label: str, figures: _Figures, out_dir: str,
                  sequence) -> str:
    from .plots import dissect as plots

    seed = int(run.seeds[index])
    tag = f"seed{seed}_"
    name = f"Seed {seed} ({label})"
    parts = [f"### {name}\n"]
    loss = run.train_loss[index]
    sigma = max(2.0, min(20.0, loss.shape[0] / 100))
    found = events.acceleration_events(loss, k=5, sigma=sigma)
    fig = plots.plot_losses(loss, run.eval_epochs, run.test_loss[index],
                            [e.epoch for e in found], title=f"{name}: losses")
    parts.append(figures.add(fig, f"{tag}losses.png",
                             f"{name}: training loss per epoch (scaled units, top) and test loss "
                             "at eval epochs (original units, bottom); grey: eval epochs "
                             "(snapshots); red dashed: the epochs of largest loss acceleration."))
    parts.append(f"Largest loss accelerations (second derivative of log10 train loss after a "
                 f"Gaussian smoothing of sigma = {sigma:g} epochs; negative = the loss starts "
                 "falling faster):\n")
    parts.append(_table(("epoch", "acceleration (decades / epoch^2)"),
                        [(e.epoch, e.acceleration) for e in found]))
    epochs, names, values = events.weight_trajectory(_select(run.init_params, index),
                                                     _select(run.snapshots, index),
                                                     run.eval_epochs)
    fig = plots.plot_weight_lines(epochs, names, values, title=f"{name}: weights over training")
    parts.append(figures.add(fig, f"{tag}weights.png",
                             f"{name}: every parameter (PyTorch layout) at init (epoch -1) and at "
                             "each eval epoch."))
    fig = plots.plot_weight_heatmap(epochs, names, values, title=f"{name}: weights (heatmap)")
    parts.append(figures.add(fig, f"{tag}weights_heatmap.png",
                             f"{name}: the same trajectories as a heatmap (rows: parameters, "
                             "columns: snapshots, colour: value, symmetric around 0)."))
    crossings = events.zero_crossings(epochs, names, values)
    parts.append(f"Zero crossings ({len(crossings)}; linear interpolation between snapshots):\n")
    shown = crossings[:25]
    if shown:
        parts.append(_table(("parameter", "between epochs", "at epoch ~", "direction"),
                        [(c.name, f"{c.epoch_before}..{c.epoch_after}", round(c.epoch, 1),
                          "- to +" if c.direction > 0 else "+ to -") for c in shown]))
    else:
        parts.append("(No parameter changes sign.)\n")
    if len(crossings) > len(shown):
        parts.append(f"({len(crossings) - len(shown)} more not shown.)\n")
    high = run.config.high
    eval_list = [int(e) for e in run.eval_epochs]
    parts.append("Walkthrough of the blog's sequence at chosen epochs:\n")
    rows = []
    details = []
    for epoch in pick_epochs(eval_list):
        params = _select(run.snapshots, index, eval_list.index(epoch))
        walk = dissect.walkthrough(params, sequence, high)
        rows.append((epoch, *(f"{v:.3f}" for v in walk.z[:, 0]), *(f"{v:.4f}" for v in walk.h[:, 0]),
                     f"{walk.output:.2f}"))
        details.append(f"<details><summary>Epoch {epoch}: full walkthrough</summary>\n\n"
                       f"{dissect.walkthrough_markdown(walk)}\n\n</details>\n")
    steps = range(len(walk.h))
    parts.append(_table(("epoch", *(f"z_{t}" for t in steps), *(f"h_{t}" for t in steps),
                         "output"), rows))
    parts += details
    final = _select(run.params, index)
    parts.append(f"#### {name} at the end of training\n")
    parts.append(dissect_network(final, sequence, out_dir, high, label=name, figures=figures,
                                 prefix=tag))
    out = dissect.outputs(final, np.asarray([[[12, 0]], [[12, 1]]]), high)
    parts.append(f"Single-element inputs: [12,0] -> {out[0]:.2f} (target 0), [12,1] -> "
                 f"{out[1]:.2f} (target 12); the blog's net: 41.08 and 101.58.\n")
    return "\n".join(parts)


def write_report(run_dir: str, out_dir: Optional[str] = None,
                 sequence=dissect.BLOG_SEQUENCE, run_comparison: bool = True) -> str:
    """Write the Markdown report of the run in ``run_dir``; returns the path of report.md.

    Args:
      run_dir: a complete run directory (:meth:`gru_jax.Run.load`).
      out_dir: where report.md and its PNGs go (default ``RUN_DIR/report``).
      sequence: the walkthrough input, original units (default the blog's example).
      run_comparison: when ``RUN_DIR/compare`` is missing, run :func:`gru_jax.compare.run_compare`
        first (it trains short stability runs: minutes); False links an existing one only.
    """
    start = time.perf_counter()
    run = Run.load(run_dir)
    out_dir = out_dir or os.path.join(run_dir, "report")
    os.makedirs(out_dir, exist_ok=True)
    figures = _Figures(out_dir)
    summary = ensemble.summarize(run)
    sections = [f"# Report: {os.path.basename(os.path.abspath(run_dir))}\n",
                "The adding problem (sum the two flagged values of a length-4 sequence) learned by "
                "a GRU with one hidden unit, trained under the blog's protocol as an ensemble of "
                "seeds. Losses: training in scaled units (targets / high), test in original "
                "units.\n",
                _config_section(run), _ensemble_section(run, summary, figures),
                _comparison_section(run_dir, out_dir, run_comparison)]
    reps, census_text = _census(run, summary.final_train)
    sections.append(census_text)
    sections.append("## Dissections of representative seeds\n")
    for label, index in reps.items():
        sections.append(_seed_section(run, int(index), label, figures, out_dir, sequence))
    sections.append(f"\n---\nWritten by `gru_jax.report.write_report` in "
                    f"{time.perf_counter() - start:.1f} s.\n")
    path = os.path.join(out_dir, "report.md")
    tmp = path + ".tmp"
    with open(tmp, "w") as handle:
        handle.write("\n".join(sections))
    os.replace(tmp, path)
    return path


# ---- CLI -------------------------------------------------------------------------------------
def _load_weights(path: str, epoch: Optional[str]):
    """A state dict from ``.json`` (a state dict, or the blog's all_weights.json list) or
    ``.npz`` (state-dict keys)."""
    if path.endswith(".npz"):
        with np.load(path, allow_pickle=False) as handle:
            sd = {k: handle[k] for k in handle.files}
    elif path.endswith(".json"):
        with open(path) as handle:
            payload = json.load(handle)
        if isinstance(payload, list):  # the blog's all_weights.json: one entry per eval epoch
            eval_epochs = list(Config().eval_epochs)
            if epoch in (None, "final"):
                sd = payload[-1]
            else:
                if int(epoch) not in eval_epochs[:len(payload)]:
                    raise ValueError(f"--epoch {epoch}: the blog's all_weights.json holds epochs "
                                     f"0, 49, ..., {eval_epochs[len(payload) - 1]}")
                sd = payload[eval_epochs.index(int(epoch))]
        else:
            sd = payload
    else:
        raise ValueError(f"--weights {path}: expected a .json or .npz state dict")
    return from_state_dict(sd)


def _run_params(run: Run, seed: Optional[int], epoch: Optional[str]):
    index = 0 if seed is None else run.index_of(seed)
    eval_list = [int(e) for e in run.eval_epochs]
    if epoch in (None, "final"):
        return _select(run.params, index), int(run.seeds[index]), "final"
    if epoch == "init":
        return _select(run.init_params, index), int(run.seeds[index]), "init"
    try:
        value = int(epoch)
    except ValueError as err:
        raise ValueError(f"--epoch must be an eval epoch, 'init' or 'final', got {epoch!r}") from err
    if value not in eval_list:
        near = min(eval_list, key=lambda e: abs(e - value))
        raise ValueError(f"--epoch {value} is not an eval epoch of this run (snapshots at "
                         f"0, {run.config.eval_every}, ..., {eval_list[-1]}; nearest {near})")
    return _select(run.snapshots, index, eval_list.index(value)), int(run.seeds[index]), str(value)


def cmd_report(args) -> int:
    path = write_report(args.run_dir, args.out, run_comparison=not args.no_compare)
    print(f"report written: {path}")
    return 0


def cmd_dissect(args) -> int:
    sources = sum(x is not None and x is not False for x in (args.run_dir, args.weights)) + bool(
        args.handcrafted)
    if sources != 1:
        raise ValueError("dissect: give exactly one of RUN_DIR, --weights FILE or --handcrafted")
    sequence = dissect.parse_sequence(args.sequence)
    high = args.high
    if args.run_dir:
        run = Run.load(args.run_dir)
        params, seed, epoch = _run_params(run, args.seed, args.epoch)
        high = high or run.config.high
        out = args.out or os.path.join(args.run_dir, "dissect", f"seed{seed}_epoch{epoch}")
        label = f"Seed {seed}, epoch {epoch}"
    elif args.weights:
        params = _load_weights(args.weights, args.epoch)
        stem = os.path.splitext(os.path.basename(args.weights))[0]
        out = args.out or os.path.join("dissect", stem)
        label = f"{stem}"
    else:
        try:
            from .handcrafted import accumulator
        except ImportError as err:
            raise ValueError("--handcrafted needs gru_jax.handcrafted.accumulator, which this "
                             "install lacks") from err
        params = accumulator()
        out = args.out or os.path.join("dissect", "handcrafted")
        label = "Hand-crafted accumulator"
    high = float(high or 100)
    os.makedirs(out, exist_ok=True)
    markdown = dissect_network(params, sequence, out, high, label=label)
    with open(os.path.join(out, "dissect.md"), "w") as handle:
        handle.write(f"# {label}\n\n{markdown}\n")
    walk = dissect.walkthrough(params, sequence, high)
    print(f"{label}\n")
    print(dissect.walkthrough_markdown(walk))
    if dissect.hidden_size(params) == 1:
        print("\nFixed points of h_t -> h_(t+1):\n")
        print(dissect.fixed_points_markdown(dissect.dynamics(params, high=high)))
    print(f"\nfigures and dissect.md written to {out}")
    return 0


def register(subparsers) -> None:
    """Add ``report`` and ``dissect`` to the ``gru-jax`` CLI (``argparse`` subparsers)."""
    p_report = subparsers.add_parser(
        "report", help="write RUN_DIR/report/report.md with its figures",
        description="The Markdown report of a run: config, ensemble, comparison, dissections.")
    p_report.add_argument("run_dir")
    p_report.add_argument("--out", default=None, help="output directory (default RUN_DIR/report)")
    p_report.add_argument("--no-compare", action="store_true",
                          help="do not run `gru-jax compare` when RUN_DIR/compare is missing")
    p_report.set_defaults(func=cmd_report)

    p_dissect = subparsers.add_parser(
        "dissect", help="walkthrough, gate terms, gate responses and dynamics of one network",
        description="Dissect one network: a run's seed at an epoch, a state-dict file "
                    "(--weights) or the hand-crafted accumulator (--handcrafted).")
    p_dissect.add_argument("run_dir", nargs="?", default=None, help="a run directory")
    p_dissect.add_argument("--seed", type=int, default=None,
                           help="seed value in the run (default: the run's first seed)")
    p_dissect.add_argument("--epoch", default=None,
                           help="an eval epoch (0, 49, ...), 'init' or 'final' (default final)")
    p_dissect.add_argument("--sequence", default="12,0 37,1 12,0 21,1",
                           help='input "value,flag value,flag ..." in original units '
                                '(default the blog\'s "12,0 37,1 12,0 21,1")')
    p_dissect.add_argument("--weights", default=None,
                           help="a state dict (.json / .npz, torch names) or the blog's "
                                "all_weights.json, instead of RUN_DIR")
    p_dissect.add_argument("--handcrafted", action="store_true",
                           help="dissect gru_jax.handcrafted.accumulator() instead of RUN_DIR")
    p_dissect.add_argument("--high", type=float, default=None,
                           help="value scale (default: the run's Config.high, else 100)")
    p_dissect.add_argument("--out", default=None,
                           help="figure directory (default RUN_DIR/dissect/seed{S}_epoch{E}/)")
    p_dissect.set_defaults(func=cmd_dissect)
