"""Any file in a submissions folder gets one row and never stops the run (GitHub issue 13).

- Malformed files of every kind (null, numeric or non-text ``source``, missing keys, non-object
  cells, unknown cell types, unsupported nbformat versions, binary junk, invalid UTF-8, empty
  files, corrupted, damaged and bomb-like zips, folders, symbolic links and named pipes named
  ``*.ipynb``, files over the size limit, undecodable file names) each get exactly one row
  ``not graded: <what is wrong>``, without starting a kernel; a notebook with 50+ MB of outputs
  is graded. :func:`write_malformed_submissions` writes one file of each kind, for this module
  and for the one-run fixture of ``tests/test_grading.py``.
- A failure of the grader itself on one submission costs that row only.
- The report is written as rows finish: an interrupted run (in the process, and with Ctrl-C on
  the command line) keeps the rows graded, kills the running workers and says how many it graded.
- A killed worker, its kernel and a killed run leave nothing behind: no ``bn-grading-*`` folder,
  no temporary or Jupyter runtime file (connection files), no process.

Grading a real notebook starts kernels (seconds each), so only a few tests do; they use the
committed student notebooks (``exercises/NN_topic.ipynb``, which score zero) and short limits.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import nbformat
import pytest

import grading.grade as gg
from grading import EXERCISES, ROOT
from grading.grade import GradingInterrupted, Options, grade, load_autograders, read_submission
from grading.kernels import OWNER_FILE, record_process, remove_stale_folders

pytestmark = [
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.skipif(sys.platform == "win32", reason="the grader needs Unix signals"),
]

OPTIONS = Options(cell_timeout=5, call_timeout=2, submission_timeout=60, attempts=3, jobs=2)
CHAPTER = "01_input_normalization"  # the quickest notebook to grade


def _student_notebook(chapter: str = CHAPTER) -> dict:
    """The committed student notebook of ``chapter`` as plain JSON data."""
    return json.loads((EXERCISES / f"{chapter}.ipynb").read_text(encoding="utf-8"))


def _code_cell_index(nb: dict, n: int) -> int:
    """The index in ``nb["cells"]`` of its ``n``-th code cell (1-based)."""
    return [i for i, c in enumerate(nb["cells"]) if c["cell_type"] == "code"][n - 1]


def _write_json(path: Path, data) -> None:
    path.write_text(json.dumps(data), encoding="utf-8")


def _zip_bytes(members: dict[str, bytes], compression=zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buffer.getvalue()


def write_malformed_submissions(folder: Path) -> dict[str, str]:
    """Write one submission file of each malformed kind into ``folder``.

    Returns {student name as :func:`grading.grade.grade` reports it: a substring its status must
    contain}; every status also starts with ``not graded: ``. None of them starts a kernel. The
    size limit case assumes the default limit (``Options.max_file_mb``, 200 MB): it is a sparse
    file, which takes no disk space. Kinds the system cannot make (a file name that is not UTF-8,
    on macOS) are left out.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    base = _student_notebook()
    third = _code_cell_index(base, 3)
    markdown = next(i for i, c in enumerate(base["cells"]) if c["cell_type"] == "markdown")
    expected: dict[str, str] = {}

    def variant(name: str, change, status: str) -> None:
        nb = json.loads(json.dumps(base))
        change(nb)
        _write_json(folder / f"{name}.ipynb", nb)
        expected[name] = status

    def set_source(value, index=third):
        return lambda nb: nb["cells"][index].__setitem__("source", value)

    # the cells the grader relies on
    variant("null_source", set_source(None), 'code cell 3 has "source": null, expected text')
    variant("numeric_source", set_source(42), 'code cell 3 has "source": 42, expected text')
    variant(
        "source_list_with_a_number",
        set_source(["x = 1\n", 7]),
        'code cell 3 has a "source" list whose item 2 is the number 7, expected text',
    )
    variant(
        "source_list_with_null",
        set_source(["x = 1\n", None]),
        'code cell 3 has a "source" list whose item 2 is null, expected text',
    )
    variant(
        "markdown_null_source",
        set_source(None, markdown),
        f'cell {markdown + 1} (a markdown cell) has "source": null, expected text',
    )
    variant("no_source", lambda nb: nb["cells"][0].pop("source"), 'code cell 1 has no "source"')
    variant("no_cells", lambda nb: nb.pop("cells"), 'it has no "cells" list')
    variant(
        "cells_not_a_list",
        lambda nb: nb.__setitem__("cells", {"0": {}}),
        '"cells" is an object, expected a list of cells',
    )
    variant(
        "cell_without_type", lambda nb: nb["cells"][1].pop("cell_type"), 'cell 2 has no "cell_type"'
    )
    variant(
        "cell_not_an_object",
        lambda nb: nb["cells"].__setitem__(1, "print(1)"),
        'cell 2 is the string "print(1)", expected a cell (a JSON object)',
    )
    variant(
        "unknown_cell_type",
        lambda nb: nb["cells"][1].__setitem__("cell_type", "heading"),
        'cell 2 has "cell_type": "heading", expected "code", "markdown" or "raw"',
    )
    variant(
        "lone_surrogate",
        set_source("x = '\ud800'"),
        "code cell 3 holds text that is not valid Unicode",
    )
    # versions
    for version in (5, 2):
        variant(
            f"nbformat_{version}",
            lambda nb, v=version: nb.__setitem__("nbformat", v),
            f"nbformat version {version} is not supported",
        )
    variant(
        "nbformat_text",
        lambda nb: nb.__setitem__("nbformat", "4"),
        '"nbformat" is "4", expected the number 4',
    )
    variant("no_nbformat", lambda nb: nb.pop("nbformat"), 'it has no "nbformat" version')
    _write_json(
        folder / "nbformat_3_null_input.ipynb",
        {
            "nbformat": 3,
            "nbformat_minor": 0,
            "metadata": {},
            "worksheets": [
                {
                    "metadata": {},
                    "cells": [
                        {
                            "cell_type": "code",
                            "input": None,
                            "language": "python",
                            "outputs": [],
                            "metadata": {},
                        },
                    ],
                }
            ],
        },
    )
    expected["nbformat_3_null_input"] = 'code cell 1 has "source": null, expected text'
    _write_json(
        folder / "nbformat_3_unconvertible.ipynb",
        {"nbformat": 3, "nbformat_minor": 0, "metadata": {}, "worksheets": 5},
    )
    expected["nbformat_3_unconvertible"] = "the nbformat 3 notebook could not be converted"
    # not notebooks at all
    text = json.dumps(base)
    assert "Exercise" in text
    bad_byte = text.replace("Exercise", "Exerc\udcffise", 1).encode("utf-8", "surrogateescape")
    files = {
        "empty": (b"", "the file is empty (0 bytes)"),
        "white_space": (b"  \n\n", "the file holds only white space"),
        "binary_junk": (bytes(range(256)) * 8, "not a notebook: the file is not UTF-8 text"),
        "invalid_utf8": (bad_byte, "not a notebook: the file is not UTF-8 text (byte 0xff"),
        "not_json": (b"this is not a notebook", "not a notebook: the file is not valid JSON"),
        "truncated_json": (text[: len(text) // 2].encode(), "the file is not valid JSON"),
        "json_list": (b"[1, 2, 3]", "not a notebook: the file holds a list"),
        "json_null": (b"null", "not a notebook: the file holds null"),
        "nested_too_deeply": (b"[" * 100_000, "its JSON is nested too deeply"),
        "zip_named_ipynb": (_zip_bytes({"a.ipynb": text.encode()}), "it looks like a zip file"),
    }
    for name, (data, status) in files.items():
        (folder / f"{name}.ipynb").write_bytes(data)
        expected[name] = status
    # otter export zips
    good = json.dumps(base).encode()
    broken = json.loads(text)
    broken["cells"][third]["source"] = None
    damaged = _zip_bytes({"n.ipynb": good.replace(b"Exercise", b"MARKER!!", 1)}, zipfile.ZIP_STORED)
    damaged = damaged.replace(b"MARKER!!", b"Exercise", 1)  # the data no longer matches its CRC
    zips = {
        "zip_truncated": (_zip_bytes({"n.ipynb": good})[:500], "not a valid zip file"),
        "zip_not_a_zip": (b"PK\x03\x04 and nothing else", "not a valid zip file"),
        "zip_damaged": (damaged, "the zip file is damaged: n.ipynb cannot be extracted"),
        "zip_two_notebooks": (
            _zip_bytes({"a.ipynb": good, "b.ipynb": good}),
            "the zip file holds 2 notebooks, expected exactly one",
        ),
        "zip_no_notebook": (_zip_bytes({"notes.txt": b"hello"}), "the zip file holds 0 notebooks"),
        "zip_with_null_source": (
            _zip_bytes({"n.ipynb": json.dumps(broken).encode()}),
            'n.ipynb in the zip file: code cell 3 has "source": null, expected text',
        ),
        "zip_bomb": (_forged_zip_bomb(), "uncompressed, above the limit of 200 MB"),
        "zip_empty": (b"", "the file is empty (0 bytes)"),
    }
    for name, (data, status) in zips.items():
        (folder / f"{name}.zip").write_bytes(data)
        expected[name] = status
    # entries that are not regular files, or too big to read
    (folder / "folder.ipynb").mkdir()
    (folder / "folder.ipynb" / "inside.ipynb").write_text("not searched")
    expected["folder"] = "a folder named like a notebook, not a notebook file"
    os.symlink("/dev/zero", folder / "link_to_dev_zero.ipynb")
    expected["link_to_dev_zero"] = "a symbolic link (to /dev/zero), not a notebook file"
    os.symlink(EXERCISES / f"{CHAPTER}.ipynb", folder / "link_to_a_notebook.ipynb")
    expected["link_to_a_notebook"] = "a symbolic link"
    os.symlink(folder / "nowhere", folder / "dangling_link.ipynb")
    expected["dangling_link"] = "a symbolic link"
    os.mkfifo(folder / "named_pipe.ipynb")
    expected["named_pipe"] = "a named pipe (FIFO), not a regular file"
    with open(folder / "too_big.ipynb", "wb") as f:
        f.truncate(201_000_000)  # sparse: no disk space, no time
    expected["too_big"] = "the file is 201 MB, above the limit of 200 MB (see --max-file-size)"
    try:
        (Path(os.fsdecode(folder)) / os.fsdecode(b"caf\xe9.ipynb")).write_bytes(b"{oops")
        expected["caf\\xe9"] = "not a notebook: the file is not valid JSON"  # reported so
    except (OSError, UnicodeError):  # file names must be UTF-8 here
        pass
    return expected


def _forged_zip_bomb() -> bytes:
    """A zip whose one notebook claims to be 4 GB uncompressed (its central directory says so)."""
    data = bytearray(_zip_bytes({"bomb.ipynb": b"{}"}))
    entry = data.index(b"PK\x01\x02")
    data[entry + 24 : entry + 28] = (0xFFFFFFF0).to_bytes(4, "little")
    return bytes(data)


# ------------------------------------------------------------------------------------------------
# Helpers and fixtures
# ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def autograders():
    return load_autograders()


@pytest.fixture
def private_tmp(tmp_path, monkeypatch):
    """A system temporary folder and a Jupyter runtime folder of this test's own.

    Other runs (CI, a colleague) share the real ones; in these, whatever a run leaves is its.
    """
    tmp, runtime = tmp_path / "system-tmp", tmp_path / "jupyter-runtime"
    tmp.mkdir()
    runtime.mkdir()
    monkeypatch.setenv("TMPDIR", str(tmp))
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(runtime))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    yield tmp, runtime
    for line in _processes_mentioning(str(tmp)):  # only if a test failed: none must be left
        try:
            os.kill(int(line.split(":")[0]), signal.SIGKILL)
        except OSError:
            pass


def _left_in(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def _processes_mentioning(text: str) -> list[str]:
    """The command lines of the running processes that mention ``text`` (Linux; else none)."""
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmdline and int(proc.name) != os.getpid():
            found.append(f"{proc.name}: {cmdline}")
    return found


def _assert_nothing_left(tmp: Path, runtime: Path) -> None:
    """No folder or file in the private temporary and runtime folders, and no process using them."""
    deadline = time.monotonic() + 10
    while _processes_mentioning(str(tmp)) and time.monotonic() < deadline:
        time.sleep(0.2)  # a SIGKILLed process disappears once its parent has reaped it
    assert not _processes_mentioning(str(tmp))
    assert _left_in(tmp) == []
    assert _left_in(runtime) == []


def _wait_for(condition, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def _with_cells(*sources: str, chapter: str = CHAPTER) -> dict:
    """The student notebook of ``chapter`` with code cells appended."""
    nb = _student_notebook(chapter)
    for source in sources:
        nb["cells"].append(nbformat.v4.new_code_cell(source))
    return nb


UNINTERRUPTIBLE = """\
import time
while True:
    try:
        time.sleep(0.1)
    except BaseException:
        pass
"""


def _read_report(csv_path: Path) -> tuple[list[dict], list[dict]]:
    import csv

    rows = list(csv.DictReader(csv_path.open(encoding="utf-8", newline="")))
    return rows, json.loads(csv_path.with_suffix(".json").read_text(encoding="utf-8"))


# ------------------------------------------------------------------------------------------------
# Malformed files
# ------------------------------------------------------------------------------------------------


def test_every_malformed_file_gets_one_not_graded_row_naming_its_problem(
    tmp_path, private_tmp, autograders, monkeypatch
):
    expected = write_malformed_submissions(tmp_path / "submissions")

    def no_worker(*args, **kwargs):
        raise AssertionError("a malformed submission reached the worker")

    monkeypatch.setattr(gg, "_run_worker", no_worker)  # it would say so in its row
    report = tmp_path / "report" / "grades.csv"
    lines = []
    results = grade(
        [tmp_path / "submissions"],
        OPTIONS,
        autograders=autograders,
        report=report,
        progress=lambda r: lines.append(gg.summary_line(r)),
    )
    by_student = {r.student: r for r in results}
    assert len(results) == len(by_student) == len(expected) >= 40
    assert set(by_student) == set(expected)  # exactly one row each; folder.ipynb not searched
    for student, text in expected.items():
        status = by_student[student].status
        assert status.startswith("not graded: ") and text in status, (student, status)
        assert "grader error" not in status and by_student[student].assignment is None
    assert len(lines) == len(results)
    rows, data = _read_report(report)
    students = [r.student for r in results]
    assert [r["student"] for r in rows] == [d["student"] for d in data] == students
    assert [d["status"] for d in data] == [r["status"] for r in rows]
    assert all(r["status"].startswith("not graded: ") for r in rows)
    _assert_nothing_left(*private_tmp)


def test_reading_checks_sizes_before_reading_and_cleans_what_it_keeps(tmp_path):
    # a real zip bomb: 210 MB of spaces in 200 kB; its size is checked before anything is inflated
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as zf, zf.open("b.ipynb", "w") as f:
        for _ in range(210):
            f.write(b" " * 2**20)
    (tmp_path / "bomb.zip").write_bytes(bomb.getvalue())
    start = time.monotonic()
    with pytest.raises(gg.SubmissionError, match="is 220 MB uncompressed, above the limit of 200"):
        read_submission(tmp_path / "bomb.zip")
    assert time.monotonic() - start < 1
    # the limit is an option, named in the message
    nb = _student_notebook()
    _write_json(tmp_path / "small.ipynb", nb)
    with pytest.raises(gg.SubmissionError, match=r"the limit of 0\.01 MB \(see --max-file-size\)"):
        read_submission(tmp_path / "small.ipynb", max_mb=0.01)
    # what the grader does not use is repaired or dropped, not rejected: broken metadata, a byte
    # order mark, ids, outputs, attachments
    nb["metadata"] = ["not", "an", "object"]
    nb["cells"][0]["metadata"] = 7
    nb["cells"][1]["metadata"] = {"tags": "not a list", "otter": "no", "jupyter": 5}
    nb["cells"][1]["attachments"] = {"x.png": None}
    nb["cells"][2]["metadata"] = {"tags": ["keep"], "otter": {"tests": ["q1"], "ignore": "no"}}
    nb["cells"][2]["outputs"] = [{"output_type": "nonsense"}]
    nb["cells"][2]["execution_count"] = "seven"
    (tmp_path / "repaired.ipynb").write_bytes(b"\xef\xbb\xbf" + json.dumps(nb).encode())
    clean = read_submission(tmp_path / "repaired.ipynb")
    nbformat.validate(clean)
    assert [c.source for c in clean.cells] == ["".join(c["source"]) for c in nb["cells"]]
    assert clean.cells[0].metadata == {} and clean.cells[1].metadata == {}
    assert clean.cells[2].metadata == {"tags": ["keep"], "otter": {"tests": ["q1"]}}
    assert clean.cells[2].outputs == [] and clean.cells[2].execution_count is None
    assert clean.metadata == {}
    # an nbformat 3 notebook is converted, and keeps its cells
    v3 = {
        "nbformat": 3,
        "nbformat_minor": 0,
        "metadata": {"name": ""},
        "worksheets": [
            {
                "metadata": {},
                "cells": [
                    {
                        "cell_type": "code",
                        "input": "x = 1",
                        "language": "python",
                        "metadata": {},
                        "outputs": [{"output_type": "pyout", "text": ["1"], "metadata": {}}],
                    },
                    {"cell_type": "heading", "level": 2, "source": "Title", "metadata": {}},
                ],
            }
        ],
    }
    _write_json(tmp_path / "v3.ipynb", v3)
    converted = read_submission(tmp_path / "v3.ipynb")
    cells = [(c.cell_type, c.source) for c in converted.cells]
    assert cells == [("code", "x = 1"), ("markdown", "## Title")]
    # an otter export, with the otter metadata that names the assignment
    (tmp_path / "export.zip").write_bytes(
        _zip_bytes(
            {
                f"{CHAPTER}.ipynb": json.dumps(_student_notebook()).encode(),
                ".OTTER_LOG": b"",
                "__MACOSX/._x.ipynb": b"junk",
            }
        )
    )
    assert read_submission(tmp_path / "export.zip").metadata.otter.assignment_name == CHAPTER


def test_a_notebook_with_50_mb_of_outputs_is_read_quickly(tmp_path):
    nb = _student_notebook()
    blob = "A" * 1_000_000
    nb["cells"][_code_cell_index(nb, 2)]["outputs"] = [
        {"output_type": "display_data", "metadata": {}, "data": {"image/png": blob}}
        for _ in range(55)
    ]
    _write_json(tmp_path / "big.ipynb", nb)
    assert (tmp_path / "big.ipynb").stat().st_size > 55e6
    start = time.monotonic()
    clean = read_submission(tmp_path / "big.ipynb")
    assert time.monotonic() - start < 10
    assert len(clean.cells) == len(nb["cells"]) and all(not c.get("outputs") for c in clean.cells)


# ------------------------------------------------------------------------------------------------
# Grader errors and interrupted runs
# ------------------------------------------------------------------------------------------------


def _fake_worker(submission, ag_zip, out, log, options, env_dir=None, workers=None):
    """Stands in for a worker: otter graded nothing (every exercise scores zero), at once."""
    out.write_text(json.dumps({"questions": {}, "error": None}), encoding="utf-8")
    return True, False


def test_a_grader_error_on_one_submission_costs_only_its_row(
    tmp_path, private_tmp, autograders, monkeypatch
):
    folder = tmp_path / "submissions"
    folder.mkdir()
    for name in ("alice", "carol"):
        _write_json(folder / f"{name}.ipynb", _student_notebook())
    _write_json(folder / "bob.ipynb", _with_cells("# trips the grader"))
    code_cells = gg.code_cells

    def failing_code_cells(nb):
        if any(c.source == "# trips the grader" for c in nb.cells):
            raise RuntimeError("something the grader did not expect")
        return code_cells(nb)

    monkeypatch.setattr(gg, "code_cells", failing_code_cells)
    monkeypatch.setattr(gg, "_run_worker", _fake_worker)
    report = tmp_path / "grades.csv"
    results = grade([folder], OPTIONS, autograders=autograders, report=report)
    assert [r.student for r in results] == ["alice", "bob", "carol"]
    alice, bob, carol = results
    assert bob.status == (
        "not graded: grader error: RuntimeError: something the grader did not expect"
    )
    assert bob.assignment is None and "please report it" in bob.notes[0], bob.notes
    for r in (alice, carol):
        assert r.status == "graded" and r.assignment == CHAPTER and r.total == 0, r.status
    rows, _ = _read_report(report)
    assert [r["status"] for r in rows] == [r.status for r in results]
    _assert_nothing_left(*private_tmp)


def test_an_interrupted_run_kills_its_workers_and_keeps_the_rows_graded(
    tmp_path, private_tmp, autograders
):
    tmp, _ = private_tmp
    folder = tmp_path / "submissions"
    folder.mkdir()
    _write_json(folder / "a_hangs.ipynb", _with_cells(UNINTERRUPTIBLE))
    (folder / "b_broken.ipynb").write_text("{")
    _write_json(folder / "c_also_runs.ipynb", _student_notebook())
    report = tmp_path / "grades.csv"
    seen = []

    def progress(r):
        seen.append(r.student)
        # wait until the hanging notebook runs in its kernel (its guard cell wrote its progress)
        _wait_for(lambda: list(tmp.glob("bn-grading-*/grade-*/progress-1.txt")), 60, "the kernel")
        raise KeyboardInterrupt

    start = time.monotonic()
    with pytest.raises(GradingInterrupted) as stop:
        grade([folder], OPTIONS, autograders=autograders, report=report, progress=progress)
    assert time.monotonic() - start < 60  # not the submission time limit of the hanging one
    assert seen == ["b_broken"] and stop.value.total == 3
    assert [r.student for r in stop.value.results] == ["b_broken"]
    rows, data = _read_report(report)
    assert [r["student"] for r in rows] == [d["student"] for d in data] == ["b_broken"]
    assert rows[0]["status"].startswith("not graded: not a notebook")
    assert not list(tmp_path.glob(".grades.*.tmp"))
    _assert_nothing_left(*private_tmp)


def test_ctrl_c_on_the_command_line_keeps_the_report_and_says_how_many_were_graded(
    tmp_path, private_tmp
):
    tmp, _ = private_tmp
    folder = tmp_path / "submissions"
    folder.mkdir()
    _write_json(folder / "a_hangs.ipynb", _with_cells(UNINTERRUPTIBLE))
    (folder / "b_empty.ipynb").write_bytes(b"")
    report = tmp_path / "out" / "grades.csv"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "grading",
            "grade",
            str(folder),
            "--report",
            str(report),
            "--jobs",
            "2",
            "--cell-timeout",
            "5",
            "--submission-timeout",
            "120",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        first = proc.stdout.readline()
        assert "b_empty.ipynb: not graded: the file is empty" in first, first
        _wait_for(lambda: list(tmp.glob("bn-grading-*/grade-*/progress-1.txt")), 60, "the kernel")
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, (out, err)
    assert f"interrupted: 1 of 2 submissions graded; their rows are in {report}" in err, err
    rows, _ = _read_report(report)
    assert [r["student"] for r in rows] == ["b_empty"]
    _assert_nothing_left(*private_tmp)


def test_the_command_line_size_limit(tmp_path, private_tmp):
    folder = tmp_path / "submissions"
    folder.mkdir()
    _write_json(folder / "alice.ipynb", _student_notebook())
    os.mkfifo(folder / "bob.ipynb")
    report = tmp_path / "grades.csv"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "grading",
            "grade",
            str(folder),
            "--report",
            str(report),
            "--max-file-size",
            "0.01",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    rows, _ = _read_report(report)
    assert [r["student"] for r in rows] == ["alice", "bob"]
    assert "above the limit of 0.01 MB" in rows[0]["status"]
    assert rows[1]["status"] == "not graded: a named pipe (FIFO), not a regular file"
    assert f"wrote {report}" in done.stdout
    _assert_nothing_left(*private_tmp)


# ------------------------------------------------------------------------------------------------
# Killed workers and killed runs leave nothing behind
# ------------------------------------------------------------------------------------------------


def test_killed_workers_leave_nothing_behind_and_big_outputs_are_graded(
    tmp_path, private_tmp, autograders
):
    folder = tmp_path / "submissions"
    folder.mkdir()
    # attempt 1: the kernel SIGKILLs its worker, then holds the GIL (so that only a kill stops it:
    # it cannot even notice that its parent is gone); otter's folders, the kernel's connection
    # file, the kernelspec and the kernel are left to the driver. Attempt 2: the kernel dies.
    kill_worker = "# kills its worker\nimport os, signal\nos.kill(os.getppid(), signal.SIGKILL)\n"
    kill_worker += "sum(range(10**11))"
    kill_kernel = "# kills the kernel\nimport os\nos._exit(1)"
    _write_json(folder / "killer.ipynb", _with_cells(kill_worker, kill_kernel))
    big = _student_notebook()
    big["cells"][_code_cell_index(big, 2)]["outputs"] = [
        {"output_type": "stream", "name": "stdout", "text": "x" * 1_000_000} for _ in range(52)
    ]
    _write_json(folder / "big_outputs.ipynb", big)
    assert (folder / "big_outputs.ipynb").stat().st_size > 50e6
    killer, big_outputs = sorted(
        grade([folder], OPTIONS, autograders=autograders), key=lambda r: r.student != "killer"
    )
    assert big_outputs.status == "graded" and big_outputs.assignment == CHAPTER, big_outputs.status
    assert big_outputs.total == 0 and len(big_outputs.exercises) == 3
    assert killer.status == "graded (parts skipped after a crash or hang)", killer.notes
    assert len(killer.notes) == 2 and all("the kernel died while it ran" in n for n in killer.notes)
    assert "kills its worker" in killer.notes[0] and "kills the kernel" in killer.notes[1]
    _assert_nothing_left(*private_tmp)


def test_folders_of_killed_runs_are_removed_by_the_next_run(tmp_path, private_tmp, autograders):
    tmp, _ = private_tmp
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    host = os.uname().nodename
    # a run that was SIGKILLed: its folder names its (dead) pid; one of its kernels still runs
    stale = tmp / "bn-grading-stale"
    (stale / "grade-x" / "env-1").mkdir(parents=True)
    (stale / OWNER_FILE).write_text(f"{gone.pid} - {host}")
    orphan = subprocess.Popen(["sleep", "60"], start_new_session=True)
    record_process(stale / "grade-x" / "env-1" / "pids", orphan.pid)
    # a kernelspec folder of a killed process (use_this_python, standalone)
    killed = subprocess.run(
        [
            sys.executable,
            "-c",
            "import os, grading.kernels as k; "
            "print(k.use_this_python(), flush=True); os.kill(os.getpid(), 9)",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    kernels = Path(killed.stdout.strip())
    assert kernels.parent == tmp and kernels.name.startswith("bn-grading-kernels-")
    assert (kernels / "kernels" / "python3" / "kernel.json").exists()
    # folders to keep: a live owner (this process), no owner file (being made, or not ours)
    live, unowned = tmp / "bn-grading-live", tmp / "bn-grading-unowned"
    live.mkdir()
    unowned.mkdir()
    (live / OWNER_FILE).write_text(f"{os.getpid()} - {host}")
    (tmp_path / "nothing").mkdir()
    try:
        assert grade([tmp_path / "nothing"], OPTIONS, autograders=autograders) == []
        assert orphan.wait(timeout=10) == -signal.SIGKILL
    finally:
        if orphan.poll() is None:
            orphan.kill()
    assert not stale.exists() and not kernels.exists()
    assert live.exists() and unowned.exists()
    assert remove_stale_folders(tmp) == []
    shutil.rmtree(live)
    shutil.rmtree(unowned)


def test_use_this_python_writes_into_the_folder_it_is_given(tmp_path, private_tmp):
    tmp, _ = private_tmp
    code = (
        "import os, grading.kernels as k; print(k.use_this_python(os.environ['WHERE'])); "
        "print(os.environ['JUPYTER_PATH'].split(os.pathsep)[0])"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "WHERE": str(tmp_path / "given")},
    )
    assert done.stdout.split() == [str(tmp_path / "given")] * 2, done.stderr
    spec = json.loads((tmp_path / "given" / "kernels" / "python3" / "kernel.json").read_text())
    assert spec["argv"][0] == sys.executable
    assert _left_in(tmp) == []
