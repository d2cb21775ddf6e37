"""Guards for the course's graded exercises: call a learner's code safely and explain failures.

The exercise notebooks in ``exercises/`` are checked by tests (run by otter-grader, see the README's
"Exercises and grading") that call the functions a learner wrote. Those tests go through the helpers
here, so that a mistake in a submission becomes a specific message and a failed test case instead
of a crash, a hang or a silent pass:

- :func:`function` and :func:`answer` fetch what the learner defined, and say so when it is missing,
  still the ``...`` placeholder, or of the wrong kind;
- :func:`call` calls learner code with a time limit, on copies of the arguments (optionally
  read-only), with its printed output captured and capped, with chosen library functions
  forbidden, and reports an exception, a timeout, a modified argument or a flood of output as a
  failure that names the test case;
- :func:`check_array` and :func:`check_number` compare a result with the expected one and report
  the type, shape or first wrong entry, expected against got, with a hint (:func:`check_shape`
  checks only the type and shape, for results that are judged by what they compute);
- :func:`install_submission_guard` (used by the instructors' grader, ``python -m grading``) stops
  any single notebook cell after a time limit, caps what one cell may print, and records which cell
  is running, so that an endless loop or a flood of output costs one exercise, not the whole run;
- :func:`seal` (also the grader's) records the kernel's state before any learner code runs and
  restores it for every check and after every call of learner code, so that what a submission
  rebinds or patches (numpy, bnlib, these guards, otter, the working directory, ``sys.path``)
  changes neither the expected values the tests compute nor the verdict;
- :func:`bnlib_functions` lists every bnlib function for ``call(..., forbid=...)``, so that an
  exercise asking for numpy code cannot be answered by any of bnlib.

Everything is numpy and the standard library (IPython only inside
:func:`install_submission_guard`), so the helpers import inside any kernel that runs the
exercises. Time limits use ``SIGALRM`` and work in the main thread on Unix (Linux, macOS, Binder);
elsewhere they are skipped.

The limits can be set through environment variables, which the grader sets for the kernel:
``BNLIB_GRADING_CALL_TIMEOUT`` (seconds per call of learner code, default 10) and
``BNLIB_GRADING_MAX_OUTPUT`` (characters a single call may print, default 10,000).

Learner code runs in the same process as the tests. The seal undoes what it rebinds, not every
change a determined attacker could make; the README ("What a submission can reach") lists what
remains possible.
"""

from __future__ import annotations

import contextlib
import copy
import io
import math
import numbers
import os
import signal
import sys
import threading
import time

import numpy as np

__all__ = [
    "ExerciseFailure",
    "GradingTimeout",
    "answer",
    "bnlib_functions",
    "call",
    "check_array",
    "check_number",
    "check_shape",
    "describe",
    "function",
    "install_submission_guard",
    "time_limit",
]

DEFAULT_CALL_TIMEOUT = 10.0
DEFAULT_MAX_OUTPUT = 10_000


class GradingTimeout(BaseException):
    """Raised inside learner code when it runs past a time limit.

    A ``BaseException`` (like ``KeyboardInterrupt``), not an ``Exception``: a learner's
    ``try: ... except Exception: pass`` inside a loop must not swallow it and keep looping.
    """


class ExerciseFailure(AssertionError):
    """A test case failed; the message says which case, expected against got, and a hint."""


def _env_float(name: str, default: float) -> float:
    try:
        value = float(os.environ.get(name, default))
    except ValueError:
        return default
    return value if value > 0 else default


def call_timeout() -> float:
    """The per-call time limit in seconds (``BNLIB_GRADING_CALL_TIMEOUT``, default 10)."""
    return _env_float("BNLIB_GRADING_CALL_TIMEOUT", DEFAULT_CALL_TIMEOUT)


def max_output() -> int:
    """How many characters one call may print (``BNLIB_GRADING_MAX_OUTPUT``, default 10,000)."""
    return int(_env_float("BNLIB_GRADING_MAX_OUTPUT", DEFAULT_MAX_OUTPUT))


# --------------------------------------------------------------------------------------------
# Time limits
# --------------------------------------------------------------------------------------------


def _timers_available() -> bool:
    return hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()


@contextlib.contextmanager
def time_limit(seconds: float, message: str = "ran longer than the time limit"):
    """Raise :class:`GradingTimeout` in the block if it runs longer than ``seconds``.

    Nests: an enclosing limit keeps running (if it is shorter, it stops this block, with this
    block's message, and fires again as soon as the block has ended), and is restored, minus the
    time spent here, when the block ends. A no-op outside the main thread or on
    platforms without ``signal.setitimer``.
    """
    if not _timers_available() or seconds is None or seconds <= 0:
        yield
        return

    def on_alarm(signum, frame):
        raise GradingTimeout(message)

    outer_remaining, _ = signal.setitimer(signal.ITIMER_REAL, 0)  # read and pause any outer limit
    old_handler = signal.signal(signal.SIGALRM, on_alarm)
    start = time.monotonic()
    limit = seconds if outer_remaining <= 0 else min(seconds, outer_remaining)
    signal.setitimer(signal.ITIMER_REAL, limit)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old_handler)
        if outer_remaining > 0:
            left = outer_remaining - (time.monotonic() - start)
            signal.setitimer(signal.ITIMER_REAL, max(left, 1e-3))


# --------------------------------------------------------------------------------------------
# Describing values
# --------------------------------------------------------------------------------------------


def describe(value) -> str:
    """A short description of a value for a message: type, and shape and dtype for arrays."""
    if value is None:
        return "None"
    if value is Ellipsis:
        return "... (the placeholder)"
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape}, dtype {value.dtype}"
    if isinstance(value, (bool, np.bool_)):
        return f"the boolean {bool(value)}"
    if isinstance(value, numbers.Number):
        return f"the number {_fmt(value)}"
    if isinstance(value, str):
        text = value if len(value) <= 40 else value[:37] + "..."
        return f"the string {text!r}"
    if isinstance(value, tuple):
        return f"a tuple of {len(value)} item(s)"
    if isinstance(value, list):
        return f"a list of {len(value)} item(s)"
    if isinstance(value, dict):
        return f"a dict with {len(value)} key(s)"
    return f"an object of type {type(value).__name__}"


def _fmt(v) -> str:
    try:
        v = float(v)
    except (TypeError, ValueError):
        return repr(v)
    if v == 0 or (1e-3 <= abs(v) < 1e6):
        return f"{v:.6g}"
    return f"{v:.4e}"


def _fmt_pair(expected, got) -> tuple[str, str]:
    """Both numbers formatted with just enough digits to show that they differ."""
    a, b = _fmt(expected), _fmt(got)
    for digits in (9, 12, 17):
        if a != b:
            break
        a, b = f"{float(expected):.{digits}g}", f"{float(got):.{digits}g}"
    return a, b


def _narrow_float(value) -> str | None:
    """The name of ``value``'s floating dtype if it is narrower than float64 (``"float32"``)."""
    dtype = getattr(value, "dtype", None)
    if dtype is None and isinstance(value, (list, tuple)):
        try:
            dtype = np.asarray(value).dtype
        except Exception:
            return None
    if dtype is not None and getattr(dtype, "kind", "") == "f" and dtype.itemsize < 8:
        return str(dtype)
    return None


def _narrow_in(value, depth: int = 2) -> str | None:
    """A floating dtype narrower than float64 in ``value`` or the tuple, list or dict it is."""
    found = _narrow_float(value) if not isinstance(value, (list, tuple)) else None
    if found or depth == 0:
        return found
    items = (
        value.values()
        if isinstance(value, dict)
        else value
        if isinstance(value, (list, tuple))
        else ()
    )
    for item in items:
        found = _narrow_in(item, depth - 1)
        if found:
            return found
    return _narrow_float(value) if isinstance(value, (list, tuple)) else None


#: Differences this small (relative, absolute) are what computing in float32 leaves.
_F32_RTOL, _F32_ATOL = 1e-4, 1e-6

#: What the last :func:`call` of learner code returned, for the wording of a failure after it.
_LAST_CALL = {"label": None, "narrow": None}


def _dtype_note(dtype: str | None, name: str) -> str:
    """Say plainly that a result in float32 (or float16) is the problem, if it is one."""
    if dtype is not None:
        who = f"{name} is {dtype}"
    elif _LAST_CALL["narrow"]:
        dtype = _LAST_CALL["narrow"]
        who = f"`{_LAST_CALL['label']}` returned {dtype}"
    else:
        return ""
    return (
        f"{who}; compute in float64 ({dtype} keeps about {7 if dtype == 'float32' else 3} "
        "significant digits, fewer than the tests need; numpy computes in float64 for float64 "
        f"inputs, so leave out any conversion to {dtype}). "
    )


def _case(case: str | None) -> str:
    return f"{case}: " if case else ""


def _hint(hint: str | None) -> str:
    return f"\nHint: {hint}" if hint else ""


# --------------------------------------------------------------------------------------------
# Fetching what the learner defined
# --------------------------------------------------------------------------------------------


def _lookup(env, name: str):
    if not isinstance(env, dict):  # otter passes the notebook's globals
        env = vars(env)
    if name not in env:
        raise ExerciseFailure(
            f"`{name}` is not defined. Define it in the exercise's answer cell and run that cell "
            "(if the cell raised an error, fix the error first: nothing after it was defined)."
        )
    return env[name]


def function(env, name: str):
    """Return the callable (function or class) ``name`` that the learner defined in ``env``."""
    value = _lookup(env, name)
    if value is Ellipsis or value is None:
        raise ExerciseFailure(f"`{name}` is still {describe(value)}; write your code in its place.")
    if not callable(value):
        raise ExerciseFailure(f"`{name}` must be a function (or class), got {describe(value)}.")
    return value


def answer(env, name: str, kind: str = "number"):
    """Return the learner's answer ``name``; ``kind`` is ``"number"``, ``"bool"``, ``"int"`` or ``"any"``.

    Numbers may be Python or numpy scalars (or 0-d arrays); a bool is not accepted as a number.
    """
    value = _lookup(env, name)
    if value is Ellipsis:
        raise ExerciseFailure(f"`{name}` is still `...`: replace it with your answer.")
    if kind == "any":
        return value
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value.item()
    if kind == "bool":
        if not isinstance(value, (bool, np.bool_)):
            raise ExerciseFailure(f"`{name}` must be True or False, got {describe(value)}.")
        return bool(value)
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise ExerciseFailure(f"`{name}` must be a number, got {describe(value)}.")
    if kind == "int":
        if float(value) != int(value):
            raise ExerciseFailure(f"`{name}` must be a whole number, got {_fmt(value)}.")
        return int(value)
    value = float(value)
    if not math.isfinite(value):
        raise ExerciseFailure(f"`{name}` must be a finite number, got {value}.")
    return value


# --------------------------------------------------------------------------------------------
# Calling learner code
# --------------------------------------------------------------------------------------------


class _CappedWriter(io.TextIOBase):
    """A text stream that keeps the first ``keep`` characters and counts the rest."""

    def __init__(self, keep: int = 500):
        self.keep = keep
        self.count = 0
        self._head: list[str] = []
        self._kept = 0

    def writable(self):
        return True

    def write(self, text):
        text = str(text)
        self.count += len(text)
        if self._kept < self.keep:
            piece = text[: self.keep - self._kept]
            self._head.append(piece)
            self._kept += len(piece)
        return len(text)

    @property
    def head(self) -> str:
        return "".join(self._head)


def _forbidden_call(*args, **kwargs):
    # A copy of this code, renamed, is swapped in as the __code__ of a forbidden function while
    # learner code runs (see `call`). It runs with that function's globals, so it imports what it
    # needs, and finds its message and the original code under its own code name. Called from
    # bnlib's own code (an allowed function using a helper), it runs the original.
    import sys
    import types

    import bncourse.guards

    frame = sys._getframe()
    key = frame.f_code.co_name
    code, fn = bncourse.guards._FORBIDDEN_ORIGINALS[key]
    if frame.f_back is not None and frame.f_back.f_code in bncourse.guards._FORBIDDEN_CALLERS:
        original = types.FunctionType(code, fn.__globals__, fn.__name__, fn.__defaults__)
        original.__kwdefaults__ = fn.__kwdefaults__
        return original(*args, **kwargs)
    raise bncourse.guards.ExerciseFailure(bncourse.guards._FORBIDDEN_MESSAGES[key])


_FORBIDDEN_MESSAGES: dict[str, str] = {}
_FORBIDDEN_ORIGINALS: dict[str, tuple] = {}
#: Code objects of the library whose calls of a forbidden function go through (see _forbidden).
_FORBIDDEN_CALLERS: set = set()


@contextlib.contextmanager
def _forbidden(pairs):
    """Make each function in ``pairs`` of (function, message) fail with its message, for the block.

    The function's code object is swapped, so every reference to it fails, also one a learner
    imported under another name (``from bnlib import batch_norm_forward as f``). Calls from the
    original code of a function in ``pairs``, or of a function that is not forbidden but
    belongs to the same library (an allowed one), run as usual: only the learner's calls fail.
    """
    swapped = []
    try:
        for fn, message in pairs:
            code = getattr(fn, "__code__", None)
            if code is None or code.co_freevars:
                continue  # not a plain function: cannot be forbidden this way
            key = f"_forbidden_{id(fn)}"
            _FORBIDDEN_MESSAGES[key] = message
            _FORBIDDEN_ORIGINALS[key] = (code, fn)
            _FORBIDDEN_CALLERS.update(_library_codes(fn))
            fn.__code__ = _forbidden_call.__code__.replace(co_name=key)
            swapped.append((fn, code))
        yield
    finally:
        for fn, code in reversed(swapped):
            fn.__code__ = code


def _package_functions(root: str) -> list:
    """Every plain function defined in the loaded modules of package ``root``, methods included."""
    import types

    found = {}

    def add(fn):
        if isinstance(fn, (staticmethod, classmethod)):
            fn = fn.__func__
        if isinstance(fn, property):
            for part in (fn.fget, fn.fset):
                add(part)
        elif type(fn) is types.FunctionType:
            found.setdefault(id(fn), fn)

    for name, module in sorted(sys.modules.items()):
        if module is None or not (name == root or name.startswith(root + ".")):
            continue
        for value in list(vars(module).values()):
            if getattr(value, "__module__", None) != name:
                continue
            add(value)
            if isinstance(value, type):
                for member in list(vars(value).values()):
                    add(member)
    return list(found.values())


def _library_codes(fn) -> set:
    """The code objects of every function in the top-level package that defines ``fn``."""
    root = (getattr(fn, "__module__", None) or "").split(".")[0]
    if root not in _LIBRARY_CODES:
        _LIBRARY_CODES[root] = {f.__code__ for f in _package_functions(root)}
    return _LIBRARY_CODES[root]


_LIBRARY_CODES: dict[str, set] = {}


def _import_library() -> None:
    """Import bnlib and all its modules."""
    import importlib
    import pkgutil

    import bnlib

    for info in pkgutil.iter_modules(bnlib.__path__):
        importlib.import_module(f"bnlib.{info.name}")


def bnlib_functions(allow=()) -> list:
    """``forbid=`` pairs that keep a graded function from calling any of bnlib.

    Every function of every bnlib module and every method of its classes (``batch_norm_forward``,
    ``batch_statistics``, ``BatchNorm``, the variants such as ``batch_renorm_forward``, the
    scalers, ``fold_batch_norm``, ...) fails while the learner's function runs, with a message
    that names it: an exercise that asks for a piece of batch normalization written with numpy
    cannot be answered by any bnlib function that computes it (``batch_renorm_forward`` with
    ``rmax=1, dmax=0`` is batch normalization, for example). ``allow`` names functions the
    exercise may use (``"rel_error"``, ``"StandardScaler.transform"``), by name or qualified name.
    """
    _import_library()
    allowed = set(allow)
    return [
        (
            fn,
            f"calls bnlib's `{fn.__qualname__}`, but this exercise asks you to write it yourself "
            "with numpy: no bnlib inside it",
        )
        for fn in _package_functions("bnlib")
        if fn.__name__ not in allowed and fn.__qualname__ not in allowed
    ]


def _snapshot(value):
    try:
        return copy.deepcopy(value)
    except Exception:
        return None


def _same(a, b) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        try:
            return (
                isinstance(a, np.ndarray)
                and isinstance(b, np.ndarray)
                and a.shape == b.shape
                and a.dtype == b.dtype
                and bool(np.array_equal(a, b, equal_nan=a.dtype.kind in "fc"))
            )
        except Exception:
            return False
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if hasattr(a, "__dict__") and hasattr(b, "__dict__") and type(a) is type(b):
        return _same(vars(a), vars(b))
    try:
        return bool(a == b)
    except Exception:
        return True  # cannot compare: do not accuse the learner


def _readonly(value):
    if isinstance(value, np.ndarray):
        value.flags.writeable = False
    elif isinstance(value, (list, tuple)):
        for v in value:
            _readonly(v)
    elif isinstance(value, dict):
        for v in value.values():
            _readonly(v)
    return value


_READONLY_MESSAGES = ("read-only", "readonly", "not writeable")

#: Learner functions that ran out of time once, kept alive (so their ids are not reused): they are
#: not called again, so that an endless loop costs one time limit, not one per test case.
_TIMED_OUT: dict[int, object] = {}


def _timed_out_key(fn):
    return id(getattr(fn, "__func__", fn))


def call(
    fn,
    *args,
    case: str | None = None,
    name: str | None = None,
    arg_names: tuple | list | None = None,
    readonly: bool = False,
    timeout: float | None = None,
    forbid: tuple | list = (),
    hint: str | None = None,
    **kwargs,
):
    """Call learner code ``fn(*args, **kwargs)`` and return its result, or fail with a clear message.

    - The arguments are deep copies: the caller's arrays are never touched, so a function that
      modifies its inputs cannot spoil the test's data. With ``readonly=True`` the test also
      checks that the function does not modify them: the copied arrays are read-only, so an
      in-place update (``x -= mean``) raises at once and is reported as such, and afterwards the
      copies are compared with the originals, which catches in-place changes of anything else
      (lists, dicts, objects). Tests check this in a case of its own, so that a function that is
      right but modifies its input loses only that case.
    - The call runs under :func:`time_limit` (``timeout`` seconds, default
      :func:`call_timeout`); an endless loop becomes a failure, not a hang. A function stopped
      once is not called again (later calls fail at once), so it costs one time limit in all.
    - What the call prints is captured; more than :func:`max_output` characters is a failure.
    - ``forbid`` lists ``(function, message)`` pairs (see :func:`bnlib_functions`): during the
      call, each function fails with its message, however the learner refers to it.
    - Any exception the code raises (even ``SystemExit``) becomes an :class:`ExerciseFailure` that
      names the case, the function, the exception and its message.

    ``name`` is how the function is named in messages (default: its ``__name__``); ``arg_names``
    names the positional arguments (default ``arg0, arg1, ...``).
    """
    label = name or getattr(fn, "__name__", None) or "the function"
    names = list(arg_names or []) + [f"arg{i}" for i in range(len(arg_names or []), len(args))]
    originals = list(args) + list(kwargs.values())
    keys = names[: len(args)] + list(kwargs.keys())
    copies = [_snapshot(v) for v in originals]
    copies = [v if c is None else c for v, c in zip(originals, copies)]
    if readonly:
        for c in copies:
            _readonly(c)
    call_args = copies[: len(args)]
    call_kwargs = dict(zip(kwargs.keys(), copies[len(args) :]))

    seal_state = _SEAL  # taken before the learner's code runs, which could rebind _SEAL
    default_limit, output_limit = (
        seal_state.limits if seal_state else (call_timeout(), max_output())
    )
    limit = default_limit if timeout is None else timeout
    if _timed_out_key(fn) in _TIMED_OUT:
        raise ExerciseFailure(
            f"{_case(case)}`{label}` was stopped in an earlier test case (it did not finish within "
            "the time limit), so it is not called again." + _hint(hint)
        )
    out = _CappedWriter()
    failure = None
    result = None
    _LAST_CALL["label"] = _LAST_CALL["narrow"] = None
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            try:
                with (
                    _forbidden(forbid),
                    time_limit(limit, f"{label} ran for more than {limit:g} s"),
                ):
                    result = fn(*call_args, **call_kwargs)
            finally:
                if (
                    seal_state is not None
                ):  # what the learner's code changed does not reach the checks
                    seal_state.restore()
    except KeyboardInterrupt:
        raise
    except GradingTimeout:
        base = getattr(fn, "__func__", fn)
        _TIMED_OUT[id(base)] = base
        failure = (
            f"{_case(case)}`{label}` did not finish within {limit:g} s and was stopped "
            "(an endless loop, or far more work than needed?)."
        )
    except ExerciseFailure as exc:  # a forbidden call: "`f` calls ..."
        failure = f"{_case(case)}`{label}` {exc}"
    except BaseException as exc:  # noqa: BLE001 - learner code may raise anything, even SystemExit
        text = str(exc)
        if len(text) > 300:
            text = text[:300] + "..."
        failure = f"{_case(case)}`{label}` raised {type(exc).__name__}: {text}"
        if readonly and isinstance(exc, ValueError) and any(m in text for m in _READONLY_MESSAGES):
            failure += (
                "\nThe inputs were passed read-only: your code changes an argument in place "
                "(for example `x -= mean` or `x[...] = ...`). Work on a new array instead "
                "(`x = x - mean`); a function must not modify what it is given."
            )
            hint = None

    if failure is None and out.count > output_limit:
        failure = (
            f"{_case(case)}`{label}` printed {out.count:,} characters in one call (the limit is "
            f"{output_limit:,}). Remove debugging prints from graded functions. It began with:\n"
            + out.head[:200]
        )
    if failure is None and readonly:
        for key, original, c in zip(keys, originals, copies):
            if not _same(original, c):
                failure = (
                    f"{_case(case)}`{label}` modified its argument `{key}` in place. A function must "
                    "not change its inputs: compute new arrays (`x = x - mean`, not `x -= mean`)."
                )
                break
    if failure is not None:
        raise ExerciseFailure(failure + _hint(hint))
    _LAST_CALL["label"], _LAST_CALL["narrow"] = label, _narrow_in(result)
    return result


# --------------------------------------------------------------------------------------------
# Checking results
# --------------------------------------------------------------------------------------------


def _index(idx) -> str:
    return "[" + ", ".join(str(int(i)) for i in idx) + "]"


def check_shape(
    got, shape, *, case: str | None = None, name: str = "the result", hint: str | None = None
):
    """Fail unless ``got`` is an array of finite real numbers of shape ``shape``; return it as float64."""
    return check_array(got, np.zeros(shape), case=case, name=name, hint=hint, _values=False)


def check_array(
    got,
    expected,
    *,
    case: str | None = None,
    name: str = "the result",
    rtol: float = 1e-7,
    atol: float = 1e-9,
    hint: str | None = None,
    _values: bool = True,
):
    """Fail unless ``got`` is an array of numbers with ``expected``'s shape and (close) values.

    Lists are accepted if they convert to a numeric array of the right shape. The message reports
    the first wrong entry, expected against got, the largest difference, and the hint.
    """
    expected = np.asarray(expected, dtype=np.float64)
    if got is None:
        raise ExerciseFailure(
            f"{_case(case)}{name} is None: did you forget `return`?" + _hint(hint)
        )
    if isinstance(got, tuple) and not isinstance(expected, tuple):
        raise ExerciseFailure(
            f"{_case(case)}{name} should be an array of shape {expected.shape}, got {describe(got)} "
            "(did you return several values where one was expected?)" + _hint(hint)
        )
    try:
        arr = np.asarray(got)
        numeric = arr.dtype != object and (
            np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.bool_)
        )
    except Exception:
        numeric = False
    if not numeric or np.issubdtype(arr.dtype, np.complexfloating):
        raise ExerciseFailure(
            f"{_case(case)}{name} should be an array of real numbers of shape {expected.shape}, "
            f"got {describe(got)}" + _hint(hint)
        )
    if arr.shape != expected.shape:
        raise ExerciseFailure(
            f"{_case(case)}{name} should have shape {expected.shape}, got shape {arr.shape}"
            + _hint(hint)
        )
    narrow = _narrow_float(arr)
    arr = arr.astype(np.float64)
    finite = np.isfinite(arr)
    if not finite.all():
        idx = np.argwhere(~finite)[0]
        raise ExerciseFailure(
            f"{_case(case)}{name} contains {int((~finite).sum())} NaN or infinite value(s), "
            f"the first at {_index(idx)}"
            + (f" (expected {_fmt(expected[tuple(idx)])})" if _values else "")
            + "; a division by zero?"
            + _hint(hint)
        )
    if not _values:
        return arr
    close = np.isclose(arr, expected, rtol=rtol, atol=atol)
    if not close.all():
        idx = np.argwhere(~close)[0]
        worst = float(np.max(np.abs(arr - expected)))
        where = _index(idx) if arr.ndim else ""
        want, have = _fmt_pair(expected[tuple(idx)], arr[tuple(idx)])
        # a float32 result is named as the problem when its error is at float32's rounding level
        rounding = bool(np.allclose(arr, expected, rtol=_F32_RTOL, atol=_F32_ATOL + atol))
        note = _dtype_note(narrow, name) if rounding else ""
        raise ExerciseFailure(
            f"{_case(case)}{note}{name}{where}: expected {want}, got "
            f"{have} ({int((~close).sum())} of {arr.size} entries differ; largest "
            f"difference {_fmt(worst)})" + _hint(hint)
        )
    return arr


def check_number(
    got,
    expected: float,
    *,
    case: str | None = None,
    name: str = "the answer",
    rtol: float = 1e-6,
    atol: float = 0.0,
    factor: float | None = None,
    reveal: bool = True,
    hint: str | None = None,
):
    """Fail unless the number ``got`` is close to ``expected``.

    Closeness is ``|got - expected| <= atol + rtol * |expected|``, or, with ``factor``, agreement
    within that multiplicative factor (for order-of-magnitude predictions; both must then have the
    same sign). ``reveal=False`` keeps the expected value out of the message (for answers a learner
    should work out rather than read off the feedback).
    """
    narrow = _narrow_float(got)
    if isinstance(got, np.ndarray) and got.ndim == 0:
        got = got.item()
    if isinstance(got, (bool, np.bool_)) or not isinstance(got, numbers.Real):
        raise ExerciseFailure(
            f"{_case(case)}{name} should be a number, got {describe(got)}" + _hint(hint)
        )
    got = float(got)
    if factor is not None:
        ok = got != 0 and expected != 0 and (got > 0) == (expected > 0)
        ok = ok and max(got / expected, expected / got) <= factor
        tolerance = f"within a factor of {factor:g}"
    else:
        ok = abs(got - expected) <= atol + rtol * abs(expected)
        tolerance = f"to within {_fmt(atol + rtol * abs(expected))}"
    if not ok:
        want, have = _fmt_pair(expected, got)
        rounding = abs(got - expected) <= _F32_ATOL + atol + _F32_RTOL * abs(expected)
        note = _dtype_note(narrow, name) if rounding else ""
        if reveal:
            msg = f"{_case(case)}{note}{name}: expected {want} ({tolerance}), got {have}"
        else:
            msg = f"{_case(case)}{note}{name}: {have} is not right"
        raise ExerciseFailure(msg + _hint(hint))
    return got


# --------------------------------------------------------------------------------------------
# The grader's guard for whole submissions (installed in the kernel by `python -m grading`)
# --------------------------------------------------------------------------------------------

#: A cell that only runs otter's checks; it is not timed as a whole (each call it makes is).
_CHECK_CELL_PREFIXES = ("grader.check(", "grader.check_all(")


def _is_grading_cell(source: str) -> bool:
    lines = [
        ln.strip() for ln in source.splitlines() if ln.strip() and not ln.strip().startswith("#")
    ]
    if lines and all(ln.startswith(_CHECK_CELL_PREFIXES) and ln.endswith(")") for ln in lines):
        return True
    # the cell otter's grader appends to run every remaining test and save the results
    return "Checker.check_if_not_already_checked" in source and "GradingResults" in source


def install_submission_guard(
    cell_timeout: float = 30.0,
    max_cell_output: int = 100_000,
    progress_path: str | None = None,
):
    """Guard every following cell of this IPython kernel; used by the grader, not by learners.

    - Each cell (except otter's check cells, whose calls of learner code are limited one by one by
      :func:`call`) is stopped with :class:`GradingTimeout` after ``cell_timeout`` seconds.
    - A cell may print at most ``max_cell_output`` characters (to stdout and stderr together) and
      display rich outputs of at most that size; the rest is dropped and a note says so.
    - With ``progress_path``, a line ``start <n>`` / ``end <n>`` is appended to that file before and
      after each cell, where ``<n>`` is the number in a last-line marker ``# grading-cell <n>``
      that the grader adds to every cell; if the kernel dies or hangs, the grader knows which cell
      did it and grades again without it.
    """
    from IPython import get_ipython

    ip = get_ipython()
    if ip is None:
        raise RuntimeError("install_submission_guard must run inside an IPython kernel")

    state = {"printed": 0, "noted": False, "cell": None}

    def capped(original):
        def write(text, *args, **kwargs):
            text = str(text)
            room = max_cell_output - state["printed"]
            state["printed"] += len(text)
            if room >= len(text):
                return original(text, *args, **kwargs)
            if room > 0:
                original(text[:room])
            if not state["noted"]:
                state["noted"] = True
                original(
                    f"\n[grader: output of this cell truncated after {max_cell_output:,} characters]\n"
                )
            return len(text)

        return write

    def cap_streams():
        # IPython wraps each stream's `write` for the duration of every cell and restores it
        # afterwards, so the cap is put around it anew before each cell.
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.write = capped(stream.write)
            except (AttributeError, TypeError):  # a stream we cannot patch: leave it
                pass

    formatter = ip.display_formatter
    original_format = formatter.format

    def format_capped(obj, *args, **kwargs):
        data, metadata = original_format(obj, *args, **kwargs)
        for key, value in list(data.items()):
            if isinstance(value, str) and len(value) > max_cell_output:
                data[key] = (
                    value[:max_cell_output] + f"\n[grader: truncated {len(value):,} characters]"
                )
        return data, metadata

    formatter.format = format_capped

    def log(line):
        if progress_path:
            with open(progress_path, "a", encoding="utf-8") as f:
                f.write(line + "\n")

    def on_alarm(signum, frame):
        raise GradingTimeout(
            f"this cell ran for more than {cell_timeout:g} s and was stopped by the grader "
            "(an endless loop, or far more work than needed?)"
        )

    def pre_run_cell(info):
        source = getattr(info, "raw_cell", "") or ""
        state["printed"], state["noted"] = 0, False
        cap_streams()
        lines = source.rstrip().rsplit("\n", 1)
        last = lines[-1].strip() if lines else ""
        state["cell"] = last.split()[-1] if last.startswith("# grading-cell ") else None
        if state["cell"] is not None:
            log(f"start {state['cell']}")
        if not _is_grading_cell(source) and _timers_available():
            signal.signal(signal.SIGALRM, on_alarm)
            signal.setitimer(signal.ITIMER_REAL, cell_timeout)

    def post_run_cell(result):
        if _timers_available():
            signal.setitimer(signal.ITIMER_REAL, 0)
        if state["cell"] is not None:
            log(f"end {state['cell']}")

    ip.events.register("pre_run_cell", pre_run_cell)
    ip.events.register("post_run_cell", post_run_cell)
    return state


# --------------------------------------------------------------------------------------------
# The seal: every check starts from the state the grader saw before any learner code ran
# --------------------------------------------------------------------------------------------

#: Packages and modules whose public state the seal restores. For these, every name bound to a
#: module, class, callable or immutable value (a number, a string, None, a tuple) is restored.
_SEALED_PURE = (
    "numpy",
    "bnlib",
    "bncourse",
    "builtins",
    "math",
    "cmath",
    "numbers",
    "operator",
    "copy",
    "copyreg",
    "functools",
    "itertools",
    "contextlib",
    "io",
    "signal",
    "time",
    "os",
    "posixpath",
    "re",
    "json",
    "pickle",
    "types",
    "pathlib",
    "dataclasses",
    "textwrap",
    "traceback",
)
#: For these (libraries that keep run-time state in module globals), only names bound to modules,
#: classes and callables are restored.
_SEALED_CODE_ONLY = ("otter", "grading", "inspect", "threading", "warnings", "random", "statistics")
#: Ours, restored entirely (their mutable state is changed in place, never rebound).
_SEALED_ALL = ("bncourse.guards", "grading.results")

_IMMUTABLE = (int, float, complex, bool, str, bytes, type(None), tuple, frozenset)
_IMMUTABLE_TYPE_FLAG = 1 << 8  # Py_TPFLAGS_IMMUTABLETYPE: classes whose attributes cannot be set
_SEAL = None


def _root_in(name: str, roots) -> bool:
    return any(name == r or name.startswith(r + ".") for r in roots)


def _code_like(value) -> bool:
    return isinstance(value, type(sys)) or callable(value)


class _Seal:
    """What :func:`seal` recorded, and how to put it back (see :func:`seal`)."""

    def __init__(self):
        import types

        self.cwd = os.getcwd()
        self.path = list(sys.path)
        self.meta_path = list(sys.meta_path)
        self.path_hooks = list(sys.path_hooks)
        self.recursion = sys.getrecursionlimit()
        self.errstate = np.geterr()
        self.limits = (call_timeout(), max_output())  # read once: os.environ is the learner's too
        self.modules = {}  # name -> module, for every sealed module
        self.attrs = []  # (namespace, name, value)
        self.functions = []  # (function, __code__, __defaults__, __kwdefaults__)
        seen_functions = set()

        def add_function(fn):
            if isinstance(fn, (staticmethod, classmethod)):
                fn = fn.__func__
            if isinstance(fn, property):
                for part in (fn.fget, fn.fset, fn.fdel):
                    add_function(part)
                return
            if type(fn) is types.FunctionType and id(fn) not in seen_functions:
                seen_functions.add(id(fn))
                self.functions.append((fn, fn.__code__, fn.__defaults__, fn.__kwdefaults__))

        for name, module in list(sys.modules.items()):
            if module is None or not _root_in(name, _SEALED_PURE + _SEALED_CODE_ONLY):
                continue
            everything = _root_in(name, _SEALED_ALL)
            pure = _root_in(name, _SEALED_PURE)
            self.modules[name] = module
            try:
                items = list(vars(module).items())
            except TypeError:
                continue
            for key, value in items:
                if name == "builtins" and getattr(value, "__module__", None) != "builtins":
                    continue  # what IPython puts there (input, get_ipython, display) changes by cell
                if everything or _code_like(value) or (pure and isinstance(value, _IMMUTABLE)):
                    self.attrs.append((module, key, value))
                if getattr(value, "__module__", None) != name:
                    continue  # defined elsewhere: sealed with the module that defines it
                add_function(value)
                if isinstance(value, type) and not value.__flags__ & _IMMUTABLE_TYPE_FLAG:
                    for attr, member in list(vars(value).items()):
                        if attr in ("__dict__", "__weakref__", "__doc__"):
                            continue
                        if callable(member) or isinstance(
                            member, (staticmethod, classmethod, property)
                        ):
                            self.attrs.append((value, attr, member))
                            add_function(member)

    def restore(self, keep: bool = False) -> list:
        """Put back everything recorded; with ``keep``, return what the learner had (for :meth:`reapply`)."""
        undo = []
        try:
            cwd = os.getcwd()
        except OSError:  # the learner's working directory was deleted
            cwd = None
        if cwd != self.cwd:
            undo.append(("cwd", cwd))
            os.chdir(self.cwd)
        for key, saved in (
            ("path", self.path),
            ("meta_path", self.meta_path),
            ("path_hooks", self.path_hooks),
        ):
            current = getattr(sys, key)
            if not isinstance(current, list) or current != saved:
                undo.append(("sys", key, list(current) if isinstance(current, list) else current))
                if isinstance(current, list):
                    current[:] = saved
                else:
                    setattr(sys, key, list(saved))
        if sys.getrecursionlimit() != self.recursion:
            undo.append(("recursion", sys.getrecursionlimit()))
            sys.setrecursionlimit(self.recursion)
        errstate = np.geterr()
        if errstate != self.errstate:
            undo.append(("errstate", errstate))
            np.seterr(**self.errstate)
        for name, module in self.modules.items():
            if sys.modules.get(name) is not module:
                undo.append(("module", name, sys.modules.get(name, _MISSING)))
                sys.modules[name] = module
        for namespace, key, value in self.attrs:
            d = vars(namespace)
            current = d.get(key, _MISSING)
            if current is not value:
                try:
                    setattr(namespace, key, value)
                except (AttributeError, TypeError):
                    continue
                undo.append(("attr", namespace, key, current))
        for fn, code, defaults, kwdefaults in self.functions:
            if (
                fn.__code__ is not code
                or fn.__defaults__ is not defaults
                or fn.__kwdefaults__ is not kwdefaults
            ):
                undo.append(("function", fn, fn.__code__, fn.__defaults__, fn.__kwdefaults__))
                fn.__code__, fn.__defaults__, fn.__kwdefaults__ = code, defaults, kwdefaults
        return undo if keep else []

    @staticmethod
    def reapply(undo: list) -> None:
        """Give the learner's notebook back what :meth:`restore` took away, for its later cells."""
        for entry in reversed(undo):
            try:
                kind = entry[0]
                if kind == "cwd":
                    if entry[1] is not None:
                        os.chdir(entry[1])
                elif kind == "sys":
                    if isinstance(entry[2], list):
                        getattr(sys, entry[1])[:] = entry[2]
                    else:
                        setattr(sys, entry[1], entry[2])
                elif kind == "recursion":
                    sys.setrecursionlimit(entry[1])
                elif kind == "errstate":
                    np.seterr(**entry[1])
                elif kind == "module":
                    if entry[2] is _MISSING:
                        sys.modules.pop(entry[1], None)
                    else:
                        sys.modules[entry[1]] = entry[2]
                elif kind == "attr":
                    _, namespace, key, value = entry
                    if value is _MISSING:
                        delattr(namespace, key)
                    else:
                        setattr(namespace, key, value)
                elif kind == "function":
                    _, fn, code, defaults, kwdefaults = entry
                    fn.__code__, fn.__defaults__, fn.__kwdefaults__ = code, defaults, kwdefaults
            except Exception:  # noqa: BLE001 - the learner's state may not fit back; the check is done
                pass


_MISSING = object()


def seal():
    """Record the kernel's state now, before any learner code, and restore it for every check.

    Called by the grader's first cell (``python -m grading``), after the other guards are
    installed. From then on, before each check (``grader.check`` and the final run of every
    test, through otter's ``Checker.check`` and through IPython's ``pre_run_cell`` for check
    cells) and after each call of learner code from a test (:func:`call`), the kernel is put back
    as it was here:

    - the working directory, ``sys.path`` (and the import hooks), the recursion limit and numpy's
      floating-point error handling;
    - ``sys.modules`` entries, and every name a module of numpy, bnlib, bncourse, otter, the
      grader and the standard library modules the tests and guards use binds to a module, class,
      function or (except in otter and a few stateful modules) an immutable value, and the
      methods of their classes;
    - the code, defaults and keyword defaults of each of their functions.

    So a learner's ``os.chdir``, ``np.isclose = ...``, ``bnlib.batch_norm_forward = mine``,
    ``bnlib.batch_norm_forward.__code__ = ...`` or ``g.check_array = ...`` changes neither where
    the tests are found, nor the expected values the tests compute, nor the verdict. After a check
    the learner's changes are put back for the notebook's later cells. What this cannot undo is
    in the README ("Exercises and grading").
    """
    global _SEAL
    _import_library()  # what the tests use must be recorded before a learner's cell can touch it
    state = _Seal.__new__(_Seal)  # filled in below, once the hooks that capture it exist

    try:
        import inspect

        from otter.execute import Checker
    except ImportError:  # not a grading kernel: only calls of learner code restore
        Checker = None
    if Checker is not None:
        inner = Checker.check.__func__

        def check(cls, nb_or_test_path, nbmeta_config, test_name=None, global_env=None):
            if global_env is None:
                global_env = inspect.currentframe().f_back.f_globals
            undo = state.restore(keep=True)
            try:
                return inner(cls, nb_or_test_path, nbmeta_config, test_name, global_env)
            finally:
                state.restore()
                state.reapply(undo)

        Checker.check = classmethod(check)

    try:
        from IPython import get_ipython

        ip = get_ipython()
    except ImportError:
        ip = None
    if ip is not None:
        pending = []

        def pre_run_cell(info):
            if _is_grading_cell(getattr(info, "raw_cell", "") or ""):
                pending.append(state.restore(keep=True))

        def post_run_cell(result):
            while pending:
                state.reapply(pending.pop())

        ip.events.register("pre_run_cell", pre_run_cell)
        ip.events.register("post_run_cell", post_run_cell)

    _SEAL = state
    state.__init__()
    return state
