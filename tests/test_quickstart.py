"""experiments/quickstart.ipynb runs, twice: its code cells, in order, in one namespace (the
notebook's JSON read with the json module; no Jupyter kernel needed), writing only under its
work directory ($GRU_JAX_QUICKSTART_DIR here), never in the directory it runs from."""
import json
import os

import matplotlib
import pytest

pytest.importorskip("pandas")
pytest.importorskip("pyarrow")

NOTEBOOK = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                        "experiments", "quickstart.ipynb")


def test_quickstart_notebook_runs_twice_and_writes_only_its_work_directory(tmp_path,
                                                                             monkeypatch, capsys):
    matplotlib.use("Agg")
    with open(NOTEBOOK) as handle:
        notebook = json.load(handle)
    cells = [c for c in notebook["cells"] if c["cell_type"] == "code"]
    assert cells and all(not c.get("outputs") for c in cells), "commit the notebook without outputs"
    (tmp_path / "cwd").mkdir()
    monkeypatch.chdir(tmp_path / "cwd")
    monkeypatch.setenv("GRU_JAX_QUICKSTART_DIR", str(tmp_path / "work"))
    for attempt in range(2):                      # a second run replaces the first's output
        namespace = {"__name__": "__main__"}
        for index, cell in enumerate(cells):
            source = "".join(cell["source"])
            exec(compile(source, f"quickstart.ipynb code cell {index}", "exec"), namespace)
        run, tables = namespace["run"], namespace["tables"]
        assert run.train_loss.shape == (8, 60)
        assert len(tables["losses"]) == 8 * 60 and len(tables["params"]) == 8 * (6 + 2) * 17
        assert all(os.path.exists(path) for path in namespace["paths"])
        assert all(path.startswith(str(tmp_path / "work")) for path in namespace["paths"])
        assert "best seed" in capsys.readouterr().out
    assert os.listdir(tmp_path / "cwd") == []
    assert os.listdir(tmp_path / "work") == ["quickstart_run"]
    import matplotlib.pyplot as plt
    plt.close("all")


def test_the_experiments_runs_directory_is_ignored():
    """Older notebook runs wrote experiments/runs/: git ignores it."""
    root = os.path.dirname(NOTEBOOK)
    with open(os.path.join(os.path.dirname(root), ".gitignore")) as handle:
        assert "/experiments/runs/" in handle.read().split()
