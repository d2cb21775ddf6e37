"""Tests of bncourse.regularization: the gap model is a stack with dropout, and gap_run scores it.

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
    assert not any(isinstance(layer, (keras.layers.Dropout, keras.layers.BatchNormalization))
                   for layer in plain.layers)


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
    assert set(a) == {"train", "test", "gap"}
    for key in a:
        assert a[key].shape == (3,)
        np.testing.assert_array_equal(a[key], b[key])
    np.testing.assert_allclose(a["gap"], a["train"] - a["test"])
    assert np.all((a["train"] >= 0) & (a["train"] <= 1))
    # precise BN: the test rows are scored with statistics of the training rows, in inference mode
    assert np.all((a["test"] >= 0) & (a["test"] <= 1))
