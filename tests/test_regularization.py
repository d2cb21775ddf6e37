"""Tests of bncourse.regularization: the gap model is a stack with dropout, gap_run scores it, and
l2_adam adds the L2 penalty's gradient to the kernels only.

Tiny networks on random data (12 inputs, 3 classes) so the file runs in seconds.
"""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from bncourse import regularization as rg  # noqa: E402


def _data(seed=0, rows=96, classes=3):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, 12)).astype(np.float32)
    return x, rng.integers(classes, size=rows).astype(np.int32)


def test_gap_model_shapes_and_layers():
    model = rg.gap_model(4, (8, 6), "before", dropout=0.5, n_in=12)
    assert model.output.shape[1:] == (4, 10)
    assert sum(isinstance(layer, keras.layers.Dropout) for layer in model.layers) == 2
    assert sum(isinstance(layer, keras.layers.BatchNormalization) for layer in model.layers) == 2
    plain = rg.gap_model(4, (8,), "none", n_in=12)
    assert not any(
        isinstance(layer, (keras.layers.Dropout, keras.layers.BatchNormalization))
        for layer in plain.layers
    )


def test_dropout_is_inactive_in_inference():
    model = rg.gap_model(3, (8,), "none", dropout=0.5, n_in=12)
    x = np.random.default_rng(1).normal(size=(5, 3, 12)).astype(np.float32)
    np.testing.assert_array_equal(model(x, training=False), model(x, training=False))


@pytest.mark.parametrize("rate", [-0.1, 1.0])
def test_bad_dropout_rate(rate):
    with pytest.raises(ValueError, match="dropout"):
        rg.gap_model(2, (4,), "none", dropout=rate)


def test_gap_run_scores_and_is_deterministic():
    x, y = _data()
    xt, yt = _data(seed=1, rows=60)
    kwargs = dict(n=3, widths=(16,), placement="before", batch=16, epochs=2, seed=5)
    a = rg.gap_run(x, y, xt, yt, **kwargs)
    b = rg.gap_run(x, y, xt, yt, **kwargs)
    assert set(a) == {"train", "test", "gap", "hidden_norm"}
    for key in a:
        assert a[key].shape == (3,)
        np.testing.assert_array_equal(a[key], b[key])
    np.testing.assert_allclose(a["gap"], a["train"] - a["test"])
    assert np.all((a["train"] >= 0) & (a["train"] <= 1))
    # precise BN: the test rows are scored with statistics of the training rows, in inference mode
    assert np.all((a["test"] >= 0) & (a["test"] <= 1))


def test_kernels_lists_hidden_and_output_kernels():
    model = rg.gap_model(4, (8, 6), "before", n_in=12)
    shapes = [tuple(k.shape) for k in rg.kernels(model)]
    assert shapes == [(4, 12, 8), (4, 8, 6), (4, 6, 10)]
    with pytest.raises(TypeError, match="model"):
        rg.kernels("not a model")


def test_l2_adam_is_adam_on_the_penalized_loss():
    # one step of l2_adam with loss gradient g must equal one step of Adam with g + 2 * l2 * w
    rng = np.random.default_rng(3)
    w0 = rng.normal(size=(3, 4, 2)).astype(np.float32)
    b0 = rng.normal(size=(3, 2)).astype(np.float32)
    g_w = rng.normal(size=w0.shape).astype(np.float32)
    g_b = rng.normal(size=b0.shape).astype(np.float32)
    l2 = np.array([0.0, 0.1, 0.5])

    def step(optimizer, grads, penalized):
        w, b = keras.Variable(w0.copy()), keras.Variable(b0.copy())
        opt = optimizer([w] if penalized else [])
        opt.apply_gradients(zip(grads, [w, b]))
        return w.numpy(), b.numpy()

    w_l2, b_l2 = step(lambda v: rg.l2_adam(v, l2, learning_rate=0.01), [g_w, g_b], True)
    by_hand = g_w + 2 * l2[:, None, None].astype(np.float32) * w0
    w_ref, b_ref = step(lambda v: keras.optimizers.Adam(0.01), [by_hand, g_b], False)
    np.testing.assert_allclose(w_l2, w_ref, rtol=0, atol=1e-6)
    np.testing.assert_array_equal(b_l2, b_ref)  # the bias is not penalized
    np.testing.assert_array_equal(w0, w0.copy())  # inputs untouched
    # scalar l2 and the all-zero case (plain Adam)
    w_s, _ = step(lambda v: rg.l2_adam(v, 0.1, learning_rate=0.01), [g_w, g_b], True)
    w_s_ref, _ = step(
        lambda v: keras.optimizers.Adam(0.01), [g_w + np.float32(0.2) * w0, g_b], False
    )
    np.testing.assert_allclose(w_s, w_s_ref, rtol=0, atol=1e-6)
    assert type(rg.l2_adam([], 0.0)) is keras.optimizers.Adam


@pytest.mark.parametrize(
    "l2, error",
    [
        (-1e-3, ValueError),
        (np.nan, ValueError),
        ([[1e-3]], ValueError),
        ([1e-3, 1e-3], ValueError),
        ("big", TypeError),
    ],
)
def test_bad_l2(l2, error):
    w = keras.Variable(np.zeros((3, 4, 2), np.float32))
    with pytest.raises(error, match="l2"):
        rg.l2_adam([w], l2)


def test_gap_run_l2_shrinks_the_hidden_kernels():
    x, y = _data()
    xt, yt = _data(seed=1, rows=60)
    kwargs = dict(n=2, widths=(16,), placement="before", batch=16, epochs=3, seed=7)
    plain = rg.gap_run(x, y, xt, yt, **kwargs)
    decayed = rg.gap_run(x, y, xt, yt, l2=0.5, **kwargs)
    assert plain["hidden_norm"].shape == (2,)
    assert np.all(decayed["hidden_norm"] < plain["hidden_norm"])
