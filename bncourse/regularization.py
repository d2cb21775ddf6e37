"""Does batch normalization regularize? The generalization gap of stacked networks (chapter 3).

A small training set trained to near-fit leaves a gap between training and test accuracy; this
module measures it for ``n`` stacked networks (:mod:`bncourse.stacked`) with or without BN, at any
batch size, optionally with dropout after every hidden block, so the chapter can compare BN with an
explicit regularizer over seeds. Every network is scored in inference mode after precise BN
(:func:`bncourse.stacked.precise_bn` on the training rows), so the moving averages' lag plays no part.
"""

from __future__ import annotations

import numpy as np

from bncourse import stacked as st
from bncourse._checks import positive_int as _positive_int
from bncourse._keras import keras

__all__ = ["gap_model", "gap_run"]


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


def gap_run(x_train, y_train, x_test, y_test, *, n, widths, placement, batch, epochs, seed,
            dropout=0.0, learning_rate=1e-3):
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
    batch, epochs : int
        Batch size and passes over the training set (``epochs * N // batch`` steps).
    seed : int
        Seed of the initial weights, the batches and the dropout masks.
    learning_rate : float, default 1e-3

    Returns
    -------
    dict of ndarray, each of shape (n,)
        ``"train"`` and ``"test"`` accuracy (inference mode, after precise BN), ``"gap"`` = train − test.
    """
    batch = _positive_int(batch, "batch")
    epochs = _positive_int(epochs, "epochs")
    x_train = np.asarray(x_train, np.float32)
    keras.utils.set_random_seed(int(seed))
    model = gap_model(n, widths, placement, dropout, n_in=x_train.shape[1])
    trainer = st.make_trainer(model, keras.optimizers.Adam(learning_rate), n, x_train, y_train)
    steps = max(1, epochs * len(x_train) // batch)
    trainer(st.batch_indices(n, steps, batch, seed, len(x_train)))
    _, test = st.evaluate(model, n, x_train, x_test, y_test, n_precise=len(x_train), moving=False)
    train = st.stacked_accuracy(model, n, x_train, y_train)
    return {"train": train, "test": test, "gap": train - test}
