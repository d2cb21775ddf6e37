"""Beyond batch normalization: layer, instance and group normalization, batch renormalization and
weight normalization, in numpy (chapter 7).

Every method here is a functional pair in the style of :func:`bnlib.batch_norm_forward` /
:func:`bnlib.batch_norm_backward`: ``forward(...) -> (out, cache)`` and
``backward(dout, cache) -> (dx, dgamma, dbeta)`` (``(dv, dg)`` for weight normalization).

Layer, instance and group normalization standardize each *example* over a different set of axes,
so they need no batch statistics and behave the same in training and at inference:

============================  ==============================================  ==================
method                        statistics of one example, taken over           gamma, beta shape
============================  ==============================================  ==================
:func:`layer_norm_forward`    the ``axis`` (or axes) given, ``-1`` by default  x.shape[axis]
:func:`instance_norm_forward` the spatial axes, per channel (NHWC)             (C,)
:func:`group_norm_forward`    the spatial axes and a group of C/G channels     (C,)
============================  ==============================================  ==================

Batch renormalization (Ioffe 2017) keeps batch statistics but corrects them towards moving ones
with ``r`` and ``d``; weight normalization (Salimans & Kingma 2016) normalizes a layer's *weights*,
not its activations. The argument names and defaults follow Keras (``epsilon=1e-3``, ``axis=-1``,
``groups=32``); the docstrings say where Keras differs.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np

from ._checks import (
    as_float_array,
    check_axis,
    check_integer,
    check_positive,
    check_shape,
    check_unit_interval,
)
from .batchnorm import _moments

__all__ = [
    "BatchRenormCache",
    "NormCache",
    "WeightNormCache",
    "batch_renorm_backward",
    "batch_renorm_forward",
    "batch_renorm_update",
    "group_norm_backward",
    "group_norm_forward",
    "instance_norm_backward",
    "instance_norm_forward",
    "layer_norm_backward",
    "layer_norm_forward",
    "weight_norm_backward",
    "weight_norm_forward",
]


# ---------------------------------------------------------------------------------------------
# The shared core: standardize over some axes of a working array, and its backward pass.


def _standardize(xw, reduce_axes, epsilon, dtype):
    """x_hat, inv_std, mean and variance (keepdims) of ``xw`` over ``reduce_axes``."""
    mean, var = _moments(xw, reduce_axes)  # float64 accumulation, two-pass; see batchnorm.py
    inv_std = (1.0 / np.sqrt(var + epsilon)).astype(dtype)
    x_hat = (xw - mean) * inv_std
    return x_hat, inv_std, mean, var


def _standardize_backward(dx_hat, x_hat, inv_std, reduce_axes):
    """The compact formula of chapter 4, with the means over ``reduce_axes``."""
    return inv_std * (
        dx_hat
        - np.mean(dx_hat, axis=reduce_axes, keepdims=True)
        - x_hat * np.mean(dx_hat * x_hat, axis=reduce_axes, keepdims=True)
    )


def _params(gamma, beta, shape, why):
    gamma = as_float_array(gamma, "gamma")
    beta = as_float_array(beta, "beta")
    check_shape(gamma, shape, "gamma", why)
    check_shape(beta, shape, "beta", why)
    return gamma, beta


def _check_not_empty(x):
    if x.size == 0:
        raise ValueError(
            f"x must not be empty (there is nothing to normalize), got shape {x.shape}"
        )


@dataclass(frozen=True)
class NormCache:
    """What the layer, instance and group normalization forward passes keep for their backward.

    The arrays live in a *working layout*: the input itself for layer and instance normalization;
    for group normalization the input with its channel axis moved last and split into
    ``(groups, C // groups)``.

    Attributes
    ----------
    kind : str
        ``"layer"``, ``"instance"`` or ``"group"``: which forward pass made the cache.
    x_hat : ndarray, working layout
        The standardized input.
    inv_std : ndarray, broadcastable to x_hat
        ``1 / sqrt(variance + epsilon)``, one value per example (and per channel or group).
    gamma : ndarray, broadcastable to x_hat
        The scale used in the forward pass.
    mean, variance : ndarray, broadcastable to x_hat
        The per-example statistics (biased variance), with singleton reduced axes.
    reduce_axes : tuple of int
        The axes of the working layout the statistics were taken over.
    param_axes : tuple of int
        The axes of the working layout summed over for ``dgamma`` and ``dbeta``.
    param_shape : tuple of int
        The shape of gamma and beta.
    input_shape : tuple of int
        The shape of the forward input ``x``.
    axis : int
        Group normalization: the channel axis of ``x`` (non-negative). Otherwise -1.
    """

    kind: str
    x_hat: np.ndarray
    inv_std: np.ndarray
    gamma: np.ndarray
    mean: np.ndarray
    variance: np.ndarray
    reduce_axes: tuple
    param_axes: tuple
    param_shape: tuple
    input_shape: tuple
    axis: int


def _norm_backward(dout_w, cache):
    """dx (working layout), dgamma, dbeta (param_shape) from dout in the working layout."""
    dgamma = np.sum(dout_w * cache.x_hat, axis=cache.param_axes).reshape(cache.param_shape)
    dbeta = np.sum(dout_w, axis=cache.param_axes).reshape(cache.param_shape)
    dx_w = _standardize_backward(
        dout_w * cache.gamma, cache.x_hat, cache.inv_std, cache.reduce_axes
    )
    return dx_w, dgamma, dbeta


def _check_cache(cache, kind, forward_name):
    if not isinstance(cache, NormCache) or cache.kind != kind:
        got = cache.kind + " cache" if isinstance(cache, NormCache) else type(cache).__name__
        raise TypeError(f"cache must be the NormCache returned by {forward_name}, got a {got}")


def _check_dout(dout, cache):
    dout = as_float_array(dout, "dout")
    check_shape(dout, cache.input_shape, "dout", "the shape of the forward input x")
    return dout


# ---------------------------------------------------------------------------------------------
# Layer normalization


def _layer_axes(axis, ndim):
    if isinstance(axis, (list, tuple)):
        if len(axis) == 0:
            raise ValueError(
                "axis must name at least one axis to normalize over, got an empty sequence"
            )
        axes = [check_axis(a, ndim) for a in axis]
    else:
        axes = [check_axis(axis, ndim)]
    if len(set(axes)) != len(axes):
        raise ValueError(f"axis must not repeat an axis, got {axis!r}")
    if 0 in axes:
        raise ValueError(
            f"axis must not include the batch axis 0 (layer normalization is per example), got {axis!r}"
        )
    return tuple(sorted(axes))


def layer_norm_forward(x, gamma, beta, epsilon=1e-3, axis=-1):
    """Layer normalization: standardize each example over the feature axis or axes (chapter 7).

    ``y = gamma * (x - mean) / sqrt(variance + epsilon) + beta`` with the mean and (biased)
    variance of *each example* taken over ``axis``, as in ``keras.layers.LayerNormalization``
    (Ba, Kiros & Hinton 2016). ``gamma`` and ``beta`` have one value per position of the
    normalized axes, as in Keras. The output of one example does not depend on the others.

    Parameters
    ----------
    x : array_like, shape (N, D), (N, H, W, C), ... (at least 2 axes)
        A batch. Not modified.
    gamma, beta : array_like, shape ``tuple(x.shape[a] for a in sorted(axis))``
        (D,) for dense inputs with ``axis=-1``; (H, W, C) with ``axis=(1, 2, 3)``.
    epsilon : float > 0
        Keras's default, 1e-3 (PyTorch's ``nn.LayerNorm`` uses 1e-5).
    axis : int or tuple of int
        The axis or axes to normalize over. Not the batch axis 0. On NHWC images Keras's default
        ``axis=-1`` normalizes each pixel over its C channels; the paper's convolutional layer
        normalization is ``axis=(1, 2, 3)``.

    Returns
    -------
    y : ndarray, same shape as x
        In the common dtype of ``x``, ``gamma`` and ``beta``.
    cache : NormCache
        For :func:`layer_norm_backward`.
    """
    x = as_float_array(x, "x", min_ndim=2)
    _check_not_empty(x)
    axes = _layer_axes(axis, x.ndim)
    epsilon = check_positive(epsilon, "epsilon")
    param_shape = tuple(x.shape[a] for a in axes)
    gamma, beta = _params(
        gamma, beta, param_shape, f"one value per position of the normalized axes {axes}"
    )
    dtype = np.result_type(x.dtype, gamma.dtype, beta.dtype)
    x = x.astype(dtype, copy=False)
    bshape = tuple(x.shape[i] if i in axes else 1 for i in range(x.ndim))
    x_hat, inv_std, mean, var = _standardize(x, axes, epsilon, dtype)
    g = gamma.astype(dtype).reshape(bshape)
    y = g * x_hat + beta.astype(dtype).reshape(bshape)
    cache = NormCache(
        kind="layer",
        x_hat=x_hat,
        inv_std=inv_std,
        gamma=g,
        mean=mean,
        variance=var,
        reduce_axes=axes,
        param_axes=tuple(i for i in range(x.ndim) if i not in axes),
        param_shape=param_shape,
        input_shape=x.shape,
        axis=-1,
    )
    return y, cache


def layer_norm_backward(dout, cache):
    """Gradients of :func:`layer_norm_forward`.

    The compact formula of batch normalization's backward pass (chapter 4), with its means taken
    over each example's normalized axes instead of over the batch.

    Parameters
    ----------
    dout : array_like, same shape as the forward input
        The upstream gradient dL/dy. Not modified.
    cache : NormCache
        The second value returned by :func:`layer_norm_forward`.

    Returns
    -------
    dx : ndarray, same shape as the forward input
    dgamma, dbeta : ndarray, the shape of gamma
    """
    _check_cache(cache, "layer", "layer_norm_forward")
    dout = _check_dout(dout, cache)
    return _norm_backward(dout, cache)


# ---------------------------------------------------------------------------------------------
# Instance normalization


def instance_norm_forward(x, gamma, beta, epsilon=1e-3):
    """Instance normalization: standardize each channel of each example over its spatial axes.

    ``y = gamma * (x - mean) / sqrt(variance + epsilon) + beta`` with one mean and (biased)
    variance per example and channel, taken over H and W (Ulyanov, Vedaldi & Lempitsky 2016).
    Channels last (NHWC), as Keras; it equals ``keras.layers.GroupNormalization(groups=-1)``,
    i.e. :func:`group_norm_forward` with ``groups=C`` (chapter 7).

    Parameters
    ----------
    x : array_like, shape (N, H, W, C), or (N, L, C) and any (N, spatial..., C)
        Not modified. At least one spatial axis.
    gamma, beta : array_like, shape (C,)
    epsilon : float > 0

    Returns
    -------
    y : ndarray, same shape as x
    cache : NormCache
        For :func:`instance_norm_backward`.
    """
    x = as_float_array(x, "x", min_ndim=2)
    if x.ndim < 3:
        raise ValueError(
            "x must have shape (N, H, W, C) or at least (N, spatial, C): instance normalization "
            f"takes its statistics over the spatial axes, and shape {x.shape} has none"
        )
    _check_not_empty(x)
    epsilon = check_positive(epsilon, "epsilon")
    c = x.shape[-1]
    gamma, beta = _params(gamma, beta, (c,), "one value per channel: x.shape[-1]")
    dtype = np.result_type(x.dtype, gamma.dtype, beta.dtype)
    x = x.astype(dtype, copy=False)
    spatial = tuple(range(1, x.ndim - 1))
    x_hat, inv_std, mean, var = _standardize(x, spatial, epsilon, dtype)
    g = gamma.astype(dtype)  # broadcasts against the last axis
    y = g * x_hat + beta.astype(dtype)
    cache = NormCache(
        kind="instance",
        x_hat=x_hat,
        inv_std=inv_std,
        gamma=g,
        mean=mean,
        variance=var,
        reduce_axes=spatial,
        param_axes=tuple(range(x.ndim - 1)),
        param_shape=(c,),
        input_shape=x.shape,
        axis=-1,
    )
    return y, cache


def instance_norm_backward(dout, cache):
    """Gradients of :func:`instance_norm_forward`.

    Parameters
    ----------
    dout : array_like, same shape as the forward input. Not modified.
    cache : NormCache
        The second value returned by :func:`instance_norm_forward`.

    Returns
    -------
    dx : ndarray, same shape as the forward input
    dgamma, dbeta : ndarray, shape (C,)
    """
    _check_cache(cache, "instance", "instance_norm_forward")
    dout = _check_dout(dout, cache)
    return _norm_backward(dout, cache)


# ---------------------------------------------------------------------------------------------
# Group normalization


def _to_groups(a, axis, groups):
    """Move the channel axis last and split it into (groups, C // groups)."""
    moved = np.moveaxis(a, axis, -1)
    return moved.reshape(moved.shape[:-1] + (groups, moved.shape[-1] // groups))


def _from_groups(a, axis):
    merged = a.reshape(a.shape[:-2] + (a.shape[-2] * a.shape[-1],))
    return np.moveaxis(merged, -1, axis)


def group_norm_forward(x, gamma, beta, groups=32, epsilon=1e-3, axis=-1):
    """Group normalization: standardize each example over its spatial axes and a group of channels.

    The C channels are split into ``groups`` consecutive groups of C / G channels (channel c is in
    group ``c // (C // G)``); each example gets one mean and (biased) variance per group, taken
    over the spatial axes and the group's channels (Wu & He 2018), as in
    ``keras.layers.GroupNormalization``. ``groups=1`` is layer normalization over every non-batch
    axis; ``groups=C`` (or ``-1``, as in Keras) is instance normalization (chapter 7).

    Parameters
    ----------
    x : array_like, shape (N, H, W, C), (N, D), or any (N, ..., C)
        Not modified.
    gamma, beta : array_like, shape (C,)
        One value per channel, as in Keras.
    groups : int
        G, which must divide C; ``-1`` means G = C. Keras's default is 32 (the paper's choice).
    epsilon : float > 0
    axis : int
        The channel axis (not the batch axis 0).

    Returns
    -------
    y : ndarray, same shape as x
    cache : NormCache
        For :func:`group_norm_backward`.
    """
    x = as_float_array(x, "x", min_ndim=2)
    _check_not_empty(x)
    axis = check_axis(axis, x.ndim)
    if axis == 0:
        raise ValueError(
            "axis must be a channel axis, not the batch axis 0 (group normalization is per example)"
        )
    c = x.shape[axis]
    groups = check_integer(groups, "groups")
    if groups == -1:
        groups = c
    if groups < 1:
        raise ValueError(
            f"groups must be a positive integer or -1 (one group per channel), got {groups}"
        )
    if c % groups != 0:
        raise ValueError(
            f"groups={groups} must divide the number of channels C = x.shape[{axis}] = {c}"
        )
    epsilon = check_positive(epsilon, "epsilon")
    gamma, beta = _params(gamma, beta, (c,), f"one value per channel: x.shape[{axis}]")
    dtype = np.result_type(x.dtype, gamma.dtype, beta.dtype)
    xw = _to_groups(x.astype(dtype, copy=False), axis, groups)  # (N, ..., G, C/G)
    nd = xw.ndim
    reduce_axes = tuple(range(1, nd - 2)) + (nd - 1,)
    x_hat, inv_std, mean, var = _standardize(xw, reduce_axes, epsilon, dtype)
    g = gamma.astype(dtype).reshape(groups, c // groups)
    y = _from_groups(g * x_hat + beta.astype(dtype).reshape(groups, c // groups), axis)
    cache = NormCache(
        kind="group",
        x_hat=x_hat,
        inv_std=inv_std,
        gamma=g,
        mean=mean,
        variance=var,
        reduce_axes=reduce_axes,
        param_axes=tuple(range(nd - 2)),
        param_shape=(c,),
        input_shape=x.shape,
        axis=axis,
    )
    return y, cache


def group_norm_backward(dout, cache):
    """Gradients of :func:`group_norm_forward`.

    Parameters
    ----------
    dout : array_like, same shape as the forward input. Not modified.
    cache : NormCache
        The second value returned by :func:`group_norm_forward`.

    Returns
    -------
    dx : ndarray, same shape as the forward input
    dgamma, dbeta : ndarray, shape (C,)
    """
    _check_cache(cache, "group", "group_norm_forward")
    dout = _check_dout(dout, cache)
    groups = cache.gamma.shape[0]
    dx_w, dgamma, dbeta = _norm_backward(_to_groups(dout, cache.axis, groups), cache)
    return _from_groups(dx_w, cache.axis), dgamma, dbeta


# ---------------------------------------------------------------------------------------------
# Batch renormalization


@dataclass(frozen=True)
class BatchRenormCache:
    """What :func:`batch_renorm_forward` keeps for :func:`batch_renorm_backward` and
    :func:`batch_renorm_update`.

    Attributes
    ----------
    x_hat : ndarray, same shape as the input
        ``(x - mean) / stddev``, standardized with the batch statistics.
    inv_std : ndarray, broadcastable to the input
        ``1 / stddev`` with singleton reduced axes.
    gamma : ndarray, broadcastable to the input
    r, d : ndarray, shape (C,)
        The corrections, after clipping. The backward pass treats them as constants.
    mean : ndarray, shape (C,)
        The batch mean.
    stddev : ndarray, shape (C,)
        The batch ``sqrt(variance + epsilon)``.
    axis : int
    reduce_axes : tuple of int
    """

    x_hat: np.ndarray
    inv_std: np.ndarray
    gamma: np.ndarray
    r: np.ndarray
    d: np.ndarray
    mean: np.ndarray
    stddev: np.ndarray
    axis: int
    reduce_axes: tuple


def _clip_bound(value, name, lower):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number (np.inf for no clipping), got {value!r}")
    value = float(value)
    if np.isnan(value) or value < lower:
        raise ValueError(
            f"{name} must be a number >= {lower} (np.inf for no clipping), got {value!r}"
        )
    return value


def batch_renorm_forward(
    x, gamma, beta, moving_mean, moving_stddev, rmax=np.inf, dmax=np.inf, epsilon=1e-3, axis=-1
):
    """Training-mode batch renormalization (Ioffe 2017, Algorithm 1; chapter 7).

    With the batch statistics ``mean`` and ``stddev = sqrt(variance + epsilon)`` of each feature,

        r = clip(stddev / moving_stddev, 1 / rmax, rmax)
        d = clip((mean - moving_mean) / moving_stddev, -dmax, dmax)
        y = gamma * (x_hat * r + d) + beta,   x_hat = (x - mean) / stddev.

    Without clipping, ``x_hat * r + d = (x - moving_mean) / moving_stddev``: the output is the
    inference-mode output, and only the gradient sees the batch statistics. ``rmax = 1, dmax = 0``
    is batch normalization. The paper starts there and relaxes to ``rmax = 3, dmax = 5``.

    Keras (``BatchNormalization(renorm=True)``) computes the same output when given
    ``renorm_clipping={"rmax": rmax, "rmin": 1 / rmax, "dmax": dmax}`` (its default is no clipping,
    and it takes ``rmin`` separately); it also floors ``moving_stddev`` at ``sqrt(epsilon)``, which
    never binds for statistics built by :func:`batch_renorm_update`.

    Parameters
    ----------
    x : array_like, shape (N, D), (N, H, W, C), or (N, C, H, W) with ``axis=1``. Not modified.
    gamma, beta : array_like, shape (C,)
    moving_mean : array_like, shape (C,)
        The moving mean used for ``d`` (Keras's ``renorm_mean``).
    moving_stddev : array_like, shape (C,), > 0
        The moving ``sqrt(variance + epsilon)`` (Keras's ``renorm_stddev``).
    rmax : float >= 1, or np.inf
    dmax : float >= 0, or np.inf
    epsilon : float > 0
    axis : int
        The feature axis; statistics are taken over all the others.

    Returns
    -------
    y : ndarray, same shape as x
    cache : BatchRenormCache
    """
    x = as_float_array(x, "x", min_ndim=2)
    axis = check_axis(axis, x.ndim)
    epsilon = check_positive(epsilon, "epsilon")
    rmax = _clip_bound(rmax, "rmax", 1.0)
    dmax = _clip_bound(dmax, "dmax", 0.0)
    c = x.shape[axis]
    why = f"one value per feature: x.shape[{axis}]"
    gamma, beta = _params(gamma, beta, (c,), why)
    moving_mean = as_float_array(moving_mean, "moving_mean")
    check_shape(moving_mean, (c,), "moving_mean", why)
    moving_stddev = as_float_array(moving_stddev, "moving_stddev")
    check_shape(moving_stddev, (c,), "moving_stddev", why)
    if np.any(moving_stddev <= 0):
        raise ValueError("moving_stddev must be positive (it is a moving sqrt(variance + epsilon))")
    _check_not_empty(x)
    dtype = np.result_type(x.dtype, gamma.dtype, beta.dtype, moving_mean.dtype, moving_stddev.dtype)
    x = x.astype(dtype, copy=False)
    reduce_axes = tuple(i for i in range(x.ndim) if i != axis)
    shape = tuple(c if i == axis else 1 for i in range(x.ndim))

    x_hat, inv_std, mean, var = _standardize(x, reduce_axes, epsilon, dtype)
    mean, stddev = mean.reshape(-1), np.sqrt(var.reshape(-1) + epsilon).astype(dtype)
    mm, ms = moving_mean.astype(dtype), moving_stddev.astype(dtype)
    r = np.clip(stddev / ms, 1.0 / rmax, rmax).astype(dtype)
    d = np.clip((mean - mm) / ms, -dmax, dmax).astype(dtype)
    g = gamma.astype(dtype).reshape(shape)
    y = g * (x_hat * r.reshape(shape) + d.reshape(shape)) + beta.astype(dtype).reshape(shape)
    cache = BatchRenormCache(
        x_hat=x_hat,
        inv_std=inv_std,
        gamma=g,
        r=r,
        d=d,
        mean=mean,
        stddev=stddev,
        axis=axis,
        reduce_axes=reduce_axes,
    )
    return y, cache


def batch_renorm_backward(dout, cache):
    """Gradients of :func:`batch_renorm_forward`, with ``r`` and ``d`` held constant.

    As in the paper (and Keras's ``stop_gradient``), ``r`` and ``d`` are treated as constants:
    ``dx_hat = dout * gamma * r`` goes through batch normalization's backward pass (the gradient
    still flows through the batch mean and variance inside ``x_hat``),
    ``dgamma = sum(dout * (x_hat * r + d))`` and ``dbeta = sum(dout)``. Where ``r`` and ``d`` are
    clipped they really are constant in ``x``, and this is the exact gradient.

    Parameters
    ----------
    dout : array_like, same shape as the forward input. Not modified.
    cache : BatchRenormCache

    Returns
    -------
    dx : ndarray, same shape as the forward input
    dgamma, dbeta : ndarray, shape (C,)
    """
    if not isinstance(cache, BatchRenormCache):
        raise TypeError(
            "cache must be the BatchRenormCache returned by batch_renorm_forward, "
            f"got {type(cache).__name__}"
        )
    dout = as_float_array(dout, "dout")
    check_shape(dout, cache.x_hat.shape, "dout", "the shape of the forward input x")
    shape = cache.gamma.shape
    r, d = cache.r.reshape(shape), cache.d.reshape(shape)
    ra = cache.reduce_axes
    dx = _standardize_backward(dout * cache.gamma * r, cache.x_hat, cache.inv_std, ra)
    dgamma = np.sum(dout * (cache.x_hat * r + d), axis=ra)
    dbeta = np.sum(dout, axis=ra)
    return dx, dgamma, dbeta


def batch_renorm_update(moving_mean, moving_stddev, cache, momentum=0.99):
    """The moving statistics after one training step of batch renormalization.

    ``moving_mean = momentum * moving_mean + (1 - momentum) * mean`` and the same for
    ``moving_stddev`` with the batch ``stddev = sqrt(variance + epsilon)``: the paper's
    ``mu := mu + alpha (mu_B - mu)`` with ``alpha = 1 - momentum``. Note that the *standard
    deviation* is averaged, not the variance as in batch normalization. Keras keeps two such pairs:
    ``renorm_mean``/``renorm_stddev`` with ``renorm_momentum`` (used for ``r`` and ``d``) and
    ``moving_mean``/``moving_stddev`` with ``momentum`` (used at inference, where it normalizes
    with ``moving_variance = max(moving_stddev**2 - epsilon, 0)`` through
    :func:`bnlib.batch_norm_inference`). The paper has one pair.

    Parameters
    ----------
    moving_mean, moving_stddev : array_like, shape (C,)
        Not modified.
    cache : BatchRenormCache
        From the forward pass of this step.
    momentum : float in [0, 1]
        Keras's convention: the weight of the old value.

    Returns
    -------
    moving_mean, moving_stddev : ndarray, shape (C,)
        New arrays.
    """
    if not isinstance(cache, BatchRenormCache):
        raise TypeError(
            "cache must be the BatchRenormCache returned by batch_renorm_forward, "
            f"got {type(cache).__name__}"
        )
    momentum = check_unit_interval(momentum, "momentum")
    c = cache.mean.shape
    moving_mean = as_float_array(moving_mean, "moving_mean")
    check_shape(moving_mean, c, "moving_mean", "one value per feature")
    moving_stddev = as_float_array(moving_stddev, "moving_stddev")
    check_shape(moving_stddev, c, "moving_stddev", "one value per feature")
    new_mean = moving_mean * momentum + cache.mean * (1.0 - momentum)
    new_stddev = moving_stddev * momentum + cache.stddev * (1.0 - momentum)
    return new_mean.astype(moving_mean.dtype), new_stddev.astype(moving_stddev.dtype)


# ---------------------------------------------------------------------------------------------
# Weight normalization


@dataclass(frozen=True)
class WeightNormCache:
    """What :func:`weight_norm_forward` keeps for :func:`weight_norm_backward`.

    Attributes
    ----------
    v_hat : ndarray, shape (D_in, C)
        ``v / ||v||``, unit columns.
    norm : ndarray, shape (C,)
        ``||v||`` of each column.
    g : ndarray, shape (C,)
    """

    v_hat: np.ndarray
    norm: np.ndarray
    g: np.ndarray


def weight_norm_forward(v, g):
    """Weight normalization of a dense kernel: ``w = g * v / ||v||`` per output unit (chapter 7).

    Each column ``v[:, j]`` (the weights into output unit j) is divided by its Euclidean norm and
    scaled by ``g[j]``, so ``||w[:, j]|| = |g[j]|`` whatever the scale of ``v``
    (Salimans & Kingma 2016). It reparameterizes the *weights*; the activations are not touched
    and no statistic of the data is used.

    Parameters
    ----------
    v : array_like, shape (D_in, C)
        The direction parameters, as a Dense kernel. No column may be all zeros. Not modified.
    g : array_like, shape (C,)
        The length of each column of ``w``.

    Returns
    -------
    w : ndarray, shape (D_in, C)
    cache : WeightNormCache
    """
    v = as_float_array(v, "v")
    if v.ndim != 2:
        raise ValueError(f"v must be a dense kernel of shape (D_in, C), got shape {v.shape}")
    if v.size == 0:
        raise ValueError(f"v must not be empty, got shape {v.shape}")
    g = as_float_array(g, "g")
    check_shape(g, (v.shape[1],), "g", "one length per output unit: v.shape[1]")
    dtype = np.result_type(v.dtype, g.dtype)
    v = v.astype(dtype, copy=False)
    norm = np.sqrt(np.sum(np.square(v, dtype=np.float64), axis=0)).astype(dtype)
    if np.any(norm == 0):
        zero = np.flatnonzero(norm == 0).tolist()
        raise ValueError(
            f"v must have no all-zero column (its direction is undefined), got columns {zero}"
        )
    v_hat = v / norm
    g = g.astype(dtype, copy=False)
    return g * v_hat, WeightNormCache(v_hat=v_hat, norm=norm, g=g.copy())


def weight_norm_backward(dw, cache):
    """Gradients of :func:`weight_norm_forward`.

    ``dg = sum(dw * v_hat, axis=0)`` and ``dv = g / ||v|| * (dw - v_hat * dg)``: the gradient with
    respect to ``v`` is ``dw`` scaled by ``g / ||v||`` and projected away from ``v``, so it is
    orthogonal to ``v`` (Salimans & Kingma 2016, eq. 3-4).

    Parameters
    ----------
    dw : array_like, shape (D_in, C)
        The upstream gradient dL/dw. Not modified.
    cache : WeightNormCache

    Returns
    -------
    dv : ndarray, shape (D_in, C)
    dg : ndarray, shape (C,)
    """
    if not isinstance(cache, WeightNormCache):
        raise TypeError(
            f"cache must be the WeightNormCache returned by weight_norm_forward, got {type(cache).__name__}"
        )
    dw = as_float_array(dw, "dw")
    check_shape(dw, cache.v_hat.shape, "dw", "the shape of the kernel v")
    dg = np.sum(dw * cache.v_hat, axis=0)
    dv = (cache.g / cache.norm) * (dw - cache.v_hat * dg)
    return dv, dg
