"""JAX's persistent compilation cache, on by default for ``gj.train`` and the command line.

A program XLA compiled once (the training chunk, the init, the evaluations) is written to disk
and loaded by the next process that builds the same program, so a second identical
``gru-jax train`` starts training after loading, not compiling. It changes no number: a cached
executable is the one compiled from the same HLO for the same devices.

Where: ``$GRU_JAX_CACHE/xla/jaxlib-<version>`` (default ``~/.cache/gru_jax/xla/...``, beside
the native kernels), one directory per jaxlib version: an executable another jaxlib wrote is
never loaded (the project's floor tests, on jaxlib 0.5.1, computed other numbers from programs
the current jaxlib had cached in a shared directory); at most :data:`MAX_BYTES` (JAX drops
the least recently used entries beyond). The environment variable
``GRU_JAX_COMPILATION_CACHE`` chooses: ``0`` (or ``off``, ``false``, ``no``) turns it
off, a path puts it there. A cache the process already has (``JAX_COMPILATION_CACHE_DIR``, or
``jax.config.update("jax_compilation_cache_dir", ...)``: the test suite sets one) is left as
it is, with its own settings.

JAX trusts its cache: executables are loaded from it without checks, so keep it where only you
can write (the default is in your home directory).
"""
from __future__ import annotations

import os
from importlib import metadata
from typing import Optional

import jax
from jax.experimental.compilation_cache import compilation_cache as jax_cache

from .native.build import cache_dir

#: The environment variable: ``0``/``off``/``false``/``no`` turns the cache off; a path sets it.
ENVIRONMENT = "GRU_JAX_COMPILATION_CACHE"
OFF = ("0", "off", "false", "no")
#: The cache's bound (bytes); least recently used entries are dropped beyond it.
MAX_BYTES = 1 << 30
#: Every program is written, however fast it compiled: a start-up compiles some twenty, many
#: under 0.2 s each, and together they are seconds.
MIN_COMPILE_SECONDS = 0.0


#: The oldest jaxlib whose cached executables were checked to compute what a fresh compilation
#: computes; on older ones the cache stays off (jaxlib 0.5.1, the floor, gave other numbers from
#: a loaded executable than from the same program freshly compiled: tests/test_mixture.py's
#: mixture fits passed on the first run and failed on the second).
OLDEST_JAXLIB = (0, 10)


def supported() -> bool:
    """Whether this process's jaxlib is at least :data:`OLDEST_JAXLIB`."""
    major_minor = metadata.version("jaxlib").split(".")[:2]
    return tuple(int("".join(ch for ch in part if ch.isdigit()) or 0)
                 for part in major_minor) >= OLDEST_JAXLIB


def default_directory() -> str:
    """``$GRU_JAX_CACHE/xla/jaxlib-<version>``, default ``~/.cache/gru_jax/xla/jaxlib-<version>``:
    one directory per jaxlib version."""
    return str(cache_dir() / "xla" / f"jaxlib-{metadata.version('jaxlib')}")


def enable() -> Optional[str]:
    """Turn the persistent cache on for this process, unless it is off or already set.

    Call it before the first compilation that should be cached (``gj.train`` and the command
    line do). Idempotent.

    Returns:
      the cache directory in use, or None when it is off (``GRU_JAX_COMPILATION_CACHE=0``, or a
      jaxlib older than :data:`OLDEST_JAXLIB`).
    """
    choice = os.environ.get(ENVIRONMENT, "").strip()
    if choice.lower() in OFF or not supported():
        return None
    current = jax.config.jax_compilation_cache_dir
    if current:
        return current                  # the user's (or the test suite's): theirs to tune
    directory = choice or default_directory()
    os.makedirs(directory, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", directory)
    if jax.config.jax_compilation_cache_max_size == -1:              # JAX's default: unbounded
        jax.config.update("jax_compilation_cache_max_size", MAX_BYTES)
    if jax.config.jax_persistent_cache_min_compile_time_secs == 1.0:  # JAX's default
        jax.config.update("jax_persistent_cache_min_compile_time_secs", MIN_COMPILE_SECONDS)
    # JAX decides once per process whether the cache is used, at its first compilation; a
    # process that compiled something before this call would otherwise keep it off.
    jax_cache.reset_cache()
    return directory
