"""One writer per run directory: an advisory lock held for the whole time a run is written.

``with run_lock(out): ...`` creates ``out`` if needed, then takes an exclusive ``flock`` on
``out/.gru_jax.lock`` before anything else is written there, and records the holder's process
id and host in that file. A second writer (another process, or the same process through a
second ``run_lock``) is refused at once with :class:`RunLockedError` naming the holder. The
kernel releases an ``flock`` when its process dies, so the lock of a killed run is stale at
once and never blocks a resume. On release the lock file is removed (and ``out`` too when this
lock created it and nothing else was written there).

The lock file is the one file not written through :mod:`gru_jax.files`: a lock must keep its
inode (a renamed-over file would be another lock), so its few bytes are written in place; a
reader that finds them partial reports the holder as unknown.

``fcntl.flock`` (POSIX; on NFS, Linux maps it to a byte-range lock of the server's lock
manager) rather than the ``filelock`` package: filelock truncates the file on every attempt,
which would erase the holder's name the refusal should print.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
from typing import Iterator

LOCK_FILE = ".gru_jax.lock"


class RunLockedError(BlockingIOError):
    """Another writer holds the run directory's lock."""


def holder(directory: str) -> str:
    """``"process <pid> on <host>"`` of the lock's holder, as its lock file records it."""
    try:
        with open(os.path.join(directory, LOCK_FILE)) as handle:
            info = json.load(handle)
        return f"process {int(info['pid'])} on {info['host']}"
    except (OSError, ValueError, KeyError, TypeError):
        return "another process (it has not yet recorded its id)"


def _open_locked(path: str) -> int:
    """Open ``path`` and lock it; retries while the file it locked was removed meanwhile (the
    previous holder removes it on release, so a lock on the unlinked inode would be no lock)."""
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise
        try:
            same = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            return fd
        os.close(fd)


@contextlib.contextmanager
def run_lock(directory: str) -> Iterator[None]:
    """Hold ``directory``'s writer lock for the block (see the module docstring).

    Raises :class:`RunLockedError` naming the holder when another writer has it, and an
    ``OSError`` naming the directory when it cannot be created (a path under a file,
    permissions).
    """
    created = not os.path.exists(directory)
    try:
        os.makedirs(directory, exist_ok=True)
    except OSError as err:
        raise type(err)(err.errno, f"cannot create the run directory {directory!r}: "
                                   f"{err.strerror or err}") from None
    path = os.path.join(directory, LOCK_FILE)
    try:
        fd = _open_locked(path)
    except BlockingIOError:
        raise RunLockedError(
            f"{directory} is being written by {holder(directory)}: one writer per run "
            f"directory; wait for it to finish, or stop it and resume (a killed writer's lock "
            f"is released by the system)") from None
    try:
        record = json.dumps({"pid": os.getpid(), "host": socket.gethostname()}).encode()
        os.ftruncate(fd, 0)
        os.pwrite(fd, record, 0)
        yield
    finally:
        with contextlib.suppress(OSError):
            os.remove(path)                    # while still held: see _open_locked
        os.close(fd)
        if created:
            with contextlib.suppress(OSError):
                os.rmdir(directory)            # only if nothing else was written there
