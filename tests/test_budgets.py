"""The budget command (``make budgets``, scripts/budgets.py) measures and fails when it should."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("budgets", ROOT / "scripts" / "budgets.py")
budgets = importlib.util.module_from_spec(spec)
spec.loader.exec_module(budgets)


def notebook(tmp_path: Path, name: str, *sources: str) -> Path:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    path = tmp_path / f"{name}.ipynb"
    nbformat.write(nb, path)
    return path


def test_the_budgets_are_the_course_budgets():
    assert budgets.MAX_SECONDS == 90 and budgets.MAX_MB == 1500


def test_every_notebook_of_the_book_is_measured():
    found = [p.relative_to(ROOT).as_posix() for p in budgets.toc_notebooks()]
    assert found[0] == "chapters/00_preface.ipynb"
    assert sorted(found) == sorted(
        p.relative_to(ROOT).as_posix() for p in (ROOT / "chapters").glob("*.ipynb")
    )


def test_time_and_memory_are_measured_and_budgets_enforced(tmp_path, capsys, monkeypatch):
    # 300 MB touched page by page (np.ones writes every page), held while sleeping 1.5 s
    heavy = notebook(
        tmp_path,
        "heavy",
        "import numpy as np, time\nx = np.ones(300_000_000 // 8)\ntime.sleep(1.5)",
    )
    r = budgets.measure(heavy, timeout=60)
    assert r["error"] is None
    assert 1.5 <= r["seconds"] < 30
    assert 300 <= r["mb"] < 300 + 250  # the array plus an interpreter with numpy
    # the verdicts, on that one measurement (each run starts a kernel: seconds)
    monkeypatch.setattr(budgets, "measure", lambda path, timeout: r)
    monkeypatch.setattr(budgets, "probe_seconds", lambda: budgets.REFERENCE_PROBE_SECONDS)
    assert budgets.main([str(heavy), "--max-seconds", "60", "--max-mb", "1000"]) == 0
    assert budgets.main([str(heavy), "--max-seconds", "1", "--max-mb", "1000"]) == 1
    assert "over 1 s" in capsys.readouterr().out
    assert budgets.main([str(heavy), "--max-seconds", "60", "--max-mb", "200"]) == 1
    assert "over 200 MB" in capsys.readouterr().out


def test_a_slow_machine_is_judged_at_reference_speed_and_a_fast_one_on_raw_seconds(
    tmp_path, capsys, monkeypatch
):
    # A 150 s chapter on a machine whose probe runs 2x slower than the reference: 75 s at reference
    # speed, within 90 s; judged on raw seconds (--no-calibrate) it is over.
    path = notebook(tmp_path, "slow", "x = 1")
    monkeypatch.setattr(
        budgets, "measure", lambda path, timeout: {"seconds": 150.0, "mb": 100.0, "error": None}
    )
    monkeypatch.setattr(budgets, "probe_seconds", lambda: 2 * budgets.REFERENCE_PROBE_SECONDS)
    assert budgets.main([str(path)]) == 0
    row = capsys.readouterr().out.splitlines()[-2].split()
    assert row[1:5] == ["150.0", "2.00", "75.0", "100"] and row[5] == "ok"
    assert budgets.main([str(path), "--no-calibrate"]) == 1
    assert "over 90 s" in capsys.readouterr().out
    # 2x slower still leaves a 200 s chapter over; a faster machine never loosens the budget
    monkeypatch.setattr(
        budgets, "measure", lambda path, timeout: {"seconds": 200.0, "mb": 100.0, "error": None}
    )
    assert budgets.main([str(path)]) == 1
    assert "over 90 s at reference speed" in capsys.readouterr().out
    assert budgets.slowdown([0.5 * budgets.REFERENCE_PROBE_SECONDS]) == 1.0
    assert budgets.slowdown(
        [budgets.REFERENCE_PROBE_SECONDS, 3 * budgets.REFERENCE_PROBE_SECONDS]
    ) == pytest.approx(2.0)


def test_the_probe_takes_about_the_reference_time():
    # within a factor 4 either way of the reference on any machine that can run the course at all
    assert (
        budgets.REFERENCE_PROBE_SECONDS / 4
        < budgets.probe_seconds(repeats=3)
        < 4 * budgets.REFERENCE_PROBE_SECONDS
    )


def test_a_chapter_that_raises_fails_with_its_error(tmp_path, capsys):
    broken = notebook(
        tmp_path, "broken", "x = 1", "raise ValueError('the chapter is broken')", "y = 2"
    )
    assert budgets.main([str(broken)]) == 1
    out = capsys.readouterr().out
    assert "failed" in out and "OVER BUDGET" in out


def test_a_path_that_is_not_a_notebook_is_a_usage_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        budgets.main([str(tmp_path / "missing.ipynb")])
    assert exc.value.code == 2
    assert "is not a notebook file" in capsys.readouterr().err


def test_the_seed_offset_reaches_every_chapter_and_a_failing_claim_fails(
    tmp_path, capsys, monkeypatch
):
    # `make claims SEED_OFFSET=k` is this run with BN_SEED_OFFSET=k: each kernel must see it, so
    # that bncourse.evidence shifts its seeds, and a claim that breaks under it must fail the run.
    claim = notebook(
        tmp_path,
        "claim",
        "from bncourse import evidence as ev\n"
        "assert ev.seed_offset() == 3, f'the kernel sees offset {ev.seed_offset()}'",
    )
    monkeypatch.setenv("BN_SEED_OFFSET", "3")
    assert budgets.main([str(claim)]) == 0
    assert "BN_SEED_OFFSET=3" in capsys.readouterr().out
    monkeypatch.setenv("BN_SEED_OFFSET", "4")
    assert budgets.main([str(claim)]) == 1
    out = capsys.readouterr().out
    assert "the kernel sees offset 4" in out and "OVER BUDGET" in out
