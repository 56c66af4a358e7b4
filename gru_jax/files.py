"""Atomic file writes: every file the package writes appears whole or not at all.

A reader (another process, a resumed run, a crash) sees either the old file or the complete
new one, never a partial file: the bytes go to a temporary file in the SAME directory (so the
rename cannot cross file systems), are flushed and fsynced, and the temporary is renamed over
the target with ``os.replace`` (atomic on POSIX). On any failure the temporary is removed and
the previous file, if any, is left as it was, and an ``OSError`` (a full disk, permissions, a
path under a file) becomes one :class:`WriteError` naming the file and the cause.
"""
from __future__ import annotations

import contextlib
import json
import os
import tempfile
from typing import IO, Any, BinaryIO, Callable, Iterator

import numpy as np

#: Temporaries are named ``.<target name>.<random>.tmp`` beside their target.
TEMPORARY_SUFFIX = ".tmp"


class WriteError(OSError):
    """A file could not be written (full disk, permissions, ...); the previous file, if any, is
    as it was and no temporary is left. ``errno`` is the cause's."""


def _write_error(path: str, err: OSError) -> WriteError:
    error = WriteError(f"cannot write {path}: {err.strerror or err}; the previous file, if "
                       "any, is unchanged")
    error.errno = err.errno
    return error


def is_temporary(name: str) -> bool:
    """Is ``name`` (a file name) one of :func:`atomic_open`'s temporaries?"""
    return name.startswith(".") and name.endswith(TEMPORARY_SUFFIX)


def remove_temporaries(directory: str) -> list[str]:
    """Remove the temporaries a killed writer left under ``directory`` (call it only while
    holding the directory's writer lock); returns their paths."""
    removed = []
    for root, _, names in os.walk(directory):
        for name in names:
            if is_temporary(name):
                with contextlib.suppress(OSError):
                    os.remove(os.path.join(root, name))
                    removed.append(os.path.join(root, name))
    return removed


@contextlib.contextmanager
def atomic_open(path: str, mode: str = "wb") -> Iterator[IO]:
    """``with atomic_open(path, "w") as handle: ...``: a handle ("w" text, "wb" binary) whose
    contents replace ``path`` atomically when the block ends without an error. Creates the
    parent directory if needed. An ``OSError`` raised on the way (by the block's writes too)
    becomes a :class:`WriteError` naming ``path``."""
    directory = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(directory, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".",
                                   suffix=TEMPORARY_SUFFIX, dir=directory)
    except OSError as err:
        raise _write_error(path, err) from err
    try:
        with os.fdopen(fd, mode) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException as err:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        if isinstance(err, OSError) and not isinstance(err, WriteError):
            raise _write_error(path, err) from err
        raise


def write_atomic(path: str, write: Callable[[BinaryIO], Any]) -> str:
    """Write ``path`` atomically; ``write(handle)`` writes the bytes to a binary handle."""
    with atomic_open(path, "wb") as handle:
        write(handle)
    return path


def write_text(path: str, text: str) -> str:
    """A text file (UTF-8), atomically; returns ``path``."""
    return write_atomic(path, lambda handle: handle.write(text.encode("utf-8")))


def write_json(path: str, payload: Any, indent=2) -> str:
    """``payload`` as JSON (UTF-8), atomically; returns ``path``."""
    text = json.dumps(payload, indent=indent) + ("\n" if indent is not None else "")
    return write_text(path, text)


def write_npy(path: str, array) -> str:
    """One array as a ``.npy`` file (no pickles; ``np.load`` reads it, mmap included)."""
    array = np.asarray(array)
    return write_atomic(path, lambda handle: np.save(handle, array, allow_pickle=False))


def write_npz(path: str, arrays: dict) -> str:
    """Arrays (name -> array) as an uncompressed ``.npz``, atomically."""
    return write_atomic(path, lambda handle: np.savez(handle, **arrays))
