"""Small helpers of chapter 1 (input normalization and gradient descent) that teach nothing.

Chapter 1 keeps its teaching code visible: the design matrix, the least-squares loss and the
gradient-descent loop. What lives here turns its numbers into text for the prose and draws the
loss landscape of its figures.

``power_of_ten(x)``
    the power of ten just below a positive number, as text (``3.2e10`` -> ``"10¹⁰"``), for
    sentences such as "the condition number is about 10¹⁰" whose wording must not depend on the
    digits of one data set.
``best_intercept_loss(X, y, w1, w2)``
    the least-squares loss of a two-feature linear model with the best intercept for each pair of
    weights, on a grid: the contours of chapter 1's picture of gradient descent.
``plot_window(points, square)``
    the axis limits of a panel that shows a set of 2-D points with a margin.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

__all__ = ["power_of_ten", "best_intercept_loss", "plot_window"]

_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def power_of_ten(x) -> str:
    """The power of ten just below ``x``, written with a superscript exponent.

    Parameters
    ----------
    x : float
        A positive, finite number.

    Returns
    -------
    str
        ``"10"`` followed by ``floor(log10(x))`` in superscript digits: ``power_of_ten(3.2e10)`` is
        ``"10¹⁰"``, ``power_of_ten(0.05)`` is ``"10⁻²"``, ``power_of_ten(1000)`` is ``"10³"``.

    Raises
    ------
    TypeError
        If ``x`` is not a real number (a string, a bool, an array).
    ValueError
        If ``x`` is not a positive finite number.

    Notes
    -----
    The exponent is computed from the decimal representation, not from ``math.log10``, so exact
    powers of ten (``1000``, ``1e-3``) get their own exponent, not the one below.
    """
    if isinstance(x, bool) or not isinstance(x, numbers.Real):
        raise TypeError(f"x must be a number, got {type(x).__name__} {x!r}")
    value = float(x)
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"x must be a positive finite number, got {value!r}")
    exponent = int(f"{value:.15e}".split("e")[1])
    # "9.999999999999999e+02" for 999.9999999999999: the printed mantissa must not round up past 10.
    if float(f"1e{exponent}") > value:
        exponent -= 1
    return "10" + str(exponent).translate(_SUPERSCRIPT)


def best_intercept_loss(X, y, w1, w2):
    """The loss ``L = (1/2n) ||X w + b - y||^2`` minimized over the intercept ``b``, for each ``w``.

    For each pair of weights ``w = (w1, w2)`` the best intercept is ``b = mean(y - X w)``, and the
    loss is then the least-squares loss of the centred features on the centred targets, a quadratic
    in ``w`` computed from the features' covariance.

    Parameters
    ----------
    X : ndarray, shape (n, 2)
        The two features (raw or rescaled).
    y : ndarray, shape (n,)
        The targets.
    w1, w2 : ndarray, any shape (the same)
        The weights of the two features at which to evaluate the loss, e.g. a ``np.meshgrid``.

    Returns
    -------
    ndarray, the shape of ``w1``
        The loss with the best intercept, in the squared units of ``y``.
    """
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if X.ndim != 2 or X.shape[1] != 2:
        raise ValueError(f"X must have shape (n, 2), got {X.shape}")
    if y.shape != (X.shape[0],):
        raise ValueError(
            f"y must have shape ({X.shape[0]},) (one target per row of X), got {y.shape}"
        )
    w1, w2 = np.asarray(w1, dtype=np.float64), np.asarray(w2, dtype=np.float64)
    if w1.shape != w2.shape:
        raise ValueError(f"w1 and w2 must have the same shape, got {w1.shape} and {w2.shape}")
    V = X - X.mean(axis=0)
    r = y - y.mean()
    C, c = V.T @ V / len(V), V.T @ r / len(V)
    return (
        0.5 * (C[0, 0] * w1**2 + 2 * C[0, 1] * w1 * w2 + C[1, 1] * w2**2)
        - c[0] * w1
        - c[1] * w2
        + 0.5 * np.mean(r * r)
    )


def plot_window(points, square: bool):
    """Axis limits ``((x0, y0), (x1, y1))`` that show every one of a set of 2-D points.

    Parameters
    ----------
    points : ndarray, shape (k, 2)
        The points to show (a path and its end point).
    square : bool
        ``True``: a square window centred on the points, 1.2 times their larger extent wide, for
        axes in comparable units drawn with equal aspect. ``False``: each axis spans its own extent
        with a margin of 10 % on either side, for axes in different units.

    Returns
    -------
    tuple of two ndarrays of shape (2,)
        The lower-left and the upper-right corner.
    """
    points = np.asarray(points, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] != 2 or len(points) == 0:
        raise ValueError(f"points must have shape (k, 2) with k >= 1, got {points.shape}")
    lo, hi = points.min(axis=0), points.max(axis=0)
    if square:
        centre, half = (lo + hi) / 2, 0.6 * (hi - lo).max()
        return centre - half, centre + half
    pad = 0.1 * (hi - lo)
    return lo - pad, hi + pad
