"""Grade submitted exercise notebooks with otter, robustly, and write a per-student report.

For each submission (a notebook, an otter export ``.zip``, or every one of those in a folder):

1. Read it and find its assignment: the name otter stored in the notebook's metadata, else a
   chapter name in the file name, else ``--assignment``.
2. Prepare a copy: outputs dropped (they are recomputed), the kernel set to ``python3`` (this
   Python), a marker ``# grading-cell <n>`` appended to every code cell, and a first cell that
   installs :func:`bnlib.grading.install_submission_guard` (each cell is stopped after
   ``cell_timeout`` seconds with a clear ``GradingTimeout`` and may print at most
   ``max_cell_output`` characters) and a hook that saves the scores of the exercises checked so far.
3. Grade the copy with ``otter run`` (otter's non-containerized grader, via
   ``otter.api.grade_submission``) in a separate process, :mod:`grading.worker`, limited to
   ``submission_timeout`` seconds of wall-clock time. The tests call the learner's functions
   through :mod:`bnlib.grading`, which limits each call (``call_timeout``), passes copies or
   read-only arrays, catches every exception and reports wrong types, shapes and values.
4. If the worker dies (the kernel crashed) or runs out of time (code that could not be
   interrupted), the guard's record says what was running. If it was a question's tests (calling
   the learner's code), that question scores zero with the reason and its tests are not run
   again; otherwise the code cell that was running is replaced by a cell that raises an error
   saying why. Then the submission is graded again (up to ``attempts`` times). If no attempt
   completes, the exercises checked before the failure keep their scores and the others get zero,
   with a message.

Every exercise gets a score and, if it lost points, a message; one submission's failure never
stops the run.
"""

from __future__ import annotations

import concurrent.futures
import csv
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from . import AUTOGRADERS, ROOT

MARKER = "# grading-cell "


@dataclass
class Options:
    cell_timeout: float = 60.0  #: seconds any single notebook cell may run (check cells excepted)
    call_timeout: float = 10.0  #: seconds one call of learner code from a test may run
    submission_timeout: float = 300.0  #: wall-clock seconds for one attempt at a whole submission
    attempts: int = 3  #: gradings of one submission, each without the cell that broke the last
    max_cell_output: int = 100_000  #: characters one cell may print
    max_call_output: int = 10_000  #: characters one call of learner code may print
    jobs: int = 1  #: submissions graded in parallel


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
    from otter.test_files import create_test_file
    from otter.nbmeta_config import NBMetadataConfig

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
        return {"score": self.score, "possible": self.possible, "message": self.message, "cases": self.cases}


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


def find_submissions(paths) -> list[tuple[Path, str]]:
    """``(file, student)`` for the notebooks and ``.zip`` exports given directly or found in folders.

    The student is the file's path inside the folder given, without its suffix
    (``alice.ipynb`` -> ``alice``, ``alice/03_batchnorm_algorithm.ipynb`` ->
    ``alice/03_batchnorm_algorithm``), or the file name's stem for a file given directly.
    """
    found = []
    for path in map(Path, paths):
        if path.is_dir():
            for p in sorted(path.rglob("*")):
                parts = p.relative_to(path).parts
                if p.is_file() and p.suffix in {".ipynb", ".zip"} and not any(
                    s.startswith(".") or s == "__MACOSX" for s in parts
                ):
                    found.append((p, p.relative_to(path).with_suffix("").as_posix()))
        elif path.exists():
            found.append((path, path.stem))
        else:
            raise FileNotFoundError(f"no such file or folder: {path}")
    return found


def read_submission(path: Path) -> nbformat.NotebookNode:
    """The notebook in ``path`` (an ``.ipynb`` file, or a ``.zip`` holding exactly one)."""
    if path.suffix == ".zip":
        with zipfile.ZipFile(path) as zf:
            names = [
                n for n in zf.namelist()
                if n.endswith(".ipynb") and "__MACOSX" not in n and ".ipynb_checkpoints" not in n
            ]
            if len(names) != 1:
                raise ValueError(f"the zip file holds {len(names)} notebooks, expected exactly one")
            text = zf.read(names[0]).decode("utf-8")
    else:
        text = path.read_text(encoding="utf-8")
    nb = nbformat.reads(text, as_version=4)
    if not isinstance(nb.get("cells"), list):
        raise ValueError("not a Jupyter notebook (no cells)")
    return nb


def identify(nb, path: Path, autograders: dict, forced: str | None = None) -> str:
    if forced:
        if forced not in autograders:
            raise ValueError(f"unknown assignment {forced!r}; known: {', '.join(autograders)}")
        return forced
    name = (nb.get("metadata", {}).get("otter") or {}).get("assignment_name")
    if name in autograders:
        return name
    by_file = [a for a in autograders if a in path.name]
    if len(by_file) == 1:
        return by_file[0]
    raise ValueError(
        "cannot tell which exercise notebook this is (no otter assignment name in its metadata, "
        f"and no chapter name such as {next(iter(autograders), 'NN_topic')!r} in its file name); "
        "grade it with --assignment NAME"
    )


GUARD_CELL = """\
# Added by the grader (python -m grading): time and output limits for every following cell, and a
# record of the cells and checks that ran, with the scores of the exercises checked so far.
import bnlib.grading as _bn_grading
import grading.results as _bn_grading_results
_bn_grading.install_submission_guard(cell_timeout={cell_timeout!r}, max_cell_output={max_output!r}, progress_path={progress!r})
_bn_grading_results.install_partial_results_hook({partial!r}, {progress!r}, failed={failed!r})
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
    lines = [ln.strip() for ln in source.splitlines() if ln.strip() and not ln.strip().startswith("#")]
    if len(lines) == 1:
        m = re.fullmatch(r"""grader\.check\(\s*["'](\w+)["']\s*\)""", lines[0])
        if m:
            return m.group(1)
    return None


def prepare(nb, assignment: str, options: Options, progress: Path, partial: Path, skip: dict[int, str],
            failed: dict[str, str] | None = None):
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
                source = SKIPPED_CHECK.format(why=failed[_checked_question(source)].replace('"', "'"))
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
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
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


def _run_worker(submission: Path, ag_zip: Path, out: Path, log: Path, options: Options):
    """Run :mod:`grading.worker`; returns (finished, timed_out). Kills its whole process group."""
    env = dict(os.environ)
    env["BNLIB_GRADING_CALL_TIMEOUT"] = str(options.call_timeout)
    env["BNLIB_GRADING_MAX_OUTPUT"] = str(options.max_call_output)
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.setdefault("MPLBACKEND", "Agg")
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    env.setdefault("KERAS_BACKEND", "tensorflow")
    env["PYDEVD_DISABLE_FILE_VALIDATION"] = "1"
    with open(log, "wb") as log_file:
        proc = subprocess.Popen(
            [sys.executable, "-m", "grading.worker", str(submission), str(ag_zip), str(out)],
            cwd=str(ROOT),
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: the kernel goes down with it
        )
        try:
            rc = proc.wait(timeout=options.submission_timeout)
            timed_out = False
        except subprocess.TimeoutExpired:
            timed_out = True
            rc = None
        finally:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            proc.wait()
    return (rc == 0 and out.exists()), timed_out


def _log_tail(log: Path, lines: int = 6) -> str:
    try:
        text = log.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    keep = [ln for ln in text.splitlines() if ln.strip() and "without encryption" not in ln]
    return " | ".join(keep[-lines:])


def grade_one(path: Path, autograders: dict, options: Options, workdir: Path, forced=None,
              student: str | None = None) -> SubmissionResult:
    """Grade one submission file; never raises for a bad submission."""
    start = time.monotonic()
    student = student or path.stem
    result = SubmissionResult(path=path, student=student, assignment=None)
    try:
        nb = read_submission(path)
        assignment = identify(nb, path, autograders, forced)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is reported, not raised
        result.status = f"not graded: {type(exc).__name__}: {exc}"
        result.seconds = time.monotonic() - start
        return result
    result.assignment = assignment
    ag = autograders[assignment]
    folder = Path(tempfile.mkdtemp(prefix="grade-", dir=workdir))
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
        nbformat.write(prepare(nb, assignment, options, progress, partial, skip, failed), submission)
        finished, timed_out = _run_worker(submission, ag_zip, out, log, options)
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
            result.notes.append(f"code cell {culprit} ({cells.get(culprit, '')!r}): {what} while it ran; {again} without it"
                                if attempt < options.attempts else
                                f"code cell {culprit} ({cells.get(culprit, '')!r}): {what} while it ran; {again}")
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
    result.seconds = time.monotonic() - start
    shutil.rmtree(folder, ignore_errors=True)
    return result


def grade(paths, options: Options | None = None, forced: str | None = None, autograders=None,
          progress=None) -> list[SubmissionResult]:
    """Grade every submission under ``paths``; returns one result per file, in path order."""
    options = options or Options()
    autograders = autograders if autograders is not None else load_autograders()
    if not autograders:
        raise RuntimeError(f"no autograders in {AUTOGRADERS}; run `make exercises` first")
    files = find_submissions(paths)
    with tempfile.TemporaryDirectory(prefix="bn-grading-") as tmp:
        workdir = Path(tmp)
        for ag in autograders.values():
            ag.zip_to(workdir)
        with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, options.jobs)) as pool:
            futures = [pool.submit(grade_one, f, autograders, options, workdir, forced, student)
                       for f, student in files]
            results = []
            for fut in futures:
                res = fut.result()
                if progress:
                    progress(res)
                results.append(res)
    return results


# ------------------------------------------------------------------------------------------------
# Reports
# ------------------------------------------------------------------------------------------------


def _column(assignment: str, question: str) -> str:
    return f"{assignment[:2]}_{question}"


def _number(x: float):
    return int(x) if float(x).is_integer() else round(x, 3)


def write_reports(results: list[SubmissionResult], csv_path: Path, autograders: dict) -> tuple[Path, Path]:
    """Write the CSV (one row per submission) and, beside it, the JSON report with every message."""
    csv_path = Path(csv_path)
    json_path = csv_path.with_suffix(".json")
    csv_path.parent.mkdir(parents=True, exist_ok=True)
    seen = []
    for r in results:
        if r.assignment and r.assignment not in seen:
            seen.append(r.assignment)
    columns = [_column(a, q.name) for a in sorted(seen) for q in autograders[a].questions]
    header = ["student", "file", "assignment", *columns, "total", "possible", "status", "feedback"]
    with open(csv_path, "w", newline="", encoding="utf-8") as f:
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
            writer.writerow([row.get(h, "") for h in header])
    with open(json_path, "w", encoding="utf-8") as f:
        json.dump([r.to_dict() for r in results], f, indent=1)
    return csv_path, json_path


def summary_line(r: SubmissionResult) -> str:
    if r.assignment is None:
        return f"{r.path}: {r.status}"
    parts = " ".join(f"{q.split('_')[0]}={_number(e.score)}/{_number(e.possible)}" for q, e in r.exercises.items())
    extra = "" if r.status == "graded" else f"  [{r.status}]"
    return f"{r.path}: {r.assignment} {_number(r.total)}/{_number(r.possible)} ({parts}) in {r.seconds:.0f} s{extra}"
