"""Atomic file writes: every file the package writes appears whole or not at all.

A reader (another process, a resumed run, a crash) sees either the old file or the complete
new one, never a partial file: the bytes go to a temporary file in the SAME directory (so the
rename cannot cross file systems), are flushed and fsynced, and the temporary is renamed over
the target with ``os.replace`` (atomic on POSIX). On any failure the temporary is removed and
the previous file, if any, is left as it was, and an ``OSError`` (a full disk, permissions, a
path under a file) becomes one :class:`WriteError` naming the file and the cause.

Files are created with the process's umask (``0o666 & ~umask``: 0644 under the usual 022,
0664 under 002 for a group's shared directory), directories likewise (``0o777 & ~umask``), as
``open`` and ``os.makedirs`` would; ``tempfile.mkstemp`` would make every file 0600.
"""
from __future__ import annotations

import contextlib
import json
import os
import secrets
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


def _create_temporary(path: str) -> tuple[int, str]:
    """A new, empty temporary beside ``path``, opened for writing: ``(fd, temporary path)``.

    Created with ``os.open(..., O_CREAT | O_EXCL, 0o666)``, so the kernel applies the umask
    (``mkstemp`` forces 0600); a name that exists already is drawn again."""
    directory, name = os.path.split(os.path.abspath(path))
    while True:
        tmp = os.path.join(directory, f".{name}.{secrets.token_hex(4)}{TEMPORARY_SUFFIX}")
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666), tmp
        except FileExistsError:
            continue


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
    parent directory if needed; the file and the directory get the umask's modes. An
    ``OSError`` raised on the way (by the block's writes too) becomes a :class:`WriteError`
    naming ``path``."""
    directory = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(directory, exist_ok=True)
        fd, tmp = _create_temporary(path)
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


class OptionRequiredError(FileExistsError):
    """Something is already on disk, and one option would let the call go on: ``resume`` (continue
    the run or sweep there) or ``overwrite`` (replace the files).

    The message names the option as the caller spells it: the library's keyword argument
    (``pass resume=True``) in ``str(err)``, the command line's flag (``add --resume``) in
    :meth:`for_command_line`. ``template`` holds ``{option}`` where that goes.
    """

    def __init__(self, template: str, option: str):
        self.template, self.option = template, option
        super().__init__(self._spell(f"pass {option}=True"))

    def _spell(self, option: str) -> str:
        return self.template.replace("{option}", option)

    def for_command_line(self) -> str:
        """The message with the flag: ``... add --resume to continue it``."""
        return self._spell(f"add --{self.option.replace('_', '-')}")
