"""The census computed once per run: cached in the run directory, reused by every writer.

``cached_census(run_dir)`` returns the run's :class:`gru_jax.analysis.census.Census`, from
``RUN_DIR/analysis/census-<key>.npz`` when that file exists, else computed and written there
(atomically). The key hashes what the census depends on: the run's configuration and arrays
(``config.json`` and every array file), the census's options, :data:`ANALYSIS_VERSION` and the
package version; a changed run, option or analysis gives a new key, so a stale census is never
read. A run directory that cannot be written (a read-only checkout) is analysed without
caching.

The file is an ``.npz`` of the census's arrays plus one JSON string describing the rest (no
pickle: loading runs no code).
"""
from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
from typing import Optional

import numpy as np

from ..files import atomic_open
from ..run import Run
from ..version import __version__
from . import mixture
from .census import Census, Level, census

#: Bump when the census's definition changes (features, fitting, naming): old caches are
#: then ignored.
ANALYSIS_VERSION = 1
CACHE_DIR = "analysis"
_TYPES = {"Census": Census, "Level": Level, "Partition": mixture.Partition,
          "Mixture": mixture.Mixture}


def _pack(obj, path: str, arrays: dict):
    """``obj`` -> a JSON-able description; arrays go into ``arrays`` under ``path``."""
    if isinstance(obj, np.ndarray):
        arrays[path] = obj
        return {"array": path}
    if isinstance(obj, np.generic):
        return obj.item()
    if dataclasses.is_dataclass(obj):
        return {"type": type(obj).__name__, "fields": {
            f.name: _pack(getattr(obj, f.name), f"{path}/{f.name}", arrays)
            for f in dataclasses.fields(obj)}}
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):
        return {"type": type(obj).__name__, "fields": {
            name: _pack(getattr(obj, name), f"{path}/{name}", arrays) for name in obj._fields}}
    if isinstance(obj, dict):
        return {"items": [[_pack(k, f"{path}/k{i}", arrays), _pack(v, f"{path}/v{i}", arrays)]
                          for i, (k, v) in enumerate(obj.items())]}
    if isinstance(obj, (list, tuple)):
        return {"list" if isinstance(obj, list) else "tuple":
                [_pack(v, f"{path}/{i}", arrays) for i, v in enumerate(obj)]}
    return obj


def _unpack(desc, arrays):
    if isinstance(desc, dict):
        if "array" in desc:
            return arrays[desc["array"]]
        if "type" in desc:
            fields = {k: _unpack(v, arrays) for k, v in desc["fields"].items()}
            return _TYPES[desc["type"]](**fields)
        if "items" in desc:
            return {_unpack(k, arrays): _unpack(v, arrays) for k, v in desc["items"]}
        if "list" in desc:
            return [_unpack(v, arrays) for v in desc["list"]]
        if "tuple" in desc:
            return tuple(_unpack(v, arrays) for v in desc["tuple"])
    return desc


def run_key(run_dir: str, options: dict) -> str:
    """The cache key: sha256 of the run's configuration and array files, the options, the
    analysis version and the package version (first 16 hex digits)."""
    digest = hashlib.sha256()
    digest.update(json.dumps([ANALYSIS_VERSION, __version__, sorted(options.items())],
                             default=str).encode())
    names = ["config.json"] + sorted(n for n in os.listdir(run_dir) if n.endswith(".npz"))
    arrays = os.path.join(run_dir, "arrays")
    for root, _, files in sorted(os.walk(arrays)):                 # format 2: arrays/**
        names += sorted(os.path.relpath(os.path.join(root, n), run_dir) for n in files)
    for name in names:
        digest.update(name.encode())
        with open(os.path.join(run_dir, name), "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()[:16]


def cache_path(run_dir: str, options: dict) -> str:
    return os.path.join(run_dir, CACHE_DIR, f"census-{run_key(run_dir, options)}.npz")


def save(result: Census, path: str) -> str:
    """Write a census to ``path`` (npz + a JSON description), atomically."""
    arrays: dict = {}
    description = _pack(result, "census", arrays)
    buffer = io.BytesIO()
    np.savez(buffer, __description__=np.array(json.dumps(description)),
             **{k.replace("/", "|"): v for k, v in arrays.items()})
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with atomic_open(path, "wb") as handle:
        handle.write(buffer.getvalue())
    return path


def load(path: str) -> Census:
    """Read a census written by :func:`save` (no pickle)."""
    with np.load(path, allow_pickle=False) as stored:
        arrays = {k.replace("|", "/"): stored[k] for k in stored.files if k != "__description__"}
        description = json.loads(str(stored["__description__"]))
    return _unpack(description, arrays)


def cached_census(run_dir: str, run: Optional[Run] = None, **options) -> Census:
    """The census of the run in ``run_dir`` (options as :func:`gru_jax.analysis.census.census`),
    read from its cache or computed and cached (module docstring)."""
    path = cache_path(run_dir, options)
    if os.path.exists(path):
        try:
            return load(path)
        except (OSError, ValueError, KeyError, TypeError):
            pass                          # a damaged cache file: computed again below
    result = census(run if run is not None else Run.load(run_dir), **options)
    try:
        save(result, path)
    except OSError:
        pass                              # a read-only run directory: no cache
    return result
