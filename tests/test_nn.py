"""bnlib.nn: the numpy multilayer perceptron of chapter 2.

Gradients are checked in float64 with centred differences against a random upstream gradient, as
in test_batchnorm.py; a whole network with batch normalization is checked end to end, for its input
and every parameter.
"""

from __future__ import annotations

import numpy as np
import pytest

import bnlib
from bnlib import (
    ACTIVATIONS,
    Activation,
    BatchNorm,
    Dense,
    Sequential,
    glorot_std,
    numerical_gradient,
    rel_error,
    softmax_cross_entropy,
)

# Measured over 20-30 seeds with a random upstream gradient: the analytic and centred-difference
# gradients of these small layers agree to a relative error of at most 1e-10 (single layers) and
# 1.9e-9 (a network with batch normalization); 1e-8 keeps a margin of 5x or more, while a wrong
# formula (a missing transpose, a missing factor) gives errors of order 1e-2 .. 1.
GRAD_TOL = 1e-8


def _x(rng, n=5, d=4):
    return rng.normal(size=(n, d))


# ---------------------------------------------------------------------------------------------
# Dense


def test_dense_forward_is_an_affine_map(rng):
    layer = Dense(4, 3, seed=0)
    layer.bias = rng.normal(size=3)
    x = _x(rng)
    np.testing.assert_allclose(layer(x), x @ layer.kernel + layer.bias, rtol=1e-14, atol=1e-14)
    assert layer(x).shape == (5, 3)


def test_dense_backward_matches_numerical_gradients(rng):
    layer = Dense(4, 3, seed=1)
    layer.bias = rng.normal(size=3)
    x = _x(rng)
    dout = rng.normal(size=(5, 3))
    layer(x)
    dx = layer.backward(dout)
    kernel, bias = layer.kernel, layer.bias

    def with_params(k=kernel, b=bias):
        probe = Dense(4, 3)
        probe.kernel, probe.bias = k, b
        return probe

    assert rel_error(dx, numerical_gradient(lambda v: with_params()(v), x, dout)) < GRAD_TOL
    num_dk = numerical_gradient(lambda k: with_params(k=k)(x), kernel, dout)
    num_db = numerical_gradient(lambda b: with_params(b=b)(x), bias, dout)
    assert rel_error(layer.dkernel, num_dk) < GRAD_TOL
    assert rel_error(layer.dbias, num_db) < GRAD_TOL


def test_dense_without_bias(rng):
    layer = Dense(4, 3, use_bias=False, seed=0)
    assert layer.bias is None
    x = _x(rng)
    np.testing.assert_array_equal(layer(x), x @ layer.kernel)
    layer.backward(rng.normal(size=(5, 3)))
    assert layer.dbias is None and layer.dkernel.shape == (4, 3)


@pytest.mark.parametrize("weight_scale", [0.5, 1.0, 2.0])
def test_dense_initial_kernel_has_the_requested_spread(weight_scale):
    fan_in, units = 400, 250  # 100,000 weights
    layer = Dense(fan_in, units, weight_scale=weight_scale, seed=2)
    expected = weight_scale * np.sqrt(2.0 / (fan_in + units))
    assert layer.weight_std == pytest.approx(expected, rel=1e-15)
    # The sample std of n = 1e5 normal draws has a relative standard error of 1/sqrt(2n) ~ 0.22%;
    # 1% is 4.5 standard errors. The mean is within 4.5 standard errors of 0 too.
    assert np.std(layer.kernel) == pytest.approx(expected, rel=1e-2)
    assert abs(np.mean(layer.kernel)) < 4.5 * expected / np.sqrt(layer.kernel.size)
    np.testing.assert_array_equal(layer.bias, np.zeros(units))


def test_dense_weight_std_overrides_weight_scale():
    layer = Dense(400, 250, weight_scale=3.0, weight_std=0.01, seed=2)
    assert layer.weight_std == 0.01
    assert np.std(layer.kernel) == pytest.approx(0.01, rel=1e-2)


def test_dense_seed_makes_initialization_reproducible():
    a, b, c = Dense(5, 4, seed=7), Dense(5, 4, seed=7), Dense(5, 4, seed=8)
    np.testing.assert_array_equal(a.kernel, b.kernel)
    assert not np.allclose(a.kernel, c.kernel)
    rng = np.random.default_rng(7)
    d = Dense(5, 4, seed=rng)  # a Generator is used as is, and advanced
    e = Dense(5, 4, seed=rng)
    assert not np.allclose(d.kernel, e.kernel)


def test_dense_dtype():
    layer = Dense(3, 2, dtype=np.float32, seed=0)
    assert layer.kernel.dtype == layer.bias.dtype == np.float32
    assert layer(np.ones((2, 3), np.float32)).dtype == np.float32


def test_glorot_std():
    assert glorot_std(100, 100) == pytest.approx(0.1, rel=1e-15)
    assert glorot_std(784, 100) == pytest.approx(np.sqrt(2 / 884), rel=1e-15)


# ---------------------------------------------------------------------------------------------
# Activations


def _reference(name, x):
    return {
        "linear": x,
        "sigmoid": 1.0 / (1.0 + np.exp(-x)),
        "tanh": np.tanh(x),
        "relu": np.where(x > 0, x, 0.0),
    }[name]


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_activation_values(name, rng):
    x = rng.normal(scale=3.0, size=(6, 5))
    np.testing.assert_allclose(Activation(name)(x), _reference(name, x), rtol=1e-14, atol=1e-15)


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_activation_backward_matches_numerical_gradient(name, rng):
    # Keep relu's inputs away from its kink at 0, where centred differences are not defined.
    x = rng.normal(scale=2.0, size=(6, 5))
    x = np.where(np.abs(x) < 1e-3, 0.5, x)
    dout = rng.normal(size=x.shape)
    layer = Activation(name)
    layer(x)
    dx = layer.backward(dout)
    assert rel_error(dx, numerical_gradient(Activation(name), x, dout)) < GRAD_TOL


def test_activation_derivatives_and_their_maxima():
    x = np.linspace(-6, 6, 1201)[None, :]
    for name, peak in [("sigmoid", 0.25), ("tanh", 1.0)]:
        layer = Activation(name)
        layer(x)
        d = layer.derivative()
        assert d.max() == pytest.approx(peak, rel=1e-12)  # at x = 0, on the grid
        assert d[0, 0] < 0.01 * peak  # saturated at |x| = 6
    relu = Activation("relu")
    relu(x)
    np.testing.assert_array_equal(relu.derivative(), (x > 0).astype(float))


def test_sigmoid_is_stable_for_large_inputs():
    # pytest turns RuntimeWarnings from bnlib into errors (pyproject.toml), so an overflow in
    # exp would fail this test.
    x = np.array([[-1000.0, -40.0, 0.0, 40.0, 1000.0]])
    y = Activation("sigmoid")(x)
    np.testing.assert_allclose(y, [[0.0, np.exp(-40.0), 0.5, 1.0, 1.0]], rtol=1e-12, atol=0)
    y32 = Activation("sigmoid")(x.astype(np.float32))
    assert y32.dtype == np.float32 and np.all(np.isfinite(y32))


# ---------------------------------------------------------------------------------------------
# Softmax cross-entropy


def test_softmax_cross_entropy_value(rng):
    logits = rng.normal(size=(7, 4))
    labels = rng.integers(0, 4, size=7)
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    expected = -np.mean(np.log(p[np.arange(7), labels]))
    loss, _ = softmax_cross_entropy(logits, labels)
    assert isinstance(loss, float)
    assert loss == pytest.approx(expected, rel=1e-13)
    # Uniform scores: the loss is log(C).
    assert softmax_cross_entropy(np.zeros((3, 10)), [0, 5, 9])[0] == pytest.approx(
        np.log(10), rel=1e-15
    )


def test_softmax_cross_entropy_gradient(rng):
    logits = rng.normal(size=(7, 4))
    labels = rng.integers(0, 4, size=7)
    _, dlogits = softmax_cross_entropy(logits, labels)
    num = numerical_gradient(lambda z: softmax_cross_entropy(z, labels)[0], logits, 1.0)
    assert rel_error(dlogits, num) < GRAD_TOL
    np.testing.assert_allclose(dlogits.sum(axis=1), 0.0, atol=1e-16)  # each row sums to zero


def test_softmax_cross_entropy_is_stable_for_large_logits():
    logits = np.array([[1000.0, 0.0, -1000.0], [0.0, 1000.0, 999.0]])
    loss, dlogits = softmax_cross_entropy(logits, [0, 2])
    # Row 1: correct class far ahead, loss 0. Row 2: log(1 + e) behind by 1, about 1.3133.
    assert loss == pytest.approx(np.log1p(np.e) / 2, rel=1e-12)
    assert np.all(np.isfinite(dlogits))


# ---------------------------------------------------------------------------------------------
# Sequential, with batch normalization, end to end


def _network(rng, activation="tanh"):
    model = Sequential(
        [
            # A kernel that feeds batch normalization only sets a direction (BN undoes its scale),
            # so the loss curves like 1/|kernel|^2 along it; a wide initial kernel keeps the
            # truncation error of centred differences (~ h^2 * curvature) well below GRAD_TOL.
            Dense(4, 6, weight_scale=3.0, use_bias=False, seed=rng),
            BatchNorm(),
            Activation(activation),
            Dense(6, 5, seed=rng),
            Activation(activation),
            Dense(5, 3, seed=rng),
        ]
    )
    model(_x(rng, n=8), training=True)  # builds the BatchNorm layer
    bn = model.layers[1]
    bn.gamma, bn.beta = rng.uniform(0.5, 2.0, 6), rng.normal(size=6)
    model.layers[3].bias = rng.normal(size=5)
    return model


def _check_all_gradients(model, x, f, dout, analytic_dx, tol):
    """Compare dx and every parameter's gradient with centred differences of sum(dout * f())."""
    assert rel_error(analytic_dx, numerical_gradient(lambda v: f(v), x, dout)) < tol, "dx"
    for layer, name in model.parameters():
        value, grad = getattr(layer, name), getattr(layer, "d" + name)

        def with_param(p, layer=layer, name=name, value=value):
            setattr(layer, name, p)
            try:
                return f(x)
            finally:
                setattr(layer, name, value)

        assert rel_error(grad, numerical_gradient(with_param, value, dout)) < tol, name


@pytest.mark.parametrize("activation", ["sigmoid", "tanh"])
def test_sequential_gradients_through_batch_norm(rng, activation):
    # Measured over 30 seeds: at most 1.9e-9, against GRAD_TOL = 1e-8.
    model = _network(rng, activation)
    x = _x(rng, n=8)
    dout = rng.normal(size=(8, 3))  # a random upstream gradient at the logits
    model(x, training=True)
    dx = model.backward(dout)
    params = model.parameters()
    assert [name for _, name in params] == [
        "kernel",
        "gamma",
        "beta",
        "kernel",
        "bias",
        "kernel",
        "bias",
    ]
    _check_all_gradients(model, x, lambda v: model(v, training=True), dout, dx, GRAD_TOL)


@pytest.mark.parametrize("activation", ["sigmoid", "tanh"])
def test_training_gradients_of_the_loss(rng, activation):
    # The gradient a training step uses: softmax cross-entropy of the network's output. A scalar
    # loss averaged over the batch has smaller gradients, so the same absolute rounding and
    # truncation error is a larger relative one: measured at most 6.2e-9 over 20 seeds; 3e-8.
    model = _network(rng, activation)
    x = _x(rng, n=8)
    labels = rng.integers(0, 3, size=8)
    _, dlogits = softmax_cross_entropy(model(x, training=True), labels)
    dx = model.backward(dlogits)
    loss = lambda v: softmax_cross_entropy(model(v, training=True), labels)[0]  # noqa: E731
    _check_all_gradients(model, x, loss, 1.0, dx, 3e-8)


def test_sequential_forward_passes_training_on(rng):
    model = _network(rng)
    x = _x(rng, n=8)
    bn = model.layers[1]
    mean = bn.moving_mean.copy()
    model(x)  # training=False: moving statistics untouched, inference-mode output
    np.testing.assert_array_equal(bn.moving_mean, mean)
    model(x, training=True)
    assert not np.allclose(bn.moving_mean, mean)
    assert not np.allclose(model(x, training=True), model(x, training=False))


def test_sgd_steps_reduce_the_loss_and_replace_the_arrays(rng):
    model = _network(rng)
    x = _x(rng, n=8)
    labels = rng.integers(0, 3, size=8)
    first = model.layers[0].kernel
    saved = first.copy()
    losses = []
    for _ in range(50):
        loss, dlogits = softmax_cross_entropy(model(x, training=True), labels)
        losses.append(loss)
        model.backward(dlogits)
        model.sgd_step(0.5)
    assert losses[-1] < 0.1 * losses[0]  # eight points are easy to fit: measured 0.04x
    np.testing.assert_array_equal(first, saved)  # the old array was not updated in place
    assert model.layers[0].kernel is not first


def test_layers_do_not_modify_their_inputs(rng, unchanged):
    x = _x(rng, n=8)
    labels = rng.integers(0, 3, size=8)
    for readonly in (False, True):
        model = _network(np.random.default_rng(5))
        logits = model(x, training=True)
        with unchanged(x, logits, labels, readonly=readonly):
            model(x, training=True)
            _, dlogits = softmax_cross_entropy(logits, labels)
        with unchanged(dlogits, readonly=readonly):
            model.backward(dlogits)
        for name in ACTIVATIONS:
            with unchanged(x, readonly=readonly):
                Activation(name)(x)


# ---------------------------------------------------------------------------------------------
# Bad input: errors that name the argument


@pytest.mark.parametrize(
    ("make", "exc", "match"),
    [
        (lambda: Dense(0, 3), ValueError, r"^in_features must be a positive integer"),
        (lambda: Dense(3, 2.5), TypeError, r"^units must be an integer"),
        (
            lambda: Dense(3, 2, weight_scale=0),
            ValueError,
            r"^weight_scale must be a positive number",
        ),
        (
            lambda: Dense(3, 2, weight_std=-0.1),
            ValueError,
            r"^weight_std must be a positive number",
        ),
        (lambda: Dense(3, 2, use_bias=1), TypeError, r"^use_bias must be True or False"),
        (lambda: Dense(3, 2, seed=-1), ValueError, r"^seed must be a non-negative integer"),
        (lambda: Dense(3, 2, seed="0"), TypeError, r"^seed must be None"),
        (lambda: Dense(3, 2, dtype=np.int32), TypeError, r"^dtype must be a floating-point dtype"),
        (lambda: Dense(3, 2)(np.ones((4, 2))), ValueError, r"^x must have shape \(N, 3\)"),
        (lambda: Dense(3, 2)(np.ones(3)), ValueError, r"^x must have at least 2 dimensions"),
        (
            lambda: Dense(3, 2)(np.ones((2, 3)), training="yes"),
            TypeError,
            r"^training must be True or False",
        ),
        (
            lambda: Dense(3, 2).backward(np.ones((4, 2))),
            RuntimeError,
            r"^backward\(\) needs a preceding call",
        ),
        (lambda: Activation("softplus"), ValueError, r"^name must be one of"),
        (lambda: Activation("tanh")(np.array([[np.nan]])), ValueError, r"^x contains 1 NaN"),
        (
            lambda: Activation("tanh").backward(np.ones((1, 1))),
            RuntimeError,
            r"^derivative\(\) needs",
        ),
        (lambda: Sequential([]), ValueError, r"^layers must contain at least one layer"),
        (lambda: Sequential([Dense(3, 2), np.tanh]), TypeError, r"^layers\[1\] must be a layer"),
        (
            lambda: Sequential([Dense(3, 2)]).sgd_step(0.1),
            RuntimeError,
            r"^Dense.dkernel is not set",
        ),
        (
            lambda: Sequential([Dense(3, 2)]).sgd_step(-0.1),
            ValueError,
            r"^learning_rate must be a positive",
        ),
        (
            lambda: softmax_cross_entropy(np.zeros(3), [0]),
            ValueError,
            r"^logits must have at least 2",
        ),
        (
            lambda: softmax_cross_entropy(np.zeros((2, 3)), [0]),
            ValueError,
            r"^labels must have shape \(2,\)",
        ),
        (
            lambda: softmax_cross_entropy(np.zeros((2, 3)), [0, 3]),
            ValueError,
            r"^labels must lie in \[0, 3\)",
        ),
        (
            lambda: softmax_cross_entropy(np.zeros((2, 3)), [0, -1]),
            ValueError,
            r"^labels must lie in",
        ),
        (
            lambda: softmax_cross_entropy(np.zeros((2, 3)), [0.0, 1.0]),
            TypeError,
            r"^labels must be an array of integers",
        ),
        (
            lambda: softmax_cross_entropy(np.zeros((2, 3)), [True, False]),
            TypeError,
            r"^labels must be an array of integers",
        ),
    ],
)
def test_bad_input_is_rejected(make, exc, match):
    with pytest.raises(exc, match=match):
        make()


def test_backward_rejects_a_wrong_upstream_shape(rng):
    layer = Dense(3, 2, seed=0)
    layer(np.ones((4, 3)))
    with pytest.raises(ValueError, match=r"^dout must have shape \(4, 2\)"):
        layer.backward(np.ones((4, 3)))
    act = Activation("relu")
    act(np.ones((4, 3)))
    with pytest.raises(ValueError, match=r"^dout must have shape \(4, 3\)"):
        act.backward(np.ones((3, 4)))


def test_exported_from_the_package():
    for name in [
        "Activation",
        "Dense",
        "Sequential",
        "glorot_std",
        "softmax_cross_entropy",
        "ACTIVATIONS",
    ]:
        assert name in bnlib.__all__ and hasattr(bnlib, name)


def test_sgd_step_is_exactly_value_minus_learning_rate_times_gradient(rng):
    # The exact update, elementwise and bit for bit: a step of 0.8 or 1.5 times the learning rate
    # (or a sign error) changes every parameter.
    model = Sequential([Dense(3, 4, seed=1), BatchNorm(), Activation("relu"), Dense(4, 2, seed=2)])
    x = rng.standard_normal((8, 3))
    model.forward(x, training=True)
    model.backward(rng.standard_normal((8, 2)))
    before = [
        (layer, name, getattr(layer, name), getattr(layer, "d" + name))
        for layer, name in model.parameters()
    ]
    assert len(before) == 6  # two kernels, two biases, gamma and beta
    lr = 0.3
    model.sgd_step(lr)
    for layer, name, value, grad in before:
        assert np.any(grad != 0), name
        np.testing.assert_array_equal(getattr(layer, name), value - lr * grad, err_msg=name)
