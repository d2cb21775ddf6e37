"""The chapters read like a book: code where it teaches, bookkeeping collapsed.

In the rendered book a code cell tagged ``hide-input`` shows its outputs under a collapsed
"Show code cell source" toggle; ``remove-input`` shows only the outputs; ``remove-cell`` shows
nothing. The notebooks (Binder, JupyterLab) keep every cell. Two limits hold for every chapter:

* no **visible** code cell is longer than ``MAX_CELL_LINES`` lines: a longer one is split where
  its ideas split, or its machinery moves to a tested module of ``bncourse``;
* at most ``MAX_EVIDENCE_LINES`` visible lines glue a number for the prose or assert a claim
  (``ev.glue``, ``Claim.glue``, ``ev.claim_*``, ``assert``): the evidence cells that do it are
  collapsed, one click away, and the few that remain are checks a learner should see.

The counting helpers are tested on small notebooks too, so each limit is known to fail.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "chapters").glob("*.ipynb"))

MAX_CELL_LINES = 35
MAX_EVIDENCE_LINES = 12
COLLAPSED = {"hide-input", "remove-input", "remove-cell", "hide-cell"}
EVIDENCE = re.compile(r"(\bglue\w*\(|\.glue(_all)?\(|\bassert\b|\bclaim_\w+\()")


def visible_code_cells(nb) -> list[tuple[int, list[str]]]:
    """``(index, lines)`` of every code cell the book shows with its source."""
    return [
        (i, c.source.splitlines())
        for i, c in enumerate(nb.cells)
        if c.cell_type == "code" and not set(c.metadata.get("tags", [])) & COLLAPSED
    ]


def long_cells(nb) -> list[tuple[int, int]]:
    """``(index, lines)`` of the visible code cells over ``MAX_CELL_LINES`` lines."""
    return [(i, len(lines)) for i, lines in visible_code_cells(nb) if len(lines) > MAX_CELL_LINES]


def evidence_lines(nb) -> list[str]:
    """The visible lines that glue a number or assert a claim."""
    return [
        f"cell {i}: {line.strip()}"
        for i, lines in visible_code_cells(nb)
        for line in lines
        if EVIDENCE.search(line)
    ]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_visible_code_cell_is_longer_than_the_limit(path):
    nb = nbformat.read(path, as_version=4)
    assert not long_cells(nb), (
        f"{path.name}: visible code cells over {MAX_CELL_LINES} lines (index, lines)"
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_evidence_lines_are_mostly_collapsed(path):
    nb = nbformat.read(path, as_version=4)
    lines = evidence_lines(nb)
    assert len(lines) <= MAX_EVIDENCE_LINES, (
        f"{path.name}: {len(lines)} visible glue/assert lines:\n" + "\n".join(lines)
    )


def _nb(*cells):
    nb = nbformat.v4.new_notebook()
    for source, tags in cells:
        cell = nbformat.v4.new_code_cell(source)
        if tags:
            cell.metadata["tags"] = tags
        nb.cells.append(cell)
    return nb


def test_the_counts_see_only_visible_cells():
    long = "\n".join(f"x{k} = {k}" for k in range(MAX_CELL_LINES + 1))
    evidence = "\n".join(
        ['ev.glue("a", 1)', "assert a > 0", 'gap.glue("b")', 'ev.claim_greater(s, t, "c")']
    )
    nb = _nb(
        (long, None),
        (long, ["hide-input"]),
        (evidence, None),
        (evidence, ["remove-input"]),
        ("y = 1", None),
    )
    assert long_cells(nb) == [(0, MAX_CELL_LINES + 1)]
    assert [line.split(": ", 1)[1] for line in evidence_lines(nb)] == evidence.splitlines()
    assert not long_cells(_nb(("\n".join(["x = 1"] * MAX_CELL_LINES), None)))
