"""Tests of bncourse.variant_checks: the gradient checks and Keras comparisons of chapter 7.

A check that cannot fail is worthless, so each helper is shown to pass a correct implementation
and to fail a wrong one: centred differences in float64 reach relative errors near 1e-10 (bound
1e-7), a backward pass off by 1 % is off by about 1e-2; bnlib matches Keras's BatchNormalization
to a few eps32 * S (bound 8), a forward pass off by 1e-4 is hundreds of units off.
"""

from __future__ import annotations

import numpy as np
import pytest

import bnlib
from bncourse import variant_checks as vc

keras = pytest.importorskip("keras")


def test_gradient_check_passes_bnlib_and_fails_a_wrong_backward_pass():
    rng = np.random.default_rng(0)
    x = rng.normal(1.0, 2.0, (6, 4))
    params = [rng.normal(size=4), rng.normal(size=4)]
    good = vc.gradient_check(bnlib.batch_norm_forward, bnlib.batch_norm_backward, x, params, rng)
    assert set(good) == {"dx", "dgamma", "dbeta"}
    assert max(good.values()) < 1e-7

    def wrong(dout, cache):
        dx, dgamma, dbeta = bnlib.batch_norm_backward(dout, cache)
        return 1.01 * dx, dgamma, dbeta

    bad = vc.gradient_check(bnlib.batch_norm_forward, wrong, x, params, rng)
    assert bad["dx"] > 1e-3 and bad["dgamma"] < 1e-7


def test_gradient_check_names_every_parameter():
    rng = np.random.default_rng(1)
    with pytest.raises(ValueError, match="names"):
        vc.gradient_check(
            bnlib.batch_norm_forward,
            bnlib.batch_norm_backward,
            rng.normal(size=(4, 3)),
            [np.ones(3), np.zeros(3)],
            rng,
            names=("dgamma",),
        )


def test_f32_ratio_counts_float32_epsilons_times_the_scale():
    theirs = np.array([1.0, -2.0, 3.0], np.float32)
    ours = theirs.astype(np.float64) + np.array([0.0, 3 * vc.F32_EPS, 0.0])
    assert vc.f32_ratio(ours, theirs, 1.0) == pytest.approx(3.0)
    assert vc.f32_ratio(ours, theirs, 3.0) == pytest.approx(1.0)
    for scale in (0.0, -1.0, np.nan):
        with pytest.raises(ValueError, match="scale"):
            vc.f32_ratio(ours, theirs, scale)


def _bn_case(rng, shift=0.0):
    x = rng.normal(1.0, 2.0, (32, 5)).astype(np.float32)
    dout = rng.standard_normal(x.shape).astype(np.float32)
    gamma, beta = rng.uniform(0.5, 2.0, 5).astype(np.float32), rng.normal(size=5).astype(np.float32)
    layer = keras.layers.BatchNormalization()
    layer.build(x.shape)
    layer.gamma.assign(gamma)
    layer.beta.assign(beta)
    theirs = vc.keras_training_call(layer, x, dout)
    y, cache = bnlib.batch_norm_forward(x, gamma, beta)
    return [y + shift, *bnlib.batch_norm_backward(dout, cache)], theirs, dout, cache.x_hat


def test_keras_training_call_and_compare_with_keras():
    ours, theirs, dout, x_hat = _bn_case(np.random.default_rng(2))
    assert [a.shape for a in theirs] == [(32, 5), (32, 5), (5,), (5,)]
    table = vc.compare_with_keras(ours, theirs, dout, x_hat)
    assert set(table) == {"y", "dx", "dgamma", "dbeta"}
    assert max(table.values()) <= 8
    ours, theirs, dout, x_hat = _bn_case(np.random.default_rng(2), shift=1e-4)
    assert vc.compare_with_keras(ours, theirs, dout, x_hat)["y"] > 100


def test_compare_with_keras_rejects_bad_input():
    ours, theirs, dout, x_hat = _bn_case(np.random.default_rng(3))
    with pytest.raises(ValueError, match="y, dx, dgamma, dbeta"):
        vc.compare_with_keras(ours[:3], theirs, dout, x_hat)
    with pytest.raises(ValueError, match="shape"):
        vc.compare_with_keras(ours, theirs, dout, x_hat[:4])


# ---------------------------------------------------------------------------------------------
# The parity checks chapter 7 shows and sweeps: within a few eps32 * S for bnlib, thousands of
# them for a variant with a formula error (epsilon 1e-2 instead of Keras's 1e-3 in the forward
# pass; a renorm that forgets its correction d; a weight norm without its projection).

PARITIES = [
    "layer_norm_parity",
    "instance_norm_parity",
    "group_norm_parity",
    "renorm_parity",
    "weight_norm_parity",
]


@pytest.mark.parametrize("name", PARITIES)
def test_parity_checks_pass_bnlib(name):
    tables = getattr(vc, name)(np.random.default_rng(5))
    assert tables and all(isinstance(t, dict) and t for t in tables.values())
    ratios = [v for t in tables.values() for v in t.values()]
    assert max(ratios) <= 16, tables  # the chapter's ULPS


def _wrong_epsilon(forward):
    def broken(x, gamma, beta, *args, **kwargs):
        kwargs["epsilon"] = 1e-2
        return forward(x, gamma, beta, *args, **kwargs)

    return broken


@pytest.mark.parametrize(
    "name, target",
    [
        ("layer_norm_parity", "layer_norm_forward"),
        ("instance_norm_parity", "instance_norm_forward"),
        ("group_norm_parity", "group_norm_forward"),
    ],
)
def test_parity_checks_catch_a_wrong_epsilon(monkeypatch, name, target):
    monkeypatch.setattr(bnlib, target, _wrong_epsilon(getattr(bnlib, target)))
    tables = getattr(vc, name)(np.random.default_rng(5))
    assert min(t["y"] for t in tables.values()) > 1000, tables


def test_renorm_parity_catches_a_missing_correction_and_records_clipping(monkeypatch):
    clipped = []
    vc.renorm_parity(np.random.default_rng(5), clipped=clipped)
    assert len(clipped) == 8 and clipped[0]  # the moving statistics start far from the data
    forward = bnlib.batch_renorm_forward

    def no_d(x, gamma, beta, mean, std, **kwargs):
        y, cache = forward(x, gamma, beta, mean, std, **kwargs)
        return y - gamma * cache.d, cache

    monkeypatch.setattr(bnlib, "batch_renorm_forward", no_d)
    tables = vc.renorm_parity(np.random.default_rng(5))
    assert tables["renorm, 8 training steps"]["y"] > 1000


def test_weight_norm_parity_catches_a_missing_projection(monkeypatch):
    backward = bnlib.weight_norm_backward

    def unprojected(dw, cache):
        dv, dg = backward(dw, cache)
        return dv + cache.g / cache.norm * dg * cache.v_hat, dg

    monkeypatch.setattr(bnlib, "weight_norm_backward", unprojected)
    table = vc.weight_norm_parity(np.random.default_rng(5))[
        "weight norm against tf.GradientTape, float32"
    ]
    assert table["dv"] > 1000 and table["w"] <= 16
