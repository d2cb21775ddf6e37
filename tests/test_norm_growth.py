"""Tests of bncourse.norm_growth: plain SGD on stacked BN networks, with per-step records.

Small networks (12 inputs, 6 hidden units, 3 classes) on random data, so the file runs in a few
seconds. A stacked network must train exactly like the same network alone (float32 rounding:
the stack's einsum sums in another order, so records agree to about 1e-5 relative), and the
records must obey what scale invariance implies: the weights feeding BN get gradients orthogonal
to them, so ||W||^2 grows by lr^2 ||g||^2 per step up to epsilon (1e-3 relative for weights of
order 1, where epsilon = 1e-3 is small against the variance of the pre-activations).
"""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")
pytest.importorskip("tensorflow")

from bncourse import norm_growth as ng  # noqa: E402
from bncourse import stacked as st  # noqa: E402

N_IN, UNITS, CLASSES = 12, 6, 3


def _data(rows=64, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(rows, N_IN)).astype(np.float32), rng.integers(
        CLASSES, size=rows
    ).astype(np.int32)


def _stack(n, init_std=1.0, seed=3):
    keras.utils.set_random_seed(seed)
    return ng.bn_mlp_stack(n, units=UNITS, n_in=N_IN, n_out=CLASSES, init_std=init_std)


def test_bn_mlp_stack_shapes_and_initial_scale():
    model, kernel = _stack(4, init_std=0.01)
    assert tuple(kernel.shape) == (4, N_IN, UNITS)
    assert model(np.zeros((5, 4, N_IN), np.float32)).shape == (5, 4, CLASSES)
    k = np.asarray(kernel)
    assert 0.005 < k.std() < 0.02  # 288 normal draws with sd 0.01
    assert any(isinstance(layer, keras.layers.BatchNormalization) for layer in model.layers)


@pytest.mark.parametrize(
    "kwargs", [dict(n=0), dict(n=2, units=0), dict(n=2, init_std=0.0), dict(n=2, init_std=-1.0)]
)
def test_bn_mlp_stack_rejects_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        ng.bn_mlp_stack(**kwargs)


def test_records_have_one_row_per_step_and_one_column_per_network():
    x, y = _data()
    model, kernel = _stack(3)
    w0 = np.linalg.norm(np.asarray(kernel).reshape(3, -1), axis=1)
    idx = st.batch_indices(3, 7, 16, 5, len(x))
    rec = ng.sgd_with_norms(model, kernel, x, y, idx, 0.1)
    assert set(rec) == set(ng.RECORDS)
    assert all(v.shape == (7, 3) for v in rec.values())
    np.testing.assert_allclose(rec["w_norm"][0], w0, rtol=1e-6)  # recorded before the first update
    assert np.all((rec["max_cos"] >= 0) & (rec["max_cos"] <= 1 + 1e-6))
    assert np.all(rec["loss"] > 0) and np.all(rec["g_norm"] > 0)


def test_the_norm_grows_as_orthogonality_predicts():
    x, y = _data(rows=256)
    model, kernel = _stack(2, init_std=1.0)
    lr = 0.2
    rec = ng.sgd_with_norms(model, kernel, x, y, st.batch_indices(2, 30, 64, 1, len(x)), lr)
    w, g = rec["w_norm"], rec["g_norm"]
    np.testing.assert_allclose(w[1:] ** 2, w[:-1] ** 2 + lr**2 * g[:-1] ** 2, rtol=1e-3)
    assert np.all(np.diff(w, axis=0) > 0)
    assert rec["max_cos"].max() < 0.05


def test_a_stacked_network_trains_like_the_same_network_alone():
    x, y = _data(rows=128)
    model, kernel = _stack(3)
    alone, alone_kernel = _stack(1, seed=99)
    st.copy_network(model, 1, alone)
    idx = st.batch_indices(3, 10, 32, 2, len(x))
    rec = ng.sgd_with_norms(model, kernel, x, y, idx, 0.1)
    rec1 = ng.sgd_with_norms(alone, alone_kernel, x, y, idx[:, :, 1:2], 0.1)
    for name in ng.RECORDS:
        np.testing.assert_allclose(
            rec[name][:, 1], rec1[name][:, 0], rtol=2e-4, atol=1e-6, err_msg=name
        )


def test_sgd_with_norms_rejects_bad_input():
    x, y = _data()
    model, kernel = _stack(2)
    other, other_kernel = _stack(2)
    good = st.batch_indices(2, 3, 8, 0, len(x))
    with pytest.raises(ValueError, match="idx"):
        ng.sgd_with_norms(model, kernel, x, y, good[:, :, :1], 0.1)
    with pytest.raises(ValueError, match="rows"):
        ng.sgd_with_norms(model, kernel, x, y, good + len(x), 0.1)
    with pytest.raises(ValueError, match="kernel"):
        ng.sgd_with_norms(model, other_kernel, x, y, good, 0.1)
