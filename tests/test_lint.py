"""The repository's Python follows one style: ``ruff format`` and ``ruff check`` (config in
pyproject.toml) over the library, the machinery, the grader, the tests and the scripts.

To fix a failure: ``.venv/bin/ruff format . && .venv/bin/ruff check --fix .`` from the
repository root, then fix by hand what ``ruff check`` still reports.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _ruff() -> str:
    ruff = Path(sys.executable).with_name("ruff")
    if ruff.is_file():
        return str(ruff)
    found = shutil.which("ruff")
    if found is None:
        pytest.fail("ruff is not installed (it is pinned in requirements.txt)", pytrace=False)
    return found


@pytest.mark.parametrize(
    "command", [["format", "--check", "--diff"], ["check"]], ids=["format", "check"]
)
def test_ruff(command):
    result = subprocess.run(
        [_ruff(), *command, "."], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, f"ruff {' '.join(command)}:\n{result.stdout}\n{result.stderr}"
