"""A sweep's grid: axes of Config values, their cross product as cells, checked up front.

A grid is an ordered mapping ``{key: values}``. A key that is a Config field takes a
non-empty list of that field's values (``{"learning_rate": [1e-4, 1e-3]}``). Any other key
names an axis of several fields at once: a mapping ``{label: {field: value, ...}}``
(``{"task": {"blog": {}, "mixed": {"seq_len": 8, "delta": 0.5}}}``). The cells are the cross
product of the axes in grid order, the LAST key varying fastest; a cell is the dict
``{key: value or label}`` and its Config the base Config with those overrides.

Every cell's Config is built (and so validated) before anything trains: a bad key or value
raises ValueError naming the key, the value and the Config's own message.
"""
from __future__ import annotations

import dataclasses
import itertools
import json
from collections.abc import Mapping
from typing import Any

from .config import RANGE_FIELDS, Config, ProgramConfig


def _field_names() -> list[str]:
    return [f.name for f in dataclasses.fields(Config)]


def check_grid(grid) -> dict[str, Any]:
    """The grid as a dict in its order, each axis checked for shape (not yet for values)."""
    if not isinstance(grid, Mapping) or not grid:
        raise ValueError(f"sweep: grid must be a non-empty mapping {{key: values}}, got {grid!r}")
    fields = _field_names()
    checked = {}
    for key, values in grid.items():
        if not isinstance(key, str):
            raise ValueError(f"sweep: grid key {key!r} must be a string")
        if key in fields:
            if isinstance(values, (str, bytes, Mapping)) or not hasattr(values, "__iter__"):
                raise ValueError(f"sweep: grid {key} must be a list of values, got {values!r}")
            values = list(values)
            if not values:
                raise ValueError(f"sweep: grid {key} has no values")
            if len({json.dumps(jsonable(v)) for v in values}) != len(values):
                raise ValueError(f"sweep: grid {key} repeats a value: {values!r}")
        elif isinstance(values, Mapping):
            if not values:
                raise ValueError(f"sweep: grid axis {key} has no labels")
            for label, overrides in values.items():
                if not isinstance(label, str) or not isinstance(overrides, Mapping):
                    raise ValueError(f"sweep: grid axis {key} must map labels (str) to "
                                     f"overrides {{field: value}}, got {label!r}: {overrides!r}")
                unknown = sorted(set(overrides) - set(fields))
                if unknown:
                    raise ValueError(f"sweep: grid axis {key}, label {label!r}: {unknown} are "
                                     f"not Config fields")
                clash = sorted(set(overrides) & set(grid))
                if clash:
                    raise ValueError(f"sweep: grid axis {key}, label {label!r} sets {clash}, "
                                     f"which the grid also sweeps")
            values = {label: dict(overrides) for label, overrides in values.items()}
        else:
            raise ValueError(f"sweep: grid key {key!r} is not a Config field (known: "
                             f"{', '.join(fields)}) nor a named axis (a mapping of labels to "
                             f"overrides)")
        checked[key] = values
    return checked


def expand(base: Config, grid) -> tuple[list[dict], list[Config]]:
    """``(cells, configs)``: every cell's ``{key: value or label}`` and its Config, in grid
    order (last key fastest). ValueError naming the cell and the field if one is invalid."""
    grid = check_grid(grid)
    axes = [list(values) for values in grid.values()]
    cells, configs = [], []
    for combination in itertools.product(*axes):
        cell = dict(zip(grid, combination))
        cells.append(cell)
        configs.append(cell_config(base, grid, cell))
    return cells, configs


def cell_config(base: Config, grid: dict, cell: dict) -> Config:
    """The Config of one cell (see :func:`expand`)."""
    overrides = {}
    for key, value in cell.items():
        overrides.update(grid[key][value] if isinstance(grid[key], dict) else {key: value})
    try:
        return dataclasses.replace(base, **overrides)
    except (TypeError, ValueError) as err:
        raise ValueError(f"sweep: the cell {describe(cell)} is not a valid Config: {err}") from None


def describe(cell: dict) -> str:
    """``key=value, ...`` of a cell."""
    return ", ".join(f"{key}={value}" for key, value in cell.items())


def programs(configs: list[Config]) -> list[list[int]]:
    """Cells that can share one compiled program (equal :class:`gru_jax.config.ProgramConfig`:
    they differ only in per-member fields), as lists of cell indices in grid order, groups in
    order of first appearance."""
    groups: dict[ProgramConfig, list[int]] = {}
    for index, cfg in enumerate(configs):
        groups.setdefault(ProgramConfig(cfg), []).append(index)
    return list(groups.values())


def jsonable(value):
    """Tuples -> lists (recursively), so a grid compares equal to itself read back from JSON."""
    if isinstance(value, (tuple, list)):
        return [jsonable(v) for v in value]
    if isinstance(value, Mapping):
        return {k: jsonable(v) for k, v in value.items()}
    return value


def to_json(grid) -> dict:
    """The grid as JSON-ready values (tuples as lists)."""
    return {key: jsonable(values) for key, values in check_grid(grid).items()}


def parse_axis(text: str, kinds: dict) -> tuple[str, list]:
    """``"learning_rate=1e-4,1e-3"`` (the CLI's ``--grid``) -> ``("learning_rate", [1e-4,
    1e-3])``, each value converted by the field's kind (``kinds[field]``: int, float, str or
    ``"optional int"``: ``none`` or an int). ValueError naming the key otherwise."""
    if "=" not in text:
        raise ValueError(f"--grid must be FIELD=V1,V2,..., got {text!r}")
    key, _, rest = text.partition("=")
    key = key.strip().replace("-", "_")
    if key in ("curriculum",) + RANGE_FIELDS:
        option = "--" + key.replace("_", "-")
        raise ValueError(f"--grid {key}: its values hold commas; sweep it from Python (gj.sweep) "
                         f"or fix one with {option}")
    if key not in kinds:
        raise ValueError(f"--grid {key}: not a Config field (known: {', '.join(kinds)})")
    words = [w.strip() for w in rest.split(",") if w.strip()]
    if not words:
        raise ValueError(f"--grid {key}: no values given")
    kind = kinds[key]
    values = []
    for word in words:
        try:
            if kind == "optional int":
                values.append(None if word.lower() == "none" else int(word))
            else:
                values.append(kind(word))
        except ValueError:
            raise ValueError(f"--grid {key}: {word!r} is not {getattr(kind, '__name__', kind)}"
                             ) from None
    return key, values
