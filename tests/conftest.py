"""Shared test setup: strict JAX shapes, and PyTorch as an optional live reference.

Tests compare gru_jax against independent references. When torch is importable (CI installs
it) they compute the reference live; otherwise they read ``tests/fixtures/*.npz``, made by
``experiments/make_fixtures.py`` from the same functions in ``tests/torch_reference.py``.
"""
import os
import tempfile
from importlib import metadata

# One XLA compilation cache on disk for the whole suite, set before jax is imported so the
# subprocesses the CLI, SIGKILL and distributed tests start inherit it: the same small
# programs are otherwise compiled again by every worker and every subprocess. It changes no
# number (a cached executable is the one compiled from the same HLO).
# One directory per jaxlib version: CI runs the suite on the current jaxlib and then on the
# floors' (0.5.1) on one machine, and jaxlib 0.5.1 computed other numbers from the executables
# the current one had written (tests/test_mixture.py failed there, and passed on a fresh cache).
# Not at all on a jaxlib older than 0.10 (gru_jax.compilation_cache.OLDEST_JAXLIB): 0.5.1
# computed other numbers from loaded executables than from fresh compilations.
_JAXLIB = metadata.version("jaxlib")
if tuple(int(p) for p in _JAXLIB.split(".")[:2]) >= (0, 10):
    os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", os.path.join(
        tempfile.gettempdir(), f"gru_jax_tests_xla_cache_{os.getuid()}_jaxlib-{_JAXLIB}"))
    os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.2")
    os.environ.setdefault("JAX_COMPILATION_CACHE_MAX_SIZE", str(512 * 2**20))  # LRU beyond

import jax  # noqa: E402
import pytest  # noqa: E402

from torch_reference import HAVE_TORCH  # noqa: E402

# implicit rank promotion hides shape bugs (Equinox's tests do the same)
jax.config.update("jax_numpy_rank_promotion", "raise")


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "torch: needs PyTorch (live reference); skipped without it")


def pytest_collection_modifyitems(config, items):
    if HAVE_TORCH:
        return
    skip = pytest.mark.skip(reason="torch not installed: the fixture-based tests cover this")
    for item in items:
        if item.get_closest_marker("torch") is not None:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def have_torch() -> bool:
    """True when the tests compute the PyTorch reference live instead of reading fixtures."""
    return HAVE_TORCH
