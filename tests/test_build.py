"""The strict book build really is strict: a tiny book built with the repository's _config.yml and
the Makefile's build command fails on a chapter that raises, an unknown citation and a broken
cross-reference, and succeeds without them."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent

GOOD_CODE = "x = 6 * 7\nprint(x)"


def _make_book(folder: Path, code: str, markdown: str) -> None:
    shutil.copy(ROOT / "_config.yml", folder / "_config.yml")
    shutil.copy(ROOT / "references.bib", folder / "references.bib")
    shutil.copytree(ROOT / "_ext", folder / "_ext")  # the local Sphinx extension _config.yml loads
    (folder / "_toc.yml").write_text("format: jb-book\nroot: index\nchapters:\n  - file: chapter\n")
    # The index cites the same work as the good chapter: two pages citing one key must build.
    (folder / "index.md").write_text(
        "# A test book\n\n(start)=\n## Start\n\nSee {ref}`start` and {footcite}`ioffe2015batch`.\n\n"
        "```{footbibliography}\n```\n"
    )
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.cells = [
        nbformat.v4.new_markdown_cell("# Chapter\n\n" + markdown),
        nbformat.v4.new_code_cell(code),
    ]
    nbformat.write(nb, folder / "chapter.ipynb")


# `make book` depends on this stamp and would create .venv and pip-install when it is missing or
# older than requirements.txt/pyproject.toml; the test must use the installed interpreter instead.
STAMP = ROOT / ".venv" / ".installed"


def _build(folder: Path) -> subprocess.CompletedProcess:
    if not STAMP.exists():
        pytest.skip(f"{STAMP} is missing: run `make book` once to set up .venv, then rerun")
    # -o (with the name the Makefile uses): treat the stamp as up to date, so make never
    # reinstalls from inside a test.
    return subprocess.run(
        [
            "make",
            "--no-print-directory",
            "-C",
            str(ROOT),
            "-o",
            ".venv/.installed",
            "book",
            f"BOOK={folder}",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    ("code", "markdown", "should_build"),
    [
        (GOOD_CODE, "Cited: {footcite}`ioffe2015batch`.\n\n```{footbibliography}\n```", True),
        ("raise ValueError('a chapter that raises')", "Text.", False),
        (GOOD_CODE, "Cited: {footcite}`no_such_key_2099`.\n\n```{footbibliography}\n```", False),
        (GOOD_CODE, "Cited: {cite}`no_such_key_2099`.", False),
        (GOOD_CODE, "See {ref}`no-such-label`.", False),
        ("import sys\nprint('noise', file=sys.stderr)", "Text.", False),
    ],
    ids=[
        "good",
        "cell-raises",
        "unknown-footcite",
        "unknown-cite",
        "broken-reference",
        "stderr-output",
    ],
)
def test_strict_build(tmp_path, code, markdown, should_build):
    _make_book(tmp_path, code, markdown)
    result = _build(tmp_path)
    log = (result.stdout + result.stderr)[-4000:]
    assert (result.returncode == 0) == should_build, log
    if should_build:
        html = (tmp_path / "_build" / "html" / "chapter.html").read_text()
        assert "42" in html, "the chapter's code was not executed into the page"
