"""Bad input: every case raises the right exception type with a message that names the argument.

Each ``match`` is anchored at the start of the message (``^name``) where bnlib's messages begin
with the argument's name, so a message that merely mentions it in passing does not pass.
"""

from __future__ import annotations

import numpy as np
import pytest

from bnlib import (
    BatchNorm,
    MeanNormalizer,
    MinMaxScaler,
    StandardScaler,
    batch_norm_backward,
    batch_norm_forward,
    batch_norm_inference,
    batch_statistics,
    numerical_gradient,
    rel_error,
)

_rng = np.random.default_rng(3)
X = _rng.normal(size=(6, 3))  # (N, D), 3 features
X4 = _rng.normal(size=(2, 3, 4, 5))  # NHWC with 5 channels; NCHW with 3 channels
ONES, ZEROS = np.ones(3), np.zeros(3)


def forward(x=X, gamma=ONES, beta=ZEROS, epsilon=1e-3, axis=-1):
    return batch_norm_forward(x, gamma, beta, epsilon, axis)


def with_value(x, index, value):
    x = np.array(x, dtype=np.float64)
    x[index] = value
    return x


def cases(*rows):
    """pytest.param rows (kwargs, exception, pattern), each named after its kwargs."""

    def short(v):
        if isinstance(v, np.ndarray):
            bad = "-nan" if np.isnan(v).any() else "-inf" if np.isinf(v).any() else ""
            bad += "-negative" if (v < 0).all() else ""
            return f"shape{v.shape}{bad}".replace(" ", "")
        return repr(v)

    return [
        pytest.param(kwargs, exc, match, id=",".join(f"{k}={short(v)}" for k, v in kwargs.items()))
        for kwargs, exc, match in rows
    ]


FORWARD_CASES = {  # id: (arguments of batch_norm_forward, exception, message pattern)
    # gamma and beta: one value per feature
    "gamma-too-long": (dict(gamma=np.ones(4)), ValueError, r"^gamma must have shape \(3,\)"),
    "gamma-2d": (dict(gamma=np.ones((1, 3))), ValueError, r"^gamma must have shape \(3,\)"),
    "gamma-scalar": (dict(gamma=1.0), ValueError, r"^gamma must have shape"),
    "beta-too-short": (dict(beta=np.zeros(2)), ValueError, r"^beta must have shape \(3,\)"),
    "beta-2d": (dict(beta=np.zeros((3, 1))), ValueError, r"^beta must have shape"),
    "gamma-nan": (dict(gamma=with_value(ONES, 1, np.nan)), ValueError, r"^gamma contains 1 NaN"),
    "gamma-nchw-uses-axis-1": (
        dict(x=X4, axis=1, gamma=np.ones(5), beta=np.zeros(5)),
        ValueError,
        r"^gamma must have shape \(3,\)",
    ),
    # epsilon > 0, a real number
    "epsilon-zero": (dict(epsilon=0), ValueError, r"^epsilon must be a positive number"),
    "epsilon-zero-float": (dict(epsilon=0.0), ValueError, r"^epsilon must be a positive number"),
    "epsilon-negative": (dict(epsilon=-1e-3), ValueError, r"^epsilon must be a positive number"),
    "epsilon-nan": (dict(epsilon=np.nan), ValueError, r"^epsilon must be finite"),
    "epsilon-string": (dict(epsilon="1e-3"), TypeError, r"^epsilon must be a real number"),
    "epsilon-none": (dict(epsilon=None), TypeError, r"^epsilon must be a real number"),
    "epsilon-array": (dict(epsilon=np.array([1e-3])), TypeError, r"^epsilon must be a real number"),
    # axis: an integer in range
    "axis-too-large": (dict(axis=2), ValueError, r"^axis=2 is out of range .* \[-2, 1\]"),
    "axis-too-negative": (dict(axis=-3), ValueError, r"^axis=-3 is out of range"),
    "axis-4d": (
        dict(x=X4, axis=4, gamma=np.ones(5), beta=np.zeros(5)),
        ValueError,
        r"^axis=4 is out of range .* \[-4, 3\]",
    ),
    "axis-float": (dict(axis=1.0), TypeError, r"^axis must be an integer"),
    "axis-string": (dict(axis="1"), TypeError, r"^axis must be an integer"),
    "axis-bool": (dict(axis=True), TypeError, r"^axis must be an integer"),
    "axis-none": (dict(axis=None), TypeError, r"^axis must be an integer"),
    # x: finite, real, at least (batch, features)
    "x-nan": (dict(x=with_value(X, (2, 1), np.nan)), ValueError, r"^x contains 1 NaN or infinite"),
    "x-plus-inf": (
        dict(x=with_value(X, (0, 0), np.inf)),
        ValueError,
        r"^x contains 1 NaN or infinite",
    ),
    "x-minus-inf": (
        dict(x=with_value(X, (5, 2), -np.inf)),
        ValueError,
        r"^x contains 1 NaN or infinite",
    ),
    "x-float32-inf": (
        dict(x=with_value(X, (4, 0), np.inf).astype(np.float32)),
        ValueError,
        r"^x contains 1 NaN or infinite",
    ),
    "x-1d": (dict(x=X[0]), ValueError, r"^x must have at least 2 dimensions"),
    "x-scalar": (dict(x=np.float64(1.0)), ValueError, r"^x must have at least 2 dimensions"),
    "x-complex": (dict(x=X + 1j), TypeError, r"^x must be real, got complex"),
    "x-string": (dict(x="not an array"), TypeError, r"^x must be an array of numbers, got a str"),
    "x-bytes": (dict(x=b"bytes"), TypeError, r"^x must be an array of numbers, got a bytes"),
    "x-string-array": (
        dict(x=np.array([["a", "b", "c"]] * 2)),
        TypeError,
        r"^x must be an array of real numbers, got dtype <U1",
    ),
    "x-object-array": (
        dict(x=np.array([[1, "a", None]] * 2, dtype=object)),
        TypeError,
        r"^x must be an array of real numbers, got dtype object",
    ),
    "x-ragged": (
        dict(x=[[1.0, 2.0, 3.0], [4.0, 5.0]]),
        TypeError,
        r"^x must be an array of numbers",
    ),
    "x-empty-batch": (
        dict(x=np.zeros((0, 3))),
        ValueError,
        r"^x must hold at least one value per feature",
    ),
}


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"), FORWARD_CASES.values(), ids=FORWARD_CASES.keys()
)
def test_batch_norm_forward_rejects(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        forward(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    cases(
        (dict(moving_mean=np.zeros(4)), ValueError, r"^moving_mean must have shape \(3,\)"),
        (dict(moving_variance=np.ones(2)), ValueError, r"^moving_variance must have shape \(3,\)"),
        (dict(moving_variance=-ONES), ValueError, r"^moving_variance must be non-negative"),
        (
            dict(moving_mean=with_value(ZEROS, 0, np.nan)),
            ValueError,
            r"^moving_mean contains 1 NaN",
        ),
        (dict(gamma=np.ones(4)), ValueError, r"^gamma must have shape \(3,\)"),
        (dict(beta=np.ones(4)), ValueError, r"^beta must have shape \(3,\)"),
        (dict(epsilon=0.0), ValueError, r"^epsilon must be a positive number"),
        (dict(epsilon=-1.0), ValueError, r"^epsilon must be a positive number"),
        (dict(axis=2), ValueError, r"^axis=2 is out of range"),
        (dict(axis=0.5), TypeError, r"^axis must be an integer"),
        (dict(x=with_value(X, (1, 1), np.inf)), ValueError, r"^x contains 1 NaN or infinite"),
        (dict(x=X[0]), ValueError, r"^x must have at least 2 dimensions"),
    ),
)
def test_batch_norm_inference_rejects(kwargs, exc, match):
    args = dict(
        x=X, moving_mean=ZEROS, moving_variance=ONES, gamma=ONES, beta=ZEROS, epsilon=1e-3, axis=-1
    )
    args.update(kwargs)
    with pytest.raises(exc, match=match):
        batch_norm_inference(**args)


@pytest.mark.parametrize(
    ("x", "axis", "exc", "match"),
    [
        (X, 2, ValueError, r"^axis=2 is out of range"),
        (X, "0", TypeError, r"^axis must be an integer"),
        (X[0], -1, ValueError, r"^x must have at least 2 dimensions"),
        (with_value(X, (0, 0), np.nan), -1, ValueError, r"^x contains 1 NaN"),
        (np.zeros((0, 3)), -1, ValueError, r"^x must hold at least one value per feature"),
    ],
    ids=["axis-out-of-range", "axis-string", "x-1d", "x-nan", "x-empty-batch"],
)
def test_batch_statistics_rejects(x, axis, exc, match):
    with pytest.raises(exc, match=match):
        batch_statistics(x, axis)


# ---------------------------------------------------------------------------------------------
# batch_norm_backward


def test_backward_rejects_dout_of_the_wrong_shape():
    _, cache = forward()
    match = r"^dout must have shape \(6, 3\) \(the shape of the forward input x\), got \(3, 6\)"
    with pytest.raises(ValueError, match=match):
        batch_norm_backward(np.ones((3, 6)), cache)
    with pytest.raises(ValueError, match=r"^dout must have shape \(6, 3\)"):
        batch_norm_backward(np.ones(3), cache)  # would broadcast, but is not a gradient of y


@pytest.mark.parametrize(
    ("dout", "exc", "match"),
    [
        (with_value(np.ones((6, 3)), (0, 0), np.nan), ValueError, r"^dout contains 1 NaN"),
        (np.ones((6, 3)) * 1j, TypeError, r"^dout must be real"),
        ("ones", TypeError, r"^dout must be an array of numbers"),
    ],
)
def test_backward_rejects_bad_dout(dout, exc, match):
    _, cache = forward()
    with pytest.raises(exc, match=match):
        batch_norm_backward(dout, cache)


@pytest.mark.parametrize(
    "cache",
    [
        None,
        "cache",
        pytest.param("tuple", id="tuple-of-the-fields"),
        pytest.param("dict", id="dict-of-the-fields"),
    ],
)
def test_backward_rejects_a_cache_that_is_not_a_batchnormcache(cache):
    _, real = forward()
    if cache == "tuple":
        cache = tuple(vars(real).values())
    elif cache == "dict":
        cache = dict(vars(real))
    with pytest.raises(
        TypeError, match=r"^cache must be the BatchNormCache returned by batch_norm_forward"
    ):
        batch_norm_backward(np.ones((6, 3)), cache)


# ---------------------------------------------------------------------------------------------
# The BatchNorm layer


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    cases(
        (dict(momentum=-0.1), ValueError, r"^momentum must lie in \[0, 1\], got -0\.1"),
        (dict(momentum=1.5), ValueError, r"^momentum must lie in \[0, 1\], got 1\.5"),
        (dict(momentum=np.inf), ValueError, r"^momentum must be finite"),
        (dict(momentum="0.99"), TypeError, r"^momentum must be a real number"),
        (dict(epsilon=0), ValueError, r"^epsilon must be a positive number"),
        (dict(epsilon=-1e-5), ValueError, r"^epsilon must be a positive number"),
        (dict(epsilon="small"), TypeError, r"^epsilon must be a real number"),
        (dict(axis=1.5), TypeError, r"^axis must be an integer"),
        (dict(axis=[1]), TypeError, r"^axis must be an integer"),
        (dict(center="yes"), TypeError, r"^center must be True or False"),
        (dict(scale=1), TypeError, r"^scale must be True or False"),
        (
            dict(unbiased_moving_variance=None),
            TypeError,
            r"^unbiased_moving_variance must be True or False",
        ),
    ),
)
def test_layer_constructor_rejects(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        BatchNorm(**kwargs)


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize(
    ("axis", "x", "match"),
    [
        (2, X, r"^axis=2 is out of range for an input with 2 dimensions"),
        (-3, X, r"^axis=-3 is out of range for an input with 2 dimensions"),
        (4, X4, r"^axis=4 is out of range for an input with 4 dimensions"),
    ],
)
def test_layer_checks_axis_against_each_input(axis, x, match, training):
    layer = BatchNorm(axis=axis)  # fine until the rank of the input is known
    with pytest.raises(ValueError, match=match):
        layer(x, training=training)
    assert not layer.built


def test_layer_rejects_bad_input_without_changing_its_state():
    layer = BatchNorm(momentum=0.5)
    layer(X, training=True)
    state = {
        k: getattr(layer, k).copy() for k in ("gamma", "beta", "moving_mean", "moving_variance")
    }
    bad = [
        (with_value(X, (3, 1), np.nan), ValueError, r"^x contains 1 NaN"),
        (with_value(X, (3, 1), np.inf), ValueError, r"^x contains 1 NaN or infinite"),
        (X + 1j, TypeError, r"^x must be real"),
        ("x", TypeError, r"^x must be an array of numbers"),
        (X[0], ValueError, r"^x must have at least 2 dimensions"),
        (np.zeros((0, 3)), ValueError, r"^x must hold at least one value per feature"),
        # a different number of features than the layer was built for
        (
            np.ones((6, 4)),
            ValueError,
            r"^x must have 3 features on axis -1 \(the layer was built for them\), got shape \(6, 4\)",
        ),
        (X4, ValueError, r"^x must have 3 features on axis -1"),
    ]
    for x, exc, match in bad:
        with pytest.raises(exc, match=match):
            layer(x, training=True)
    with pytest.raises(TypeError, match=r"^training must be True or False"):
        layer(X, training="yes")
    for k, v in state.items():
        np.testing.assert_array_equal(getattr(layer, k), v, err_msg=k)
    layer.backward(np.ones((6, 3)))  # the cache of the last valid training call is still there


def test_layer_nchw_checks_features_on_axis_1():
    layer = BatchNorm(axis=1)
    layer(X4, training=True)  # built for 3 channels on axis 1
    with pytest.raises(
        ValueError, match=r"^x must have 3 features on axis 1 .* got shape \(2, 5, 4, 3\)"
    ):
        layer(X4.transpose(0, 3, 2, 1), training=True)


def test_layer_backward_before_any_training_call():
    layer = BatchNorm()
    match = (
        r"^backward\(\) needs the cache of a preceding call with training=True; "
        r"the layer has not been called yet"
    )
    with pytest.raises(RuntimeError, match=match):
        layer.backward(np.ones((6, 3)))


def test_layer_backward_after_an_inference_call():
    layer = BatchNorm()
    layer(X)  # training=False by default
    with pytest.raises(
        RuntimeError, match=r"training=True; the most recent call used training=False"
    ):
        layer.backward(np.ones((6, 3)))
    layer(X, training=True)
    layer(X, training=False)  # an inference call drops the cache of an earlier training call
    with pytest.raises(
        RuntimeError, match=r"training=True; the most recent call used training=False"
    ):
        layer.backward(np.ones((6, 3)))


def test_layer_backward_rejects_dout_of_the_wrong_shape():
    layer = BatchNorm()
    layer(X, training=True)
    with pytest.raises(ValueError, match=r"^dout must have shape \(6, 3\)"):
        layer.backward(np.ones((6, 4)))


@pytest.mark.parametrize(
    ("axis", "shape"),
    [(-1, (1, 3)), (-1, (1, 1, 1, 3)), (1, (1, 3, 1, 1))],
    ids=["dense-N=1", "nhwc-1x1x1", "nchw-1x1x1"],
)
def test_unbiased_moving_variance_needs_two_values_per_feature(axis, shape):
    layer = BatchNorm(axis=axis, unbiased_moving_variance=True)
    x = np.arange(3.0).reshape(shape)
    match = (
        r"^x must hold at least 2 values per feature when unbiased_moving_variance=True .* got m=1"
    )
    with pytest.raises(ValueError, match=match):
        layer(x, training=True)
    np.testing.assert_array_equal(layer.moving_variance, np.ones(3))  # not updated
    # m = 1 is fine for the Keras convention and for inference.
    BatchNorm(axis=axis)(x, training=True)
    layer(x, training=False)


@pytest.mark.parametrize(
    ("shape", "dtype", "exc", "match"),
    [
        ((6,), np.float32, ValueError, r"^input_shape must have at least 2 dimensions"),
        ((6, 3), np.int32, TypeError, r"^dtype must be a floating-point dtype"),
        ((6, 3, 2), np.float32, None, None),
    ],
)
def test_layer_build_checks_its_arguments(shape, dtype, exc, match):
    layer = BatchNorm(axis=-1)
    if exc is None:
        layer.build(shape, dtype)
        assert layer.gamma.shape == (2,) and layer.gamma.dtype == dtype
    else:
        with pytest.raises(exc, match=match):
            layer.build(shape, dtype)


# ---------------------------------------------------------------------------------------------
# Scalers

SCALERS = [MinMaxScaler, MeanNormalizer, StandardScaler]
SCALER_IDS = [s.__name__ for s in SCALERS]


@pytest.mark.parametrize("scaler_cls", SCALERS, ids=SCALER_IDS)
@pytest.mark.parametrize("method", ["transform", "inverse_transform"])
def test_scaler_used_before_fit(scaler_cls, method):
    with pytest.raises(
        RuntimeError, match=rf"^{scaler_cls.__name__} is not fitted yet: call fit\(x_train\)"
    ):
        getattr(scaler_cls(), method)(X)


@pytest.mark.parametrize("scaler_cls", SCALERS, ids=SCALER_IDS)
@pytest.mark.parametrize(
    ("method", "data", "match"),
    [
        ("transform", np.ones((5, 4)), r"^x must have feature shape \(3,\) .* got shape \(5, 4\)"),
        ("transform", np.ones(3), r"^x must have feature shape \(3,\) .* got shape \(3,\)"),
        ("transform", np.ones((5, 3, 1)), r"^x must have feature shape \(3,\)"),
        (
            "inverse_transform",
            np.ones((5, 2)),
            r"^z must have feature shape \(3,\) .* got shape \(5, 2\)",
        ),
    ],
)
def test_scaler_rejects_a_different_feature_shape(scaler_cls, method, data, match):
    scaler = scaler_cls().fit(X)
    with pytest.raises(ValueError, match=match):
        getattr(scaler, method)(data)


@pytest.mark.parametrize("scaler_cls", SCALERS, ids=SCALER_IDS)
@pytest.mark.parametrize(
    ("data", "exc", "match"),
    [
        (with_value(X, (1, 1), np.nan), ValueError, r"^x contains 1 NaN"),
        (np.zeros((0, 3)), ValueError, r"^x must contain at least one sample"),
        (np.float64(3.0), ValueError, r"^x must have at least 1 dimensions"),
        (X + 1j, TypeError, r"^x must be real"),
        ("table", TypeError, r"^x must be an array of numbers"),
    ],
)
def test_scaler_fit_rejects(scaler_cls, data, exc, match):
    with pytest.raises(exc, match=match):
        scaler_cls().fit(data)


@pytest.mark.parametrize("scaler_cls", SCALERS, ids=SCALER_IDS)
def test_scaler_rejects_non_bool_per_feature(scaler_cls):
    with pytest.raises(TypeError, match=r"^per_feature must be True or False"):
        scaler_cls(per_feature="no")


@pytest.mark.parametrize(
    ("feature_range", "exc", "match"),
    [
        ((1.0, 0.0), ValueError, r"^feature_range must be finite with a < b, got \(1\.0, 0\.0\)"),
        ((0.5, 0.5), ValueError, r"^feature_range must be finite with a < b"),
        ((0.0, np.inf), ValueError, r"^feature_range must be finite with a < b"),
        ((np.nan, 1.0), ValueError, r"^feature_range must be finite with a < b"),
        ((0.0, 1.0, 2.0), TypeError, r"^feature_range must be a pair of numbers"),
        ((0.0,), TypeError, r"^feature_range must be a pair of numbers"),
        (1.0, TypeError, r"^feature_range must be a pair of numbers"),
        (("low", "high"), TypeError, r"^feature_range must be a pair of numbers"),
        (None, TypeError, r"^feature_range must be a pair of numbers"),
    ],
)
def test_minmax_rejects_bad_feature_range(feature_range, exc, match):
    with pytest.raises(exc, match=match):
        MinMaxScaler(feature_range=feature_range)


@pytest.mark.parametrize(
    ("ddof", "exc", "match"),
    [
        (2, ValueError, r"^ddof must be 0 \(population\) or 1 \(sample\), got 2"),
        (-1, ValueError, r"^ddof must be 0 \(population\) or 1 \(sample\), got -1"),
        (1.0, TypeError, r"^ddof must be an integer"),
        (True, TypeError, r"^ddof must be an integer"),
        ("1", TypeError, r"^ddof must be an integer"),
    ],
)
def test_standard_scaler_rejects_bad_ddof(ddof, exc, match):
    with pytest.raises(exc, match=match):
        StandardScaler(ddof=ddof)


def test_standard_scaler_ddof_1_needs_two_samples():
    with pytest.raises(ValueError, match=r"^x must contain more than 1 sample\(s\) for ddof=1"):
        StandardScaler(ddof=1).fit(X[:1])
    StandardScaler(ddof=0).fit(X[:1])  # one sample is enough for the population std
    StandardScaler(ddof=1, per_feature=False).fit(X[:1])  # 3 values in all


# ---------------------------------------------------------------------------------------------
# numerical_gradient and rel_error


@pytest.mark.parametrize(
    ("f", "x", "dout", "h", "exc", "match"),
    [
        (3.0, X, X, 1e-5, TypeError, r"^f must be a callable that maps x to an array, got float"),
        (None, X, X, 1e-5, TypeError, r"^f must be a callable"),
        (np.sin, X, X, 0.0, ValueError, r"^h must be a positive number, got 0\.0"),
        (np.sin, X, X, -1e-5, ValueError, r"^h must be a positive number"),
        (np.sin, X, X, "1e-5", TypeError, r"^h must be a real number"),
        (np.sin, X, X, np.inf, ValueError, r"^h must be finite"),
        (
            np.sin,
            X,
            X[:, :2],
            1e-5,
            ValueError,
            r"^dout must have the shape of f\(x\), \(6, 3\), got \(6, 2\)",
        ),
        (
            np.sin,
            X,
            X.T,
            1e-5,
            ValueError,
            r"^dout must have the shape of f\(x\), \(6, 3\), got \(3, 6\)",
        ),
        (
            np.sum,
            X,
            X,
            1e-5,
            ValueError,
            r"^dout must have the shape of f\(x\), \(\), got \(6, 3\)",
        ),
        (np.sin, with_value(X, (0, 0), np.nan), X, 1e-5, ValueError, r"^x contains 1 NaN"),
        (np.sin, X, with_value(X, (0, 0), np.inf), 1e-5, ValueError, r"^dout contains 1 NaN"),
        (np.sin, "x", X, 1e-5, TypeError, r"^x must be an array of numbers"),
    ],
)
def test_numerical_gradient_rejects(f, x, dout, h, exc, match):
    with pytest.raises(exc, match=match):
        numerical_gradient(f, x, dout, h)


@pytest.mark.parametrize(
    ("a", "b", "exc", "match"),
    [
        (
            np.ones((2, 3)),
            np.ones((3, 2)),
            ValueError,
            r"^a and b must have the same shape, got \(2, 3\) and \(3, 2\)",
        ),
        (np.ones(3), np.ones((1, 3)), ValueError, r"^a and b must have the same shape"),
        (np.ones(3), 1.0, ValueError, r"^a and b must have the same shape"),
        (with_value(np.ones(3), 0, np.nan), np.ones(3), ValueError, r"^a contains 1 NaN"),
        (np.ones(3), with_value(np.ones(3), 2, np.inf), ValueError, r"^b contains 1 NaN"),
        (np.ones(3) * 1j, np.ones(3), TypeError, r"^a must be real"),
    ],
)
def test_rel_error_rejects(a, b, exc, match):
    with pytest.raises(exc, match=match):
        rel_error(a, b)
