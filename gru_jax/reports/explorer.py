"""``gru-jax explore RUN``: every seed of a run (or of every sweep cell) on one interactive page.

:func:`write_explorer` writes ONE self-contained HTML file (default ``RUN/explore.html``) that
opens from disk with no network and no server: plotly.js (its "basic" bundle, vendored in
``vendor/`` beside this module: 1.2 MB instead of the full bundle's 4.8 MB, and a quarter of
its start-up time), the page's script (``explorer.js``), its markup (``explorer.html``) and
style (``explorer.css``) and the data are all inline; nothing is fetched.

On the page: the seeds as points in the behaviour plane (mean update gate z at flag-0 steps vs
at flag-1 steps on the length-4, 2-flag probe: the census's ``z_flag0``, ``z_flag1``, as in
``compare/behaviour.png``) and in any two census feature columns or outcomes (x and y menus),
coloured by family, with the exact and the reachable hand-crafted accumulators marked (their
z and features computed the same way as the seeds'); hovering shows a seed's summary; clicking a
point (or typing its number) opens its panel (family, strategy, threshold class, final losses,
generalization errors, loss curves, weight trajectory, first-step update-gate response); a
family filter; the census table (families with their strategies nested: counts, fractions, 95%
Wilson intervals), whose rows highlight their seeds. For a sweep directory the cells come first
as a grid (fraction general with its interval, median final loss, diverged count, family
fractions); clicking a cell loads its seeds.

In the page's JavaScript: ``window.explorer.seeds`` (the seed values drawn as points),
``window.explorer.select(seed)`` (as a click would), ``window.explorer.selectCell(i)`` (a sweep
cell), ``window.explorer.ready`` and ``window.explorer.readyMs`` (milliseconds from navigation
start to interactive); ``#seed-panel`` holds the selected seed's panel.

The data contract, per population (a run, or one sweep cell) of ``S`` seeds:

- Every seed (``S`` rows, so any seed is reachable by its number): seed value (uint32), family
  and strategy (uint8 indices into the census table), threshold class (uint8: general /
  length-specific / failed), diverged (uint8), final training loss (float32, scaled units),
  final test loss (float32, original units), behaviour ``(S, 2)`` (float16) and the
  generalization errors (the census's ``log10_error_L{L}k{k}`` columns, float16, log10 relative
  RMS error).
- Drawn points: all seeds up to ``max_points`` (default 10,000); beyond, a sample stratified by
  family (:func:`sample_order`); their census features ``(D, F)`` float16 (the x/y menus).
- Curves: the first ``max_curves`` (default 2,048) of the same order (all seeds of a run up to
  that size): the training loss (log10, thinned to ~300 epochs: every ``ceil(epochs / 300)``-th
  and the last), the test loss (log10, original units / high**2 = scaled units) at the eval
  epochs, the weights at init, every snapshot (``run.eval_epochs``) and the end (``(C, E, P)``,
  flat PyTorch layout named by :func:`gru_jax.model.param_names`), all three quantised to 8 bits
  per curve (:func:`quantise`: 254 levels between the curve's own min and max, 255 = NaN), and
  the first-step update gate (h = 0) of the readout unit at 21 values for flag 0 and flag 1
  (float16).
- Arrays travel as base64 of their little-endian bytes (:func:`encode`) inside one JSON block.

The page states the sampling when it samples. Sizes and load times: ``results/explore/``.
"""
from __future__ import annotations

import base64
import html
import json
import os
import tempfile
from typing import NamedTuple, Optional, Sequence

import numpy as np

from .. import handcrafted
from ..analysis.cache import cached_census
from ..analysis.census import census as discover_census
from ..analysis.stats import wilson_interval
from ..analysis.thresholds import CLASSES
from ..analysis.ensemble import final_train_loss, first_step_update_gate, readout_unit
from ..analysis.features import gates_and_route, seed_features
from ..files import write_text
from ..model import flatten_params, hidden_size, param_names
from ..plots.strategies import strategy_colours
from ..analysis.sweep import cell_text
from ..run import Run
from ..rundir import RunError
from .sweep import axes_of

MAX_POINTS = 10_000
MAX_CURVES = 2_048
LOSS_POINTS = 300
GATE_VALUES = np.linspace(0.0, 1.0, 21)
SAMPLE_SEED = 0
#: A family keeps at least this many drawn points (all of them when it has fewer).
MIN_DRAWN_PER_FAMILY = 100
EXPLORER_FILE = "explore.html"
PLOTLY_JS = "plotly-basic.min.js"
_HERE = os.path.dirname(os.path.abspath(__file__))


class Levels(NamedTuple):
    """A census read as families with strategies nested (:func:`census_levels`).

    families, strategies: ``(S,)`` int per seed. family_labels ("F1", ...), family_names;
    family_counts, family_fractions, family_low, family_high ``(G,)``; strategy_labels
    ("F1a", ...), strategy_names, strategy_family ``(K,)`` (the family index of each strategy,
    -1 if it has no seed); strategy_counts, strategy_fractions, strategy_low, strategy_high.
    """

    families: np.ndarray
    family_labels: list
    family_names: list
    family_counts: np.ndarray
    family_fractions: np.ndarray
    family_low: np.ndarray
    family_high: np.ndarray
    strategies: np.ndarray
    strategy_labels: list
    strategy_names: list
    strategy_family: np.ndarray
    strategy_counts: np.ndarray
    strategy_fractions: np.ndarray
    strategy_low: np.ndarray
    strategy_high: np.ndarray


def census_levels(census) -> Levels:
    """Families and strategies of a :class:`gru_jax.analysis.census.Census` (or any object with
    its attributes), the ONE place the page reads them."""
    strategies = np.asarray(census.labels, np.int64)
    names = list(census.names)
    families = np.asarray(census.families, np.int64)
    family_labels = list(census.family_labels)
    strategy_family = (np.asarray(census.strategy_family, np.int64)
                       if getattr(census, "strategy_family", None) is not None else
                       np.array([np.bincount(families[strategies == k]).argmax()
                                 if np.any(strategies == k) else -1
                                 for k in range(len(names))], np.int64))
    return Levels(families, family_labels, list(census.family_names),
                  np.bincount(families, minlength=len(family_labels))[:len(family_labels)],
                  np.asarray(census.family_fractions, np.float64),
                  np.asarray(census.family_ci_low, np.float64),
                  np.asarray(census.family_ci_high, np.float64), strategies,
                  list(census.strategy_labels), names, strategy_family,
                  np.bincount(strategies, minlength=len(names))[:len(names)],
                  np.asarray(census.fractions, np.float64),
                  np.asarray(census.ci_low, np.float64), np.asarray(census.ci_high, np.float64))


# ---- encoding --------------------------------------------------------------------------------
_DTYPES = {"f4": "<f4", "f2": "<f2", "u4": "<u4", "u1": "u1", "i4": "<i4"}


def encode(array, dtype: str) -> dict:
    """``{"dtype", "shape", "b64"}``: the array's little-endian bytes in base64 (dtype one of
    f4, f2, u4, u1, i4)."""
    array = np.ascontiguousarray(np.asarray(array).astype(_DTYPES[dtype]))
    return {"dtype": dtype, "shape": list(array.shape),
            "b64": base64.b64encode(array.tobytes()).decode("ascii")}


def quantise(values, axis: int = 1) -> dict:
    """8-bit codes of ``values`` along ``axis``, each curve (every other index fixed) between
    its own finite min and max: ``value = lo + code * step`` for codes 0..254, 255 = NaN
    (non-finite). Returns ``{"quantised": "u1", "axis", "codes", "lo", "step"}`` (lo, step
    float32 with ``axis`` removed), encoded as :func:`encode` does."""
    values = np.asarray(values, np.float64)
    finite = np.isfinite(values)
    with np.errstate(all="ignore"):
        lo = np.nanmin(np.where(finite, values, np.nan), axis=axis, keepdims=True)
        hi = np.nanmax(np.where(finite, values, np.nan), axis=axis, keepdims=True)
    lo = np.where(np.isfinite(lo), lo, 0.0)
    step = np.where(np.isfinite(hi) & (hi > lo), (hi - lo) / 254.0, 1.0)
    codes = np.where(finite, np.clip(np.rint((np.where(finite, values, lo) - lo) / step), 0, 254),
                     255)
    return {"quantised": "u1", "axis": axis, "codes": encode(codes, "u1"),
            "lo": encode(np.squeeze(lo, axis), "f4"), "step": encode(np.squeeze(step, axis), "f4")}


def dequantise(payload: dict) -> np.ndarray:
    """The inverse of :func:`quantise` (float64; NaN where the value was not finite)."""
    codes, lo, step = (decode(payload[k]) for k in ("codes", "lo", "step"))
    axis = payload["axis"]
    values = np.expand_dims(lo, axis) + codes * np.expand_dims(step, axis).astype(np.float64)
    return np.where(codes == 255, np.nan, values)


def decode(payload: dict) -> np.ndarray:
    """The inverse of :func:`encode`."""
    raw = base64.b64decode(payload["b64"])
    return np.frombuffer(raw, _DTYPES[payload["dtype"]]).reshape(payload["shape"])


# ---- what is drawn ---------------------------------------------------------------------------
def sample_order(families, seed: int = SAMPLE_SEED, floor: int = MIN_DRAWN_PER_FAMILY
                 ) -> np.ndarray:
    """An order of the seeds' positions whose every prefix is stratified by family.

    Each family's seeds are shuffled (numpy ``default_rng(seed)``); position ``j`` of the
    order goes to the family furthest below its share of the first ``j`` (largest remainder:
    family ``g`` has ``round(n * count_g / S)`` of the first ``n``), except that the first
    ``floor x G`` positions go round-robin to families with seeds left, so a rare family keeps
    up to ``floor`` points in any prefix that long. ``(S,)`` int -> ``(S,)`` permutation.
    """
    families = np.asarray(families, np.int64)
    rng = np.random.default_rng(seed)
    groups = [rng.permutation(np.flatnonzero(families == g))
              for g in range(int(families.max()) + 1 if families.size else 0)]
    groups = [g for g in groups if g.size]
    counts = np.array([g.size for g in groups], np.float64)
    total = counts.sum()
    taken = np.zeros(len(groups), np.int64)
    order = []
    # the floor: round-robin while a family is below min(floor, its size)
    for _ in range(floor):
        for g, members in enumerate(groups):
            if taken[g] < min(floor, members.size):
                order.append(members[taken[g]])
                taken[g] += 1
    # the rest: proportional, largest deficit first
    while len(order) < total:
        n = len(order) + 1
        deficit = n * counts / total - taken
        deficit[taken >= counts] = -np.inf
        g = int(np.argmax(deficit))
        order.append(groups[g][taken[g]])
        taken[g] += 1
    return np.asarray(order, np.int64)


def _loss_columns(loss_epochs, epochs: int, points: int = LOSS_POINTS) -> np.ndarray:
    """Indices of the kept loss epochs nearest ``0, k, 2k, ...`` (``k = ceil(epochs /
    points)``) and the last one."""
    loss_epochs = np.asarray(loss_epochs)
    stride = max(1, int(np.ceil(epochs / points)))
    last = len(loss_epochs) - 1
    picks = np.searchsorted(loss_epochs, np.arange(0, epochs, stride)).clip(max=last)
    return np.unique(np.append(picks, last))


def _select(params, rows) -> dict:
    return {m: {k: np.asarray(v[rows], np.float32) for k, v in sub.items()}
            for m, sub in params.items()}


def _gate_response(params) -> np.ndarray:
    """``(N, 2, V)`` first-step z (h = 0) of each model's readout unit at :data:`GATE_VALUES`
    for flag 0 and 1 (:func:`gru_jax.analysis.ensemble.first_step_update_gate`)."""
    z = first_step_update_gate(params, GATE_VALUES)                       # (N, 2, V, H)
    unit = readout_unit(params)
    return np.take_along_axis(z, unit[:, None, None, None], axis=-1)[..., 0]


def _hex(rgba) -> str:
    return "#" + "".join(f"{int(round(255 * c)):02x}" for c in rgba[:3])


def _column(census, name: str) -> Optional[np.ndarray]:
    names = list(getattr(census, "feature_names", ()) or ())
    return None if name not in names else np.asarray(census.features)[:, names.index(name)]


def _references(hidden: int, high: int, feature_names: Sequence[str], reference) -> list:
    """The exact and the reachable accumulator as the seeds are measured: behaviour
    (:func:`gru_jax.analysis.features.gates_and_route`, as ``compare/behaviour.png``), the
    census features (:func:`gru_jax.analysis.features.seed_features`, aligned to the census's
    reference when the hidden sizes agree; a column the model lacks is null) and the
    first-step gate response."""
    models = {"exact accumulator": handcrafted.accumulator(hidden_size=hidden),
              "reachable accumulator": handcrafted.reachable_accumulator()}
    out = []
    for name, model in models.items():
        stacked = {m: {k: np.asarray(v, np.float32)[None] for k, v in sub.items()}
                   for m, sub in model.items()}
        entry = {"name": name, "z": [float(v) for v in gates_and_route(model, high)[:2]],
                 "gate": np.round(_gate_response(stacked)[0], 4).tolist()}
        if feature_names:
            same = reference is not None and hidden_size(model) == hidden
            feats = seed_features(stacked, reference=reference if same else None, high=high)
            by_name = dict(zip(feats.names, feats.values[0]))
            entry["features"] = [None if n not in by_name or not np.isfinite(by_name[n])
                                 else round(float(by_name[n]), 5) for n in feature_names]
        out.append(entry)
    return out


def seed_curves(run, rows) -> dict:
    """The curves of the seeds at positions ``rows (C,)`` (the module docstring): training loss
    (log10, thinned) and test loss (log10, scaled units) over epochs, weights at init, every
    snapshot and the end, 8-bit per curve; the first-step update gate (float16)."""
    log10 = lambda a: np.log10(np.where(a > 0, a, np.nan))
    high = run.config.high
    loss_epochs = np.asarray(run.loss_epochs)
    columns = _loss_columns(loss_epochs, run.config.epochs)
    eval_epochs = np.asarray(run.eval_epochs, np.int64)
    steps = [flatten_params(_select(run.init_params, rows))[:, None],
             flatten_params(_select(run.snapshots, rows))]
    epochs = [-1, *eval_epochs.tolist()]
    if not eval_epochs.size or eval_epochs[-1] != run.config.epochs - 1:
        steps.append(flatten_params(_select(run.params, rows))[:, None])
        epochs.append(run.config.epochs - 1)
    gate = (_gate_response(_select(run.params, rows)) if len(rows)
            else np.zeros((0, 2, GATE_VALUES.size)))
    return {
        "loss_epochs": loss_epochs[columns].tolist(),
        "train_loss": quantise(log10(np.asarray(run.train_loss[rows], np.float64)[:, columns])),
        "eval_epochs": eval_epochs.tolist(),
        "test_loss": quantise(log10(np.asarray(run.test_loss[rows], np.float64) / high ** 2)),
        "param_names": list(param_names(run.config.hidden_size)),
        "trajectory_epochs": epochs,
        "trajectory": quantise(np.concatenate(steps, axis=1)),
        "gate_values": (GATE_VALUES * high).tolist(),
        "gate": encode(gate, "f2"),
    }


def population(run, census, *, title: str = "", max_points: int = MAX_POINTS,
               max_curves: int = MAX_CURVES, references: bool = True) -> dict:
    """The page's data for one run and its census (the module docstring's contract)."""
    levels = census_levels(census)
    count = run.n_seeds
    high = run.config.high
    hidden = run.config.hidden_size
    order = sample_order(levels.families)
    drawn = np.sort(order[:min(max_points, count)])
    curves = np.sort(order[:min(max_curves, count)])
    feature_names = list(getattr(census, "feature_names", ()) or ())
    behaviour = (np.stack([_column(census, "z_flag0"), _column(census, "z_flag1")], 1)
                 if {"z_flag0", "z_flag1"} <= set(feature_names) else
                 np.asarray(gates_and_route(run.params, high))[:, :2])
    gen_names = [n for n in feature_names if n.startswith("log10_error_")]
    gen = (np.stack([_column(census, n) for n in gen_names], 1) if gen_names
           else np.zeros((count, 0)))
    classes = np.asarray(getattr(census, "threshold_labels", np.full(count, "")))
    final = final_train_loss(run)
    test_final = np.asarray(run.test_loss, np.float64)[:, -1]
    features = (np.asarray(census.features, np.float64)[drawn] if feature_names
                else np.zeros((drawn.size, 0)))
    outcomes = {"log10_final_test_loss": np.log10(np.where(test_final > 0, test_final, np.nan)),
                "commitment_epoch": np.asarray(getattr(census, "commitment_epoch",
                                                       np.full(count, np.nan)), np.float64)}
    extra = {k: v for k, v in outcomes.items() if np.isfinite(v).any()}
    if extra:
        features = np.concatenate([features, np.stack([v[drawn] for v in extra.values()], 1)], 1)
    menu = feature_names + list(extra)
    colours = strategy_colours(max(len(levels.family_labels), 1))
    class_index = {c: i for i, c in enumerate(CLASSES)}
    sampled = drawn.size < count or curves.size < count
    return {
        "title": title, "n_seeds": count, "epochs": run.config.epochs, "hidden_size": hidden,
        "high": high,
        "note": ("" if not sampled else
                 f"{count} seeds: {drawn.size} drawn as points and {curves.size} with curves, "
                 f"a sample stratified by family (each family's share of the seeds, at least "
                 f"{MIN_DRAWN_PER_FAMILY} points per family where it has them; numpy "
                 f"default_rng({SAMPLE_SEED})); every seed's summary numbers are embedded, so "
                 f"any seed opens by its number."),
        "census_note": str(getattr(census, "note", "") or ""),
        "classes": list(CLASSES),
        "families": [{"label": lab, "name": name, "count": int(n), "fraction": float(f),
                      "low": float(lo), "high": float(hi), "colour": _hex(colours[g])}
                     for g, (lab, name, n, f, lo, hi) in enumerate(zip(
                         levels.family_labels, levels.family_names, levels.family_counts,
                         levels.family_fractions, levels.family_low, levels.family_high))],
        "strategies": [{"label": lab, "name": name, "family": int(fam), "count": int(n),
                        "fraction": float(f), "low": float(lo), "high": float(hi)}
                       for lab, name, fam, n, f, lo, hi in zip(
                           levels.strategy_labels, levels.strategy_names,
                           levels.strategy_family, levels.strategy_counts,
                           levels.strategy_fractions, levels.strategy_low,
                           levels.strategy_high)],
        "seeds": encode(run.seeds, "u4"),
        "family": encode(levels.families, "u1"),
        "strategy": encode(levels.strategies, "u1"),
        "threshold_class": encode([class_index.get(c, 255) for c in classes], "u1"),
        "diverged": encode(np.asarray(run.diverged, bool), "u1"),
        "final_loss": encode(final, "f4"),
        "final_test_loss": encode(test_final, "f4"),
        "behaviour": encode(behaviour, "f2"),
        "gen_names": [n.replace("log10_error_", "") for n in gen_names],
        "gen": encode(gen, "f2"),
        "drawn": encode(drawn, "i4"),
        "feature_names": menu,
        "features": encode(features, "f2"),
        "curves": encode(curves, "i4"),
        **seed_curves(run, curves),
        "references": (_references(hidden, high, menu, getattr(census, "reference", None))
                       if references else []),
    }


# ---- sweeps ----------------------------------------------------------------------------------
def cell_summary(run, census, levels: Levels) -> dict:
    """A sweep cell's population measures: seeds, diverged, fraction general with its 95%
    Wilson interval (the census's threshold classes), median final loss, family fractions."""
    classes = np.asarray(getattr(census, "threshold_labels", np.full(run.n_seeds, "")))
    general = int(np.sum(classes == "general"))
    low, high = wilson_interval(general, run.n_seeds)
    final = final_train_loss(run)
    return {"n_seeds": run.n_seeds, "diverged": int(np.sum(run.diverged)),
            "general": general, "general_fraction": general / max(run.n_seeds, 1),
            "general_low": low, "general_high": high,
            "median_final_loss": (float(np.nanmedian(final)) if np.isfinite(final).any()
                                  else None),
            "families": [[lab, float(f)] for lab, f in zip(levels.family_labels,
                                                            levels.family_fractions)]}


# ---- the page --------------------------------------------------------------------------------
def _asset(name: str) -> str:
    with open(os.path.join(_HERE, name), encoding="utf-8") as handle:
        return handle.read()


def plotly_js() -> str:
    """plotly.js, minified: the "basic" partial bundle (scatter traces), vendored in
    ``gru_jax/reports/vendor/`` (version, source and why there: its README.md)."""
    return _asset(os.path.join("vendor", PLOTLY_JS))


def render(payload: dict) -> str:
    """The HTML page of a payload (``{"kind": "run" | "sweep", "title", "populations": [...],
    "grid": ...}``), every script and style inline."""
    data = json.dumps(payload, separators=(",", ":"), allow_nan=False).replace("</", "<\\/")
    script = lambda code: "<script>" + code.replace("</script", "<\\/script") + "</script>"
    return "\n".join([
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(payload['title'])}</title>",
        "<style>" + _asset("explorer.css") + "</style>", "</head><body>",
        _asset("explorer.html"),
        '<script type="application/json" id="explorer-data">' + data + "</script>",
        script(plotly_js()), script(_asset("explorer.js")), "</body></html>", ""])


def _json_safe(value):
    """NaN and infinities -> None, recursively (the page's JSON is strict)."""
    if isinstance(value, float):
        return value if np.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def check_writable(path: str) -> None:
    """Raise OSError naming ``path`` unless a file can be created there (checked before the
    slow census, so a bad ``--out`` fails at once); missing folders are made."""
    if os.path.isdir(path):
        raise OSError(f"cannot write {path}: it is a directory")
    directory = os.path.dirname(os.path.abspath(path))
    existing = directory
    while not os.path.exists(existing):
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        raise OSError(f"cannot write {path}: {existing} is not a directory")
    try:
        os.makedirs(directory, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=directory, prefix=".explore-", suffix=".tmp"):
            pass
    except OSError as err:
        raise OSError(f"cannot write {path}: {err.strerror or err}") from None


def _is_sweep(source) -> bool:
    """A :class:`gru_jax.sweeps.Sweep` (not imported: the sweeps sit above the reports)."""
    return hasattr(source, "runs") and hasattr(source, "cells")


def _census_of(run, directory):
    """The run's census: from its directory's cache when it has one on disk."""
    if directory is not None and os.path.isdir(directory):
        return cached_census(directory, run)
    return discover_census(run)


def write_explorer(source, path: Optional[str] = None, census=None, *,
                   max_points: int = MAX_POINTS, max_curves: int = MAX_CURVES) -> str:
    """Write the explorer page of a run or a sweep; returns its path.

    Args:
      source: a :class:`gru_jax.Run` or its directory, or a :class:`gru_jax.sweeps.Sweep`
        (``gj.Sweep.load(DIR)``; the CLI loads a sweep directory itself).
      path: the HTML file (default ``DIR/explore.html``; required for an in-memory object
        without a directory).
      census: the census (:func:`gru_jax.analysis.census` of the run; for a sweep, a list with
        one per cell); None reads it from the run directory's cache, or computes and caches it
        (:func:`gru_jax.analysis.cache.cached_census`).
      max_points: seeds drawn as points at most (beyond: a family-stratified sample);
        max_curves: seeds whose curves are embedded at most (the first of the same sample).
        Every seed's summary numbers are embedded either way.
    """
    directory = source if isinstance(source, str) else getattr(source, "out", None)
    if path is None:
        if directory is None:
            raise ValueError("write_explorer: give path for a run that is not on disk")
        path = os.path.join(directory, EXPLORER_FILE)
    if isinstance(source, str) and not os.path.isdir(source):
        raise RunError(f"{source} is not a directory: give a run or sweep directory")
    if isinstance(source, str) and os.path.exists(os.path.join(source, "sweep.json")):
        # the sweeps module sits above the reports (pyproject.toml's layers): its caller loads
        raise ValueError(f"{source} is a sweep: pass gru_jax.Sweep.load({source!r})")
    check_writable(path)
    options = dict(max_points=max_points, max_curves=max_curves)
    if _is_sweep(source):
        sweep = source
        censuses = census if census is not None else [None] * len(sweep.runs)
        populations, summaries = [], []
        for index, (cell, run, found) in enumerate(zip(sweep.cells, sweep.runs, censuses)):
            cell_dir = None if directory is None else os.path.join(directory, f"cell_{index:03d}")
            found = found if found is not None else _census_of(run, cell_dir)
            label = ", ".join(f"{k} = {cell_text(v)}" for k, v in cell.items())
            populations.append(population(run, found, title=f"cell {index}: {label}", **options))
            summaries.append({"label": label, "values": [cell_text(v) for v in cell.values()],
                              **cell_summary(run, found, census_levels(found))})
        payload = {"kind": "sweep", "title": f"gru-jax explore: sweep {directory or ''}".strip(),
                   "populations": populations,
                   "grid": {"axes": [[k, labels] for k, labels in axes_of(sweep.cells)],
                            "cells": summaries}}
    else:
        run = Run.load(source) if isinstance(source, str) else source
        found = census if census is not None else _census_of(
            run, source if isinstance(source, str) else None)
        title = f"gru-jax explore: {directory or 'run'} ({run.n_seeds} seeds)"
        payload = {"kind": "run", "title": title,
                   "populations": [population(run, found, title=title, **options)],
                   "grid": None}
    return write_text(path, render(_json_safe(payload)))
