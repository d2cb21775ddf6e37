"""Numerical gradient checking: centred differences and a relative error (chapter 4).

The check that an analytic backward pass is right compares it with

    grad[i] = sum(dout * (f(x + h e_i) - f(x - h e_i))) / (2 h),

the derivative of the scalar ``sum(dout * f(x))`` along each coordinate. Use float64 and a
*random* ``dout``: with ``dout`` all ones, the sum of batch-normalized outputs does not depend on
``x`` at all, so the true gradient is zero and a wrong backward pass can look right.
"""

from __future__ import annotations

import numpy as np

from ._checks import as_float_array, check_positive

__all__ = ["numerical_gradient", "rel_error"]


def numerical_gradient(f, x, dout, h=1e-5):
    """Centred-difference gradient of ``sum(dout * f(x))`` with respect to ``x``.

    Parameters
    ----------
    f : callable
        Maps an array shaped like ``x`` to an array shaped like ``dout`` (or to a scalar, with a
        scalar ``dout``). It must not keep or modify its argument.
    x : array_like
        The point at which to differentiate. It is copied to float64 and never modified.
    dout : array_like
        The upstream gradient dL/df(x) the differences are contracted with.
    h : float > 0
        The step. With float64, 1e-5 balances truncation error (~h**2) against rounding (~eps/h).

    Returns
    -------
    grad : ndarray of float64, same shape as x
    """
    if not callable(f):
        raise TypeError(f"f must be a callable that maps x to an array, got {type(f).__name__}")
    h = check_positive(h, "h")
    point = np.array(as_float_array(x, "x"), dtype=np.float64, order="C", copy=True)
    dout = np.asarray(as_float_array(dout, "dout"), dtype=np.float64)
    grad = np.zeros_like(point)
    flat_point = point.reshape(-1)
    flat_grad = grad.reshape(-1)

    def contracted():
        out = np.asarray(f(point.copy()))
        if out.shape != dout.shape:
            raise ValueError(f"dout must have the shape of f(x), {out.shape}, got {dout.shape}")
        return float(np.sum(dout * out, dtype=np.float64))

    for i in range(flat_point.size):
        original = flat_point[i]
        flat_point[i] = original + h
        plus = contracted()
        flat_point[i] = original - h
        minus = contracted()
        flat_point[i] = original
        flat_grad[i] = (plus - minus) / (2.0 * h)
    return grad


def rel_error(a, b):
    """Relative error ``max|a - b| / (max|a| + max|b|)`` of two arrays of the same shape.

    A scale-free number: about 1e-16 for equal float64 arrays up to rounding, about 1e-7 for
    float32, about 1 for unrelated arrays. Two all-zero arrays give 0.

    Parameters
    ----------
    a, b : array_like, same shape

    Returns
    -------
    float
    """
    a = np.asarray(as_float_array(a, "a"), dtype=np.float64)
    b = np.asarray(as_float_array(b, "b"), dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"a and b must have the same shape, got {a.shape} and {b.shape}")
    if a.size == 0:
        return 0.0
    scale = np.max(np.abs(a)) + np.max(np.abs(b))
    if scale == 0.0:
        return 0.0
    return float(np.max(np.abs(a - b)) / scale)
