"""Provenance: versions, devices, host, command, start time, and the git state of a checkout."""
import datetime
import socket
import subprocess
import sys

import flax
import jax
import jaxlib
import numpy as np
import optax
import pytest

import gru_jax as gj
from gru_jax.provenance import collect, git_state


def test_collect_records_versions_devices_host_and_command():
    before = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    record = collect(command="gru-jax train --seeds 4")
    versions = record["versions"]
    assert versions["gru_jax"] == gj.__version__
    assert versions["jax"] == jax.__version__ and versions["numpy"] == np.__version__
    assert versions["optax"] == optax.__version__ and versions["flax"] == flax.__version__
    assert versions["jaxlib"] == jaxlib.__version__
    assert record["device_kind"] == jax.devices()[0].device_kind
    assert record["device_count"] == len(jax.devices()) and record["process_count"] == 1
    assert record["host"] == socket.gethostname()
    assert record["command"] == "gru-jax train --seeds 4"
    assert collect()["command"] == " ".join(sys.argv)
    start = datetime.datetime.fromisoformat(record["start_time"])
    assert start.tzinfo is not None and start >= before
    assert start <= datetime.datetime.now(datetime.timezone.utc)


def git(directory, *args):
    return subprocess.run(["git", "-C", str(directory), "-c", "user.name=t", "-c",
                           "user.email=t@t", *args], capture_output=True, text=True,
                          check=True).stdout.strip()


@pytest.fixture
def have_git():
    try:
        subprocess.run(["git", "--version"], capture_output=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("git is not installed")


def test_git_state_of_a_checkout_clean_and_dirty(tmp_path, have_git):
    package = tmp_path / "repo" / "pkg"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("x = 1\n")
    git(tmp_path / "repo", "init", "-q")
    git(tmp_path / "repo", "add", ".")
    git(tmp_path / "repo", "commit", "-qm", "first")
    commit = git(tmp_path / "repo", "rev-parse", "HEAD")
    assert git_state(str(package)) == {"git_commit": commit, "git_dirty": False}
    (package / "notes.txt").write_text("untracked files do not make it dirty")
    assert git_state(str(package))["git_dirty"] is False
    (package / "__init__.py").write_text("x = 2\n")
    assert git_state(str(package)) == {"git_commit": commit, "git_dirty": True}


def test_git_state_is_absent_outside_a_checkout(tmp_path, have_git):
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / "__init__.py").write_text("")
    assert git_state(str(tmp_path / "plain")) == {}
    # a package lying untracked inside some other repository (a venv in a checkout) is not one
    inner = tmp_path / "repo" / "venv" / "pkg"
    inner.mkdir(parents=True)
    (inner / "__init__.py").write_text("")
    git(tmp_path / "repo", "init", "-q")
    assert git_state(str(inner)) == {}
    assert git_state(str(tmp_path / "does-not-exist")) == {}


def test_run_saved_with_collected_provenance_round_trips(tmp_path):
    from test_run import constructed_run

    run = constructed_run()
    run.provenance = collect(command="python -m gru_jax train")
    run.save(str(tmp_path))
    loaded = gj.Run.load(str(tmp_path))
    assert {k: loaded.provenance[k] for k in run.provenance} == run.provenance
    assert loaded.provenance["end_time"] >= loaded.provenance["start_time"]
