"""The test and build machinery itself: what pytest collects, that nbval compares strictly, and
that every chapter notebook is committed the way CONVENTIONS.md asks (run top to bottom, silent
TensorFlow, listed in the table of contents)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent


def _notebook(path: Path, source: str, stored_text: str) -> None:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    cell = nbformat.v4.new_code_cell(source, execution_count=1)
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=stored_text)]
    nb.cells.append(cell)
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)


def _project_copy(tmp_path: Path) -> Path:
    """A minimal project with this repository's pytest configuration."""
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    (tmp_path / "tests").mkdir()
    shutil.copy(ROOT / "tests" / "nbval_sanitize.cfg", tmp_path / "tests" / "nbval_sanitize.cfg")
    return tmp_path


def _pytest(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pytest", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_pytest_collects_nothing_from_build_products(tmp_path):
    project = _project_copy(tmp_path)
    (project / "tests" / "test_ok.py").write_text("def test_ok():\n    pass\n")
    _notebook(project / "chapters" / "01_ok.ipynb", "print(2)", "2\n")
    # What a book build, a venv and an install leave behind: none of it may be collected.
    decoys = [
        "_build/jupyter_execute/chapters/01_ok.ipynb",
        "_build/html/_sources/chapters/01_ok.ipynb",
        "chapters/_build/jupyter_execute/01_ok.ipynb",
        ".jupyter_cache/executed/01_ok.ipynb",
        ".venv/lib/python3.11/site-packages/pkg/test_pkg.py",
        "bnlib.egg-info/test_egg.py",
        "chapters/.ipynb_checkpoints/01_ok-checkpoint.ipynb",
    ]
    for decoy in decoys:
        path = project / decoy
        if path.suffix == ".ipynb":
            _notebook(path, "print(2)", "2\n")
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("def test_decoy():\n    pass\n")

    result = _pytest(project, "--collect-only", "-q")
    assert result.returncode == 0, result.stdout + result.stderr
    collected = {line.split("::")[0] for line in result.stdout.splitlines() if "::" in line}
    assert collected == {"tests/test_ok.py", "chapters/01_ok.ipynb"}, result.stdout


@pytest.mark.parametrize(
    ("source", "stored", "should_pass"),
    [
        ("print(1 + 1)", "2\n", True),
        ("print(1 + 1)", "3\n", False),  # a changed number is a failure, not a warning
        ("print(object())", "<object object at 0x7f3a1c2b4e10>\n", True),  # addresses are sanitized
    ],
    ids=["same-output", "changed-output", "memory-address"],
)
def test_nbval_compares_outputs_strictly(tmp_path, source, stored, should_pass):
    project = _project_copy(tmp_path)
    _notebook(project / "chapters" / "check.ipynb", source, stored)
    result = _pytest(project, "chapters/check.ipynb")
    assert (result.returncode == 0) == should_pass, result.stdout[-3000:]


def _toc_files() -> list[Path]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]]
    stack = list(toc.get("parts", [])) + list(toc.get("chapters", []))
    while stack:
        entry = stack.pop()
        if "file" in entry:
            files.append(entry["file"])
        stack.extend(entry.get("chapters", []) + entry.get("sections", []))
    return [ROOT / f for f in files]


def _chapter_notebooks() -> list[Path]:
    return [p.with_suffix(".ipynb") for p in _toc_files() if p.with_suffix(".ipynb").exists()]


def test_every_table_of_contents_entry_exists():
    missing = [
        str(p.relative_to(ROOT))
        for p in _toc_files()
        if not any(p.with_suffix(s).exists() for s in (".ipynb", ".md"))
    ]
    assert not missing, f"_toc.yml lists files that do not exist: {missing}"


def test_every_chapter_notebook_is_in_the_table_of_contents():
    listed = {p.resolve() for p in _chapter_notebooks()}
    on_disk = {
        p.resolve()
        for p in (ROOT / "chapters").glob("[0-9][0-9]_*.ipynb")
        if "exercise" not in p.name
    }
    assert on_disk, "no chapter notebooks found"
    assert on_disk <= listed, f"not in _toc.yml: {sorted(p.name for p in on_disk - listed)}"


@pytest.mark.parametrize("path", _chapter_notebooks(), ids=lambda p: p.name)
def test_chapter_is_committed_run_top_to_bottom_and_quiet(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    code = [c for c in nb["cells"] if c["cell_type"] == "code" and "".join(c["source"]).strip()]
    counts = [c.get("execution_count") for c in code]
    assert counts == list(range(1, len(code) + 1)), (
        f"{path.name}: execution counts {counts}; re-run the notebook top to bottom in a fresh kernel"
    )
    for i, cell in enumerate(code, start=1):
        tags = cell.get("metadata", {}).get("tags", [])
        for out in cell.get("outputs", []):
            assert not (out["output_type"] == "stream" and out["name"] == "stderr"), (
                f"{path.name}, cell {i}: writes to stderr:\n{''.join(out['text'])[:500]}"
            )
            if out["output_type"] == "error":
                assert "raises-exception" in tags, f"{path.name}, cell {i}: an untagged error"
    # TensorFlow must be silenced before it is first imported, or its log lines reach the page.
    text = "\n".join("".join(c["source"]) for c in code)
    imports = [
        text.find(k) for k in ("import tensorflow", "import keras", "from tensorflow", "from keras")
    ]
    imports = [i for i in imports if i >= 0]
    if imports:
        assert "TF_CPP_MIN_LOG_LEVEL" in text[: min(imports)], (
            f"{path.name}: set os.environ['TF_CPP_MIN_LOG_LEVEL'] before importing TensorFlow"
        )


@pytest.mark.parametrize("path", _chapter_notebooks(), ids=lambda p: p.name)
def test_chapter_follows_the_skeleton(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    headings = [
        line.lstrip("#").strip()
        for c in nb["cells"]
        if c["cell_type"] == "markdown"
        for line in "".join(c["source"]).splitlines()
        if line.startswith("## ")
    ]
    required = [
        "Overview",
        "Prerequisites",
        "Time to learn",
        "Imports",
        "Summary",
        "What's next",
        "References",
    ]
    if not path.name.startswith("00_"):
        required.append("Exercises")  # every chapter after the preface ends with exercise prompts
    for heading in required:
        assert heading in headings, f"{path.name} has no '## {heading}' section (CONVENTIONS.md)"
