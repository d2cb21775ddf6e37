"""Folding an inference-mode batch normalization into the linear layer before it.

At inference, batch normalization is a fixed affine map of each output channel,
``y = s * (z - moving_mean) + beta`` with ``s = gamma / sqrt(moving_variance + epsilon)``. When
``z = x @ kernel + bias`` (a ``Dense`` layer) or a convolution with ``kernel`` and ``bias``, the two
maps compose into one linear layer with a rescaled kernel and a shifted bias, so a deployed
network can drop its BN layers and compute the same outputs with fewer operations. Chapter 5 of
the course derives the algebra and measures the speed-up.
"""

from __future__ import annotations

import numpy as np

from ._checks import as_float_array, check_positive, check_shape

__all__ = ["fold_batch_norm"]


def _per_channel(value, name: str, channels: int, default: float | None = None) -> np.ndarray:
    if value is None:
        if default is None:
            raise TypeError(
                f"{name} must be an array of real numbers, shape ({channels},); got None "
                "(only bias, gamma and beta may be None)"
            )
        return np.full(channels, default, dtype=np.float64)
    arr = as_float_array(value, name)
    check_shape(arr, (channels,), name, "one value per output channel: kernel.shape[-1]")
    return arr


def fold_batch_norm(kernel, bias, gamma, beta, moving_mean, moving_variance, epsilon=1e-3):
    """Fold an inference-mode batch normalization into the Dense or Conv2D layer before it.

    For a layer ``z = x @ kernel + bias`` (or a convolution with ``kernel`` and ``bias``) followed
    by ``y = gamma * (z - moving_mean) / sqrt(moving_variance + epsilon) + beta``, returns
    ``kernel_folded`` and ``bias_folded`` such that the single layer
    ``y = x @ kernel_folded + bias_folded`` (or the same convolution) computes the same ``y``:

        s             = gamma / sqrt(moving_variance + epsilon)      # shape (C,)
        kernel_folded = kernel * s          (s applied along the last, output-channel axis)
        bias_folded   = (bias - moving_mean) * s + beta

    See chapter 5b of the course. This is exact only in inference mode: in training mode BN uses
    the statistics of each batch, which no fixed kernel can reproduce.

    Parameters
    ----------
    kernel : array_like, shape (D_in, C) or (kh, kw, C_in, C)
        The weights of a ``Dense`` layer or of a ``Conv2D`` layer in Keras's HWIO layout; the last
        axis holds the output channels that the BN normalizes (any kernel whose *last* axis is the
        output channel works, e.g. ``Conv1D`` or ``Conv3D``; ``Conv2DTranspose`` and
        ``DepthwiseConv2D`` kernels do not have that layout). Not modified.
    bias : array_like, shape (C,), or None
        The layer's bias; None for a layer built with ``use_bias=False`` (treated as zeros).
    gamma : array_like, shape (C,), or None
        The BN scale; None for ``scale=False`` (treated as ones).
    beta : array_like, shape (C,), or None
        The BN shift; None for ``center=False`` (treated as zeros).
    moving_mean : array_like, shape (C,)
    moving_variance : array_like, shape (C,), every value >= 0
    epsilon : float > 0
        The BN layer's epsilon (Keras's default 1e-3; PyTorch's is 1e-5).

    Returns
    -------
    kernel_folded : ndarray, same shape as kernel
    bias_folded : ndarray, shape (C,)
        New arrays in the common floating dtype of the inputs (float32 inputs give float32); the
        arithmetic is done in float64 and rounded once.

    Raises
    ------
    TypeError
        An argument is not an array of real numbers, or epsilon is not a real number.
    ValueError
        kernel has fewer than 2 dimensions; a per-channel argument does not have shape (C,);
        a value is NaN or infinite; moving_variance has a negative entry; epsilon <= 0.

    Examples
    --------
    >>> import numpy as np
    >>> kernel, bias = np.array([[1.0, 2.0], [3.0, 4.0]]), np.array([0.5, -0.5])
    >>> k, b = fold_batch_norm(kernel, bias, gamma=[2.0, 1.0], beta=[0.0, 1.0],
    ...                        moving_mean=[1.0, 0.0], moving_variance=[3.999, 0.999])
    >>> k
    array([[1., 2.],
           [3., 4.]])
    >>> b
    array([-0.5,  0.5])
    """
    kernel = as_float_array(kernel, "kernel")
    if kernel.ndim < 2:
        raise ValueError(
            "kernel must have at least 2 dimensions, (D_in, C) for Dense or (kh, kw, C_in, C) for "
            f"Conv2D, with the output channels last; got shape {kernel.shape}"
        )
    channels = kernel.shape[-1]
    epsilon = check_positive(epsilon, "epsilon")
    bias_arr = _per_channel(bias, "bias", channels, 0.0)
    gamma_arr = _per_channel(gamma, "gamma", channels, 1.0)
    beta_arr = _per_channel(beta, "beta", channels, 0.0)
    moving_mean = _per_channel(moving_mean, "moving_mean", channels)
    moving_variance = _per_channel(moving_variance, "moving_variance", channels)
    if np.any(moving_variance < 0):
        bad = int(np.count_nonzero(moving_variance < 0))
        raise ValueError(
            f"moving_variance must be non-negative (it is an average of variances), "
            f"got {bad} negative value(s)"
        )
    # The output dtype follows the arrays actually given (a default of None does not make float32
    # inputs float64).
    given = [kernel, moving_mean, moving_variance]
    given += [
        arr
        for arr, value in ((bias_arr, bias), (gamma_arr, gamma), (beta_arr, beta))
        if value is not None
    ]
    dtype = np.result_type(*given)

    scale = gamma_arr.astype(np.float64) / np.sqrt(moving_variance.astype(np.float64) + epsilon)
    kernel_folded = kernel.astype(np.float64) * scale  # broadcasts along the last axis
    bias_folded = (bias_arr.astype(np.float64) - moving_mean.astype(np.float64)) * scale + beta_arr
    return kernel_folded.astype(dtype), bias_folded.astype(dtype)
