"""The graded exercises and their grader, end to end (see the README, "Exercises and grading").

- Regenerating the student notebooks and autograders from the masters changes nothing committed.
- The masters' solutions score full marks; the untouched student notebooks score zero.
- Deliberately wrong submissions, at least one per exercise, lose exactly the points they should,
  and bad submissions of every kind (a cell that raises, an endless loop at top level and inside a
  graded function, a cell that cannot be interrupted, a kernel that dies, wrong types and shapes,
  a function that modifies its input, a missing function, megabytes of printed output, a call of
  the bnlib function the exercise asks to write) cost only their own exercise, with a message.

Submissions are built here from the committed student notebooks: every answer cell gets the
master's solution (taken from otter's freshly generated autograder notebook), except the answers a
case replaces. All of them are graded in one run of the grader, two at a time, with short time
limits so that the suite stays fast.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import nbformat
import pytest

from grading import EXERCISES, assign
from grading.grade import Options, grade, load_autograders, write_reports

# otter's dependencies emit DeprecationWarnings while generating; they are not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

CHAPTERS = [m.stem for m in assign.masters()]
# Pages without graded exercises: the cheat sheet (a one-page summary) and the appendix that runs
# the source articles' models (ungraded prompts only). Every other chapter from 1 on must have a
# master; remove a page from here when it gets one.
AWAITING_EXERCISES = {"08_cheat_sheet", "09_source_models"}
OPTIONS = Options(cell_timeout=5, call_timeout=2, submission_timeout=60, attempts=3, jobs=2)


def d(code: str) -> str:
    return textwrap.dedent(code).strip("\n")


# Chapter 3's wrong answers, graded as they are and behind tampering (03-tampered_wrong).
WRONG_03 = {
    # the dense-layer reduction (axis 0 only) applied to every layout
    "ex1_forward": d("""
        def bn_forward(x, gamma, beta, epsilon=1e-3, axis=-1):
            return gamma * (x - x.mean(axis=0)) / np.sqrt(x.var(axis=0) + epsilon) + beta
    """),
    # epsilon forgotten
    "ex2_identity": d("""
        def identity_parameters(x, epsilon=1e-3):
            return x.std(axis=0), x.mean(axis=0)
    """),
    # epsilon ignored in the first prediction
    "ex3_epsilon_limit": "x_hat_4_small = 3 ** 0.5\nx_hat_4_large = 3 ** 0.5",
    "ex4_conv_axis": d("""
        n_means_buggy = 64
        n_means_correct = 32

        def normalize_conv_fixed(x, gamma, beta, epsilon=1e-3):
            mu, var = x.mean(axis=(0, 1, 2)), x.var(axis=(0, 1, 2))
            return gamma * (x - mu) / np.sqrt(var + epsilon) + beta
    """),
}

# Each case: chapter, file name, the answers it replaces ({question: code}), and the score each
# exercise must get (exercises not listed must get full marks).
CASES = [
    # ---------------------------------------------------------------- chapter 1
    (
        "01_input_normalization",
        "wrong_math",
        {
            # transform recomputes the statistics from its own input: right on training data only
            "ex1_robust_scaler": d("""
            class RobustScaler:
                def fit(self, x):
                    return self

                def transform(self, x):
                    iqr = np.percentile(x, 75, axis=0) - np.percentile(x, 25, axis=0)
                    return (x - np.median(x, axis=0)) / np.where(iqr > 0, iqr, 1.0)
        """),
            # kappa confused with lambda_max; the step ratio estimated as the ratio of kappas (accepted)
            "ex2_conditioning": "kappa = 1.6\neta_max = 1.25\nsteps_ratio = 19 / 4",
            # the colleague's bug kept: each batch scaled with its own statistics
            "ex3_deployment": d("""
            single_customer_prediction = float(theta[-1])

            def predict_fixed(X_new):
                return with_intercept(bnlib.StandardScaler().fit_transform(X_new)) @ theta
        """),
        },
        {"ex1_robust_scaler": 3, "ex2_conditioning": 2, "ex3_deployment": 1},
    ),
    (
        "01_input_normalization",
        "mistakes",
        {
            # no guard against an IQR of 0, and transform modifies its input in place
            "ex1_robust_scaler": d("""
            class RobustScaler:
                def fit(self, x):
                    self.median_ = np.median(x, axis=0)
                    self.iqr_ = np.percentile(x, 75, axis=0) - np.percentile(x, 25, axis=0)
                    return self

                def transform(self, x):
                    with np.errstate(divide="ignore", invalid="ignore"):
                        return (x - self.median_) / self.iqr_
        """),
            "ex2_conditioning": "kappa = 4.0\neta_max = 2 / 0.4\nsteps_ratio = 4.8",
            # "the z-score of one customer is 0, so the prediction is 0"
            "ex3_deployment": d("""
            single_customer_prediction = 0.0

            def predict_fixed(X_new):
                return with_intercept(scaler.transform(X_new)) @ theta
        """),
        },
        {"ex1_robust_scaler": 3, "ex2_conditioning": 2, "ex3_deployment": 2},
    ),
    (
        "01_input_normalization",
        "robustness",
        {
            # a cell that raises before defining anything; megabytes printed at top level (truncated,
            # costs nothing); answers of the wrong types; a result of the wrong shape
            "ex1_robust_scaler": d("""
            print("debug " * 1_000_000)
            import a_module_that_does_not_exist

            class RobustScaler:
                pass
        """),
            "ex2_conditioning": 'kappa = "4"\neta_max = [1.25]\nsteps_ratio = None',
            "ex3_deployment": d("""
            single_customer_prediction = float(theta[-1])

            def predict_fixed(X_new):
                return (with_intercept(scaler.transform(X_new)) @ theta).reshape(-1, 1)
        """),
        },
        {"ex1_robust_scaler": 0, "ex2_conditioning": 0, "ex3_deployment": 1},
    ),
    (
        "01_input_normalization",
        "uninterruptible",
        {
            # an endless loop that swallows every exception, even the grader's timeout: only the
            # whole-submission time limit stops it; the cell is then skipped and the rest graded
            "ex2_conditioning": d("""
            kappa, eta_max, steps_ratio = 4.0, 1.25, 4.85
            import time
            while True:
                try:
                    time.sleep(0.1)
                except BaseException:
                    pass
        """),
        },
        {"ex2_conditioning": 0},
    ),
    # ---------------------------------------------------------------- chapter 2
    (
        "02_internal_covariate_shift",
        "wrong_math",
        {
            # reasoning about variances where the root mean square was asked for
            "ex1_relu_depth": "glorot_factor = 0.5\nconstant_scale = 2.0\nafter_10_layers = 0.5 ** 5",
            # batch normalization over the wrong axis (each example instead of each unit)
            "ex2_activation_stds": d("""
            def activation_stds(x, kernels, activation, batch_norm=False, epsilon=1e-3):
                f = {"tanh": np.tanh, "sigmoid": lambda z: 1 / (1 + np.exp(-z)), "relu": lambda z: np.maximum(z, 0)}[activation]
                h, stds = x, []
                for w in kernels:
                    z = h @ w
                    if batch_norm:
                        z = (z - z.mean(axis=1, keepdims=True)) / np.sqrt(z.var(axis=1, keepdims=True) + epsilon)
                    h = f(z)
                    stds.append(h.std())
                return np.array(stds)
        """),
            # "a tenth" read as an absolute 0.1
            "ex3_saturation": d("""
            def saturated_fraction_fixed(z):
                s = 1 / (1 + np.exp(-z))
                return float(np.mean(s * (1 - s) < 0.1))

            max_derivative = 0.25
            bound_14_layers = 0.25 ** 14
        """),
        },
        {"ex1_relu_depth": 1, "ex2_activation_stds": 2, "ex3_saturation": 1},
    ),
    (
        "02_internal_covariate_shift",
        "mistakes",
        {
            # measured rather than derived values: within the tolerances
            "ex1_relu_depth": "glorot_factor = np.sqrt(0.5)\nconstant_scale = 1.41\nafter_10_layers = 0.037",
            # right, but empties the caller's list of kernels
            "ex2_activation_stds": d("""
            def activation_stds(x, kernels, activation, batch_norm=False, epsilon=1e-3):
                f = {"tanh": np.tanh, "sigmoid": lambda z: 1 / (1 + np.exp(-z)), "relu": lambda z: np.maximum(z, 0)}[activation]
                h, stds = x, []
                while kernels:
                    w = kernels.pop(0)
                    z = h @ w
                    if batch_norm:
                        z = (z - z.mean(axis=0)) / np.sqrt(z.var(axis=0) + epsilon)
                    h = f(z)
                    stds.append(h.std())
                return np.array(stds)
        """),
            # an array of flags instead of the fraction
            "ex3_saturation": d("""
            def saturated_fraction_fixed(z):
                s = 1 / (1 + np.exp(-z))
                return s * (1 - s) < 0.025

            max_derivative = 0.25
            bound_14_layers = 0.25 ** 14
        """),
        },
        {"ex2_activation_stds": 3, "ex3_saturation": 1},
    ),
    # ---------------------------------------------------------------- chapter 3
    (
        "03_batchnorm_algorithm",
        "wrong_math",
        WRONG_03,
        {"ex1_forward": 3, "ex2_identity": 0, "ex3_epsilon_limit": 1, "ex4_conv_axis": 2},
    ),
    (
        "03_batchnorm_algorithm",
        "mistakes",
        {
            # epsilon hard-coded instead of the argument
            "ex1_forward": d("""
            def bn_forward(x, gamma, beta, epsilon=1e-3, axis=-1):
                axis = axis % x.ndim
                reduce = tuple(i for i in range(x.ndim) if i != axis)
                shape = [1] * x.ndim
                shape[axis] = x.shape[axis]
                mu, var = x.mean(axis=reduce, keepdims=True), x.var(axis=reduce, keepdims=True)
                return np.reshape(gamma, shape) * (x - mu) / np.sqrt(var + 1e-3) + np.reshape(beta, shape)
        """),
            # the unbiased standard deviation
            "ex2_identity": d("""
            def identity_parameters(x, epsilon=1e-3):
                return np.sqrt(x.var(axis=0, ddof=1) + epsilon), x.mean(axis=0)
        """),
            # answers as numpy scalars and 0-d arrays are fine
            "ex3_epsilon_limit": "x_hat_4_small = np.float64(0.2349)\nx_hat_4_large = np.array(3 ** 0.5)",
            # right, but modifies x in place
            "ex4_conv_axis": d("""
            n_means_buggy = 26 * 26 * 32
            n_means_correct = 32

            def normalize_conv_fixed(x, gamma, beta, epsilon=1e-3):
                mu, var = x.mean(axis=(0, 1, 2)), x.var(axis=(0, 1, 2))
                x -= mu
                return gamma * x / np.sqrt(var + epsilon) + beta
        """),
        },
        {"ex1_forward": 4, "ex2_identity": 0, "ex4_conv_axis": 2},
    ),
    (
        "03_batchnorm_algorithm",
        "robustness",
        {
            # an endless loop inside the graded function: every call is stopped
            "ex1_forward": d("""
            def bn_forward(x, gamma, beta, epsilon=1e-3, axis=-1):
                while True:
                    pass
        """),
            # an endless loop at top level, before the definition: the cell is stopped
            "ex2_identity": d("""
            while True:
                pass

            def identity_parameters(x, epsilon=1e-3):
                return np.sqrt(x.var(axis=0) + epsilon), x.mean(axis=0)
        """),
            # megabytes printed by the graded function on every call
            "ex4_conv_axis": d("""
            n_means_buggy = 26 * 26 * 32
            n_means_correct = 32

            def normalize_conv_fixed(x, gamma, beta, epsilon=1e-3):
                print("x" * 2_000_000)
                mu, var = x.mean(axis=(0, 1, 2)), x.var(axis=(0, 1, 2))
                return gamma * (x - mu) / np.sqrt(var + epsilon) + beta
        """),
        },
        {"ex1_forward": 0, "ex2_identity": 0, "ex4_conv_axis": 1},
    ),
    # Submissions that change the kernel the tests run in (README, "What a submission can
    # reach"). "<solution>" stands for the master's solution of that exercise.
    (
        "03_batchnorm_algorithm",
        "chdir",
        {
            # a correct exercise 1, then a cell that moves the working directory (where otter finds
            # the tests and writes its results) and empties sys.path: it costs nothing
            "ex2_identity": "<solution>\nimport os, sys\nos.chdir('..')\nsys.path[:] = []",
        },
        {},
    ),
    (
        "03_batchnorm_algorithm",
        "tampered_wrong",
        {
            # the wrong answers of 03-wrong_math, each behind a different way of bending the tests:
            # rebinding numpy's comparison (also from inside the graded function), bnlib's reference
            # (by name and by swapping its code), the guards, and otter's checker
            "ex1_forward": d("""
            np.isclose = lambda a, b, **k: np.ones(np.broadcast(a, b).shape, dtype=bool)
            np.allclose = lambda *a, **k: True

            def bn_forward(x, gamma, beta, epsilon=1e-3, axis=-1):
                np.isclose = lambda a, b, **k: np.ones(np.broadcast(a, b).shape, dtype=bool)
                return gamma * (x - x.mean(axis=0)) / np.sqrt(x.var(axis=0) + epsilon) + beta

            def mine(x, gamma, beta, epsilon=1e-3, axis=-1):
                return bn_forward(x, gamma, beta, epsilon, axis), None

            bnlib.batch_norm_forward = bnlib.batchnorm.batch_norm_forward = mine
        """),
            "ex2_identity": d("""
            import bnlib.batchnorm
            bnlib.batchnorm.batch_norm_forward.__code__ = (
                lambda x, gamma, beta, epsilon=1e-3, axis=-1: (x, None)).__code__
        """)
            + "\n"
            + WRONG_03["ex2_identity"],
            "ex3_epsilon_limit": d("""
            from otter.execute import Checker
            Checker.check = classmethod(lambda cls, *args, **kwargs: None)
        """)
            + "\n"
            + WRONG_03["ex3_epsilon_limit"],
            "ex4_conv_axis": d("""
            from bncourse import guards as _g
            _g.check_array = lambda got, *args, **kwargs: got
            _g.check_number = lambda got, *args, **kwargs: got
            _g.ExerciseFailure = type("Nothing", (Exception,), {})
        """)
            + "\n"
            + WRONG_03["ex4_conv_axis"],
        },
        {"ex1_forward": 3, "ex2_identity": 0, "ex3_epsilon_limit": 1, "ex4_conv_axis": 2},
    ),
    (
        "03_batchnorm_algorithm",
        "tampered_right",
        {
            # the right answers, behind changes that would fail them if they reached the tests
            "ex1_forward": d("""
            import builtins, math
            np.isclose = lambda a, b, **k: np.zeros(np.broadcast(a, b).shape, dtype=bool)
            bnlib.batch_norm_forward = lambda *args, **kwargs: (np.zeros(1), None)
            math.isfinite = lambda v: False
            builtins.abs = lambda value: float("inf")
        """)
            + "\n<solution>",
            "ex4_conv_axis": "import copy\ncopy.deepcopy = lambda value, memo=None: None\n<solution>",
        },
        {},
    ),
    (
        "03_batchnorm_algorithm",
        "bnlib_inside",
        {
            # batch renormalization with rmax=1, dmax=0 is batch normalization: forbidden like BN
            "ex1_forward": d("""
            def bn_forward(x, gamma, beta, epsilon=1e-3, axis=-1):
                c = x.shape[axis]
                moved = np.moveaxis(x, axis, -1)
                y, _ = bnlib.batch_renorm_forward(moved, np.ones(c), np.zeros(c), np.zeros(c),
                                                  np.ones(c), rmax=1.0, dmax=0.0, epsilon=epsilon)
                return np.moveaxis(y * gamma + beta, -1, axis)
        """),
            # the identity parameters from bnlib's batch statistics
            "ex2_identity": d("""
            def identity_parameters(x, epsilon=1e-3):
                mean, var = bnlib.batch_statistics(x)
                return np.sqrt(var + epsilon), mean
        """),
        },
        {"ex1_forward": 0, "ex2_identity": 0},
    ),
    (
        "03_batchnorm_algorithm",
        "float32",
        {
            # right, but computed in float32
            "ex2_identity": d("""
            def identity_parameters(x, epsilon=1e-3):
                x = x.astype(np.float32)
                return np.sqrt(x.var(axis=0) + np.float32(epsilon)), x.mean(axis=0)
        """),
        },
        {"ex2_identity": 0},
    ),
    # ---------------------------------------------------------------- chapter 4
    (
        "04_backward_pass",
        "wrong_math",
        {
            # dgamma from x instead of x_hat
            "ex1_compact_backward": d("""
            def bn_backward(dout, x, gamma, epsilon=1e-3):
                r = 1.0 / np.sqrt(x.var(axis=0) + epsilon)
                x_hat = (x - x.mean(axis=0)) * r
                g = dout * gamma
                dx = r * (g - g.mean(axis=0) - x_hat * (g * x_hat).mean(axis=0))
                return dx, (dout * x).sum(axis=0), dout.sum(axis=0)
        """),
            # the path through the mean (x feeds node 1) forgotten
            "ex2_staged_nhwc": d("""
            def staged_backward_nhwc(dout, kept):
                k = kept
                dx_hat, dgamma, dbeta = node_affine_back(dout, k["x_hat"], k["gamma"])
                dc_from_7, dr = node_scale_back(dx_hat, k["c"], k["r"])
                dsigma = node_recip_back(dr, k["sigma"])
                dv = node_sqrt_back(dsigma, k["v"], k["eps"])
                ds = node_mean_back(dv, k["s"])
                dc = dc_from_7 + node_square_back(ds, k["c"])
                dx_from_2, dmu = node_center_back(dc)
                return dx_from_2, dgamma, dbeta
        """),
            # the batch size forgotten in dgamma and dbeta
            "ex3_projection": "max_abs_dx = 0.0\ndgamma_value = 3.0\ndbeta_value = 2.0",
            "ex4_unbiased_variance": d("""
            ones_check_passes = False
            c_batch_8 = 7 / 8

            def backward_ddof1(dout, x, gamma, epsilon=1e-3):
                m = x.shape[0]
                r = 1 / np.sqrt(x.var(axis=0, ddof=1) + epsilon)
                x_hat = (x - x.mean(axis=0)) * r
                g = dout * gamma
                return r * (g - g.mean(axis=0) - m / (m - 1) * x_hat * (g * x_hat).mean(axis=0))
        """),
            # a random upstream gradient, but an absolute error: fooled by the scale of the outputs
            "ex5_gradient_check": d("""
            def check_backward_fixed(forward, backward, x):
                dout = np.random.default_rng(0).normal(size=np.shape(x))
                return float(np.abs(backward(dout, x) - bnlib.numerical_gradient(forward, x, dout)).max())
        """),
        },
        {
            "ex1_compact_backward": 1,
            "ex2_staged_nhwc": 0,
            "ex3_projection": 1,
            "ex4_unbiased_variance": 2,
            "ex5_gradient_check": 2,
        },
    ),
    (
        "04_backward_pass",
        "robustness",
        {
            # only dx returned
            "ex1_compact_backward": d("""
            def bn_backward(dout, x, gamma, epsilon=1e-3):
                r = 1.0 / np.sqrt(x.var(axis=0) + epsilon)
                x_hat = (x - x.mean(axis=0)) * r
                g = dout * gamma
                return r * (g - g.mean(axis=0) - x_hat * (g * x_hat).mean(axis=0))
        """),
            # bnlib's backward pass, under another name: forbidden
            "ex2_staged_nhwc": d("""
            from bnlib import batch_norm_backward as the_answer

            def staged_backward_nhwc(dout, kept):
                _, cache = bnlib.batch_norm_forward(kept["x"], kept["gamma"], np.zeros(kept["x"].shape[-1]), kept["eps"])
                return the_answer(dout, cache)
        """),
            # the kernel dies: the cell is skipped and the notebook graded again without it
            "ex3_projection": d("""
            max_abs_dx, dgamma_value, dbeta_value = 0.0, 24.0, 16.0
            import os
            os._exit(1)
        """),
            # the function is missing
            "ex4_unbiased_variance": "ones_check_passes = True\nc_batch_8 = 8 / 7",
            # a graded function that kills the kernel when the tests call it: the exercise scores
            # zero, and the notebook is graded again without running its tests
            "ex5_gradient_check": d("""
            def check_backward_fixed(forward, backward, x):
                import os
                os._exit(3)
        """),
        },
        {
            "ex1_compact_backward": 0,
            "ex2_staged_nhwc": 0,
            "ex3_projection": 0,
            "ex4_unbiased_variance": 2,
            "ex5_gradient_check": 0,
        },
    ),
    # ---------------------------------------------------------------- chapter 5
    (
        "05_inference",
        "wrong_math",
        {
            # Keras's convention (momentum weighs the old value) where PyTorch's was asked for
            "ex1_torch_update": d("""
            def torch_update(running_mean, running_var, x, momentum=0.1, num_batches=1):
                w = 1.0 / num_batches if momentum is None else 1 - momentum
                return (1 - w) * running_mean + w * x.mean(axis=0), (1 - w) * running_var + w * x.var(axis=0, ddof=1)
        """),
            # "after 500 steps it has converged"; the ratio inverted
            "ex2_moving_variance": d("""
            var_after_50 = 0.04 + 0.96 * 0.99 ** 50
            var_after_500 = 0.04
            shrink_after_200 = 1 / 0.4917
        """),
            # the bug itself: the training-mode forward pass at evaluation
            "ex3_evaluation_mode": d("""
            moving_mean_changed = True
            output_batch_of_one = 0.5

            def predict_fixed(layer, x):
                return layer(x, training=True)
        """),
            # the scale applied to the kernel's columns (output units) as when folding BN after a layer
            "ex4_fold_before_dense": d("""
            def fold_bn_before_dense(kernel, bias, gamma, beta, moving_mean, moving_variance, epsilon=1e-3):
                scale = gamma / np.sqrt(moving_variance + epsilon)
                return kernel * scale, (beta - moving_mean * scale) @ kernel + bias
        """),
        },
        {
            "ex1_torch_update": 1,
            "ex2_moving_variance": 1,
            "ex3_evaluation_mode": 1,
            "ex4_fold_before_dense": 0,
        },
    ),
    (
        "05_inference",
        "mistakes",
        {
            # right, but updates running_mean in place
            "ex1_torch_update": d("""
            def torch_update(running_mean, running_var, x, momentum=0.1, num_batches=1):
                w = 1.0 / num_batches if momentum is None else momentum
                running_mean *= 1 - w
                running_mean += w * x.mean(axis=0)
                return running_mean, (1 - w) * running_var + w * x.var(axis=0, ddof=1)
        """),
            # numpy scalars are fine
            "ex2_moving_variance": d("""
            var_after_50 = np.float32(0.04 + 0.96 * 0.99 ** 50)
            var_after_500 = np.float64(0.0463)
            shrink_after_200 = np.sqrt(0.041 / (0.04 + 0.96 * 0.99 ** 200 + 0.001))
        """),
            "ex3_evaluation_mode": d("""
            moving_mean_changed = "yes"
            output_batch_of_one = 0.5

            def predict_fixed(layer, x):
                return layer(x, training=False)
        """),
            # a list instead of a tuple is fine
            "ex4_fold_before_dense": d("""
            def fold_bn_before_dense(kernel, bias, gamma, beta, moving_mean, moving_variance, epsilon=1e-3):
                scale = gamma / np.sqrt(moving_variance + epsilon)
                return [kernel * scale[:, None], (beta - moving_mean * scale) @ kernel + bias]
        """),
        },
        {"ex1_torch_update": 3, "ex3_evaluation_mode": 2},
    ),
    # ---------------------------------------------------------------- chapter 6
    (
        "06_placement_and_limitations",
        "wrong_math",
        {
            # the bias "matters" before BN too; the output of BN after the ReLU taken as standard normal
            "ex1_placement": d("""
            bias_gradient_before = 1.0
            bias_matters_after = True
            output_mean_after = 0.0
            output_var_after = 4.0
        """),
            # 1 - p everywhere: right only for a zero-mean unit
            "ex2_dropout_shift": "ratio_centered = 0.5\nratio_offset = 0.8\nratio_dense = 0.5",
            # the colleague's bug kept: two groups of 16 instead of 16 groups of 2
            "ex3_ghost_batch_norm": d("""
            examples_per_statistic_buggy = 16
            x_hat_pair = 0.953

            def ghost_batch_norm(x, gamma, beta, group_size, epsilon=1e-3):
                n, d = x.shape
                groups = x.reshape(group_size, n // group_size, d)
                mean = groups.mean(axis=1, keepdims=True)
                var = groups.var(axis=1, keepdims=True)
                return (gamma * (groups - mean) / np.sqrt(var + epsilon) + beta).reshape(n, d)
        """),
            # "the moving variance is the population's"; two classes drawn with replacement
            "ex4_class_sorted": "moving_mean_one_class = 2.0\nvar_ratio_one_class = 1.0\nvar_ratio_two_classes = (1 + 3.5 / 2) / 4.5",
            # no mask: the statistics include the padding (right only when nothing is padded)
            "ex5_masked_batch_norm": d("""
            def masked_batch_norm(x, mask, gamma, beta, epsilon=1e-3):
                mean, var = x.mean(axis=(0, 1)), x.var(axis=(0, 1))
                return gamma * (x - mean) / np.sqrt(var + epsilon) + beta
        """),
        },
        {
            "ex1_placement": 0,
            "ex2_dropout_shift": 1,
            "ex3_ghost_batch_norm": 1,
            "ex4_class_sorted": 1,
            "ex5_masked_batch_norm": 1,
        },
    ),
    (
        "06_placement_and_limitations",
        "mistakes",
        {
            # "BN cancels any constant" carried over to the block where a ReLU sits in between;
            # numpy scalars and a numerically computed zero are fine
            "ex1_placement": d("""
            bias_gradient_before = np.float64(2e-11)
            bias_matters_after = False
            output_mean_after = np.array(0.5)
            output_var_after = np.float32(3.6)
        """),
            # sampled estimates (100,000 values) are within the tolerance
            "ex2_dropout_shift": "ratio_centered = 0.4990\nratio_offset = 0.4446\nratio_dense = 0.4285",
            # right, but normalizes x in place (through a reshaped view)
            "ex3_ghost_batch_norm": d("""
            examples_per_statistic_buggy = 16.0
            x_hat_pair = 0.9535

            def ghost_batch_norm(x, gamma, beta, group_size, epsilon=1e-3):
                n, d = x.shape
                groups = x.reshape(n // group_size, group_size, d)
                groups -= groups.mean(axis=1, keepdims=True)
                groups /= np.sqrt(groups.var(axis=1, keepdims=True) + epsilon)
                return gamma * x + beta
        """),
            # the refinement for batches of 64 (biased batch variances) is within the tolerance
            "ex4_class_sorted": "moving_mean_one_class = 2\nvar_ratio_one_class = 63 / 64 / 4.5\nvar_ratio_two_classes = (63 / 64 + 14 / 6) / 4.5",
            # masked sums divided by every position, padding included
            "ex5_masked_batch_norm": d("""
            def masked_batch_norm(x, mask, gamma, beta, epsilon=1e-3):
                m = mask[..., None]
                count = x.shape[0] * x.shape[1]
                mean = (x * m).sum(axis=(0, 1)) / count
                var = (((x - mean) * m) ** 2).sum(axis=(0, 1)) / count
                return gamma * (x - mean) / np.sqrt(var + epsilon) + beta
        """),
        },
        {"ex1_placement": 1, "ex3_ghost_batch_norm": 2, "ex5_masked_batch_norm": 1},
    ),
    (
        "06_placement_and_limitations",
        "robustness",
        {
            # answers of the wrong types
            "ex1_placement": d("""
            bias_gradient_before = "0"
            bias_matters_after = "yes"
            output_mean_after = [0.5]
            output_var_after = None
        """),
            # a cell that raises before defining anything
            "ex2_dropout_shift": "ratio_centered = 0.5 / 0\nratio_offset = 4 / 9\nratio_dense = 3 / 7",
            # the groups returned without reshaping back: the wrong shape
            "ex3_ghost_batch_norm": d("""
            examples_per_statistic_buggy = 16
            x_hat_pair = 0.9535

            def ghost_batch_norm(x, gamma, beta, group_size, epsilon=1e-3):
                groups = x.reshape(x.shape[0] // group_size, group_size, x.shape[1])
                mean, var = groups.mean(axis=1, keepdims=True), groups.var(axis=1, keepdims=True)
                return gamma * (groups - mean) / np.sqrt(var + epsilon) + beta
        """),
            # one answer a list instead of a number
            "ex4_class_sorted": "moving_mean_one_class = 2.0\nvar_ratio_one_class = [2 / 9]\nvar_ratio_two_classes = 20 / 27",
            # right, but modifies x in place
            "ex5_masked_batch_norm": d("""
            def masked_batch_norm(x, mask, gamma, beta, epsilon=1e-3):
                real = x[mask]
                mean, var = real.mean(axis=0), real.var(axis=0)
                x -= mean
                x /= np.sqrt(var + epsilon)
                return gamma * x + beta
        """),
        },
        {
            "ex1_placement": 0,
            "ex2_dropout_shift": 0,
            "ex3_ghost_batch_norm": 1,
            "ex4_class_sorted": 2,
            "ex5_masked_batch_norm": 3,
        },
    ),
    # ---------------------------------------------------------------- chapter 7
    (
        "07_beyond_batch_norm",
        "wrong_math",
        {
            # layer normalization (mean subtracted) where RMS normalization was asked for
            "ex1_rms_norm": d("""
            def rms_norm_forward(x, gamma, epsilon=1e-3):
                c = x - x.mean(axis=-1, keepdims=True)
                return gamma * c / np.sqrt(np.mean(c**2, axis=-1, keepdims=True) + epsilon)

            def rms_norm_backward(dout, x, gamma, epsilon=1e-3):
                s = np.sqrt(np.mean(x**2, axis=-1, keepdims=True) + epsilon)
                g = dout * gamma
                return (g - x * np.mean(g * x, axis=-1, keepdims=True) / s**2) / s, np.sum(dout * x / s, axis=tuple(range(x.ndim - 1)))
        """),
            # statistics per channel for layer norm; the channels of a group forgotten
            "ex2_statistics_count": d("""
            means_batch, means_layer, means_instance, means_group = 64, 16 * 64, 16 * 64, 16 * 32
            values_per_group_mean = 32 * 32
            batch_dependent = ["batch"]
        """),
            # the colleague's synchronization kept
            "ex3_synchronized_variance": d("""
            expected_fraction = 1.0

            def sync_statistics(replicas):
                return np.mean([r.mean(axis=0) for r in replicas], axis=0), np.mean([r.var(axis=0) for r in replicas], axis=0)
        """),
        },
        {"ex1_rms_norm": 2, "ex2_statistics_count": 1, "ex3_synchronized_variance": 0},
    ),
    (
        "07_beyond_batch_norm",
        "mistakes",
        {
            # the path through s forgotten in the backward pass
            "ex1_rms_norm": d("""
            def rms_norm_forward(x, gamma, epsilon=1e-3):
                return gamma * x / np.sqrt(np.mean(x**2, axis=-1, keepdims=True) + epsilon)

            def rms_norm_backward(dout, x, gamma, epsilon=1e-3):
                s = np.sqrt(np.mean(x**2, axis=-1, keepdims=True) + epsilon)
                return dout * gamma / s, np.sum(dout * x / s, axis=tuple(range(x.ndim - 1)))
        """),
            # whole floats, a tuple and capitals are fine
            "ex2_statistics_count": d("""
            means_batch, means_layer, means_instance, means_group = 64.0, 16.0, 1024.0, 512.0
            values_per_group_mean = 2048
            batch_dependent = ("Batch",)
        """),
            # concatenating is fine too
            "ex3_synchronized_variance": d("""
            expected_fraction = 1 / 2

            def sync_statistics(replicas):
                whole = np.concatenate(replicas)
                return whole.mean(axis=0), whole.var(axis=0)
        """),
        },
        {"ex1_rms_norm": 2},
    ),
    (
        "04_backward_pass",
        "bnlib_inside",
        {
            # batch renormalization's backward pass with rmax=1, dmax=0 is BN's
            "ex1_compact_backward": d("""
            def bn_backward(dout, x, gamma, epsilon=1e-3):
                d = x.shape[1]
                _, cache = bnlib.batch_renorm_forward(x, gamma, np.zeros(d), np.zeros(d),
                                                      np.ones(d), rmax=1.0, dmax=0.0,
                                                      epsilon=epsilon)
                return bnlib.batch_renorm_backward(dout, cache)
        """),
        },
        {"ex1_compact_backward": 0},
    ),
    (
        "07_beyond_batch_norm",
        "bnlib_inside",
        {
            # the global statistics from bnlib's batch statistics of the concatenated replicas
            "ex3_synchronized_variance": d("""
            expected_fraction = 0.5

            def sync_statistics(replicas):
                return bnlib.batch_statistics(np.concatenate(replicas))
        """),
        },
        {"ex3_synchronized_variance": 1},
    ),
]

# What a message must say for some of the bad submissions: (file, exercise, text in the message).
MESSAGES = [
    ("03_batchnorm_algorithm-bnlib_inside", "ex1_forward", "calls bnlib's `batch_renorm_forward`"),
    ("03_batchnorm_algorithm-bnlib_inside", "ex2_identity", "calls bnlib's `batch_statistics`"),
    (
        "04_backward_pass-bnlib_inside",
        "ex1_compact_backward",
        "calls bnlib's `batch_renorm_forward`",
    ),
    (
        "07_beyond_batch_norm-bnlib_inside",
        "ex3_synchronized_variance",
        "calls bnlib's `batch_statistics`",
    ),
    (
        "03_batchnorm_algorithm-float32",
        "ex2_identity",
        "`identity_parameters` returned float32; compute in float64",
    ),
    (
        "06_placement_and_limitations-robustness",
        "ex1_placement",
        "must be a number, got the string '0'",
    ),
    (
        "06_placement_and_limitations-robustness",
        "ex3_ghost_batch_norm",
        "y should have shape (8, 3), got shape (4, 2, 3)",
    ),
    (
        "06_placement_and_limitations-robustness",
        "ex5_masked_batch_norm",
        "case 4: sentences of 2, 6 and 4 tokens, every argument read-only: `masked_batch_norm` raised ValueError",
    ),
    ("06_placement_and_limitations-mistakes", "ex3_ghost_batch_norm", "read-only"),
    (
        "06_placement_and_limitations-wrong_math",
        "ex2_dropout_shift",
        "[hidden test] ratio_offset: 0.8 is not right",
    ),
    (
        "06_placement_and_limitations-wrong_math",
        "ex5_masked_batch_norm",
        "[public test] case 1: sentences of 3 and 5 tokens",
    ),
    (
        "07_beyond_batch_norm-mistakes",
        "ex1_rms_norm",
        "case 3: x and a random dout of shape (4, 6): dx",
    ),
    (
        "05_inference-wrong_math",
        "ex4_fold_before_dense",
        "raised ValueError: operands could not be broadcast",
    ),
    (
        "05_inference-wrong_math",
        "ex3_evaluation_mode",
        "Hint: at evaluation, normalize with the moving statistics",
    ),
    ("05_inference-mistakes", "ex3_evaluation_mode", "must be True or False, got the string 'yes'"),
    (
        "02_internal_covariate_shift-mistakes",
        "ex2_activation_stds",
        "modified its argument `kernels` in place",
    ),
    (
        "02_internal_covariate_shift-mistakes",
        "ex3_saturation",
        "should be a number, got an array of shape (6,)",
    ),
    ("03_batchnorm_algorithm-robustness", "ex1_forward", "did not finish within 2 s"),
    ("03_batchnorm_algorithm-robustness", "ex2_identity", "`identity_parameters` is not defined"),
    ("03_batchnorm_algorithm-robustness", "ex4_conv_axis", "printed 2,000,001 characters"),
    ("03_batchnorm_algorithm-mistakes", "ex4_conv_axis", "read-only"),
    ("01_input_normalization-robustness", "ex1_robust_scaler", "`RobustScaler` is not defined"),
    (
        "01_input_normalization-robustness",
        "ex2_conditioning",
        "must be a number, got the string '4'",
    ),
    (
        "01_input_normalization-robustness",
        "ex3_deployment",
        "should have shape (3,), got shape (3, 1)",
    ),
    ("01_input_normalization-mistakes", "ex1_robust_scaler", "NaN or infinite"),
    (
        "04_backward_pass-robustness",
        "ex1_compact_backward",
        "expected the tuple (dx, dgamma, dbeta), got an array",
    ),
    ("04_backward_pass-robustness", "ex2_staged_nhwc", "calls bnlib's `batch_norm_forward`"),
    ("04_backward_pass-robustness", "ex4_unbiased_variance", "`backward_ddof1` is not defined"),
    (
        "04_backward_pass-robustness",
        "ex5_gradient_check",
        "not graded: the kernel died while its tests ran",
    ),
    ("04_backward_pass-wrong_math", "ex5_gradient_check", "case 4"),
]


def _source(cell) -> str:
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def _answer_cells(nb, tag) -> dict[str, list[int]]:
    """Question -> indices of its answer cells (those before its check cell)."""
    found, pending = {}, []
    for i, cell in enumerate(nb.cells):
        if tag in cell.get("metadata", {}).get("tags", []):
            pending.append(i)
        src = _source(cell).strip()
        if src.startswith('grader.check("'):
            found[src.split('"')[1]] = pending
            pending = []
    return found


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """Everything ``make exercises`` would write, regenerated into a temporary folder."""
    out = tmp_path_factory.mktemp("exercises")
    raw = tmp_path_factory.mktemp("otter")
    assign.generate(out=out, run_tests=False, keep=raw)
    return out, raw


def _solution_notebook(chapter: str, raw: Path) -> nbformat.NotebookNode:
    """The committed student notebook with every answer cell replaced by the master's solution."""
    student = nbformat.read(EXERCISES / f"{chapter}.ipynb", as_version=4)
    solved = nbformat.read(raw / chapter / "autograder" / f"{chapter}.ipynb", as_version=4)
    mine = _answer_cells(student, "otter_answer_cell")
    theirs = _answer_cells(solved, "otter_assign_solution_cell")
    assert mine.keys() == theirs.keys() and all(len(mine[q]) == len(theirs[q]) for q in mine)
    for q in mine:
        for i, j in zip(mine[q], theirs[q]):
            student.cells[i]["source"] = _source(solved.cells[j])
    return student


@pytest.fixture(scope="module")
def graded(generated, tmp_path_factory):
    """Grade the solutions, the untouched notebooks and every bad submission in one run."""
    _, raw = generated
    folder = tmp_path_factory.mktemp("submissions")
    for chapter in CHAPTERS:
        nbformat.write(_solution_notebook(chapter, raw), folder / f"{chapter}-solution.ipynb")
        nbformat.write(
            nbformat.read(EXERCISES / f"{chapter}.ipynb", as_version=4),
            folder / f"{chapter}-untouched.ipynb",
        )
    for chapter, name, answers, _ in CASES:
        nb = _solution_notebook(chapter, raw)
        cells = _answer_cells(nb, "otter_answer_cell")
        for question, code in answers.items():
            (index,) = cells[question]
            nb.cells[index]["source"] = code.replace("<solution>", _source(nb.cells[index]))
        nbformat.write(nb, folder / f"{chapter}-{name}.ipynb")
    from test_grading_files import write_malformed_submissions

    malformed = write_malformed_submissions(folder)  # one run grades them beside the others
    autograders = load_autograders()
    results = grade([folder], OPTIONS, autograders=autograders)
    report = tmp_path_factory.mktemp("report") / "grades.csv"
    write_reports(results, report, autograders)
    graded_ = {r.student: r for r in results}
    assert len(graded_) == len(results)
    graded_["__malformed__"] = malformed
    return graded_, autograders, report


def test_regenerating_the_exercises_changes_nothing_committed(generated):
    out, _ = generated
    problems = assign.differences(out)
    assert not problems, "\n".join(problems) + "\nrun `make exercises` and commit the result"


def test_differences_for_some_masters_judge_orphans_against_all(tmp_path):
    # Checking one master must not call the other masters' student notebooks orphans.
    committed = tmp_path / "committed"
    committed.mkdir()
    generated = tmp_path / "generated"
    generated.mkdir()
    (generated / "01_input_normalization.ipynb").write_text("{}")
    for name in ("01_input_normalization", "02_internal_covariate_shift", "99_stray"):
        (committed / f"{name}.ipynb").write_text("{}")
    problems = assign.differences(generated, committed, names=["01_input_normalization"])
    orphans = [p for p in problems if "without a master" in p]
    assert orphans == ["a student notebook without a master: exercises/99_stray.ipynb"], problems


def test_every_chapter_from_1_has_graded_exercises_of_every_kind():
    for chapter in CHAPTERS:
        nb = nbformat.read(EXERCISES / f"{chapter}.ipynb", as_version=4)
        headings = [
            _source(c)
            for c in nb.cells
            if c.cell_type == "markdown" and _source(c).startswith("## Exercise")
        ]
        kinds = {h.split("(")[1].split(")")[0] for h in headings}
        assert len(headings) >= 3 and kinds == {"implement", "predict", "diagnose"}, (
            chapter,
            headings,
        )
    assert {
        "01_input_normalization",
        "02_internal_covariate_shift",
        "03_batchnorm_algorithm",
        "04_backward_pass",
        "05_inference",
        "06_placement_and_limitations",
        "07_beyond_batch_norm",
    } <= set(CHAPTERS)


def test_every_chapter_in_the_book_has_an_exercise_master():
    import yaml

    toc = yaml.safe_load((EXERCISES.parent / "_toc.yml").read_text())
    files = [c["file"] for part in toc.get("parts", []) for c in part.get("chapters", [])]
    chapters = [
        Path(f).name for f in files if Path(f).name[:2].isdigit() and Path(f).name[:2] != "00"
    ]
    assert not AWAITING_EXERCISES & set(CHAPTERS), (
        "remove the chapters that have a master from AWAITING_EXERCISES"
    )
    missing = [c for c in chapters if c not in CHAPTERS and c not in AWAITING_EXERCISES]
    assert not missing, (
        f"chapters without graded exercises: {missing}; add exercises/masters/<chapter>.ipynb "
        "(README, 'For authors') and run `make exercises`"
    )


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_each_chapter_links_its_graded_notebook_on_binder(chapter):
    """The chapter's *Exercises* section opens its exercise notebook on Binder, from this repository."""
    import yaml

    config = yaml.safe_load((EXERCISES.parent / "_config.yml").read_text())
    repo = config["repository"]["url"].removeprefix("https://github.com/")
    branch = config["repository"].get("branch", "main")
    link = f"https://mybinder.org/v2/gh/{repo}/{branch}?urlpath=lab/tree/exercises/{chapter}.ipynb"
    nb = nbformat.read(EXERCISES.parent / "chapters" / f"{chapter}.ipynb", as_version=4)
    sections = [
        _source(c).split("## Exercises", 1)[1]
        for c in nb.cells
        if c.cell_type == "markdown" and "## Exercises" in _source(c)
    ]
    assert len(sections) == 1, f"{chapter}: expected one '## Exercises' section"
    graded = sections[0].split("\n## ", 1)[0]
    assert f"]({link})" in graded, f"{chapter}: its Exercises section should link to {link}"
    student = nbformat.read(EXERCISES / f"{chapter}.ipynb", as_version=4)
    titles = [
        _source(c).splitlines()[0].split("): ", 1)[1]
        for c in student.cells
        if c.cell_type == "markdown" and _source(c).startswith("## Exercise ")
    ]
    missing = [t for t in titles if t not in graded]
    assert not missing, (
        f"{chapter}: the Exercises section does not list the graded exercises {missing}"
    )


def test_student_notebooks_hold_no_solutions_and_no_hidden_tests():
    for chapter in CHAPTERS:
        text = (EXERCISES / f"{chapter}.ipynb").read_text(encoding="utf-8")
        nb = json.loads(text)
        assert "BEGIN SOLUTION" not in text and "# SOLUTION" not in text
        assert "hidden=True" not in text, f"{chapter}: a hidden test in the student notebook"
        public = nb["metadata"]["otter"]["tests"]
        assert public and all("hidden=False" in t for t in public.values())
        hidden = "".join(
            (p.read_text()) for p in (EXERCISES / "autograder" / chapter / "tests").glob("*.py")
        )
        assert "hidden=True" in hidden


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_the_solutions_score_full_marks(graded, chapter):
    results, autograders, _ = graded
    r = results[f"{chapter}-solution"]
    assert r.status == "graded", r.status
    assert r.possible == autograders[chapter].possible > 0
    assert r.total == r.possible, {q: e.message for q, e in r.exercises.items() if e.message}


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_untouched_student_notebooks_score_zero(graded, chapter):
    results, _, _ = graded
    r = results[f"{chapter}-untouched"]
    assert r.status == "graded", r.status
    assert r.total == 0 and all(e.message for e in r.exercises.values()), r.exercises


@pytest.mark.parametrize("case", CASES, ids=[f"{c[0][:2]}-{c[1]}" for c in CASES])
def test_bad_submissions_lose_exactly_their_points(graded, case):
    results, autograders, _ = graded
    chapter, name, _, expected = case
    r = results[f"{chapter}-{name}"]
    got = {q: e.score for q, e in r.exercises.items()}
    want = {q.name: float(expected.get(q.name, q.possible)) for q in autograders[chapter].questions}
    assert got == want, {q: r.exercises[q].message for q in got if got[q] != want[q]}
    for q, e in r.exercises.items():
        assert (e.score < e.possible) == bool(e.message), (q, e.message)


def test_malformed_files_get_one_row_each_in_the_same_run(graded):
    results, _, report = graded
    malformed = results["__malformed__"]
    assert len(malformed) >= 20
    for student, reason in malformed.items():
        status = results[student].status
        assert status.startswith("not graded: ") and reason in status, (student, status)
    graded_ok = [r for k, r in results.items() if k != "__malformed__" and r.status == "graded"]
    assert len(graded_ok) >= 20


def test_failure_messages_are_specific(graded):
    results, _, _ = graded
    for stem, question, text in MESSAGES:
        message = results[stem].exercises[question].message
        assert text in message, f"{stem} {question}: {message!r}"


def test_a_crash_or_a_hang_costs_only_its_cell(graded):
    results, _, _ = graded
    died = results["04_backward_pass-robustness"]
    assert died.status == "graded (parts skipped after a crash or hang)"
    assert any(n.startswith("code cell") and "the kernel died" in n for n in died.notes), died.notes
    assert (
        "ex5_gradient_check: the kernel died while its tests ran; scored zero, graded again"
        in died.notes
    ), died.notes
    hung = results["01_input_normalization-uninterruptible"]
    assert any("time limit" in n for n in hung.notes), hung.notes


def test_the_report_has_one_row_per_submission_and_one_column_per_exercise(graded):
    results, autograders, report = graded
    import csv

    rows = list(csv.DictReader(report.open(encoding="utf-8")))
    assert len(rows) == len(results) - 1  # less the "__malformed__" entry
    for chapter in CHAPTERS:
        for q in autograders[chapter].questions:
            assert f"{chapter[:2]}_{q.name}" in rows[0]
    data = json.loads(report.with_suffix(".json").read_text(encoding="utf-8"))
    assert {d["student"] for d in data} == set(results) - {"__malformed__"}
    row = next(r for r in rows if r["student"] == "03_batchnorm_algorithm-robustness")
    assert row["03_ex1_forward"] == "0" and row["total"] == str(int(results[row["student"]].total))
    assert "did not finish" in row["feedback"]


def test_unreadable_and_unknown_submissions_are_reported_not_raised(tmp_path):
    from grading.grade import grade_one, identify, read_submission

    autograders = load_autograders()
    (tmp_path / "garbage.ipynb").write_text("this is not a notebook")
    nb = nbformat.read(EXERCISES / "03_batchnorm_algorithm.ipynb", as_version=4)
    del nb.metadata["otter"]
    nbformat.write(nb, tmp_path / "mystery.ipynb")
    garbage = grade_one(tmp_path / "garbage.ipynb", autograders, OPTIONS, tmp_path)
    mystery = grade_one(tmp_path / "mystery.ipynb", autograders, OPTIONS, tmp_path)
    assert garbage.status.startswith("not graded: ") and garbage.assignment is None
    assert mystery.status.startswith("not graded: ") and "--assignment" in mystery.status
    # the same notebook is recognized by its file name, by --assignment, and inside an otter export zip
    assert (
        identify(nb, Path("alice_03_batchnorm_algorithm.ipynb"), autograders)
        == "03_batchnorm_algorithm"
    )
    assert (
        identify(nb, Path("mystery.ipynb"), autograders, forced="03_batchnorm_algorithm")
        == "03_batchnorm_algorithm"
    )
    import zipfile

    with zipfile.ZipFile(tmp_path / "export.zip", "w") as zf:
        zf.write(EXERCISES / "04_backward_pass.ipynb", "04_backward_pass.ipynb")
        zf.writestr(".OTTER_LOG", "")
    exported = read_submission(tmp_path / "export.zip")
    assert identify(exported, tmp_path / "export.zip", autograders) == "04_backward_pass"
    report = write_reports([garbage, mystery], tmp_path / "r.csv", autograders)[0]
    assert len(report.read_text().splitlines()) == 3


def test_exercises_are_neither_tested_by_nbval_nor_built_into_the_book(tmp_path):
    import shutil
    import subprocess
    import sys

    import yaml

    root = EXERCISES.parent
    toc = (root / "_toc.yml").read_text()
    assert (
        "exercises" not in toc
        and yaml.safe_load((root / "_config.yml").read_text())["only_build_toc_files"]
    )
    shutil.copy(root / "pyproject.toml", tmp_path / "pyproject.toml")
    (tmp_path / "tests").mkdir()
    shutil.copy(root / "tests" / "nbval_sanitize.cfg", tmp_path / "tests" / "nbval_sanitize.cfg")
    (tmp_path / "tests" / "test_ok.py").write_text("def test_ok():\n    pass\n")
    for path in ["chapters/01_ok.ipynb", "exercises/01_ok.ipynb", "exercises/masters/01_ok.ipynb"]:
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(EXERCISES / "03_batchnorm_algorithm.ipynb", tmp_path / path)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    collected = {line.split("::")[0] for line in result.stdout.splitlines() if "::" in line}
    assert collected == {"tests/test_ok.py", "chapters/01_ok.ipynb"}, result.stdout[-2000:]


def test_when_no_attempt_completes_the_exercises_checked_before_keep_their_scores(
    generated, tmp_path
):
    _, raw = generated
    nb = _solution_notebook("03_batchnorm_algorithm", raw)
    check = next(
        i for i, c in enumerate(nb.cells) if _source(c).strip() == 'grader.check("ex2_identity")'
    )
    nb.cells.insert(check + 1, nbformat.v4.new_code_cell("import os\nos._exit(1)"))
    nbformat.write(nb, tmp_path / "eve.ipynb")
    options = Options(cell_timeout=5, call_timeout=2, submission_timeout=60, attempts=1)
    (r,) = grade([tmp_path / "eve.ipynb"], options, autograders=load_autograders())
    assert r.status == "incomplete: grading stopped: the kernel died", r.status
    assert {q: e.score for q, e in r.exercises.items()} == {
        "ex1_forward": 5,
        "ex2_identity": 2,
        "ex3_epsilon_limit": 0,
        "ex4_conv_axis": 0,
    }
    assert r.exercises["ex4_conv_axis"].message == "not graded: grading stopped: the kernel died"
