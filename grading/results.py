"""Otter's test results as plain data (JSON), shared by the worker and the kernel hook."""

from __future__ import annotations

import json
import re

_PASSED = "Test case passed"


def failure_text(message: str | None) -> str:
    """The learner-facing part of otter's failure message: the exception and what follows.

    Otter reports a failed exception-based test as ``"❌ Test case failed\\nError at line N in
    test q:\\n  <source line>\\nExerciseFailure: <message>"``; keep ``"<message>"`` (or
    ``"TypeError: ..."`` for an unexpected error in the test).
    """
    if not message:
        return ""
    lines = message.strip().splitlines()
    for i, line in enumerate(lines):
        m = re.match(
            r"^(\w+(?:\.\w+)*(?:Error|Exception|Failure|Exit|Interrupt|Timeout)): ?(.*)$", line
        )
        if m:
            rest = [m.group(2)] + lines[i + 1 :]
            text = "\n".join(rest).strip()
            return text if m.group(1).endswith("ExerciseFailure") else f"{m.group(1)}: {text}"
    return "\n".join(lines[-3:]).strip()


def test_file_to_dict(tf) -> dict:
    """One otter ``TestFile`` (a question) as a dict: score, possible, and its cases."""
    cases = []
    for result in tf.test_case_results:
        tc = result.test_case
        cases.append(
            {
                "name": tc.name,
                "hidden": bool(tc.hidden),
                "points": float(tc.points or 0),
                "passed": bool(result.passed),
                "message": "" if result.passed else failure_text(result.message),
            }
        )
    return {"score": float(tf.score), "possible": float(tf.possible), "cases": cases}


def grading_results_to_dict(results) -> dict:
    """Otter's ``GradingResults`` as ``{"questions": {name: ...}, "error": str | None}``."""
    error = getattr(results, "_catastrophic_error", None)
    return {
        "questions": {name: test_file_to_dict(tf) for name, tf in sorted(results.results.items())},
        "error": None if error is None else f"{type(error).__name__}: {error}",
    }


def install_partial_results_hook(
    path: str, progress_path: str | None = None, failed: dict | None = None
) -> None:
    """In the grading kernel: record the questions otter checks, and save their scores as they come.

    - Every check otter runs (``grader.check`` in a cell, or the final run of the remaining tests)
      appends ``qstart <name>`` / ``qend <name>`` to ``progress_path``, so that if the kernel dies
      or hangs while a question's tests call the learner's code, the grader knows which question.
    - After every check, the scores of the questions checked so far are saved to ``path``: if the
      kernel dies later, they are not lost.
    - ``failed`` maps questions to a reason: each is entered as checked, every test case failed
      with that reason, so that otter does not run its tests again (they killed the kernel before).
    """
    import inspect
    from pathlib import Path

    from otter.execute import Checker
    from otter.nbmeta_config import NBMetadataConfig
    from otter.test_files import create_test_file
    from otter.test_files.abstract_test import TestCaseResult

    def log(line):
        if progress_path:
            with open(progress_path, "a", encoding="utf-8") as f:
                f.write(line + "\n")

    def save():
        data = {}
        for tf in Checker.get_results():  # a question checked twice: the last check counts
            try:
                data[tf.name] = test_file_to_dict(tf)
            except Exception:
                pass
        with open(path, "w", encoding="utf-8") as f:
            json.dump({"questions": data, "error": None}, f)

    for name, why in (failed or {}).items():
        tf = create_test_file(f"./tests/{name}.py", NBMetadataConfig())
        message = f"ExerciseFailure: not graded: {why}"
        tf.test_case_results = [
            TestCaseResult(test_case=tc, message=message, passed=False) for tc in tf.test_cases
        ]
        Checker.get_results().append(tf)
    original = Checker.check.__func__

    def check(cls, nb_or_test_path, nbmeta_config, test_name=None, global_env=None):
        if global_env is None:
            global_env = inspect.currentframe().f_back.f_globals
        name = test_name or Path(nb_or_test_path).stem
        log(f"qstart {name}")
        result = original(cls, nb_or_test_path, nbmeta_config, test_name, global_env)
        log(f"qend {name}")
        save()
        return result

    Checker.check = classmethod(check)
    save()
