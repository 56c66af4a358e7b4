"""A run as tidy tables (one row per observation) for pandas, R, DuckDB, spreadsheets.

:func:`tables` returns four ``pandas.DataFrame``; :func:`write` saves them as Parquet or CSV
(needs the ``export`` extra: ``pip install "gru_jax[export]"``).

========  ==========================================================================
table     columns (one row per ...)
========  ==========================================================================
seeds     ``seed``, ``diverged`` (bool) -- per seed
losses    ``seed``, ``epoch``, ``train_loss`` (float32, SCALED units: MSE of value / high)
          -- per seed and kept epoch (every epoch unless the run keeps every k-th:
          :attr:`gru_jax.Run.loss_epochs`)
evals     ``seed``, ``epoch``, ``test_loss`` (float32, ORIGINAL units), ``lr`` (float32,
          the learning rate after that evaluation's plateau step) -- per seed and eval epoch
params    ``seed``, ``stage``, ``epoch``, ``name``, ``value`` (float32) -- per seed, stage
          and parameter
========  ==========================================================================

A sweep's tidy table (:func:`sweep_table`, :func:`write_sweep`; ``gru-jax export SWEEP_DIR``)
has one row per cell and group: the cell's grid values, ``census`` (``threshold``, ``family`` or
``strategy``), ``group`` (the class or label), ``name``, ``count``, ``fraction`` and its 95%
interval ``low, high``.

``params`` stages, in this order for each seed: ``"init"`` (``epoch = -1``: before the first
epoch), ``"snapshot"`` (``epoch`` = an eval epoch: the params after that epoch's training),
``"final"`` (``epoch = epochs - 1``: the params the run ended with; equal to the last snapshot
when the last epoch is an eval epoch). ``name`` is the blog's notation from
:func:`gru_jax.model.param_names` (torch gate order r, z, n; inputs value, flag): for one
hidden unit ``W_ir[value]``, ``W_iz[flag]``, ``W_hn``, ``b_iz`` (row of ``bias_ih_l0``),
``b_hn`` (row of ``bias_hh_l0``), ``w_out``, ``b_out``; for ``H > 1`` the unit ``u`` (torch row)
and, for ``W_h*``, the column ``k``: ``W_iz[flag][u]``, ``W_hn[u,k]``, ``b_iz[u]``,
``w_out[u]``. ``stage`` and ``name`` are categoricals.
"""
from __future__ import annotations

import os

import numpy as np

try:
    import pandas as pd
except ImportError as err:  # the export extra
    raise ImportError("gru_jax.export needs pandas (and pyarrow for Parquet): "
                      "pip install 'gru_jax[export]'") from err

from .analysis.sweep import MIN_CENSUS_SEEDS, group_rows
from .files import OptionRequiredError, write_atomic, write_text
from .model import flatten_params, param_names
from .run import Run

TABLES = ("seeds", "losses", "evals", "params")
FORMATS = ("parquet", "csv")
STAGES = ("init", "snapshot", "final")


def tables(run: Run) -> dict:
    """The run's tidy tables ``{"seeds", "losses", "evals", "params": pandas.DataFrame}``.

    Columns, units and the parameter names are in the module docstring. Rows are grouped by
    seed in the run's seed order, then by epoch (``params``: stage, epoch, parameter).
    """
    seeds = np.asarray(run.seeds, np.int64)
    n_seeds = len(seeds)
    loss_epochs = np.asarray(run.loss_epochs, np.int64)
    eval_epochs = np.asarray(run.eval_epochs, np.int64)
    per_seed = lambda columns: np.repeat(seeds, columns)
    out = {
        "seeds": pd.DataFrame({"seed": seeds, "diverged": np.asarray(run.diverged, bool)}),
        "losses": pd.DataFrame({
            "seed": per_seed(len(loss_epochs)), "epoch": np.tile(loss_epochs, n_seeds),
            "train_loss": np.asarray(run.train_loss, np.float32).reshape(-1)}),
        "evals": pd.DataFrame({
            "seed": per_seed(len(eval_epochs)), "epoch": np.tile(eval_epochs, n_seeds),
            "test_loss": np.asarray(run.test_loss, np.float32).reshape(-1),
            "lr": np.asarray(run.lr, np.float32).reshape(-1)}),
    }
    # (S, 1 + n_eval + 1, P): init, every snapshot, final
    values = np.concatenate([flatten_params(run.init_params)[:, None],
                             flatten_params(run.snapshots),
                             flatten_params(run.params)[:, None]], axis=1)
    names = param_names(int(np.shape(run.params["gru"]["weight_hh_l0"])[-1]))
    stage_codes = np.array([0] + [1] * len(eval_epochs) + [2], np.int8)
    stage_epochs = np.concatenate([[-1], eval_epochs, [run.config.epochs - 1]]).astype(np.int64)
    n_stages, n_params = values.shape[1], values.shape[2]
    out["params"] = pd.DataFrame({
        "seed": per_seed(n_stages * n_params),
        "stage": pd.Categorical.from_codes(
            np.tile(np.repeat(stage_codes, n_params), n_seeds), categories=list(STAGES)),
        "epoch": np.tile(np.repeat(stage_epochs, n_params), n_seeds),
        "name": pd.Categorical.from_codes(
            np.tile(np.arange(n_params, dtype=np.int32), n_seeds * n_stages),
            categories=list(names)),
        "value": values.reshape(-1)})
    return out


def sweep_table(sweep, census: bool = False, min_census_seeds: int = MIN_CENSUS_SEEDS):
    """A sweep's tidy table, one row per cell and group (a ``pandas.DataFrame``; columns in
    :func:`gru_jax.analysis.sweep.group_rows`): the threshold census of every cell, and with
    ``census`` the families and strategies of every cell of at least ``min_census_seeds`` seeds.

    Args:
      sweep: a :class:`gru_jax.Sweep` (``gj.sweep(...)`` or ``gj.Sweep.load(dir)``).
    """
    frame = pd.DataFrame(group_rows(sweep.cells, sweep.runs, census, min_census_seeds))
    for column in ("census", "group"):
        frame[column] = frame[column].astype("category")
    return frame


def write_sweep(sweep, directory: str, format: str = "parquet", overwrite: bool = False,
                census: bool = False) -> str:
    """Write :func:`sweep_table` as ``directory/groups.<format>`` atomically; returns the
    path (``FileExistsError`` naming it if it exists and not ``overwrite``)."""
    path = _paths(directory, ("groups",), format, overwrite)[0]
    _write_frame(sweep_table(sweep, census), path, format)
    return path


def _paths(directory: str, names, format: str, overwrite: bool) -> list[str]:
    if format not in FORMATS:
        raise ValueError(f"export.write: format must be one of {FORMATS}, got {format!r}")
    paths = [os.path.join(directory, f"{name}.{format}") for name in names]
    existing = [p for p in paths if os.path.exists(p)]
    if existing and not overwrite:
        raise OptionRequiredError(f"export.write: refusing to overwrite {existing}; "
                                  "{option} to replace them", "overwrite")
    return paths


def _write_frame(frame, path: str, format: str) -> None:
    if format == "parquet":
        write_atomic(path, lambda handle: frame.to_parquet(handle, index=False))
    else:
        write_text(path, frame.to_csv(index=False))


def write(run: Run, directory: str, format: str = "parquet", overwrite: bool = False) -> list[str]:
    """Write :func:`tables` as ``directory/<table>.parquet`` (or ``.csv``), each atomically.

    Args:
      run: a :class:`gru_jax.Run`.
      directory: created if missing.
      format: ``"parquet"`` (needs pyarrow; keeps dtypes and categoricals) or ``"csv"``
        (float32 values written with the shortest text that reads back to the same float32).
      overwrite: replace existing table files; otherwise ``FileExistsError`` naming them.

    Returns:
      the written paths, in :data:`TABLES` order.
    """
    paths = _paths(directory, TABLES, format, overwrite)
    frames = tables(run)
    for name, path in zip(TABLES, paths):
        _write_frame(frames[name], path, format)
    return paths
