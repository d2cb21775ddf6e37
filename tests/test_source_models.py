"""Tests of bncourse.source_models: the sources' models as published, and their reduced twins.

Parameter counts of the published sizes are worked out by hand from the layers (a Dense layer
has ``fan_in * units + units`` parameters, a 3×3 Conv2D ``9 * C_in * filters + filters``, a BN
layer four per feature, two of them trainable). Models are only built and run on a few random
images, so the file runs in seconds.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from bncourse import source_models as sm
from bncourse import stacked as st

keras = pytest.importorskip("keras")


# ------------------------------------------------------------------------------ source 003


def test_mlp_003_layer_sequence():
    assert sm.layer_sequence(sm.mlp_003(False)) == [
        "Flatten",
        "Dense(128)",
        "ReLU",
        "Dense(64)",
        "ReLU",
        "Dense(10, softmax)",
    ]
    assert sm.layer_sequence(sm.mlp_003(True)) == [
        "Flatten",
        "Dense(128)",
        "BatchNormalization",
        "ReLU",
        "Dense(64)",
        "BatchNormalization",
        "ReLU",
        "Dense(10, softmax)",
    ]


def test_mlp_003_parameter_counts():
    dense = (784 * 128 + 128) + (128 * 64 + 64) + (64 * 10 + 10)
    assert sm.mlp_003(False).count_params() == dense == 109_386
    assert sm.mlp_003(True).count_params() == dense + 4 * (128 + 64)


def test_mlp_003_published_input_is_the_articles_sequential():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        published = sm.mlp_003(True, published_input=True)
    assert isinstance(published, keras.Sequential)
    assert any("input_shape" in str(w.message) for w in caught)
    assert published.count_params() == sm.mlp_003(True).count_params()


def test_mlp_003_same_seed_same_function_as_published():
    x = np.random.default_rng(0).random((5, 28, 28)).astype(np.float32)
    keras.utils.set_random_seed(1)
    ours = sm.mlp_003(True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        published = sm.mlp_003(True, published_input=True)
    published.set_weights(ours.get_weights())
    np.testing.assert_allclose(ours(x).numpy(), published(x).numpy(), atol=1e-6)
    assert sm.layer_sequence(published) == sm.layer_sequence(ours)


def test_mlp_003_twins_share_their_initial_kernels_under_one_seed():
    keras.utils.set_random_seed(3)
    plain = [w for w in sm.mlp_003(False).get_weights() if w.ndim == 2]
    keras.utils.set_random_seed(3)
    with_bn = [w for w in sm.mlp_003(True).get_weights() if w.ndim == 2]
    assert len(plain) == len(with_bn) == 3
    for a, b in zip(plain, with_bn):
        np.testing.assert_array_equal(a, b)


def test_mlp_003_reduced_twin_and_logits():
    model = sm.mlp_003(True, input_shape=(14, 14), width=0.5, logits=True)
    assert (
        sm.layer_sequence(model)[1] == "Dense(64)" and sm.layer_sequence(model)[-1] == "Dense(10)"
    )
    out = model(np.zeros((3, 14, 14), np.float32)).numpy()
    assert out.shape == (3, 10)
    probs = sm.mlp_003(False)(np.ones((2, 28, 28), np.float32)).numpy()
    np.testing.assert_allclose(probs.sum(axis=1), 1, atol=1e-6)


# ------------------------------------------------------------------------------ source 004


def test_cnn_004_layer_sequences():
    assert sm.layer_sequence(sm.cnn_004()) == [
        "Conv2D(32, relu)",
        "BatchNormalization",
        "Conv2D(64, relu)",
        "BatchNormalization",
        "MaxPooling2D",
        "Flatten",
        "Dense(128, relu)",
        "BatchNormalization",
        "Dense(10, softmax)",
    ]
    assert sm.layer_sequence(sm.cnn_004("before")) == [
        "Conv2D(32)",
        "BatchNormalization",
        "ReLU",
        "Conv2D(64)",
        "BatchNormalization",
        "ReLU",
        "MaxPooling2D",
        "Flatten",
        "Dense(128)",
        "BatchNormalization",
        "ReLU",
        "Dense(10, softmax)",
    ]
    assert sm.layer_sequence(sm.cnn_004("none")) == [
        "Conv2D(32, relu)",
        "Conv2D(64, relu)",
        "MaxPooling2D",
        "Flatten",
        "Dense(128, relu)",
        "Dense(10, softmax)",
    ]


def test_cnn_004_parameter_counts():
    conv = (9 * 1 * 32 + 32) + (9 * 32 * 64 + 64)  # 28 -> 26 -> 24, pooled to 12x12x64
    dense = (12 * 12 * 64 * 128 + 128) + (128 * 10 + 10)
    bn = 4 * (32 + 64 + 128)
    assert sm.cnn_004("none").count_params() == conv + dense == 1_199_882
    assert sm.cnn_004("after").count_params() == conv + dense + bn == 1_200_778
    assert sm.cnn_004("before").count_params() == conv + dense + bn - (32 + 64 + 128)


def test_cnn_004_reduced_twin_shapes():
    model = sm.cnn_004("after", input_shape=(14, 14, 1), width=0.25, logits=True)
    shapes = [tuple(w.shape) for w in model.weights if len(w.shape) > 1]
    # 14 -> 12 -> 10, pooled to 5x5x16
    assert shapes == [(3, 3, 1, 8), (3, 3, 8, 16), (5 * 5 * 16, 32), (32, 10)]
    assert model(np.zeros((4, 14, 14, 1), np.float32)).shape == (4, 10)


def _chapter_6_source_cnn(placement, filters=(8, 16), units=32):
    """Chapter 6's ``source_cnn`` (cell 12), copied: the model cnn_004 must reproduce."""
    inputs = keras.Input(shape=(14, 14, 1))
    h = inputs
    for f in filters:
        if placement == "after":
            h = keras.layers.Conv2D(f, 3, activation="relu")(h)
            h = keras.layers.BatchNormalization()(h)
        else:
            h = keras.layers.Conv2D(f, 3, use_bias=False)(h)
            h = keras.layers.BatchNormalization()(h)
            h = keras.layers.ReLU()(h)
    h = keras.layers.Flatten()(keras.layers.MaxPooling2D(2)(h))
    if placement == "after":
        h = keras.layers.BatchNormalization()(keras.layers.Dense(units, activation="relu")(h))
    else:
        h = keras.layers.ReLU()(
            keras.layers.BatchNormalization()(keras.layers.Dense(units, use_bias=False)(h))
        )
    return keras.Model(inputs, keras.layers.Dense(10)(h))


@pytest.mark.parametrize("placement", ["after", "before"])
def test_cnn_004_quarter_width_is_chapter_6s_source_cnn(placement):
    x = np.random.default_rng(2).random((6, 14, 14, 1)).astype(np.float32)
    keras.utils.set_random_seed(7)
    theirs = _chapter_6_source_cnn(placement)
    keras.utils.set_random_seed(7)
    ours = sm.cnn_004(placement, input_shape=(14, 14, 1), width=0.25, logits=True)
    a, b = theirs.get_weights(), ours.get_weights()
    assert [w.shape for w in a] == [w.shape for w in b]
    for wa, wb in zip(a, b):
        np.testing.assert_array_equal(wa, wb)  # same initial weights, same seed
    for training in (False, True):
        np.testing.assert_allclose(
            theirs(x, training=training).numpy(), ours(x, training=training).numpy(), atol=1e-5
        )


def test_cnn_004_works_with_the_course_helpers():
    model = sm.cnn_004("after", input_shape=(14, 14, 1), width=0.25, logits=True)
    x = np.random.default_rng(3).random((40, 14, 14, 1)).astype(np.float32)
    y = np.arange(40) % 10
    assert st.precise_bn(model, x) == 3
    assert 0 <= st.accuracy(model, x, y) <= 1
    train = st.make_plain_trainer(model, keras.optimizers.Adam(), x, y, last=2)
    assert np.isfinite(train(np.arange(32).reshape(4, 8)))


def test_cnn_004_published_input_warns_and_matches():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        published = sm.cnn_004(published_input=True)
    assert isinstance(published, keras.Sequential)
    assert any("input_shape" in str(w.message) for w in caught)
    assert published.count_params() == sm.cnn_004().count_params()


# ------------------------------------------------------------------------- helpers, errors


def test_pool_2x2():
    x = np.arange(2 * 4 * 4, dtype=np.float64).reshape(2, 4, 4)
    before = x.copy()
    out = sm.pool_2x2(x)
    assert out.shape == (2, 2, 2) and out.dtype == np.float32
    assert out[0, 0, 0] == np.mean([0, 1, 4, 5])
    np.testing.assert_array_equal(x, before)  # the input is not modified
    assert sm.pool_2x2(np.zeros((3, 28, 28, 1))).shape == (3, 14, 14, 1)


@pytest.mark.parametrize("bad", [np.zeros((4, 5, 4)), np.zeros((4, 4)), np.zeros((2, 4, 4, 1, 1))])
def test_pool_2x2_rejects_bad_shapes(bad):
    with pytest.raises(ValueError, match="images"):
        sm.pool_2x2(bad)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"bn": 1}, TypeError, "bn"),
        ({"bn": True, "width": 0}, ValueError, "width"),
        ({"bn": True, "width": "half"}, TypeError, "width"),
        ({"bn": True, "input_shape": (28, 28, 1)}, ValueError, "input_shape"),
        ({"bn": True, "input_shape": 28}, TypeError, "input_shape"),
        ({"bn": True, "logits": "yes"}, TypeError, "logits"),
    ],
)
def test_mlp_003_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        sm.mlp_003(**kwargs)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"placement": "middle"}, ValueError, "placement"),
        ({"placement": True}, ValueError, "placement"),
        ({"input_shape": (28, 28)}, ValueError, "input_shape"),
        ({"input_shape": (5, 5, 1)}, ValueError, "input_shape"),
        ({"width": -1}, ValueError, "width"),
        ({"published_input": None}, TypeError, "published_input"),
    ],
)
def test_cnn_004_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        sm.cnn_004(**kwargs)


def test_layer_sequence_rejects_non_models():
    with pytest.raises(TypeError, match="model"):
        sm.layer_sequence([keras.layers.Dense(3)])
