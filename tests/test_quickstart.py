"""experiments/quickstart.ipynb runs: its code cells, in order, in one namespace, in a temporary
directory (the notebook's JSON read with the json module; no Jupyter kernel needed)."""
import json
import os

import matplotlib
import pytest

pytest.importorskip("pandas")
pytest.importorskip("pyarrow")

NOTEBOOK = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                        "experiments", "quickstart.ipynb")


def test_quickstart_notebook_runs(tmp_path, monkeypatch, capsys):
    matplotlib.use("Agg")
    with open(NOTEBOOK) as handle:
        notebook = json.load(handle)
    cells = [c for c in notebook["cells"] if c["cell_type"] == "code"]
    assert cells and all(not c.get("outputs") for c in cells), "commit the notebook without outputs"
    monkeypatch.chdir(tmp_path)
    namespace = {"__name__": "__main__"}
    for index, cell in enumerate(cells):
        source = "".join(cell["source"])
        exec(compile(source, f"quickstart.ipynb code cell {index}", "exec"), namespace)
    run, tables = namespace["run"], namespace["tables"]
    assert run.train_loss.shape == (8, 60)
    assert len(tables["losses"]) == 8 * 60 and len(tables["params"]) == 8 * (6 + 2) * 17
    assert all(os.path.exists(path) for path in namespace["paths"])
    assert "best seed" in capsys.readouterr().out
    import matplotlib.pyplot as plt
    plt.close("all")
