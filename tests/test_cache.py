"""The census cache in a run directory: the same census back, reused, and never stale."""
import os

import numpy as np

from gru_jax import Run
from gru_jax.analysis import cache
from gru_jax.analysis.census import Census
from gru_jax import Config
from test_reports import _random_run


def _run_dir(tmp_path, count=12):
    cfg = Config(n_samples=300, batch_size=64, epochs=6, eval_every=3)
    path = str(tmp_path / "run")
    _random_run(cfg, count, path)
    return path


def test_cache_round_trip_reuse_and_invalidation(tmp_path, monkeypatch):
    path = _run_dir(tmp_path)
    first = cache.cached_census(path, n_bootstrap=2)
    files = os.listdir(os.path.join(path, cache.CACHE_DIR))
    assert len(files) == 1 and files[0].startswith("census-")
    # read back: every field equal, nothing recomputed
    calls = []
    monkeypatch.setattr(cache, "census", lambda *a, **k: calls.append(1))
    again = cache.cached_census(path, n_bootstrap=2)
    assert calls == []
    for name in ("families", "labels", "features", "seeds", "family_fractions", "fit_index",
                 "commitment_epoch", "snapshot_labels", "threshold_labels"):
        np.testing.assert_array_equal(getattr(again, name), getattr(first, name))
    assert again.family_names == first.family_names and again.names == first.names
    assert again.k_stability == first.k_stability
    assert again.dip_sensitivity == first.dip_sensitivity
    np.testing.assert_array_equal(again.assign(first.features)[1], first.labels)
    # other options: another key
    assert cache.cache_path(path, {"n_bootstrap": 3}) != cache.cache_path(path,
                                                                          {"n_bootstrap": 2})
    # a changed run: another key, so the stored census is not read
    key = cache.run_key(path, {"n_bootstrap": 2})
    run = Run.load(path)
    params = {m: {k: np.array(v) for k, v in sub.items()} for m, sub in run.params.items()}
    params["linear"]["bias"] += 1.0
    run.params = params
    run.save(path, overwrite=True)
    assert cache.run_key(path, {"n_bootstrap": 2}) != key


def test_version_bump_changes_the_key(tmp_path, monkeypatch):
    path = _run_dir(tmp_path, count=4)
    before = cache.run_key(path, {})
    monkeypatch.setattr(cache, "ANALYSIS_VERSION", cache.ANALYSIS_VERSION + 1)
    assert cache.run_key(path, {}) != before


def test_a_read_only_run_is_analysed_without_a_cache(tmp_path, monkeypatch):
    path = _run_dir(tmp_path, count=4)
    monkeypatch.setattr(cache, "save", lambda *a: (_ for _ in ()).throw(OSError("read-only")))
    result = cache.cached_census(path, n_bootstrap=0)
    assert isinstance(result, Census)
    assert not os.path.exists(os.path.join(path, cache.CACHE_DIR))
