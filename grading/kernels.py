"""Make the Jupyter kernels that otter starts run this very Python (the project's venv), quickly."""

from __future__ import annotations

import atexit
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

_DONE: Path | None = None
_ROOT = Path(__file__).resolve().parent.parent


def skip_slow_imports() -> None:
    """Leave out ``rfc3987_syntax`` in this process: it costs about two seconds at every start.

    jsonschema imports it only to register the optional ``iri`` and ``iri-reference`` format
    checks, and registers them only if the import succeeds; nbformat's schemas (what otter,
    nbclient and the grader validate) use neither format. Every process of a grading run (the
    driver, the worker, the kernel) imports nbformat, so this halves the time to grade a notebook.
    """
    sys.modules.setdefault("rfc3987_syntax", None)


def use_this_python() -> Path:
    """Point the ``python3`` kernel at ``sys.executable`` for this process and its children.

    Notebooks name their kernel ``python3``; Jupyter resolves that name through its data
    directories, where an instructor's machine may have a ``python3`` kernel of another Python
    without bnlib or otter. A kernelspec in a fresh directory at the front of ``JUPYTER_PATH``
    takes precedence. Returns that directory (created once per process).
    """
    global _DONE
    if _DONE is not None:
        return _DONE
    root = Path(tempfile.mkdtemp(prefix="bn-grading-kernels-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    spec = root / "kernels" / "python3"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [sys.executable, "-m", "grading.kernel_launcher", "-f", "{connection_file}"],
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
