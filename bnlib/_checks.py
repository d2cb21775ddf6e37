"""Argument checks shared by bnlib's public functions.

Every check raises ``TypeError`` or ``ValueError`` with a message that names the argument and
says what was expected, so a learner who passes the wrong thing learns what to pass instead.
None of them modifies its argument.
"""

from __future__ import annotations

import numbers

import numpy as np


def as_float_array(value, name: str, *, min_ndim: int = 0) -> np.ndarray:
    """Return ``value`` as a finite floating-point array (a new array when a conversion is needed).

    Floating dtypes are kept (float32 stays float32); booleans and integers become float64.
    """
    if isinstance(value, (str, bytes)):
        raise TypeError(f"{name} must be an array of numbers, got a {type(value).__name__}")
    try:
        arr = np.asarray(value)
    except Exception as exc:  # ragged lists and the like
        raise TypeError(f"{name} must be an array of numbers: {exc}") from None
    if arr.dtype == object or not (
        np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.bool_)
    ):
        raise TypeError(f"{name} must be an array of real numbers, got dtype {arr.dtype}")
    if np.issubdtype(arr.dtype, np.complexfloating):
        raise TypeError(f"{name} must be real, got complex dtype {arr.dtype}")
    if not np.issubdtype(arr.dtype, np.floating):
        arr = arr.astype(np.float64)
    if arr.ndim < min_ndim:
        raise ValueError(
            f"{name} must have at least {min_ndim} dimensions (a batch axis and a feature axis), "
            f"got shape {arr.shape}"
        )
    if not np.all(np.isfinite(arr)):
        bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
        raise ValueError(f"{name} contains {bad} NaN or infinite value(s); expected finite numbers")
    return arr


def check_integer(value, name: str) -> int:
    """Return ``value`` as an int after checking that it is an integer (not a bool)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    return int(value)


def check_axis(axis, ndim: int, name: str = "axis") -> int:
    """Return ``axis`` as a non-negative index into an array of ``ndim`` dimensions."""
    axis = check_integer(axis, name)
    if not -ndim <= axis < ndim:
        raise ValueError(
            f"{name}={axis} is out of range for an input with {ndim} dimensions; "
            f"expected an integer in [{-ndim}, {ndim - 1}]"
        )
    return axis % ndim


def check_positive(value, name: str) -> float:
    """Return ``value`` as a float after checking that it is a finite number > 0."""
    number = _real_number(value, name)
    if not number > 0:
        raise ValueError(f"{name} must be a positive number, got {value!r}")
    return number


def check_unit_interval(value, name: str) -> float:
    """Return ``value`` as a float after checking that it lies in [0, 1]."""
    number = _real_number(value, name)
    if not 0.0 <= number <= 1.0:
        raise ValueError(f"{name} must lie in [0, 1], got {value!r}")
    return number


def check_bool(value, name: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def check_shape(arr: np.ndarray, expected: tuple, name: str, why: str) -> None:
    if arr.shape != tuple(expected):
        raise ValueError(f"{name} must have shape {tuple(expected)} ({why}), got {arr.shape}")


def _real_number(value, name: str) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    number = float(value)
    if not np.isfinite(number):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return number
