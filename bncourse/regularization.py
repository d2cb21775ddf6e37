"""Does batch normalization regularize? The generalization gap of stacked networks (chapter 3).

A small training set trained to near-fit leaves a gap between training and test accuracy; this
module measures it for ``n`` stacked networks (:mod:`bncourse.stacked`) with or without BN, at any
batch size, optionally with dropout after every hidden block or an L2 penalty on every kernel
(:func:`l2_adam`), so the chapter can compare BN with explicit regularizers over seeds. Every
network is scored in inference mode after precise BN (:func:`bncourse.stacked.precise_bn` on the
training rows), so the moving averages' lag plays no part.
"""

from __future__ import annotations

import numpy as np

from bncourse import stacked as st
from bncourse._checks import positive_int as _positive_int
from bncourse._keras import keras

__all__ = ["gap_model", "gap_run", "kernels", "l2_adam"]


def gap_model(n, widths, placement, dropout=0.0, n_in=196, n_out=10):
    """``n`` stacked MLPs, each hidden block (:func:`bncourse.stacked.hidden_block`) followed by dropout.

    Parameters
    ----------
    n : int
        Networks in the stack.
    widths : sequence of int
        Hidden units per layer.
    placement : {"before", "after", "none"}
        Where BN goes in each hidden block (``"none"``: no BN).
    dropout : float, default 0.0
        Dropout rate after every hidden block (0: no dropout layer). The mask ``r`` is drawn per
        element of the ``(B, n, units)`` activations, so the networks stay independent.
    n_in, n_out : int
        Inputs and logits per network.

    Returns
    -------
    keras.Model
        ``(B, n, n_in)`` → ``(B, n, n_out)`` logits.
    """
    n = _positive_int(n, "n")
    if not 0.0 <= float(dropout) < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
    inputs = keras.Input(shape=(n, n_in))
    h, fan_in = inputs, n_in
    for units in widths:
        h = st.hidden_block(h, n, fan_in, units, placement)
        if dropout > 0:
            h = keras.layers.Dropout(float(dropout))(h)
        fan_in = units
    return keras.Model(inputs, st.stacked_dense(n, fan_in, n_out)(h))


def kernels(model):
    """The kernels of a model's ``Dense`` and ``EinsumDense`` layers, in layer order.

    Parameters
    ----------
    model : keras.Model

    Returns
    -------
    list of keras.Variable
        For a :func:`gap_model`, one ``(n, fan_in, units)`` kernel per hidden layer, then the
        ``(n, fan_in, n_out)`` output kernel. Biases, ``gamma`` and ``beta`` are not included.
    """
    if not isinstance(model, keras.Model):
        raise TypeError(f"model must be a keras.Model, got {type(model).__name__}")
    return [
        layer.kernel
        for layer in model.layers
        if isinstance(layer, (keras.layers.Dense, keras.layers.EinsumDense))
    ]


class _L2Adam(keras.optimizers.Adam):
    """Adam on ``loss + sum_s l2[s] * sum(w[s]**2)`` over the given variables."""

    def __init__(self, variables, l2, learning_rate):
        super().__init__(learning_rate)
        self._factors = {
            id(v): np.reshape(2.0 * l2, (-1,) + (1,) * (len(v.shape) - 1)).astype(np.float32)
            if l2.ndim
            else np.float32(2.0 * l2)
            for v in variables
        }

    def apply(self, grads, trainable_variables=None):
        variables = (
            self._trainable_variables if trainable_variables is None else list(trainable_variables)
        )
        grads = [
            g + self._factors[id(v)] * v.value if id(v) in self._factors and g is not None else g
            for g, v in zip(grads, variables)
        ]
        return super().apply(grads, trainable_variables)


def l2_adam(variables, l2, learning_rate=1e-3):
    """Adam on the loss plus an L2 penalty ``l2 * sum(w**2)`` on ``variables`` (Keras's ``L2(l2)``).

    The penalty's gradient ``2 * l2 * w`` is added to the loss gradient before Adam's moment
    estimates, as ``kernel_regularizer=keras.regularizers.L2(l2)`` would add it: this is L2
    regularization, not AdamW's decoupled decay. Every other variable gets plain Adam.

    Parameters
    ----------
    variables : sequence of keras.Variable
        The penalized variables, e.g. :func:`kernels` of a model.
    l2 : float or array of shape (n,)
        Penalty factor(s), each finite and ``>= 0``. An array gives network ``s`` of a stack its
        own factor ``l2[s]`` on slice ``w[s]`` of every variable (whose first axis must be
        ``n``), so one stacked run can try several strengths. All zeros: plain Adam.
    learning_rate : float, default 1e-3

    Returns
    -------
    keras.optimizers.Adam
    """
    variables = list(variables)
    try:
        factors = np.asarray(l2, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"l2 must be a number or a 1-D array of numbers, got {l2!r}") from None
    if factors.ndim > 1 or factors.size == 0:
        raise ValueError(f"l2 must be a number or a 1-D array, got shape {factors.shape}")
    if not (np.all(np.isfinite(factors)) and np.all(factors >= 0)):
        raise ValueError(f"l2 must be finite and >= 0, got {l2!r}")
    if factors.ndim == 1:
        for v in variables:
            if len(v.shape) < 1 or v.shape[0] != factors.size:
                raise ValueError(
                    f"l2 has {factors.size} factors but variable {v.path} has shape "
                    f"{tuple(v.shape)} (its first axis must be {factors.size})"
                )
    if not np.any(factors):
        return keras.optimizers.Adam(learning_rate)
    return _L2Adam(variables, factors, learning_rate)


def gap_run(
    x_train,
    y_train,
    x_test,
    y_test,
    *,
    n,
    widths,
    placement,
    batch,
    epochs,
    seed,
    dropout=0.0,
    l2=0.0,
    learning_rate=1e-3,
):
    """Train ``n`` stacked networks with Adam for ``epochs`` passes over the training set; score them.

    Network ``s`` gets its own initial weights and its own shuffles of the training rows (from
    ``seed``: runs with the same ``seed``, ``n`` and ``batch`` see the same batches, so settings can
    be compared seed by seed).

    Parameters
    ----------
    x_train, y_train : arrays, shapes (N, D) and (N,)
    x_test, y_test : arrays, shapes (M, D) and (M,)
    n : int
        Networks (seeds).
    widths, placement, dropout
        As in :func:`gap_model`.
    l2 : float or array of shape (n,), default 0.0
        L2 penalty ``l2 * sum(w**2)`` on every kernel (hidden and output), per network if an
        array; see :func:`l2_adam`.
    batch, epochs : int
        Batch size and passes over the training set (``epochs * N // batch`` steps).
    seed : int
        Seed of the initial weights, the batches and the dropout masks.
    learning_rate : float, default 1e-3

    Returns
    -------
    dict of ndarray, each of shape (n,)
        ``"train"`` and ``"test"`` accuracy (inference mode, after precise BN), ``"gap"`` = train − test,
        ``"hidden_norm"``: each network's Frobenius norm of its hidden kernels together.
    """
    batch = _positive_int(batch, "batch")
    epochs = _positive_int(epochs, "epochs")
    x_train = np.asarray(x_train, np.float32)
    keras.utils.set_random_seed(int(seed))
    model = gap_model(n, widths, placement, dropout, n_in=x_train.shape[1])
    optimizer = l2_adam(kernels(model), l2, learning_rate)
    trainer = st.make_trainer(model, optimizer, n, x_train, y_train)
    steps = max(1, epochs * len(x_train) // batch)
    trainer(st.batch_indices(n, steps, batch, seed, len(x_train)))
    _, test = st.evaluate(model, n, x_train, x_test, y_test, n_precise=len(x_train), moving=False)
    train = st.stacked_accuracy(model, n, x_train, y_train)
    hidden = kernels(model)[:-1]
    norm = np.sqrt(
        sum(np.sum(np.square(k.numpy().astype(np.float64)), axis=(1, 2)) for k in hidden)
    )
    return {"train": train, "test": test, "gap": train - test, "hidden_norm": norm}
