"""Tests of bncourse.optimization, the helpers of chapter 1 (text for the prose, the loss picture)."""

from __future__ import annotations

import numpy as np
import pytest

from bncourse.optimization import best_intercept_loss, plot_window, power_of_ten


@pytest.mark.parametrize(
    "x, expected",
    [
        (3.2e10, "10¹⁰"),
        (4.99e10, "10¹⁰"),
        (1e10, "10¹⁰"),
        (9.999e9, "10⁹"),
        (1000, "10³"),
        (999.9999999999999, "10²"),
        (1.0, "10⁰"),
        (7, "10⁰"),
        (0.05, "10⁻²"),
        (1e-3, "10⁻³"),
        (2.5e-300, "10⁻³⁰⁰"),
        (1.334e108, "10¹⁰⁸"),
        (np.float64(5.0e8), "10⁸"),
        (np.float32(2.0e3), "10³"),
    ],
)
def test_power_of_ten_is_the_power_just_below(x, expected):
    assert power_of_ten(x) == expected


def test_power_of_ten_agrees_with_log10_away_from_powers():
    rng = np.random.default_rng(12)
    for x in 10.0 ** rng.uniform(-30, 30, size=500):
        exponent = int(np.floor(np.log10(x)))
        if abs(np.log10(x) - round(np.log10(x))) > 1e-9:  # not within rounding of a power of ten
            assert power_of_ten(x) == "10" + str(exponent).translate(
                str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")
            )


@pytest.mark.parametrize("bad", [0, -1.0, float("inf"), float("nan"), -1e-300])
def test_power_of_ten_rejects_non_positive_and_non_finite(bad):
    with pytest.raises(ValueError, match="positive finite"):
        power_of_ten(bad)


@pytest.mark.parametrize("bad", ["100", None, True, [10.0]])
def test_power_of_ten_rejects_non_numbers(bad):
    with pytest.raises(TypeError, match="number"):
        power_of_ten(bad)


# ------------------------------------------------------------------------- best_intercept_loss


def test_best_intercept_loss_is_the_loss_minimized_over_the_intercept():
    rng = np.random.default_rng(3)
    X = rng.normal([40.0, 5e4], [10.0, 2e4], size=(200, 2))
    y = 250 + 6 * X[:, 0] + 0.02 * X[:, 1] + rng.normal(0, 150, size=200)
    w1, w2 = np.meshgrid(np.linspace(-5, 15, 7), np.linspace(-0.05, 0.08, 5))
    got = best_intercept_loss(X, y, w1, w2)
    assert got.shape == w1.shape
    for a, b, value in zip(w1.ravel(), w2.ravel(), got.ravel()):
        r = X @ [a, b] - y
        bias = -r.mean()  # the best intercept for these weights
        expected = 0.5 * np.mean((r + bias) ** 2)
        assert value == pytest.approx(expected, rel=1e-9)
        for other in (bias - 1.0, bias + 1.0):  # any other intercept is worse
            assert 0.5 * np.mean((r + other) ** 2) > value


def test_best_intercept_loss_at_the_least_squares_optimum_is_the_optimal_loss():
    rng = np.random.default_rng(4)
    X = rng.normal(size=(50, 2))
    y = X @ [2.0, -1.0] + 3.0 + rng.normal(0, 0.1, size=50)
    Z = np.column_stack([X, np.ones(50)])
    theta = np.linalg.lstsq(Z, y, rcond=None)[0]
    optimal = 0.5 * np.mean((Z @ theta - y) ** 2)
    assert best_intercept_loss(X, y, theta[0], theta[1]) == pytest.approx(optimal, rel=1e-10)


@pytest.mark.parametrize(
    "X, y, w1, w2, match",
    [
        (np.ones((5, 3)), np.ones(5), 0.0, 0.0, "X must have shape"),
        (np.ones((5, 2)), np.ones(4), 0.0, 0.0, "y must have shape"),
        (np.ones((5, 2)), np.ones(5), np.zeros(3), np.zeros(2), "same shape"),
    ],
)
def test_best_intercept_loss_names_the_bad_argument(X, y, w1, w2, match):
    with pytest.raises(ValueError, match=match):
        best_intercept_loss(X, y, w1, w2)


# --------------------------------------------------------------------------------- plot_window


def test_plot_window_with_a_margin_per_axis():
    (x0, y0), (x1, y1) = plot_window([[0.0, 10.0], [2.0, 30.0]], square=False)
    assert (x0, x1, y0, y1) == pytest.approx((-0.2, 2.2, 8.0, 32.0))


def test_plot_window_square_is_centred_and_contains_every_point():
    points = np.array([[0.0, 0.0], [1.0, 4.0], [0.5, -1.0]])
    lo, hi = plot_window(points, square=True)
    assert hi - lo == pytest.approx([6.0, 6.0])  # 1.2 times the larger extent (5)
    assert (lo + hi) / 2 == pytest.approx([0.5, 1.5])
    assert np.all(points >= lo) and np.all(points <= hi)


def test_plot_window_rejects_bad_points():
    with pytest.raises(ValueError, match="points must have shape"):
        plot_window(np.zeros((0, 2)), square=True)
    with pytest.raises(ValueError, match="points must have shape"):
        plot_window(np.zeros((3, 3)), square=False)
