"""A run directory's two small files, read and checked: ``config.json`` and ``run.json``.

Everything that reads them (loading a Run, resuming, the CLI) goes through here, so a file that
is missing, not JSON, or JSON of the wrong shape raises one :class:`RunError` naming the file,
the key, the value and what is allowed, never a ``KeyError`` or ``TypeError`` from deep inside.
"""
from __future__ import annotations

import json
import numbers
import os
from typing import Any

from .config import Config

FORMAT_VERSION = 2
READABLE_FORMATS = (1, 2)


class RunError(ValueError):
    """A run directory is missing, partial or corrupt."""


def read_json(directory: str, name: str) -> dict:
    """``directory/name`` as a JSON object; RunError if it is missing, not JSON or not an
    object."""
    path = os.path.join(directory, name)
    try:
        with open(path, encoding="utf-8") as handle:
            payload = json.load(handle)
    except FileNotFoundError:
        raise RunError(f"{directory} is not a complete run: missing {name}") from None
    except (json.JSONDecodeError, UnicodeDecodeError, OSError) as err:
        raise RunError(f"{path} is corrupt: {err}") from None
    if not isinstance(payload, dict):
        raise RunError(f"{path} is corrupt: expected a JSON object, got "
                       f"{type(payload).__name__} {_short(payload)}")
    return payload


def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


#: run.json's keys: (test, what is allowed); every key is optional except format_version.
_META_KEYS = {
    "format_version": (lambda v: _is_int(v) and v in READABLE_FORMATS,
                       f"one of {list(READABLE_FORMATS)}"),
    "complete": (lambda v: isinstance(v, bool), "true or false"),
    "n_seeds": (lambda v: _is_int(v) and v >= 1, "an int >= 1"),
    "seeds": (lambda v: isinstance(v, list) and len(v) >= 1
              and all(_is_int(s) and 0 <= s < 2**32 for s in v),
              "a non-empty list of ints in [0, 2**32)"),
    "epochs": (lambda v: _is_int(v) and v >= 1, "an int >= 1"),
    "loss_every": (lambda v: _is_int(v) and v >= 1, "an int >= 1"),
    "seed_batch": (lambda v: _is_int(v) and v >= 1, "an int >= 1"),
    "wall_s": (lambda v: isinstance(v, numbers.Real) and not isinstance(v, bool),
               "a number"),
    "engine": (lambda v: isinstance(v, str), "a string"),
    "provenance": (lambda v: isinstance(v, dict), "an object"),
}


def read_meta(directory: str) -> dict[str, Any]:
    """``run.json``, checked key by key (see ``_META_KEYS``); RunError naming the key, its
    value and what is allowed."""
    meta = read_json(directory, "run.json")
    path = os.path.join(directory, "run.json")
    if "format_version" not in meta:
        raise RunError(f"{path} is corrupt: it has no format_version")
    for key, (valid, allowed) in _META_KEYS.items():
        if key in meta and not valid(meta[key]):
            raise RunError(f"{path} is corrupt: {key} is {_short(meta[key])}, expected "
                           f"{allowed}")
    if "seeds" in meta and len(set(meta["seeds"])) != len(meta["seeds"]):
        raise RunError(f"{path} is corrupt: seeds holds duplicates")
    return meta


def read_config(directory: str) -> Config:
    """``config.json`` as a Config; RunError naming the file and the field otherwise."""
    values = read_json(directory, "config.json")
    try:
        return Config.from_dict(values)
    except (TypeError, ValueError) as err:
        raise RunError(f"{os.path.join(directory, 'config.json')} is not a valid Config: "
                       f"{err}") from None
