"""The gradient-checking tools themselves: numerical_gradient and rel_error."""

from __future__ import annotations

import numpy as np
import pytest

from bnlib import numerical_gradient, rel_error

# For smooth functions of O(1) inputs, centred differences with h = 1e-5 in float64 have a
# truncation error ~h**2 = 1e-10 (times the third derivative) and a rounding error ~eps/h ~ 1e-11.
# Measured relative errors below are 6e-12 .. 8e-12; 1e-9 is the stated bound.
TOL = 1e-9


def test_gradient_of_elementwise_cube(rng):
    x = rng.normal(size=(5, 4))
    dout = rng.normal(size=(5, 4))
    grad = numerical_gradient(lambda v: v**3, x, dout)
    assert grad.shape == x.shape and grad.dtype == np.float64
    assert rel_error(grad, 3 * x**2 * dout) < TOL


def test_gradient_of_a_matrix_product(rng):
    x = rng.normal(size=(5, 4))
    w = rng.normal(size=(4, 3))
    dout = rng.normal(size=(5, 3))  # dL/d(x @ w)
    assert rel_error(numerical_gradient(lambda v: v @ w, x, dout), dout @ w.T) < TOL
    assert rel_error(numerical_gradient(lambda v: x @ v, w, dout), x.T @ dout) < TOL


def test_gradient_of_a_scalar_function(rng):
    x = rng.normal(size=(3, 2, 2))
    grad = numerical_gradient(lambda v: np.sum(np.sin(v)), x, 1.0)  # scalar f, scalar dout
    assert rel_error(grad, np.cos(x)) < TOL


def test_it_is_a_centred_difference_with_step_h(rng):
    # For f(x) = x**3 the centred difference is exact up to one known term:
    # ((x + h)**3 - (x - h)**3) / (2h) = 3 x**2 + h**2. A one-sided difference would be off by
    # ~3 x h instead, and a different step by a different h**2.
    x = rng.normal(size=(4, 3))
    dout = rng.normal(size=(4, 3))
    h = 1e-2
    grad = numerical_gradient(lambda v: v**3, x, dout, h=h)
    np.testing.assert_allclose(grad, (3 * x**2 + h**2) * dout, rtol=1e-9, atol=1e-12)


def test_float32_input_is_differentiated_in_float64(rng):
    x = rng.normal(size=(4, 3)).astype(np.float32)
    dout = rng.normal(size=(4, 3)).astype(np.float32)
    grad = numerical_gradient(lambda v: v**3, x, dout)
    assert grad.dtype == np.float64
    # Had the perturbed point been float32, x + 1e-5 would round to ~1e-7 relative and the
    # result would be off by ~1e-2; in float64 it is as accurate as for float64 input.
    expected = 3 * x.astype(np.float64) ** 2 * dout.astype(np.float64)
    assert rel_error(grad, expected) < TOL


def test_does_not_modify_x_or_dout_and_protects_against_a_mutating_f(rng, unchanged):
    x = rng.normal(size=(4, 3))
    dout = rng.normal(size=(4, 3))
    for readonly in (False, True):
        with unchanged(x, dout, readonly=readonly):
            grad = numerical_gradient(lambda v: v**3, x, dout)
        assert rel_error(grad, 3 * x**2 * dout) < TOL

    def careless(v):  # writes into its argument, which the docstring forbids
        out = v**2
        v[...] = 0.0
        return out

    with unchanged(x, dout):
        grad = numerical_gradient(careless, x, dout)
    assert rel_error(grad, 2 * x * dout) < TOL  # f gets a copy each call, so it cannot interfere


def test_rel_error_values(rng):
    a = rng.normal(size=(6, 4))
    b = rng.normal(size=(6, 4))
    assert rel_error(a, a) == 0.0
    assert rel_error(a, a.copy()) == 0.0
    assert rel_error(np.zeros((3, 2)), np.zeros((3, 2))) == 0.0  # not 0/0
    assert rel_error(np.zeros(0), np.zeros(0)) == 0.0
    assert rel_error(a, b) == rel_error(b, a)  # symmetric
    assert rel_error(a, -a) == 1.0  # the largest possible value
    assert 0.3 < rel_error(a, b) <= 1.0  # unrelated arrays: order 1 (measured 0.5 .. 0.8)
    # A known value: max|a - b| = 0.1, max|a| + max|b| = 2 + 2.1.
    assert rel_error([1.0, 2.0], [1.0, 2.1]) == pytest.approx(0.1 / 4.1, rel=1e-14)
    assert rel_error(np.ones(3), np.zeros(3)) == 1.0


@pytest.mark.parametrize("scale", [1e-8, 1e-3, 1e3, 1e8])
def test_rel_error_is_scale_free(rng, scale):
    a = rng.normal(size=(6, 4))
    b = a + 1e-6 * rng.normal(size=(6, 4))
    assert rel_error(scale * a, scale * b) == pytest.approx(rel_error(a, b), rel=1e-9)


def test_rel_error_of_float32_rounding_is_about_float32_epsilon(rng):
    a = rng.normal(size=(100,))
    err = rel_error(a, a.astype(np.float32))
    # Each value moves by at most half an ulp, 2**-24 relative, and the error is divided by
    # max|a| + max|b| ~ 2 max|a|, so the result is at most 2**-25 and well above float64 noise.
    assert 1e-10 < err <= 2.0**-25


def test_non_contiguous_input_is_differentiated(rng):
    # A transposed view is not C-contiguous; the gradient must still be perturbed element by element.
    x = rng.normal(size=(4, 3)).T
    assert not x.flags.c_contiguous
    grad = numerical_gradient(lambda v: v**3, x, np.ones_like(x))
    np.testing.assert_allclose(grad, 3 * x**2, rtol=1e-8, atol=1e-10)
