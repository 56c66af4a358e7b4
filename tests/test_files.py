"""gru_jax.files: a write that fails leaves the previous file as it was and no temporary."""
import json
import os

import numpy as np
import pytest

from gru_jax import files


def test_writes_land_whole(tmp_path):
    path = str(tmp_path / "a.json")
    files.write_json(path, {"x": 1})
    files.write_text(str(tmp_path / "b.md"), "hello\n")
    files.write_npz(str(tmp_path / "c.npz"), {"v": np.arange(3)})
    assert json.load(open(path)) == {"x": 1}
    assert open(tmp_path / "b.md").read() == "hello\n"
    assert np.array_equal(np.load(tmp_path / "c.npz")["v"], np.arange(3))
    assert sorted(os.listdir(tmp_path)) == ["a.json", "b.md", "c.npz"]


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    path = str(tmp_path / "a.json")
    files.write_json(path, {"old": True})
    with pytest.raises(TypeError):
        files.write_json(path, {"bad": object()})          # not JSON-serialisable, mid-write
    assert json.load(open(path)) == {"old": True}
    assert os.listdir(tmp_path) == ["a.json"]


def test_files_and_directories_get_the_umask_modes(tmp_path):
    """0644 files and 0755 directories under umask 022; 0664 / 0775 under 002 (a group's
    shared directory), like ``open`` and ``os.makedirs``; a replaced file takes the new mode."""
    old = os.umask(0o022)
    try:
        files.write_json(str(tmp_path / "run" / "arrays" / "a.json"), {"x": 1})
        files.write_npy(str(tmp_path / "run" / "b.npy"), np.arange(3))
        modes = {name: os.stat(tmp_path / name).st_mode & 0o777
                 for name in ("run", "run/arrays", "run/arrays/a.json", "run/b.npy")}
        assert modes == {"run": 0o755, "run/arrays": 0o755, "run/arrays/a.json": 0o644,
                         "run/b.npy": 0o644}
        os.umask(0o002)
        files.write_text(str(tmp_path / "shared" / "c.md"), "hi\n")
        files.write_json(str(tmp_path / "run" / "arrays" / "a.json"), {"x": 2})
        assert os.stat(tmp_path / "shared").st_mode & 0o777 == 0o775
        assert os.stat(tmp_path / "shared" / "c.md").st_mode & 0o777 == 0o664
        assert os.stat(tmp_path / "run" / "arrays" / "a.json").st_mode & 0o777 == 0o664
    finally:
        os.umask(old)
    assert json.load(open(tmp_path / "run" / "arrays" / "a.json")) == {"x": 2}
    assert not [n for n in os.listdir(tmp_path / "run" / "arrays") if files.is_temporary(n)]


def test_a_saved_run_is_readable_by_the_group_under_umask_022(tmp_path):
    """The end-to-end case of the issue: every file and directory of a saved run."""
    from gru_jax import Config, train
    old = os.umask(0o022)
    try:
        train(Config(epochs=2, n_samples=64, batch_size=32, eval_every=1), seeds=[0],
              out=str(tmp_path / "run"), progress=False)
    finally:
        os.umask(old)
    modes = set()
    for root, dirs, names in os.walk(tmp_path / "run"):
        modes |= {os.stat(os.path.join(root, d)).st_mode & 0o777 for d in dirs}
        modes |= {os.stat(os.path.join(root, n)).st_mode & 0o777 for n in names}
    assert modes == {0o755, 0o644}
