"""Parity with ``keras.layers.BatchNormalization`` (TensorFlow backend) at float32 tolerance.

Both sides get the same float32 inputs and parameters. The two implementations round differently
(Keras reduces in float32 and computes ``x * inv + (beta - mean * inv)`` and differentiates that
graph; bnlib accumulates its statistics in float64 and computes ``(x - mean) * inv * gamma + beta``
with a closed-form backward pass), so they cannot agree bit for bit. Each comparison allows a
stated number of float32 epsilons (eps = 2**-23 ~ 1.19e-7) times the magnitude ``S`` of the terms
the value is computed from, elementwise:

    |bnlib - keras| <= ULPS * eps * S

with ``inv = |gamma| / sqrt(var + epsilon)`` and ``x_mag = (|x| + |mean|) / sqrt(var + epsilon)``:

    y (training and inference):  S = inv * (|x| + |mean|) + |beta|   (mean, var: the ones used)
    dx:                          S = inv * (|dout| + mean|dout| + x_mag * mean(|dout| * x_mag))
    dgamma:  S = sum |dout| * x_mag        dbeta:  S = sum |dout|
    moving_mean: S = the same moving average taken of mean|x|     moving_variance: S = itself

Measured worst cases of max |bnlib - keras| / (eps * S), over 40 seeds for each of the three
layouts (the fixed seeds used below give at most these): inference y 3.6, training y 6.9,
dx 1.7, dgamma 0.9, dbeta 1.2, moving_mean 3.3, moving_variance 2.2. In absolute terms the fixed
seeds below differ by at most 1.1e-6 (inference y), 3.8e-6 (training y, |y| <= 5), 1.1e-6 (dx),
2.1e-5 (dgamma, |dgamma| <= 23), 5.7e-6 (dbeta), 4.8e-7 and 2.4e-7 (moving mean and variance).
The ULPS below are
2-4x those. A formula error is far larger: epsilon 1e-5 instead of 1e-3, or the m/(m-1)
variance, moves the results by 1e-4 .. 3e-2, i.e. 1e3 .. 3e5 eps.
"""

from __future__ import annotations

# conftest.py has already silenced TensorFlow (TF_CPP_MIN_LOG_LEVEL, TF_ENABLE_ONEDNN_OPTS) and
# chosen the TensorFlow backend before these imports. A plain import, not importorskip: without
# TensorFlow these tests must fail, not quietly skip.
import keras  # noqa: E402
import numpy as np
import pytest
import tensorflow as tf  # noqa: E402

import bnlib

tf.config.experimental.enable_op_determinism()

F32_EPS = float(np.finfo(np.float32).eps)
EPS = 1e-3

ULPS_INFERENCE = 8  # measured <= 3.6
ULPS_TRAINING = 16  # measured <= 6.9
ULPS_DX = 4  # measured <= 1.7
ULPS_DGAMMA = 4  # measured <= 0.9
ULPS_DBETA = 4  # measured <= 1.2
ULPS_MOVING_MEAN = 8  # measured <= 3.3
ULPS_MOVING_VARIANCE = 8  # measured <= 2.2


@pytest.fixture(autouse=True)
def deterministic_keras():
    keras.utils.set_random_seed(1234)


def assert_f32_close(actual, expected, scale, ulps, what):
    actual = np.asarray(actual, np.float64)
    expected = np.asarray(expected, np.float64)
    assert actual.shape == expected.shape, what
    ratio = float(np.max(np.abs(actual - expected) / (F32_EPS * np.asarray(scale, np.float64))))
    assert ratio <= ulps, f"{what}: |bnlib - keras| reaches {ratio:.3g} eps * S (allowed {ulps})"


def statistics(x, layout):
    """The exact batch mean and variance of float32 data, shaped to broadcast against it."""
    x64 = x.astype(np.float64)
    mean = x64.mean(axis=layout.reduce_axes, keepdims=True)
    var = x64.var(axis=layout.reduce_axes, keepdims=True)
    return mean, var


def output_scale(x, mean, var, layout, gamma=None, beta=None):
    """S for outputs: inv * (|x| + |mean|) + |beta|; no gamma / beta means 1 / 0."""
    gamma = np.ones(layout.features) if gamma is None else gamma
    beta = np.zeros(layout.features) if beta is None else beta
    mean, var = layout.per_feature(mean), layout.per_feature(var)
    inv = np.abs(layout.per_feature(gamma)) / np.sqrt(var + EPS)
    return inv * (np.abs(x) + np.abs(mean)) + np.abs(layout.per_feature(beta))


def random_parameters(rng, layout):
    c = layout.features
    gamma = rng.uniform(0.5, 2.0, c).astype(np.float32)
    beta = rng.normal(size=c).astype(np.float32)
    moving_mean = (3.0 * np.arange(c) - 2.0 + rng.normal(scale=0.3, size=c)).astype(np.float32)
    moving_variance = rng.uniform(0.3, 8.0, c).astype(np.float32)
    return gamma, beta, moving_mean, moving_variance


def keras_layer(layout, **kwargs):
    layer = keras.layers.BatchNormalization(axis=layout.axis, **kwargs)
    layer.build(layout.shape)
    return layer


def test_defaults_match_keras():
    ref = keras.layers.BatchNormalization()
    ours = bnlib.BatchNorm()
    for name in ("axis", "momentum", "epsilon", "center", "scale"):
        assert getattr(ours, name) == getattr(ref, name), name
    assert ref.renorm is False  # Keras options bnlib does not implement are off by default
    assert ref.synchronized is False


def test_initial_values_match_keras(big_layout):
    ref = keras_layer(big_layout)
    ours = bnlib.BatchNorm(axis=big_layout.axis)
    ours(big_layout.sample(np.random.default_rng(0), np.float32))  # lazy build, like Keras
    for name in ("gamma", "beta", "moving_mean", "moving_variance"):
        theirs = getattr(ref, name).numpy()
        assert getattr(ours, name).dtype == theirs.dtype == np.float32, name
        np.testing.assert_array_equal(getattr(ours, name), theirs, err_msg=name)


def test_inference_outputs(big_layout, rng):
    lay = big_layout
    x = lay.sample(rng, np.float32)
    gamma, beta, moving_mean, moving_variance = random_parameters(rng, lay)
    ref = keras_layer(lay)
    ref.gamma.assign(gamma)
    ref.beta.assign(beta)
    ref.moving_mean.assign(moving_mean)
    ref.moving_variance.assign(moving_variance)
    ours = bnlib.BatchNorm(axis=lay.axis).build(lay.shape, np.float32)
    ours.gamma, ours.beta = gamma, beta
    ours.moving_mean, ours.moving_variance = moving_mean, moving_variance

    expected = ref(x, training=False).numpy()
    actual = ours(x, training=False)
    assert actual.dtype == np.float32
    scale = output_scale(x, moving_mean, moving_variance, lay, gamma, beta)
    assert_f32_close(actual, expected, scale, ULPS_INFERENCE, "inference y")


def test_training_outputs_and_gradients(big_layout, rng):
    lay = big_layout
    x = lay.sample(rng, np.float32)
    dout = rng.standard_normal(lay.shape).astype(np.float32)  # random upstream gradient
    gamma, beta, _, _ = random_parameters(rng, lay)
    ref = keras_layer(lay)
    ref.gamma.assign(gamma)
    ref.beta.assign(beta)
    ours = bnlib.BatchNorm(axis=lay.axis).build(lay.shape, np.float32)
    ours.gamma, ours.beta = gamma, beta

    x_tf = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x_tf)
        y_tf = ref(x_tf, training=True)
        loss = tf.reduce_sum(tf.constant(dout) * y_tf)
    dx_tf, dgamma_tf, dbeta_tf = tape.gradient(loss, [x_tf, ref.gamma, ref.beta])

    y = ours(x, training=True)
    dx = ours.backward(dout)
    assert y.dtype == dx.dtype == ours.dgamma.dtype == ours.dbeta.dtype == np.float32

    mean, var = statistics(x, lay)
    # |x_hat| before cancellation: Keras differentiates x * inv - mean * inv, whose terms are this
    # large, not (x - mean) * inv.
    x_mag = (np.abs(x) + np.abs(mean)) / np.sqrt(var + EPS)
    inv = np.abs(lay.per_feature(gamma)) / np.sqrt(var + EPS)
    ra = lay.reduce_axes
    abs_dout = np.abs(dout)
    dx_scale = inv * (
        abs_dout
        + abs_dout.mean(axis=ra, keepdims=True)
        + x_mag * (abs_dout * x_mag).mean(axis=ra, keepdims=True)
    )
    y_scale = output_scale(x, mean, var, lay, gamma, beta)
    assert_f32_close(y, y_tf.numpy(), y_scale, ULPS_TRAINING, "training y")
    assert_f32_close(dx, dx_tf.numpy(), dx_scale, ULPS_DX, "dx")
    dgamma_scale = (abs_dout * x_mag).sum(axis=ra)
    assert_f32_close(ours.dgamma, dgamma_tf.numpy(), dgamma_scale, ULPS_DGAMMA, "dgamma")
    assert_f32_close(ours.dbeta, dbeta_tf.numpy(), abs_dout.sum(axis=ra), ULPS_DBETA, "dbeta")


@pytest.mark.parametrize("momentum", [None, 0.9], ids=["default-momentum", "momentum-0.9"])
def test_moving_statistics_after_several_training_steps(big_layout, rng, momentum):
    lay = big_layout
    kwargs = {} if momentum is None else {"momentum": momentum}  # None: each library's default
    ref = keras_layer(lay, **kwargs)
    ours = bnlib.BatchNorm(axis=lay.axis, **kwargs)
    momentum = ref.momentum
    mean_scale = np.zeros(lay.features)
    for step in range(5):
        x = lay.sample(rng, np.float32)  # a different batch each step
        y_ref = ref(x, training=True).numpy()
        y = ours(x, training=True)
        mean, var = statistics(x, lay)
        assert_f32_close(
            y, y_ref, output_scale(x, mean, var, lay), ULPS_TRAINING, f"y, step {step}"
        )
        mean_scale = momentum * mean_scale + (1 - momentum) * np.abs(x).mean(axis=lay.reduce_axes)
    assert ours.moving_mean.dtype == ours.moving_variance.dtype == np.float32
    ref_mean, ref_var = ref.moving_mean.numpy(), ref.moving_variance.numpy()
    assert_f32_close(ours.moving_mean, ref_mean, mean_scale, ULPS_MOVING_MEAN, "moving_mean")
    assert_f32_close(
        ours.moving_variance, ref_var, ref_var, ULPS_MOVING_VARIANCE, "moving_variance"
    )
    # The stats moved away from their initial values: the comparison is not of zeros and ones.
    assert not np.allclose(ours.moving_mean, 0, atol=1e-2)
    assert not np.allclose(ours.moving_variance, 1, atol=1e-2)

    # Inference with the accumulated statistics agrees as well.
    x = lay.sample(rng, np.float32)
    scale = output_scale(x, ours.moving_mean, ours.moving_variance, lay)
    y_ref = ref(x, training=False).numpy()
    assert_f32_close(ours(x), y_ref, scale, ULPS_INFERENCE, "inference y after training")


@pytest.mark.parametrize(("center", "scale"), [(False, True), (True, False), (False, False)])
def test_without_center_or_scale(big_layout, rng, center, scale):
    lay = big_layout
    ref = keras_layer(lay, center=center, scale=scale)
    ours = bnlib.BatchNorm(axis=lay.axis, center=center, scale=scale)
    x = lay.sample(rng, np.float32)
    mean, var = statistics(x, lay)
    y_ref = ref(x, training=True).numpy()
    assert_f32_close(
        ours(x, training=True), y_ref, output_scale(x, mean, var, lay), ULPS_TRAINING, "y"
    )
    assert (ours.gamma is None) == (ref.gamma is None)
    assert (ours.beta is None) == (ref.beta is None)
