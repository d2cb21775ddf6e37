"""Counting the passes over a full array that a backward pass makes (chapter 4, "What the two
backward passes cost").

A *pass* is one numpy ufunc call — elementwise, or a reduction — that reads or writes an array of
the full ``(N, D)`` shape. Views (``np.broadcast_to``, reshapes) are not passes. The counter is an
``ndarray`` subclass that sees every ufunc call one of its instances takes part in; bnlib's input
check (``np.asarray``) would turn it back into a plain array, so while counting that check is
replaced by one that keeps the subclass (the arithmetic is unchanged).
"""

from __future__ import annotations

from unittest import mock

import numpy as np

__all__ = ["count_passes"]


class _Counted(np.ndarray):
    """An array that reports every ufunc call with a full-size operand to its tally."""

    tally: dict | None = None

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        plain = [np.asarray(a) if isinstance(a, _Counted) else a for a in inputs]
        if "out" in kwargs:
            kwargs["out"] = tuple(
                np.asarray(o) if isinstance(o, _Counted) else o for o in kwargs["out"]
            )
        result = getattr(ufunc, method)(*plain, **kwargs)
        tally = _Counted.tally
        if tally is not None:
            sizes = [np.size(a) for a in plain if isinstance(a, np.ndarray)] + [np.size(result)]
            if max(sizes) >= tally["full"]:
                tally["passes"] += 1
        if isinstance(result, np.ndarray) and result.ndim > 0:
            return result.view(_Counted)
        return result


def _wrap(value):
    if isinstance(value, np.ndarray) and value.ndim > 0:
        return value.view(_Counted)
    if isinstance(value, dict):
        return {k: _wrap(v) for k, v in value.items()}
    return value


def count_passes(fn, *args, full_size: int) -> int:
    """Call ``fn(*args)`` and return how many ufunc calls touched an array of ``full_size`` values.

    Array arguments (and arrays inside dict arguments, or in the fields of a dataclass such as
    bnlib's ``BatchNormCache``) are counted; scalars and tuples are passed as they are.
    """
    import dataclasses

    import bnlib._checks as checks
    import bnlib.batchnorm as batchnorm

    wrapped = []
    for a in args:
        if dataclasses.is_dataclass(a) and not isinstance(a, type):
            a = dataclasses.replace(
                a, **{f.name: _wrap(getattr(a, f.name)) for f in dataclasses.fields(a)}
            )
        wrapped.append(_wrap(a))
    original = checks.as_float_array

    def keep_subclass(value, name, **kwargs):
        out = original(value, name, **kwargs)
        return out.view(_Counted) if isinstance(value, _Counted) else out

    _Counted.tally = {"full": int(full_size), "passes": 0}
    try:
        with mock.patch.object(batchnorm, "as_float_array", keep_subclass):
            fn(*wrapped)
        return _Counted.tally["passes"]
    finally:
        _Counted.tally = None
