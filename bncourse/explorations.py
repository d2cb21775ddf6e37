"""Three explorations to play with: figures for the book and sliders for Jupyter.

Each exploration has

* a helper that computes its numbers (returned as a frozen dataclass, so they can be checked
  against theory),
* a pure plotting function that draws the figure for given parameter values with matplotlib and
  returns it (deterministic for a given ``seed``; a parameter given as a sequence draws one row per
  value, which is how the book shows several settings side by side), and
* an ``explore_*`` function that returns an ipywidgets user interface whose sliders redraw that
  figure. The chapters' notebook versions (Binder) call it; the rendered book shows the static
  figure only.

The three explorations:

* **gamma, beta and epsilon on one feature** (chapter 3): :func:`gamma_beta_epsilon_example`,
  :func:`epsilon_damping`, :func:`plot_gamma_beta_epsilon`, :func:`explore_gamma_beta_epsilon`;
* **the momentum of a moving average against noisy batch statistics** (chapter 5):
  :func:`moving_average_trace`, :func:`moving_average_theory`, :func:`plot_moving_average`,
  :func:`explore_moving_average`;
* **batch size against the noise of the batch statistics** (chapter 5):
  :func:`batch_statistics_spread`, :func:`plot_batch_size`, :func:`explore_batch_size`.

Like :mod:`bncourse.plotting`, this module is imported on demand (``import bncourse.explorations``),
not by ``import bncourse``; matplotlib is imported by the plotting functions and ipywidgets only by the
``explore_*`` functions.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numpy as np

from bnlib._checks import check_integer, check_positive
from bnlib.batchnorm import batch_norm_forward, batch_statistics

from .plotting import PALETTE

__all__ = [
    "BatchSpread",
    "FeatureExample",
    "MovingAverageTheory",
    "MovingAverageTrace",
    "batch_statistics_spread",
    "epsilon_damping",
    "explore_batch_size",
    "explore_gamma_beta_epsilon",
    "explore_moving_average",
    "gamma_beta_epsilon_example",
    "moving_average_theory",
    "moving_average_trace",
    "plot_batch_size",
    "plot_gamma_beta_epsilon",
    "plot_moving_average",
]

#: Default epsilon of Keras's ``BatchNormalization`` and of PyTorch's ``BatchNorm1d``/``2d``.
KERAS_EPSILON = 1e-3
TORCH_EPSILON = 1e-5

_TRUTH = PALETTE[7]  # black: true (population) values
_MAIN = PALETTE[0]  # blue: what the layer computes
_SECOND = PALETTE[1]  # orange: theory / a second quantity
_THIRD = PALETTE[2]  # bluish green
_NOISE_ALPHA = 0.25  # per-batch values: black, faint


# ---------------------------------------------------------------------------------------------
# Argument checks


def _real(value, name: str) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return number


def _int_at_least(value, name: str, low: int) -> int:
    number = check_integer(value, name)
    if number < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    return number


def _momentum(value, name: str = "momentum") -> float:
    number = _real(value, name)
    if not 0.0 <= number < 1.0:
        raise ValueError(
            f"{name} must lie in [0, 1) (Keras's convention: the weight kept by the old value; "
            f"1 would never update), got {value!r}"
        )
    return number


def _seed(value) -> int:
    return _int_at_least(value, "seed", 0)


def _rows(**params) -> list[dict]:
    """Broadcast scalar-or-sequence parameters to one dict per figure row (inputs not modified)."""
    lengths = {}
    for name, value in params.items():
        if isinstance(value, (list, tuple, np.ndarray)):
            if np.ndim(value) != 1 or len(value) == 0:
                raise ValueError(
                    f"{name} must be a number or a non-empty 1-D sequence (one value per row), "
                    f"got {value!r}"
                )
            lengths[name] = len(value)
    if len(set(lengths.values())) > 1:
        detail = ", ".join(f"{name} has {n}" for name, n in lengths.items())
        raise ValueError(
            f"parameters given as sequences must have the same length (one value per row): {detail}"
        )
    n_rows = next(iter(lengths.values())) if lengths else 1
    return [
        {name: (value[i] if name in lengths else value) for name, value in params.items()}
        for i in range(n_rows)
    ]


def _grid(
    n_rows,
    n_cols,
    row_height,
    gap,
    title_lines=1,
    width=10.0,
    bottom=0.6,
    left=0.75,
    right=0.2,
    col_gap=0.9,
    **kwargs,
):
    """``plt.subplots`` with fixed margins in inches (cheaper than ``tight_layout``).

    The top margin holds a figure title of ``title_lines`` lines above two-line axes titles.
    """
    import matplotlib.pyplot as plt

    top = 0.25 + 0.24 * title_lines + 0.5
    height = top + bottom + n_rows * row_height + (n_rows - 1) * gap
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(width, height), squeeze=False, **kwargs)
    axis_width = (width - left - right - (n_cols - 1) * col_gap) / n_cols
    fig.subplots_adjust(
        left=left / width,
        right=1 - right / width,
        bottom=bottom / height,
        top=1 - top / height,
        hspace=gap / row_height,
        wspace=col_gap / axis_width,
    )
    return fig, axes


def _wrap(text: str, width: int) -> str:
    """Break ``text`` into lines of at most about ``width`` characters, never inside $...$."""
    words, lines, line, in_math = text.split(" "), [], "", False
    for word in words:
        if line and not in_math and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
        in_math ^= word.count("$") % 2 == 1
    return "\n".join(lines + [line])


def _suptitle(fig, text):
    fig.suptitle(text, fontsize=12, y=1 - 0.15 / fig.get_figheight(), va="top")


def _num(value: float, digits: int) -> str:
    """``value`` with ``digits`` decimals, never as "-0.00"."""
    return f"{round(float(value), digits) + 0.0:.{digits}f}"


def _fmt_exp(value: float) -> str:
    """1e-3 -> '10^{-3}' for mathtext when value is a power of ten, else '1.5e-03'."""
    exponent = math.log10(value)
    if abs(exponent - round(exponent)) < 1e-9:
        return f"10^{{{int(round(exponent))}}}"
    return f"{value:.1e}"


# ---------------------------------------------------------------------------------------------
# Exploration 1: gamma, beta and epsilon on one feature (chapter 3)


@dataclass(frozen=True)
class FeatureExample:
    """One feature's batch, normalized and scaled: what :func:`gamma_beta_epsilon_example` returns.

    Attributes
    ----------
    x : ndarray, shape (m,)
        The feature's values in the batch; by construction their mean is ``feature_mean`` and their
        biased standard deviation ``feature_std`` (up to rounding).
    mean, variance : float
        The batch statistics :math:`\\mu_\\mathcal{B}`, :math:`\\sigma^2_\\mathcal{B}` (biased).
    x_hat : ndarray, shape (m,)
        ``(x - mean) / sqrt(variance + epsilon)``.
    y : ndarray, shape (m,)
        ``gamma * x_hat + beta``.
    x_hat_std : float
        The standard deviation of ``x_hat``; equals :func:`epsilon_damping` of the batch's std.
    gamma, beta, epsilon : float
        The parameters used.
    """

    x: np.ndarray
    mean: float
    variance: float
    x_hat: np.ndarray
    y: np.ndarray
    x_hat_std: float
    gamma: float
    beta: float
    epsilon: float


def epsilon_damping(feature_std, epsilon=KERAS_EPSILON):
    """The standard deviation of :math:`\\hat{x}` for a feature whose batch std is ``feature_std``.

    Normalizing divides by :math:`\\sqrt{\\sigma^2_\\mathcal{B} + \\epsilon}` rather than by
    :math:`\\sigma_\\mathcal{B}`, so :math:`\\hat{x}` has standard deviation
    :math:`\\sigma_\\mathcal{B} / \\sqrt{\\sigma^2_\\mathcal{B} + \\epsilon}`: about 1 when
    :math:`\\sigma^2_\\mathcal{B} \\gg \\epsilon`, about :math:`\\sigma_\\mathcal{B}/\\sqrt{\\epsilon}`
    when it is much smaller (chapter 3).

    Parameters
    ----------
    feature_std : float or array_like of float >= 0
    epsilon : float > 0

    Returns
    -------
    float or ndarray, the shape of ``feature_std``
    """
    epsilon = check_positive(epsilon, "epsilon")
    std = np.asarray(feature_std, dtype=float)
    if not np.all(np.isfinite(std)) or np.any(std < 0):
        raise ValueError(f"feature_std must be finite and >= 0, got {feature_std!r}")
    out = std / np.sqrt(std**2 + epsilon)
    return float(out) if out.ndim == 0 else out


def gamma_beta_epsilon_example(
    gamma=1.0,
    beta=0.0,
    epsilon=KERAS_EPSILON,
    feature_std=1.0,
    feature_mean=5.0,
    batch_size=32,
    seed=0,
):
    """Normalize, scale and shift one feature's batch with :func:`bnlib.batch_norm_forward`.

    The batch is ``batch_size`` normal draws, standardized and then scaled so that its mean is
    exactly ``feature_mean`` and its (biased) standard deviation exactly ``feature_std``: the
    figure is about what batch normalization does to a feature of a given spread, not about
    sampling noise.

    Parameters
    ----------
    gamma, beta : float
        The learned scale and shift.
    epsilon : float > 0
    feature_std : float > 0
        The batch standard deviation :math:`\\sigma_\\mathcal{B}` of the feature.
    feature_mean : float
    batch_size : int >= 2
    seed : int >= 0

    Returns
    -------
    FeatureExample
    """
    gamma = _real(gamma, "gamma")
    beta = _real(beta, "beta")
    epsilon = check_positive(epsilon, "epsilon")
    feature_std = check_positive(feature_std, "feature_std")
    feature_mean = _real(feature_mean, "feature_mean")
    batch_size = _int_at_least(batch_size, "batch_size", 2)
    rng = np.random.default_rng(_seed(seed))
    z = rng.standard_normal(batch_size)
    z = (z - z.mean()) / z.std()
    x = feature_mean + feature_std * z
    y, cache = batch_norm_forward(x[:, None], np.array([gamma]), np.array([beta]), epsilon=epsilon)
    x_hat = cache.x_hat[:, 0]
    return FeatureExample(
        x=x,
        mean=float(cache.mean[0]),
        variance=float(cache.variance[0]),
        x_hat=x_hat,
        y=y[:, 0],
        x_hat_std=float(x_hat.std()),
        gamma=gamma,
        beta=beta,
        epsilon=epsilon,
    )


def _jitter(n: int, seed: int) -> np.ndarray:
    """Deterministic vertical offsets in [-0.12, 0.12] so that equal values stay visible."""
    return np.random.default_rng(seed + 10_007).uniform(-0.12, 0.12, n)


def plot_gamma_beta_epsilon(
    gamma=1.0,
    beta=0.0,
    epsilon=KERAS_EPSILON,
    feature_std=0.03,
    feature_mean=5.0,
    batch_size=32,
    seed=0,
    title=None,
):
    """Draw one feature's batch before and after normalization, scaling and shifting.

    Each row shows one setting, in three panels: the input values :math:`x` (in the feature's own
    units); :math:`\\hat{x}` and :math:`y = \\gamma\\hat{x} + \\beta` on a common axis, each
    :math:`\\hat{x}_i` joined to its :math:`y_i`; and the damping curve
    :func:`epsilon_damping` for this ``epsilon`` and for Keras's and PyTorch's defaults, with the
    feature marked on it.

    Parameters
    ----------
    gamma, beta, epsilon, feature_std, feature_mean : float or sequence of float
        As in :func:`gamma_beta_epsilon_example`. Any of them may be a sequence: the figure then
        has one row per value (sequences must have equal lengths; scalars are shared).
    batch_size : int >= 2
    seed : int >= 0
        The same seed gives the same figure.
    title : str, optional
        Overrides the title, which otherwise states what the figure shows for these values.

    Returns
    -------
    matplotlib.figure.Figure
        Drawn with pyplot; show it with ``plt.show()`` (which also closes it) or close it with
        ``plt.close(fig)``.
    """
    from matplotlib.collections import LineCollection

    rows = _rows(
        gamma=gamma, beta=beta, epsilon=epsilon, feature_std=feature_std, feature_mean=feature_mean
    )
    examples = [gamma_beta_epsilon_example(batch_size=batch_size, seed=seed, **row) for row in rows]
    if title is not None and not isinstance(title, str):
        raise TypeError(f"title must be a string or None, got {title!r}")

    n = len(examples)
    if title is None:
        if n == 1:
            ex = examples[0]
            if ex.x_hat_std < 0.9:
                title = (
                    rf"$\sigma^2_\mathcal{{B}}$ = {ex.variance:.1e} is not large against "
                    rf"$\epsilon = {_fmt_exp(ex.epsilon)}$: $\hat{{x}}$ is damped to std "
                    f"{ex.x_hat_std:.2f}, and $y$ inherits it"
                )
            else:
                title = (
                    rf"$\sigma^2_\mathcal{{B}} \gg \epsilon$: $\hat{{x}}$ has unit scale; "
                    rf"$\gamma$ sets $y$'s std ({ex.y.std():.2f}), $\beta$ its mean "
                    f"({_num(ex.y.mean(), 2)})"
                )
        else:
            title = (
                r"$\gamma$ and $\beta$ set the output's scale and shift; "
                r"$\epsilon$ damps a feature whose variance is not large against it"
            )
    title = _wrap(title, 85)
    fig, axes = _grid(
        n,
        3,
        row_height=1.75,
        gap=0.95,
        title_lines=title.count("\n") + 1,
        col_gap=0.8,
        gridspec_kw={"width_ratios": [1.0, 1.5, 1.1]},
    )
    jitter = _jitter(examples[0].x.size, _seed(seed))
    # One x-range for every row's middle panel, so rows can be compared.
    reach = max(np.abs(np.concatenate([e.x_hat, e.y])).max() for e in examples)
    limit = max(4.0, math.ceil(reach + 0.5))
    stds = np.logspace(-4, 1, 300)
    for row, (ex, (ax_x, ax_n, ax_e)) in enumerate(zip(examples, axes)):
        sigma = math.sqrt(ex.variance)
        # Panel 1: the input, in its own units.
        ax_x.scatter(ex.x, jitter, s=14, color=_TRUTH, alpha=0.6, linewidths=0)
        ax_x.axvline(ex.mean, color=_SECOND, lw=1.2)
        ax_x.set_ylim(-0.5, 0.5)
        ax_x.set_yticks([])
        span = 4.0 * sigma
        ax_x.set_xlim(ex.mean - span, ex.mean + span)
        ax_x.set_title(
            rf"input $x$: $\mu_\mathcal{{B}}$ = {ex.mean:.4g},"
            "\n"
            rf"$\sigma_\mathcal{{B}}$ = {sigma:.2g}",
            fontsize=10,
        )
        ax_x.ticklabel_format(axis="x", useOffset=False)
        if row == n - 1:
            ax_x.set_xlabel("feature value (its own units)")
        # Panel 2: x_hat (top strip) and y (bottom strip) on one axis.
        segments = np.stack(
            [np.column_stack([ex.x_hat, 1.0 + jitter]), np.column_stack([ex.y, 0.0 + jitter])],
            axis=1,
        )
        ax_n.add_collection(LineCollection(segments, colors="#bbbbbb", linewidths=0.6, zorder=1))
        ax_n.scatter(ex.x_hat, 1.0 + jitter, s=14, color=_MAIN, zorder=2, linewidths=0)
        ax_n.scatter(ex.y, 0.0 + jitter, s=14, color=_THIRD, zorder=2, linewidths=0)
        for edge in (-1.0, 1.0):
            ax_n.plot([edge, edge], [0.75, 1.25], color=_TRUTH, lw=0.8, ls=":")
        ax_n.plot(
            [ex.beta - abs(ex.gamma) * ex.x_hat_std, ex.beta + abs(ex.gamma) * ex.x_hat_std],
            [-0.3, -0.3],
            color=_THIRD,
            lw=2.0,
        )
        ax_n.plot([ex.beta], [-0.3], "|", color=_THIRD, ms=10)
        ax_n.set_xlim(-limit, limit)
        ax_n.set_ylim(-0.55, 1.4)
        ax_n.set_yticks([1.0, 0.0], [r"$\hat{x}$", r"$y$"])
        ax_n.set_title(
            rf"$\hat{{x}}$ has std {ex.x_hat_std:.3f}; $y = \gamma\hat{{x}} + \beta$ with"
            "\n"
            rf"$\gamma$ = {ex.gamma:.2g}, $\beta$ = {ex.beta:.2g}: "
            f"mean {_num(ex.y.mean(), 2)}, std {ex.y.std():.3f}",
            fontsize=10,
        )
        if row == n - 1:
            ax_n.set_xlabel(r"normalized units (dotted: $\pm 1$; bar: $\beta \pm |\gamma|\,$std)")
        # Panel 3: where this feature sits on the damping curve.
        for eps_value, colour, style, label in [
            (KERAS_EPSILON, _SECOND, "--", r"Keras $\epsilon = 10^{-3}$"),
            (TORCH_EPSILON, _THIRD, ":", r"PyTorch $\epsilon = 10^{-5}$"),
        ]:
            ax_e.semilogx(
                stds, epsilon_damping(stds, eps_value), color=colour, ls=style, lw=1.2, label=label
            )
        ax_e.semilogx(
            stds,
            epsilon_damping(stds, ex.epsilon),
            color=_MAIN,
            lw=2.0,
            label=rf"this $\epsilon = {_fmt_exp(ex.epsilon)}$",
        )
        ax_e.plot([sigma], [ex.x_hat_std], "o", color=_TRUTH, ms=6, zorder=3)
        ax_e.set_ylim(0, 1.08)
        ax_e.set_ylabel(r"std of $\hat{x}$")
        ax_e.set_title(
            rf"$\epsilon = {_fmt_exp(ex.epsilon)}$: this feature (dot)"
            "\n"
            f"keeps {ex.x_hat_std:.0%} of unit scale",
            fontsize=10,
        )
        if row == 0:
            ax_e.legend(fontsize=8, loc="lower right")
        if row == n - 1:
            ax_e.set_xlabel(r"feature std in the batch, $\sigma_\mathcal{B}$")
    _suptitle(fig, title)
    return fig


# ---------------------------------------------------------------------------------------------
# Exploration 2: the momentum of a moving average against noisy batch statistics (chapter 5)


@dataclass(frozen=True)
class MovingAverageTheory:
    """Closed-form properties of Keras's moving average :math:`\\rho\\,a + (1-\\rho)\\,b`.

    Attributes
    ----------
    momentum : float
        :math:`\\rho`.
    batch_size : int
        ``m``.
    half_life : float
        :math:`\\ln 2 / \\ln(1/\\rho)` steps: the weight of a batch, and what is left of a sudden
        change, halves in this many steps.
    lag : float
        :math:`\\rho / (1 - \\rho)` steps: how far behind a steadily drifting value the average
        runs, once the drift has lasted many half-lives.
    mean_noise : float
        The standard deviation of the moving mean around its expectation, in the long run, for a
        feature of std 1: :math:`(1/\\sqrt{m})\\sqrt{(1-\\rho)/(1+\\rho)}`.
    batch_mean_noise : float
        The standard deviation of a single batch mean: :math:`1/\\sqrt{m}`.
    variance_level : float
        What the moving (biased) variance converges to for a feature of variance 1:
        :math:`(m-1)/m`.
    variance_noise : float
        The long-run standard deviation of the moving variance of a normal feature of variance 1:
        :math:`\\sqrt{2(m-1)}/m \\cdot \\sqrt{(1-\\rho)/(1+\\rho)}`.
    """

    momentum: float
    batch_size: int
    half_life: float
    lag: float
    mean_noise: float
    batch_mean_noise: float
    variance_level: float
    variance_noise: float


def moving_average_theory(momentum=0.99, batch_size=32):
    """Half-life, lag and noise of a moving average of batch statistics (chapter 5).

    Parameters
    ----------
    momentum : float in [0, 1)
        Keras's convention (the weight of the old value).
    batch_size : int >= 2
        ``m``, the number of values behind each batch statistic.

    Returns
    -------
    MovingAverageTheory
    """
    rho = _momentum(momentum)
    m = _int_at_least(batch_size, "batch_size", 2)
    damp = math.sqrt((1 - rho) / (1 + rho))
    return MovingAverageTheory(
        momentum=rho,
        batch_size=m,
        half_life=math.log(2) / math.log(1 / rho) if rho > 0 else 0.0,
        lag=rho / (1 - rho),
        mean_noise=damp / math.sqrt(m),
        batch_mean_noise=1 / math.sqrt(m),
        variance_level=(m - 1) / m,
        variance_noise=damp * math.sqrt(2 * (m - 1)) / m,
    )


@dataclass(frozen=True)
class MovingAverageTrace:
    """A simulated run of a BN layer's moving statistics: what :func:`moving_average_trace` returns.

    Arrays with a replica axis have shape ``(n_steps, n_replicas)``: independent copies of the
    feature, seen through the same layer (one feature per replica).

    Attributes
    ----------
    step : ndarray, shape (n_steps,)
        1, 2, ..., n_steps: the training step after which the values are recorded.
    true_mean, true_variance : ndarray, shape (n_steps,)
        The population statistics of the feature at each step (variance 1 throughout).
    batch_mean, batch_variance : ndarray, shape (n_steps, n_replicas)
        The statistics of each step's batch (biased variance), as batch normalization computes
        them.
    moving_mean, moving_variance : ndarray, shape (n_steps, n_replicas)
        The layer's moving statistics after each step (Keras's rule, starting from 0 and 1).
    expected_moving_mean, expected_moving_variance : ndarray, shape (n_steps,)
        Their expectations: the same moving average applied to ``true_mean`` and to
        ``(m - 1) / m * true_variance``. ``true_mean - expected_moving_mean`` is the lag;
        ``moving_mean - expected_moving_mean`` the noise.
    jump_step, ramp_step : int
        The step at which the true mean jumps, and from which it drifts.
    theory : MovingAverageTheory
    """

    step: np.ndarray
    true_mean: np.ndarray
    true_variance: np.ndarray
    batch_mean: np.ndarray
    batch_variance: np.ndarray
    moving_mean: np.ndarray
    moving_variance: np.ndarray
    expected_moving_mean: np.ndarray
    expected_moving_variance: np.ndarray
    jump_step: int
    ramp_step: int
    theory: MovingAverageTheory

    @property
    def noise_std(self) -> np.ndarray:
        """Theoretical std of ``moving_mean`` around its expectation at each step, shape (n_steps,).

        :math:`\\sqrt{(1-\\rho)/(1+\\rho)\\,(1 - \\rho^{2t})/m}`: it starts at zero because the average
        starts at the true initial mean (0) and grows to ``theory.mean_noise``.
        """
        rho = self.theory.momentum
        return self.theory.mean_noise * np.sqrt(1 - rho ** (2 * self.step))


def _ema(values: np.ndarray, rho: float, start) -> np.ndarray:
    """Keras's moving-average update applied along axis 0: the value after each step."""
    out = np.empty(values.shape)
    current = start
    for i, value in enumerate(values):
        current = current * rho + value * (1.0 - rho)  # the expression bnlib.BatchNorm evaluates
        out[i] = current
    return out


def moving_average_trace(
    momentum=0.99,
    batch_size=32,
    jump=1.0,
    drift=1.0,
    n_steps=600,
    n_replicas=1,
    seed=0,
):
    """Simulate the moving statistics a BN layer keeps for a drifting feature, step by step.

    A feature with standard deviation 1 (so every value is in units of the feature's std) has a
    true mean of 0 for the first third of the run (the layer's initial moving mean, so there is no
    start-up bias); at ``jump_step = n_steps // 3`` the mean jumps by ``jump``; from
    ``ramp_step = 2 * n_steps // 3`` it drifts by ``drift`` per 100 steps. Each step draws a batch
    of ``batch_size`` normal values, computes its statistics with :func:`bnlib.batch_statistics`
    and updates the moving mean and variance with Keras's rule, from Keras's initial values 0 and
    1: exactly what :class:`bnlib.BatchNorm` does in training mode (the tests check that), for all
    steps and replicas at once.

    Parameters
    ----------
    momentum : float in [0, 1)
        :math:`\\rho`, Keras's convention.
    batch_size : int >= 2
    jump : float
        The sudden change of the true mean, in feature standard deviations.
    drift : float
        The steady change of the true mean per 100 steps in the last third, in feature standard
        deviations.
    n_steps : int >= 30
    n_replicas : int >= 1
        Independent copies of the feature (one layer, ``n_replicas`` features), for measuring the
        noise across copies.
    seed : int >= 0

    Returns
    -------
    MovingAverageTrace
    """
    theory = moving_average_theory(momentum, batch_size)
    rho, m = theory.momentum, _int_at_least(batch_size, "batch_size", 2)
    jump = _real(jump, "jump")
    drift = _real(drift, "drift")
    n_steps = _int_at_least(n_steps, "n_steps", 30)
    n_replicas = _int_at_least(n_replicas, "n_replicas", 1)
    rng = np.random.default_rng(_seed(seed))

    step = np.arange(1, n_steps + 1)
    jump_step, ramp_step = n_steps // 3, 2 * n_steps // 3
    true_mean = jump * (step >= jump_step) + drift * np.maximum(step - ramp_step, 0) / 100.0
    true_variance = np.ones(n_steps)

    # Every batch at once: (m, n_steps * n_replicas) holds one batch per column, and
    # bnlib.batch_statistics gives each column's mean and biased variance.
    batches = rng.standard_normal((m, n_steps, n_replicas))
    batches += true_mean[None, :, None]
    batch_mean, batch_variance = batch_statistics(batches.reshape(m, -1))
    batch_mean = batch_mean.reshape(n_steps, n_replicas)
    batch_variance = batch_variance.reshape(n_steps, n_replicas)
    # The update of bnlib.BatchNorm (and Keras) in training mode, from its initial values 0 and 1.
    moving_mean = _ema(batch_mean, rho, np.zeros(n_replicas))
    moving_variance = _ema(batch_variance, rho, np.ones(n_replicas))
    return MovingAverageTrace(
        step=step,
        true_mean=true_mean,
        true_variance=true_variance,
        batch_mean=batch_mean,
        batch_variance=batch_variance,
        moving_mean=moving_mean,
        moving_variance=moving_variance,
        expected_moving_mean=_ema(true_mean, rho, np.float64(0.0)),
        expected_moving_variance=_ema((m - 1) / m * true_variance, rho, np.float64(1.0)),
        jump_step=jump_step,
        ramp_step=ramp_step,
        theory=theory,
    )


def plot_moving_average(
    momentum=0.99, batch_size=32, jump=1.0, drift=1.0, n_steps=600, seed=0, title=None
):
    """Draw a moving average following noisy batch statistics of a drifting feature.

    Each row is one run of :func:`moving_average_trace`: on the left the batch means (dots), the
    true mean (black) and the moving mean (blue); on the right the batch variances, the true
    variance 1, the level :math:`(m-1)/m` that an average of biased variances converges to, and
    the moving variance. The row title gives the half-life, the lag behind a steady drift and the
    noise left in the average.

    Parameters
    ----------
    momentum, batch_size : float, int, or sequences of them
        As in :func:`moving_average_trace`; a sequence draws one row per value (sequences must have
        equal lengths).
    jump, drift : float
    n_steps : int >= 30
    seed : int >= 0
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    rows = _rows(momentum=momentum, batch_size=batch_size)
    traces = [
        moving_average_trace(jump=jump, drift=drift, n_steps=n_steps, seed=seed, **row)
        for row in rows
    ]
    if title is not None and not isinstance(title, str):
        raise TypeError(f"title must be a string or None, got {title!r}")
    n = len(traces)
    if title is None:
        if n == 1:
            th = traces[0].theory
            title = (
                rf"$\rho$ = {th.momentum:g} cuts the batch noise by "
                f"{th.batch_mean_noise / th.mean_noise:.1f}x but remembers about "
                f"{1 / (1 - th.momentum):.0f} steps: noise against lag"
            )
        else:
            title = (
                "A momentum closer to 1 averages away more of the batch noise, "
                "and follows a changing feature more slowly"
            )
    title = _wrap(title, 85)
    fig, axes = _grid(
        n,
        2,
        row_height=1.9,
        gap=0.7,
        title_lines=title.count("\n") + 1,
        sharex=True,
        gridspec_kw={"width_ratios": [1.6, 1.0]},
    )
    mean_lo = min(min(tr.batch_mean.min(), tr.true_mean.min()) for tr in traces)
    mean_hi = max(max(tr.batch_mean.max(), tr.true_mean.max()) for tr in traces)
    var_hi = max(2.0, max(float(np.quantile(tr.batch_variance, 0.995)) for tr in traces))
    for row, (tr, (ax_m, ax_v)) in enumerate(zip(traces, axes)):
        th = tr.theory
        ax_m.plot(
            tr.step,
            tr.batch_mean[:, 0],
            ".",
            ms=2.5,
            color=_TRUTH,
            alpha=_NOISE_ALPHA,
            label=f"batch means (std {th.batch_mean_noise:.2f})",
        )
        ax_m.plot(tr.step, tr.true_mean, color=_TRUTH, lw=1.2, label="true mean")
        ax_m.plot(tr.step, tr.moving_mean[:, 0], color=_MAIN, lw=1.6, label="moving mean")
        ax_m.set_ylim(mean_lo - 0.1, mean_hi + 0.1)
        ax_m.set_ylabel("mean (stds)")
        lag = f"{th.lag:.0f} steps" if th.lag >= 1.5 else f"{th.lag:.1f} step"
        ax_m.set_title(
            rf"$\rho$ = {th.momentum:g}, $m$ = {th.batch_size}: "
            f"half-life {th.half_life:.3g} steps,\n"
            f"trails a drift by {lag}, noise ±{th.mean_noise:.3f}",
            fontsize=10,
        )
        ax_v.plot(
            tr.step,
            tr.batch_variance[:, 0],
            ".",
            ms=2.5,
            color=_TRUTH,
            alpha=_NOISE_ALPHA,
            label="batch variances (biased)",
        )
        ax_v.plot(tr.step, tr.true_variance, color=_TRUTH, lw=1.2, label="true variance")
        ax_v.axhline(
            th.variance_level,
            color=_SECOND,
            lw=1.2,
            ls="--",
            label=f"(m-1)/m = {th.variance_level:.3f}",
        )
        ax_v.plot(tr.step, tr.moving_variance[:, 0], color=_MAIN, lw=1.6, label="moving variance")
        ax_v.set_ylim(0, var_hi)
        ax_v.set_ylabel("variance (std²)")
        ax_v.set_title(
            f"moving variance: noise ±{th.variance_noise:.3f}\naround {th.variance_level:.3f}",
            fontsize=10,
        )
        for ax in (ax_m, ax_v):
            for when in (tr.jump_step, tr.ramp_step):
                ax.axvline(when, color=_TRUTH, lw=0.6, ls=":")
        if row == 0:
            ax_m.legend(fontsize=8, loc="upper left", ncol=2)
            ax_v.legend(fontsize=8, loc="upper right", ncol=2)
        if row == n - 1:
            ax_m.set_xlabel("training step (dotted: the mean jumps, then drifts)")
            ax_v.set_xlabel("training step")
    _suptitle(fig, title)
    return fig


# ---------------------------------------------------------------------------------------------
# Exploration 3: batch size against the noise of the batch statistics (chapter 5)

_DISTRIBUTIONS = ("normal", "relu")


def _relu_moments() -> tuple[float, float, float]:
    """Mean, variance and 4th central moment of max(z, 0) for standard normal z."""
    c = 1 / math.sqrt(2 * math.pi)
    raw = {1: c, 2: 0.5, 3: 2 * c, 4: 1.5}  # E[max(z, 0)**k]
    a = raw[1]
    var = raw[2] - a**2
    mu4 = raw[4] - 4 * a * raw[3] + 6 * a**2 * raw[2] - 3 * a**4
    return a, var, mu4


@dataclass(frozen=True)
class BatchSpread:
    """Batch statistics of many batches: what :func:`batch_statistics_spread` returns.

    The feature has mean 0 and standard deviation 1, so values are in feature standard deviations
    (means) and feature variances (variances).

    Attributes
    ----------
    batch_size : int
    distribution : str
    batch_mean, batch_variance : ndarray, shape (n_batches,)
        Each batch's mean and biased variance (divide by ``m``), from
        :func:`bnlib.batch_statistics`.
    mean_std : float
        Measured standard deviation of the batch means.
    variance_mean, variance_std : float
        Measured mean and standard deviation of the batch variances.
    theory_mean_std : float
        :math:`\\sigma/\\sqrt{m}` (any distribution).
    theory_variance_mean : float
        :math:`(m-1)/m\\,\\sigma^2` (any distribution).
    theory_variance_std : float
        :math:`\\frac{m-1}{m}\\sqrt{\\mu_4/m - \\sigma^4 (m-3)/(m(m-1))}`, which is
        :math:`\\sqrt{2(m-1)}/m\\,\\sigma^2` for normal data (:math:`\\mu_4` is the fourth central
        moment).
    """

    batch_size: int
    distribution: str
    batch_mean: np.ndarray
    batch_variance: np.ndarray
    mean_std: float
    variance_mean: float
    variance_std: float
    theory_mean_std: float
    theory_variance_mean: float
    theory_variance_std: float


def _distribution(value) -> str:
    if value not in _DISTRIBUTIONS:
        raise ValueError(f"distribution must be one of {_DISTRIBUTIONS}, got {value!r}")
    return value


def batch_statistics_spread(batch_size=8, n_batches=2000, distribution="normal", seed=0):
    """Draw many batches of one feature and compute each batch's mean and biased variance.

    Parameters
    ----------
    batch_size : int >= 2
        ``m``.
    n_batches : int >= 2
    distribution : {"normal", "relu"}
        ``"normal"``: standard normal values. ``"relu"``: ``max(z, 0)`` of standard normal ``z``
        (what a feature looks like after a ReLU: skewed, with a spike at its minimum), shifted and
        scaled to mean 0 and standard deviation 1.
    seed : int >= 0

    Returns
    -------
    BatchSpread
    """
    m = _int_at_least(batch_size, "batch_size", 2)
    n_batches = _int_at_least(n_batches, "n_batches", 2)
    distribution = _distribution(distribution)
    rng = np.random.default_rng(_seed(seed))
    z = rng.standard_normal((m, n_batches))  # column j is batch j: one "feature" per batch
    if distribution == "normal":
        values, mu4 = z, 3.0
    else:
        a, var, fourth = _relu_moments()
        values, mu4 = (np.maximum(z, 0.0) - a) / math.sqrt(var), fourth / var**2
    batch_mean, batch_variance = batch_statistics(values, axis=-1)
    return BatchSpread(
        batch_size=m,
        distribution=distribution,
        batch_mean=batch_mean,
        batch_variance=batch_variance,
        mean_std=float(batch_mean.std()),
        variance_mean=float(batch_variance.mean()),
        variance_std=float(batch_variance.std()),
        theory_mean_std=1 / math.sqrt(m),
        theory_variance_mean=(m - 1) / m,
        theory_variance_std=(m - 1) / m * math.sqrt(mu4 / m - (m - 3) / (m * (m - 1))),
    )


def _scaled_chi2_pdf(v: np.ndarray, m: int) -> np.ndarray:
    """Density of the biased variance of m standard normal values: v = chi2(m - 1) / m."""
    k = m - 1
    x = m * v
    with np.errstate(divide="ignore"):
        log_pdf = (k / 2 - 1) * np.log(x) - x / 2 - (k / 2) * math.log(2) - math.lgamma(k / 2)
    return m * np.exp(log_pdf)


def plot_batch_size(batch_size=8, n_batches=2000, distribution="normal", seed=0, title=None):
    """Draw how the batch mean and the biased batch variance scatter from batch to batch.

    Each row is one batch size: on the left a histogram of the batch means with the normal density
    of standard deviation :math:`\\sigma/\\sqrt{m}`; on the right a histogram of the batch
    variances with the true variance and the average :math:`(m-1)/m\\,\\sigma^2` of a biased
    variance marked (and, for normal data, its exact density, a scaled :math:`\\chi^2_{m-1}`). The
    axes are the same in every row, so the spread can be compared.

    Parameters
    ----------
    batch_size : int >= 2 or sequence of them
        A sequence draws one row per batch size.
    n_batches : int >= 2
    distribution : {"normal", "relu"}
    seed : int >= 0
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    rows = _rows(batch_size=batch_size)
    spreads = [
        batch_statistics_spread(row["batch_size"], n_batches, distribution, seed) for row in rows
    ]
    if title is not None and not isinstance(title, str):
        raise TypeError(f"title must be a string or None, got {title!r}")
    n = len(spreads)
    if title is None:
        if n == 1:
            sp = spreads[0]
            title = (
                f"Batches of {sp.batch_size}: the mean is off by ±{sp.theory_mean_std:.2f} σ, "
                f"the variance is {1 - sp.theory_variance_mean:.0%} low on average "
                f"and off by ±{sp.theory_variance_std:.2f} σ²"
            )
        else:
            title = (
                "Smaller batches give noisier statistics: the mean scatters by σ/√m, "
                "the biased variance is low by a factor (m-1)/m"
            )
    title = _wrap(title, 85)
    fig, axes = _grid(
        n, 2, row_height=1.75, gap=0.85, title_lines=title.count("\n") + 1, col_gap=0.8
    )
    mean_edges = np.linspace(-2.5, 2.5, 101)
    var_edges = np.linspace(0.0, 3.5, 141)
    grid_m = np.linspace(-2.5, 2.5, 400)
    grid_v = np.linspace(var_edges[1] / 4, 3.5, 600)
    for row, (sp, (ax_m, ax_v)) in enumerate(zip(spreads, axes)):
        m = sp.batch_size
        width_m = mean_edges[1] - mean_edges[0]
        counts, _ = np.histogram(sp.batch_mean, mean_edges)
        ax_m.stairs(
            counts / (sp.batch_mean.size * width_m),
            mean_edges,
            fill=True,
            color=_MAIN,
            alpha=0.45,
            label=f"{sp.batch_mean.size:,} batch means",
        )
        sd = sp.theory_mean_std
        ax_m.plot(
            grid_m,
            np.exp(-0.5 * (grid_m / sd) ** 2) / (sd * math.sqrt(2 * math.pi)),
            color=_TRUTH,
            lw=1.2,
            label=r"normal, std $\sigma/\sqrt{m}$",
        )
        for sign in (-1, 1):
            ax_m.axvline(sign * sd, color=_SECOND, lw=1.0, ls="--")
        ax_m.set_xlim(mean_edges[0], mean_edges[-1])
        ax_m.set_ylabel("density")
        ax_m.set_title(
            rf"$m$ = {m}: batch means spread ±{sp.mean_std:.3f}"
            "\n"
            rf"($\sigma/\sqrt{{m}}$ = {sd:.3f}, dashed)",
            fontsize=10,
        )
        width_v = var_edges[1] - var_edges[0]
        counts, _ = np.histogram(sp.batch_variance, var_edges)
        ax_v.stairs(
            counts / (sp.batch_variance.size * width_v),
            var_edges,
            fill=True,
            color=_THIRD,
            alpha=0.45,
            label="biased batch variances",
        )
        if sp.distribution == "normal":
            pdf = _scaled_chi2_pdf(grid_v, m)
            peak = counts.max() / (sp.batch_variance.size * width_v)
            ax_v.plot(
                grid_v,
                np.minimum(pdf, 3 * peak + 1),
                color=_TRUTH,
                lw=1.0,
                label=r"$\sigma^2\chi^2_{m-1}/m$",
            )
        ax_v.axvline(1.0, color=_TRUTH, lw=1.2, ls=":", label=r"true $\sigma^2$")
        ax_v.axvline(
            sp.theory_variance_mean, color=_SECOND, lw=1.5, ls="--", label=r"$(m-1)/m\;\sigma^2$"
        )
        ax_v.set_xlim(var_edges[0], var_edges[-1])
        ax_v.set_ylabel("density")
        ax_v.set_title(
            f"batch variances average {sp.variance_mean:.3f}\n"
            f"((m-1)/m = {sp.theory_variance_mean:.3f}), spread ±{sp.variance_std:.3f}",
            fontsize=10,
        )
        top = max(counts.max() / (sp.batch_variance.size * width_v), 0.1)
        ax_v.set_ylim(0, 1.15 * top)
        if row == 0:
            ax_m.legend(fontsize=8, loc="upper left")
            ax_v.legend(fontsize=8, loc="upper right")
        if row == n - 1:
            kind = "normal" if spreads[0].distribution == "normal" else "ReLU-shaped"
            ax_m.set_xlabel(f"batch mean ({kind} feature; units of its std σ, true mean 0)")
            ax_v.set_xlabel("biased batch variance (units of σ²)")
    _suptitle(fig, title)
    return fig


# ---------------------------------------------------------------------------------------------
# The interactive versions (ipywidgets)


def _png(fig) -> bytes:
    """The figure as PNG bytes (as a notebook would show it), and the figure closed."""
    import io

    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    try:
        fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    finally:
        plt.close(fig)
    return buffer.getvalue()


def _explorer(plot, controls, note, new_sample=False):
    """A VBox of ``controls`` above an Image widget that ``plot(**values)`` redraws on every change.

    The figure is shown as PNG bytes in an ``ipywidgets.Image`` rather than through an ``Output``
    widget: nothing is printed or displayed outside the widgets, it looks the same in every
    frontend, and notebook executors (nbclient) need not imitate an Output widget. The first
    figure is drawn when a frontend first shows the widget (ipywidgets' view count), so a notebook
    executed without a frontend (a book build, nbval) neither spends time on it nor stores it.
    """
    import ipywidgets as widgets

    class Explorer(widgets.VBox):
        """The exploration's widgets; ``redraw()`` draws the figure for the current values."""

        def __repr__(self):  # the text a notebook shows where widgets cannot be displayed
            return f"{note} (interactive: run this cell in Jupyter to use the sliders)"

    image = widgets.Image(format="png", layout=widgets.Layout(max_width="100%", height="auto"))
    image._view_count = 0  # ask the frontend to count the image's views (None: not counted)
    seed_box = {"seed": 0}

    def redraw(change=None):
        values = {name: widget.value for name, widget in controls.items()}
        if new_sample:
            values["seed"] = seed_box["seed"]
        image.value = _png(plot(**values))
        ui.last_values = values
        ui.draw_count += 1

    def first_view(change):
        if change["new"] and ui.draw_count == 0:
            redraw()

    image.observe(first_view, names="_view_count")
    for widget in controls.values():
        widget.observe(redraw, names="value")
    children = list(controls.values())
    if new_sample:
        button = widgets.Button(
            description="New random batches",
            tooltip="draw the batches again with another seed",
            layout=widgets.Layout(width="14em", margin="2px 0 0 10em"),
        )

        def resample(_):
            seed_box["seed"] += 1
            redraw()

        button.on_click(resample)
        children.append(button)
    half = (len(children) + 1) // 2
    panel = widgets.HBox([widgets.VBox(children[:half]), widgets.VBox(children[half:])])
    ui = Explorer([panel, image])
    ui.controls, ui.image, ui.redraw = controls, image, redraw
    ui.draw_count, ui.last_values = 0, None
    if new_sample:
        ui.new_sample_button = button
    return ui


def _style():
    return {"description_width": "10em"}


def explore_gamma_beta_epsilon():
    """Sliders for :func:`plot_gamma_beta_epsilon`: gamma, beta, epsilon and the feature's spread.

    Returns
    -------
    ipywidgets.VBox
        Display it (the last line of a notebook cell). Its ``controls`` attribute maps each
        parameter to its slider; the figure, in ``image`` (an ``ipywidgets.Image``), is drawn
        when the widget is first shown and again whenever a slider moves (``redraw()`` draws it
        on demand).
    """
    import ipywidgets as widgets

    common = dict(continuous_update=False, style=_style(), layout={"width": "31em"})
    controls = {
        "gamma": widgets.FloatSlider(
            value=1.0, min=-1.0, max=3.0, step=0.1, description="γ (gamma)", **common
        ),
        "beta": widgets.FloatSlider(
            value=0.0, min=-3.0, max=3.0, step=0.1, description="β (beta)", **common
        ),
        "epsilon": widgets.FloatLogSlider(
            value=KERAS_EPSILON,
            base=10,
            min=-8,
            max=0,
            step=0.25,
            readout_format=".1e",
            description="ε (epsilon)",
            **common,
        ),
        "feature_std": widgets.FloatLogSlider(
            value=0.03,
            base=10,
            min=-4,
            max=1,
            step=0.25,
            readout_format=".1e",
            description="feature std σ_B",
            **common,
        ),
    }
    return _explorer(plot_gamma_beta_epsilon, controls, "γ, β and ε on one feature")


def explore_moving_average():
    """Sliders for :func:`plot_moving_average`: momentum, batch size, jump, drift and run length.

    Returns
    -------
    ipywidgets.VBox
        Its ``controls`` attribute maps each parameter to its slider; a button draws new batches.
        The figure is drawn when the widget is first shown, as in
        :func:`explore_gamma_beta_epsilon`.
    """
    import ipywidgets as widgets

    common = dict(continuous_update=False, style=_style(), layout={"width": "31em"})
    controls = {
        "momentum": widgets.SelectionSlider(
            options=[0.5, 0.8, 0.9, 0.95, 0.98, 0.99, 0.995, 0.998, 0.999],
            value=0.99,
            description="momentum ρ",
            **common,
        ),
        "batch_size": widgets.SelectionSlider(
            options=[2, 4, 8, 16, 32, 64, 128, 256], value=32, description="batch size m", **common
        ),
        "jump": widgets.FloatSlider(
            value=1.0, min=-3.0, max=3.0, step=0.25, description="jump (stds)", **common
        ),
        "drift": widgets.FloatSlider(
            value=1.0, min=-2.0, max=2.0, step=0.1, description="drift /100 steps", **common
        ),
        "n_steps": widgets.SelectionSlider(
            options=[300, 600, 1200, 2400, 4800], value=600, description="steps", **common
        ),
    }
    return _explorer(plot_moving_average, controls, "momentum of a moving average", new_sample=True)


def explore_batch_size():
    """Sliders for :func:`plot_batch_size`: batch size, number of batches and the feature's shape.

    Returns
    -------
    ipywidgets.VBox
        Its ``controls`` attribute maps each parameter to its widget; a button draws new batches.
        The figure is drawn when the widget is first shown, as in
        :func:`explore_gamma_beta_epsilon`.
    """
    import ipywidgets as widgets

    common = dict(style=_style(), layout={"width": "31em"})
    controls = {
        "batch_size": widgets.SelectionSlider(
            options=[2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 128, 256, 512, 1024],
            value=8,
            description="batch size m",
            continuous_update=False,
            **common,
        ),
        "n_batches": widgets.SelectionSlider(
            options=[500, 1000, 2000, 5000, 10000],
            value=2000,
            description="batches drawn",
            continuous_update=False,
            **common,
        ),
        "distribution": widgets.ToggleButtons(
            options=list(_DISTRIBUTIONS), value="normal", description="feature", **common
        ),
    }
    return _explorer(
        plot_batch_size, controls, "batch size against the noise of the statistics", new_sample=True
    )
