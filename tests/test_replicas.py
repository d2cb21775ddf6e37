"""Tests of bncourse.replicas: a Keras layer under MirroredStrategy over logical CPUs.

Splitting the CPU into logical devices must happen before TensorFlow initializes its devices,
which another test of the session has usually done already; the tests that need two replicas
therefore run in a fresh Python process (a few seconds). They check what chapter 7 relies on:
per-replica BN is ghost BN and synchronized BN is full-batch BN, to float32 rounding (1e-4 for
values of order 1, about 1000 float32 epsilons: the one-pass variance of the synchronized path
loses digits), and each replica keeps its own copy of the moving statistics, of which reading
the variable and saving the layer give replica 0's.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from bncourse import replicas  # noqa: E402

TWO_REPLICAS = textwrap.dedent(
    """
    import numpy as np
    from bncourse import replicas
    names = replicas.logical_cpus(2)
    assert len(names) == 2, names
    assert replicas.logical_cpus(2) == names  # already split: unchanged
    try:
        replicas.logical_cpus(3)
    except RuntimeError as err:
        assert "already initialized" in str(err)
    else:
        raise AssertionError("logical_cpus(3) after initialization must raise")
    import keras, tensorflow as tf
    import bnlib
    tf.get_logger().setLevel("ERROR")
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    rng = np.random.default_rng(0)
    x = rng.normal(1.0, 2.0, (8, 3)).astype(np.float32)
    dout = rng.standard_normal(x.shape).astype(np.float32)
    halves, douts = np.split(x, 2), np.split(dout, 2)
    one, zero = np.ones(3, np.float32), np.zeros(3, np.float32)
    for sync in (False, True):
        res = replicas.training_step(
            strategy, lambda: keras.layers.BatchNormalization(synchronized=sync, momentum=0.5), halves, douts)
        if sync:
            y, cache = bnlib.batch_norm_forward(x, one, zero)
            dx, dg, db = bnlib.batch_norm_backward(dout, cache)
            means = [0.5 * x.mean(axis=0)] * 2
        else:
            parts = [bnlib.batch_norm_forward(h, one, zero) for h in halves]
            grads = [bnlib.batch_norm_backward(d, c) for d, (_, c) in zip(douts, parts)]
            y = np.concatenate([p[0] for p in parts])
            dx = np.concatenate([g[0] for g in grads])
            dg, db = sum(g[1] for g in grads), sum(g[2] for g in grads)
            means = [0.5 * h.mean(axis=0) for h in halves]
        for got, want in [(res["y"], y), (res["dx"], dx), (res["dgamma"], dg), (res["dbeta"], db)]:
            assert got.shape == want.shape and np.abs(got - want).max() < 1e-4, (sync, got, want)
        assert len(res["mean_copies"]) == 2 and len(res["var_copies"]) == 2
        for copy, want in zip(res["mean_copies"], means):
            assert np.abs(copy - want).max() < 1e-5, (sync, copy, want)
        # Keras 3: a mirrored variable (ON_WRITE, aggregation NONE); reading it and saving it give copy 0
        assert (res["synchronization"], res["aggregation"]) == ("ON_WRITE", "NONE"), res
        assert np.array_equal(res["mean_read"], res["mean_copies"][0]), res
        assert np.array_equal(res["mean_saved"], res["mean_copies"][0]), res
    xo = (np.array([0.0, 10.0]) + rng.standard_normal((16, 2))).astype(np.float32)
    var, y = replicas.moving_variance(
        strategy, lambda: keras.layers.BatchNormalization(synchronized=True, momentum=0.0), np.split(xo, 2))
    exact = xo.astype(np.float64).var(axis=0)
    assert y.shape == (16, 2) and np.abs(var - exact).max() / exact.min() < 1e-3, (var, exact)
    try:
        replicas.moving_variance(
            strategy, lambda: keras.layers.BatchNormalization(momentum=0.5), np.split(xo, 2)
        )
    except ValueError as err:
        assert "momentum=0" in str(err)
    else:
        raise AssertionError("momentum != 0 must raise")
    print("ok")
    """
)


def test_two_replicas_give_ghost_and_full_batch_normalization():
    child = subprocess.run(
        [sys.executable, "-c", TWO_REPLICAS],
        capture_output=True,
        text=True,
        timeout=300,
        env={**__import__("os").environ, "TF_CPP_MIN_LOG_LEVEL": "2", "TF_ENABLE_ONEDNN_OPTS": "0"},
    )
    assert child.returncode == 0 and child.stdout.strip().endswith("ok"), (
        child.stdout + child.stderr
    )


@pytest.mark.parametrize("n", [0, -1, 1.5, True])
def test_logical_cpus_rejects_a_bad_count(n):
    with pytest.raises(ValueError, match="positive integer"):
        replicas.logical_cpus(n)


def test_per_replica_needs_one_slice_per_replica():
    strategy = tf.distribute.get_strategy()  # the default strategy: one replica
    with pytest.raises(ValueError, match="one slice per replica"):
        replicas.per_replica(strategy, [np.zeros(2), np.zeros(2)])
