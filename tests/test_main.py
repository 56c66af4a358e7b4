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
