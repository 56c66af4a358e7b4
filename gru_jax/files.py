"""Atomic file writes: every file the package writes appears whole or not at all.

A file is written to a temporary name in its own directory, flushed and fsynced, then renamed
over the target (``os.replace`` is atomic on POSIX filesystems). On any failure the temporary
file is removed and the previous file, if any, is left as it was.
"""
from __future__ import annotations

import contextlib
import json
import os
import tempfile
from typing import IO, Iterator

import numpy as np


@contextlib.contextmanager
def atomic_open(path: str, mode: str = "w") -> Iterator[IO]:
    """``with atomic_open(path) as handle: handle.write(...)``; ``mode`` "w" (text) or "wb"."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp",
                               dir=directory)
    try:
        with os.fdopen(fd, mode) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise


def write_text(path: str, text: str) -> str:
    """Write ``text`` to ``path`` atomically; returns ``path``."""
    with atomic_open(path) as handle:
        handle.write(text)
    return path


def write_json(path: str, payload, indent=2) -> str:
    """Write ``payload`` as JSON to ``path`` atomically; returns ``path``."""
    with atomic_open(path) as handle:
        json.dump(payload, handle, indent=indent)
    return path


def write_npz(path: str, arrays: dict) -> str:
    """Write ``arrays`` (name -> array) as an uncompressed ``.npz`` atomically."""
    with atomic_open(path, "wb") as handle:
        np.savez(handle, **arrays)
    return path
