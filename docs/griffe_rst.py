"""A griffe extension for the docs site: the docstrings' reStructuredText markup as Markdown.

gru_jax's docstrings are written to read well in a terminal (``help()``), with a little reST:
roles (``:func:`train```), literal blocks introduced by ``::`` and simple tables framed by
``===`` lines. mkdocstrings renders docstrings as Markdown, where these come out as stray
colons and run-together lines. This extension rewrites them when griffe loads each object:

- a role ``:func:`a.b``` (``:class:``, ``:mod:``, ``:meth:``, ``:attr:``, ``:data:``, ...)
  becomes the code span ``a.b`` (``~a.b`` becomes ``b``, as Sphinx shows it);
- a line ending in ``::`` ends in ``:`` (a bare ``::`` line is dropped); the indented block
  after it is already a Markdown code block;
- a simple table becomes an indented code block, so its columns stay aligned (its code
  spans lose their backticks, which a code block would show).

Nothing in ``gru_jax`` is changed; only the site's copy of each docstring.
"""
from __future__ import annotations

import re
from typing import Any

import griffe

_ROLE = re.compile(r":(?:py:)?(?:func|class|mod|meth|attr|data|obj|exc|const|ref|term):`([^`]+)`")
_BORDER = re.compile(r"^\s*=+( +=+)+\s*$")


def _role(match: re.Match) -> str:
    target = match.group(1)
    if target.startswith("~"):
        target = target[1:].rsplit(".", 1)[-1]
    return f"`{target}`"


def rst_to_markdown(text: str) -> str:
    """One docstring's reST roles, literal-block markers and simple tables as Markdown."""
    text = _ROLE.sub(_role, text)
    lines = text.split("\n")
    out: list[str] = []
    in_table = False
    for i, line in enumerate(lines):
        if _BORDER.match(line):
            if not in_table:
                in_table = True
                if out and out[-1].strip():
                    out.append("")
            out.append("    " + line)
            following = lines[i + 1] if i + 1 < len(lines) else ""
            if not following.strip():  # the bottom border: a blank line or the end follows
                in_table = False
            continue
        if in_table:  # a code block shows backticks as they are: drop them
            out.append("    " + line.replace("`", ""))
            continue
        if line.strip() == "::":
            continue
        if line.rstrip().endswith("::"):
            line = line.rstrip()[:-1]
        out.append(line)
    return "\n".join(out)


class RstToMarkdown(griffe.Extension):
    """Rewrites every loaded object's docstring with :func:`rst_to_markdown`."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = rst_to_markdown(obj.docstring.value)
