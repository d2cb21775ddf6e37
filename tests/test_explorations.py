"""bncourse.explorations: the numbers behind the three explorations, their figures and their widgets.

The helpers' numbers are checked against closed-form theory. Where a quantity is exact by
construction (a standardized batch, a noise-free moving average) the tolerance is float64 rounding
(1e-12 relative, or 1e-9 where a long recursion accumulates rounding). Where it is a Monte Carlo
estimate the tolerance is five standard errors, with the standard error stated next to the check:
a wrong formula (a missing square root, m instead of m - 1, the unbiased variance) is off by far
more than that. The widgets are built headless (ipywidgets needs no frontend), and a change of
a slider must redraw the figure with the new value.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import bnlib  # noqa: E402
from bncourse import explorations as ia  # noqa: E402
from bncourse.plotting import PALETTE  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
REL = 1e-12  # float64 rounding for quantities computed two ways


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _text(artist) -> str:
    """A title's text with line breaks and repeated spaces collapsed."""
    return (
        " ".join(artist.get_text().split())
        if hasattr(artist, "get_text")
        else " ".join(artist.split())
    )


def _kurtosis(values: np.ndarray) -> float:
    c = values - values.mean()
    return float(np.mean(c**4) / np.mean(c**2) ** 2)


def _sd_standard_error(values: np.ndarray) -> float:
    """Standard error of a sample standard deviation: sd * sqrt((kurtosis - 1) / (4 n))."""
    return float(values.std() * math.sqrt((_kurtosis(values) - 1) / (4 * values.size)))


# ---------------------------------------------------------------------------------------------
# The module is imported on demand and imports matplotlib and ipywidgets only when it draws


def test_import_explorations_loads_neither_matplotlib_nor_ipywidgets():
    code = (
        "import sys, bnlib, bncourse.explorations\n"
        "print(sorted(m for m in ('matplotlib', 'ipywidgets') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split("\n")[0] == "[]", out.stdout + out.stderr


def test_bnlib_is_batch_normalization_only():
    """No figure or widget module in bnlib: the course's machinery lives in bncourse."""
    import pkgutil

    assert {m.name for m in pkgutil.iter_modules(bnlib.__path__)} == {
        "_checks",
        "batchnorm",
        "data",
        "folding",
        "gradcheck",
        "nn",
        "scalers",
        "variants",
    }


# ---------------------------------------------------------------------------------------------
# Exploration 1: gamma, beta and epsilon on one feature


@pytest.mark.parametrize("feature_std", [1e-3, 0.03, 1.0, 7.0])
@pytest.mark.parametrize("epsilon", [1e-5, 1e-3, 0.1])
def test_feature_example_matches_the_algorithm_and_the_damping_formula(feature_std, epsilon):
    ex = ia.gamma_beta_epsilon_example(
        gamma=1.7,
        beta=-0.4,
        epsilon=epsilon,
        feature_std=feature_std,
        feature_mean=5.0,
        batch_size=32,
        seed=3,
    )
    # The batch is standardized, then scaled: its statistics are the requested ones.
    assert ex.x.shape == ex.x_hat.shape == ex.y.shape == (32,)
    assert ex.mean == pytest.approx(5.0, rel=REL)
    assert ex.variance == pytest.approx(feature_std**2, rel=1e-9)  # 5.0 + 1e-3 * z loses ~4 digits
    # Algorithm 1 written out directly.
    x_hat = (ex.x - ex.x.mean()) / np.sqrt(ex.x.var() + epsilon)
    np.testing.assert_allclose(ex.x_hat, x_hat, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(ex.y, 1.7 * x_hat - 0.4, rtol=1e-10, atol=1e-12)
    # std(x_hat) = sigma / sqrt(sigma^2 + epsilon), y has mean beta and std |gamma| std(x_hat).
    assert ex.x_hat_std == pytest.approx(ia.epsilon_damping(feature_std, epsilon), rel=1e-9)
    assert ex.y.mean() == pytest.approx(-0.4, abs=1e-12)
    assert ex.y.std() == pytest.approx(1.7 * ex.x_hat_std, rel=1e-12)


def test_epsilon_damping_keras_against_pytorch_as_chapter_3_states():
    # A feature with batch std 0.01 (variance 1e-4): Keras's 1e-3 keeps 30 % of unit scale,
    # PyTorch's 1e-5 keeps 95 %.
    assert ia.epsilon_damping(0.01, ia.KERAS_EPSILON) == pytest.approx(
        0.01 / math.sqrt(1.1e-3), rel=REL
    )
    assert ia.epsilon_damping(0.01, ia.TORCH_EPSILON) == pytest.approx(
        0.01 / math.sqrt(1.1e-4), rel=REL
    )
    assert ia.KERAS_EPSILON == 1e-3 and ia.TORCH_EPSILON == 1e-5
    # Limits: 1 - eps / (2 sigma^2) for sigma^2 >> eps, sigma / sqrt(eps) for sigma^2 << eps.
    assert ia.epsilon_damping(10.0, 1e-3) == pytest.approx(1 - 1e-3 / 200, rel=1e-9)
    assert ia.epsilon_damping(1e-5, 1e-3) == pytest.approx(1e-5 / math.sqrt(1e-3), rel=1e-6)
    stds = np.array([0.0, 1e-3, 1.0])
    out = ia.epsilon_damping(stds, 1e-3)
    assert out.shape == (3,) and out[0] == 0.0
    np.testing.assert_array_equal(stds, [0.0, 1e-3, 1.0])


def test_feature_example_is_deterministic_given_the_seed():
    a = ia.gamma_beta_epsilon_example(seed=5)
    b = ia.gamma_beta_epsilon_example(seed=5)
    c = ia.gamma_beta_epsilon_example(seed=6)
    np.testing.assert_array_equal(a.x, b.x)
    assert not np.array_equal(a.x, c.x)


def test_plot_gamma_beta_epsilon_draws_the_computed_numbers():
    settings = dict(
        gamma=[1.0, 2.0, 1.0],
        beta=[0.0, 1.0, 0.0],
        epsilon=[1e-3, 1e-3, 1e-5],
        feature_std=[1.0, 1.0, 0.01],
    )
    fig = ia.plot_gamma_beta_epsilon(**settings, seed=2)
    axes = np.array(fig.axes).reshape(3, 3)
    for row, (g, b, e, s) in enumerate(zip(*settings.values())):
        ex = ia.gamma_beta_epsilon_example(gamma=g, beta=b, epsilon=e, feature_std=s, seed=2)
        x_strip, y_strip = axes[row, 1].collections[1:3]  # [0] is the LineCollection
        np.testing.assert_allclose(x_strip.get_offsets()[:, 0], ex.x_hat, rtol=REL)
        np.testing.assert_allclose(y_strip.get_offsets()[:, 0], ex.y, rtol=REL)
        np.testing.assert_allclose(axes[row, 0].collections[0].get_offsets()[:, 0], ex.x, rtol=REL)
        # The dot on the damping curve is at (sigma_B, std of x_hat).
        dot = [line for line in axes[row, 2].lines if line.get_marker() == "o"][0]
        assert dot.get_ydata()[0] == pytest.approx(ex.x_hat_std, rel=REL)
        assert f"{ex.x_hat_std:.0%}" in _text(axes[row, 2].get_title())
    assert "damps" in _text(fig._suptitle)
    assert axes[2, 2].get_xlabel() and axes[2, 1].get_xlabel() and axes[0, 2].get_ylabel()


def test_plot_gamma_beta_epsilon_title_states_the_finding_and_colours_come_from_the_palette():
    damped = ia.plot_gamma_beta_epsilon(feature_std=0.01, epsilon=1e-3)
    assert "damped to std 0.30" in _text(damped._suptitle)
    unit = ia.plot_gamma_beta_epsilon(feature_std=1.0, gamma=2.0, beta=0.5)
    assert "unit scale" in _text(unit._suptitle) and "(0.50)" in _text(unit._suptitle)
    palette = {matplotlib.colors.to_hex(c) for c in PALETTE}
    ax = unit.axes[1]
    for strip in ax.collections[1:3]:
        assert matplotlib.colors.to_hex(strip.get_facecolor()[0]) in palette


def test_plot_gamma_beta_epsilon_does_not_modify_sequences():
    gamma = np.array([1.0, 2.0])
    beta = [0.0, 1.0]
    ia.plot_gamma_beta_epsilon(gamma=gamma, beta=beta, feature_std=(1.0, 0.1))
    np.testing.assert_array_equal(gamma, [1.0, 2.0])
    assert beta == [0.0, 1.0]


@pytest.mark.parametrize(
    ("kwargs", "error", "name"),
    [
        (dict(epsilon=0.0), ValueError, "epsilon"),
        (dict(epsilon=-1e-3), ValueError, "epsilon"),
        (dict(feature_std=0.0), ValueError, "feature_std"),
        (dict(feature_std=float("nan")), ValueError, "feature_std"),
        (dict(gamma="1"), TypeError, "gamma"),
        (dict(beta=True), TypeError, "beta"),
        (dict(beta=float("inf")), ValueError, "beta"),
        (dict(batch_size=1), ValueError, "batch_size"),
        (dict(batch_size=8.0), TypeError, "batch_size"),
        (dict(seed=-1), ValueError, "seed"),
        (
            dict(gamma=[1.0, 2.0], epsilon=[1e-3, 1e-4, 1e-5]),
            ValueError,
            "gamma has 2, epsilon has 3",
        ),
        (dict(gamma=[]), ValueError, "gamma"),
        (dict(gamma=[[1.0]]), ValueError, "gamma"),
        (dict(title=3), TypeError, "title"),
    ],
)
def test_plot_gamma_beta_epsilon_rejects_bad_arguments(kwargs, error, name):
    with pytest.raises(error, match=name):
        ia.plot_gamma_beta_epsilon(**kwargs)


def test_epsilon_damping_rejects_bad_arguments():
    with pytest.raises(ValueError, match="epsilon"):
        ia.epsilon_damping(1.0, 0.0)
    with pytest.raises(ValueError, match="feature_std"):
        ia.epsilon_damping(-1.0)


# ---------------------------------------------------------------------------------------------
# Exploration 2: the momentum of a moving average against noisy batch statistics


@pytest.mark.parametrize("momentum", [0.5, 0.9, 0.99, 0.999])
def test_moving_average_theory(momentum):
    th = ia.moving_average_theory(momentum, batch_size=16)
    assert momentum**th.half_life == pytest.approx(0.5, rel=REL)
    assert th.lag == pytest.approx(momentum / (1 - momentum), rel=REL)
    # The long-run variance of rho * a + (1 - rho) * b with b of variance s^2: s^2 (1-rho)/(1+rho).
    assert th.mean_noise**2 == pytest.approx((1 / 16) * (1 - momentum) / (1 + momentum), rel=REL)
    assert th.batch_mean_noise == 0.25 and th.variance_level == 15 / 16 and th.batch_size == 16
    assert th.variance_noise**2 == pytest.approx(
        2 * 15 / 16**2 * (1 - momentum) / (1 + momentum), rel=REL
    )
    assert ia.moving_average_theory(0.99).half_life == pytest.approx(68.9676, abs=1e-4)


def test_moving_average_trace_is_what_bnlib_batchnorm_keeps():
    tr = ia.moving_average_trace(momentum=0.95, batch_size=8, n_steps=90, n_replicas=3, seed=4)
    # Batches with exactly the trace's batch statistics, fed to the layer in training mode.
    z = np.random.default_rng(0).standard_normal((8, 3))
    z = (z - z.mean(axis=0)) / z.std(axis=0)
    layer = bnlib.BatchNorm(momentum=0.95)
    for t in range(90):
        layer(tr.batch_mean[t] + np.sqrt(tr.batch_variance[t]) * z, training=True)
        np.testing.assert_allclose(layer.moving_mean, tr.moving_mean[t], rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(layer.moving_variance, tr.moving_variance[t], rtol=1e-12)


def test_moving_average_lags_a_jump_by_its_half_life_and_a_drift_by_rho_over_one_minus_rho():
    rho, jump, drift = 0.9, 1.5, 0.8
    tr = ia.moving_average_trace(momentum=rho, jump=jump, drift=drift, n_steps=600, seed=0)
    assert (tr.jump_step, tr.ramp_step) == (200, 400)
    np.testing.assert_array_equal(tr.true_mean[:199], 0.0)
    gap = tr.true_mean - tr.expected_moving_mean  # the lag part of the error (no noise)
    # k steps after the jump, the expectation still misses jump * rho**k.
    for k in (1, 5, 20):
        assert gap[tr.jump_step - 2 + k] == pytest.approx(jump * rho**k, rel=1e-9)
    k_half = round(tr.theory.half_life)  # 7 steps for rho = 0.9
    assert gap[tr.jump_step - 2 + k_half] / jump == pytest.approx(0.5, abs=0.06)
    # 200 steps into the drift (rho**200 ~ 7e-10 of the transient left) the average trails the
    # true mean by rho / (1 - rho) steps of drift.
    assert gap[-1] == pytest.approx(drift / 100 * tr.theory.lag, rel=1e-6)


def test_moving_average_noise_matches_theory_across_replicas():
    # m = 4, rho = 0.99, 2,000 replicas: at step 199 (just before the jump) the moving mean's
    # deviation from its expectation has std noise_std[198] (= 0.99 of the long-run value); the
    # sample std over 2,000 replicas has a relative standard error of 1/sqrt(2 * 2000) = 1.6 %.
    tr = ia.moving_average_trace(momentum=0.99, batch_size=4, n_steps=600, n_replicas=2000, seed=1)
    t = tr.jump_step - 2
    deviation = tr.moving_mean[t] - tr.expected_moving_mean[t]
    assert deviation.std() == pytest.approx(tr.noise_std[t], rel=5 * 0.016)
    assert tr.noise_std[t] == pytest.approx(
        tr.theory.mean_noise * math.sqrt(1 - 0.99 ** (2 * (t + 1))), rel=REL
    )
    # The batch means scatter by 1/sqrt(m) (SE 0.016 relative over 2,000 replicas).
    assert tr.batch_mean[t].std() == pytest.approx(0.5, rel=5 * 0.016)
    # The moving variance averages the biased batch variance: its expectation is the moving
    # average of (m-1)/m (SE: long-run noise / sqrt(2000)).
    se = tr.theory.variance_noise / math.sqrt(2000)
    assert tr.moving_variance[-1].mean() == pytest.approx(
        tr.expected_moving_variance[-1], abs=5 * se
    )
    assert tr.expected_moving_variance[-1] == pytest.approx(0.75 + 0.25 * 0.99**600, rel=1e-9)
    assert tr.moving_variance[-1].std() == pytest.approx(tr.theory.variance_noise, rel=5 * 0.016)


def test_plot_moving_average_draws_the_trace_and_states_the_trade_off():
    fig = ia.plot_moving_average(momentum=[0.9, 0.999], batch_size=16, seed=3)
    axes = np.array(fig.axes).reshape(2, 2)
    for row, rho in enumerate([0.9, 0.999]):
        tr = ia.moving_average_trace(momentum=rho, batch_size=16, seed=3)
        moving = [line for line in axes[row, 0].lines if line.get_label() == "moving mean"][0]
        np.testing.assert_array_equal(moving.get_ydata(), tr.moving_mean[:, 0])
        variance = [line for line in axes[row, 1].lines if line.get_label() == "moving variance"][0]
        np.testing.assert_array_equal(variance.get_ydata(), tr.moving_variance[:, 0])
        assert f"half-life {tr.theory.half_life:.3g} steps" in _text(axes[row, 0].get_title())
        assert f"noise ±{tr.theory.mean_noise:.3f}" in _text(axes[row, 0].get_title())
        assert axes[row, 0].get_ylabel() and axes[row, 1].get_ylabel()
    assert "more slowly" in _text(fig._suptitle)
    single = ia.plot_moving_average(momentum=0.99, batch_size=32)
    assert "noise against lag" in _text(single._suptitle) and "14.1x" in _text(single._suptitle)


@pytest.mark.parametrize(
    ("kwargs", "error", "name"),
    [
        (dict(momentum=1.0), ValueError, "momentum"),
        (dict(momentum=-0.1), ValueError, "momentum"),
        (dict(momentum="0.9"), TypeError, "momentum"),
        (dict(batch_size=1), ValueError, "batch_size"),
        (dict(jump=float("nan")), ValueError, "jump"),
        (dict(drift=None), TypeError, "drift"),
        (dict(n_steps=10), ValueError, "n_steps"),
        (dict(seed=1.5), TypeError, "seed"),
        (dict(momentum=[0.9, 0.99], batch_size=[8, 16, 32]), ValueError, "momentum has 2"),
    ],
)
def test_plot_moving_average_rejects_bad_arguments(kwargs, error, name):
    with pytest.raises(error, match=name):
        ia.plot_moving_average(**kwargs)


def test_moving_average_trace_rejects_bad_replicas():
    with pytest.raises(ValueError, match="n_replicas"):
        ia.moving_average_trace(n_replicas=0)


# ---------------------------------------------------------------------------------------------
# Exploration 3: batch size against the noise of the batch statistics


@pytest.mark.parametrize("distribution", ["normal", "relu"])
@pytest.mark.parametrize("m", [2, 4, 16, 64])
def test_batch_statistics_spread_matches_theory(m, distribution):
    n = 20_000
    sp = ia.batch_statistics_spread(batch_size=m, n_batches=n, distribution=distribution, seed=m)
    assert sp.batch_mean.shape == sp.batch_variance.shape == (n,)
    assert sp.theory_mean_std == 1 / math.sqrt(m) and sp.theory_variance_mean == (m - 1) / m
    # sigma / sqrt(m), for any distribution (standard error of a sample std, from its kurtosis).
    assert sp.mean_std == pytest.approx(
        sp.theory_mean_std, abs=5 * _sd_standard_error(sp.batch_mean)
    )
    # The biased variance averages (m-1)/m sigma^2 (standard error sd / sqrt(n)).
    assert sp.variance_mean == pytest.approx(
        sp.theory_variance_mean, abs=5 * sp.variance_std / math.sqrt(n)
    )
    # Its spread: sqrt(2 (m-1)) / m for normal data, larger for the heavy-tailed ReLU feature.
    assert sp.variance_std == pytest.approx(
        sp.theory_variance_std, abs=5 * _sd_standard_error(sp.batch_variance)
    )
    if distribution == "normal":
        assert sp.theory_variance_std == pytest.approx(math.sqrt(2 * (m - 1)) / m, rel=REL)
    # The values themselves: standardized (mean 0, std 1) whatever the distribution.
    assert sp.batch_mean.mean() == pytest.approx(0.0, abs=5 * sp.theory_mean_std / math.sqrt(n))


def test_relu_moments_are_those_of_max_of_a_standard_normal():
    a, var, mu4 = ia._relu_moments()
    assert a == pytest.approx(1 / math.sqrt(2 * math.pi), rel=REL)
    assert var == pytest.approx(0.5 - 1 / (2 * math.pi), rel=REL)
    # Monte Carlo check of the 4th central moment: 2,000,000 draws, relative SE about 0.3 %.
    z = np.maximum(np.random.default_rng(0).standard_normal(2_000_000), 0.0)
    assert np.mean((z - z.mean()) ** 4) == pytest.approx(mu4, rel=0.015)


@pytest.mark.parametrize("m", [2, 5, 64, 1024])
def test_scaled_chi2_density_is_the_biased_variance_density(m):
    # It integrates to 1 and has mean (m-1)/m (trapezoid on a fine grid; the m = 2 density has an
    # integrable 1/sqrt(v) spike at 0, handled by integrating sqrt(v) analytically near 0).
    v = np.linspace(1e-6, 12.0, 2_000_001)
    pdf = ia._scaled_chi2_pdf(v, m)
    head = 0.0
    if m == 2:  # density ~ c / sqrt(v) near 0; add the mass on [0, 1e-6]
        head = pdf[0] * math.sqrt(v[0]) * 2 * math.sqrt(v[0])
    assert np.trapezoid(pdf, v) + head == pytest.approx(1.0, abs=2e-3)
    assert np.trapezoid(v * pdf, v) == pytest.approx((m - 1) / m, abs=2e-3)


def test_plot_batch_size_draws_the_histograms_and_overlays_theory():
    fig = ia.plot_batch_size(batch_size=[4, 64], n_batches=3000, seed=7)
    axes = np.array(fig.axes).reshape(2, 2)
    for row, m in enumerate([4, 64]):
        sp = ia.batch_statistics_spread(m, 3000, "normal", 7)
        hist = axes[row, 0].patches[0]  # the stairs of the batch means
        counts, edges = np.histogram(sp.batch_mean, np.linspace(-2.5, 2.5, 101))
        heights = counts / (3000 * (edges[1] - edges[0]))
        np.testing.assert_allclose(hist.get_data().values, heights, rtol=REL)
        dashed = [
            line.get_xdata()[0] for line in axes[row, 0].lines if line.get_linestyle() == "--"
        ]
        np.testing.assert_allclose(sorted(dashed), [-1 / math.sqrt(m), 1 / math.sqrt(m)], rtol=REL)
        marker = [
            line for line in axes[row, 1].lines if line.get_label() == "$(m-1)/m\\;\\sigma^2$"
        ][0]
        assert marker.get_xdata()[0] == pytest.approx((m - 1) / m, rel=REL)
        assert f"±{sp.mean_std:.3f}" in _text(axes[row, 0].get_title())
        assert f"average {sp.variance_mean:.3f}" in _text(axes[row, 1].get_title())
    assert "(m-1)/m" in _text(fig._suptitle)
    single = ia.plot_batch_size(batch_size=4, distribution="relu")
    assert "25% low" in _text(single._suptitle)
    assert "ReLU" in single.axes[0].get_xlabel()


@pytest.mark.parametrize(
    ("kwargs", "error", "name"),
    [
        (dict(batch_size=1), ValueError, "batch_size"),
        (dict(batch_size=[4, 0]), ValueError, "batch_size"),
        (dict(n_batches=1), ValueError, "n_batches"),
        (dict(distribution="uniform"), ValueError, "distribution"),
        (dict(seed=None), TypeError, "seed"),
    ],
)
def test_plot_batch_size_rejects_bad_arguments(kwargs, error, name):
    with pytest.raises(error, match=name):
        ia.plot_batch_size(**kwargs)


def test_plots_are_deterministic_given_the_seed():
    for plot in (ia.plot_gamma_beta_epsilon, ia.plot_moving_average, ia.plot_batch_size):
        a, b, c = plot(seed=11), plot(seed=11), plot(seed=12)
        data = [
            np.concatenate(
                [np.ravel(line.get_ydata()) for line in fig.axes[0].lines]
                + [np.ravel(col.get_offsets()) for col in fig.axes[0].collections]
                + [
                    np.ravel(p.get_data().values)
                    for p in fig.axes[0].patches
                    if hasattr(p, "get_data")
                ]
            )
            for fig in (a, b, c)
        ]
        np.testing.assert_array_equal(data[0], data[1])
        assert not np.array_equal(data[0], data[2]), plot.__name__


# ---------------------------------------------------------------------------------------------
# The widgets, built without a frontend


EXPLORERS = [
    (
        ia.explore_gamma_beta_epsilon,
        "plot_gamma_beta_epsilon",
        {"gamma": 2.0, "beta": -1.0, "epsilon": 1e-5, "feature_std": 0.01},
    ),
    (
        ia.explore_moving_average,
        "plot_moving_average",
        {"momentum": 0.999, "batch_size": 4, "jump": -2.0, "drift": 0.5, "n_steps": 1200},
    ),
    (
        ia.explore_batch_size,
        "plot_batch_size",
        {"batch_size": 64, "n_batches": 500, "distribution": "relu"},
    ),
]


@pytest.mark.parametrize(
    ("explore", "plot_name", "changes"), EXPLORERS, ids=lambda v: getattr(v, "__name__", "")
)
def test_explorer_builds_headless_and_a_slider_change_redraws(
    explore, plot_name, changes, monkeypatch, capsys
):
    import ipywidgets as widgets

    calls = []
    real_plot = getattr(ia, plot_name)

    def recording_plot(**kwargs):
        calls.append(kwargs)
        return real_plot(**kwargs)

    monkeypatch.setattr(ia, plot_name, recording_plot)
    ui = explore()
    assert isinstance(ui, widgets.VBox) and isinstance(ui.image, widgets.Image)
    assert set(changes) == set(ui.controls)
    # Nothing is drawn until a frontend shows the widget (a headless run stores no figure) ...
    assert ui.draw_count == 0 and calls == [] and ui.image.value == b""
    ui.image._view_count = 1  # what JupyterLab reports when it shows it
    assert ui.draw_count == 1 and len(calls) == 1
    assert ui.image.value[:8] == b"\x89PNG\r\n\x1a\n"
    ui.image._view_count = 2  # a second view does not redraw
    assert ui.draw_count == 1
    for name, value in changes.items():
        before = ui.image.value
        ui.controls[name].value = value  # what moving the slider does
        assert calls[-1][name] == value, name
        assert ui.last_values[name] == value
        assert ui.image.value[:8] == b"\x89PNG\r\n\x1a\n" and ui.image.value != before, name
    assert ui.draw_count == 1 + len(changes) == len(calls)
    assert calls[-1] == {**ui.last_values}
    assert plt.get_fignums() == [], "the explorer must close every figure it draws"
    assert "run this cell in Jupyter" in repr(ui)
    captured = capsys.readouterr()
    assert captured.out == captured.err == "", "the explorer draws into its widgets only"


def test_explorer_sliders_cover_the_values_the_chapters_discuss():
    eps = ia.explore_gamma_beta_epsilon().controls["epsilon"]
    assert eps.__class__.__name__ == "FloatLogSlider" and eps.min <= -5 and eps.max >= -3
    for value in (1e-3, 1e-5):
        eps.value = value
        assert eps.value == value
    assert all(
        c.continuous_update is False for c in ia.explore_gamma_beta_epsilon().controls.values()
    )
    momentum = ia.explore_moving_average().controls["momentum"]
    assert {0.9, 0.99, 0.999} <= set(momentum.options)
    sizes = ia.explore_batch_size().controls["batch_size"]
    assert {2, 4, 64, 1024} <= set(sizes.options)


@pytest.mark.parametrize("explore", [ia.explore_moving_average, ia.explore_batch_size])
def test_new_batches_button_redraws_with_another_seed(explore):
    ui = explore()
    ui.redraw()
    assert ui.last_values["seed"] == 0
    before = ui.image.value
    ui.new_sample_button.click()
    assert ui.last_values["seed"] == 1 and ui.draw_count == 2 and ui.image.value != before


# ---------------------------------------------------------------------------------------------
# The chapters that use the explorations


CHAPTERS = {
    "03_batchnorm_algorithm.ipynb": ["explore_gamma_beta_epsilon"],
    "05_inference.ipynb": ["explore_moving_average", "explore_batch_size"],
}


@pytest.mark.parametrize("name", sorted(CHAPTERS))
def test_chapter_has_the_widget_cells_hidden_from_the_book_and_no_widget_state(name):
    nb = json.loads((ROOT / "chapters" / name).read_text(encoding="utf-8"))
    # Widget state in the notebook would make the book load require.js and the widget manager
    # from a CDN (myst-nb embeds it); the book must work offline.
    assert "widgets" not in nb["metadata"], f"{name}: strip metadata.widgets"
    cells = {
        fn: [
            c for c in nb["cells"] if c["cell_type"] == "code" and f"{fn}()" in "".join(c["source"])
        ]
        for fn in CHAPTERS[name]
    }
    for fn, found in cells.items():
        assert len(found) == 1, f"{name}: expected one cell calling {fn}()"
        cell = found[0]
        assert "remove-cell" in cell["metadata"].get("tags", []), (
            f"{name}: {fn} cell not tagged remove-cell"
        )
        assert "nbval-ignore-output" in cell["metadata"].get("tags", []), fn
    # Each static figure is drawn by the matching plot_* function, in a cell the book shows.
    for fn in CHAPTERS[name]:
        plot = fn.replace("explore_", "plot_")
        static = [
            c for c in nb["cells"] if c["cell_type"] == "code" and plot in "".join(c["source"])
        ]
        assert static and all("remove-cell" not in c["metadata"].get("tags", []) for c in static), (
            plot
        )


def test_long_titles_wrap_between_words_and_never_inside_math():
    text = (
        r"$\sigma^2_\mathcal{B}$ = 9.0e-04 is not large against $\epsilon = 10^{-3}$: it is damped"
    )
    wrapped = ia._wrap(text, 30)
    assert " ".join(wrapped.split()) == text
    for line in wrapped.split("\n"):
        assert line.count("$") % 2 == 0, line  # every line holds whole math expressions
    assert ia._wrap("short title", 95) == "short title"
