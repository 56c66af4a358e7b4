"""What a training run starts from, per seed: named PRNG streams, datasets, initial params and
(for a replay) explicit sample orders, each checked before any compute.

Seed ``s`` has key ``jax.random.key(s)`` split into named streams
``init_key, data_key, order_key``; ``Config.{init,data,order}_seed`` replaces a stream by the
one of that fixed seed for every member.
"""
from __future__ import annotations

import functools
from typing import Any, Mapping, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from .config import is_int
from .data import Dataset, jax_datasets_fn, numpy_dataset_raw, prepare
from .engines import Engine
from .interop import from_state_dict
from .model import init_params
from .prng import fast_key


class Streams(NamedTuple):
    """Per-seed PRNG keys (raw uint32 key data, ``(S, 2)`` each)."""

    init: jax.Array
    data: jax.Array
    order: jax.Array


def check_seeds(seeds) -> list[int]:
    """Distinct ints (Python or numpy) in ``[0, 2**32)``; ValueError naming the offenders
    otherwise (floats such as 1.5 are refused, not truncated)."""
    if isinstance(seeds, (str, bytes)) or not hasattr(seeds, "__iter__"):
        raise ValueError(f"train: seeds must be a sequence of ints, got {seeds!r}")
    seeds = list(seeds)
    if not seeds:
        raise ValueError("train: seeds is empty; give at least one seed")
    not_int = [s for s in seeds if not is_int(s)]
    if not_int:
        raise ValueError(f"train: seeds must be ints in [0, 2**32), got {not_int[:5]}")
    seeds = [int(s) for s in seeds]
    bad = [s for s in seeds if not 0 <= s < 2**32]
    if bad:
        raise ValueError(f"train: seeds must be ints in [0, 2**32), got {bad[:5]}")
    if len(set(seeds)) != len(seeds):
        raise ValueError("train: seeds contain duplicates")
    return seeds


@jax.jit
def _streams_of(seed_values: jax.Array) -> jax.Array:
    """``(S,)`` uint32 seeds -> ``(S, 3, 2)``: the key data of ``split(key(s), 3)``."""
    keys = jax.vmap(lambda s: jax.random.split(jax.random.key(s), 3))(seed_values)
    return jax.random.key_data(keys)


def seed_streams(cfg, seeds: Sequence[int]) -> Streams:
    """Named keys for every seed, honouring the Config's fixed-stream seeds."""
    own = _streams_of(jnp.asarray(np.asarray(seeds, np.uint32)))
    columns = []
    for index, fixed in enumerate((cfg.init_seed, cfg.data_seed, cfg.order_seed)):
        column = own[:, index]
        if fixed is not None:
            column = jnp.broadcast_to(_streams_of(jnp.asarray([fixed], jnp.uint32))[0, index],
                                      column.shape)
        columns.append(column)
    return Streams(*columns)


#: Setup draws (initial params, datasets) run as jitted calls over at most this many seeds:
#: one compiled shape for any ensemble, and never one program over thousands of keys (a jitted,
#: vmapped QR over thousands of keys once deadlocked XLA:CPU).
SETUP_CHUNK = 256


def _in_chunks(fn, keys: jax.Array):
    """``fn`` (jitted, vmapped over keys ``(S, 2)``) applied to chunks of ``min(S,
    SETUP_CHUNK)`` keys, the last one padded by repeating its final key; results concatenated
    along the seed axis."""
    count = keys.shape[0]
    size = min(count, SETUP_CHUNK)
    parts = []
    for start in range(0, count, size):
        chunk = keys[start:start + size]
        pad = size - chunk.shape[0]
        if pad:
            chunk = jnp.concatenate([chunk, jnp.broadcast_to(chunk[-1:], (pad, 2))])
        parts.append(jax.tree_util.tree_map(lambda a: a[:size - pad], fn(chunk)))
    if len(parts) == 1:
        return parts[0]
    return jax.tree_util.tree_map(lambda *a: jnp.concatenate(a), *parts)


@functools.lru_cache(maxsize=16)
def _init_fn(cfg):
    """Jitted, vmapped :func:`gru_jax.model.init_params` over raw init keys (cached per
    Config); keys through :func:`gru_jax.prng.fast_key`: the same numbers, faster."""
    return jax.jit(jax.vmap(lambda k: init_params(cfg, fast_key(k))))


def as_state_dict(init) -> dict:
    """Explicit initial params given as a state dict or as params -> a flat state dict."""
    if not isinstance(init, Mapping):
        raise ValueError(f"train: init must be a state dict or params (a mapping), got "
                         f"{type(init).__name__}")
    if "gru.weight_ih_l0" in init:
        return dict(init)
    if not all(isinstance(sub, Mapping) for sub in init.values()):
        raise ValueError(f"train: init must be a state dict (torch names) or nested params "
                         f"{{'gru': {{...}}, 'linear': {{...}}}}, got keys {sorted(init)[:6]}")
    return {f"{m}.{k}": v for m, sub in init.items() for k, v in sub.items()}


def initial_params(cfg, n_seeds: int, streams: Streams, init=None):
    """Initial params ``(S, ...)``: drawn from the init streams, or the explicit ``init`` (state
    dict or params, with or without a seed axis), checked against the Config's shapes."""
    if init is None:
        return _in_chunks(_init_fn(cfg), streams.init)
    params = from_state_dict(as_state_dict(init))
    expected = (3 * cfg.hidden_size, cfg.input_size)
    w_ih = params["gru"]["weight_ih_l0"]
    if w_ih.shape[-2:] != expected:
        raise ValueError(f"train: init gru.weight_ih_l0 has shape {w_ih.shape}, the Config "
                         f"needs (..., {expected[0]}, {expected[1]})")
    if w_ih.ndim == 2:
        params = jax.tree_util.tree_map(lambda a: np.broadcast_to(a, (n_seeds,) + a.shape), params)
    elif w_ih.shape[0] != n_seeds:
        raise ValueError(f"train: init has a leading axis of {w_ih.shape[0]}, but there are "
                         f"{n_seeds} seeds")
    return jax.tree_util.tree_map(jnp.asarray, params)


def datasets(cfg, seeds, streams: Streams, engine: Engine, data=None) -> tuple[Dataset, bool]:
    """Every seed's dataset; returns ``(Dataset, shared)`` where ``shared`` means one dataset
    for all seeds (no seed axis).

    ``data``: explicit raw ``(X, Y)``, ``(N, L, 2)``/``(N, 1)`` shared by all seeds or with a
    leading seed axis. Otherwise the Config's generator: ``"jax"`` from the data streams (each
    seed's by ``engine.datasets``, one shared dataset by :func:`gru_jax.data.jax_datasets_fn`),
    or ``"numpy"`` (the seed's exact generator) per seed value. With a curriculum every Dataset
    leaf has a stage axis after the seed axis (:func:`gru_jax.data.stage_datasets`).
    """
    if data is not None and cfg.curriculum is not None:
        raise ValueError("train: explicit data and a curriculum cannot be combined (the "
                         "curriculum draws each stage's data)")
    if data is not None and cfg.per_row:
        raise ValueError(f"train: explicit data and Config.per_row_lengths="
                         f"{cfg.per_row_lengths} cannot be combined ((X, Y) do not say where "
                         f"each row's padding ends); use the Config's generator")
    if data is not None:
        if not (isinstance(data, (tuple, list)) and len(data) == 2):
            raise ValueError("train: data must be a pair (X, Y) of raw arrays (N, L, 2), (N, 1)")
        x, y = (_numeric(a, name) for a, name in zip(data, ("X", "Y")))
        _check_raw(x, y)
        if x.ndim == 4:
            if x.shape[0] != len(seeds) or y.shape[0] != len(seeds):
                raise ValueError(f"train: per-seed data has leading axis {x.shape[0]}, "
                                 f"but there are {len(seeds)} seeds")
            return jax.vmap(lambda a, b: prepare(cfg, a, b))(x, y), False
        return prepare(cfg, x, y), True
    if cfg.data_generator == "numpy":
        if cfg.data_seed is not None:
            return prepare(cfg, *numpy_dataset_raw(cfg, cfg.data_seed)), True
        prepared = [prepare(cfg, *numpy_dataset_raw(cfg, s)) for s in seeds]
        return jax.tree_util.tree_map(lambda *a: jnp.stack(a), *prepared), False
    if cfg.data_seed is not None:
        return jax_datasets_fn(cfg, False)(streams.data[0]), True
    return _in_chunks(engine.datasets, streams.data), False


def _numeric(array, name: str) -> np.ndarray:
    try:
        array = np.asarray(array)
    except (TypeError, ValueError) as err:
        raise ValueError(f"train: data {name} is not an array: {err}") from None
    if array.dtype.kind not in "biuf":
        raise ValueError(f"train: data {name} must be real numbers, got dtype {array.dtype}")
    return array


def _check_raw(x: np.ndarray, y: np.ndarray) -> None:
    """Explicit raw data: finite values and targets, flags (channel 1 of X) exactly 0 or 1."""
    if x.ndim < 1 or x.shape[-1] != 2:
        raise ValueError(f"train: data X must be (N, L, 2) (value, flag), got shape {x.shape}")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise ValueError("train: data X and Y must be finite (no NaN or inf)")
    flags = x[..., 1]
    bad = (flags != 0) & (flags != 1)
    if bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(f"train: data X[..., 1] is the flag and must be 0 or 1; X{where + (1,)} "
                         f"= {flags[where]!r}")


def check_orders(cfg, orders, n_seeds: int) -> np.ndarray:
    """Explicit sample orders, int ``(S, epochs, n_train)`` with indices in ``[0, n_train)``."""
    orders = np.asarray(orders)
    expected = (n_seeds, cfg.epochs, cfg.n_train)
    if orders.shape != expected:
        raise ValueError(f"train: orders must have shape (seeds, epochs, n_train) = {expected}, "
                         f"got {orders.shape}")
    if not np.issubdtype(orders.dtype, np.integer):
        raise ValueError(f"train: orders must be integers, got dtype {orders.dtype}")
    if orders.min() < 0 or orders.max() >= cfg.n_train:
        raise ValueError(f"train: orders hold indices outside [0, {cfg.n_train})")
    expected = np.arange(cfg.n_train)
    for seed_index in range(n_seeds):                # one seed at a time: bounded memory
        wrong = np.flatnonzero((np.sort(orders[seed_index], axis=-1) != expected).any(axis=-1))
        if wrong.size:
            raise ValueError(f"train: orders[{seed_index}, {int(wrong[0])}] is not a "
                             f"permutation of 0..{cfg.n_train - 1} (every epoch visits each "
                             f"training sample once)")
    return orders.astype(np.int32)


class Inputs(NamedTuple):
    """Explicit starting points in place of the seeds' streams (each optional; see
    :func:`gru_jax.train`): ``init`` params (state dict or params, optional seed axis), raw
    ``data`` ``(X, Y)`` (optional seed axis), sample ``orders`` ``(S, epochs, n_train)``
    (a replay)."""

    init: Any = None
    data: Any = None
    orders: Any = None

    def checked(self, cfg, n_seeds: int) -> "Inputs":
        """The orders checked (:func:`check_orders`); init and data are checked where they are
        used (:func:`initial_params`, :func:`datasets`)."""
        if self.orders is None:
            return self
        return self._replace(orders=check_orders(cfg, self.orders, n_seeds))

    def slice(self, start: int, stop: int) -> "Inputs":
        """Seeds ``[start, stop)``: per-seed arrays are cut, shared ones (no seed axis) passed
        on whole."""
        init, data, orders = self
        if init is not None:
            flat = as_state_dict(init)
            if np.asarray(flat["gru.weight_ih_l0"]).ndim == 3:
                init = {k: np.asarray(v)[start:stop] for k, v in flat.items()}
        if data is not None:
            x, y = data
            if np.asarray(x).ndim == 4:
                data = (np.asarray(x)[start:stop], np.asarray(y)[start:stop])
        if orders is not None:
            orders = np.asarray(orders)[start:stop]
        return Inputs(init, data, orders)
