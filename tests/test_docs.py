"""The README is a front door, and the manual in docs/ keeps up with the code.

What `mkdocs build --strict` (CI) cannot see: the README's length, its two commands, its
relative links (GitHub renders them; the site does not build the README), and whether the
manual still names every command and every Config field.
"""
import dataclasses
import os
import re

from gru_jax.cli import build_parser
from gru_jax.config import Config

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README = os.path.join(ROOT, "README.md")
DOCS = os.path.join(ROOT, "docs")

#: The two commands, verbatim: a fresh clone must be able to paste them.
PIPELINE = ("python3 -m venv .venv && . .venv/bin/activate && pip install -e . && "
            "gru-jax pipeline --out runs/quick")
TESTS = ('python3 -m venv .venv && . .venv/bin/activate && pip install -e ".[test,torch]" && '
         "python -m pytest")

#: ``[text](target)`` and ``![alt](target)``; the target ends at the first space or ``)``.
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")


def read(path: str) -> str:
    with open(path, encoding="utf-8") as handle:
        return handle.read()


def subcommands() -> list[str]:
    usage = build_parser().format_usage()
    return re.search(r"\{([a-z,]+)\}", usage).group(1).split(",")


def test_readme_is_short():
    lines = read(README).splitlines()
    assert len(lines) <= 150, f"README.md has {len(lines)} lines: the manual belongs in docs/"


def test_readme_holds_the_two_commands_verbatim():
    lines = read(README).splitlines()
    assert PIPELINE in lines
    assert TESTS in lines


def test_getting_started_holds_the_same_two_commands():
    lines = read(os.path.join(DOCS, "getting-started.md")).splitlines()
    assert PIPELINE in lines
    assert TESTS in lines


def test_readme_relative_links_exist():
    targets = LINK.findall(read(README))
    assert targets, "no links found: the pattern is wrong"
    missing = []
    for target in targets:
        if re.match(r"[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
            continue                                   # a URL (http:, mailto:) or an anchor
        path = os.path.join(ROOT, target.split("#", 1)[0])
        if not os.path.exists(path):
            missing.append(target)
    assert not missing, f"README.md links to files that do not exist: {missing}"


def test_readme_and_manual_name_every_command():
    readme = read(README)
    manual = read(os.path.join(DOCS, "getting-started.md"))
    for command in subcommands():
        assert f"`{command}`" in readme, command
        assert f"| `{command}` |" in manual, command


def test_manual_names_every_config_field():
    protocol = read(os.path.join(DOCS, "protocol.md"))
    missing = [f.name for f in dataclasses.fields(Config)
               if not re.search(rf"\b{f.name}\b", protocol)]
    assert not missing, f"docs/protocol.md does not mention Config fields {missing}"


def test_ci_floor_tests_exist():
    """`.ci/run` hands `.ci/floor_tests.txt` to pytest: a renamed test file must not leave CI
    collecting nothing (pytest's exit status 5)."""
    listed = read(os.path.join(ROOT, ".ci", "floor_tests.txt")).split()
    assert len(listed) >= 10
    missing = [path for path in listed if not os.path.isfile(os.path.join(ROOT, path))]
    assert missing == []
