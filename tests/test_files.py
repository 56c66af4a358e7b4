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
