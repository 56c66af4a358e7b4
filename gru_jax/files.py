"""Atomic file writes: every file of a run directory goes through :func:`write_atomic`.

A reader (another process, a resumed run, a crash) sees either the old file or the complete
new one, never a partial file: the bytes go to a temporary file in the SAME directory (so the
rename cannot cross file systems), are flushed and fsynced, and the temporary is renamed over
the target with ``os.replace`` (atomic on POSIX and Windows).
"""
from __future__ import annotations

import json
import os
import tempfile
from typing import Any, BinaryIO, Callable

import numpy as np


def write_atomic(path: str, write: Callable[[BinaryIO], Any]) -> str:
    """Write ``path`` atomically; ``write(handle)`` writes the bytes to a binary file handle.

    Creates the parent directory if needed. On any error the temporary file is removed and
    the old ``path`` (if any) is left untouched. Returns ``path``.
    """
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix="." + os.path.basename(path) + ".",
                               suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return path


def write_json(path: str, payload: Any) -> str:
    """``payload`` as indented JSON (UTF-8), atomically."""
    text = json.dumps(payload, indent=2) + "\n"
    return write_atomic(path, lambda handle: handle.write(text.encode("utf-8")))


def write_npy(path: str, array) -> str:
    """One array as a ``.npy`` file (no pickles; ``np.load`` reads it, mmap included)."""
    array = np.asarray(array)
    return write_atomic(path, lambda handle: np.save(handle, array, allow_pickle=False))


def write_text(path: str, text: str) -> str:
    """A text file (UTF-8), atomically."""
    return write_atomic(path, lambda handle: handle.write(text.encode("utf-8")))
