"""Plain SGD on stacked networks with BN, recording the weights that feed BN at every step.

Chapter 4 ("What that does during training") measures what scale invariance does to the weights
in front of a batch-normalization layer: their gradient is orthogonal to them, so plain gradient
descent only lengthens them, and the relative step ``lr * ||g|| / ||W||`` shrinks. This module
trains ``n`` such networks at once as one stack (:mod:`bncourse.stacked`: network ``s`` has its
own initial weights and its own batches) and records, per step and per network, the quantities
the chapter plots and asserts.

- :func:`bn_mlp_stack` builds ``n`` networks ``Dense(units, no bias) → BN → ReLU → Dense(10)``;
- :func:`sgd_with_norms` trains them with plain SGD and returns the per-step records.
"""

from __future__ import annotations

import numpy as np

from bncourse import stacked as st
from bncourse._checks import positive_int as _positive_int
from bncourse._keras import keras, tf

__all__ = ["RECORDS", "bn_mlp_stack", "sgd_with_norms"]

RECORDS = ("loss", "w_norm", "g_norm", "max_cos")


def bn_mlp_stack(n, units=128, n_in=784, n_out=10, init_std=0.01):
    """``n`` stacked networks ``Dense(units, use_bias=False) → BN → ReLU → Dense(n_out)``.

    Parameters
    ----------
    n : int
        Networks in the stack.
    units : int, default 128
        Units of the hidden layer, the one that feeds BN.
    n_in, n_out : int, default 784 and 10
    init_std : float, default 0.01
        Standard deviation of the normal initial weights of the first layer (BN makes their
        scale irrelevant to the forward pass).

    Returns
    -------
    model : keras.Model
        ``(B, n, n_in)`` → ``(B, n, n_out)`` logits.
    kernel : keras.Variable, shape (n, n_in, units)
        The first layer's kernel: network ``s`` uses ``kernel[s]``.
    """
    n = _positive_int(n, "n")
    units = _positive_int(units, "units")
    n_in = _positive_int(n_in, "n_in")
    if not (np.isfinite(init_std) and init_std > 0):
        raise ValueError(f"init_std must be a positive number, got {init_std!r}")
    inputs = keras.Input(shape=(n, n_in))
    first = keras.layers.EinsumDense(
        "bsi,sio->bso",
        output_shape=(n, units),
        bias_axes=None,
        kernel_initializer=keras.initializers.RandomNormal(stddev=float(init_std)),
    )
    h = keras.layers.ReLU()(st.normalize(first(inputs), "batch", n, units))
    model = keras.Model(inputs, st.stacked_dense(n, units, n_out)(h))
    return model, first.kernel


def sgd_with_norms(model, kernel, data, labels, idx, learning_rate):
    """Train a stack with plain SGD and record, before every step, each network's first layer.

    The loss is the sum of the networks' mean cross-entropies, so network ``s``'s gradient is
    that of its own loss, and ``w -= learning_rate * g`` for every variable.

    Parameters
    ----------
    model : keras.Model
        ``(B, n, D)`` → ``(B, n, classes)`` logits, e.g. from :func:`bn_mlp_stack`.
    kernel : keras.Variable, shape (n, D, units)
        The weights whose norms are recorded (one of ``model.trainable_variables``).
    data : array, shape (N, D)
    labels : array of int, shape (N,)
    idx : array of int, shape (steps, B, n)
        Step ``t`` gives network ``s`` rows ``idx[t, :, s]``
        (e.g. :func:`bncourse.stacked.batch_indices`).
    learning_rate : float

    Returns
    -------
    dict of ndarray, each of shape (steps, n)
        Before step ``t``'s update: ``loss`` (the network's mean loss on its batch), ``w_norm``
        (``||kernel[s]||``), ``g_norm`` (``||dL_s/dkernel[s]||``) and ``max_cos`` (the largest
        ``|cos(w_j, g_j)|`` over the units ``j``, between a unit's weight vector and its gradient).
    """
    idx = np.asarray(idx)
    n = kernel.shape[0]
    if idx.ndim != 3 or idx.shape[2] != n:
        raise ValueError(f"idx must have shape (steps, batch, {n}), got {idx.shape}")
    if not any(v is kernel for v in model.trainable_variables):
        raise ValueError("kernel must be one of model.trainable_variables")
    data = tf.constant(np.asarray(data, np.float32))
    labels = tf.constant(np.asarray(labels, np.int32))
    if idx.min() < 0 or idx.max() >= data.shape[0]:
        raise ValueError(f"idx must index rows 0 to {data.shape[0] - 1} of data")
    lr = tf.constant(float(learning_rate), tf.float32)
    variables = model.trainable_variables
    k_index = next(i for i, v in enumerate(variables) if v is kernel)

    @tf.function
    def run(all_idx):
        steps = tf.shape(all_idx)[0]
        out = [tf.TensorArray(tf.float32, size=steps) for _ in RECORDS]
        for t in tf.range(steps):
            xb, yb = tf.gather(data, all_idx[t]), tf.gather(labels, all_idx[t])
            with tf.GradientTape() as tape:
                logits = model(xb, training=True)
                losses = tf.reduce_mean(
                    keras.losses.sparse_categorical_crossentropy(yb, logits, from_logits=True),
                    axis=0,
                )
                total = tf.reduce_sum(losses)
            grads = tape.gradient(total, variables)
            w, g = tf.identity(kernel.value), grads[k_index]  # (n, D, units)
            cos = tf.reduce_sum(w * g, axis=1) / (tf.norm(w, axis=1) * tf.norm(g, axis=1) + 1e-30)
            rec = [
                losses,
                tf.norm(w, axis=(1, 2)),
                tf.norm(g, axis=(1, 2)),
                tf.reduce_max(tf.abs(cos), axis=1),
            ]
            out = [o.write(t, r) for o, r in zip(out, rec)]
            for v, gv in zip(variables, grads):
                v.assign_sub(lr * gv)
        return [o.stack() for o in out]

    records = run(tf.constant(idx, tf.int32))
    return {name: r.numpy() for name, r in zip(RECORDS, records)}
