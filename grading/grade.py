"""Grade submitted exercise notebooks with otter, robustly, and write a per-student report.

For each submission (a notebook, an otter export ``.zip``, or every one of those in a folder):

1. Read it and check it (:func:`read_submission`), and find its assignment: the name otter stored
   in the notebook's metadata, else a chapter name in the file name, else ``--assignment``. Any
   file that cannot be graded gets a row ``not graded: <why, in plain words>``: not a regular file
   (a folder, a symbolic link, which is never followed, a named pipe: checked before opening),
   larger than ``max_file_mb`` (also the uncompressed notebook in a ``.zip``, checked before
   reading it), empty, not UTF-8, not JSON, of an unsupported nbformat version (3 is converted),
   or with cells the grader cannot use (``code cell 3 has "source": null, expected text``). What
   the grader uses is then rebuilt into a clean notebook (cells' type, source, tags and otter
   metadata; outputs dropped), so that nothing downstream meets a malformed cell.
2. Prepare a copy: outputs dropped (they are recomputed), the kernel set to ``python3`` (this
   Python), a marker ``# grading-cell <n>`` appended to every code cell, and a first cell that
   installs :func:`bncourse.guards.install_submission_guard` (each cell is stopped after
   ``cell_timeout`` seconds with a clear ``GradingTimeout`` and may print at most
   ``max_cell_output`` characters) and a hook that saves the scores of the exercises checked so far.
3. Grade the copy with ``otter run`` (otter's non-containerized grader, via
   ``otter.api.grade_submission``) in a separate process, :mod:`grading.worker`, limited to
   ``submission_timeout`` seconds of wall-clock time. The tests call the learner's functions
   through :mod:`bncourse.guards`, which limits each call (``call_timeout``), passes copies or
   read-only arrays, catches every exception and reports wrong types, shapes and values.
4. If the worker dies (the kernel crashed) or runs out of time (code that could not be
   interrupted), the guard's record says what was running. If it was a question's tests (calling
   the learner's code), that question scores zero with the reason and its tests are not run
   again; otherwise the code cell that was running is replaced by a cell that raises an error
   saying why. Then the submission is graded again (up to ``attempts`` times). If no attempt
   completes, the exercises checked before the failure keep their scores and the others get zero,
   with a message.

Every exercise gets a score and, if it lost points, a message; one submission's failure never
stops the run: if the grader itself fails on a submission, its row says
``not graded: grader error: <Type>: <message>`` and the others are graded.

The run (:func:`grade`) keeps everything temporary in one folder of its own, ``bn-grading-*`` in
the system's temporary folder, removed at the end: the autograder zips, each submission's attempts
and, per worker, its kernelspec, ``TMPDIR`` and ``JUPYTER_RUNTIME_DIR`` (otter's grading folders,
the kernels' connection files), so a killed worker leaves nothing behind. Workers and kernels are
killed with their process groups (kernels are recorded by pid: jupyter_client starts them in a
session of their own). A run that was itself killed leaves its folder, with its pid inside; the
next run removes such folders, and kills the processes recorded in them
(:func:`grading.kernels.remove_stale_folders`). Given a report path, :func:`grade` rewrites the
CSV and JSON reports (atomically) after every finished row, in path order; on Ctrl-C it kills the
running workers, keeps the report of the finished rows and raises :class:`GradingInterrupted`.
"""

from __future__ import annotations

import concurrent.futures
import csv
import io
import json
import logging
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from . import AUTOGRADERS, ROOT
from .kernels import (
    KERNELS_ENV,
    PIDS_ENV,
    PREFIX,
    kill_recorded,
    record_process,
    remove_stale_folders,
    write_owner,
)

MARKER = "# grading-cell "
MAX_FILE_MB = 200.0  #: the default size limit of a submission file (and of the notebook in a zip)


@dataclass
class Options:
    cell_timeout: float = 60.0  #: seconds any single notebook cell may run (check cells excepted)
    call_timeout: float = 10.0  #: seconds one call of learner code from a test may run
    submission_timeout: float = 300.0  #: wall-clock seconds for one attempt at a whole submission
    attempts: int = 3  #: gradings of one submission, each without the cell that broke the last
    max_cell_output: int = 100_000  #: characters one cell may print
    max_call_output: int = 10_000  #: characters one call of learner code may print
    jobs: int = 1  #: submissions graded in parallel
    max_file_mb: float = MAX_FILE_MB  #: larger files (MB) are not graded, and not read


@dataclass
class Question:
    name: str
    possible: float


@dataclass
class Autograder:
    name: str
    directory: Path
    questions: list[Question]

    @property
    def possible(self) -> float:
        return sum(q.possible for q in self.questions)

    def zip_to(self, folder: Path) -> Path:
        """Zip the committed autograder folder (what ``otter assign`` zipped) for ``otter run``."""
        path = folder / f"{self.name}-autograder.zip"
        if not path.exists():
            with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
                for file in sorted(p for p in self.directory.rglob("*") if p.is_file()):
                    zf.write(file, file.relative_to(self.directory).as_posix())
        return path


def load_autograders(root: Path = AUTOGRADERS) -> dict[str, Autograder]:
    """The committed autograders, with each question's points as otter resolves them."""
    from otter.nbmeta_config import NBMetadataConfig
    from otter.test_files import create_test_file

    found = {}
    for directory in sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []:
        questions = []
        for test in sorted((directory / "tests").glob("*.py")):
            tf = create_test_file(str(test), NBMetadataConfig())
            questions.append(Question(tf.name, float(tf.possible)))
        found[directory.name] = Autograder(directory.name, directory, questions)
    return found


# ------------------------------------------------------------------------------------------------
# Results
# ------------------------------------------------------------------------------------------------


@dataclass
class ExerciseResult:
    score: float
    possible: float
    cases: list = field(default_factory=list)
    message: str = ""  #: a short explanation when points were lost

    def to_dict(self):
        return {
            "score": self.score,
            "possible": self.possible,
            "message": self.message,
            "cases": self.cases,
        }


@dataclass
class SubmissionResult:
    path: Path
    student: str
    assignment: str | None
    exercises: dict[str, ExerciseResult] = field(default_factory=dict)
    status: str = "graded"
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def total(self) -> float:
        return sum(e.score for e in self.exercises.values())

    @property
    def possible(self) -> float:
        return sum(e.possible for e in self.exercises.values())

    def to_dict(self):
        return {
            "student": self.student,
            "file": str(self.path),
            "assignment": self.assignment,
            "status": self.status,
            "notes": self.notes,
            "total": self.total,
            "possible": self.possible,
            "seconds": round(self.seconds, 1),
            "exercises": {k: v.to_dict() for k, v in self.exercises.items()},
        }


def _short(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def exercise_from_otter(data: dict, question: Question) -> ExerciseResult:
    cases = data.get("cases", [])
    failed = [c for c in cases if not c["passed"]]
    message = ""
    if failed:
        first = failed[0]
        kind = "hidden" if first["hidden"] else "public"
        more = f" (and {len(failed) - 1} more failed test case(s))" if len(failed) > 1 else ""
        message = f"[{kind} test] {_short(first['message'])}{more}"
    return ExerciseResult(float(data.get("score", 0.0)), question.possible, cases, message)


# ------------------------------------------------------------------------------------------------
# Submissions
# ------------------------------------------------------------------------------------------------


SUFFIXES = (".ipynb", ".zip")
CELL_TYPES = ("code", "markdown", "raw")


class SubmissionError(ValueError):
    """A submission the grader cannot grade; the message says why, in plain words."""


def _skipped(name: str) -> bool:
    """Hidden files and folders (``.ipynb_checkpoints``...) and macOS's zip debris."""
    return name.startswith(".") or name == "__MACOSX"


def _search(folder: Path, found: list[Path]) -> None:
    """Append to ``found`` every entry under ``folder`` named like a submission, whatever it is.

    Symbolic links are not followed, and a folder named like a submission is listed (so that its
    row says what it is), not searched. A subfolder that cannot be read is listed too.
    """
    try:
        with os.scandir(folder) as it:
            entries = list(it)
    except OSError:
        found.append(folder)
        return
    for entry in entries:
        if _skipped(entry.name):
            continue
        path = Path(entry.path)
        if path.suffix in SUFFIXES:
            found.append(path)
            continue
        try:
            is_dir = entry.is_dir(follow_symlinks=False)
        except OSError:
            is_dir = False
        if is_dir:
            _search(path, found)


def find_submissions(paths) -> list[tuple[Path, str]]:
    """``(file, student)`` for the notebooks and ``.zip`` exports given directly or found in folders.

    The student is the file's path inside the folder given, without its suffix
    (``alice.ipynb`` -> ``alice``, ``alice/03_batchnorm_algorithm.ipynb`` ->
    ``alice/03_batchnorm_algorithm``), or the file name's stem for a file given directly; bytes of
    a file name that are not UTF-8 are written ``\\xNN``.

    Every entry named ``*.ipynb`` or ``*.zip`` is listed, whatever it is (a folder, a symbolic
    link, a named pipe): :func:`read_submission` then says why it cannot be graded. Hidden files
    and folders and ``__MACOSX`` are left out; symbolic links to folders are not searched.
    """
    found = []
    for path in map(Path, paths):
        if path.is_dir():
            with os.scandir(path):  # a folder given that cannot be read fails the run at once
                pass
            entries: list[Path] = []
            _search(path, entries)
            found.extend(
                (p, _text(p.relative_to(path).with_suffix("").as_posix())) for p in sorted(entries)
            )
        elif os.path.lexists(path):
            found.append((path, _text(path.stem)))
        else:
            raise FileNotFoundError(f"no such file or folder: {path}")
    return found


def _megabytes(size: float) -> str:
    return f"{size / 1e6:.3g} MB"


def _kind(value) -> str:
    """What a JSON value is, in words: ``null``, ``the number 7``, ``a list``..."""
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    if isinstance(value, (int, float)):
        return f"the number {_json_value(value)}"
    if isinstance(value, str):
        return f"the string {_json_value(value)}"
    return "a list" if isinstance(value, list) else "an object"


def _json_value(value) -> str:
    """A JSON value as written in the file, shortened: ``null``, ``42``, ``"x"``, ``{...}``."""
    if isinstance(value, dict):
        return "{...}"
    if isinstance(value, list):
        return "[...]"
    try:
        text = json.dumps(value)
    except (ValueError, TypeError):
        text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _encodable(text: str) -> bool:
    """Whether ``text`` can be written as UTF-8 (JSON may hold unpaired surrogates: ``\\ud800``)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _os_error(exc: OSError) -> str:
    return f"{type(exc).__name__}: {exc.strerror or exc}"


def _not_a_file(path: Path, st: os.stat_result) -> str:
    """Why an entry that is not a regular file cannot be graded."""
    mode = st.st_mode
    if stat.S_ISLNK(mode):
        try:
            target = os.readlink(path)
        except OSError:
            target = "?"
        return (
            f"a symbolic link (to {target}), not a notebook file: links are not followed; "
            "put the file itself in the folder"
        )
    if stat.S_ISDIR(mode):
        if path.suffix in SUFFIXES:
            return (
                "a folder named like a notebook, not a notebook file "
                "(its contents are not searched)"
            )
        try:
            with os.scandir(path):
                pass
        except OSError as exc:
            return f"a folder that cannot be read ({_os_error(exc)})"
        return "a folder, not a notebook file"
    kinds = [
        (stat.S_ISFIFO, "a named pipe (FIFO)"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
    ]
    kind = next((name for test, name in kinds if test(mode)), "a special file")
    return f"{kind}, not a regular file"


def _read_file(path: Path, limit: int, max_mb: float) -> bytes:
    """The bytes of ``path``, a regular file of at most ``limit`` bytes; else SubmissionError.

    What the entry is, is checked before it is opened (``os.lstat``: opening a named pipe would
    block), and again on the open file (it could have been replaced in between); symbolic links
    are never followed, and no more than ``limit`` + 1 bytes are read.
    """
    too_big = "the file is {}, above the limit of {:g} MB (see --max-file-size)"
    try:
        st = os.lstat(path)
    except OSError as exc:
        raise SubmissionError(f"cannot read the file ({_os_error(exc)})") from None
    if not stat.S_ISREG(st.st_mode):
        raise SubmissionError(_not_a_file(path, st))
    if st.st_size > limit:
        raise SubmissionError(too_big.format(_megabytes(st.st_size), max_mb))
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise SubmissionError(f"cannot open the file ({_os_error(exc)})") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise SubmissionError(_not_a_file(path, st))
        chunks, size = [], 0
        while size <= limit:
            chunk = os.read(fd, min(1 << 20, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as exc:
        raise SubmissionError(f"cannot read the file ({_os_error(exc)})") from None
    finally:
        os.close(fd)
    if size > limit:
        raise SubmissionError(too_big.format(f"more than {max_mb:g} MB", max_mb))
    return b"".join(chunks)


def _notebook_in_zip(data: bytes, limit: int, max_mb: float) -> tuple[str, bytes]:
    """``(name, bytes)`` of the one notebook in an otter export; its size is checked first."""
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except Exception as exc:  # noqa: BLE001 - whatever a damaged archive raises
        raise SubmissionError(f"not a valid zip file ({_short(str(exc), 100)})") from None
    with zf:
        infos = [
            i
            for i in zf.infolist()
            if i.filename.endswith(".ipynb")
            and not i.is_dir()
            and "__MACOSX" not in i.filename
            and ".ipynb_checkpoints" not in i.filename
        ]
        if len(infos) != 1:
            raise SubmissionError(
                f"the zip file holds {len(infos)} notebooks, expected exactly one"
            )
        info = infos[0]
        if info.file_size > limit:
            raise SubmissionError(
                f"the notebook {info.filename} in the zip file is {_megabytes(info.file_size)} "
                f"uncompressed, above the limit of {max_mb:g} MB (see --max-file-size)"
            )
        if info.flag_bits & 0x1:
            raise SubmissionError(f"the notebook {info.filename} in the zip file is encrypted")
        try:
            with zf.open(info) as f:
                content = f.read(limit + 1)
        except Exception as exc:  # noqa: BLE001 - bad CRC, bad deflate data, truncated...
            raise SubmissionError(
                f"the zip file is damaged: {info.filename} cannot be extracted "
                f"({type(exc).__name__}: {_short(str(exc), 100)})"
            ) from None
    if len(content) > limit:
        raise SubmissionError(
            f"the notebook {info.filename} in the zip file is larger than "
            f"the limit of {max_mb:g} MB (see --max-file-size)"
        )
    return info.filename, content


def _drop_outputs(raw: dict) -> None:
    """Empty the outputs of every code cell that has some (nbformat 4, or 3's worksheets)."""
    lists = [raw.get("cells")]
    if isinstance(raw.get("worksheets"), list):
        lists += [ws.get("cells") for ws in raw["worksheets"] if isinstance(ws, dict)]
    for cells in lists:
        for cell in cells if isinstance(cells, list) else []:
            if isinstance(cell, dict) and "outputs" in cell:
                cell["outputs"] = []


def _clean_metadata(meta) -> dict:
    """The part of a cell's metadata the grading uses: its tags and otter's settings."""
    if not isinstance(meta, dict):
        return {}

    def texts(value):
        return isinstance(value, list) and all(isinstance(t, str) and _encodable(t) for t in value)

    clean = {}
    if texts(meta.get("tags")):
        clean["tags"] = list(meta["tags"])
    otter = meta.get("otter")
    if isinstance(otter, dict):
        kept = {}
        if texts(otter.get("tests")):
            kept["tests"] = list(otter["tests"])
        if isinstance(otter.get("ignore"), bool):
            kept["ignore"] = otter["ignore"]
        if kept:
            clean["otter"] = kept
    return clean


def _clean_notebook(nb: dict) -> nbformat.NotebookNode:
    """A clean nbformat 4.4 notebook holding what the grader uses of ``nb``; else SubmissionError.

    ``cells`` must be a list of cells (JSON objects), each with a ``cell_type`` of ``code``,
    ``markdown`` or ``raw`` and a ``source`` that is text or a list of texts. Kept: each cell's
    type, source, tags and otter metadata, and the notebook's otter assignment name; outputs,
    execution counts, ids, attachments and the rest of the metadata are dropped.
    """
    if "cells" not in nb:
        raise SubmissionError('not a notebook: it has no "cells" list')
    if not isinstance(nb["cells"], list):
        raise SubmissionError(f'"cells" is {_kind(nb["cells"])}, expected a list of cells')
    cells, code = [], 0
    for i, cell in enumerate(nb["cells"], 1):
        if not isinstance(cell, dict):
            raise SubmissionError(f"cell {i} is {_kind(cell)}, expected a cell (a JSON object)")
        if "cell_type" not in cell:
            raise SubmissionError(f'cell {i} has no "cell_type"')
        kind = cell["cell_type"]
        if not isinstance(kind, str) or kind not in CELL_TYPES:
            raise SubmissionError(
                f'cell {i} has "cell_type": {_json_value(kind)}, '
                'expected "code", "markdown" or "raw"'
            )
        if kind == "code":
            code += 1
            label = f"code cell {code}"
            where = f" (cell {i} of the notebook)" if i != code else ""
        else:
            label, where = f"cell {i} (a {kind} cell)", ""
        if "source" not in cell:
            raise SubmissionError(f'{label} has no "source"{where}')
        source = cell["source"]
        if isinstance(source, list):
            for j, item in enumerate(source, 1):
                if not isinstance(item, str):
                    raise SubmissionError(
                        f'{label} has a "source" list whose item {j} is '
                        f"{_kind(item)}, expected text{where}"
                    )
            source = "".join(source)
        elif not isinstance(source, str):
            raise SubmissionError(
                f'{label} has "source": {_json_value(source)}, expected text{where}'
            )
        if not _encodable(source):
            raise SubmissionError(
                f"{label} holds text that is not valid Unicode (an unpaired "
                f"surrogate, such as \\ud800){where}"
            )
        clean = {
            "cell_type": kind,
            "metadata": _clean_metadata(cell.get("metadata")),
            "source": source,
        }
        if kind == "code":
            clean.update(outputs=[], execution_count=None)
        cells.append(clean)
    metadata = nb.get("metadata")
    otter = metadata.get("otter") if isinstance(metadata, dict) else None
    name = otter.get("assignment_name") if isinstance(otter, dict) else None
    named = isinstance(name, str) and _encodable(name)
    meta = {"otter": {"assignment_name": name}} if named else {}
    return nbformat.from_dict(
        {"nbformat": 4, "nbformat_minor": 4, "metadata": meta, "cells": cells}
    )


_CONVERTING = threading.Lock()


class _NoSchemaErrors(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Notebook JSON is not valid")


def _convert_quietly(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """``nbformat.convert(nb, 4)`` without its log of the schema errors of the notebook (which
    can be long): :func:`_clean_notebook` then says what matters, in the notebook's row."""
    from traitlets.log import get_logger

    with _CONVERTING:
        logger, quiet = get_logger(), _NoSchemaErrors()
        logger.addFilter(quiet)
        try:
            return nbformat.convert(nb, 4)
        finally:
            logger.removeFilter(quiet)


def _notebook_from_bytes(data: bytes) -> nbformat.NotebookNode:
    """Decode, parse, convert (nbformat 3) and check a notebook's bytes (see read_submission)."""
    if not data:
        raise SubmissionError("the file is empty (0 bytes)")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        hint = " (it looks like a zip file: name it .zip)" if data.startswith(b"PK\x03\x04") else ""
        raise SubmissionError(
            f"not a notebook: the file is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset "
            f"{exc.start} is not UTF-8){hint}"
        ) from None
    if not text.strip():
        raise SubmissionError("not a notebook: the file holds only white space")
    try:
        raw = json.loads(text)
    except RecursionError:
        raise SubmissionError("not a notebook: its JSON is nested too deeply") from None
    except json.JSONDecodeError as exc:
        raise SubmissionError(
            f"not a notebook: the file is not valid JSON ({exc.msg} at line "
            f"{exc.lineno}, column {exc.colno})"
        ) from None
    except ValueError as exc:  # e.g. an integer of more than 4300 digits
        raise SubmissionError(f"not a notebook: the file is not valid JSON ({exc})") from None
    del text
    if not isinstance(raw, dict):
        raise SubmissionError(
            f"not a notebook: the file holds {_kind(raw)}, not a notebook "
            "(a JSON object with cells)"
        )
    if "nbformat" not in raw:
        raise SubmissionError(
            'not a notebook: it has no "nbformat" version (a Jupyter notebook has "nbformat": 4)'
        )
    version = raw["nbformat"]
    if type(version) is not int:
        raise SubmissionError(f'"nbformat" is {_json_value(version)}, expected the number 4')
    if version not in (3, 4):
        raise SubmissionError(
            f"nbformat version {version} is not supported: expected 4 (version 3 is converted)"
        )
    _drop_outputs(raw)  # they are recomputed; dropping them first spares converting them
    if version == 3:
        try:
            raw = _convert_quietly(nbformat.from_dict(raw))
        except Exception as exc:  # noqa: BLE001 - whatever nbformat's converter raises
            raise SubmissionError(
                "the nbformat 3 notebook could not be converted to version 4 "
                f"({type(exc).__name__}: {_short(str(exc), 100)})"
            ) from None
    return _clean_notebook(raw)


def read_submission(path: Path, max_mb: float | None = None) -> nbformat.NotebookNode:
    """The notebook in ``path`` (an ``.ipynb`` file, or a ``.zip`` holding exactly one), checked.

    Raises :class:`SubmissionError`, whose message says in plain words what is wrong, for anything
    that is not a regular file of at most ``max_mb`` MB (default :data:`MAX_FILE_MB`; for a
    ``.zip``, the notebook inside it too, checked before it is extracted), a UTF-8 JSON notebook
    of nbformat 4 (or 3, converted) with cells the grader can use. Returns a clean notebook
    (:func:`_clean_notebook`): outputs dropped, only what grading uses kept.
    """
    path = Path(path)
    max_mb = MAX_FILE_MB if max_mb is None else max_mb
    limit = int(max_mb * 1e6)
    data = _read_file(path, limit, max_mb)
    if not data:
        raise SubmissionError("the file is empty (0 bytes)")
    if path.suffix != ".zip":
        return _notebook_from_bytes(data)
    name, data = _notebook_in_zip(data, limit, max_mb)
    try:
        return _notebook_from_bytes(data)
    except SubmissionError as exc:
        raise SubmissionError(f"{name} in the zip file: {exc}") from None


def identify(nb, path: Path, autograders: dict, forced: str | None = None) -> str:
    if forced:
        if forced not in autograders:
            raise SubmissionError(f"unknown assignment {forced!r}; known: {', '.join(autograders)}")
        return forced
    metadata = nb.get("metadata")
    otter = metadata.get("otter") if isinstance(metadata, dict) else None
    name = otter.get("assignment_name") if isinstance(otter, dict) else None
    if isinstance(name, str) and name in autograders:
        return name
    by_file = [a for a in autograders if a in path.name]
    if len(by_file) == 1:
        return by_file[0]
    raise SubmissionError(
        "cannot tell which exercise notebook this is (no otter assignment name in its metadata, "
        f"and no chapter name such as {next(iter(autograders), 'NN_topic')!r} in its file name); "
        "grade it with --assignment NAME"
    )


GUARD_CELL = """\
# Added by the grader (python -m grading): time and output limits for every following cell, and a
# record of the cells and checks that ran, with the scores of the exercises checked so far.
import bncourse.guards as _bn_grading
import grading.results as _bn_grading_results
_bn_grading.install_submission_guard(
    cell_timeout={cell_timeout!r}, max_cell_output={max_output!r}, progress_path={progress!r}
)
_bn_grading_results.install_partial_results_hook({partial!r}, {progress!r}, failed={failed!r})
_bn_grading.seal()  # from here on, every check starts from the state of this moment (see seal)
del _bn_grading, _bn_grading_results
"""

SKIPPED_CELL = """\
raise RuntimeError(
    "[grader] This cell was not run: {why}. "
    "Everything it would have defined is missing."
)
"""

SKIPPED_CHECK = """\
print("[grader] This check was not run: {why}.")
"""


def _checked_question(source: str) -> str | None:
    """The question of a check cell (``grader.check("q")`` and nothing else), else None."""
    lines = [
        ln.strip() for ln in source.splitlines() if ln.strip() and not ln.strip().startswith("#")
    ]
    if len(lines) == 1:
        m = re.fullmatch(r"""grader\.check\(\s*["'](\w+)["']\s*\)""", lines[0])
        if m:
            return m.group(1)
    return None


def prepare(
    nb,
    assignment: str,
    options: Options,
    progress: Path,
    partial: Path,
    skip: dict[int, str],
    failed: dict[str, str] | None = None,
):
    """A gradable copy of ``nb``: see the module docstring, step 2.

    ``skip``: code cell number -> why that cell is not run; ``failed``: question -> why its tests
    are not run (they crashed or hung the kernel before): the question scores zero with that reason.
    """
    failed = failed or {}
    nb = nbformat.from_dict(json.loads(json.dumps(nb)))  # a deep copy
    cells = []
    n = 0
    for cell in nb.cells:
        if cell.get("cell_type") == "code":
            n += 1
            source = cell.get("source", "")
            if isinstance(source, list):
                source = "".join(source)
            if n in skip:
                source = SKIPPED_CELL.format(why=skip[n].replace('"', "'"))
            elif _checked_question(source) in failed:
                source = SKIPPED_CHECK.format(
                    why=failed[_checked_question(source)].replace('"', "'")
                )
            cell["source"] = source.rstrip("\n") + f"\n{MARKER}{n}"
            cell["outputs"] = []
            cell["execution_count"] = None
        cells.append(cell)
    guard = nbformat.v4.new_code_cell(
        GUARD_CELL.format(
            cell_timeout=options.cell_timeout,
            max_output=options.max_cell_output,
            progress=str(progress),
            partial=str(partial),
            failed=dict(failed),
        )
    )
    nb.cells = [guard] + cells
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.metadata["otter"] = {"assignment_name": assignment}
    for cell in nb.cells:  # ids are optional here, and learners' tools sometimes break them
        cell.pop("id", None)
    nb.nbformat, nb.nbformat_minor = 4, 4
    return nb


def code_cells(nb) -> dict[int, str]:
    """Code cell number (1-based) -> its first non-empty line, to name cells in messages."""
    out, n = {}, 0
    for cell in nb.cells:
        if cell.get("cell_type") == "code":
            n += 1
            source = cell.get("source", "")
            source = "".join(source) if isinstance(source, list) else source
            lines = [ln.strip() for ln in source.splitlines() if ln.strip()]
            out[n] = lines[0][:60] if lines else ""
    return out


def _open_entries(progress: Path, start: str, end: str) -> list[str]:
    if not progress.exists():
        return []
    opened = []
    for line in progress.read_text(encoding="utf-8").splitlines():
        kind, _, what = line.partition(" ")
        if kind == start:
            opened.append(what)
        elif kind == end and opened:
            opened.pop()
    return opened


def running_cell(progress: Path) -> int | None:
    """The marked cell that started but did not finish, from the guard's progress file."""
    opened = _open_entries(progress, "start", "end")
    return int(opened[-1]) if opened else None


def running_question(progress: Path) -> str | None:
    """The question whose tests started but did not finish, from the guard's progress file."""
    opened = _open_entries(progress, "qstart", "qend")
    return opened[-1] if opened else None


class _Cancelled(Exception):
    """The run was interrupted: the submission being graded is abandoned, not reported."""


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


class _Workers:
    """The worker processes running for one :func:`grade` call, so that an interrupted run can
    kill them all (they run in sessions of their own, which Ctrl-C does not reach)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._running: set[subprocess.Popen] = set()
        self.cancelled = False

    def start(self, *args, **kwargs) -> subprocess.Popen:
        """``subprocess.Popen(*args, **kwargs)``, unless the run is cancelled (``_Cancelled``)."""
        with self._lock:
            if self.cancelled:
                raise _Cancelled()
            proc = subprocess.Popen(*args, **kwargs)
            self._running.add(proc)
            return proc

    def finished(self, proc: subprocess.Popen) -> None:
        with self._lock:
            self._running.discard(proc)

    def cancel(self) -> None:
        """Start no more workers, and kill the running ones with their process groups."""
        with self._lock:
            self.cancelled = True
            running = list(self._running)
        for proc in running:
            _kill_group(proc.pid)


def _run_worker(
    submission: Path,
    ag_zip: Path,
    out: Path,
    log: Path,
    options: Options,
    env_dir: Path | None = None,
    workers: _Workers | None = None,
):
    """Run :mod:`grading.worker`; returns (finished, timed_out).

    Everything the worker and its kernel write goes to ``env_dir`` (default: beside ``out``):
    ``tmp/`` is their ``TMPDIR`` (otter's grading folder and results, the kernel's connection
    file), ``runtime/`` their ``JUPYTER_RUNTIME_DIR``, ``jupyter/`` holds the kernelspec, and
    ``pids/`` records the worker's and the kernel's pids. Afterwards the worker's whole process
    group is killed and, if it did not finish, its kernel too (it runs in a session of its own).
    Raises ``_Cancelled`` if ``workers`` is cancelled (the run was interrupted) meanwhile.
    """
    env_dir = Path(env_dir) if env_dir is not None else out.with_name(out.stem + "-env")
    tmp, runtime, jupyter, pids = (env_dir / name for name in ("tmp", "runtime", "jupyter", "pids"))
    for folder in (tmp, runtime, pids):
        folder.mkdir(parents=True, exist_ok=True)
    workers = workers or _Workers()
    env = dict(os.environ)
    env["BNLIB_GRADING_CALL_TIMEOUT"] = str(options.call_timeout)
    env["BNLIB_GRADING_MAX_OUTPUT"] = str(options.max_call_output)
    env["PYTHONPATH"] = str(ROOT) + (
        os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else ""
    )
    env.setdefault("MPLBACKEND", "Agg")
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    env.setdefault("KERAS_BACKEND", "tensorflow")
    env["PYDEVD_DISABLE_FILE_VALIDATION"] = "1"
    env["TMPDIR"] = env["TEMP"] = env["TMP"] = str(tmp)
    env["JUPYTER_RUNTIME_DIR"] = str(runtime)
    env[KERNELS_ENV] = str(jupyter)
    env[PIDS_ENV] = str(pids)
    rc, timed_out = None, False
    with open(log, "wb") as log_file:
        proc = workers.start(
            [sys.executable, "-m", "grading.worker", str(submission), str(ag_zip), str(out)],
            cwd=str(ROOT),
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, killed as a whole
        )
        try:
            record_process(pids, proc.pid)
            rc = proc.wait(timeout=options.submission_timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
        finally:
            _kill_group(proc.pid)
            proc.wait()
            workers.finished(proc)
            if proc.returncode != 0:  # killed, or otter failed: its kernel may still run
                kill_recorded(pids)
    if workers.cancelled:
        raise _Cancelled()
    return (rc == 0 and out.exists()), timed_out


def _log_tail(log: Path, lines: int = 6) -> str:
    try:
        text = log.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    keep = [ln for ln in text.splitlines() if ln.strip() and "without encryption" not in ln]
    return " | ".join(keep[-lines:])


def grade_one(
    path: Path,
    autograders: dict,
    options: Options,
    workdir: Path,
    forced=None,
    student: str | None = None,
    *,
    workers: _Workers | None = None,
) -> SubmissionResult:
    """Grade one submission file; never raises for a bad submission.

    A file that cannot be read or identified gets a ``not graded: <why>`` status. ``workers``
    (given by :func:`grade`) lets an interrupted run kill the worker; then ``_Cancelled`` is raised.
    """
    start = time.monotonic()
    path = Path(path)
    student = student or _text(path.stem)
    result = SubmissionResult(path=path, student=student, assignment=None)
    try:
        nb = read_submission(path, options.max_file_mb)
        assignment = identify(nb, path, autograders, forced)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is reported, not raised
        if isinstance(exc, SubmissionError):
            result.status = f"not graded: {exc}"
        elif isinstance(exc, MemoryError):
            result.status = "not graded: the file is too large to read into memory"
        else:
            result.status = f"not graded: {type(exc).__name__}: {_short(str(exc))}"
        result.seconds = time.monotonic() - start
        return result
    result.assignment = assignment
    ag = autograders[assignment]
    folder = Path(tempfile.mkdtemp(prefix="grade-", dir=workdir))
    try:
        _grade_attempts(nb, assignment, ag, options, folder, workdir, result, workers)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    result.seconds = time.monotonic() - start
    return result


def _grade_attempts(
    nb,
    assignment: str,
    ag: Autograder,
    options: Options,
    folder: Path,
    workdir: Path,
    result: SubmissionResult,
    workers: _Workers | None,
) -> None:
    """Grade ``nb`` in up to ``options.attempts`` workers (module docstring, steps 2-4) and fill
    ``result`` in; each attempt's files stay in ``folder``."""
    ag_zip = ag.zip_to(workdir)
    cells = code_cells(nb)
    skip: dict[int, str] = {}
    failed: dict[str, str] = {}
    data = None
    for attempt in range(1, options.attempts + 1):
        progress = folder / f"progress-{attempt}.txt"
        partial = folder / f"partial-{attempt}.json"
        out = folder / f"results-{attempt}.json"
        log = folder / f"worker-{attempt}.log"
        sub_dir = folder / f"attempt-{attempt}"
        sub_dir.mkdir()
        submission = sub_dir / f"{assignment}.ipynb"
        nbformat.write(
            prepare(nb, assignment, options, progress, partial, skip, failed), submission
        )
        finished, timed_out = _run_worker(
            submission, ag_zip, out, log, options, folder / f"env-{attempt}", workers
        )
        if finished:
            data = json.loads(out.read_text(encoding="utf-8"))
            break
        what = (
            f"grading ran past the submission time limit of {options.submission_timeout:g} s"
            if timed_out
            else "the kernel died"
        )
        question = running_question(progress)
        culprit = running_cell(progress)
        again = "graded again" if attempt < options.attempts else "no grading attempts left"
        if question is not None and question not in failed:
            # the learner's code crashed or hung the kernel while this question's tests called it
            failed[question] = f"{what} while its tests ran"
            result.notes.append(f"{question}: {what} while its tests ran; scored zero, {again}")
            continue
        if culprit is not None and culprit not in skip:
            skip[culprit] = f"{what} while it ran (first grading attempt {attempt})"
            cell = f"code cell {culprit} ({cells.get(culprit, '')!r})"
            result.notes.append(
                f"{cell}: {what} while it ran; {again} without it"
                if attempt < options.attempts
                else f"{cell}: {what} while it ran; {again}"
            )
            continue
        result.notes.append(
            f"{what} outside the learner's cells (attempt {attempt}): {_log_tail(log)}"
            if culprit is None
            else f"{what} again in code cell {culprit}"
        )
        break
    if data is None and partial.exists():  # no attempt completed: keep what was checked before
        data = json.loads(partial.read_text(encoding="utf-8"))
        data["error"] = f"grading stopped: {what}"
    questions = (data or {}).get("questions", {})
    for q in ag.questions:
        if q.name in questions:
            result.exercises[q.name] = exercise_from_otter(questions[q.name], q)
        else:
            why = (data or {}).get("error") or "grading did not complete"
            result.exercises[q.name] = ExerciseResult(0.0, q.possible, [], f"not graded: {why}")
    if data is None or data.get("error"):
        result.status = "incomplete: " + ((data or {}).get("error") or "grading did not complete")
    elif result.notes:
        result.status = "graded (parts skipped after a crash or hang)"


def _grade_or_report(
    path: Path,
    student: str,
    autograders: dict,
    options: Options,
    workdir: Path,
    forced,
    workers: _Workers,
) -> SubmissionResult:
    """:func:`grade_one`, with any failure of the grader itself reported in the row."""
    start = time.monotonic()
    try:
        return grade_one(path, autograders, options, workdir, forced, student, workers=workers)
    except _Cancelled:
        raise
    except Exception as exc:  # noqa: BLE001 - one submission's grader error never stops the run
        where = traceback.extract_tb(exc.__traceback__)[-1]
        return SubmissionResult(
            path=Path(path),
            student=student or _text(Path(path).stem),
            assignment=None,
            status=f"not graded: grader error: {type(exc).__name__}: {_short(str(exc))}",
            notes=[
                f"the grader failed at {Path(where.filename).name}:{where.lineno} "
                f"({where.name}); please report it"
            ],
            seconds=time.monotonic() - start,
        )


class GradingInterrupted(KeyboardInterrupt):
    """:func:`grade` was interrupted (Ctrl-C). ``results``: the submissions graded before, in path
    order (the report, if one was asked for, holds them); ``total``: how many there were."""

    def __init__(self, results: list[SubmissionResult], total: int, report: Path | None = None):
        super().__init__(f"grading interrupted: {len(results)} of {total} submissions graded")
        self.results, self.total, self.report = results, total, report


def grade(
    paths,
    options: Options | None = None,
    forced: str | None = None,
    autograders=None,
    progress=None,
    report: Path | str | None = None,
) -> list[SubmissionResult]:
    """Grade every submission under ``paths``; returns one result per file, in path order.

    ``progress(result)`` is called as each submission finishes (in the order they finish). With
    ``report`` (a CSV path), the reports of :func:`write_reports` are written at once (empty) and
    rewritten after every finished submission, rows in path order, so that an interrupted run
    keeps what it graded. A submission the grader itself fails on gets a
    ``not graded: grader error: ...`` row, and the others are graded.

    On KeyboardInterrupt, or any exception (from ``progress``, say), the running workers and their
    kernels are killed, the report of the finished rows is written and
    :class:`GradingInterrupted` is raised (or the exception re-raised). Everything temporary lives
    in one ``bn-grading-*`` folder, removed at the end; such folders of killed runs are removed
    first (:func:`grading.kernels.remove_stale_folders`).
    """
    options = options or Options()
    autograders = autograders if autograders is not None else load_autograders()
    if not autograders:
        raise RuntimeError(f"no autograders in {AUTOGRADERS}; run `make exercises` first")
    files = find_submissions(paths)
    report = Path(report) if report is not None else None
    done: dict[int, SubmissionResult] = {}

    def rows() -> list[SubmissionResult]:
        return [done[i] for i in sorted(done)]

    def save() -> None:
        if report is not None:
            write_reports(rows(), report, autograders)

    remove_stale_folders()
    if files:
        save()  # a report that cannot be written fails now, before any grading
    workdir = Path(tempfile.mkdtemp(prefix=PREFIX))
    try:
        write_owner(workdir)
        for ag in autograders.values():
            ag.zip_to(workdir)
        workers = _Workers()
        pool = concurrent.futures.ThreadPoolExecutor(max_workers=max(1, options.jobs))
        futures: dict[concurrent.futures.Future, int] = {}
        try:
            for i, (f, student) in enumerate(files):
                fut = pool.submit(
                    _grade_or_report, f, student, autograders, options, workdir, forced, workers
                )
                futures[fut] = i
            for fut in concurrent.futures.as_completed(futures):
                done[futures[fut]] = res = fut.result()
                save()
                if progress:
                    progress(res)
        except BaseException as exc:
            workers.cancel()
            pool.shutdown(wait=True, cancel_futures=True)
            for fut, i in futures.items():
                if i not in done and fut.done() and not fut.cancelled() and fut.exception() is None:
                    done[i] = fut.result()
            try:
                save()
            except Exception:  # noqa: BLE001 - the original exception is the one to see
                pass
            if isinstance(exc, KeyboardInterrupt) and not isinstance(exc, GradingInterrupted):
                raise GradingInterrupted(rows(), len(files), report) from exc
            raise
        finally:
            pool.shutdown(wait=True)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return rows()


# ------------------------------------------------------------------------------------------------
# Reports
# ------------------------------------------------------------------------------------------------


def _column(assignment: str, question: str) -> str:
    return f"{assignment[:2]}_{question}"


def _number(x: float):
    return int(x) if float(x).is_integer() else round(x, 3)


def _text(s: str) -> str:
    """``s``, writable as UTF-8: a file name's undecodable bytes as ``\\xNN`` (other unpaired
    surrogates as ``\\udNNN``)."""
    if _encodable(s):
        return s
    try:
        return s.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:
        return s.encode("utf-8", "backslashreplace").decode("utf-8")


def _texts(value):
    """``value`` (JSON data) with every string made writable as UTF-8 (:func:`_text`)."""
    if isinstance(value, str):
        return _text(value)
    if isinstance(value, list):
        return [_texts(v) for v in value]
    if isinstance(value, dict):
        return {_texts(k): _texts(v) for k, v in value.items()}
    return value


def _write_atomically(path: Path, write) -> None:
    """Call ``write(file)`` on a temporary file beside ``path``, then rename it to ``path``:
    a reader (or an interrupted run) sees the old file or the new one, never half of one."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{threading.get_ident()}.tmp")
    try:
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            write(f)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def write_reports(
    results: list[SubmissionResult], csv_path: Path, autograders: dict
) -> tuple[Path, Path]:
    """Write the CSV (one row per submission) and, beside it, the JSON report with every message.

    Each file is replaced atomically, so :func:`grade` can rewrite them after every row.
    """
    csv_path = Path(csv_path)
    json_path = csv_path.with_suffix(".json")
    csv_path.parent.mkdir(parents=True, exist_ok=True)
    seen = []
    for r in results:
        if r.assignment and r.assignment not in seen:
            seen.append(r.assignment)
    columns = [_column(a, q.name) for a in sorted(seen) for q in autograders[a].questions]
    header = ["student", "file", "assignment", *columns, "total", "possible", "status", "feedback"]

    def write_csv(f):
        writer = csv.writer(f)
        writer.writerow(header)
        for r in results:
            row = {"student": r.student, "file": str(r.path), "assignment": r.assignment or ""}
            for q, e in r.exercises.items():
                row[_column(r.assignment, q)] = _number(e.score)
            row["total"] = _number(r.total) if r.assignment else ""
            row["possible"] = _number(r.possible) if r.assignment else ""
            row["status"] = r.status
            feedback = [f"{q}: {e.message}" for q, e in r.exercises.items() if e.message]
            row["feedback"] = " || ".join(r.notes + feedback)
            writer.writerow([_texts(row.get(h, "")) for h in header])

    _write_atomically(csv_path, write_csv)
    data = _texts([r.to_dict() for r in results])
    _write_atomically(json_path, lambda f: json.dump(data, f, indent=1))
    return csv_path, json_path


def summary_line(r: SubmissionResult) -> str:
    if r.assignment is None:
        return _text(f"{r.path}: {r.status}")
    parts = " ".join(
        f"{q.split('_')[0]}={_number(e.score)}/{_number(e.possible)}"
        for q, e in r.exercises.items()
    )
    extra = "" if r.status == "graded" else f"  [{r.status}]"
    score = f"{_number(r.total)}/{_number(r.possible)}"
    return _text(f"{r.path}: {r.assignment} {score} ({parts}) in {r.seconds:.0f} s{extra}")
