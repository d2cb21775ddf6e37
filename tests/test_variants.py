"""bnlib.variants: layer, instance and group normalization, batch renormalization and weight
normalization (chapter 7).

Forward passes are compared with the formulas written out directly in float64 (rtol 1e-12).
Backward passes are compared with centred differences (``bnlib.numerical_gradient``, h = 1e-5) in
float64 against a *random* upstream gradient; the brief's bound is a relative error below 1e-7.
Measured worst case over 30 seeds for every case below: 9.6e-10
(over dx, dgamma and dbeta of every method; 3.7e-11 for weight normalization's dv and dg), i.e.
about 100x below the bound. A wrong formula (a missing term of the compact backward pass,
statistics over the wrong axes) gives 1e-2 .. 1.

Parity with Keras 3 (TensorFlow backend) is at float32 tolerance: both sides get the same float32
inputs; Keras reduces in float32 and computes ``x * inv - mean * inv``, bnlib accumulates its
statistics in float64, so they agree to a few float32 epsilons (eps = 2**-23 ~ 1.19e-7) times the
magnitude ``S`` of the terms involved (see ``compare_training_call``; with
``x_mag = (|x| + |mean|) / sqrt(var + epsilon)``, S is max |gamma| * x_mag + |beta| for y, and the
analogous sums for the gradients):

    max |bnlib - keras| <= ULPS * eps * S.

Measured worst cases of max |bnlib - keras| / (eps * S) over 30 seeds: y 1.3, dx 0.65,
dgamma 0.62, dbeta 1.2 (layer, group and instance normalization, batch renormalization over 8
training steps); the renorm moving statistics 1.6 (3.2 for moving_variance = stddev**2 - epsilon);
inference after renorm 0.74. ULPS = 8 is 2.5x the largest. A formula error is far larger:
epsilon 1e-5 instead of 1e-3 moves y by ~500 eps * S or more.
"""

from __future__ import annotations

import numpy as np
import pytest

import bnlib
from bnlib import (
    BatchRenormCache,
    NormCache,
    WeightNormCache,
    batch_norm_backward,
    batch_norm_forward,
    batch_norm_inference,
    batch_renorm_backward,
    batch_renorm_forward,
    batch_renorm_update,
    group_norm_backward,
    group_norm_forward,
    instance_norm_backward,
    instance_norm_forward,
    layer_norm_backward,
    layer_norm_forward,
    numerical_gradient,
    rel_error,
    weight_norm_backward,
    weight_norm_forward,
)

# Keras and TensorFlow are imported only by the Keras comparisons at the end (through the
# keras_seed fixture), so the numpy-only tests run when TensorFlow is not installed.
keras = tf = None

EPS = 1e-3
GRAD_TOL = 1e-7  # the brief's bound; measured <= 9.6e-10, see the module docstring
F32_EPS = float(np.finfo(np.float32).eps)
ULPS = 8  # measured <= 3.2; see the module docstring

NHWC = (3, 4, 5, 6)  # N, H, W, C: every size different, C = 6 has groups 1, 2, 3, 6
NCHW = (3, 6, 4, 5)


def sample(rng, shape, channel_axis=-1):
    """Data whose channels have clearly different means and scales (as conftest's layouts)."""
    c = shape[channel_axis]
    bshape = [1] * len(shape)
    bshape[channel_axis] = c
    loc = (3.0 * np.arange(c) - 2.0).reshape(bshape)
    scale = rng.uniform(0.5, 3.0, c).reshape(bshape)
    return loc + scale * rng.standard_normal(shape)


def affine(rng, shape):
    gamma = rng.uniform(0.5, 2.0, shape) * rng.choice([-1.0, 1.0], shape)
    return gamma, rng.normal(size=shape)


def reference_standardize(x, axes, epsilon=EPS):
    x = np.asarray(x, np.float64)
    mean = x.mean(axis=axes, keepdims=True)
    var = x.var(axis=axes, keepdims=True)
    return (x - mean) / np.sqrt(var + epsilon)


def reference_group_norm(x, gamma, beta, groups, epsilon=EPS):
    """Group normalization for channels-last x, written out with a reshape."""
    c = x.shape[-1]
    xg = x.reshape(x.shape[:-1] + (groups, c // groups))
    axes = tuple(range(1, x.ndim - 1)) + (x.ndim,)
    return reference_standardize(xg, axes, epsilon).reshape(x.shape) * gamma + beta


def check_gradients(forward, backward, x, params, dout, tol=GRAD_TOL):
    """Analytic gradients of forward(x, *params) against centred differences; returns the errors."""
    _, cache = forward(x, *params)
    grads = backward(dout, cache)
    errors = [rel_error(grads[0], numerical_gradient(lambda v: forward(v, *params)[0], x, dout))]
    for i, p in enumerate(params):

        def f(t, i=i):
            ps = list(params)
            ps[i] = t
            return forward(x, *ps)[0]

        errors.append(rel_error(grads[i + 1], numerical_gradient(f, p, dout)))
    assert max(errors) < tol, errors
    return errors


# ---------------------------------------------------------------------------------------------
# Layer normalization


@pytest.mark.parametrize(
    ("shape", "axis"),
    [((6, 4), -1), (NHWC, -1), (NHWC, (1, 2, 3)), (NHWC, (3, 1)), (NCHW, 1)],
    ids=["dense", "nhwc-channels", "nhwc-all", "nhwc-unsorted-axes", "nchw-channels"],
)
def test_layer_norm_forward_and_gradients(rng, shape, axis):
    x = sample(rng, shape)
    axes = tuple(sorted(a % len(shape) for a in np.atleast_1d(axis)))
    pshape = tuple(shape[a] for a in axes)
    gamma, beta = affine(rng, pshape)
    y, cache = layer_norm_forward(x, gamma, beta, axis=axis)
    bshape = tuple(shape[i] if i in axes else 1 for i in range(len(shape)))
    expected = reference_standardize(x, axes) * gamma.reshape(bshape) + beta.reshape(bshape)
    np.testing.assert_allclose(y, expected, rtol=1e-12, atol=1e-13)
    assert isinstance(cache, NormCache) and cache.kind == "layer" and cache.param_shape == pshape
    dout = rng.standard_normal(shape)
    check_gradients(
        lambda v, g, b: layer_norm_forward(v, g, b, axis=axis),
        layer_norm_backward,
        x,
        [gamma, beta],
        dout,
    )


def test_layer_norm_does_not_depend_on_the_rest_of_the_batch(rng):
    x = sample(rng, NHWC)
    gamma, beta = affine(rng, (6,))
    y, _ = layer_norm_forward(x, gamma, beta)
    y0, _ = layer_norm_forward(x[:1], gamma, beta)
    np.testing.assert_array_equal(y0, y[:1])


# ---------------------------------------------------------------------------------------------
# Instance and group normalization


@pytest.mark.parametrize("shape", [NHWC, (4, 7, 3)], ids=["nhwc", "nlc"])
def test_instance_norm_forward_and_gradients(rng, shape):
    x = sample(rng, shape)
    gamma, beta = affine(rng, (shape[-1],))
    y, cache = instance_norm_forward(x, gamma, beta)
    spatial = tuple(range(1, len(shape) - 1))
    np.testing.assert_allclose(
        y, reference_standardize(x, spatial) * gamma + beta, rtol=1e-12, atol=1e-13
    )
    assert cache.kind == "instance"
    check_gradients(
        instance_norm_forward, instance_norm_backward, x, [gamma, beta], rng.standard_normal(shape)
    )


@pytest.mark.parametrize("groups", [1, 2, 3, 6])
def test_group_norm_forward_and_gradients(rng, groups):
    x = sample(rng, NHWC)
    gamma, beta = affine(rng, (6,))
    y, cache = group_norm_forward(x, gamma, beta, groups=groups)
    np.testing.assert_allclose(
        y, reference_group_norm(x, gamma, beta, groups), rtol=1e-12, atol=1e-13
    )
    assert cache.kind == "group" and cache.param_shape == (6,)
    check_gradients(
        lambda v, g, b: group_norm_forward(v, g, b, groups=groups),
        group_norm_backward,
        x,
        [gamma, beta],
        rng.standard_normal(NHWC),
    )


def test_group_norm_channels_first_equals_channels_last(rng):
    x = sample(rng, NHWC)
    gamma, beta = affine(rng, (6,))
    dout = rng.standard_normal(NHWC)
    y, cache = group_norm_forward(x, gamma, beta, groups=3)
    dx, dgamma, dbeta = group_norm_backward(dout, cache)
    # A contiguous copy: bnlib.numerical_gradient perturbs x through x.reshape(-1), which is a copy
    # (so the perturbation is lost) for a non-C-contiguous view such as np.moveaxis's.
    to_nchw = lambda a: np.ascontiguousarray(np.moveaxis(a, -1, 1))  # noqa: E731
    y1, cache1 = group_norm_forward(to_nchw(x), gamma, beta, groups=3, axis=1)
    dx1, dgamma1, dbeta1 = group_norm_backward(to_nchw(dout), cache1)
    np.testing.assert_allclose(y1, to_nchw(y), rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(dx1, to_nchw(dx), rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(dgamma1, dgamma, rtol=1e-12)
    np.testing.assert_allclose(dbeta1, dbeta, rtol=1e-12)
    check_gradients(
        lambda v, g, b: group_norm_forward(v, g, b, groups=2, axis=1),
        group_norm_backward,
        to_nchw(x),
        [gamma, beta],
        to_nchw(dout),
    )


def test_group_norm_extremes_are_instance_and_layer_norm(rng):
    x = sample(rng, NHWC)
    gamma, beta = affine(rng, (6,))
    y_in, _ = instance_norm_forward(x, gamma, beta)
    for groups in (6, -1):  # -1 means one group per channel, as in Keras
        np.testing.assert_allclose(
            group_norm_forward(x, gamma, beta, groups=groups)[0], y_in, rtol=1e-13, atol=1e-14
        )
    ones, zeros = np.ones((4, 5, 6)), np.zeros((4, 5, 6))
    y_ln, _ = layer_norm_forward(x, ones, zeros, axis=(1, 2, 3))
    y_gn, _ = group_norm_forward(x, np.ones(6), np.zeros(6), groups=1)
    np.testing.assert_allclose(y_gn, y_ln, rtol=1e-13, atol=1e-14)


def test_group_norm_on_dense_inputs(rng):
    x = sample(rng, (5, 8))
    gamma, beta = affine(rng, (8,))
    y, _ = group_norm_forward(x, gamma, beta, groups=2)
    np.testing.assert_allclose(y, reference_group_norm(x, gamma, beta, 2), rtol=1e-12, atol=1e-13)
    check_gradients(
        lambda v, g, b: group_norm_forward(v, g, b, groups=2),
        group_norm_backward,
        x,
        [gamma, beta],
        rng.standard_normal(x.shape),
    )


@pytest.mark.parametrize(
    "forward",
    [
        lambda x, g, b: layer_norm_forward(x, g, b),
        lambda x, g, b: instance_norm_forward(x, g, b),
        lambda x, g, b: group_norm_forward(x, g, b, groups=3),
    ],
    ids=["layer", "instance", "group"],
)
def test_float32_stays_float32(rng, forward):
    x = sample(rng, NHWC).astype(np.float32)
    y, _ = forward(x, np.ones(6, np.float32), np.zeros(6, np.float32))
    assert y.dtype == np.float32


# ---------------------------------------------------------------------------------------------
# Batch renormalization


def renorm_setup(rng, shape=(8, 5)):
    x = sample(rng, shape)
    gamma, beta = affine(rng, (shape[-1],))
    return x, gamma, beta


def test_batch_renorm_with_rmax_1_dmax_0_is_batch_norm(rng):
    x, gamma, beta = renorm_setup(rng)
    mm, ms = rng.normal(size=5), rng.uniform(0.5, 2.0, 5)
    dout = rng.standard_normal(x.shape)
    y, cache = batch_renorm_forward(x, gamma, beta, mm, ms, rmax=1.0, dmax=0.0)
    y_bn, cache_bn = batch_norm_forward(x, gamma, beta)
    np.testing.assert_array_equal(cache.r, 1.0)
    np.testing.assert_array_equal(cache.d, 0.0)
    np.testing.assert_allclose(y, y_bn, rtol=1e-13, atol=1e-14)
    for a, b in zip(batch_renorm_backward(dout, cache), batch_norm_backward(dout, cache_bn)):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


def test_batch_renorm_unclipped_output_is_the_inference_output(rng):
    x, gamma, beta = renorm_setup(rng)
    mm, ms = rng.normal(size=5), rng.uniform(0.5, 2.0, 5)
    y, cache = batch_renorm_forward(x, gamma, beta, mm, ms)  # default: no clipping, as Keras
    np.testing.assert_allclose(y, gamma * (x - mm) / ms + beta, rtol=1e-12, atol=1e-13)
    var = x.var(axis=0)
    np.testing.assert_allclose(cache.stddev, np.sqrt(var + EPS), rtol=1e-13)
    np.testing.assert_allclose(cache.r, np.sqrt(var + EPS) / ms, rtol=1e-13)
    np.testing.assert_allclose(cache.d, (x.mean(axis=0) - mm) / ms, rtol=1e-12, atol=1e-14)


def test_batch_renorm_gradients_where_r_and_d_are_clipped(rng):
    # Clipped r and d are constant in x, so the stop-gradient backward pass is the exact gradient
    # of the forward function: check it against centred differences of the forward pass itself.
    x, gamma, beta = renorm_setup(rng)
    mm, ms = np.full(5, -20.0), np.full(5, 0.05)  # far from the batch: r = rmax, d = dmax
    y, cache = batch_renorm_forward(x, gamma, beta, mm, ms, rmax=3.0, dmax=5.0)
    np.testing.assert_array_equal(cache.r, 3.0)
    np.testing.assert_array_equal(cache.d, 5.0)
    check_gradients(
        lambda v, g, b: batch_renorm_forward(v, g, b, mm, ms, rmax=3.0, dmax=5.0),
        batch_renorm_backward,
        x,
        [gamma, beta],
        rng.standard_normal(x.shape),
    )


@pytest.mark.parametrize("layout_name", ["dense", "nhwc", "nchw"])
def test_batch_renorm_gradients_hold_r_and_d_constant(rng, layout_name):
    shape, axis = {"dense": ((8, 5), -1), "nhwc": ((4, 3, 2, 5), -1), "nchw": ((4, 5, 3, 2), 1)}[
        layout_name
    ]
    x = sample(rng, shape, axis)
    gamma, beta = affine(rng, (5,))
    mean, var = bnlib.batch_statistics(x, axis=axis)
    mm = mean + rng.normal(scale=0.3, size=5)
    ms = np.sqrt(var + EPS) * rng.uniform(0.7, 1.4, 5)  # r and d inside the clipping range
    dout = rng.standard_normal(shape)
    y, cache = batch_renorm_forward(x, gamma, beta, mm, ms, rmax=3.0, dmax=5.0, axis=axis)
    assert np.all((cache.r > 1 / 3) & (cache.r < 3)) and np.all(np.abs(cache.d) < 5)
    dx, dgamma, dbeta = batch_renorm_backward(dout, cache)
    bshape = [1] * len(shape)
    bshape[axis] = 5
    r, d = cache.r.reshape(bshape), cache.d.reshape(bshape)

    def frozen(v, g=gamma, b=beta):
        # The forward pass with r and d held at this batch's values: x_hat from batch norm.
        x_hat = batch_norm_forward(v, np.ones(5), np.zeros(5), axis=axis)[0]
        return g.reshape(bshape) * (x_hat * r + d) + b.reshape(bshape)

    np.testing.assert_allclose(frozen(x), y, rtol=1e-12, atol=1e-13)
    assert rel_error(dx, numerical_gradient(frozen, x, dout)) < GRAD_TOL
    assert rel_error(dgamma, numerical_gradient(lambda g: frozen(x, g=g), gamma, dout)) < GRAD_TOL
    assert rel_error(dbeta, numerical_gradient(lambda b: frozen(x, b=b), beta, dout)) < GRAD_TOL
    # ...and it is *not* the full derivative, which also differentiates r and d.
    full = numerical_gradient(
        lambda v: batch_renorm_forward(v, gamma, beta, mm, ms, rmax=3.0, dmax=5.0, axis=axis)[0],
        x,
        dout,
    )
    assert rel_error(dx, full) > 1e-2


def test_batch_renorm_update(rng):
    x, gamma, beta = renorm_setup(rng)
    mm, ms = rng.normal(size=5), rng.uniform(0.5, 2.0, 5)
    _, cache = batch_renorm_forward(x, gamma, beta, mm, ms)
    new_mean, new_std = batch_renorm_update(mm, ms, cache, momentum=0.9)
    np.testing.assert_allclose(new_mean, 0.9 * mm + 0.1 * x.mean(axis=0), rtol=1e-13)
    np.testing.assert_allclose(new_std, 0.9 * ms + 0.1 * np.sqrt(x.var(axis=0) + EPS), rtol=1e-13)
    same = batch_renorm_update(mm, ms, cache, momentum=1.0)
    np.testing.assert_array_equal(same[0], mm)
    np.testing.assert_array_equal(same[1], ms)


# ---------------------------------------------------------------------------------------------
# Weight normalization


def test_weight_norm_forward_and_gradients(rng):
    v = rng.normal(size=(7, 4))
    g = rng.normal(size=4)
    w, cache = weight_norm_forward(v, g)
    assert isinstance(cache, WeightNormCache)
    np.testing.assert_allclose(np.linalg.norm(w, axis=0), np.abs(g), rtol=1e-13)
    np.testing.assert_allclose(w, g * v / np.linalg.norm(v, axis=0), rtol=1e-13)
    # Scaling v does not change w.
    np.testing.assert_allclose(weight_norm_forward(3.5 * v, g)[0], w, rtol=1e-13)
    dw = rng.standard_normal(v.shape)
    dv, dg = weight_norm_backward(dw, cache)
    assert (
        rel_error(dv, numerical_gradient(lambda t: weight_norm_forward(t, g)[0], v, dw)) < GRAD_TOL
    )
    assert (
        rel_error(dg, numerical_gradient(lambda t: weight_norm_forward(v, t)[0], g, dw)) < GRAD_TOL
    )
    # The gradient with respect to v is orthogonal to v, column by column.
    np.testing.assert_allclose(np.sum(dv * v, axis=0), 0.0, atol=1e-13)


# ---------------------------------------------------------------------------------------------
# No mutation of inputs


def test_no_function_modifies_its_inputs(rng, unchanged):
    x = sample(rng, NHWC)
    dout = rng.standard_normal(NHWC)
    g6, b6 = affine(rng, (6,))
    with unchanged(x, dout, g6, b6, readonly=True):
        for fwd, bwd in [
            (lambda: layer_norm_forward(x, g6, b6), layer_norm_backward),
            (lambda: instance_norm_forward(x, g6, b6), instance_norm_backward),
            (lambda: group_norm_forward(x, g6, b6, groups=3), group_norm_backward),
        ]:
            _, cache = fwd()
            bwd(dout, cache)
    mm, ms = rng.normal(size=6), rng.uniform(0.5, 2.0, 6)
    with unchanged(x, dout, g6, b6, mm, ms, readonly=True):
        _, cache = batch_renorm_forward(x, g6, b6, mm, ms, rmax=3.0, dmax=5.0)
        batch_renorm_backward(dout, cache)
        batch_renorm_update(mm, ms, cache)
    v, g, dw = rng.normal(size=(5, 3)), rng.normal(size=3), rng.normal(size=(5, 3))
    with unchanged(v, g, dw, readonly=True):
        _, cache = weight_norm_forward(v, g)
        weight_norm_backward(dw, cache)


def test_caches_do_not_alias_the_inputs(rng):
    # A cache that shares memory with an input would change if the caller later edits the input.
    v, g = rng.normal(size=(5, 3)), rng.normal(size=3)
    _, cache = weight_norm_forward(v, g)
    assert not np.shares_memory(cache.g, g)
    x = sample(rng, (6, 4))
    _, cache = layer_norm_forward(x, np.ones(4), np.zeros(4))
    assert not np.shares_memory(cache.x_hat, x)


# ---------------------------------------------------------------------------------------------
# Bad input: every error names the argument


X4 = np.random.default_rng(0).normal(size=NHWC)
G6, B6 = np.ones(6), np.zeros(6)


def _ln(x=X4, gamma=G6, beta=B6, **kw):
    return layer_norm_forward(x, gamma, beta, **kw)


def _in(x=X4, gamma=G6, beta=B6, **kw):
    return instance_norm_forward(x, gamma, beta, **kw)


def _gn(x=X4, gamma=G6, beta=B6, groups=3, **kw):
    return group_norm_forward(x, gamma, beta, groups=groups, **kw)


def _rn(x=X4, moving_mean=None, moving_stddev=None, **kw):
    moving_mean = np.zeros(6) if moving_mean is None else moving_mean
    moving_stddev = np.ones(6) if moving_stddev is None else moving_stddev
    return batch_renorm_forward(x, G6, B6, moving_mean, moving_stddev, **kw)


def _wn(v=None, g=None):
    v = np.ones((3, 2)) if v is None else v
    g = np.ones(2) if g is None else g
    return weight_norm_forward(v, g)


REJECTS = {  # id: (function, arguments, exception, message pattern)
    "ln-gamma-shape": (_ln, dict(gamma=np.ones(5)), ValueError, r"^gamma must have shape \(6,\)"),
    "ln-beta-shape": (_ln, dict(beta=np.zeros(7)), ValueError, r"^beta must have shape \(6,\)"),
    "ln-gamma-for-3-axes": (
        _ln,
        dict(axis=(1, 2, 3)),
        ValueError,
        r"^gamma must have shape \(4, 5, 6\)",
    ),
    "ln-batch-axis": (_ln, dict(axis=0), ValueError, r"^axis must not include the batch axis"),
    "ln-axis-range": (_ln, dict(axis=4), ValueError, r"^axis=4 is out of range"),
    "ln-no-axis": (_ln, dict(axis=()), ValueError, r"^axis must name at least one axis"),
    "ln-repeated-axis": (_ln, dict(axis=(3, -1)), ValueError, r"^axis must not repeat"),
    "ln-float-axis": (_ln, dict(axis=1.0), TypeError, r"^axis must be an integer"),
    "ln-epsilon": (_ln, dict(epsilon=0.0), ValueError, r"^epsilon must be a positive"),
    "ln-x-1d": (_ln, dict(x=X4[0, 0, 0]), ValueError, r"^x must have at least 2 dimensions"),
    "ln-x-empty": (_ln, dict(x=np.zeros((0, 6))), ValueError, r"^x must not be empty"),
    "ln-x-nan": (_ln, dict(x=X4 * np.nan), ValueError, r"^x contains 360 NaN"),
    "in-no-spatial-axis": (
        _in,
        dict(x=X4[:, 0, 0]),
        ValueError,
        r"^x must have shape \(N, H, W, C\)",
    ),
    "in-gamma-shape": (_in, dict(gamma=np.ones(4)), ValueError, r"^gamma must have shape \(6,\)"),
    "in-epsilon": (_in, dict(epsilon=-1.0), ValueError, r"^epsilon must be a positive"),
    "in-x-string": (_in, dict(x="x"), TypeError, r"^x must be an array of numbers"),
    "gn-groups-4": (
        _gn,
        dict(groups=4),
        ValueError,
        r"^groups=4 must divide the number of channels",
    ),
    "gn-keras-default-32": (
        group_norm_forward,
        dict(x=X4, gamma=G6, beta=B6),
        ValueError,
        r"^groups=32 must divide",
    ),
    "gn-groups-0": (_gn, dict(groups=0), ValueError, r"^groups must be a positive integer or -1"),
    "gn-groups-float": (_gn, dict(groups=2.0), TypeError, r"^groups must be an integer"),
    "gn-batch-axis": (_gn, dict(axis=0), ValueError, r"^axis must be a channel axis"),
    "gn-gamma-for-axis-1": (
        _gn,
        dict(groups=2, axis=1),
        ValueError,
        r"^gamma must have shape \(4,\)",
    ),
    "gn-epsilon-nan": (_gn, dict(epsilon=np.nan), ValueError, r"^epsilon must be finite"),
    "rn-moving-mean-shape": (
        _rn,
        dict(moving_mean=np.zeros(5)),
        ValueError,
        r"^moving_mean must have shape \(6,\)",
    ),
    "rn-moving-stddev-zero": (
        _rn,
        dict(moving_stddev=np.zeros(6)),
        ValueError,
        r"^moving_stddev must be positive",
    ),
    "rn-rmax-below-1": (_rn, dict(rmax=0.5), ValueError, r"^rmax must be a number >= 1"),
    "rn-dmax-negative": (_rn, dict(dmax=-1.0), ValueError, r"^dmax must be a number >= 0"),
    "rn-rmax-string": (_rn, dict(rmax="3"), TypeError, r"^rmax must be a real number"),
    "rn-axis-range": (_rn, dict(axis=5), ValueError, r"^axis=5 is out of range"),
    "rn-epsilon": (_rn, dict(epsilon=0), ValueError, r"^epsilon must be a positive"),
    "wn-v-3d": (
        _wn,
        dict(v=np.ones((3, 4, 2))),
        ValueError,
        r"^v must be a dense kernel of shape \(D_in, C\)",
    ),
    "wn-g-shape": (
        _wn,
        dict(v=np.ones((3, 4)), g=np.ones(3)),
        ValueError,
        r"^g must have shape \(4,\)",
    ),
    "wn-zero-column": (
        _wn,
        dict(v=np.array([[1.0, 0.0], [2.0, 0.0]])),
        ValueError,
        r"^v must have no all-zero column",
    ),
    "wn-g-inf": (
        _wn,
        dict(g=np.array([1.0, np.inf])),
        ValueError,
        r"^g contains 1 NaN or infinite",
    ),
}


@pytest.mark.parametrize(
    ("function", "kwargs", "exc", "match"), REJECTS.values(), ids=REJECTS.keys()
)
def test_forward_rejects(function, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        function(**kwargs)


def test_backward_rejects_wrong_cache_and_dout(rng):
    x = sample(rng, NHWC)
    _, ln = layer_norm_forward(x, G6, B6)
    _, gn = group_norm_forward(x, G6, B6, groups=3)
    _, inn = instance_norm_forward(x, G6, B6)
    _, rn = batch_renorm_forward(x, G6, B6, np.zeros(6), np.ones(6))
    _, bn = batch_norm_forward(x, G6, B6)
    _, wn = weight_norm_forward(np.ones((3, 2)), np.ones(2))
    dout = np.ones(NHWC)
    with pytest.raises(
        TypeError,
        match=r"^cache must be the NormCache returned by group_norm_forward, got a layer cache",
    ):
        group_norm_backward(dout, ln)
    with pytest.raises(
        TypeError,
        match=r"^cache must be the NormCache returned by layer_norm_forward, got a BatchNormCache",
    ):
        layer_norm_backward(dout, bn)
    with pytest.raises(
        TypeError, match=r"^cache must be the NormCache returned by instance_norm_forward"
    ):
        instance_norm_backward(dout, gn)
    with pytest.raises(TypeError, match=r"^cache must be the BatchRenormCache"):
        batch_renorm_backward(dout, bn)
    with pytest.raises(TypeError, match=r"^cache must be the BatchRenormCache"):
        batch_renorm_update(np.zeros(6), np.ones(6), ln)
    with pytest.raises(TypeError, match=r"^cache must be the WeightNormCache"):
        weight_norm_backward(np.ones((3, 2)), rn)
    for backward, cache in [
        (layer_norm_backward, ln),
        (group_norm_backward, gn),
        (instance_norm_backward, inn),
        (batch_renorm_backward, rn),
    ]:
        with pytest.raises(ValueError, match=r"^dout must have shape \(3, 4, 5, 6\)"):
            backward(np.ones(6), cache)
        with pytest.raises(ValueError, match=r"^dout contains 1 NaN"):
            backward(np.where(np.arange(360).reshape(NHWC) == 7, np.nan, 1.0), cache)
    with pytest.raises(ValueError, match=r"^dw must have shape \(3, 2\)"):
        weight_norm_backward(np.ones((2, 3)), wn)
    with pytest.raises(ValueError, match=r"^momentum must lie in \[0, 1\]"):
        batch_renorm_update(np.zeros(6), np.ones(6), rn, momentum=1.5)
    with pytest.raises(ValueError, match=r"^moving_stddev must have shape \(6,\)"):
        batch_renorm_update(np.zeros(6), np.ones(5), rn)


# ---------------------------------------------------------------------------------------------
# Parity with Keras at float32 tolerance


@pytest.fixture
def keras_seed():
    """Import Keras and TensorFlow (skip the test without them) and seed Keras."""
    global keras, tf
    tf = pytest.importorskip("tensorflow")  # conftest.py has silenced it and chosen the backend
    import keras as keras_module

    keras = keras_module
    tf.config.experimental.enable_op_determinism()
    keras.utils.set_random_seed(1234)


def assert_f32_close(actual, expected, scale, what):
    actual = np.asarray(actual, np.float64)
    expected = np.asarray(expected, np.float64)
    assert actual.shape == expected.shape, what
    ratio = float(np.max(np.abs(actual - expected)) / (F32_EPS * float(scale)))
    assert ratio <= ULPS, f"{what}: |bnlib - keras| reaches {ratio:.3g} eps * S (allowed {ULPS})"
    return ratio


def keras_train_call(layer, x, dout):
    """y, dx and the gradients of the layer's trainable weights, from tf.GradientTape."""
    x_tf = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x_tf)
        y = layer(x_tf, training=True)
        loss = tf.reduce_sum(tf.constant(dout) * y)
    grads = tape.gradient(loss, [x_tf, layer.gamma, layer.beta])
    return y.numpy(), [g.numpy() for g in grads]


def compare_training_call(
    y,
    grads,
    y_k,
    grads_k,
    xw,
    dout_w,
    mean,
    inv_std,
    gamma_w,
    beta_w,
    reduce_axes,
    param_axes,
    r=1.0,
    d=0.0,
):
    """Compare bnlib's training call with Keras's, each at ULPS float32 epsilons times its scale S.

    The arrays after ``grads_k`` are in the working layout of the normalization (the input itself,
    or group normalization's (N, ..., G, C/G)); ``r`` and ``d`` are batch renormalization's.
    ``x_mag = (|x| + |mean|) * inv_std`` is the size of the terms Keras subtracts when it computes
    ``x * inv - mean * inv``: with a large offset, that, not |x_hat|, sets the rounding error.
    """
    dx, dgamma, dbeta = grads
    abs_dout = np.abs(dout_w)
    x_mag = (np.abs(xw) + np.abs(mean)) * inv_std
    g, b, r, d = np.abs(gamma_w), np.abs(beta_w), np.abs(r), np.abs(d)
    ra = reduce_axes
    y_scale = np.max(g * (x_mag * r + d) + b)
    dx_scale = np.max(
        inv_std
        * g
        * r
        * (
            abs_dout
            + abs_dout.mean(axis=ra, keepdims=True)
            + x_mag * (abs_dout * x_mag).mean(axis=ra, keepdims=True)
        )
    )
    assert_f32_close(y, y_k, y_scale, "y")
    assert_f32_close(dx, grads_k[0], dx_scale, "dx")
    assert_f32_close(
        dgamma, grads_k[1], np.max(np.sum(abs_dout * (x_mag * r + d), axis=param_axes)), "dgamma"
    )
    assert_f32_close(dbeta, grads_k[2], np.max(np.sum(abs_dout, axis=param_axes)), "dbeta")


def compare_norm_call(y, grads, y_k, grads_k, x, dout, cache, beta):
    shape = cache.x_hat.shape  # the working layout (channels-last inputs only)
    beta_w = np.asarray(beta, np.float64).reshape(cache.gamma.shape)
    compare_training_call(
        y,
        grads,
        y_k,
        grads_k,
        x.reshape(shape),
        dout.reshape(shape),
        cache.mean,
        cache.inv_std,
        cache.gamma,
        beta_w,
        cache.reduce_axes,
        cache.param_axes,
    )


@pytest.mark.parametrize(
    ("shape", "axis"),
    [((32, 6), -1), ((8, 5, 4, 6), -1), ((8, 5, 4, 6), [1, 2, 3])],
    ids=["dense", "nhwc-channels", "nhwc-all"],
)
def test_layer_norm_matches_keras(rng, keras_seed, shape, axis):
    x = sample(rng, shape).astype(np.float32)
    dout = rng.standard_normal(shape).astype(np.float32)
    layer = keras.layers.LayerNormalization(axis=axis)
    assert layer.epsilon == EPS  # the defaults agree
    layer.build(shape)
    gamma, beta = (a.astype(np.float32) for a in affine(rng, tuple(layer.gamma.shape)))
    layer.gamma.assign(gamma)
    layer.beta.assign(beta)
    y_k, grads_k = keras_train_call(layer, x, dout)
    ax = axis if isinstance(axis, int) else tuple(axis)
    y, cache = layer_norm_forward(x, gamma, beta, axis=ax)
    grads = layer_norm_backward(dout, cache)
    assert y.dtype == grads[0].dtype == np.float32
    compare_norm_call(y, grads, y_k, grads_k, x, dout, cache, beta)


@pytest.mark.parametrize("groups", [1, 3, -1], ids=["groups-1", "groups-3", "instance"])
def test_group_and_instance_norm_match_keras(rng, keras_seed, groups):
    shape = (8, 5, 4, 6)
    x = sample(rng, shape).astype(np.float32)
    dout = rng.standard_normal(shape).astype(np.float32)
    layer = keras.layers.GroupNormalization(groups=groups)
    assert layer.epsilon == EPS
    layer.build(shape)
    gamma, beta = (a.astype(np.float32) for a in affine(rng, (6,)))
    layer.gamma.assign(gamma)
    layer.beta.assign(beta)
    y_k, grads_k = keras_train_call(layer, x, dout)
    if groups == -1:
        y, cache = instance_norm_forward(x, gamma, beta)
        grads = instance_norm_backward(dout, cache)
    else:
        y, cache = group_norm_forward(x, gamma, beta, groups=groups)
        grads = group_norm_backward(dout, cache)
    assert y.dtype == grads[0].dtype == np.float32
    compare_norm_call(y, grads, y_k, grads_k, x, dout, cache, beta)


def test_group_norm_defaults_match_keras(keras_seed):
    import inspect

    layer = keras.layers.GroupNormalization()
    defaults = inspect.signature(group_norm_forward).parameters
    assert defaults["groups"].default == layer.groups == 32
    assert defaults["epsilon"].default == layer.epsilon
    assert (
        inspect.signature(layer_norm_forward).parameters["epsilon"].default
        == keras.layers.LayerNormalization().epsilon
    )


@pytest.mark.parametrize(
    ("shape", "axis"), [((16, 5), -1), ((4, 3, 2, 5), -1)], ids=["dense", "nhwc"]
)
def test_batch_renorm_matches_keras_over_several_steps(rng, keras_seed, shape, axis):
    # Keras's renorm clips r to [rmin, rmax]; the paper (and bnlib) use rmin = 1 / rmax.
    rmax, dmax, renorm_momentum, momentum = 3.0, 5.0, 0.5, 0.8
    layer = keras.layers.BatchNormalization(
        axis=axis,
        renorm=True,
        renorm_clipping={"rmax": rmax, "rmin": 1 / rmax, "dmax": dmax},
        renorm_momentum=renorm_momentum,
        momentum=momentum,
    )
    layer.build(shape)
    gamma, beta = (a.astype(np.float32) for a in affine(rng, (5,)))
    layer.gamma.assign(gamma)
    layer.beta.assign(beta)
    # renorm_mean / renorm_stddev (for r and d) and moving_mean / moving_stddev (for inference),
    # initialised as Keras does: zeros and ones.
    rm, rs = np.zeros(5, np.float32), np.ones(5, np.float32)
    mm, ms = np.zeros(5, np.float32), np.ones(5, np.float32)
    # Every batch from one distribution whose channel means reach 10: the first steps, with the
    # moving statistics still at 0 and 1, clip d; once the moving statistics have caught up,
    # r and d fall inside the clipping range.
    loc = 3.0 * np.arange(5) - 2.0
    scale = rng.uniform(0.5, 3.0, 5)
    clipped = []
    for _ in range(8):
        x = (loc + scale * rng.standard_normal(shape)).astype(np.float32)
        dout = rng.standard_normal(shape).astype(np.float32)
        y_k, grads_k = keras_train_call(layer, x, dout)
        y, cache = batch_renorm_forward(x, gamma, beta, rm, rs, rmax=rmax, dmax=dmax, axis=axis)
        assert isinstance(cache, BatchRenormCache)
        clipped.append(
            bool(
                np.any(np.isin(cache.r, [rmax, 1 / np.float32(rmax)]))
                or np.any(np.abs(cache.d) == dmax)
            )
        )
        grads = batch_renorm_backward(dout, cache)
        compare_training_call(
            y,
            grads,
            y_k,
            grads_k,
            x,
            dout,
            cache.mean,
            cache.inv_std,
            cache.gamma,
            beta,
            cache.reduce_axes,
            cache.reduce_axes,
            r=cache.r,
            d=cache.d,
        )
        rm, rs = batch_renorm_update(rm, rs, cache, renorm_momentum)
        mm, ms = batch_renorm_update(mm, ms, cache, momentum)
    assert clipped[0] and not clipped[-1], clipped  # both regimes were exercised
    for name, ours in [
        ("renorm_mean", rm),
        ("renorm_stddev", rs),
        ("moving_mean", mm),
        ("moving_stddev", ms),
    ]:
        theirs = getattr(layer, name).numpy()
        assert_f32_close(ours, theirs, np.max(np.abs(theirs)), name)
    moving_variance = np.maximum(ms.astype(np.float64) ** 2 - EPS, 0.0)
    assert_f32_close(
        moving_variance, layer.moving_variance.numpy(), np.max(moving_variance), "moving_variance"
    )
    # Inference: plain batch normalization with those statistics.
    x = (loc + scale * rng.standard_normal(shape)).astype(np.float32)
    y_k = layer(x, training=False).numpy()
    y = batch_norm_inference(x, mm, moving_variance.astype(np.float32), gamma, beta, EPS, axis)
    mean = mm.astype(np.float64)
    inv = np.abs(gamma) / np.sqrt(moving_variance + EPS)
    assert_f32_close(y, y_k, np.max(inv * (np.abs(x) + np.abs(mean)) + np.abs(beta)), "inference y")


@pytest.mark.parametrize("epsilon", [1e-5, 1e-1])
def test_every_variant_uses_the_given_epsilon(rng, epsilon):
    # Direct formulas written here (not the _standardize helper the variants share). Variances of
    # about 0.1 make epsilon = 1e-5 or 1e-1 move each output far more than rtol 1e-10 away from
    # what the default epsilon = 1e-3 would give, so an ignored epsilon fails.
    x = 0.3 * rng.standard_normal((3, 4, 5, 6)) + 1.0
    gamma, beta = rng.uniform(0.5, 1.5, 6), rng.standard_normal(6)

    def direct(x, axes):
        mean, var = x.mean(axis=axes, keepdims=True), x.var(axis=axes, keepdims=True)
        return (x - mean) / np.sqrt(var + epsilon)

    y, _ = layer_norm_forward(x, gamma, beta, epsilon=epsilon)
    np.testing.assert_allclose(y, direct(x, (3,)) * gamma + beta, rtol=1e-10, atol=1e-12)
    y, _ = instance_norm_forward(x, gamma, beta, epsilon=epsilon)
    np.testing.assert_allclose(y, direct(x, (1, 2)) * gamma + beta, rtol=1e-10, atol=1e-12)
    y, _ = group_norm_forward(x, gamma, beta, groups=2, epsilon=epsilon)
    xg = x.reshape(3, 4, 5, 2, 3)
    expected = direct(xg, (1, 2, 4)).reshape(x.shape) * gamma + beta
    np.testing.assert_allclose(y, expected, rtol=1e-10, atol=1e-12)

    # Batch renormalization with r and d clipped to [1/1.2, 1.2] and [-0.1, 0.1].
    x2 = x.reshape(-1, 6)
    mm, ms = rng.standard_normal(6) * 0.2 + 1.0, rng.uniform(0.2, 0.5, 6)
    mean, stddev = x2.mean(axis=0), np.sqrt(x2.var(axis=0) + epsilon)
    r = np.clip(stddev / ms, 1 / 1.2, 1.2)
    d = np.clip((mean - mm) / ms, -0.1, 0.1)
    y, cache = batch_renorm_forward(x2, gamma, beta, mm, ms, rmax=1.2, dmax=0.1, epsilon=epsilon)
    np.testing.assert_allclose(cache.stddev, stddev, rtol=1e-12)
    expected = gamma * ((x2 - mean) / stddev * r + d) + beta
    np.testing.assert_allclose(y, expected, rtol=1e-10, atol=1e-12)
