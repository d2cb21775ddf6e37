"""Checks of bnlib's normalization variants: centred differences, and Keras at float32 precision.

Chapter 7 checks every variant of ``bnlib.variants`` two ways, with the helpers here:

- :func:`gradient_check`: the relative error of a backward pass against centred differences of
  its forward pass (float64, random upstream gradient), for ``dx`` and each parameter;
- :func:`keras_training_call`: a Keras layer's training-mode output and its gradients
  ``dL/dx, dL/dgamma, dL/dbeta`` for ``L = sum(dout * y)``, from ``tf.GradientTape``;
- :func:`f32_ratio` and :func:`compare_with_keras`: the largest difference between bnlib and
  Keras in units of ``eps32 * S``, float32's machine epsilon times the magnitude ``S`` of what is
  compared, so that one tolerance (a few such units) fits outputs and gradients of any size.

A formula error gives ratios of thousands or more; float32 rounding, a few units.
"""

from __future__ import annotations

import numpy as np

__all__ = ["F32_EPS", "gradient_check", "keras_training_call", "f32_ratio", "compare_with_keras"]

F32_EPS = float(np.finfo(np.float32).eps)  # 2**-23, about 1.19e-7


def gradient_check(forward, backward, x, params, rng, names=("dgamma", "dbeta")):
    """Relative errors of ``backward``'s gradients against centred differences of ``forward``.

    Parameters
    ----------
    forward : callable
        ``forward(x, *params) -> (y, cache)``, in float64.
    backward : callable
        ``backward(dout, cache) -> (dx, *dparams)``.
    x : ndarray
        The input.
    params : sequence of ndarray
        The parameters, in ``forward``'s order.
    rng : numpy.random.Generator
        Draws the random upstream gradient ``dout`` (shape of ``y``).
    names : sequence of str, default ("dgamma", "dbeta")
        Names of the parameter gradients, one per entry of ``params``.

    Returns
    -------
    dict of float
        ``{"dx": ..., names[0]: ..., ...}``: ``bnlib.rel_error`` of each analytic gradient against
        ``bnlib.numerical_gradient`` (centred differences, ``h = 1e-5``).
    """
    import bnlib

    params = list(params)
    if len(names) != len(params):
        raise ValueError(f"names must name every parameter: {len(names)} names, {len(params)} params")
    y, cache = forward(x, *params)
    dout = rng.standard_normal(np.shape(y))
    grads = backward(dout, cache)
    errors = {"dx": bnlib.rel_error(grads[0], bnlib.numerical_gradient(lambda v: forward(v, *params)[0], x, dout))}
    for i, name in enumerate(names):
        def f(t, i=i):
            ps = list(params)
            ps[i] = t
            return forward(x, *ps)[0]
        errors[name] = bnlib.rel_error(grads[i + 1], bnlib.numerical_gradient(f, params[i], dout))
    return errors


def keras_training_call(layer, x, dout):
    """A Keras layer in training mode: ``[y, dL/dx, dL/dgamma, dL/dbeta]`` for ``L = sum(dout * y)``.

    Parameters
    ----------
    layer : keras.layers.Layer
        Built, with ``gamma`` and ``beta`` weights (a normalization layer). Its moving statistics,
        if any, are updated by the call.
    x, dout : ndarray
        The input and the upstream gradient, of one shape and dtype.

    Returns
    -------
    list of ndarray
        The output and the three gradients, as numpy arrays.
    """
    import tensorflow as tf

    x_tf = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x_tf)
        y = layer(x_tf, training=True)
        loss = tf.reduce_sum(tf.constant(dout) * y)
    return [np.asarray(y)] + [np.asarray(g) for g in tape.gradient(loss, [x_tf, layer.gamma, layer.beta])]


def f32_ratio(ours, theirs, scale):
    """``max |ours - theirs| / (F32_EPS * scale)``: a difference in float32 rounding units.

    Parameters
    ----------
    ours, theirs : array_like
        Two computations of one quantity (compared in float64).
    scale : float
        The magnitude ``S`` of the quantity (e.g. ``max |theirs|``); must be positive.
    """
    scale = float(scale)
    if not (np.isfinite(scale) and scale > 0):
        raise ValueError(f"scale must be a positive number, got {scale!r}")
    diff = np.abs(np.asarray(ours, np.float64) - np.asarray(theirs, np.float64))
    return float(np.max(diff) / (F32_EPS * scale))


def compare_with_keras(ours, theirs, dout, x_hat, sum_axes=None):
    """bnlib against Keras, for a training call: each of ``y, dx, dgamma, dbeta`` in ``eps32 * S``.

    Parameters
    ----------
    ours, theirs : sequence of 4 arrays
        ``[y, dx, dgamma, dbeta]`` from bnlib and from :func:`keras_training_call`.
    dout : ndarray
        The upstream gradient.
    x_hat : ndarray
        The normalized input, in the layout of ``dout`` (what ``dgamma`` sums against ``dout``).
    sum_axes : tuple of int, optional
        The axes ``dgamma`` and ``dbeta`` sum over (default: all but the last).

    Returns
    -------
    dict of float
        ``{"y", "dx", "dgamma", "dbeta"}`` → :func:`f32_ratio`, with ``S`` the largest ``|y|`` and
        ``|dx|`` of Keras for the first two, and the largest sum of ``|dout * x_hat|`` and of
        ``|dout|`` over ``sum_axes`` for the parameter gradients (the size of their terms).
    """
    if len(ours) != 4 or len(theirs) != 4:
        raise ValueError("ours and theirs must each be [y, dx, dgamma, dbeta]")
    dout, x_hat = np.asarray(dout, np.float64), np.asarray(x_hat, np.float64)
    if dout.shape != x_hat.shape:
        raise ValueError(f"dout and x_hat must have one shape, got {dout.shape} and {x_hat.shape}")
    sum_axes = tuple(range(dout.ndim - 1)) if sum_axes is None else tuple(sum_axes)
    scales = [np.max(np.abs(theirs[0])), np.max(np.abs(theirs[1])),
              np.max(np.sum(np.abs(dout * x_hat), axis=sum_axes)), np.max(np.sum(np.abs(dout), axis=sum_axes))]
    return {k: f32_ratio(o, t, s) for k, o, t, s in zip(["y", "dx", "dgamma", "dbeta"], ours, theirs, scales)}
