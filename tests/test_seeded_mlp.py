"""Tests of bncourse.seeded_mlp: a stack of n sigmoid networks is n independent networks.

Small stacks (12 inputs, hidden layers of 8 and 6 units, 3 networks) on random data, so the whole
file runs in seconds. Each stacked computation is compared with the same computation done network
by network in numpy (float64) or on a stack of one; tolerances are float32 rounding (logits and
losses of order 1 agree to about 1e-6; after a few SGD steps weights agree to 1e-5).
"""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")

from bncourse import seeded_mlp as sm  # noqa: E402
from bncourse import stacked  # noqa: E402

N, N_IN, HIDDEN = 3, 12, (8, 6)
EPS = 1e-3  # Keras BatchNormalization's default epsilon


def _data(rows=120, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, size=(rows, N_IN), dtype=np.uint8)
    y = rng.integers(0, 10, size=rows).astype(np.uint8)
    return x, y


def _mlp(batch_norm=False, n=N, seed=7, noise=None, stddev=0.5):
    return sm.sigmoid_mlp(
        n, n_in=N_IN, hidden=HIDDEN, batch_norm=batch_norm, noise=noise, stddev=stddev, seed=seed
    )


def _dense_layers(model):
    return [layer for layer in model.layers if isinstance(layer, keras.layers.EinsumDense)]


def _bn_layers(model):
    return [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]


def _reference_forward(model, x, s, training, upto_last_sigmoid_input=False):
    """Network s of a stack, computed alone in float64 numpy; x: (B, features) in [0, 1]."""
    dense, bns = _dense_layers(model), _bn_layers(model)
    h = x.astype(np.float64)
    for k in range(len(HIDDEN)):
        kernel = dense[k].kernel.numpy()[s].astype(np.float64)
        z = h @ kernel
        if dense[k].bias is not None:
            z = z + dense[k].bias.numpy()[s]
        if bns:
            units = kernel.shape[1]
            part = slice(s * units, (s + 1) * units)
            bn = bns[k]
            if training:
                mean, var = z.mean(axis=0), z.var(axis=0)
            else:
                mean, var = bn.moving_mean.numpy()[part], bn.moving_variance.numpy()[part]
            z = (z - mean) / np.sqrt(var + EPS) * bn.gamma.numpy()[part] + bn.beta.numpy()[part]
        if upto_last_sigmoid_input and k == len(HIDDEN) - 1:
            return z
        h = 1 / (1 + np.exp(-z))
    return h @ dense[-1].kernel.numpy()[s] + dense[-1].bias.numpy()[s]


def _on_stack(x, n=N):
    return np.repeat((x.astype(np.float32) / 255)[:, None], n, axis=1)


def _network_weights(model, s):
    """The weights of network s of a stack, in the layout of a stack of one."""
    out = []
    for layer in model.layers:
        if isinstance(layer, keras.layers.EinsumDense):
            out += [w.numpy()[s : s + 1] for w in layer.weights]
        elif isinstance(layer, keras.layers.BatchNormalization):
            units = layer.gamma.shape[0] // model.input_shape[1]
            out += [w.numpy()[s * units : (s + 1) * units] for w in layer.weights]
    return out


def _load_network(model_one, weights):
    target = [w for layer in model_one.layers for w in layer.weights]
    assert len(target) == len(weights)
    for variable, value in zip(target, weights):
        variable.assign(value)


# ------------------------------------------------------------------------------- building


def test_shapes_and_parameters():
    plain, bn = _mlp(False), _mlp(True)
    assert plain.input_shape == (None, N, N_IN) and plain.output_shape == (None, N, 10)
    per_network_plain = N_IN * 8 + 8 + 8 * 6 + 6 + 6 * 10 + 10
    assert plain.count_params() == N * per_network_plain
    # With BN: no bias in the hidden dense layers; gamma, beta and two moving statistics per unit.
    per_network_bn = N_IN * 8 + 8 * 6 + 6 * 10 + 10 + 4 * (8 + 6)
    assert bn.count_params() == N * per_network_bn
    assert [tuple(b.gamma.shape) for b in _bn_layers(bn)] == [(N * 8,), (N * 6,)]
    assert all(layer.bias is None for layer in _dense_layers(bn)[:-1])
    assert bn.get_layer(sm.LAST_SIGMOID).input.shape[1:] == (N, HIDDEN[-1])


def test_same_seed_same_initial_kernels_with_and_without_bn():
    plain, bn = _mlp(False, seed=3), _mlp(True, seed=3)
    for a, b in zip(_dense_layers(plain), _dense_layers(bn)):
        np.testing.assert_array_equal(a.kernel.numpy(), b.kernel.numpy())
    other = _mlp(False, seed=4)
    assert not np.array_equal(
        _dense_layers(other)[0].kernel.numpy(), _dense_layers(plain)[0].kernel.numpy()
    )
    kernel = _dense_layers(_mlp(False, seed=3, stddev=0.1))[0].kernel.numpy()
    assert abs(kernel.std() - 0.1) < 0.03  # N(0, stddev^2)
    assert np.all(_dense_layers(plain)[0].bias.numpy() == 0)


@pytest.mark.parametrize("batch_norm", [False, True])
@pytest.mark.parametrize("training", [False, True])
def test_each_network_of_the_stack_is_an_independent_network(batch_norm, training):
    model = _mlp(batch_norm)
    rng = np.random.default_rng(1)
    x = (
        rng.integers(0, 256, size=(16, N, N_IN)).astype(np.float32) / 255
    )  # its own batch per network
    if batch_norm:  # non-trivial gamma, beta and moving statistics
        for layer in _bn_layers(model):
            for w in layer.weights:
                w.assign(rng.uniform(0.5, 1.5, size=w.shape).astype(np.float32))
    logits = model(x, training=training).numpy()
    for s in range(N):
        expected = _reference_forward(model, x[:, s], s, training)
        np.testing.assert_allclose(logits[:, s], expected, rtol=1e-5, atol=1e-5)


def test_noise_layer_is_applied_per_hidden_layer_with_its_own_seed():
    seeds = []

    class Shift(keras.layers.Layer):
        def __init__(self, seed=None, **kwargs):
            super().__init__(**kwargs)
            seeds.append(seed)

        def call(self, x, training=False):
            return x + 1.0

    model = _mlp(True, seed=5, noise=Shift)
    assert seeds == [15, 16]
    assert sum(isinstance(layer, Shift) for layer in model.layers) == len(HIDDEN)


def test_bad_arguments():
    with pytest.raises(ValueError, match="n must be a positive integer"):
        sm.sigmoid_mlp(0)
    with pytest.raises(ValueError, match="seed"):
        sm.sigmoid_mlp(2, seed=-1)
    with pytest.raises(ValueError, match="hidden"):
        sm.sigmoid_mlp(2, hidden=())
    with pytest.raises(ValueError, match="stddev"):
        sm.stacked_dense(2, 4, stddev=0.0)


# ------------------------------------------------------------------------------- measuring


def test_per_network_norm():
    rng = np.random.default_rng(2)
    tensors = [rng.normal(size=(N, 4, 5)), rng.normal(size=(N, 5)), rng.normal(size=(N * 6,))]
    got = sm.per_network_norm([tf.constant(t) for t in tensors], N).numpy()
    expected = [np.sqrt(sum(np.sum(t.reshape(N, -1)[s] ** 2) for t in tensors)) for s in range(N)]
    np.testing.assert_allclose(got, expected, rtol=1e-12)


@pytest.mark.parametrize("rows", [7, 1203])  # fewer than one slice of 500, and several slices
def test_accuracy_per_network(rows):
    model = _mlp(True)
    x, y = _data(rows, seed=3)
    y = np.asarray(np.argmax(model(_on_stack(x), training=False).numpy()[:, 0], axis=-1), np.uint8)
    y[: rows // 3] = (y[: rows // 3] + 1) % 10  # network 0 is right on two thirds of the examples
    logits = model(_on_stack(x), training=False).numpy()
    expected = np.mean(np.argmax(logits, axis=-1) == y[:, None], axis=0)
    got = sm.accuracy(model, x, y)
    np.testing.assert_allclose(got, expected, atol=1e-12)
    assert abs(got[0] - (rows - rows // 3) / rows) < 1e-12
    np.testing.assert_allclose(
        sm.accuracy(model, x.astype(np.float32) / 255, y), expected, atol=1e-12
    )
    with pytest.raises(ValueError, match="features"):
        sm.accuracy(model, x[:, :5], y)


def test_probe_records_training_mode_inputs_and_changes_nothing():
    model = _mlp(True)
    x_probe, _ = _data(40, seed=4)
    x_test, y_test = _data(30, seed=5)
    before = [w.numpy().copy() for w in model.weights]
    acc, z = sm.make_probe(model, x_probe, x_test, y_test)()
    for w, old in zip(model.weights, before):  # moving statistics included
        np.testing.assert_array_equal(w.numpy(), old)
    assert z.shape == (40, N, HIDDEN[-1])
    for s in range(N):
        expected = _reference_forward(
            model, x_probe.astype(np.float64) / 255, s, True, upto_last_sigmoid_input=True
        )
        np.testing.assert_allclose(z[:, s], expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(acc, sm.accuracy(model, x_test, y_test), atol=1e-7)


def test_summarize_inputs():
    z = np.random.default_rng(6).normal(size=(50, N, 4))
    got = sm.summarize_inputs(z)
    assert got.shape == (len(sm.Z_SUMMARIES), N, 4)
    np.testing.assert_allclose(got[:3], np.percentile(z, [15, 50, 85], axis=0))
    np.testing.assert_allclose(got[3], z.mean(axis=0))
    np.testing.assert_allclose(got[4], z.std(axis=0))
    with pytest.raises(ValueError, match="images, n, units"):
        sm.summarize_inputs(z[0])


def _loss_and_grad(model, xb, yb):
    with tf.GradientTape() as tape:
        logits = model(xb, training=True)
        losses = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(yb, logits), axis=0)
        total = tf.reduce_sum(losses)
    return losses.numpy(), tape.gradient(total, model.trainable_variables)


def test_landscape_matches_moving_the_weights_by_hand():
    model = _mlp(True)
    x, y = _data(200, seed=7)
    idx = stacked.batch_indices(N, 1, 16, seed=8, pool=len(x))[0]  # (16, N)
    etas = [0.1, 0.5, 2.0]
    before = [w.numpy().copy() for w in model.weights]
    loss0, losses, changes, gnorm = sm.make_landscape(model, x, y, etas)(idx)
    for w, old in zip(model.weights, before):
        np.testing.assert_array_equal(w.numpy(), old)

    xb = np.stack([x[idx[:, s]] for s in range(N)], axis=1).astype(np.float32) / 255
    yb = np.stack([y[idx[:, s]] for s in range(N)], axis=1).astype(np.int32)
    ref0, grad0 = _loss_and_grad(model, xb, yb)
    np.testing.assert_allclose(loss0, ref0, rtol=1e-5)
    np.testing.assert_allclose(gnorm, sm.per_network_norm(grad0, N).numpy(), rtol=1e-5)
    for i, eta in enumerate(etas):
        for v, g, old in zip(
            model.trainable_variables, grad0, [v.numpy() for v in model.trainable_variables]
        ):
            v.assign(old - eta * g.numpy())
        ref, grad = _loss_and_grad(model, xb, yb)
        ref_change = sm.per_network_norm([a - b for a, b in zip(grad, grad0)], N).numpy()
        np.testing.assert_allclose(losses[i], ref, rtol=1e-5)
        np.testing.assert_allclose(changes[i], ref_change, rtol=1e-4, atol=1e-6)
        for w, old in zip(model.weights, before):
            w.assign(old)
    with pytest.raises(ValueError, match="etas"):
        sm.make_landscape(model, x, y, [0.0, 1.0])


# ------------------------------------------------------------------------------- training


def test_sgd_trains_every_network_as_if_alone():
    x, y = _data(200, seed=9)
    idx = stacked.batch_indices(N, 5, 16, seed=10, pool=len(x))  # (5, 16, N)
    model = _mlp(True)
    start = [_network_weights(model, s) for s in range(N)]
    losses = sm.make_sgd(model, x, y, learning_rate=0.3)(idx)
    assert losses.shape == (N,) and np.all(np.isfinite(losses))

    s = 1  # network 1, alone in a stack of one, on its own mini-batches
    alone = _mlp(True, n=1)
    _load_network(alone, start[s])
    loss_alone = sm.make_sgd(alone, x, y, learning_rate=0.3)(idx[:, :, s : s + 1])
    np.testing.assert_allclose(losses[s], loss_alone[0], rtol=1e-5)
    for a, b in zip(_network_weights(model, s), _network_weights(alone, 0)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)

    # One plain SGD step, by hand: w - lr * dL_s/dw for every network.
    model2 = _mlp(False)
    xb = np.stack([x[idx[0, :, t]] for t in range(N)], axis=1).astype(np.float32) / 255
    yb = np.stack([y[idx[0, :, t]] for t in range(N)], axis=1).astype(np.int32)
    ref_losses, grads = _loss_and_grad(model2, xb, yb)
    expected = [v.numpy() - 0.3 * g.numpy() for v, g in zip(model2.trainable_variables, grads)]
    step_loss = sm.make_sgd(model2, x, y, learning_rate=0.3)(idx[:1])
    np.testing.assert_allclose(step_loss, ref_losses, rtol=1e-5)
    for v, e in zip(model2.trainable_variables, expected):
        np.testing.assert_allclose(v.numpy(), e, rtol=1e-5, atol=1e-6)

    with pytest.raises(ValueError, match="idx must have shape"):
        sm.make_sgd(model2, x, y, 0.1)(idx[..., :2])


def test_train_logs():
    x, y = _data(300, seed=11)
    chunks, steps = 3, 4
    batches = stacked.batch_indices(N, chunks * steps, 16, seed=12, pool=len(x)).reshape(
        chunks, steps, 16, N
    )
    models = {"plain": _mlp(False), "bn": _mlp(True)}
    logs = sm.train(
        models,
        batches,
        x,
        y,
        learning_rate=0.2,
        x_test=x[:50],
        y_test=y[:50],
        x_probe=x[:20],
        etas=[0.1, 1.0],
        landscape_batches=2,
        landscape_models=["bn"],
        landscape_every=2,
    )
    assert set(logs) == {"plain", "bn"}
    for log in logs.values():
        assert log["test_acc"].shape == (chunks + 1, N)
        assert log["loss"].shape == (chunks, N)
        assert log["z"].shape == (chunks + 1, len(sm.Z_SUMMARIES), N, HIDDEN[-1])
    assert "landscape" not in logs["plain"]
    land = logs["bn"]["landscape"]  # checkpoints 0 and 2 of 0, 1, 2
    assert land["loss0"].shape == (2, 2, N) and land["gnorm"].shape == (2, 2, N)
    assert land["losses"].shape == (2, 2, 2, N) and land["changes"].shape == (2, 2, 2, N)
    np.testing.assert_allclose(
        logs["bn"]["test_acc"][-1], sm.accuracy(models["bn"], x[:50], y[:50])
    )
    with pytest.raises(ValueError, match="every model must stack"):
        sm.train(
            {"one": _mlp(False, n=2)},
            batches,
            x,
            y,
            learning_rate=0.1,
            x_test=x,
            y_test=y,
            x_probe=x,
        )
    with pytest.raises(ValueError, match="batches must have shape"):
        sm.train(models, batches[0], x, y, learning_rate=0.1, x_test=x, y_test=y, x_probe=x)


def test_release_memory_runs():
    sm.release_memory()


def test_landscape_unit_steps_move_every_network_the_same_distance():
    model = _mlp(True)
    x, y = _data(200, seed=13)
    idx = stacked.batch_indices(N, 1, 16, seed=14, pool=len(x))[0]
    dists = [0.05, 0.3]
    loss0, losses, changes, gnorm = sm.make_landscape(model, x, y, dists, unit_steps=True)(idx)
    xb = np.stack([x[idx[:, s]] for s in range(N)], axis=1).astype(np.float32) / 255
    yb = np.stack([y[idx[:, s]] for s in range(N)], axis=1).astype(np.int32)
    _, grad0 = _loss_and_grad(model, xb, yb)
    norms = sm.per_network_norm(grad0, N).numpy()
    np.testing.assert_allclose(gnorm, norms, rtol=1e-5)
    olds = [v.numpy() for v in model.trainable_variables]
    for i, d in enumerate(dists):
        moved = []
        for v, g, old in zip(model.trainable_variables, grad0, olds):
            g = g.numpy().reshape(N, -1) / norms[:, None]
            step = (d * g).reshape(old.shape)
            v.assign(old - step)
            moved.append(step)
        # every network moved by exactly d
        np.testing.assert_allclose(sm.per_network_norm(moved, N).numpy(), d, rtol=1e-5)
        ref, grad = _loss_and_grad(model, xb, yb)
        np.testing.assert_allclose(losses[i], ref, rtol=1e-5)
        ref_change = sm.per_network_norm([a - b for a, b in zip(grad, grad0)], N).numpy()
        np.testing.assert_allclose(changes[i], ref_change, rtol=1e-4, atol=1e-6)
        for v, old in zip(model.trainable_variables, olds):
            v.assign(old)


def test_mean_loss_is_the_inference_cross_entropy_of_each_network():
    model = _mlp(True)
    x, y = _data(130, seed=15)
    got = sm.mean_loss(model, x, y, chunk=50)  # chunks of 50, 50, 30
    xs = np.broadcast_to((x.astype(np.float32) / 255)[:, None], (len(x), N, x.shape[1]))
    logits = model(xs, training=False).numpy().astype(np.float64)
    logp = logits - logits.max(-1, keepdims=True)
    logp -= np.log(np.exp(logp).sum(-1, keepdims=True))
    ref = -logp[np.arange(len(x)), :, y].mean(axis=0)
    assert got.shape == (N,)
    np.testing.assert_allclose(got, ref, rtol=1e-5)
    with pytest.raises(ValueError, match="features"):
        sm.mean_loss(model, x[:, :5], y)
