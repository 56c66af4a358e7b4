"""Package conventions: ``python -m gru_jax`` is the command line; one version source."""
import importlib.metadata
import os
import subprocess
import sys
import tomllib

import gru_jax
import gru_jax.version

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_python_m_gru_jax_runs_the_cli():
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    done = subprocess.run([sys.executable, "-m", "gru_jax", "--help"], capture_output=True,
                          text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: gru-jax")
    bad = subprocess.run([sys.executable, "-m", "gru_jax", "no-such-command"],
                         capture_output=True, text=True, env=env, timeout=120)
    assert bad.returncode == 2 and "no-such-command" in bad.stderr


def test_one_version_source_and_typed_package():
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as handle:
        project = tomllib.load(handle)
    assert "version" not in project["project"] and project["project"]["dynamic"] == ["version"]
    version_attr = project["tool"]["setuptools"]["dynamic"]["version"]
    assert version_attr == {"attr": "gru_jax.version.__version__"}
    assert gru_jax.__version__ == gru_jax.version.__version__
    assert gru_jax.__version__ == importlib.metadata.version("gru_jax")
    assert os.path.exists(os.path.join(ROOT, "gru_jax", "py.typed"))
    assert project["tool"]["setuptools"]["package-data"]["gru_jax"] == ["py.typed"]


def _fresh(code: str) -> str:
    """Run ``code`` in a fresh interpreter; its last line of output."""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.strip().splitlines()[-1]


def test_import_gru_jax_is_lazy_and_the_heavy_modules_load_when_used():
    """``import gru_jax`` loads no JAX; ``gj.train`` loads JAX and the trainer but not the
    plots, reports, matplotlib or scikit-learn; ``gj.sweep`` (which writes figures) does; and
    ``gj.train`` stays the function after its module ``gru_jax.train`` is imported."""
    code = """
import sys, types
loaded = lambda: [m for m in ("jax", "matplotlib", "sklearn", "gru_jax.reports",
                              "gru_jax.plots", "gru_jax.analysis") if m in sys.modules]
import gru_jax as gj
steps = [loaded()]
gj.Config(); gj.__version__
steps.append(loaded())
train = gj.train
steps.append(loaded())
import gru_jax.train
assert gj.train is train and isinstance(gj.train, types.FunctionType), gj.train
from gru_jax import train as again
assert again is train
gj.sweep
steps.append(loaded())
assert gj.train is train
assert gj.analysis.dissect.__name__ == "gru_jax.analysis.dissect"
print(steps)
"""
    steps = eval(_fresh(code))
    assert steps[0] == [] and steps[1] == []
    assert steps[2] == ["jax"]
    assert {"matplotlib", "sklearn", "gru_jax.reports", "gru_jax.plots"} <= set(steps[3])


def test_modules_import_alone_without_cycles():
    """Each module that loads heavy ones imports on its own in a fresh interpreter (an import
    cycle would fail for one of these orders)."""
    for module in ("gru_jax.analysis.sweep", "gru_jax.reports", "gru_jax.sweeps",
                   "gru_jax.export", "gru_jax.bridges", "gru_jax.cli"):
        assert _fresh(f"import {module}; print('ok')") == "ok", module


def test_citation_and_project_metadata():
    """CITATION.cff and pyproject.toml agree on the version and license; the project has
    keywords and classifiers (no license classifier: PEP 639's license expression says it);
    the extras give the GPU install and keep torch pinned to its CPU wheel."""
    import yaml
    with open(os.path.join(ROOT, "CITATION.cff")) as handle:
        citation = yaml.safe_load(handle)
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as handle:
        project = tomllib.load(handle)["project"]
    assert citation["cff-version"] == "1.2.0" and citation["type"] == "software"
    assert str(citation["version"]) == gru_jax.__version__
    assert citation["license"] == project["license"] == "MIT"
    assert citation["authors"] and citation["title"].startswith("gru_jax")
    assert "jax" in project["keywords"] and len(citation["keywords"]) >= 5
    classifiers = project["classifiers"]
    assert "Programming Language :: Python :: 3.11" in classifiers
    assert not [c for c in classifiers if c.startswith("License ::")]
    extras = project["optional-dependencies"]
    assert extras["torch"] == ["torch==2.13.0"]
    assert any(r.startswith("jax[cuda12]") for r in extras["gpu"])
    assert {"xarray", "equinox", "export", "test"} <= set(extras)
