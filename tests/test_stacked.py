"""Tests of bncourse.stacked: a stack of n networks is n networks, trained independently.

Small models (12 inputs, hidden layers of 8 and 6 units, 4 classes) on random data, so the whole
file runs in seconds. Tolerances are float32 rounding: a stacked einsum and a plain matmul sum in
different orders, so logits of order 1 agree to about 1e-6 and a few training steps keep the
weights within 1e-5 (relative) of each other.
"""

from __future__ import annotations

import numpy as np
import pytest

from bncourse import stacked as st

keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")

N_IN, WIDTHS, CLASSES = 12, (8, 6), 4


def _data(seed=0, rows=200):
    rng = np.random.default_rng(seed)
    x = rng.normal(0.5, 1.5, size=(rows, N_IN)).astype(np.float32)
    y = rng.integers(CLASSES, size=rows).astype(np.int32)
    return x, y


def _plain(placement, norm, input_bn=False):
    """The plain Keras model one network of ``st.stacked_mlp`` should be."""
    layer = {
        "batch": lambda: keras.layers.BatchNormalization(),
        "group": lambda: keras.layers.GroupNormalization(groups=2),
        "layer": lambda: keras.layers.LayerNormalization(),
    }[norm]
    inputs = keras.Input(shape=(N_IN,))
    h = keras.layers.BatchNormalization()(inputs) if input_bn else inputs
    for units in WIDTHS:
        if placement == "after":
            h = layer()(keras.layers.Dense(units, activation="relu")(h))
        elif placement == "before":
            h = keras.layers.ReLU()(layer()(keras.layers.Dense(units, use_bias=False)(h)))
        else:
            h = keras.layers.Dense(units, activation="relu")(h)
    return keras.Model(inputs, keras.layers.Dense(CLASSES)(h))


def _stack(n, placement, norm="batch", input_bn=False, seed=1):
    keras.utils.set_random_seed(seed)
    return st.stacked_mlp(
        n, WIDTHS, placement, norm=norm, n_in=N_IN, input_bn=input_bn, n_out=CLASSES, groups=2
    )


# ------------------------------------------------------------------- a stack is n networks


@pytest.mark.parametrize(
    "placement, norm, input_bn",
    [
        ("after", "batch", True),
        ("before", "batch", False),
        ("before", "group", False),
        ("before", "layer", False),
        ("none", "batch", False),
    ],
)
def test_stack_equals_plain_models(placement, norm, input_bn):
    n = 3
    x, _ = _data()
    xb = np.stack(
        [x[s * 32 : (s + 1) * 32] for s in range(n)], axis=1
    )  # (32, n, N_IN): own batches
    model = _stack(n, placement, norm, input_bn)
    model(xb, training=True)  # move the moving statistics once
    out_train = model(xb, training=True).numpy()
    out_infer = model(xb, training=False).numpy()
    for s in range(n):
        plain = _plain(placement, norm, input_bn)
        st.copy_network(model, s, plain)
        np.testing.assert_allclose(
            plain(xb[:, s], training=False).numpy(), out_infer[:, s], atol=1e-5, rtol=1e-5
        )
        np.testing.assert_allclose(
            plain(xb[:, s], training=True).numpy(), out_train[:, s], atol=1e-5, rtol=1e-5
        )


def test_networks_of_a_stack_start_different():
    model = _stack(3, "before")
    kernel = model.layers[1].kernel.numpy()
    assert kernel.shape == (3, N_IN, WIDTHS[0])
    assert not np.allclose(kernel[0], kernel[1])
    limit = np.sqrt(6 / (N_IN + WIDTHS[0]))  # Glorot's limit of ONE network's kernel
    assert np.abs(kernel).max() <= limit and np.abs(kernel).max() > 0.8 * limit


def test_layer_norm_has_gamma_per_network():
    model = _stack(3, "before", "layer")
    norms = [layer for layer in model.layers if isinstance(layer, keras.layers.GroupNormalization)]
    assert [tuple(w.shape) for w in norms[0].weights] == [(3 * WIDTHS[0],)] * 2


# ------------------------------------------------------------- training is per network


@pytest.mark.parametrize("norm", ["batch", "layer"])
@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_training_a_stack_equals_training_each_alone(norm, optimizer):
    x, y = _data()
    n, steps = 2, 8
    weights = np.array([0.5, 2.0])  # with SGD, per-network learning-rate factors
    make_opt = {
        "adam": lambda: keras.optimizers.Adam(1e-2),
        "sgd": lambda: keras.optimizers.SGD(0.1),
    }[optimizer]
    idx = st.batch_indices(n, steps, 16, seed=3, pool=len(x))
    model = _stack(n, "before", norm)
    alone = []
    for s in range(n):
        one = _stack(1, "before", norm, seed=10 + s)
        st.copy_network(model, s, one)
        alone.append(one)
    losses = st.make_trainer(model, make_opt(), n, x, y, loss_weights=weights, last=3)(idx)
    assert losses.shape == (n,) and np.all(np.isfinite(losses))
    for s, one in enumerate(alone):
        loss_s = st.make_trainer(one, make_opt(), 1, x, y, loss_weights=weights[s : s + 1], last=3)(
            idx[..., s : s + 1]
        )
        np.testing.assert_allclose(loss_s[0], losses[s], rtol=1e-5)
        check = _stack(1, "before", norm, seed=20)
        st.copy_network(model, s, check)
        for got, want in zip(check.weights, one.weights):
            np.testing.assert_allclose(
                got.numpy(), want.numpy(), rtol=1e-4, atol=1e-5, err_msg=want.path
            )


def test_trainer_continues_and_accepts_any_batch_size():
    x, y = _data()
    model = _stack(2, "none")
    train = st.make_trainer(model, keras.optimizers.SGD(0.1), 2, x, y)
    first = train(st.batch_indices(2, 30, 8, seed=4, pool=len(x)))
    later = train(st.batch_indices(2, 60, 32, seed=5, pool=len(x)))
    assert first.shape == later.shape == (2,)
    assert np.all(later < first)  # it keeps training (the state persists between calls)


# -------------------------------------------------------------------------- precise BN


def test_precise_bn_is_the_float64_mean_and_variance_of_each_input():
    x, _ = _data(rows=300)
    n = 2
    model = _stack(n, "after", input_bn=True)
    st.make_trainer(model, keras.optimizers.SGD(0.1), n, x, np.zeros(len(x), np.int32))(
        st.batch_indices(n, 5, 16, seed=6, pool=len(x))
    )
    xs = np.repeat(x[:, None], n, axis=1)
    assert st.precise_bn(model, xs) == 3
    bns = st.bn_layers(model)
    # The first BN normalizes the inputs themselves: its statistics are numpy's, in float64.
    flat = xs.reshape(len(x), -1).astype(np.float64)
    np.testing.assert_array_equal(bns[0].moving_mean.numpy(), flat.mean(axis=0).astype(np.float32))
    np.testing.assert_array_equal(
        bns[0].moving_variance.numpy(), flat.var(axis=0).astype(np.float32)
    )
    # Every later one: its input with the earlier layers' new statistics, in inference mode.
    for bn in bns[1:]:
        z = np.asarray(keras.Model(model.input, bn.input)(xs, training=False), np.float64)
        np.testing.assert_allclose(bn.moving_mean.numpy(), z.mean(axis=0), rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(bn.moving_variance.numpy(), z.var(axis=0), rtol=1e-6)


def test_precise_bn_on_images_uses_the_channel_axis():
    keras.utils.set_random_seed(7)
    inputs = keras.Input(shape=(6, 6, 2))
    out = keras.layers.BatchNormalization()(keras.layers.Conv2D(3, 3)(inputs))
    model = keras.Model(inputs, out)
    x = np.random.default_rng(7).normal(2.0, 3.0, size=(40, 6, 6, 2)).astype(np.float32)
    st.precise_bn(model, x)
    z = np.asarray(model.layers[1](x), np.float64)
    bn = st.bn_layers(model)[0]
    np.testing.assert_allclose(bn.moving_mean.numpy(), z.mean(axis=(0, 1, 2)), rtol=1e-6)
    np.testing.assert_allclose(bn.moving_variance.numpy(), z.var(axis=(0, 1, 2)), rtol=1e-6)


def test_layer_input_in_chunks():
    x, _ = _data(rows=130)
    model = _stack(2, "after")
    xs = np.repeat(x[:, None], 2, axis=1)
    bn = st.bn_layers(model)[1]
    want = keras.Model(model.input, bn.input)(xs, training=False).numpy()
    np.testing.assert_allclose(st.layer_input(model, bn, xs, chunk=17), want, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(st.layer_input(model, bn.name, xs), want, rtol=1e-6, atol=1e-6)


def test_trainer_takes_tensors_as_they_are():
    x, y = _data()
    model = _stack(2, "none")
    losses = st.make_trainer(model, keras.optimizers.SGD(0.1), 2, tf.constant(x), tf.constant(y))(
        st.batch_indices(2, 3, 8, seed=12, pool=len(x))
    )
    assert losses.shape == (2,)


def test_evaluate_and_accuracy():
    x, y = _data(rows=120)
    model = _stack(3, "none")
    moving, precise = st.evaluate(model, 3, x, x, y)
    assert moving is precise
    logits = model(np.repeat(x[:, None], 3, axis=1), training=False).numpy()
    np.testing.assert_allclose(moving, np.mean(np.argmax(logits, -1) == y[:, None], axis=0))
    np.testing.assert_allclose(st.stacked_accuracy(model, 3, x, y, chunk=7), moving)
    bn_model = _stack(3, "before")
    moving, precise = st.evaluate(bn_model, 3, x, x, y, n_precise=50, moving=False)
    assert moving is None and precise.shape == (3,)


# ------------------------------------------------------------------------ batch indices


def test_batch_indices_are_passes_of_permutations():
    idx = st.batch_indices(3, 7, 10, seed=8, pool=25)
    assert idx.shape == (7, 10, 3) and idx.dtype == np.int32
    for s in range(3):
        column = idx[..., s].ravel()  # 70 = 2 full passes of 25, then 20 of a third
        for p in range(2):
            assert sorted(column[25 * p : 25 * (p + 1)]) == list(range(25))
        assert len(set(column[50:])) == 20
    assert not np.array_equal(idx[..., 0], idx[..., 1])
    np.testing.assert_array_equal(idx, st.batch_indices(3, 7, 10, seed=8, pool=25))
    assert not np.array_equal(idx, st.batch_indices(3, 7, 10, seed=9, pool=25))


def test_batch_indices_from_a_pool_of_rows():
    pool = np.array([3, 17, 40, 41, 99])
    idx = st.batch_indices(2, 5, 2, seed=0, pool=pool)
    assert set(np.unique(idx)) <= set(pool)
    assert sorted(idx[..., 1].ravel()[:5]) == sorted(pool)


# ----------------------------------------------------------------------------- bad input


def test_bad_input():
    x, y = _data()
    with pytest.raises(ValueError, match="kind"):
        st.normalize(keras.Input(shape=(2, 4)), "instance", 2, 4)
    with pytest.raises(ValueError, match="groups"):
        st.normalize(keras.Input(shape=(2, 6)), "group", 2, 6, groups=4)
    with pytest.raises(ValueError, match="placement"):
        st.stacked_mlp(2, (4,), "middle")
    with pytest.raises(ValueError, match="n must"):
        st.stacked_mlp(0, (4,), "none")
    with pytest.raises(ValueError, match="scale"):
        st.glorot(3, 4, scale=0)
    with pytest.raises(ValueError, match="pool"):
        st.batch_indices(2, 3, 4, seed=0, pool=np.array([]))
    with pytest.raises(ValueError, match="pool"):
        st.batch_indices(2, 3, 4, seed=0, pool=np.array([0.5, 1.5]))
    with pytest.raises(ValueError, match="batch"):
        st.batch_indices(2, 3, 0, seed=0, pool=10)
    model = _stack(2, "none")
    with pytest.raises(ValueError, match="loss_weights"):
        st.make_trainer(model, keras.optimizers.SGD(0.1), 2, x, y, loss_weights=[1, 2, 3])
    with pytest.raises(ValueError, match="labels"):
        st.make_trainer(model, keras.optimizers.SGD(0.1), 2, x, y[:-1])
    train = st.make_trainer(model, keras.optimizers.SGD(0.1), 2, x, y)
    with pytest.raises(ValueError, match="idx"):
        train(np.zeros((4, 8, 3), np.int32))
    with pytest.raises(ValueError, match="rows"):
        train(np.full((4, 8, 2), len(x), np.int32))
    with pytest.raises(ValueError, match="x must"):
        st.stacked_accuracy(model, 2, x, y[:-1])
    with pytest.raises(ValueError, match="differ"):
        st.copy_network(model, 0, _plain("before", "batch"))
    with pytest.raises(ValueError, match="s must"):
        st.copy_network(model, 2, _plain("none", "batch"))


# ------------------------------------------------------------------ stacked CNNs

SIDE, FILTERS = 8, (4, 6)


def _plain_cnn(norm):
    """The plain Keras CNN one network of ``st.stacked_cnn`` should be."""
    layer = {
        "batch": lambda: keras.layers.BatchNormalization(),
        "group": lambda: keras.layers.GroupNormalization(groups=2),
        "layer": lambda: keras.layers.GroupNormalization(groups=1),  # over (H, W, C)
    }[norm]
    inputs = keras.Input(shape=(SIDE, SIDE, 1))
    h = keras.layers.Conv2D(FILTERS[0], 3, padding="same", use_bias=False)(inputs)
    h = keras.layers.MaxPooling2D(2)(keras.layers.ReLU()(layer()(h)))
    h = keras.layers.DepthwiseConv2D(3, padding="same", use_bias=False)(h)
    h = keras.layers.Conv2D(FILTERS[1], 1, use_bias=False)(h)
    h = keras.layers.MaxPooling2D(2)(keras.layers.ReLU()(layer()(h)))
    return keras.Model(inputs, keras.layers.Dense(CLASSES)(keras.layers.Flatten()(h)))


@pytest.mark.parametrize("norm", ["batch", "group", "layer"])
def test_stacked_cnn_equals_plain_cnns(norm):
    n = 3
    rng = np.random.default_rng(5)
    xb = rng.normal(0.3, 1.0, size=(16, n, SIDE * SIDE)).astype(np.float32)  # own batches
    keras.utils.set_random_seed(2)
    model = st.stacked_cnn(n, FILTERS, norm, side=SIDE, n_out=CLASSES, groups=2)
    model(xb, training=True)  # move the moving statistics once
    out_train = model(xb, training=True).numpy()
    out_infer = model(xb, training=False).numpy()
    assert out_train.shape == (16, n, CLASSES)
    for s in range(n):
        plain = _plain_cnn(norm)
        st.copy_network(model, s, plain)
        images = xb[:, s].reshape(16, SIDE, SIDE, 1)
        np.testing.assert_allclose(
            plain(images, training=False).numpy(), out_infer[:, s], atol=1e-5, rtol=1e-5
        )
        np.testing.assert_allclose(
            plain(images, training=True).numpy(), out_train[:, s], atol=1e-5, rtol=1e-5
        )


def test_stacked_cnn_kernels_start_as_one_networks():
    keras.utils.set_random_seed(3)
    model = st.stacked_cnn(3, FILTERS, side=SIDE, n_out=CLASSES)
    first = model.get_layer(index=3).kernel.numpy()  # DepthwiseConv2D: (3, 3, n, FILTERS[0])
    assert first.shape == (3, 3, 3, FILTERS[0])
    limit = np.sqrt(6 / (9 * 1 + 9 * FILTERS[0]))  # Glorot of Conv2D(FILTERS[0], 3) on one channel
    assert limit * 0.8 < np.abs(first).max() <= limit
    assert not np.allclose(first[:, :, 0], first[:, :, 1])


def test_stacked_cnn_trains_each_network_alone():
    rng = np.random.default_rng(6)
    x = rng.normal(0.3, 1.0, size=(64, SIDE * SIDE)).astype(np.float32)
    y = rng.integers(CLASSES, size=64).astype(np.int32)
    idx = st.batch_indices(2, 5, 8, seed=4, pool=len(x))
    keras.utils.set_random_seed(4)
    model = st.stacked_cnn(2, FILTERS, "group", side=SIDE, n_out=CLASSES, groups=2)
    keras.utils.set_random_seed(5)
    one = st.stacked_cnn(1, FILTERS, "group", side=SIDE, n_out=CLASSES, groups=2)
    st.copy_network(model, 1, one)
    losses = st.make_trainer(model, keras.optimizers.SGD(0.05), 2, x, y, last=2)(idx)
    alone = st.make_trainer(one, keras.optimizers.SGD(0.05), 1, x, y, last=2)(idx[..., 1:])
    np.testing.assert_allclose(alone[0], losses[1], rtol=1e-5)


def test_stacked_cnn_bad_input():
    with pytest.raises(ValueError, match="side"):
        st.stacked_cnn(2, (4, 4, 4), side=6)
    with pytest.raises(ValueError, match="groups"):
        st.stacked_cnn(2, (4, 6), "group", side=8, groups=4)
    with pytest.raises(ValueError, match="kind"):
        st.stacked_cnn(2, (4,), "instance", side=8)


# ---------------------------------------------------------------- plain models, one by one


def test_plain_trainer_equals_a_stack_of_one():
    x, y = _data()
    one = _stack(1, "before")
    plain = _plain("before", "batch")
    st.copy_network(one, 0, plain)
    start = plain.get_weights()
    idx = st.batch_indices(1, 6, 16, seed=11, pool=len(x))
    loss_one = st.make_trainer(one, keras.optimizers.Adam(1e-2), 1, x, y, last=2)(idx)
    optimizer = keras.optimizers.Adam(1e-2)
    train = st.make_plain_trainer(plain, optimizer, x, y, last=2)
    loss_plain = train(idx[..., 0])
    np.testing.assert_allclose(loss_plain, loss_one[0], rtol=1e-5)
    check = _plain("before", "batch")
    st.copy_network(one, 0, check)
    for got, want in zip(check.weights, plain.weights):
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-4, atol=1e-5)
    # restart: the same run again from the same weights and a fresh optimizer state
    after_first = [w.numpy() for w in plain.weights]
    st.restart(plain, start, optimizer, learning_rate=1e-2)
    assert int(optimizer.iterations.numpy()) == 0
    np.testing.assert_allclose(train(idx[..., 0]), loss_plain, rtol=1e-6)
    for got, want in zip(plain.weights, after_first):
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-6, atol=1e-7)
    # without learning_rate, restart keeps the rate (Keras 3 lists it among the optimizer's
    # variables, which restart zeroes) and the run repeats exactly
    st.restart(plain, start, optimizer)
    assert float(optimizer.learning_rate.numpy()) == pytest.approx(1e-2)
    np.testing.assert_allclose(train(idx[..., 0]), loss_plain, rtol=1e-6)
    acc = st.accuracy(plain, x, y, chunk=33)
    logits = plain(x, training=False).numpy()
    assert acc == np.mean(np.argmax(logits, -1) == y)
    # the compiled forward pass reads the current weights, not those of its first call
    plain.set_weights(start)
    logits = plain(x, training=False).numpy()
    assert st.accuracy(plain, x, y) == np.mean(np.argmax(logits, -1) == y)
    with pytest.raises(ValueError, match="idx"):
        train(idx)
    with pytest.raises(ValueError, match="y must"):
        st.accuracy(plain, x, y[:-1])


def test_normalized_std_is_the_std_of_x_hat_and_changes_nothing():
    """sqrt(var / (var + epsilon)) per layer and network, from one training-mode pass (chapter 6)."""
    keras.utils.set_random_seed(3)
    n, batch = 2, 32
    model = st.stacked_mlp(n, WIDTHS, "before", n_in=N_IN, n_out=CLASSES)
    x = _data(4, batch * n)[0].reshape(batch, n, N_IN)
    weights = [w.copy() for w in model.get_weights()]
    got = st.normalized_std(model, x)
    assert got.shape == (len(WIDTHS), n)
    assert all(np.array_equal(a, b) for a, b in zip(weights, model.get_weights()))
    # Layer 1 by hand: its input is x @ kernel, x-hat's std is sqrt(var / (var + epsilon)) per unit.
    kernel = model.layers[1].kernel.numpy().astype(np.float64)
    z = np.einsum("bsi,sio->bso", x.astype(np.float64), kernel)
    eps = st.bn_layers(model)[0].epsilon
    expected = np.sqrt(np.mean(z.var(axis=0) / (z.var(axis=0) + eps), axis=1))
    np.testing.assert_allclose(got[0], expected, rtol=1e-5)
    # Layer 2 from Keras's own training-mode BN output (gamma 1, beta 0 at initialization).
    bn_2 = st.bn_layers(model)[1]
    probe = keras.Model(model.input, bn_2.output)
    out = probe(x, training=True).numpy().reshape(batch, n, -1)
    np.testing.assert_allclose(got[1], np.sqrt(np.mean(out.var(axis=0), axis=1)), rtol=1e-4)
    # Scaling the first kernel down by 100 breaks the invariance through epsilon.
    model.layers[1].kernel.assign(model.layers[1].kernel * 0.01)
    assert np.all(st.normalized_std(model, x)[0] < got[0])
    with pytest.raises(ValueError, match="x must be"):
        st.normalized_std(model, x[0])


# ---------------------------------------------- chapter 5's hand-written loops and helpers


def test_make_train_step_is_one_adam_step_on_the_summed_loss():
    x, y = _data(rows=16)
    model = _stack(2, "before")
    twin = _stack(2, "before")
    xb, yb = st.stack(x, 2), np.stack([y, y[::-1]], axis=1)
    loss = st.make_train_step(model, keras.optimizers.SGD(0.1))(xb, yb)
    with tf.GradientTape() as tape:
        logits = twin(xb, training=True)
        expected = sum(
            tf.reduce_mean(
                keras.losses.sparse_categorical_crossentropy(yb[:, s], logits[:, s], True)
            )
            for s in range(2)
        )
    grads = tape.gradient(expected, twin.trainable_variables)
    np.testing.assert_allclose(float(loss), float(expected), rtol=1e-6)
    for v, w, g in zip(model.trainable_variables, twin.trainable_variables, grads):
        np.testing.assert_allclose(v.numpy(), w.numpy() - 0.1 * g.numpy(), rtol=1e-5, atol=1e-6)
    # BN ran in training mode: its moving statistics moved.
    assert not np.allclose(st.moving_statistics(model, 2)[0][0], 0)


def test_make_train_step_updates_only_the_variables_given_and_respects_training():
    x, y = _data(rows=16)
    model = _stack(2, "before")
    xb, yb = st.stack(x, 2), np.stack([y, y], axis=1)
    head = model.layers[-1]
    in_head = {id(v) for v in head.variables}
    frozen = [v.numpy().copy() for v in model.trainable_variables if id(v) not in in_head]
    st.make_train_step(model, keras.optimizers.SGD(0.1), variables=head.trainable_variables)(xb, yb)
    after = [v.numpy() for v in model.trainable_variables if id(v) not in in_head]
    assert frozen and all(np.array_equal(a, b) for a, b in zip(frozen, after))
    before = st.moving_statistics(model, 2)
    st.make_train_step(model, keras.optimizers.SGD(0.1), training=False)(xb, yb)
    for (m0, v0), (m1, v1) in zip(before, st.moving_statistics(model, 2)):
        assert np.array_equal(m0, m1) and np.array_equal(v0, v1)


def test_moving_statistics_are_per_network_rows():
    model = _stack(3, "before")
    bn = st.bn_layers(model)[0]
    bn.moving_mean.assign(np.arange(3 * WIDTHS[0], dtype=np.float32))
    (mean, var), second = st.moving_statistics(model, 3)
    assert mean.shape == var.shape == (3, WIDTHS[0]) and second[0].shape == (3, WIDTHS[1])
    np.testing.assert_array_equal(mean[1], np.arange(WIDTHS[0], 2 * WIDTHS[0]))
    np.testing.assert_array_equal(var, 1)


def test_stack_is_a_view_and_network_accuracies_read_n_from_the_model():
    x, y = _data(rows=60)
    xs = st.stack(x, 3)
    assert xs.shape == (60, 3, N_IN) and np.shares_memory(xs, x)
    np.testing.assert_array_equal(xs[:, 2], x)
    model = _stack(3, "none")
    np.testing.assert_array_equal(
        st.network_accuracies(model, x, y), st.stacked_accuracy(model, 3, x, y)
    )


def test_plain_mlp_is_one_network_of_the_stack():
    x, _ = _data(rows=40)
    keras.utils.set_random_seed(3)
    model = st.stacked_mlp(2, WIDTHS, "before", n_in=N_IN, n_out=CLASSES)
    plain = st.plain_mlp(WIDTHS, N_IN, n_out=CLASSES)
    assert [layer.name for layer in plain.layers if layer.weights] == [
        "dense_1",
        "bn_1",
        "dense_2",
        "bn_2",
        "logits",
    ]
    st.copy_network(model, 1, plain)
    np.testing.assert_allclose(
        plain(x, training=False).numpy(),
        model(st.stack(x, 2), training=False).numpy()[:, 1],
        rtol=1e-5,
        atol=1e-6,
    )


def test_chapter_5_helpers_reject_bad_input():
    with pytest.raises(ValueError, match="x must be"):
        st.stack(np.zeros(3), 2)
    with pytest.raises(ValueError, match="n must be a positive integer"):
        st.stack(np.zeros((3, 2)), 0)
    with pytest.raises(ValueError, match="n must be a positive integer"):
        st.moving_statistics(_stack(2, "before"), 2.0)
    with pytest.raises(ValueError, match="widths must be a positive integer"):
        st.plain_mlp([8, 0], N_IN)
