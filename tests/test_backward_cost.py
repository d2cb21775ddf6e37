"""Tests of bncourse.backward_cost (chapter 4's count of passes over a full array)."""

import numpy as np

import bnlib
from bncourse.backward_cost import count_passes


def test_counts_elementwise_and_reductions_not_views_or_small_arrays():
    x = np.ones((4, 3))
    v = np.ones(3)

    def fn(a, b):
        c = a * 2.0  # 1 pass
        s = c.sum(axis=0)  # 1 pass (reads the full array)
        t = s * b  # small: not a pass
        _ = np.broadcast_to(t, a.shape)  # a view: not a pass
        return c - t  # 1 pass

    assert count_passes(fn, x, v, full_size=x.size) == 3


def test_results_unchanged_and_bnlib_counted():
    rng = np.random.default_rng(0)
    x, dout = rng.normal(size=(6, 5)), rng.normal(size=(6, 5))
    _, cache = bnlib.batch_norm_forward(x, np.ones(5), np.zeros(5))
    # bnlib's compact backward: dout*gamma, mean, dx_hat*x_hat, mean, x_hat*(.), two subtractions,
    # times inv_std, dout*x_hat, sum, sum: 11 passes.
    assert count_passes(bnlib.batch_norm_backward, dout, cache, full_size=x.size) == 11
    assert bnlib.batch_norm_backward(dout, cache)[0].__class__ is np.ndarray
