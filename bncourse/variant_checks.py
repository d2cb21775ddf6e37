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

The parity checks chapter 7 runs, each a function of a random generator that returns
``{title: {quantity: ratio}}`` (so that one draw is shown and many seeds are swept the same way):
:func:`layer_norm_parity`, :func:`instance_norm_parity`, :func:`group_norm_parity`,
:func:`renorm_parity` and :func:`weight_norm_parity`.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "F32_EPS",
    "gradient_check",
    "keras_training_call",
    "f32_ratio",
    "compare_with_keras",
    "layer_norm_parity",
    "instance_norm_parity",
    "group_norm_parity",
    "renorm_parity",
    "weight_norm_parity",
]

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
        raise ValueError(
            f"names must name every parameter: {len(names)} names, {len(params)} params"
        )
    y, cache = forward(x, *params)
    dout = rng.standard_normal(np.shape(y))
    grads = backward(dout, cache)
    errors = {
        "dx": bnlib.rel_error(
            grads[0], bnlib.numerical_gradient(lambda v: forward(v, *params)[0], x, dout)
        )
    }
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
    return [np.asarray(y)] + [
        np.asarray(g) for g in tape.gradient(loss, [x_tf, layer.gamma, layer.beta])
    ]


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
    scales = [
        np.max(np.abs(theirs[0])),
        np.max(np.abs(theirs[1])),
        np.max(np.sum(np.abs(dout * x_hat), axis=sum_axes)),
        np.max(np.sum(np.abs(dout), axis=sum_axes)),
    ]
    return {
        k: f32_ratio(o, t, s)
        for k, o, t, s in zip(["y", "dx", "dgamma", "dbeta"], ours, theirs, scales)
    }


# ---------------------------------------------------------------------------------------------
# The parity checks of chapter 7: bnlib against Keras, one draw of inputs, parameters and
# upstream gradients from ``rng`` per call.

MAPS = (8, 5, 4, 6)  # (N, H, W, C): the feature maps of the instance and group norm checks


def _keras_layer(layer, shape, rng):
    """Build ``layer`` for ``shape`` and give it random float32 ``gamma`` (0.5..2) and ``beta``."""
    layer.build(shape)
    gamma = rng.uniform(0.5, 2.0, layer.gamma.shape).astype(np.float32)
    beta = rng.normal(size=layer.beta.shape).astype(np.float32)
    layer.gamma.assign(gamma)
    layer.beta.assign(beta)
    return layer, gamma, beta


def _input_and_dout(rng, shape):
    """A float32 input with mean 1 and standard deviation 2, and a standard-normal upstream gradient."""
    return rng.normal(1.0, 2.0, shape).astype(np.float32), rng.standard_normal(shape).astype(
        np.float32
    )


def layer_norm_parity(rng):
    """bnlib's layer norm against ``keras.layers.LayerNormalization``.

    Three cases: a dense batch ``(32, 6)``, and feature maps ``(8, 5, 4, 6)`` normalized over the
    channels only (``axis=-1``) and over ``(H, W, C)`` (``axis=[1, 2, 3]``).
    """
    import keras

    import bnlib

    tables = {}
    for shape, axis in [((32, 6), -1), (MAPS, -1), (MAPS, [1, 2, 3])]:
        x32, dout = _input_and_dout(rng, shape)
        layer, gamma, beta = _keras_layer(keras.layers.LayerNormalization(axis=axis), shape, rng)
        theirs = keras_training_call(layer, x32, dout)
        ours_axis = axis if isinstance(axis, int) else tuple(axis)
        y, cache = bnlib.layer_norm_forward(x32, gamma, beta, axis=ours_axis)
        ours = [y, *bnlib.layer_norm_backward(dout, cache)]
        tables[f"LayerNormalization(axis={axis}), input {shape}"] = compare_with_keras(
            ours, theirs, dout, cache.x_hat, sum_axes=cache.param_axes
        )
    return tables


def instance_norm_parity(rng, shape=MAPS):
    """bnlib's instance norm against ``keras.layers.GroupNormalization(groups=-1)`` (a group per channel)."""
    import keras

    import bnlib

    x32, dout = _input_and_dout(rng, shape)
    layer, gamma, beta = _keras_layer(keras.layers.GroupNormalization(groups=-1), shape, rng)
    theirs = keras_training_call(layer, x32, dout)
    y, cache = bnlib.instance_norm_forward(x32, gamma, beta)
    table = compare_with_keras(
        [y, *bnlib.instance_norm_backward(dout, cache)], theirs, dout, cache.x_hat
    )
    return {f"GroupNormalization(groups=-1) = instance norm, input {shape}": table}


def group_norm_parity(rng, shape=MAPS, groups=(1, 3)):
    """bnlib's group norm against ``keras.layers.GroupNormalization``, for each number of ``groups``."""
    import keras

    import bnlib

    tables = {}
    for g in groups:
        x32, dout = _input_and_dout(rng, shape)
        layer, gamma, beta = _keras_layer(keras.layers.GroupNormalization(groups=g), shape, rng)
        theirs = keras_training_call(layer, x32, dout)
        y, cache = bnlib.group_norm_forward(x32, gamma, beta, groups=g)
        ours = [y, *bnlib.group_norm_backward(dout, cache)]
        tables[f"GroupNormalization(groups={g}), input {shape}"] = compare_with_keras(
            ours, theirs, dout, cache.x_hat.reshape(shape)
        )
    return tables


#: Per-feature location and scale of the renorm check's batches: far from the moving statistics'
#: initial 0 and 1 on the first steps, so that r or d is clipped there.
RENORM_LOC = (0.0, 2.0, -1.0, 9.0, 0.5)
RENORM_SCALE = (1.0, 3.0, 0.5, 2.0, 1.5)


def renorm_parity(
    rng, *, rmax=3.0, dmax=5.0, renorm_momentum=0.5, momentum=0.8, steps=8, clipped=None
):
    """bnlib's batch renormalization against Keras's ``BatchNormalization(renorm=True)``.

    ``steps`` training steps on batches of 16 (five features, located at :data:`RENORM_LOC` and
    scaled by :data:`RENORM_SCALE`), with Keras's clipping set to the paper's bounds
    (``rmax``, ``rmin = 1 / rmax``, ``dmax``). bnlib keeps the two pairs of moving statistics Keras
    keeps (``renorm_mean``/``renorm_stddev`` with ``renorm_momentum``, which give r and d;
    ``moving_mean``/``moving_stddev`` with ``momentum``, used at inference), updated with
    :func:`bnlib.batch_renorm_update`. Afterwards, both pairs, the moving variance Keras derives
    from them and an inference-mode output are compared too.

    Returns ``{"renorm, N training steps": the largest ratios over the steps, "renorm, after the
    N steps": the statistics and the inference output}``. If ``clipped`` is a list, one bool per
    step is appended to it: whether r or d reached a bound.
    """
    import keras

    import bnlib

    loc, scale = np.array(RENORM_LOC), np.array(RENORM_SCALE)
    clipping = {"rmax": rmax, "rmin": 1 / rmax, "dmax": dmax}
    layer = keras.layers.BatchNormalization(
        renorm=True, renorm_clipping=clipping, renorm_momentum=renorm_momentum, momentum=momentum
    )
    layer, gamma, beta = _keras_layer(layer, (16, loc.size), rng)
    rm, rs = (
        np.zeros(loc.size, np.float32),
        np.ones(loc.size, np.float32),
    )  # renorm_mean, renorm_stddev
    mm, ms = (
        np.zeros(loc.size, np.float32),
        np.ones(loc.size, np.float32),
    )  # moving_mean, moving_stddev
    tables = []
    for _ in range(steps):
        xb = (loc + scale * rng.standard_normal((16, loc.size))).astype(np.float32)
        dout = rng.standard_normal(xb.shape).astype(np.float32)
        theirs = keras_training_call(layer, xb, dout)
        y, cache = bnlib.batch_renorm_forward(xb, gamma, beta, rm, rs, rmax=rmax, dmax=dmax)
        if clipped is not None:
            bounds = [rmax, np.float32(1 / rmax)]
            clipped.append(
                bool(np.any(np.abs(cache.d) == dmax) or np.any(np.isin(cache.r, bounds)))
            )
        ours = [y, *bnlib.batch_renorm_backward(dout, cache)]
        # dgamma sums dout * (x_hat * r + d): its terms' size
        tables.append(
            compare_with_keras(ours, theirs, dout, np.abs(cache.x_hat * cache.r) + np.abs(cache.d))
        )
        rm, rs = bnlib.batch_renorm_update(rm, rs, cache, renorm_momentum)
        mm, ms = bnlib.batch_renorm_update(mm, ms, cache, momentum)
    pairs = [("renorm_mean", rm), ("renorm_stddev", rs), ("moving_mean", mm), ("moving_stddev", ms)]
    stats = {
        name: f32_ratio(ours, getattr(layer, name).numpy(), np.max(np.abs(ours)))
        for name, ours in pairs
    }
    moving_variance = np.maximum(ms.astype(np.float64) ** 2 - layer.epsilon, 0.0)
    stats["moving_variance"] = f32_ratio(
        moving_variance, layer.moving_variance.numpy(), moving_variance.max()
    )
    xb = (loc + scale * rng.standard_normal((16, loc.size))).astype(np.float32)
    y_inf = bnlib.batch_norm_inference(xb, mm, moving_variance.astype(np.float32), gamma, beta)
    theirs_inf = layer(xb, training=False).numpy()
    stats["inference y"] = f32_ratio(
        y_inf, theirs_inf, np.max(np.abs(theirs_inf)) + np.max(np.abs(xb))
    )
    return {
        f"renorm, {steps} training steps": {k: max(t[k] for t in tables) for k in tables[0]},
        f"renorm, after the {steps} steps": stats,
    }


def weight_norm_parity(rng, shape=(784, 32)):
    """bnlib's weight norm against ``tf.GradientTape``'s derivative of ``w = g * v / ||v||``, in float32.

    Keras 3 has no weight-normalization layer, so the reference is automatic differentiation of
    the formula, for a dense kernel ``v`` of ``shape`` (inputs, units).
    """
    import tensorflow as tf

    import bnlib

    v32 = rng.normal(scale=0.05, size=shape).astype(np.float32)
    g32 = rng.uniform(0.5, 2.0, shape[-1]).astype(np.float32)
    dw = rng.standard_normal(v32.shape).astype(np.float32)
    v_tf, g_tf = tf.Variable(v32), tf.Variable(g32)
    with tf.GradientTape() as tape:
        w_tf = g_tf * v_tf / tf.norm(v_tf, axis=0)
        loss = tf.reduce_sum(w_tf * dw)
    dv_tf, dg_tf = tape.gradient(loss, [v_tf, g_tf])
    w32, cache32 = bnlib.weight_norm_forward(v32, g32)
    dv, dg = bnlib.weight_norm_backward(dw, cache32)
    return {
        "weight norm against tf.GradientTape, float32": {
            "w": f32_ratio(w32, w_tf.numpy(), np.abs(w_tf.numpy()).max()),
            "dv": f32_ratio(dv, dv_tf.numpy(), np.abs(dv_tf.numpy()).max()),
            "dg": f32_ratio(dg, dg_tf.numpy(), np.sum(np.abs(dw * cache32.v_hat), axis=0).max()),
        }
    }
