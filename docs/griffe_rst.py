"""A griffe extension for the docs site: the docstrings' reStructuredText markup as Markdown.

gru_jax's docstrings are written to read well in a terminal (``help()``), with a little reST:
roles (``:func:`train```), literal blocks introduced by ``::`` and simple tables framed by
``===`` lines. mkdocstrings renders docstrings as Markdown, where these come out as stray
colons and run-together lines. This extension rewrites them when griffe loads each object:

- a simple table becomes a Markdown table (its columns read off the ``===`` border; a line
  whose first column is blank continues the row above);
- a role ``:func:`a.b``` (``:class:``, ``:mod:``, ``:meth:``, ``:attr:``, ``:data:``, ...)
  becomes the code span ``a.b`` (``~a.b`` becomes ``b``, as Sphinx shows it);
- a line ending in ``::`` ends in ``:`` (a bare ``::`` line is dropped); the indented block
  after it is already a Markdown code block.

Nothing in ``gru_jax`` is changed; only the site's copy of each docstring.
"""
from __future__ import annotations

import re
from typing import Any

import griffe

_ROLE = re.compile(r":(?:py:)?(?:func|class|mod|meth|attr|data|obj|exc|const|ref|term):`([^`]+)`")
_BORDER = re.compile(r"^( *)=+( +=+)+ *$")


def _role(match: re.Match) -> str:
    target = match.group(1)
    if target.startswith("~"):
        target = target[1:].rsplit(".", 1)[-1]
    return f"`{target}`"


def _columns(border: str) -> list[tuple[int, int]]:
    """``(start, end)`` of each column of a simple table, from its ``===`` border; the last
    column runs to the end of the line."""
    spans = [m.span() for m in re.finditer(r"=+", border)]
    return [(start, end if i < len(spans) - 1 else None) for i, (start, end) in enumerate(spans)]


def _table(lines: list[str]) -> list[str]:
    """One simple table (its lines, borders included) as Markdown table lines."""
    columns = _columns(lines[0])
    borders = [i for i, line in enumerate(lines) if _BORDER.match(line)]
    rows: list[list[str]] = []
    header = None
    for i, line in enumerate(lines):
        if i in borders:
            if len(borders) == 3 and i == borders[1]:
                header, rows = rows[0] if rows else None, []
            continue
        cells = [line[start:end].strip() for start, end in columns]
        if rows and not cells[0]:
            rows[-1] = [f"{a} {b}".strip() for a, b in zip(rows[-1], cells)]
        else:
            rows.append(cells)
    header = header or [""] * len(columns)
    row = lambda cells: "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"
    return [row(header), "|" + "---|" * len(columns)] + [row(cells) for cells in rows]


def _tables(text: str) -> str:
    lines = text.split("\n")
    out: list[str] = []
    i = 0
    while i < len(lines):
        if not _BORDER.match(lines[i]):
            out.append(lines[i])
            i += 1
            continue
        end = i + 1            # the bottom border: the next border followed by a blank or the end
        while end < len(lines) and not (_BORDER.match(lines[end]) and (
                end + 1 == len(lines) or not lines[end + 1].strip())):
            end += 1
        if out and out[-1].strip():
            out.append("")
        out.extend(_table(lines[i:end + 1]))
        i = end + 1
    return "\n".join(out)


def rst_to_markdown(text: str) -> str:
    """One docstring's reST tables, roles and literal-block markers as Markdown."""
    lines = []
    for line in _ROLE.sub(_role, _tables(text)).split("\n"):
        if line.strip() == "::":
            continue
        if line.rstrip().endswith("::"):
            line = line.rstrip()[:-1]
        lines.append(line)
    return "\n".join(lines)


class RstToMarkdown(griffe.Extension):
    """Rewrites every loaded object's docstring with :func:`rst_to_markdown`."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = rst_to_markdown(obj.docstring.value)
