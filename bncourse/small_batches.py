"""Batch, group and layer normalization across batch sizes, on stacked networks (chapter 7).

Wu & He (2018, Figure 1) trained one ResNet-50 per batch size and normalization. :func:`sweep`
does the same for ``n`` stacked networks (:mod:`bncourse.stacked`), one stack per normalization:
every normalization starts from the same initial kernels (the normalization layers hold no random
weights, so one Keras seed gives all of them the same convolutions and dense kernels), every batch
size restarts from them, and every batch size sees the same number of training examples with a
learning rate proportional to the batch size (the linear scaling rule Wu & He use). BN is scored
in inference mode after precise BN, and also with the moving averages it accumulated.
"""

from __future__ import annotations

import numpy as np

from bncourse import evidence as ev
from bncourse import stacked as st
from bncourse._checks import positive_int as _positive_int
from bncourse._keras import keras

__all__ = ["sweep"]


def sweep(
    build,
    n,
    batch_sizes,
    examples,
    lr_per_example,
    data,
    labels,
    x_train,
    x_test,
    y_test,
    norms=st.NORMS,
    seed_key=(),
    progress=None,
):
    """Test accuracy of ``n`` stacked networks per normalization and batch size.

    Parameters
    ----------
    build : callable
        ``build(norm)`` returns the stack for ``norm`` in ``norms`` (e.g. ``lambda norm:
        st.stacked_cnn(n, (8, 16), norm)``); it is called once per normalization, right after
        ``keras.utils.set_random_seed(ev.seed(*seed_key, "kernels"))``.
    n : int
        Networks in each stack (the seeds).
    batch_sizes : sequence of int
    examples : int
        Training examples per network for every batch size (``examples // b`` steps at batch
        ``b``; ``examples`` must be a multiple of every batch size).
    lr_per_example : float
        Plain SGD with learning rate ``lr_per_example * b`` at batch size ``b``.
    data, labels : tf.Tensor or arrays, shapes (N, D) and (N,)
        Training rows (see :func:`bncourse.stacked.make_trainer`); batches are drawn from all of
        them, with ``ev.seed(*seed_key, "batches", b)``.
    x_train : array, shape (M, D)
        Rows for precise BN (its first 1,000).
    x_test, y_test : arrays
        The test set.
    norms : sequence of {"batch", "group", "layer"}
    seed_key : tuple
        Mixed into every seed, so two sweeps of one chapter draw different seeds.
    progress : callable, optional
        Called as ``progress(norm, b)`` after each run.

    Returns
    -------
    acc : dict
        ``acc[norm]``: array ``(len(batch_sizes), n)`` of test accuracies in percent, BN's after
        precise BN.
    moving : ndarray, shape (len(batch_sizes), n), or None
        BN's accuracy with its moving averages (None when ``"batch"`` is not in ``norms``).
    """
    n = _positive_int(n, "n")
    examples = _positive_int(examples, "examples")
    batch_sizes = [_positive_int(b, "batch_sizes") for b in batch_sizes]
    bad = [b for b in batch_sizes if examples % b]
    if bad:
        raise ValueError(
            f"examples ({examples}) must be a multiple of every batch size, not of {bad}"
        )
    if not (np.isfinite(lr_per_example) and lr_per_example > 0):
        raise ValueError(f"lr_per_example must be a positive number, got {lr_per_example!r}")
    unknown = [norm for norm in norms if norm not in st.NORMS]
    if unknown:
        raise ValueError(f"norms must be among {st.NORMS}, got {unknown}")
    pool = int(data.shape[0])
    idx = {
        b: st.batch_indices(n, examples // b, b, seed=ev.seed(*seed_key, "batches", b), pool=pool)
        for b in batch_sizes
    }
    acc = {norm: np.zeros((len(batch_sizes), n)) for norm in norms}
    moving = np.zeros((len(batch_sizes), n)) if "batch" in norms else None
    for norm in norms:
        keras.utils.set_random_seed(ev.seed(*seed_key, "kernels"))
        model = build(norm)
        start = model.get_weights()
        optimizer = keras.optimizers.SGD()
        train = st.make_trainer(model, optimizer, n, data, labels)
        for i, b in enumerate(batch_sizes):
            st.restart(model, start, optimizer, learning_rate=lr_per_example * b)
            train(idx[b])
            mov, precise = st.evaluate(model, n, x_train, x_test, y_test, moving=(norm == "batch"))
            acc[norm][i] = 100 * precise
            if norm == "batch":
                moving[i] = 100 * mov
            if progress is not None:
                progress(norm, b)
    return acc, moving
