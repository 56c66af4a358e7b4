"""gru_jax.compilation_cache: a persistent XLA cache by default for gj.train and the CLI, so a
second identical process loads the programs the first compiled; off with
GRU_JAX_COMPILATION_CACHE=0; a cache the process already has (the test suite's) is kept."""
import os
import subprocess
import sys

import jax
import pytest

from gru_jax import compilation_cache

#: the cache is off on a jaxlib older than OLDEST_JAXLIB (the floors' 0.5.1)
needs_cache = pytest.mark.skipif(not compilation_cache.supported(),
                                 reason="persistent cache off on this jaxlib")

# a fresh process trains 2 seeds x 3 epochs and prints the cache's hits and misses
TRAIN = """
import jax, jax.monitoring
events = []
jax.monitoring.register_event_listener(lambda name, **kw: events.append(name))
import gru_jax as gj
gj.train(gj.Config(epochs=3, n_samples=200, eval_every=1), seeds=range(2), progress=False)
count = lambda end: sum(e.endswith(end) for e in events)
print(jax.config.jax_compilation_cache_dir, jax.config.jax_compilation_cache_max_size,
      count("/cache_hits"), count("/cache_misses"))
"""


def _train_in_a_fresh_process(**env) -> list[str]:
    suite = ("JAX_COMPILATION_CACHE_DIR", "JAX_COMPILATION_CACHE_MAX_SIZE",
             "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", compilation_cache.ENVIRONMENT)
    environment = {k: v for k, v in os.environ.items() if k not in suite}
    environment.update(env)
    done = subprocess.run([sys.executable, "-c", TRAIN], capture_output=True, text=True,
                          env=environment, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.split()


@needs_cache
def test_a_second_process_loads_what_the_first_compiled(tmp_path):
    directory = str(tmp_path / "xla")
    where, bound, hits, misses = _train_in_a_fresh_process(GRU_JAX_COMPILATION_CACHE=directory)
    assert where == directory and int(bound) == compilation_cache.MAX_BYTES
    assert int(hits) == 0 and int(misses) >= 2                   # init and training chunk
    entries = set(os.listdir(directory))
    assert len(entries) >= 2
    where, _, hits, misses = _train_in_a_fresh_process(GRU_JAX_COMPILATION_CACHE=directory)
    assert int(hits) >= 2 and int(misses) == 0                   # every program loaded
    assert set(os.listdir(directory)) == entries                 # nothing compiled anew


def test_off_with_the_environment_variable(tmp_path):
    where, _, hits, misses = _train_in_a_fresh_process(GRU_JAX_COMPILATION_CACHE="0",
                                                       GRU_JAX_CACHE=str(tmp_path))
    assert where == "None" and int(hits) == int(misses) == 0
    assert not os.path.exists(tmp_path / "xla")


def test_default_directory_is_under_the_user_cache_one_per_jaxlib(monkeypatch, tmp_path):
    import jaxlib
    version = f"jaxlib-{jaxlib.__version__}"
    monkeypatch.setenv("GRU_JAX_CACHE", str(tmp_path / "cache"))
    assert compilation_cache.default_directory() == str(tmp_path / "cache" / "xla" / version)
    monkeypatch.delenv("GRU_JAX_CACHE")
    assert compilation_cache.default_directory() == os.path.join(
        os.path.expanduser("~"), ".cache", "gru_jax", "xla", version)


@needs_cache
def test_a_cache_the_process_has_is_kept(monkeypatch):
    """The suite's own cache (tests/conftest.py) stays: enable() changes nothing."""
    suite = jax.config.jax_compilation_cache_dir
    assert suite and os.environ["JAX_COMPILATION_CACHE_DIR"] == suite
    monkeypatch.setenv(compilation_cache.ENVIRONMENT, "/nonexistent/elsewhere")
    assert compilation_cache.enable() == suite
    assert jax.config.jax_compilation_cache_dir == suite
    monkeypatch.setenv(compilation_cache.ENVIRONMENT, "0")
    assert compilation_cache.enable() is None


def test_off_on_a_jaxlib_older_than_the_checked_one(monkeypatch):
    """jaxlib 0.5.1 computed other numbers from loaded executables than from fresh ones: the
    cache stays off below OLDEST_JAXLIB, whatever else asks for it."""
    monkeypatch.setattr(compilation_cache.metadata, "version", lambda name: "0.5.1")
    assert not compilation_cache.supported()
    monkeypatch.setenv(compilation_cache.ENVIRONMENT, "/nonexistent/elsewhere")
    assert compilation_cache.enable() is None
    monkeypatch.setattr(compilation_cache.metadata, "version", lambda name: "0.10.2")
    assert compilation_cache.supported()
