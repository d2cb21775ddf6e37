"""bncourse.guards: the guards through which the exercise tests call learners' code.

Each guard turns one kind of mistake into a specific ExerciseFailure message instead of a crash, a
hang or a silent pass. The last tests run a real kernel with the grader's per-cell guard.
"""

from __future__ import annotations

import signal
import time

import nbformat
import numpy as np
import pytest

import bnlib
from bncourse import guards as g

unix_only = pytest.mark.skipif(not hasattr(signal, "setitimer"), reason="time limits need SIGALRM")


def failure(fn, *args, **kwargs) -> str:
    with pytest.raises(g.ExerciseFailure) as info:
        fn(*args, **kwargs)
    return str(info.value)


# ------------------------------------------------------------------------------------------ time


@unix_only
def test_time_limit_stops_an_endless_loop_with_a_base_exception():
    start = time.monotonic()
    with pytest.raises(g.GradingTimeout, match="too slow"):
        with g.time_limit(0.2, "too slow"):
            while True:
                try:
                    pass
                except Exception:  # a learner's blanket handler must not swallow the timeout
                    pass
    assert time.monotonic() - start < 2
    assert not issubclass(g.GradingTimeout, Exception)
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)


@unix_only
def test_time_limits_nest_and_restore_the_outer_one():
    with pytest.raises(g.GradingTimeout, match="outer"):
        with g.time_limit(0.5, "outer"):
            with g.time_limit(5, "inner"):
                pass
            remaining = signal.getitimer(signal.ITIMER_REAL)[0]
            assert 0 < remaining <= 0.5  # the outer limit runs again, minus the time spent
            while True:
                pass
    start = time.monotonic()
    with pytest.raises(g.GradingTimeout):  # a shorter outer limit still stops the inner block
        with g.time_limit(0.2, "outer"):
            with g.time_limit(5, "inner"):
                while True:
                    pass
    assert time.monotonic() - start < 2


def test_time_limit_off_is_a_no_op():
    with g.time_limit(0):
        pass
    with g.time_limit(None):
        pass


# ------------------------------------------------------------------------------------------ call


def test_call_returns_the_result_and_never_touches_the_callers_arrays():
    x = np.arange(6.0).reshape(3, 2)

    def mutate(a):
        a -= 1
        return a.sum()

    assert g.call(mutate, x) == 9.0
    np.testing.assert_array_equal(x, np.arange(6.0).reshape(3, 2))


def test_call_readonly_reports_an_in_place_update():
    message = failure(
        g.call,
        lambda x: x.__isub__(1),
        np.ones(3),
        case="case 2",
        name="f",
        arg_names=["x"],
        readonly=True,
    )
    assert message.startswith("case 2: `f` raised ValueError")
    assert "changes an argument in place" in message


def test_call_readonly_detects_changes_to_other_objects():
    def append(items):
        items.append(4)
        return len(items)

    message = failure(g.call, append, [1, 2, 3], name="append", arg_names=["items"], readonly=True)
    assert "modified its argument `items` in place" in message


@unix_only
def test_call_stops_an_endless_loop():
    def loop(x):
        while True:
            pass

    start = time.monotonic()
    message = failure(g.call, loop, 1, case="case 1", name="loop", timeout=0.3)
    assert "case 1: `loop` did not finish within 0.3 s" in message
    assert time.monotonic() - start < 3


@unix_only
def test_a_function_that_timed_out_is_not_called_again():
    calls = []

    def loop(x):
        calls.append(x)
        while True:
            pass

    assert "did not finish" in failure(g.call, loop, 1, case="case 1", timeout=0.2)
    start = time.monotonic()
    assert "case 2: `loop` was stopped in an earlier test case" in failure(
        g.call, loop, 2, case="case 2", timeout=0.2
    )
    assert calls == [1] and time.monotonic() - start < 0.1

    def fixed(x):  # the learner's next attempt is a new function: it runs
        return x

    assert g.call(fixed, 3, timeout=0.2) == 3


@unix_only
def test_call_timeout_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("BNLIB_GRADING_CALL_TIMEOUT", "0.2")
    assert g.call_timeout() == 0.2
    assert "within 0.2 s" in failure(g.call, time.sleep, 5)


@pytest.mark.parametrize(
    "exc", [ValueError("bad axis"), SystemExit(3), ZeroDivisionError("division by zero")]
)
def test_call_reports_any_exception(exc):
    def boom():
        raise exc

    message = failure(g.call, boom, case="case 3", name="boom", hint="look at the axis")
    assert message.startswith(f"case 3: `boom` raised {type(exc).__name__}")
    assert message.endswith("Hint: look at the axis")


def test_call_lets_a_keyboard_interrupt_through():
    def stop():
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        g.call(stop)


def test_call_captures_output_and_fails_a_flood(capsys, monkeypatch):
    def chatty(n):
        print("x" * n)
        return n

    assert g.call(chatty, 10) == 10
    assert capsys.readouterr().out == ""  # captured, not shown
    monkeypatch.setenv("BNLIB_GRADING_MAX_OUTPUT", "1000")
    message = failure(g.call, chatty, 5000, name="chatty")
    assert "`chatty` printed 5,001 characters in one call (the limit is 1,000)" in message


def test_call_forbids_bnlib_functions_under_any_name():
    from bnlib import batch_norm_backward as renamed

    x = np.random.default_rng(0).normal(size=(4, 3))

    def uses_forward(a):
        return bnlib.batch_norm_forward(a, np.ones(3), np.zeros(3))[0]

    def uses_backward(a):
        _, cache = bnlib.batch_norm_forward(a, np.ones(3), np.zeros(3))
        return renamed(a, cache)

    def uses_renorm(a):
        # batch renormalization with rmax=1, dmax=0 is batch normalization: forbidden as well
        y, cache = bnlib.batch_renorm_forward(
            a, np.ones(3), np.zeros(3), np.zeros(3), np.ones(3), rmax=1.0, dmax=0.0
        )
        return bnlib.batch_renorm_backward(np.ones_like(y), cache)

    def uses_statistics(a):
        return bnlib.batch_statistics(a)

    def uses_layer(a):
        return bnlib.BatchNorm()(a, training=True)

    for uses, name in [
        (uses_forward, "batch_norm_forward"),
        (uses_backward, "batch_norm_forward"),
        (uses_renorm, "batch_renorm_forward"),
        (uses_statistics, "batch_statistics"),
        (uses_layer, "BatchNorm."),
    ]:
        message = failure(g.call, uses, x, name="f", forbid=g.bnlib_functions())
        assert f"calls bnlib's `{name}" in message and "write it yourself with numpy" in message
    # what an exercise allows stays usable
    allowed = g.call(
        uses_statistics,
        x,
        name="f",
        forbid=g.bnlib_functions(allow=("batch_statistics", "_moments")),
    )
    assert allowed[0].shape == (3,)
    # restored afterwards
    assert uses_forward(x).shape == (4, 3) and uses_backward(x)[0].shape == (4, 3)
    assert uses_renorm(x)[0].shape == (4, 3)


def test_every_bnlib_function_is_forbidden():
    import types

    forbidden = {fn for fn, _ in g.bnlib_functions()}
    public = [getattr(bnlib, name) for name in bnlib.__all__]
    functions = [f for f in public if type(f) is types.FunctionType]
    methods = [
        m
        for c in public
        if isinstance(c, type)
        for m in vars(c).values()
        if type(m) is types.FunctionType and not m.__code__.co_freevars
    ]
    assert functions and methods and set(functions + methods) <= forbidden


# ------------------------------------------------------------------------------------------ lookups


def test_function_and_answer_explain_what_is_missing():
    env = {
        "f": ...,
        "g": None,
        "h": 3,
        "ok": len,
        "a": ...,
        "s": "4",
        "b": np.True_,
        "n": np.float64(2.5),
        "z": np.array(7),
        "nan": float("nan"),
        "i": 4.0,
        "half": 4.5,
    }
    assert "`missing` is not defined" in failure(g.function, env, "missing")
    assert "still ... (the placeholder)" in failure(g.function, env, "f")
    assert "still None" in failure(g.function, env, "g")
    assert "must be a function" in failure(g.function, env, "h")
    assert g.function(env, "ok") is len
    assert "is still `...`" in failure(g.answer, env, "a")
    assert "must be a number, got the string '4'" in failure(g.answer, env, "s")
    assert "must be a number, got the boolean True" in failure(g.answer, env, "b")
    assert g.answer(env, "n") == 2.5 and g.answer(env, "z") == 7.0
    assert "finite" in failure(g.answer, env, "nan")
    assert g.answer(env, "b", kind="bool") is True
    assert "True or False" in failure(g.answer, env, "n", kind="bool")
    assert g.answer(env, "i", kind="int") == 4
    assert "whole number" in failure(g.answer, env, "half", kind="int")


# ------------------------------------------------------------------------------------------ checks


def test_check_array_names_the_first_wrong_entry():
    expected = np.array([[1.0, 2.0], [3.0, 4.0]])
    message = failure(
        g.check_array,
        np.array([[1.0, 2.0], [3.0, 5.0]]),
        expected,
        case="case 1",
        name="y",
        hint="h",
    )
    assert message == (
        "case 1: y[1, 1]: expected 4, got 5 (1 of 4 entries differ; largest difference 1)\nHint: h"
    )
    assert "is None: did you forget `return`?" in failure(g.check_array, None, expected)
    assert "got a tuple of 2 item(s)" in failure(g.check_array, (expected, 1), expected)
    assert "should have shape (2, 2), got shape (4,)" in failure(
        g.check_array, expected.ravel(), expected
    )
    assert "NaN or infinite" in failure(
        g.check_array, np.array([[1.0, np.nan], [3.0, np.inf]]), expected
    )
    assert "real numbers" in failure(g.check_array, np.array([["a", "b"], ["c", "d"]]), expected)
    assert "real numbers" in failure(g.check_array, "text", expected)
    np.testing.assert_array_equal(
        g.check_array([[1, 2], [3, 4]], expected), expected
    )  # lists are fine


def test_check_number_tolerances_and_hidden_answers():
    assert g.check_number(4.0000001, 4.0) == 4.0000001
    assert "expected 4 (to within 4.0000e-06), got 4.1" in failure(
        g.check_number, 4.1, 4.0, name="kappa"
    )
    assert g.check_number(5.5, 4.85, factor=1.3) == 5.5
    assert "within a factor" in failure(g.check_number, 7.0, 4.85, factor=1.3)
    assert "within a factor" in failure(g.check_number, -4.85, 4.85, factor=1.3)
    hidden = failure(g.check_number, 7.0, 4.85, name="steps_ratio", reveal=False)
    assert "4.85" not in hidden and hidden == "steps_ratio: 7 is not right"
    assert "should be a number" in failure(g.check_number, [1.0], 1.0)
    assert g.check_number(np.array(1e-9), 0.0, atol=1e-6) == 1e-9


def test_describe():
    assert g.describe(np.zeros((2, 3))) == "an array of shape (2, 3), dtype float64"
    assert g.describe([1, 2]) == "a list of 2 item(s)"
    assert g.describe(None) == "None"


def test_grading_cells_are_recognized():
    assert g._is_grading_cell('grader.check("ex1_forward")\n# grading-cell 5')
    assert not g._is_grading_cell('grader.check("ex1_forward")\nwhile True: pass')
    assert not g._is_grading_cell("x = 1")


# ------------------------------------------------------------------------------------------ kernel


@unix_only
def test_the_submission_guard_in_a_kernel(tmp_path):
    from nbclient import NotebookClient

    progress = tmp_path / "progress.txt"
    cells = [
        f"import bncourse.guards\nbncourse.guards.install_submission_guard(cell_timeout=1, max_cell_output=500, progress_path={str(progress)!r})",
        "while True:\n    pass\n# grading-cell 1",
        "for i in range(10_000):\n    print('line', i)\n# grading-cell 2",
        "'y' * 100_000\n# grading-cell 3",
        "import time\nclass Grader:\n    def check(self, q):\n        time.sleep(1.5)\n        return q\ngrader = Grader()\n# grading-cell 4",
        'grader.check("ex1")\n# grading-cell 5',
        "print('still alive')\n# grading-cell 6",
    ]
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
    NotebookClient(nb, timeout=60, allow_errors=True, kernel_name="python3").execute()
    loop, flood, big, _, check, alive = nb.cells[1:]
    assert loop.outputs[-1]["ename"] == "GradingTimeout"
    assert "ran for more than 1 s and was stopped by the grader" in loop.outputs[-1]["evalue"]
    printed = "".join(o.get("text", "") for o in flood.outputs)
    assert (
        len(printed) < 700
        and "[grader: output of this cell truncated after 500 characters]" in printed
    )
    assert len(big.outputs[0]["data"]["text/plain"]) < 700
    assert check.outputs[0]["data"]["text/plain"] == "'ex1'"  # a check cell is not timed as a whole
    assert alive.outputs[0]["text"] == "still alive\n"
    assert (
        progress.read_text().split() == " ".join(f"start {i} end {i}" for i in range(1, 7)).split()
    )


# ------------------------------------------------------------------------------------------ seal

SEAL_SCRIPT = r"""
import os, sys
import numpy as np
import bnlib
import bnlib.batchnorm
from bncourse import guards as g

home, path = os.getcwd(), list(sys.path)
originals = (np.isclose, bnlib.batch_norm_forward, g.check_array, bnlib.batchnorm._moments.__code__)
x = np.random.default_rng(0).normal(size=(6, 3)) * 3 + 5
reference = bnlib.batch_norm_forward(x, np.ones(3), np.zeros(3))[0]
state = g.seal()

def tamper():
    np.isclose = lambda *a, **k: True
    bnlib.batch_norm_forward = lambda *a, **k: (np.zeros(1), None)
    bnlib.batchnorm._moments.__code__ = (lambda *a, **k: (0.0, 1.0)).__code__
    g.check_array = lambda got, *a, **k: got
    os.chdir("/")
    sys.path.insert(0, "/nowhere")
    g._SEAL = None
    return x

# 1. what a graded function changes while it runs is undone before the test goes on
g.call(tamper, name="tamper")
now = (np.isclose, bnlib.batch_norm_forward, g.check_array, bnlib.batchnorm._moments.__code__)
assert all(a is b for a, b in zip(now, originals)), now
assert os.getcwd() == home and sys.path == path and g._SEAL is state
np.testing.assert_array_equal(bnlib.batch_norm_forward(x, np.ones(3), np.zeros(3))[0], reference)

# 2. what a learner's cell changed is undone for a check, and given back afterwards
tamper()
undo = state.restore(keep=True)
now = (np.isclose, bnlib.batch_norm_forward, g.check_array, bnlib.batchnorm._moments.__code__)
assert all(a is b for a, b in zip(now, originals)) and os.getcwd() == home and sys.path == path
try:
    g.check_array(x, reference)
    raise SystemExit("a wrong result passed")
except g.ExerciseFailure:
    pass
state.reapply(undo)
assert np.isclose(1, 2) is True and os.getcwd() == "/" and sys.path[0] == "/nowhere"
state.restore()
assert np.isclose is originals[0]
print("sealed")
"""


def test_the_seal_undoes_what_learner_code_changes(tmp_path):
    import subprocess
    import sys

    script = tmp_path / "seal.py"
    script.write_text(SEAL_SCRIPT)
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    assert done.returncode == 0 and done.stdout.strip() == "sealed", done.stderr[-3000:]


def test_float32_results_are_named_as_the_problem():
    message = failure(g.check_array, np.float32([1.0000001, 2.0]), [1.0, 2.0000005], name="y")
    assert message.startswith("y is float32; compute in float64")
    assert "expected 1, got 1.00000012" in message  # digits enough to show the difference

    def params(x):
        return x.std(axis=0).astype(np.float32), x.mean(axis=0).astype(np.float32)

    x = np.random.default_rng(0).normal(size=(5, 3))
    gamma, _ = g.call(params, x, name="identity_parameters")
    message = failure(
        g.check_array, gamma.astype(np.float64) * 1.0000002, gamma, name="y", rtol=1e-9
    )
    assert message.startswith("`identity_parameters` returned float32; compute in float64")
    assert "float32" not in failure(g.check_array, np.array([1.0, 2.0]), [1.0, 2.5])
