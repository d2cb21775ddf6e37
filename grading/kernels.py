"""Make the Jupyter kernels that otter starts run this very Python (the project's venv), quickly,
and leave nothing behind when a grading process is killed.

- :func:`use_this_python` points the ``python3`` kernel at this Python.
- The processes of a grading run (the workers and their kernels) are recorded, one file per
  process named after its pid, in a ``pids`` folder (:func:`record_process`), so that they can be
  killed even when the process that started them was killed first (:func:`kill_recorded`).
- The temporary folders of a grading run are named ``bn-grading-*`` and hold an
  :data:`OWNER_FILE` naming the process that made them (:func:`write_owner`);
  :func:`remove_stale_folders` removes those whose owner is gone (it was killed before it could
  clean up), after killing the processes recorded inside them.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import signal
import stat
import sys
import tempfile
from pathlib import Path

_DONE: Path | None = None
_ROOT = Path(__file__).resolve().parent.parent

#: The prefix of every temporary folder of a grading run (the driver's, the kernelspecs').
PREFIX = "bn-grading-"
#: The file inside such a folder that names the process that made it: ``pid start-time host``.
OWNER_FILE = "owner.pid"
#: Environment variables through which the grader (:mod:`grading.grade`) tells a worker where to
#: put its kernelspec (:func:`use_this_python`), and a worker's kernel where to record its pid.
KERNELS_ENV = "BN_GRADING_KERNELS"
PIDS_ENV = "BN_GRADING_PIDS"


def skip_slow_imports() -> None:
    """Leave out ``rfc3987_syntax`` in this process: it costs about two seconds at every start.

    jsonschema imports it only to register the optional ``iri`` and ``iri-reference`` format
    checks, and registers them only if the import succeeds; nbformat's schemas (what otter,
    nbclient and the grader validate) use neither format. Every process of a grading run (the
    driver, the worker, the kernel) imports nbformat, so this halves the time to grade a notebook.
    """
    sys.modules.setdefault("rfc3987_syntax", None)


def use_this_python(root: Path | str | None = None) -> Path:
    """Point the ``python3`` kernel at ``sys.executable`` for this process and its children.

    Notebooks name their kernel ``python3``; Jupyter resolves that name through its data
    directories, where an instructor's machine may have a ``python3`` kernel of another Python
    without bnlib or otter. A kernelspec in a directory at the front of ``JUPYTER_PATH`` takes
    precedence. Returns that directory.

    ``root``: the directory to write the kernelspec into (created if needed; whoever passes it
    removes it, as the grader does with its workers'). Without it, a fresh ``bn-grading-kernels-*``
    directory in the system's temporary folder is made once per process and removed at exit; its
    :data:`OWNER_FILE` lets a later grading run remove it if this process is killed first.
    """
    global _DONE
    if _DONE is not None and (root is None or Path(root) == _DONE):
        return _DONE
    if root is None:
        root = Path(tempfile.mkdtemp(prefix=PREFIX + "kernels-"))
        write_owner(root)
        atexit.register(shutil.rmtree, root, ignore_errors=True)
    root = Path(root)
    spec = root / "kernels" / "python3"
    spec.mkdir(parents=True, exist_ok=True)
    (spec / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [
                    sys.executable,
                    "-m",
                    "grading.kernel_launcher",
                    "-f",
                    "{connection_file}",
                ],
                "display_name": "Python 3 (grading)",
                "language": "python",
            }
        )
    )
    old = os.environ.get("JUPYTER_PATH")
    os.environ["JUPYTER_PATH"] = str(root) + (os.pathsep + old if old else "")
    # the kernel starts in a temporary folder and must still import grading.kernel_launcher
    paths = os.environ.get("PYTHONPATH", "").split(os.pathsep)
    if str(_ROOT) not in paths:
        os.environ["PYTHONPATH"] = os.pathsep.join([str(_ROOT)] + [p for p in paths if p])
    _DONE = root
    return root


# ------------------------------------------------------------------------------------------------
# Processes and folders of a grading run
# ------------------------------------------------------------------------------------------------


def _stat_fields(pid: int) -> list[str] | None:
    """The fields of ``/proc/<pid>/stat`` from the state on (Linux), else None."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    return text.rpartition(")")[2].split()  # the command name, in parentheses, may hold spaces


def _start_time(pid: int) -> str | None:
    """When process ``pid`` started (clock ticks since boot), where the system says (Linux)."""
    fields = _stat_fields(pid)
    return fields[19] if fields and len(fields) > 19 else None


def _identity(pid: int) -> str:
    return f"{pid} {_start_time(pid) or '-'} {os.uname().nodename}"


def _read_identity(path: Path) -> tuple[int, str | None, str] | None:
    """``(pid, start time or None, host)`` from a file written by :func:`_identity`, else None."""
    try:
        pid, start, host = path.read_text(encoding="utf-8").split()
        return int(pid), (None if start == "-" else start), host
    except (OSError, ValueError, UnicodeDecodeError):
        return None


def is_alive(pid: int, start: str | None = None) -> bool:
    """Whether process ``pid`` runs, and is the one that started at ``start`` (if known)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # it exists, under another user
    except OverflowError:
        return False
    fields = _stat_fields(pid)
    if fields is None:
        return True  # no /proc: the pid exists, which is all this system tells
    if fields[0] == "Z":
        return False  # a zombie: it has exited and waits for its parent to reap it
    return start is None or len(fields) <= 19 or fields[19] == start


def write_owner(folder: Path) -> None:
    """Record in ``folder`` that this process owns it (atomically: the file is whole or absent)."""
    folder = Path(folder)
    tmp = folder / (OWNER_FILE + ".tmp")
    tmp.write_text(_identity(os.getpid()), encoding="utf-8")
    os.replace(tmp, folder / OWNER_FILE)


def record_process(folder: Path | str, pid: int | None = None) -> None:
    """Record process ``pid`` (default: this one) in ``folder``, to be killed by
    :func:`kill_recorded`. The process must lead its own process group (start_new_session)."""
    pid = os.getpid() if pid is None else pid
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / str(pid)).write_text(_identity(pid), encoding="utf-8")


def record_this_kernel() -> None:
    """In a grading kernel: record its pid where the worker's environment says, if it says.

    If the worker that started the kernel is already gone (killed while the kernel started), the
    kernel exits: the grader kills recorded kernels after their worker is gone, so a kernel that
    recorded itself before its worker died is killed, and one that did not, stops here.
    """
    folder = os.environ.get(PIDS_ENV)
    if not folder:
        return
    try:
        record_process(folder)
    except OSError:
        pass
    parent = os.environ.get("JPY_PARENT_PID", "")
    if parent.isdigit() and os.getppid() != int(parent):
        os._exit(1)


def kill_recorded(folder: Path | str) -> int:
    """Kill (SIGKILL) the process group of every process recorded in ``folder`` that still runs.

    A process whose start time differs from the recorded one is not the recorded process (its pid
    was reused) and is left alone. Returns how many were killed.
    """
    killed = 0
    try:
        entries = list(Path(folder).iterdir())
    except OSError:
        return 0
    for entry in entries:
        ident = _read_identity(entry)
        if ident is None or ident[0] <= 1 or ident[2] != os.uname().nodename:
            continue
        pid, start, _ = ident
        if pid == os.getpid() or not is_alive(pid, start):
            continue
        for kill in (
            lambda pid=pid: os.killpg(pid, signal.SIGKILL),
            lambda pid=pid: os.kill(pid, signal.SIGKILL),
        ):
            try:
                kill()
                killed += 1
                break
            except (ProcessLookupError, PermissionError):
                continue
    return killed


def remove_stale_folders(tempdir: Path | str | None = None) -> list[Path]:
    """Remove the ``bn-grading-*`` folders in ``tempdir`` (default: the system's temporary
    folder) whose owner process is gone, after killing the processes recorded inside them.

    Only this user's folders on this host with a readable :data:`OWNER_FILE` are considered: a
    folder without one (being made right now, or left by an older version of the grader) is left
    alone. Returns the folders removed.
    """
    tempdir = Path(tempdir or tempfile.gettempdir())
    removed = []
    try:
        entries = list(os.scandir(tempdir))
    except OSError:
        return removed
    for entry in entries:
        if not entry.name.startswith(PREFIX):
            continue
        try:
            st = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid():
            continue
        folder = Path(entry.path)
        owner = _read_identity(folder / OWNER_FILE)
        if owner is None or owner[2] != os.uname().nodename or is_alive(owner[0], owner[1]):
            continue
        for pids in folder.glob("**/pids"):
            kill_recorded(pids)
        shutil.rmtree(folder, ignore_errors=True)
        removed.append(folder)
    return removed
