"""Batch renormalization against batch normalization: the gap between training and inference mode.

Chapter 7 ("What it buys: a smaller gap between training and inference") trains small MLPs with
``BatchNormalization()`` and with ``BatchNormalization(renorm=True)`` on batches that make batch
statistics a poor estimate of the population's — tiny i.i.d. batches, or batches drawn from two
classes only — and then compares each network's logits in inference mode (moving statistics)
with its logits in training mode (statistics of test batches built like the training batches).

Every setting is trained for several seeds at once as one stack of networks
(:mod:`bncourse.stacked`): network ``s`` of a stack has its own initial weights and its own
batches. The BN stack and the renorm stack of one regime share both, seed by seed (the renorm
stack starts from a copy of the BN stack's dense kernels, and both read the same batch indices),
so the two settings can be compared seed by seed (``paired=True`` in ``bncourse.evidence``). The
two stacks are trained side by side, as one model of twice as many networks.

- :func:`two_class_batches` and :func:`batch_order` build one network's batch order;
  :func:`stacked_order` stacks one order per network;
- :func:`stacked_norm_mlp` builds the stack of 784-64-64-10 MLPs with BN or renorm;
- :func:`training_mode_logits` runs a stack in training mode over explicit batches;
- :func:`mode_gap` scores the two modes against each other and against the labels;
- :func:`compare` runs one regime: both stacks trained, both scored.
"""

from __future__ import annotations

import numpy as np

from bncourse import stacked as st
from bncourse._checks import positive_int as _positive_int
from bncourse._keras import keras, tf

__all__ = [
    "REGIMES",
    "RENORM_CLIPPING",
    "two_class_batches",
    "batch_order",
    "stacked_order",
    "stacked_norm_mlp",
    "training_mode_logits",
    "mode_gap",
    "compare",
]

REGIMES = ("small batches", "two-class batches")
RENORM_CLIPPING = {"rmax": 3.0, "rmin": 1 / 3, "dmax": 5.0}  # the paper's final bounds


def two_class_batches(labels, batch, rng):
    """One pass of batches of ``batch`` rows, each half from one class and half from another.

    Parameters
    ----------
    labels : array of int, shape (N,)
        Class of every row.
    batch : int
        Rows per batch; must be even.
    rng : numpy.random.Generator
        Draws the classes of each batch, the rows of each class and the order of the batches.

    Returns
    -------
    ndarray of int, shape (steps * batch,)
        Row indices, batch after batch; each row at most once. Batches are made while at least
        two classes have ``batch // 2`` rows left.
    """
    batch = _positive_int(batch, "batch")
    if batch % 2:
        raise ValueError(f"batch must be even (half from each of two classes), got {batch}")
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f"labels must be 1-D, got shape {labels.shape}")
    per = batch // 2
    classes = np.unique(labels)
    left = {c: list(rng.permutation(np.flatnonzero(labels == c))) for c in classes}
    batches = []
    while True:
        avail = [c for c in classes if len(left[c]) >= per]
        if len(avail) < 2:
            break
        pair = rng.choice(avail, 2, replace=False)
        batches.append([left[c].pop() for c in pair for _ in range(per)])
    if not batches:
        raise ValueError(f"fewer than two classes have {per} rows: no batch of {batch} can be made")
    return np.concatenate([batches[i] for i in rng.permutation(len(batches))]).astype(np.int64)


def batch_order(labels, batch, regime, rng):
    """One pass over ``labels``'s rows in batches of ``batch``, as ``regime`` makes them.

    ``"small batches"``: a random permutation (cut to a multiple of ``batch``); ``"two-class
    batches"``: :func:`two_class_batches`.
    """
    batch = _positive_int(batch, "batch")
    if regime == "small batches":
        n = len(labels)
        return rng.permutation(n)[: n // batch * batch]
    if regime == "two-class batches":
        return two_class_batches(labels, batch, rng)
    raise ValueError(f"regime must be one of {REGIMES}, got {regime!r}")


def stacked_order(labels, batch, regime, seeds, passes=1, stream=0):
    """Batch indices for a stack: network ``s`` takes ``passes`` passes ordered by ``seeds[s]``.

    ``stream`` tells orders drawn from the same seeds apart (0 for training, 1 for testing): the
    generator of network ``s`` is ``np.random.default_rng([seeds[s], stream])``.

    Returns
    -------
    ndarray of int32, shape (steps, batch, len(seeds))
        ``steps`` is the shortest of the networks' orders (two-class orders differ in length by
        a batch or two), so every network takes the same number of steps.
    """
    passes = _positive_int(passes, "passes")
    orders = []
    for seed in seeds:
        rng = np.random.default_rng([int(seed), int(stream)])
        orders.append(
            np.concatenate([batch_order(labels, batch, regime, rng) for _ in range(passes)])
        )
    if not orders:
        raise ValueError("seeds must not be empty")
    steps = min(len(o) for o in orders) // batch
    return (
        np.stack([o[: steps * batch] for o in orders], axis=-1)
        .reshape(steps, batch, -1)
        .astype(np.int32)
    )


def stacked_norm_mlp(n, renorm, widths=(64, 64), n_in=784, n_out=10):
    """``n`` stacked MLPs ``n_in``-``widths``-``n_out``: Dense (no bias) → BN or renorm → ReLU.

    Parameters
    ----------
    n : int
        Networks in the stack.
    renorm : bool
        ``BatchNormalization(renorm=True, renorm_clipping=RENORM_CLIPPING)`` instead of
        ``BatchNormalization()``; both over the flattened ``(B, n * units)`` stack, so every unit
        of every network has its own statistics (see :func:`bncourse.stacked.normalize`).
    widths : sequence of int, default (64, 64)
    n_in, n_out : int, default 784 and 10

    Returns
    -------
    keras.Model
        ``(B, n, n_in)`` → ``(B, n, n_out)`` logits.
    """
    n = _positive_int(n, "n")
    inputs = keras.Input(shape=(n, n_in))
    h, fan_in = inputs, n_in
    for units in widths:
        h = st.stacked_dense(n, fan_in, units, use_bias=False)(h)
        flat = keras.layers.Reshape((n * units,))(h)
        if renorm:
            flat = keras.layers.BatchNormalization(
                renorm=True, renorm_clipping=dict(RENORM_CLIPPING)
            )(flat)
        else:
            flat = keras.layers.BatchNormalization()(flat)
        h = keras.layers.ReLU()(keras.layers.Reshape((n, units))(flat))
        fan_in = units
    return keras.Model(inputs, st.stacked_dense(n, fan_in, n_out)(h))


def _copy_dense(src, dst):
    """Copy the stacked dense kernels and biases of ``src`` into ``dst`` (same architecture)."""
    a = [layer for layer in src.layers if isinstance(layer, keras.layers.EinsumDense)]
    b = [layer for layer in dst.layers if isinstance(layer, keras.layers.EinsumDense)]
    if len(a) != len(b):
        raise ValueError(f"the models have {len(a)} and {len(b)} dense layers")
    for la, lb in zip(a, b):
        lb.set_weights(la.get_weights())


def training_mode_logits(model, x, idx):
    """Logits of a stack in training mode, batch by batch: step ``t`` gives network ``s`` rows
    ``idx[t, :, s]`` of ``x``, normalized with their own batch statistics.

    Training-mode calls update the model's moving statistics; score inference mode first.

    Parameters
    ----------
    model : keras.Model
        ``(B, n, D)`` → ``(B, n, classes)``.
    x : array, shape (N, D)
    idx : array of int, shape (steps, B, n)

    Returns
    -------
    ndarray, shape (steps * B, n, classes)
        Row ``t * B + i``, column ``s``: the logits of row ``idx[t, i, s]`` for network ``s``.
    """
    idx = np.asarray(idx)
    if idx.ndim != 3:
        raise ValueError(f"idx must have shape (steps, batch, n), got {idx.shape}")
    data = tf.constant(np.asarray(x, np.float32))

    @tf.function
    def run(indices):
        return tf.map_fn(
            lambda i: model(tf.gather(data, i), training=True),
            indices,
            fn_output_signature=tf.float32,
            parallel_iterations=1,
        )

    logits = run(tf.constant(idx, tf.int32)).numpy()  # (steps, B, n, classes)
    return logits.reshape(-1, *logits.shape[2:])


def mode_gap(model, x, y, idx, chunk=500):
    """Inference mode against training mode on the same rows, for each network of a stack.

    Parameters
    ----------
    model : keras.Model
        ``(B, n, D)`` → ``(B, n, classes)``; its moving statistics are updated by the training-mode
        pass (inference mode is scored first).
    x : array, shape (N, D)
    y : array of int, shape (N,)
    idx : array of int, shape (steps, B, n)
        The test batches of each network, built like its training batches.
    chunk : int, default 500
        Rows per inference-mode call.

    Returns
    -------
    dict of ndarray, each of shape (n,)
        ``gap``: mean |training-mode logit - inference-mode logit|; ``agree``: share of rows with
        the same predicted class in both modes; ``acc_inference`` and ``acc_training_mode``: test
        accuracy in each mode, over the rows of ``idx``.
    """
    idx = np.asarray(idx)
    n = idx.shape[-1]
    x, y = np.asarray(x, np.float32), np.asarray(y)
    z_inf = np.concatenate(
        [
            np.asarray(model(np.repeat(x[i : i + chunk, None], n, axis=1), training=False))
            for i in range(0, len(x), chunk)
        ]
    )  # (N, n, classes)
    z_tr = training_mode_logits(model, x, idx)  # (R, n, classes)
    rows = idx.reshape(-1, n)  # (R, n): the row of each training-mode logit
    z_inf = np.take_along_axis(z_inf, rows[..., None], axis=0)  # (R, n, classes), same rows
    labels = y[rows]
    return {
        "gap": np.abs(z_tr - z_inf).mean(axis=(0, 2)),
        "agree": (z_tr.argmax(-1) == z_inf.argmax(-1)).mean(axis=0),
        "acc_inference": (z_inf.argmax(-1) == labels).mean(axis=0),
        "acc_training_mode": (z_tr.argmax(-1) == labels).mean(axis=0),
    }


def compare(
    x,
    y,
    x_test,
    y_test,
    regime,
    batch,
    passes,
    seeds,
    init_seed,
    learning_rate=0.02,
    momentum=0.9,
    widths=(64, 64),
):
    """Train a BN stack and a renorm stack on one regime and score both (see :func:`mode_gap`).

    Parameters
    ----------
    x, y : arrays, shapes (N, D) and (N,)
        Training rows (D = 784 for 28×28 digits, 196 for 14×14).
    x_test, y_test : arrays, shapes (M, D) and (M,)
    regime : {"small batches", "two-class batches"}
    batch, passes : int
        Batch size and passes over ``x``.
    seeds : sequence of int
        One per network: ``seeds[s]`` orders network ``s``'s training and test batches
        (:func:`stacked_order`, streams 0 and 1).
    init_seed : int
        ``keras.utils.set_random_seed`` before building the BN stack; the renorm stack gets a copy
        of its dense weights. Both stacks are trained side by side, as one model.
    learning_rate, momentum : float
        SGD with momentum, as for one network (the stack's loss is the sum of the networks').
    widths : sequence of int, default (64, 64)
        Hidden layers of each MLP.

    Returns
    -------
    dict
        ``{"bn": mode_gap(...), "renorm": mode_gap(...)}``, arrays of shape ``(len(seeds),)``.
    """
    n = len(seeds)
    train_idx = stacked_order(y, batch, regime, seeds, passes)
    test_idx = stacked_order(y_test, batch, regime, seeds, stream=1)
    keras.utils.set_random_seed(init_seed)
    d = np.shape(x)[1]
    bn, rn = (stacked_norm_mlp(n, renorm, widths, n_in=d) for renorm in (False, True))
    _copy_dense(bn, rn)
    # Both stacks side by side as one model of 2n networks (no shared weights, so each trains as
    # alone), which halves the number of training steps to run: network s and n + s read the same
    # batches.
    inputs = keras.Input(shape=(2 * n, d))
    model = keras.Model(
        inputs, keras.layers.Concatenate(axis=1)([bn(inputs[:, :n]), rn(inputs[:, n:])])
    )
    trainer = st.make_trainer(
        model, keras.optimizers.SGD(learning_rate, momentum=momentum), 2 * n, x, y
    )
    trainer(np.concatenate([train_idx, train_idx], axis=2))
    scores = mode_gap(model, x_test, y_test, np.concatenate([test_idx, test_idx], axis=2))
    return {
        "bn": {k: v[:n] for k, v in scores.items()},
        "renorm": {k: v[n:] for k, v in scores.items()},
    }
