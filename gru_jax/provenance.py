"""Where and how a run was made: versions, devices, host, command line, git commit, start time.

:func:`collect` returns a JSON-ready dict that the trainer stores in :attr:`gru_jax.Run.provenance`
(``run.json``'s ``"provenance"``; :meth:`gru_jax.Run.save` adds ``end_time``). Every entry is
best effort: a missing package reads ``None``, and the git entries are absent when gru_jax is
not imported from a git checkout (an installed wheel) or git is unavailable or slow.
"""
from __future__ import annotations

import importlib.metadata
import os
import socket
import subprocess
import sys
from typing import Optional

import jax

from .run import utc_now
from .version import __version__

#: Packages whose versions are recorded (distribution names).
PACKAGES = ("gru_jax", "jax", "jaxlib", "numpy", "optax", "flax")
GIT_TIMEOUT_S = 5.0


def collect(command: Optional[str] = None) -> dict:
    """The provenance of a run started now.

    Args:
      command: the command line to record; default ``" ".join(sys.argv)``.

    Returns:
      ``{"versions": {package: version or None}, "device_kind": str, "device_count": int,
      "platform": str, "process_count": int, "host": str, "command": str,
      "start_time": ISO 8601 UTC, "git_commit": 40 hex digits, "git_dirty": bool}`` (the
      two git keys only when the package is imported from a git checkout).
    """
    devices = jax.devices()
    record = {
        "versions": {name: _version(name) for name in PACKAGES},
        "device_kind": devices[0].device_kind if devices else "",
        "device_count": len(devices),
        "platform": devices[0].platform if devices else "",
        "process_count": jax.process_count(),
        "host": socket.gethostname(),
        "command": " ".join(sys.argv) if command is None else str(command),
        "start_time": utc_now(),
    }
    record["versions"]["gru_jax"] = __version__     # the imported copy, even if not installed
    record.update(git_state(os.path.dirname(os.path.abspath(__file__))))
    return record


def _version(distribution: str) -> Optional[str]:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def git_state(directory: str, timeout_s: float = GIT_TIMEOUT_S) -> dict:
    """``{"git_commit": sha, "git_dirty": bool}`` if ``directory``'s ``__init__.py`` is tracked
    by a git checkout, else ``{}`` (no git, not a checkout, an unrelated enclosing repository,
    a timeout: never an error).

    ``git_dirty``: tracked files differ from the commit (untracked files do not count).
    """
    def git(*args) -> Optional[str]:
        try:
            done = subprocess.run(["git", "-C", directory, *args], capture_output=True,
                                  text=True, timeout=timeout_s, check=False)
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    # the package itself must be tracked: a venv inside some other repository is not a checkout
    if git("ls-files", "--error-unmatch", "__init__.py") is None:
        return {}
    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no")
    if commit is None or status is None:
        return {}
    return {"git_commit": commit, "git_dirty": bool(status)}
