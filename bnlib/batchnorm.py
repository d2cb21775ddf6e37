"""Batch normalization in numpy: the functional forward and backward passes and a layer.

Shapes follow Keras: the feature axis is ``axis`` (``-1`` by default) and statistics are taken over
every other axis, so ``(N, D)`` dense activations are normalized per feature over the batch and
``(N, H, W, C)`` images per channel over ``(N, H, W)``; ``(N, C, H, W)`` images need ``axis=1``.

The algorithm is Algorithm 1 of Ioffe & Szegedy (2015); chapter 3 of the course builds it up step
by step, chapter 4 derives the backward pass, and chapter 5 covers the moving averages used at
inference.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._checks import (
    as_float_array,
    check_axis,
    check_bool,
    check_integer,
    check_positive,
    check_shape,
    check_unit_interval,
)

__all__ = [
    "BatchNorm",
    "BatchNormCache",
    "batch_norm_backward",
    "batch_norm_forward",
    "batch_norm_inference",
    "batch_statistics",
]


@dataclass(frozen=True)
class BatchNormCache:
    """What :func:`batch_norm_forward` keeps for :func:`batch_norm_backward`.

    Attributes
    ----------
    x_hat : ndarray, same shape as the input
        The normalized input ``(x - mean) / sqrt(variance + epsilon)``.
    inv_std : ndarray, broadcastable to the input
        ``1 / sqrt(variance + epsilon)`` with singleton reduced axes.
    gamma : ndarray, broadcastable to the input
        The scale used in the forward pass.
    mean, variance : ndarray, shape (C,)
        The batch statistics; ``variance`` is the biased (divide-by-m) estimate.
    axis : int
        The feature axis, non-negative.
    reduce_axes : tuple of int
        The axes the statistics were taken over.
    count : int
        ``m``, the number of values each statistic was computed from.
    """

    x_hat: np.ndarray
    inv_std: np.ndarray
    gamma: np.ndarray
    mean: np.ndarray
    variance: np.ndarray
    axis: int
    reduce_axes: tuple
    count: int


def _reduce_axes(ndim: int, axis: int) -> tuple:
    return tuple(i for i in range(ndim) if i != axis)


def _broadcast_shape(ndim: int, axis: int, size: int) -> tuple:
    shape = [1] * ndim
    shape[axis] = size
    return tuple(shape)


def _per_feature(value, name: str, x: np.ndarray, axis: int) -> np.ndarray:
    arr = as_float_array(value, name)
    check_shape(arr, (x.shape[axis],), name, f"one value per feature: x.shape[{axis}]")
    return arr


def _moments(x: np.ndarray, reduce_axes: tuple) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature mean and biased variance with keepdims, numerically stable.

    Both passes accumulate in float64 (float32 sums over a large batch lose digits), and the
    variance uses the corrected two-pass formula mean(c**2) - mean(c)**2 with c = x - a, where a is
    the first-pass mean rounded to x's dtype (the value actually subtracted), so a large common
    offset (1e4 + unit noise in float32) does not cancel away the variance as the one-pass
    E[x**2] - E[x]**2 does. The mean returned is a + mean(c).
    """
    if x.size == 0:
        raise ValueError(
            "x must hold at least one value per feature (an empty batch has no statistics), "
            f"got shape {x.shape}"
        )
    mean = np.mean(x, axis=reduce_axes, dtype=np.float64, keepdims=True)
    anchor = mean.astype(x.dtype)  # the value actually subtracted: the mean rounded to x.dtype
    centered = x - anchor
    correction = np.mean(centered, axis=reduce_axes, dtype=np.float64, keepdims=True)
    var = np.mean(np.square(centered, dtype=np.float64), axis=reduce_axes, keepdims=True)
    var = np.maximum(var - correction**2, 0.0)
    return (anchor.astype(np.float64) + correction).astype(x.dtype), var.astype(x.dtype)


def batch_statistics(x, axis=-1):
    """Per-feature batch mean and biased variance, as batch normalization computes them.

    Parameters
    ----------
    x : array_like, shape (N, D), (N, H, W, C) or any shape with at least 2 axes
    axis : int
        The feature axis; statistics are taken over all the others.

    Returns
    -------
    mean, variance : ndarray, shape (x.shape[axis],)
        ``variance`` divides by ``m`` (the number of values per feature), as in Algorithm 1 of the
        paper and in Keras. Multiply by ``m / (m - 1)`` for the unbiased estimate.
    """
    x = as_float_array(x, "x", min_ndim=2)
    axis = check_axis(axis, x.ndim)
    mean, var = _moments(x, _reduce_axes(x.ndim, axis))
    return mean.reshape(-1), var.reshape(-1)


def batch_norm_forward(x, gamma, beta, epsilon=1e-3, axis=-1):
    """Training-mode batch normalization: normalize with the statistics of this batch.

    ``y = gamma * (x - mean) / sqrt(variance + epsilon) + beta``, with the mean and (biased)
    variance of each feature taken over every axis of ``x`` except ``axis``. See chapter 3.

    Parameters
    ----------
    x : array_like, shape (N, D), (N, H, W, C), or (N, C, H, W) with ``axis=1``
        A batch of activations. Not modified.
    gamma, beta : array_like, shape (C,) where C = x.shape[axis]
        The learnable scale and shift, one per feature.
    epsilon : float > 0
        Added to the variance before the square root (Keras's default, 1e-3).
    axis : int
        The feature axis.

    Returns
    -------
    y : ndarray, same shape as x
        In the common dtype of ``x``, ``gamma`` and ``beta`` (float32 stays float32).
    cache : BatchNormCache
        What :func:`batch_norm_backward` needs.
    """
    x = as_float_array(x, "x", min_ndim=2)
    axis = check_axis(axis, x.ndim)
    epsilon = check_positive(epsilon, "epsilon")
    gamma = _per_feature(gamma, "gamma", x, axis)
    beta = _per_feature(beta, "beta", x, axis)
    dtype = np.result_type(x.dtype, gamma.dtype, beta.dtype)
    x = x.astype(dtype, copy=False)

    reduce_axes = _reduce_axes(x.ndim, axis)
    shape = _broadcast_shape(x.ndim, axis, x.shape[axis])
    mean, var = _moments(x, reduce_axes)
    inv_std = (1.0 / np.sqrt(var + epsilon)).astype(dtype)
    x_hat = (x - mean) * inv_std
    g = gamma.astype(dtype).reshape(shape)
    y = g * x_hat + beta.astype(dtype).reshape(shape)
    count = x.size // x.shape[axis]
    cache = BatchNormCache(
        x_hat=x_hat,
        inv_std=inv_std,
        gamma=g,
        mean=mean.reshape(-1),
        variance=var.reshape(-1),
        axis=axis,
        reduce_axes=reduce_axes,
        count=count,
    )
    return y, cache


def batch_norm_backward(dout, cache):
    """Gradients of training-mode batch normalization (the compact formula, chapter 4).

    With ``dx_hat = dout * gamma`` and means taken over the reduced axes,
    ``dx = inv_std * (dx_hat - mean(dx_hat) - x_hat * mean(dx_hat * x_hat))``,
    ``dgamma = sum(dout * x_hat)`` and ``dbeta = sum(dout)``.

    Parameters
    ----------
    dout : array_like, same shape as the forward input
        The upstream gradient dL/dy. Not modified.
    cache : BatchNormCache
        The second value returned by :func:`batch_norm_forward`.

    Returns
    -------
    dx : ndarray, same shape as the forward input
    dgamma, dbeta : ndarray, shape (C,)
    """
    if not isinstance(cache, BatchNormCache):
        raise TypeError(
            "cache must be the BatchNormCache returned by batch_norm_forward, "
            f"got {type(cache).__name__}"
        )
    dout = as_float_array(dout, "dout")
    check_shape(dout, cache.x_hat.shape, "dout", "the shape of the forward input x")
    ra = cache.reduce_axes
    x_hat = cache.x_hat
    dx_hat = dout * cache.gamma
    dx = cache.inv_std * (
        dx_hat
        - np.mean(dx_hat, axis=ra, keepdims=True)
        - x_hat * np.mean(dx_hat * x_hat, axis=ra, keepdims=True)
    )
    dgamma = np.sum(dout * x_hat, axis=ra)
    dbeta = np.sum(dout, axis=ra)
    return dx, dgamma, dbeta


def batch_norm_inference(x, moving_mean, moving_variance, gamma, beta, epsilon=1e-3, axis=-1):
    """Inference-mode batch normalization: normalize with fixed (population) statistics.

    ``y = gamma * (x - moving_mean) / sqrt(moving_variance + epsilon) + beta`` — an affine map of
    each feature that does not depend on the rest of the batch (chapter 5).

    Parameters
    ----------
    x : array_like, shape (N, D), (N, H, W, C), or (N, C, H, W) with ``axis=1``
    moving_mean, moving_variance, gamma, beta : array_like, shape (C,)
    epsilon : float > 0
    axis : int

    Returns
    -------
    y : ndarray, same shape as x
    """
    x = as_float_array(x, "x", min_ndim=2)
    axis = check_axis(axis, x.ndim)
    epsilon = check_positive(epsilon, "epsilon")
    moving_mean = _per_feature(moving_mean, "moving_mean", x, axis)
    moving_variance = _per_feature(moving_variance, "moving_variance", x, axis)
    if np.any(moving_variance < 0):
        raise ValueError("moving_variance must be non-negative")
    gamma = _per_feature(gamma, "gamma", x, axis)
    beta = _per_feature(beta, "beta", x, axis)
    dtype = np.result_type(
        x.dtype, moving_mean.dtype, moving_variance.dtype, gamma.dtype, beta.dtype
    )
    shape = _broadcast_shape(x.ndim, axis, x.shape[axis])
    scale = (gamma / np.sqrt(moving_variance + epsilon)).astype(dtype).reshape(shape)
    return (
        x.astype(dtype, copy=False) - moving_mean.astype(dtype).reshape(shape)
    ) * scale + beta.astype(dtype).reshape(shape)


class BatchNorm:
    """A batch normalization layer with learnable ``gamma``/``beta`` and moving statistics.

    It behaves like ``keras.layers.BatchNormalization`` with the same defaults: in training mode it
    normalizes with the batch's statistics and updates

        moving_mean     = momentum * moving_mean     + (1 - momentum) * batch_mean
        moving_variance = momentum * moving_variance + (1 - momentum) * batch_variance

    and in inference mode it normalizes with the moving statistics (chapter 5).

    Parameters
    ----------
    axis : int
        The feature axis (``-1`` for ``(N, D)`` and ``(N, H, W, C)``, ``1`` for ``(N, C, H, W)``).
    momentum : float in [0, 1]
        Keras's convention: the weight of the *old* moving value. PyTorch's ``momentum`` is the
        weight of the new batch value, i.e. ``1 - momentum`` here.
    epsilon : float > 0
    center, scale : bool
        Whether the layer has a learnable ``beta`` / ``gamma``. When False the attribute is None
        and the layer uses 0 / 1.
    unbiased_moving_variance : bool
        False (Keras): the moving variance averages the biased batch variance (divide by m).
        True (the paper's Algorithm 2, PyTorch's ``running_var``): it averages
        ``m / (m - 1)`` times the batch variance. Training-mode outputs are the same either way.

    Attributes
    ----------
    gamma, beta, moving_mean, moving_variance : ndarray, shape (C,), or None before the first call
        Created on the first call (or by :meth:`build`) in the input's float dtype, initialised as
        Keras does: ones, zeros, zeros, ones.
    dgamma, dbeta : ndarray, shape (C,), or None
        Gradients from the most recent :meth:`backward`.
    """

    def __init__(
        self,
        axis=-1,
        momentum=0.99,
        epsilon=1e-3,
        center=True,
        scale=True,
        unbiased_moving_variance=False,
    ):
        # The range of axis is checked against each input, whose rank is not known yet.
        self.axis = check_integer(axis, "axis")
        self.momentum = check_unit_interval(momentum, "momentum")
        self.epsilon = check_positive(epsilon, "epsilon")
        self.center = check_bool(center, "center")
        self.scale = check_bool(scale, "scale")
        self.unbiased_moving_variance = check_bool(
            unbiased_moving_variance, "unbiased_moving_variance"
        )
        self.gamma = None
        self.beta = None
        self.moving_mean = None
        self.moving_variance = None
        self.dgamma = None
        self.dbeta = None
        self._cache = None
        self._num_features = None

    def __repr__(self):
        return (
            f"BatchNorm(axis={self.axis}, momentum={self.momentum}, epsilon={self.epsilon}, "
            f"center={self.center}, scale={self.scale}, "
            f"unbiased_moving_variance={self.unbiased_moving_variance})"
        )

    @property
    def built(self) -> bool:
        return self._num_features is not None

    def build(self, input_shape, dtype=np.float32):
        """Create the parameters and moving statistics for inputs of ``input_shape``."""
        input_shape = tuple(int(n) for n in input_shape)
        if len(input_shape) < 2:
            raise ValueError(
                f"input_shape must have at least 2 dimensions (batch and features), got {input_shape}"
            )
        axis = check_axis(self.axis, len(input_shape))
        dtype = np.dtype(dtype)
        if not np.issubdtype(dtype, np.floating):
            raise TypeError(f"dtype must be a floating-point dtype, got {dtype}")
        n = input_shape[axis]
        self._num_features = n
        self.gamma = np.ones(n, dtype) if self.scale else None
        self.beta = np.zeros(n, dtype) if self.center else None
        self.moving_mean = np.zeros(n, dtype)
        self.moving_variance = np.ones(n, dtype)
        return self

    def _affine(self, n, dtype):
        gamma = self.gamma if self.scale else np.ones(n, dtype)
        beta = self.beta if self.center else np.zeros(n, dtype)
        return gamma, beta

    def __call__(self, x, training=False):
        """Normalize ``x``; ``training=True`` uses and records batch statistics.

        Parameters
        ----------
        x : array_like, at least 2 dimensions, ``x.shape[axis] == C``. Not modified.
        training : bool
            True: batch statistics, moving statistics updated, cache kept for :meth:`backward`.
            False (the default, as when a Keras layer is called directly): moving statistics.

        Returns
        -------
        y : ndarray, same shape as x
        """
        training = check_bool(training, "training")
        x = as_float_array(x, "x", min_ndim=2)
        axis = check_axis(self.axis, x.ndim)
        if not self.built:
            self.build(x.shape, x.dtype)
        if x.shape[axis] != self._num_features:
            raise ValueError(
                f"x must have {self._num_features} features on axis {self.axis} "
                f"(the layer was built for them), got shape {x.shape}"
            )
        gamma, beta = self._affine(self._num_features, x.dtype)
        if not training:
            self._cache = None
            return batch_norm_inference(
                x, self.moving_mean, self.moving_variance, gamma, beta, self.epsilon, axis
            )

        y, cache = batch_norm_forward(x, gamma, beta, self.epsilon, axis)
        m = cache.count
        variance = cache.variance
        if self.unbiased_moving_variance:
            if m < 2:
                raise ValueError(
                    "x must hold at least 2 values per feature when unbiased_moving_variance=True "
                    f"(the factor m/(m-1) needs m >= 2), got m={m} for shape {x.shape}"
                )
            variance = variance * (m / (m - 1))
        mom = self.momentum
        dtype = self.moving_mean.dtype
        # New arrays, never in-place updates: a caller holding the old values keeps them.
        self.moving_mean = (self.moving_mean * mom + cache.mean * (1.0 - mom)).astype(dtype)
        self.moving_variance = (self.moving_variance * mom + variance * (1.0 - mom)).astype(dtype)
        self._cache = cache
        return y

    def backward(self, dout):
        """Backpropagate through the most recent training-mode call.

        Parameters
        ----------
        dout : array_like, same shape as that call's input

        Returns
        -------
        dx : ndarray, same shape as dout
            Also sets :attr:`dgamma` and :attr:`dbeta` (None for a missing parameter).
        """
        if self._cache is None:
            raise RuntimeError(
                "backward() needs the cache of a preceding call with training=True; "
                + (
                    "the most recent call used training=False"
                    if self.built
                    else "the layer has not been called yet"
                )
            )
        dx, dgamma, dbeta = batch_norm_backward(dout, self._cache)
        self.dgamma = dgamma if self.scale else None
        self.dbeta = dbeta if self.center else None
        return dx
