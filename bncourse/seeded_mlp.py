"""Several seeds of chapter 2's MNIST network, trained at once as one stacked Keras model.

Chapter 2 compares a small MNIST network of sigmoid units with and without batch normalization
(and with a deliberately noisy BN), and every comparison it draws is made over several seeds. A
*stack* of ``n`` networks is one Keras model whose activations carry an extra axis of length ``n``
after the batch axis, ``(B, n, units)``: network ``s`` has its own weights (``kernel[s]``), its own
BN statistics and its own mini-batches (``x[:, s]``), and nothing is shared between the networks, so
one compiled training step trains ``n`` independent replicates for little more than the price of
one. Chapter 6 uses the same technique (``bncourse.stacked``, whose ``batch_indices`` draws the
mini-batches of a stack) for its placement experiments.

Building
    :func:`stacked_dense`, :func:`stacked_batch_norm` and :func:`sigmoid_mlp` build the stacked
    network: per hidden layer ``Dense -> (BatchNormalization) -> (noise) -> sigmoid``, then a
    ``Dense(10)`` of logits.
Training
    :func:`make_sgd` compiles plain SGD for a stacked model (one call runs many steps);
    :func:`train` runs it chunk by chunk and, at every checkpoint, records test accuracy, summaries
    of the input of the last hidden layer's sigmoids and, optionally, the loss landscape along the
    gradient (:func:`make_landscape`).
Measuring
    :func:`accuracy` (inference mode, per network), :func:`make_probe`, :func:`per_network_norm`.

See chapter 2, "Seeing it" and "Is internal covariate shift the reason?".
"""

from __future__ import annotations

import ctypes
import gc
import weakref

import numpy as np

from bncourse._checks import positive_int as _positive_int
from bncourse._keras import keras, tf

__all__ = [
    "stacked_dense",
    "stacked_batch_norm",
    "sigmoid_mlp",
    "last_sigmoid_input",
    "per_network_norm",
    "make_sgd",
    "accuracy",
    "mean_loss",
    "make_probe",
    "make_landscape",
    "Z_SUMMARIES",
    "summarize_inputs",
    "train",
    "release_memory",
]

LAST_SIGMOID = "sigmoid_last"  # the name of the last hidden layer's activation in sigmoid_mlp


def _initializer_seed(seed):
    if seed is None:
        return None
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer or None, got {seed!r}")
    return int(seed) % (2**31 - 1)


def stacked_dense(n, units, *, use_bias=True, stddev=0.1, seed=None, name=None):
    """``n`` independent dense layers as one Keras layer: ``(B, n, fan_in) -> (B, n, units)``.

    Network ``s`` uses ``kernel[s]`` (shape ``(fan_in, units)``) and ``bias[s]``. The kernel of all
    ``n`` networks, shape ``(n, fan_in, units)``, is drawn from ``N(0, stddev**2)`` with ``seed``;
    the biases start at 0. The same ``n``, shapes and seed give the same initial kernel, with or
    without bias.
    """
    _positive_int(n, "n")
    _positive_int(units, "units")
    if not stddev > 0:
        raise ValueError(f"stddev must be positive, got {stddev!r}")
    return keras.layers.EinsumDense(
        "bsi,sio->bso",
        output_shape=(n, units),
        bias_axes="so" if use_bias else None,
        kernel_initializer=keras.initializers.RandomNormal(
            stddev=stddev, seed=_initializer_seed(seed)
        ),
        name=name,
    )


def stacked_batch_norm(h, *, momentum=0.9, epsilon=1e-3, name=None):
    """Keras ``BatchNormalization`` on a stacked tensor ``h`` of shape ``(B, n, units)``.

    The ``n * units`` features are normalized each over the batch axis, so network ``s`` gets the
    statistics of its own units only; ``gamma``, ``beta`` and the moving statistics have shape
    ``(n * units,)``, network ``s`` owning entries ``s * units`` to ``(s + 1) * units``.
    """
    n, units = h.shape[1:]
    flat = keras.layers.Reshape((n * units,))(h)
    out = keras.layers.BatchNormalization(momentum=momentum, epsilon=epsilon, name=name)(flat)
    return keras.layers.Reshape((n, units))(out)


def sigmoid_mlp(
    n,
    *,
    n_in=784,
    hidden=(100, 100, 100),
    batch_norm=False,
    noise=None,
    stddev=0.1,
    seed=0,
    momentum=0.9,
):
    """``n`` stacked copies of the MNIST network of Ioffe and Szegedy's Figure 1 (chapter 2).

    Each hidden layer is ``Dense(units)`` (without bias when ``batch_norm``, since BN's beta takes
    its place) ``-> BatchNormalization(momentum) -> noise -> sigmoid``, BN and noise only when
    asked; the output is a ``Dense(10)`` of logits. All kernels are ``N(0, stddev**2)``, biases 0.

    Parameters
    ----------
    n : int
        How many independent networks the stack holds.
    n_in : int
        Input features per network: the model takes ``(B, n, n_in)``, returns ``(B, n, 10)``.
    hidden : tuple of int
        Units of each hidden layer.
    batch_norm : bool
        Whether each hidden layer normalizes its pre-activations.
    noise : callable or None
        ``noise(seed=...)`` returns a Keras layer applied after each BN (or after each dense
        layer without BN), on tensors of shape ``(B, n, units)``.
    stddev, seed : float, int
        Initialization: layer ``k`` draws its kernel with seed ``seed + k``, so the same seed
        gives the same initial kernels with and without BN or noise: seed-paired comparisons.
    momentum : float
        BN's momentum (Keras convention: the weight of the old moving average).

    Returns
    -------
    keras.Model
        Its last hidden activation layer is named ``"sigmoid_last"`` (see :func:`last_sigmoid_input`).
    """
    _positive_int(n, "n")
    _positive_int(n_in, "n_in")
    if not hidden:
        raise ValueError("hidden must list at least one hidden layer")
    seed = _initializer_seed(seed)
    base = 0 if seed is None else seed
    inputs = keras.Input(shape=(n, n_in))
    h = inputs
    for k, units in enumerate(hidden):
        h = stacked_dense(n, units, use_bias=not batch_norm, stddev=stddev, seed=base + k)(h)
        if batch_norm:
            h = stacked_batch_norm(h, momentum=momentum)
        if noise is not None:
            h = noise(seed=base + 10 + k)(h)
        last = k == len(hidden) - 1
        h = keras.layers.Activation("sigmoid", name=LAST_SIGMOID if last else None)(h)
    outputs = stacked_dense(n, 10, stddev=stddev, seed=base + len(hidden))(h)
    return keras.Model(inputs, outputs)


def last_sigmoid_input(model):
    """A model sharing ``model``'s layers that returns the input of its last hidden sigmoids."""
    return keras.Model(model.inputs, model.get_layer(LAST_SIGMOID).input)


def per_network_norm(tensors, n):
    """Euclidean norm of each network's part of a list of stacked tensors, shape ``(n,)``.

    Every tensor has network ``s``'s entries in its ``s``-th slice along the first axis, once
    reshaped to ``(n, -1)``: true of stacked kernels ``(n, I, O)``, biases ``(n, O)`` and BN
    parameters ``(n * units,)``.
    """
    squares = [tf.reduce_sum(tf.reshape(t, (n, -1)) ** 2, axis=1) for t in tensors]
    return tf.sqrt(tf.add_n(squares))


_CONSTANTS: list = []  # (array, tensor) of the last few training sets, so that each has one TF copy


def _constant(x):
    for array, tensor in _CONSTANTS:
        if array is x:
            return tensor
    tensor = tf.constant(x)
    _CONSTANTS.append((x, tensor))
    del _CONSTANTS[:-4]
    return tensor


def _as_images(x):
    """Training images as a constant (shared between trainers) and the factor that maps them to [0, 1]."""
    if not isinstance(x, np.ndarray):
        x = np.asarray(x)
    if x.ndim != 2:
        raise ValueError(f"x must have shape (examples, features), got {x.shape}")
    scale = 1 / 255 if x.dtype == np.uint8 else 1.0
    return _constant(x), scale


def _labels(y):
    return tf.constant(np.asarray(y).astype(np.int32))


def _cross_entropy_per_network(labels, logits):
    per_example = tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits)  # (B, n)
    return tf.reduce_mean(per_example, axis=0)  # (n,)


def make_sgd(model, x_train, y_train, learning_rate):
    """Plain SGD for a stacked model, compiled with XLA.

    Returns ``train_chunk(idx)``: ``idx`` of shape ``(steps, B, n)`` (row indices into
    ``x_train``, see ``bncourse.stacked.batch_indices``); the model takes ``steps`` SGD steps,
    network ``s`` on the rows ``idx[:, :, s]``; returns each network's mean training loss over
    those steps, shape ``(n,)``. ``x_train``: ``(N, features)``, uint8 pixels (scaled by 1/255) or floats.
    (Compile one trainer per model: XLA handles one stacked model at a time much better than
    several in one function.)
    """
    x_all, scale = _as_images(x_train)
    y_all = _labels(y_train)
    lr = float(learning_rate)
    n = model.input_shape[1]

    @tf.function(jit_compile=True)
    def train_chunk(idx):
        steps = tf.shape(idx)[0]
        total = tf.zeros([n])
        for k in tf.range(steps):
            xb = tf.cast(tf.gather(x_all, idx[k]), tf.float32) * scale  # (B, n, features)
            yb = tf.gather(y_all, idx[k])  # (B, n)
            with tf.GradientTape() as tape:
                losses = _cross_entropy_per_network(yb, model(xb, training=True))  # (n,)
                objective = tf.reduce_sum(
                    losses
                )  # independent networks: d/dw_s of the sum = dL_s/dw_s
            grads = tape.gradient(objective, model.trainable_variables)
            for variable, grad in zip(model.trainable_variables, grads):
                variable.assign_sub(lr * grad)
            total += losses
        return total / tf.cast(steps, tf.float32)

    def run(idx):
        idx = np.asarray(idx)
        if idx.ndim != 3 or idx.shape[-1] != n:
            raise ValueError(f"idx must have shape (steps, B, {n}), got {idx.shape}")
        return train_chunk(tf.constant(idx, tf.int32)).numpy().astype(np.float64)

    return run


def _images_on_stack(x, n):
    """``x`` ``(T, features)`` as the float32 input of a stack: ``(T, n, features)`` in [0, 1]."""
    x = tf.convert_to_tensor(x)
    scale = 1 / 255 if x.dtype == tf.uint8 else 1.0
    x = tf.cast(x, tf.float32) * scale
    return tf.broadcast_to(x[:, None], (tf.shape(x)[0], n, x.shape[-1]))


_CORRECT = weakref.WeakKeyDictionary()  # model -> its compiled counter of correct predictions


def _inference_correct(model, chunk=500):
    """A compiled ``correct(x, y)`` for ``model``: correct predictions of each network, ``(n,)``.

    Traced once per model for any number of examples (``x``: ``(T, features)``, uint8 or float;
    ``y``: ``(T,)``), evaluated ``chunk`` examples at a time so that intermediate tensors stay small.
    """
    if model in _CORRECT:
        return _CORRECT[model]
    n, features = model.input_shape[1], model.input_shape[2]

    def correct(x, y):
        hits = tf.zeros([n])
        for start in tf.range(0, tf.shape(x)[0], chunk):
            logits = model(_images_on_stack(x[start : start + chunk], n), training=False)
            labels = tf.cast(y[start : start + chunk], tf.int32)[:, None]
            right = tf.argmax(logits, axis=-1, output_type=tf.int32) == labels
            hits += tf.reduce_sum(tf.cast(right, tf.float32), axis=0)
        return hits

    compiled = {}

    def run(x, y):  # one trace per input dtype
        x, y = tf.convert_to_tensor(x), tf.convert_to_tensor(y)
        if x.dtype not in compiled:
            compiled[x.dtype] = tf.function(
                correct,
                input_signature=[
                    tf.TensorSpec([None, features], x.dtype),
                    tf.TensorSpec([None], y.dtype),
                ],
            )
        return compiled[x.dtype](x, y)

    _CORRECT[model] = run
    return run


def _examples(model, x, y):
    """``x`` and ``y`` as arrays, checked: ``(T, features)`` for the model and ``(T,)`` labels."""
    x, y = np.asarray(x), np.asarray(y)
    if x.ndim != 2 or y.shape != (len(x),) or len(x) == 0:
        raise ValueError(
            f"x must be (T, features) and y (T,) with T > 0, got {x.shape} and {y.shape}"
        )
    if x.shape[1] != model.input_shape[2]:
        raise ValueError(f"x has {x.shape[1]} features, the model takes {model.input_shape[2]}")
    return x, y


def accuracy(model, x, y):
    """Inference-mode accuracy of each network of a stack on the same examples, shape ``(n,)``.

    ``x``: ``(T, features)`` (uint8 pixels or floats in [0, 1]), ``y``: ``(T,)`` integer labels.
    """
    x, y = _examples(model, x, y)
    correct = _inference_correct(model)
    return correct(x, y.astype(np.int32)).numpy().astype(np.float64) / len(x)


def mean_loss(model, x, y, *, chunk=500):
    """Inference-mode mean cross-entropy of each network of a stack on the same examples, ``(n,)``.

    ``x``: ``(T, features)`` (uint8 pixels or floats in [0, 1]), ``y``: ``(T,)`` integer labels.
    In inference mode BN uses its moving statistics and noise layers are off (chapter 2 uses it
    for the clean training loss of the noisy-BN networks).
    """
    x, y = _examples(model, x, y)
    n = model.input_shape[1]
    total = np.zeros(n)
    for start in range(0, len(x), chunk):
        xb, yb = x[start : start + chunk], y[start : start + chunk].astype(np.int32)
        logits = model(_images_on_stack(xb, n), training=False)
        labels = tf.broadcast_to(tf.constant(yb)[:, None], (len(yb), n))
        per_example = tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits)  # (b, n)
        total += tf.reduce_sum(per_example, axis=0).numpy().astype(np.float64)
    return total / len(x)


def make_probe(model, x_probe, x_test, y_test):
    """``probe()`` -> ``(accuracy, z)``: each network's test accuracy ``(n,)`` and the input of its
    last hidden sigmoids on ``x_probe``, ``z`` of shape ``(P, n, units)``.

    The accuracy is measured in inference mode, as a deployed model would be. ``z`` is recorded in
    training mode, as the network sees it while it trains (BN uses the probe batch's own
    statistics, noise layers draw), but the probe changes no weight and no moving statistic: it
    uses ``stateless_call`` and discards the updated state.
    """
    to_last = last_sigmoid_input(model)
    n = model.input_shape[1]
    xs = tf.constant(np.asarray(x_probe))
    xt, yt = tf.constant(np.asarray(x_test)), tf.constant(np.asarray(y_test).astype(np.int32))
    correct = _inference_correct(model)

    @tf.function
    def probe():
        z, _ = to_last.stateless_call(
            [v.value for v in to_last.trainable_variables],
            [v.value for v in to_last.non_trainable_variables],
            _images_on_stack(xs, n),
            training=True,
        )
        return correct(xt, yt) / tf.cast(tf.shape(yt)[0], tf.float32), z

    def run():
        acc, z = probe()
        return acc.numpy().astype(np.float64), z.numpy()

    return run


def make_landscape(model, x_train, y_train, etas, *, unit_steps=False):
    """The loss and gradient of each network along its own gradient direction.

    Returns ``landscape(idx)`` for one mini-batch per network (``idx``: ``(B, n)``). On that batch,
    in training mode and without changing any weight or statistic, it computes each network's
    loss ``L(w)`` and gradient ``g``, then for every step size ``eta`` in ``etas`` the loss
    ``L(w - eta g)`` and the change of the gradient ``|grad L(w - eta g) - g|``. It returns
    ``loss0`` ``(n,)``, ``losses`` ``(len(etas), n)``, ``changes`` ``(len(etas), n)`` and the
    gradient norms ``(n,)``, as numpy arrays.

    With ``unit_steps=True`` each network steps along its unit gradient direction instead,
    to ``w - eta g / |g|`` (``|g|`` that network's own gradient norm): every ``eta`` is then a
    distance moved, the same for every network, so networks with gradients of different sizes
    are compared at equal step lengths (chapter 2, the smoothness section).
    """
    x_all, scale = _as_images(x_train)
    y_all = _labels(y_train)
    etas = np.asarray(etas, dtype=np.float32)
    if etas.ndim != 1 or etas.size == 0 or not np.all(etas > 0):
        raise ValueError(
            f"etas must be a non-empty 1-D sequence of positive step sizes, got {etas}"
        )
    n = model.input_shape[1]
    eta_t = tf.constant(etas)

    @tf.function
    def landscape(idx):
        xb = tf.cast(tf.gather(x_all, idx), tf.float32) * scale
        yb = tf.gather(y_all, idx)
        params = [v.value for v in model.trainable_variables]
        state = [v.value for v in model.non_trainable_variables]

        def loss_and_grad(p):
            with tf.GradientTape() as tape:
                tape.watch(p)
                logits, _ = model.stateless_call(p, state, xb, training=True)
                losses = _cross_entropy_per_network(yb, logits)
                total = tf.reduce_sum(
                    losses
                )  # the networks are independent: d total / d w_s = d L_s / d w_s
            return losses, tape.gradient(total, p)

        loss0, grad0 = loss_and_grad(params)
        gnorm = per_network_norm(grad0, n)
        if unit_steps:  # each network's gradient divided by its own norm
            direction = [
                tf.reshape(tf.reshape(g, (n, -1)) / gnorm[:, None], tf.shape(g)) for g in grad0
            ]
        else:
            direction = grad0
        losses = tf.TensorArray(tf.float32, size=len(etas))
        changes = tf.TensorArray(tf.float32, size=len(etas))
        for i in tf.range(len(etas)):  # a graph loop: one copy of the network in the traced graph
            loss, grad = loss_and_grad([w - eta_t[i] * d for w, d in zip(params, direction)])
            losses = losses.write(i, loss)
            changes = changes.write(i, per_network_norm([a - b for a, b in zip(grad, grad0)], n))
        return loss0, losses.stack(), changes.stack(), gnorm

    def run(idx):
        return tuple(t.numpy() for t in landscape(tf.constant(idx, tf.int32)))

    return run


Z_SUMMARIES = ("p15", "p50", "p85", "mean", "std")


def summarize_inputs(z):
    """Per-unit summaries of sigmoid inputs ``z`` ``(P, n, units)`` over the ``P`` probe images.

    Returns an array ``(5, n, units)``: the 15th, 50th and 85th percentiles, the mean and the
    standard deviation (in the order of :data:`Z_SUMMARIES`).
    """
    z = np.asarray(z, dtype=np.float64)
    if z.ndim != 3:
        raise ValueError(f"z must have shape (images, n, units), got {z.shape}")
    p15, p50, p85 = np.percentile(z, [15, 50, 85], axis=0)
    return np.stack([p15, p50, p85, z.mean(axis=0), z.std(axis=0)])


def train(
    models,
    batches,
    x_train,
    y_train,
    *,
    learning_rate,
    x_test,
    y_test,
    x_probe,
    etas=None,
    landscape_batches=4,
    landscape_models=None,
    landscape_every=1,
    unit_steps=False,
):
    """Train several stacked models on the same mini-batches, with a checkpoint after each chunk.

    Parameters
    ----------
    models : dict of str to keras.Model
        Stacked models with the same ``n`` (e.g. from :func:`sigmoid_mlp`).
    batches : ndarray, shape (chunks, steps, B, n)
        Row indices into ``x_train``; chunk ``c`` is trained in one compiled call.
    x_train, y_train : ndarray
        Training images ``(N, features)`` (uint8 pixels or floats in [0, 1]) and labels ``(N,)``.
    learning_rate : float
        Plain SGD's step size.
    x_test, y_test : ndarray
        Examples on which each network's test accuracy is measured at every checkpoint.
    x_probe : ndarray
        Images on which the inputs of the last hidden sigmoids are recorded (training mode).
    etas : sequence of float, optional
        Step sizes for :func:`make_landscape`; at every ``landscape_every``-th checkpoint but the
        last (0, ``landscape_every``, ...), the first ``landscape_batches`` mini-batches of the
        next chunk are probed.
    landscape_models : list of str, optional
        The models whose landscape is probed (default: all of them).
    unit_steps : bool
        Passed to :func:`make_landscape`: probe at distances ``etas`` along the unit gradient
        direction instead of at ``w - eta g``.

    Returns
    -------
    dict of str to dict
        Per model: ``"test_acc"`` ``(chunks + 1, n)``; ``"loss"`` ``(chunks, n)``, the mean training
        loss of each chunk; ``"z"`` ``(chunks + 1, 5, n, units)`` from :func:`summarize_inputs`;
        for the models probed with ``etas``, ``"landscape"``: ``"loss0"`` ``(K, L, n)``,
        ``"losses"`` and ``"changes"`` ``(K, L, len(etas), n)``, ``"gnorm"`` ``(K, L, n)``, with
        ``K`` the probed checkpoints and ``L = landscape_batches``.
    """
    names = list(models)
    _positive_int(landscape_batches, "landscape_batches")
    _positive_int(landscape_every, "landscape_every")
    batches = np.asarray(batches)
    if batches.ndim != 4:
        raise ValueError(f"batches must have shape (chunks, steps, B, n), got {batches.shape}")
    n_values = {models[k].input_shape[1] for k in names}
    if n_values != {batches.shape[-1]}:
        raise ValueError(
            f"every model must stack n = {batches.shape[-1]} networks (batches' last axis), "
            f"got {sorted(n_values)}"
        )
    trainers = {k: make_sgd(models[k], x_train, y_train, learning_rate) for k in names}
    probes = {k: make_probe(models[k], x_probe, x_test, y_test) for k in names}
    landscapes = (
        {
            k: make_landscape(models[k], x_train, y_train, etas, unit_steps=unit_steps)
            for k in (landscape_models or names)
        }
        if etas is not None
        else {}
    )
    logs = {k: {"test_acc": [], "loss": [], "z": [], "landscape": []} for k in names}

    def checkpoint(c, next_chunk):
        for k in names:
            acc, z = probes[k]()
            logs[k]["test_acc"].append(acc)
            logs[k]["z"].append(summarize_inputs(z))
            if k in landscapes and next_chunk is not None and c % landscape_every == 0:
                logs[k]["landscape"].append(
                    [landscapes[k](next_chunk[j]) for j in range(landscape_batches)]
                )

    if landscapes and batches.shape[1] < landscape_batches:
        raise ValueError(
            f"landscape_batches ({landscape_batches}) must not exceed the steps per chunk "
            f"({batches.shape[1]})"
        )
    for c, chunk in enumerate(batches):
        checkpoint(c, chunk)
        for k in names:
            logs[k]["loss"].append(trainers[k](chunk))
    checkpoint(len(batches), None)
    probed = set(landscapes)
    for compiled in (trainers, probes, landscapes):  # free the compiled functions and their buffers
        compiled.clear()
    release_memory()

    out = {}
    for k in names:
        log = {key: np.array(logs[k][key]) for key in ("test_acc", "loss", "z")}
        if k in probed:
            rows = logs[k]["landscape"]
            log["landscape"] = {
                key: np.array([[r[j][i] for j in range(landscape_batches)] for r in rows])
                for i, key in enumerate(("loss0", "losses", "changes", "gnorm"))
            }
        out[k] = log
    return out


def release_memory():
    """Return the memory that compiling and running the trainers freed to the operating system.

    TensorFlow frees the buffers of XLA compilation and of large intermediate tensors, but glibc's
    allocator keeps them for reuse, so the process stays as large as at its peak; the chapters run
    within a memory budget, so :func:`train` hands them back once it is done (``malloc_trim``; a
    no-op where glibc is not the allocator).
    """
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass
