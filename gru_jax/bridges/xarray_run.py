"""A run as an ``xarray.Dataset`` and back, and its networks' hidden-state trajectories on a
probe set (needs the ``xarray`` extra; Parquet also the ``export`` extra).

``run.to_xarray()`` (:func:`to_dataset`)::

    dims    seed (S), epoch (n_loss: the kept training-loss epochs), eval_epoch (n_eval),
            parameter (P: gru_jax.model.param_names, "W_ir[value]", ..., "b_out")
    train_loss  (seed, epoch)              float32, SCALED units (MSE of value / high)
    test_loss   (seed, eval_epoch)         float32, ORIGINAL units
    lr          (seed, eval_epoch)         float32
    diverged    (seed,)                    bool
    init_params, params (seed, parameter); snapshots (seed, eval_epoch, parameter): float32
    attrs   config (JSON), engine, wall_s, loss_every, provenance (JSON), format

Every number round-trips: ``Run.from_xarray(run.to_xarray())`` equals the run, bit for bit,
also through a netCDF file (``ds.to_netcdf(path)``; netCDF3 through scipy stores the seeds as
int32, so seeds below 2**31 there).

:func:`hidden_states` runs each seed's network over a probe set: ``h (seed, sample, time,
unit)`` with the inputs beside it; :func:`write_hidden_states` writes it as netCDF or as a
long Parquet table (one row per seed, sample, time and unit).
"""
from __future__ import annotations

import dataclasses
import io
import json
from typing import Optional

import numpy as np
import xarray as xr

from ..config import Config
from ..data import scale_inputs, seed_dataset
from ..files import write_atomic
from ..model import flatten_params, forward, map_models, param_names, unflatten_params

FORMAT = "gru_jax.run/1"
HIDDEN_FORMATS = ("netcdf", "parquet")


def to_dataset(run) -> xr.Dataset:
    """The run's numbers as one Dataset (see the module docstring)."""
    cfg = run.config
    names = list(param_names(cfg.hidden_size))
    flat = lambda tree: np.asarray(flatten_params(tree), np.float32)
    seed_param, seed_eval_param = ("seed", "parameter"), ("seed", "eval_epoch", "parameter")
    return xr.Dataset(
        {"train_loss": (("seed", "epoch"), np.asarray(run.train_loss, np.float32),
                        {"units": "scaled: MSE of the sum / high"}),
         "test_loss": (("seed", "eval_epoch"), np.asarray(run.test_loss, np.float32),
                       {"units": "original: MSE of the sum"}),
         "lr": (("seed", "eval_epoch"), np.asarray(run.lr, np.float32)),
         "diverged": (("seed",), np.asarray(run.diverged, bool)),
         "init_params": (seed_param, flat(run.init_params)),
         "params": (seed_param, flat(run.params)),
         "snapshots": (seed_eval_param, flat(run.snapshots))},
        coords={"seed": np.asarray(run.seeds, np.int64),
                "epoch": np.asarray(run.loss_epochs, np.int64),
                "eval_epoch": np.asarray(run.eval_epochs, np.int64),
                "parameter": np.asarray(names)},
        attrs={"format": FORMAT, "config": cfg.to_json(), "engine": run.engine,
               "wall_s": float(run.wall_s), "loss_every": int(run.loss_every),
               "provenance": json.dumps(run.provenance)})


def run_fields(dataset: xr.Dataset) -> dict:
    """The fields of a :class:`gru_jax.Run` from :func:`to_dataset`'s Dataset
    (``Run.from_xarray`` builds the Run from them)."""
    if dataset.attrs.get("format") != FORMAT:
        raise ValueError(f"not a gru_jax run Dataset (attrs format {dataset.attrs.get('format')!r},"
                         f" expected {FORMAT!r})")
    cfg = Config.from_json(dataset.attrs["config"])
    params = lambda name: unflatten_params(np.asarray(dataset[name].values, np.float32),
                                           cfg.hidden_size, cfg.input_size, cfg.output_size)
    return dict(
        config=cfg, seeds=np.asarray(dataset["seed"].values, np.int64),
        eval_epochs=np.asarray(dataset["eval_epoch"].values, np.int64),
        init_params=params("init_params"), params=params("params"),
        snapshots=params("snapshots"),
        train_loss=np.asarray(dataset["train_loss"].values, np.float32),
        test_loss=np.asarray(dataset["test_loss"].values, np.float32),
        lr=np.asarray(dataset["lr"].values, np.float32),
        diverged=np.asarray(dataset["diverged"].values, bool),
        wall_s=float(dataset.attrs["wall_s"]), engine=str(dataset.attrs["engine"]),
        loss_every=int(dataset.attrs["loss_every"]),
        provenance=json.loads(dataset.attrs["provenance"]))


def probe_set(cfg: Config, n_samples: int = 64, probe_seed: int = 0):
    """``(X, Y)``: ``n_samples`` sequences of ``cfg``'s task in original units, the seed
    blog's generator after ``np.random.seed(probe_seed)`` (:func:`gru_jax.data.seed_dataset`)."""
    return seed_dataset(dataclasses.replace(cfg, n_samples=int(n_samples)), probe_seed)


def hidden_states(run, x: Optional[np.ndarray] = None, *, n_samples: int = 64,
                  probe_seed: int = 0, epoch=None) -> xr.Dataset:
    """Every seed's hidden-state trajectory on a probe set.

    Args:
      run: a :class:`gru_jax.Run`.
      x: the probe sequences ``(N, T, 2)`` in ORIGINAL units (value, flag); default
        :func:`probe_set` ``(run.config, n_samples, probe_seed)``.
      epoch: ``None``/``"final"`` (the trained params), ``"init"`` or an eval epoch.

    Returns:
      a Dataset: ``h (seed, sample, time, unit)`` float32, ``output (seed, sample)`` in original
      units (the network's sum), and ``value, flag (sample, time)``, ``target (sample,)``
      (the flagged sum, when ``x`` is the default probe set).
    """
    cfg = run.config
    target = None
    if x is None:
        x, target = probe_set(cfg, n_samples, probe_seed)
    x = np.asarray(x, np.float64)
    params, label = _params_at(run, epoch)
    scaled = scale_inputs(x, cfg.high)
    y, hs = map_models(forward, params, scaled)
    data = {"h": (("seed", "sample", "time", "unit"), np.asarray(hs, np.float32)),
            "output": (("seed", "sample"), np.asarray(y[..., 0], np.float32) * cfg.high,
                       {"units": "original"}),
            "value": (("sample", "time"), x[..., 0]), "flag": (("sample", "time"), x[..., 1])}
    if target is not None:
        data["target"] = (("sample",), np.asarray(target, np.float64)[:, 0])
    return xr.Dataset(data, coords={"seed": np.asarray(run.seeds, np.int64),
                                    "sample": np.arange(x.shape[0]),
                                    "time": np.arange(x.shape[1]),
                                    "unit": np.arange(cfg.hidden_size)},
                      attrs={"epoch": label, "probe_seed": int(probe_seed),
                             "high": int(cfg.high)})


def _params_at(run, epoch):
    """``(params with a seed axis, label)`` at ``epoch``."""
    if epoch in (None, "final"):
        return run.params, "final"
    if epoch == "init":
        return run.init_params, "init"
    eval_list = [int(e) for e in run.eval_epochs]
    if int(epoch) not in eval_list:
        raise ValueError(f"epoch {epoch} is not an eval epoch of this run ({eval_list[:3]} ...)")
    index = eval_list.index(int(epoch))
    return {m: {k: v[:, index] for k, v in sub.items()} for m, sub in run.snapshots.items()}, \
        str(int(epoch))


def write_hidden_states(dataset: xr.Dataset, path: str, format: str = "netcdf") -> str:
    """Write :func:`hidden_states` atomically: ``"netcdf"`` (the whole Dataset) or
    ``"parquet"`` (a long table ``seed, sample, time, unit, h``; needs pandas and pyarrow).
    Returns ``path``."""
    if format not in HIDDEN_FORMATS:
        raise ValueError(f"write_hidden_states: format must be one of {HIDDEN_FORMATS}, got "
                         f"{format!r}")
    if format == "netcdf":
        payload = bytes(dataset.to_netcdf())
        return write_atomic(path, lambda handle: handle.write(payload))
    table = dataset["h"].to_dataframe().reset_index()
    return write_atomic(path, lambda handle: table.to_parquet(handle, index=False))


def read_netcdf(path: str) -> xr.Dataset:
    """A Dataset written by ``to_netcdf`` (or :func:`write_hidden_states`), loaded into memory
    and the file closed."""
    with open(path, "rb") as handle:
        with xr.open_dataset(io.BytesIO(handle.read())) as dataset:
            return dataset.load()
