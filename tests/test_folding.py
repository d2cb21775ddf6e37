"""bnlib.fold_batch_norm: a folded Dense or Conv2D layer computes what the layer followed by an
inference-mode BN computes.

In float64 the folded layer is compared with ``batch_norm_inference`` applied to the unfolded
layer's output: the two differ only by rounding, so the tolerance is ``1e-12`` relative to the
size of the output (measured over 30 seeds: at most 5e-16 of the magnitude S defined below).
Against real Keras layers (float32), the difference is float32 rounding of sums of ``D_in`` or
``kh*kw*C_in`` products, so the tolerance is stated in float32 epsilons of the magnitude
``S = |x| @ |kernel_folded| + |bias_folded|`` (the sum of the absolute values of the terms that
make up each output): ``|folded - keras| <= 16 * eps32 * S`` (measured over 30 seeds and both
layer kinds: at most 3.2 eps32 * S). A folding error (a missing epsilon, the scale applied to the
input axis, the mean not scaled) is off by 1e-4 or more relative to S, i.e. > 1e3 eps32.
"""

from __future__ import annotations

import numpy as np
import pytest

import bnlib
from bnlib import batch_norm_inference, fold_batch_norm

F32_EPS = float(np.finfo(np.float32).eps)
ULPS_KERAS = 16
EPS = 1e-3


def conv2d_valid(x, kernel, bias=None):
    """Reference 'valid', stride-1 convolution (cross-correlation, as Keras computes it).

    x: (N, H, W, C_in); kernel: (kh, kw, C_in, C) -> (N, H - kh + 1, W - kw + 1, C).
    """
    kh, kw = kernel.shape[:2]
    patches = np.lib.stride_tricks.sliding_window_view(
        x, (kh, kw), axis=(1, 2)
    )  # N,H',W',C_in,kh,kw
    out = np.einsum("nhwcij,ijcd->nhwd", patches, kernel)
    return out if bias is None else out + bias


def bn_parameters(rng, channels, dtype=np.float64):
    """Per-channel BN values far from the identity, so every term of the folding matters."""
    return dict(
        gamma=rng.uniform(0.5, 2.0, channels).astype(dtype) * rng.choice([-1, 1], channels),
        beta=rng.normal(0.0, 1.0, channels).astype(dtype),
        moving_mean=rng.normal(0.0, 3.0, channels).astype(dtype),
        # Some variances comparable to epsilon, so leaving epsilon out would show.
        moving_variance=np.concatenate([[1e-4, 2e-3], rng.uniform(0.1, 5.0, channels - 2)]).astype(
            dtype
        ),
    )


def layer_cases():
    """(name, kernel shape, input shape, the linear layer in numpy)."""
    return [
        ("dense", (7, 5), (11, 7), lambda x, k, b: x @ k + (0.0 if b is None else b)),
        ("conv2d", (3, 2, 4, 6), (3, 6, 5, 4), conv2d_valid),
    ]


@pytest.mark.parametrize("use_bias", [True, False], ids=["bias", "no-bias"])
@pytest.mark.parametrize("scale", [True, False], ids=["gamma", "no-gamma"])
@pytest.mark.parametrize("center", [True, False], ids=["beta", "no-beta"])
@pytest.mark.parametrize("case", layer_cases(), ids=lambda c: c[0])
def test_folded_layer_equals_layer_then_inference_bn_float64(rng, case, use_bias, scale, center):
    _, kernel_shape, input_shape, linear = case
    channels = kernel_shape[-1]
    x = rng.normal(1.0, 2.0, input_shape)
    kernel = rng.normal(0.0, 0.5, kernel_shape)
    bias = rng.normal(0.0, 1.0, channels) if use_bias else None
    p = bn_parameters(rng, channels)
    gamma = p["gamma"] if scale else None
    beta = p["beta"] if center else None

    expected = batch_norm_inference(
        linear(x, kernel, bias),
        p["moving_mean"],
        p["moving_variance"],
        np.ones(channels) if gamma is None else gamma,
        np.zeros(channels) if beta is None else beta,
        EPS,
    )
    k, b = fold_batch_norm(kernel, bias, gamma, beta, p["moving_mean"], p["moving_variance"], EPS)
    got = linear(x, k, b)

    assert k.shape == kernel.shape and b.shape == (channels,)
    assert k.dtype == np.float64 and b.dtype == np.float64
    scale_of_output = (
        np.abs(x).max() * np.abs(k).sum(axis=tuple(range(k.ndim - 1))).max() + np.abs(b).max()
    )
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12 * scale_of_output)


def test_the_formula_term_by_term(rng):
    """kernel * s along the last axis, (bias - mean) * s + beta, with s = gamma / sqrt(var + eps)."""
    kernel, bias = rng.normal(size=(3, 2, 4, 6)), rng.normal(size=6)
    p = bn_parameters(rng, 6)
    s = p["gamma"] / np.sqrt(p["moving_variance"] + 0.01)
    k, b = fold_batch_norm(kernel, bias, epsilon=0.01, **p)
    np.testing.assert_allclose(k, kernel * s.reshape(1, 1, 1, 6), rtol=1e-15, atol=0)
    np.testing.assert_allclose(b, (bias - p["moving_mean"]) * s + p["beta"], rtol=1e-14, atol=1e-15)


def test_default_epsilon_is_keras(rng):
    kernel = rng.normal(size=(4, 3))
    p = bn_parameters(rng, 3)
    np.testing.assert_array_equal(
        fold_batch_norm(kernel, None, **p)[0], fold_batch_norm(kernel, None, epsilon=1e-3, **p)[0]
    )
    assert not np.allclose(
        fold_batch_norm(kernel, None, **p)[0], fold_batch_norm(kernel, None, epsilon=1e-5, **p)[0]
    )


def test_float32_in_float32_out_and_lists_accepted(rng):
    p = bn_parameters(rng, 3, np.float32)
    k, b = fold_batch_norm(
        rng.normal(size=(4, 3)).astype(np.float32),
        None,
        None,
        None,
        p["moving_mean"],
        p["moving_variance"],
    )
    assert k.dtype == np.float32 and b.dtype == np.float32
    k, b = fold_batch_norm([[1, 2], [3, 4]], [0, 0], [1, 1], [0, 0], [0, 0], [1, 1])
    assert k.dtype == np.float64 and b.dtype == np.float64


def test_inputs_are_not_modified(rng, unchanged):
    kernel, bias = rng.normal(size=(3, 3, 2, 4)), rng.normal(size=4)
    p = bn_parameters(rng, 4)
    arrays = (kernel, bias, p["gamma"], p["beta"], p["moving_mean"], p["moving_variance"])
    with unchanged(*arrays, readonly=True):
        k, b = fold_batch_norm(*arrays)
    assert not np.shares_memory(k, kernel) and not np.shares_memory(b, bias)
    # The results are new arrays: writing into them leaves the inputs alone.
    with unchanged(*arrays):
        k *= 2.0
        b += 1.0


# ---------------------------------------------------------------------------------------------
# Against real Keras layers (float32)


def _keras():
    """Keras, imported here so the numpy-only tests above run without TensorFlow installed.

    Skips the calling test when TensorFlow is absent (conftest.py has silenced it and chosen
    Keras's backend).
    """
    pytest.importorskip("tensorflow")
    import keras

    return keras


def _keras_pair(kind, rng, use_bias, scale, center):
    """A Keras layer followed by BN with non-trivial weights, and its kernel/bias/BN arrays."""
    keras = _keras()
    channels = 6
    if kind == "dense":
        inputs = keras.Input(shape=(12,))
        layer = keras.layers.Dense(channels, use_bias=use_bias)
        x = rng.normal(0.5, 1.5, (32, 12)).astype(np.float32)
    else:
        inputs = keras.Input(shape=(9, 8, 3))
        layer = keras.layers.Conv2D(channels, (3, 3), padding="same", use_bias=use_bias)
        x = rng.normal(0.5, 1.5, (4, 9, 8, 3)).astype(np.float32)
    bn = keras.layers.BatchNormalization(scale=scale, center=center)
    model = keras.Model(inputs, bn(layer(inputs)))
    weights = layer.get_weights()
    if use_bias:
        weights[1] = rng.normal(0.0, 1.0, channels).astype(np.float32)
    layer.set_weights(weights)
    p = bn_parameters(rng, channels, np.float32)
    bn_values = ([p["gamma"]] if scale else []) + ([p["beta"]] if center else [])
    bn.set_weights(bn_values + [p["moving_mean"], p["moving_variance"]])
    return model, layer, bn, x


@pytest.mark.parametrize("use_bias", [True, False], ids=["bias", "no-bias"])
@pytest.mark.parametrize(
    "affine", [(True, True), (False, False)], ids=["gamma-beta", "no-gamma-beta"]
)
@pytest.mark.parametrize("kind", ["dense", "conv2d"])
def test_folded_keras_layer_matches_keras_layer_then_bn(rng, kind, use_bias, affine):
    keras = _keras()
    keras.utils.set_random_seed(7)
    scale, center = affine
    model, layer, bn, x = _keras_pair(kind, rng, use_bias, scale, center)
    expected = np.asarray(model(x, training=False))

    k, b = fold_batch_norm(
        layer.kernel.numpy(),
        layer.bias.numpy() if use_bias else None,
        bn.gamma.numpy() if scale else None,
        bn.beta.numpy() if center else None,
        bn.moving_mean.numpy(),
        bn.moving_variance.numpy(),
        bn.epsilon,
    )
    config = layer.get_config() | {"use_bias": True, "name": "folded"}
    folded = layer.__class__.from_config(config)
    folded.build(x.shape)
    folded.set_weights([k, b])
    got = np.asarray(folded(x))

    # S: the magnitude of the terms summed into each output (float64).
    if kind == "dense":
        S = np.abs(x.astype(np.float64)) @ np.abs(k.astype(np.float64)) + np.abs(b)
    else:
        S = conv2d_valid(
            np.pad(np.abs(x.astype(np.float64)), ((0, 0), (1, 1), (1, 1), (0, 0))),
            np.abs(k.astype(np.float64)),
            np.abs(b.astype(np.float64)),
        )
    ratio = float(np.max(np.abs(got.astype(np.float64) - expected) / (F32_EPS * S)))
    assert ratio <= ULPS_KERAS, (
        f"|folded - keras| reaches {ratio:.3g} eps32 * S (allowed {ULPS_KERAS})"
    )


def test_keras_comparison_would_catch_a_folding_error(rng):
    """The float32 tolerance above is far tighter than a real mistake (here: epsilon forgotten)."""
    keras = _keras()
    keras.utils.set_random_seed(7)
    model, layer, bn, x = _keras_pair("dense", rng, True, True, True)
    expected = np.asarray(model(x, training=False)).astype(np.float64)
    k, b = fold_batch_norm(
        layer.kernel.numpy(),
        layer.bias.numpy(),
        bn.gamma.numpy(),
        bn.beta.numpy(),
        bn.moving_mean.numpy(),
        bn.moving_variance.numpy(),
        epsilon=1e-12,
    )
    got = x.astype(np.float64) @ k + b
    S = np.abs(x.astype(np.float64)) @ np.abs(k.astype(np.float64)) + np.abs(b)
    assert float(np.max(np.abs(got - expected) / (F32_EPS * S))) > 1e3


# ---------------------------------------------------------------------------------------------
# Bad input

C = 3
GOOD = dict(
    kernel=np.ones((4, C)),
    bias=np.zeros(C),
    gamma=np.ones(C),
    beta=np.zeros(C),
    moving_mean=np.zeros(C),
    moving_variance=np.ones(C),
    epsilon=1e-3,
)


def _with(name, index, value):
    arr = np.array(GOOD[name], dtype=np.float64)
    arr[index] = value
    return arr


BAD = {  # id: (overrides, exception, message pattern)
    "kernel-1d": (dict(kernel=np.ones(3)), ValueError, r"^kernel must have at least 2 dimensions"),
    "kernel-scalar": (dict(kernel=1.0), ValueError, r"^kernel must have at least 2 dimensions"),
    "kernel-nan": (
        dict(kernel=_with("kernel", (1, 2), np.nan)),
        ValueError,
        r"^kernel contains 1 NaN",
    ),
    "kernel-inf": (
        dict(kernel=_with("kernel", (0, 0), np.inf)),
        ValueError,
        r"^kernel contains 1 NaN or inf",
    ),
    "kernel-string": (dict(kernel="weights"), TypeError, r"^kernel must be an array of numbers"),
    "kernel-complex": (dict(kernel=np.ones((4, C)) * 1j), TypeError, r"^kernel must be real"),
    "kernel-object": (
        dict(kernel=np.array([[1, None, 2]], dtype=object)),
        TypeError,
        r"^kernel must be an array of real",
    ),
    "bias-too-long": (
        dict(bias=np.zeros(4)),
        ValueError,
        r"^bias must have shape \(3,\) \(one value per output channel",
    ),
    "bias-2d": (dict(bias=np.zeros((1, C))), ValueError, r"^bias must have shape \(3,\)"),
    "bias-scalar": (dict(bias=0.0), ValueError, r"^bias must have shape \(3,\)"),
    "bias-nan": (dict(bias=_with("bias", 0, np.nan)), ValueError, r"^bias contains 1 NaN"),
    "gamma-too-short": (dict(gamma=np.ones(2)), ValueError, r"^gamma must have shape \(3,\)"),
    "gamma-inf": (
        dict(gamma=_with("gamma", 1, -np.inf)),
        ValueError,
        r"^gamma contains 1 NaN or inf",
    ),
    "gamma-string": (dict(gamma="ones"), TypeError, r"^gamma must be an array of numbers"),
    "beta-wrong-shape": (dict(beta=np.zeros((C, 1))), ValueError, r"^beta must have shape \(3,\)"),
    "beta-nan": (dict(beta=_with("beta", 2, np.nan)), ValueError, r"^beta contains 1 NaN"),
    "moving-mean-wrong-shape": (
        dict(moving_mean=np.zeros(4)),
        ValueError,
        r"^moving_mean must have shape \(3,\)",
    ),
    "moving-mean-none": (
        dict(moving_mean=None),
        TypeError,
        r"^moving_mean must be an array of real numbers",
    ),
    "moving-mean-nan": (
        dict(moving_mean=_with("moving_mean", 0, np.nan)),
        ValueError,
        r"^moving_mean contains 1 NaN",
    ),
    "moving-variance-wrong-shape": (
        dict(moving_variance=np.ones(2)),
        ValueError,
        r"^moving_variance must have shape \(3,\)",
    ),
    "moving-variance-negative": (
        dict(moving_variance=_with("moving_variance", 1, -0.5)),
        ValueError,
        r"^moving_variance must be non-negative .* got 1 negative",
    ),
    "moving-variance-inf": (
        dict(moving_variance=_with("moving_variance", 1, np.inf)),
        ValueError,
        r"^moving_variance contains 1 NaN or inf",
    ),
    "moving-variance-none": (
        dict(moving_variance=None),
        TypeError,
        r"^moving_variance must be an array of real",
    ),
    "epsilon-zero": (dict(epsilon=0.0), ValueError, r"^epsilon must be a positive number"),
    "epsilon-negative": (dict(epsilon=-1e-3), ValueError, r"^epsilon must be a positive number"),
    "epsilon-nan": (dict(epsilon=float("nan")), ValueError, r"^epsilon must be finite"),
    "epsilon-inf": (dict(epsilon=float("inf")), ValueError, r"^epsilon must be finite"),
    "epsilon-string": (dict(epsilon="1e-3"), TypeError, r"^epsilon must be a real number"),
    "epsilon-bool": (dict(epsilon=True), TypeError, r"^epsilon must be a real number"),
    "epsilon-array": (dict(epsilon=np.array([1e-3])), TypeError, r"^epsilon must be a real number"),
    "conv-kernel-channel-mismatch": (
        dict(kernel=np.ones((3, 3, 2, 5))),
        ValueError,
        r"^bias must have shape \(5,\) \(one value per output channel: kernel.shape\[-1\]\), got \(3,\)",
    ),
}


@pytest.mark.parametrize(("overrides", "exc", "match"), BAD.values(), ids=BAD.keys())
def test_fold_batch_norm_rejects(overrides, exc, match):
    with pytest.raises(exc, match=match):
        fold_batch_norm(**(GOOD | overrides))


def test_a_zero_moving_variance_is_allowed():
    """A dead channel (variance 0) is legal: epsilon keeps the scale finite."""
    k, b = fold_batch_norm(**(GOOD | dict(moving_variance=np.zeros(C))))
    np.testing.assert_allclose(k, np.ones((4, C)) / np.sqrt(1e-3), rtol=1e-15)
    assert np.all(np.isfinite(b))


def test_exported_from_the_package():
    assert bnlib.fold_batch_norm is fold_batch_norm
    assert "fold_batch_norm" in bnlib.__all__
