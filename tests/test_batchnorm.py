"""Batch normalization in bnlib: forward statistics, backward gradients, numerics and the layer.

Float64 tests use tolerances near float64 rounding (1e-12 relative for quantities computed two
ways); gradient checks compare with centred differences against a random upstream gradient.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest

import bnlib
from bnlib import (
    BatchNorm,
    BatchNormCache,
    batch_norm_backward,
    batch_norm_forward,
    batch_norm_inference,
    batch_statistics,
    numerical_gradient,
    rel_error,
)

EPS = 1e-3  # bnlib's (and Keras's) default epsilon
F32_EPS = float(np.finfo(np.float32).eps)  # 2**-23 ~ 1.19e-7
# Centred differences with h=1e-5 in float64 agree with the analytic gradients of these small
# layouts to a relative error of at most 2.9e-10 (dx) and 7e-11 (dgamma, dbeta), measured over 30
# seeds and the 3 layouts; 1e-8 leaves a margin of ~35x and is 10x stricter than the usual 1e-7.
# A wrong formula gives errors of order 1e-2 .. 1.
GRAD_TOL = 1e-8


def reference_forward(x, gamma, beta, epsilon, layout):
    """Batch normalization written out directly in float64 with numpy's own mean and var."""
    x = np.asarray(x, np.float64)
    mean = x.mean(axis=layout.reduce_axes, keepdims=True)
    var = x.var(axis=layout.reduce_axes, keepdims=True)
    x_hat = (x - mean) / np.sqrt(var + epsilon)
    return layout.per_feature(gamma) * x_hat + layout.per_feature(beta)


def random_affine(rng, layout):
    gamma = rng.uniform(0.5, 2.0, layout.features) * rng.choice([-1.0, 1.0], layout.features)
    beta = rng.normal(size=layout.features)
    return gamma, beta


# ---------------------------------------------------------------------------------------------
# Forward pass


def test_batch_statistics_equal_numpy_mean_and_var(layout, rng):
    x = layout.sample(rng)
    mean, var = batch_statistics(x, axis=layout.axis)
    assert mean.shape == var.shape == (layout.features,)
    np.testing.assert_allclose(mean, x.mean(axis=layout.reduce_axes), rtol=1e-12, atol=1e-13)
    # The biased (divide-by-m) variance, as in the paper's Algorithm 1 and in Keras.
    np.testing.assert_allclose(var, x.var(axis=layout.reduce_axes), rtol=1e-12)


def test_forward_normalizes_each_feature_to_mean_0_variance_1(layout, rng):
    x = layout.sample(rng)
    ones, zeros = np.ones(layout.features), np.zeros(layout.features)
    y, _ = batch_norm_forward(x, ones, zeros, epsilon=EPS, axis=layout.axis)
    assert y.shape == x.shape and y.dtype == np.float64
    var = x.var(axis=layout.reduce_axes)
    np.testing.assert_allclose(y.mean(axis=layout.reduce_axes), 0.0, atol=1e-14)
    # Not exactly 1: x_hat = (x - mean) / sqrt(var + epsilon) has variance var / (var + epsilon).
    np.testing.assert_allclose(y.var(axis=layout.reduce_axes), var / (var + EPS), rtol=1e-12)


def test_forward_variance_is_one_for_tiny_epsilon(layout, rng):
    # With epsilon = 1e-12 the factor var / (var + epsilon) is 1 to within ~1e-12 for these data
    # (var >= 0.1), so the plain "variance 1" statement can be asserted directly.
    x = layout.sample(rng)
    ones, zeros = np.ones(layout.features), np.zeros(layout.features)
    y, _ = batch_norm_forward(x, ones, zeros, epsilon=1e-12, axis=layout.axis)
    np.testing.assert_allclose(y.var(axis=layout.reduce_axes), 1.0, rtol=1e-10)


def test_forward_applies_gamma_and_beta(layout, rng):
    x = layout.sample(rng)
    gamma, beta = random_affine(rng, layout)  # gamma has both signs
    y, _ = batch_norm_forward(x, gamma, beta, epsilon=EPS, axis=layout.axis)
    var = x.var(axis=layout.reduce_axes)
    np.testing.assert_allclose(y.mean(axis=layout.reduce_axes), beta, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(
        y.std(axis=layout.reduce_axes), np.abs(gamma) * np.sqrt(var / (var + EPS)), rtol=1e-12
    )
    # Element by element, against the formula written out directly.
    expected = reference_forward(x, gamma, beta, EPS, layout)
    np.testing.assert_allclose(y, expected, rtol=1e-12, atol=1e-14)


def test_forward_cache_holds_what_backward_needs(layout, rng):
    x = layout.sample(rng)
    gamma, beta = random_affine(rng, layout)
    _, cache = batch_norm_forward(x, gamma, beta, epsilon=EPS, axis=layout.axis)
    assert isinstance(cache, BatchNormCache)
    assert cache.axis == layout.axis % layout.ndim  # non-negative
    assert cache.reduce_axes == layout.reduce_axes
    assert cache.count == layout.count
    np.testing.assert_allclose(cache.mean, x.mean(axis=layout.reduce_axes), rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(cache.variance, x.var(axis=layout.reduce_axes), rtol=1e-12)
    ones, zeros = np.ones(layout.features), np.zeros(layout.features)
    expected_x_hat = reference_forward(x, ones, zeros, EPS, layout)
    np.testing.assert_allclose(cache.x_hat, expected_x_hat, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize(
    ("x_dtype", "param_dtype", "out_dtype"),
    [
        (np.float32, np.float32, np.float32),
        (np.float64, np.float64, np.float64),
        (np.float32, np.float64, np.float64),  # the common dtype of x, gamma and beta
        (np.int64, np.float32, np.float64),  # integers become float64
        (np.uint8, np.float32, np.float64),
    ],
)
def test_forward_output_dtype(x_dtype, param_dtype, out_dtype, rng):
    x = rng.integers(0, 200, size=(8, 3)).astype(x_dtype)
    y, cache = batch_norm_forward(x, np.ones(3, param_dtype), np.zeros(3, param_dtype))
    assert y.dtype == out_dtype
    assert cache.x_hat.dtype == out_dtype


def test_inference_formula(layout, rng):
    x = layout.sample(rng)
    gamma, beta = random_affine(rng, layout)
    moving_mean = rng.normal(size=layout.features)
    moving_variance = rng.uniform(0.1, 4.0, layout.features)
    y = batch_norm_inference(x, moving_mean, moving_variance, gamma, beta, EPS, layout.axis)
    p = layout.per_feature
    expected = p(gamma) * (x - p(moving_mean)) / np.sqrt(p(moving_variance) + EPS) + p(beta)
    np.testing.assert_allclose(y, expected, rtol=1e-12, atol=1e-14)
    # Inference is a per-sample affine map: a sample's output does not depend on its batch.
    y_first = batch_norm_inference(
        x[:1], moving_mean, moving_variance, gamma, beta, EPS, layout.axis
    )
    np.testing.assert_array_equal(y_first, y[:1])


def test_inference_with_the_batch_statistics_reproduces_training_mode(layout, rng):
    x = layout.sample(rng)
    gamma, beta = random_affine(rng, layout)
    y_train, cache = batch_norm_forward(x, gamma, beta, epsilon=EPS, axis=layout.axis)
    y_infer = batch_norm_inference(x, cache.mean, cache.variance, gamma, beta, EPS, layout.axis)
    np.testing.assert_allclose(y_infer, y_train, rtol=1e-12, atol=1e-13)


# ---------------------------------------------------------------------------------------------
# Backward pass, against centred differences in float64


def test_backward_matches_numerical_gradients(layout, rng):
    x = layout.sample(rng)
    gamma, beta = random_affine(rng, layout)
    dout = rng.standard_normal(layout.shape)  # random: see the all-ones test below
    axis = layout.axis

    _, cache = batch_norm_forward(x, gamma, beta, EPS, axis)
    dx, dgamma, dbeta = batch_norm_backward(dout, cache)
    assert dx.shape == x.shape and dgamma.shape == dbeta.shape == (layout.features,)

    num_dx = numerical_gradient(lambda v: batch_norm_forward(v, gamma, beta, EPS, axis)[0], x, dout)
    num_dgamma = numerical_gradient(
        lambda g: batch_norm_forward(x, g, beta, EPS, axis)[0], gamma, dout
    )
    num_dbeta = numerical_gradient(
        lambda b: batch_norm_forward(x, gamma, b, EPS, axis)[0], beta, dout
    )
    assert rel_error(dx, num_dx) < GRAD_TOL
    assert rel_error(dgamma, num_dgamma) < GRAD_TOL
    assert rel_error(dbeta, num_dbeta) < GRAD_TOL


def test_layer_backward_matches_numerical_gradients(layout, rng):
    x = layout.sample(rng)
    dout = rng.standard_normal(layout.shape)
    layer = BatchNorm(axis=layout.axis).build(layout.shape, np.float64)
    layer.gamma, layer.beta = random_affine(rng, layout)

    def train_output(v, gamma=None, beta=None):
        # A copy of the layer per evaluation: a training call updates the moving statistics, and
        # the function differentiated must not change between evaluations.
        clone = copy.deepcopy(layer)
        if gamma is not None:
            clone.gamma = gamma
        if beta is not None:
            clone.beta = beta
        return clone(v, training=True)

    layer(x, training=True)
    dx = layer.backward(dout)
    assert rel_error(dx, numerical_gradient(train_output, x, dout)) < GRAD_TOL
    num_dgamma = numerical_gradient(lambda g: train_output(x, gamma=g), layer.gamma, dout)
    num_dbeta = numerical_gradient(lambda b: train_output(x, beta=b), layer.beta, dout)
    assert rel_error(layer.dgamma, num_dgamma) < GRAD_TOL
    assert rel_error(layer.dbeta, num_dbeta) < GRAD_TOL


def test_backward_uses_the_most_recent_training_call(rng):
    lay = bnlib.BatchNorm()
    x1, x2 = rng.normal(size=(2, 6, 3))
    dout = rng.normal(size=(6, 3))
    lay(x1, training=True)
    lay(x2, training=True)
    dx = lay.backward(dout)
    _, cache = batch_norm_forward(x2, lay.gamma, lay.beta, lay.epsilon)
    np.testing.assert_array_equal(dx, batch_norm_backward(dout, cache)[0])


def test_all_ones_upstream_gradient_hides_a_wrong_backward_pass(layout, rng):
    """Why gradient checks need a random dout.

    The output of each feature sums to m * beta whatever x is, so with dout = ones the true dx is
    zero. A backward pass that forgets the term through the variance,
    dx = inv_std * (dx_hat - mean(dx_hat)), is also zero for a constant dout, so it agrees with
    the numerical gradient; a random dout exposes it.
    """
    x = layout.sample(rng)
    gamma, beta = random_affine(rng, layout)
    axis, ra = layout.axis, layout.reduce_axes

    def forward(v):
        return batch_norm_forward(v, gamma, beta, EPS, axis)[0]

    def wrong_dx(dout, cache):
        dx_hat = dout * cache.gamma
        return cache.inv_std * (dx_hat - dx_hat.mean(axis=ra, keepdims=True))

    _, cache = batch_norm_forward(x, gamma, beta, EPS, axis)
    ones = np.ones(layout.shape)
    num_dx = numerical_gradient(forward, x, ones)
    # Zero up to rounding noise (~ float64 eps * sum|y| / h): measured max |numerical dx| <= 1e-8
    # over 30 seeds, against gradients of order 1 for a random dout.
    assert np.max(np.abs(num_dx)) < 5e-8
    assert np.max(np.abs(batch_norm_backward(ones, cache)[0])) < 1e-13
    assert np.max(np.abs(wrong_dx(ones, cache))) < 1e-13  # the wrong formula "passes"

    dout = rng.standard_normal(layout.shape)
    num_dx = numerical_gradient(forward, x, dout)
    assert rel_error(batch_norm_backward(dout, cache)[0], num_dx) < GRAD_TOL
    assert rel_error(wrong_dx(dout, cache), num_dx) > 1e-2  # and is caught


# ---------------------------------------------------------------------------------------------
# Numerically stable statistics in float32


def _large_offset_batch():
    rng = np.random.default_rng(7)
    return (1e4 + rng.standard_normal((4096, 8))).astype(np.float32)


def test_float32_large_offset_comes_out_with_unit_variance():
    x = _large_offset_batch()
    y, _ = batch_norm_forward(x, np.ones(8, np.float32), np.zeros(8, np.float32), epsilon=EPS)
    assert y.dtype == np.float32
    x64 = x.astype(np.float64)
    var = x64.var(axis=0)  # the exact statistics of the float32 data, computed in float64
    # Measured |var(y) / (var / (var + eps)) - 1| <= 1.8e-7 over 5 seeds: the float32 mean is off
    # by at most half an ulp of 1e4 (4.9e-4), which adds <= 2.4e-7 to the variance, plus rounding.
    # 4 float32 epsilons (4.8e-7) is as tight as float32 allows.
    np.testing.assert_allclose(
        y.astype(np.float64).var(axis=0), var / (var + EPS), rtol=4 * F32_EPS
    )
    # The mean of y is that half ulp of 1e4 (2**-11 ~ 4.9e-4) times 1 / std, no more.
    half_ulp = float(np.spacing(np.float32(1e4))) / 2
    inv_std = 1 / np.sqrt(var + EPS)
    assert np.all(np.abs(y.astype(np.float64).mean(axis=0)) <= half_ulp * inv_std * (1 + 1e-3))


def test_float32_batch_statistics_are_correctly_rounded():
    # The mean is the exact mean of the float32 data rounded to float32 (within half an ulp),
    # and the variance is within a few float32 epsilons of the exact variance.
    x = _large_offset_batch()
    mean, var = batch_statistics(x)
    assert mean.dtype == var.dtype == np.float32
    x64 = x.astype(np.float64)
    exact_mean = x64.mean(axis=0)
    assert np.all(np.abs(mean - exact_mean) <= np.spacing(mean) / 2)
    # measured <= 5.7e-8 relative
    np.testing.assert_allclose(var, x64.var(axis=0), rtol=2 * F32_EPS)


def test_naive_one_pass_variance_fails_in_float32():
    # E[x**2] - E[x]**2 in float32 subtracts two numbers near 1e8 whose float32 spacing is 8:
    # the unit variance drowns (it even comes out negative), which is why bnlib does not use it.
    x = _large_offset_batch()
    mean = x.mean(axis=0, dtype=np.float32)
    naive = (x * x).mean(axis=0, dtype=np.float32) - mean * mean
    true_var = x.astype(np.float64).var(axis=0)
    assert np.max(np.abs(naive / true_var - 1)) > 10  # off by orders of magnitude
    _, var = batch_statistics(x)
    np.testing.assert_allclose(var, true_var, rtol=2 * F32_EPS)


# ---------------------------------------------------------------------------------------------
# The BatchNorm layer


def test_layer_defaults_match_keras():
    layer = BatchNorm()
    assert layer.axis == -1
    assert layer.momentum == 0.99
    assert layer.epsilon == 1e-3
    assert layer.center is True
    assert layer.scale is True
    assert layer.unbiased_moving_variance is False
    assert not layer.built
    assert layer.gamma is None and layer.beta is None
    assert layer.moving_mean is None and layer.moving_variance is None


@pytest.mark.parametrize(
    ("x_dtype", "param_dtype"),
    [(np.float32, np.float32), (np.float64, np.float64), (np.int32, np.float64)],
)
def test_layer_builds_lazily_like_keras(layout, rng, x_dtype, param_dtype):
    layer = BatchNorm(axis=layout.axis)
    x = layout.sample(rng).astype(x_dtype)
    layer(x)
    assert layer.built
    c = layout.features
    for name, value in [("gamma", 1), ("beta", 0), ("moving_mean", 0), ("moving_variance", 1)]:
        arr = getattr(layer, name)
        assert arr.dtype == param_dtype, name
        np.testing.assert_array_equal(arr, np.full(c, value, param_dtype), err_msg=name)


@pytest.mark.parametrize("momentum", [0.99, 0.9, 0.5, 0.0, 1.0])
def test_training_call_updates_moving_statistics(layout, rng, momentum):
    layer = BatchNorm(axis=layout.axis, momentum=momentum)
    expected_mean = np.zeros(layout.features)
    expected_var = np.ones(layout.features)
    for _ in range(4):
        x = layout.sample(rng)
        layer(x, training=True)
        expected_mean = momentum * expected_mean + (1 - momentum) * x.mean(axis=layout.reduce_axes)
        expected_var = momentum * expected_var + (1 - momentum) * x.var(axis=layout.reduce_axes)
        np.testing.assert_allclose(layer.moving_mean, expected_mean, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(layer.moving_variance, expected_var, rtol=1e-12)


def test_inference_call_leaves_moving_statistics_alone(layout, rng):
    layer = BatchNorm(axis=layout.axis)
    layer(layout.sample(rng), training=True)
    mean, var = layer.moving_mean.copy(), layer.moving_variance.copy()
    layer(layout.sample(rng), training=False)
    layer(layout.sample(rng))  # training=False is the default
    np.testing.assert_array_equal(layer.moving_mean, mean)
    np.testing.assert_array_equal(layer.moving_variance, var)


@pytest.mark.parametrize("momentum", [0.99, 0.5])
def test_unbiased_moving_variance_uses_m_over_m_minus_1(layout, rng, momentum):
    m = layout.count  # N for (N, D); N*H*W for NHWC and NCHW
    biased = BatchNorm(axis=layout.axis, momentum=momentum)
    unbiased = BatchNorm(axis=layout.axis, momentum=momentum, unbiased_moving_variance=True)
    expected = np.ones(layout.features)
    for _ in range(3):
        x = layout.sample(rng)
        y_biased = biased(x, training=True)
        y_unbiased = unbiased(x, training=True)
        # Training-mode outputs use the biased batch variance either way.
        np.testing.assert_array_equal(y_unbiased, y_biased)
        np.testing.assert_array_equal(unbiased.moving_mean, biased.moving_mean)
        batch_var = x.var(axis=layout.reduce_axes)
        unbiased_var = x.var(axis=layout.reduce_axes, ddof=1)
        np.testing.assert_allclose(batch_var * m / (m - 1), unbiased_var, rtol=1e-12)
        expected = momentum * expected + (1 - momentum) * batch_var * m / (m - 1)
        np.testing.assert_allclose(unbiased.moving_variance, expected, rtol=1e-12)
    assert not np.allclose(unbiased.moving_variance, biased.moving_variance, rtol=1e-6)


def test_inference_uses_moving_statistics(layout, rng):
    layer = BatchNorm(axis=layout.axis, momentum=0.8)
    for _ in range(3):
        layer(layout.sample(rng), training=True)
    layer.gamma, layer.beta = random_affine(rng, layout)
    x = layout.sample(rng)
    y = layer(x, training=False)
    expected = batch_norm_inference(
        x,
        layer.moving_mean,
        layer.moving_variance,
        layer.gamma,
        layer.beta,
        layer.epsilon,
        layout.axis,
    )
    np.testing.assert_array_equal(y, expected)
    # ... and not the batch's own statistics, which training mode uses.
    y_batch_stats, _ = batch_norm_forward(x, layer.gamma, layer.beta, EPS, layout.axis)
    assert not np.allclose(y, y_batch_stats, atol=1e-3)
    np.testing.assert_array_equal(layer(x, training=True), y_batch_stats)


@pytest.mark.parametrize(("center", "scale"), [(False, True), (True, False), (False, False)])
def test_layer_without_center_or_scale(layout, rng, center, scale):
    layer = BatchNorm(axis=layout.axis, center=center, scale=scale)
    x = layout.sample(rng)
    dout = rng.standard_normal(layout.shape)
    layer(x)  # builds the layer
    assert (layer.beta is None) == (not center)
    assert (layer.gamma is None) == (not scale)
    c = layout.features
    gamma, beta = np.ones(c), np.zeros(c)  # what a missing parameter stands for
    if scale:
        layer.gamma = gamma = rng.uniform(0.5, 2.0, c)
    if center:
        layer.beta = beta = rng.normal(size=c)
    y = layer(x, training=True)
    y_ref, cache = batch_norm_forward(x, gamma, beta, EPS, layout.axis)
    np.testing.assert_array_equal(y, y_ref)
    dx = layer.backward(dout)
    ref_dx, ref_dgamma, ref_dbeta = batch_norm_backward(dout, cache)
    np.testing.assert_array_equal(dx, ref_dx)
    if scale:
        np.testing.assert_array_equal(layer.dgamma, ref_dgamma)
    else:
        assert layer.dgamma is None
    if center:
        np.testing.assert_array_equal(layer.dbeta, ref_dbeta)
    else:
        assert layer.dbeta is None
    y_inf = layer(x, training=False)  # inference also works without the missing parameter
    mean, var = layer.moving_mean, layer.moving_variance
    np.testing.assert_array_equal(
        y_inf, batch_norm_inference(x, mean, var, gamma, beta, EPS, layout.axis)
    )


def test_layer_replaces_moving_arrays_and_never_touches_its_input(layout, rng, unchanged):
    layer = BatchNorm(axis=layout.axis, momentum=0.5)
    x = layout.sample(rng)
    dout = rng.standard_normal(layout.shape)
    layer(x, training=True)
    old_mean, old_var = layer.moving_mean, layer.moving_variance
    old_gamma, old_beta = layer.gamma, layer.beta
    with unchanged(x, dout, old_mean, old_var, old_gamma, old_beta, readonly=True):
        layer(x, training=True)
        layer.backward(dout)
        layer(x, training=False)
    with unchanged(x, dout, old_mean, old_var):
        layer(x, training=True)
        layer.backward(dout)
    # New arrays, not in-place updates: a reference to the old ones still sees the old values.
    assert layer.moving_mean is not old_mean and layer.moving_variance is not old_var
    assert not np.shares_memory(layer.moving_mean, old_mean)
    assert not np.allclose(layer.moving_mean, old_mean)


# ---------------------------------------------------------------------------------------------
# No function modifies its arguments


def test_functions_do_not_modify_their_arguments(layout, rng, unchanged):
    x = layout.sample(rng)
    gamma, beta = random_affine(rng, layout)
    dout = rng.standard_normal(layout.shape)
    moving_mean = rng.normal(size=layout.features)
    moving_variance = rng.uniform(0.5, 2, layout.features)
    arrays = (x, gamma, beta, dout, moving_mean, moving_variance)
    for readonly in (False, True):
        with unchanged(*arrays, readonly=readonly):
            _, cache = batch_norm_forward(x, gamma, beta, EPS, layout.axis)
            batch_norm_backward(dout, cache)
            batch_norm_inference(x, moving_mean, moving_variance, gamma, beta, EPS, layout.axis)
            batch_statistics(x, layout.axis)


def test_backward_does_not_modify_the_cache(layout, rng):
    x = layout.sample(rng)
    gamma, beta = random_affine(rng, layout)
    _, cache = batch_norm_forward(x, gamma, beta, EPS, layout.axis)
    saved = copy.deepcopy(cache)
    dout = rng.standard_normal(layout.shape)
    first = batch_norm_backward(dout, cache)
    second = batch_norm_backward(dout, cache)  # the same cache gives the same gradients again
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)
    for field in ("x_hat", "inv_std", "gamma", "mean", "variance"):
        np.testing.assert_array_equal(getattr(cache, field), getattr(saved, field))


def test_float32_variance_keeps_the_two_pass_correction_at_a_1e6_offset():
    # Values on the float32 grid near 1e6 (spacing 2**-4 = 0.0625): x = 1e6 + 0.0625 * k with k
    # 400 ones and 600 zeros per feature (shuffled), so the exact mean is 1e6 + 0.025. That rounds
    # to the float32 anchor 1e6, the centred data have mean c = 0.025, and the two-pass formula
    # needs its correction: dropping "- c**2" adds c**2 = 6.25e-4 to a variance of 9.375e-4.
    # With the correction the variance is computed in float64 from exactly representable centred
    # values, so the only error is the final rounding to float32 (half an ulp, 2**-24 relative);
    # rtol = 2 float32 epsilons allows that 4 times over and is 1e5 times smaller than the mutant's.
    rng = np.random.default_rng(20250101)
    k = np.stack([rng.permutation(np.repeat([1.0, 0.0], [400, 600])) for _ in range(3)], axis=1)
    x = (np.float64(1e6) + 0.0625 * k).astype(np.float32)
    assert np.array_equal(x.astype(np.float64), 1e6 + 0.0625 * k)  # on the float32 grid
    mean, var = batch_statistics(x)
    exact_var = (0.0625 * k).var(axis=0)  # the shift by 1e6 does not change the variance
    np.testing.assert_allclose(var, exact_var, rtol=2 * F32_EPS)
    assert np.all(mean == np.float32(1e6 + 0.025))


@pytest.mark.parametrize("epsilon", [1e-5, 1e-1])
def test_forward_inference_and_layer_use_the_given_epsilon(epsilon, rng):
    # A direct formula written here, not bnlib's own helpers; variances of about 0.1 make
    # epsilon = 1e-5 and 1e-1 change the output by far more than rtol 1e-10 from epsilon = 1e-3.
    x = 0.3 * rng.standard_normal((16, 4)) + 2.0
    gamma, beta = rng.uniform(0.5, 1.5, 4), rng.standard_normal(4)
    mean, var = x.mean(axis=0), x.var(axis=0)
    expected = gamma * (x - mean) / np.sqrt(var + epsilon) + beta
    y, _ = batch_norm_forward(x, gamma, beta, epsilon=epsilon)
    np.testing.assert_allclose(y, expected, rtol=1e-10, atol=1e-12)
    mm, mv = rng.standard_normal(4), rng.uniform(0.05, 0.2, 4)
    y_inf = batch_norm_inference(x, mm, mv, gamma, beta, epsilon=epsilon)
    np.testing.assert_allclose(y_inf, gamma * (x - mm) / np.sqrt(mv + epsilon) + beta, rtol=1e-10)

    layer = BatchNorm(epsilon=epsilon)
    y_layer = layer(x, training=True)  # gamma = 1, beta = 0 at first
    np.testing.assert_allclose(y_layer, (x - mean) / np.sqrt(var + epsilon), rtol=1e-10, atol=1e-12)
    layer.moving_mean, layer.moving_variance = mm, mv
    np.testing.assert_allclose(layer(x), (x - mm) / np.sqrt(mv + epsilon), rtol=1e-10)
