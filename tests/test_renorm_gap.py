"""Tests of bncourse.renorm_gap: the batches, stacks and scores of chapter 7's renorm experiment.

Batches are checked exactly (which rows, which classes). The stacks are small (12 inputs, hidden
layers of 8 units, 3 classes, random data), so training takes a fraction of a second; what is
checked is structure — shapes, pairing of the BN and renorm stacks, that training-mode logits are
those of the batch they were computed on — not the size of the gap, which chapter 7 asserts over
seeds on MNIST.
"""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")
pytest.importorskip("tensorflow")

from bncourse import renorm_gap as rg  # noqa: E402

N_IN, CLASSES = 12, 3


def _data(rows=120, seed=0):
    rng = np.random.default_rng(seed)
    y = np.arange(rows) % CLASSES
    x = (rng.normal(size=(rows, N_IN)) + y[:, None]).astype(np.float32)
    return x, y.astype(np.int64)


def test_two_class_batches_hold_two_classes_half_and_half():
    labels = np.repeat(np.arange(5), 23)
    order = rg.two_class_batches(labels, 8, np.random.default_rng(1))
    assert len(order) % 8 == 0 and len(set(order.tolist())) == len(order)  # each row at most once
    for batch in order.reshape(-1, 8):
        classes, counts = np.unique(labels[batch], return_counts=True)
        assert len(classes) == 2 and counts.tolist() == [4, 4]
        assert len(set(labels[batch[:4]])) == 1 and len(set(labels[batch[4:]])) == 1


def test_two_class_batches_reject_bad_input():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="even"):
        rg.two_class_batches(np.arange(10) % 2, 5, rng)
    with pytest.raises(ValueError, match="two classes"):
        rg.two_class_batches(np.zeros(20, int), 4, rng)


def test_batch_order_small_batches_is_a_permutation_cut_to_whole_batches():
    order = rg.batch_order(np.zeros(30), 4, "small batches", np.random.default_rng(2))
    assert len(order) == 28 and len(set(order.tolist())) == 28 and order.max() < 30
    with pytest.raises(ValueError, match="regime"):
        rg.batch_order(np.zeros(30), 4, "large batches", np.random.default_rng(2))


def test_stacked_order_gives_every_network_its_own_order_of_equal_length():
    _, y = _data()
    idx = rg.stacked_order(y, 6, "two-class batches", [11, 12, 13], passes=2)
    assert idx.ndim == 3 and idx.shape[1:] == (6, 3) and idx.dtype == np.int32
    assert not np.array_equal(idx[..., 0], idx[..., 1])
    again = rg.stacked_order(y, 6, "two-class batches", [11, 12, 13], passes=2)
    np.testing.assert_array_equal(idx, again)  # the seeds decide
    test = rg.stacked_order(y, 6, "two-class batches", [11, 12, 13], stream=1)
    assert not np.array_equal(
        test[: min(len(test), len(idx)), :, 0], idx[: min(len(test), len(idx)), :, 0]
    )


def test_stacked_norm_mlp_uses_renorm_with_the_papers_clipping():
    bn = rg.stacked_norm_mlp(2, renorm=False, widths=(8,), n_in=N_IN, n_out=CLASSES)
    rn = rg.stacked_norm_mlp(2, renorm=True, widths=(8,), n_in=N_IN, n_out=CLASSES)
    assert bn(np.zeros((4, 2, N_IN), np.float32)).shape == (4, 2, CLASSES)
    layers = [layer for layer in rn.layers if isinstance(layer, keras.layers.BatchNormalization)]
    assert len(layers) == 1 and layers[0].renorm and layers[0].renorm_clipping == rg.RENORM_CLIPPING
    assert not [layer for layer in bn.layers if isinstance(layer, keras.layers.BatchNormalization)][
        0
    ].renorm


def test_training_mode_logits_are_those_of_each_batch():
    x, y = _data()
    keras.utils.set_random_seed(4)
    model = rg.stacked_norm_mlp(2, renorm=False, widths=(8,), n_in=N_IN, n_out=CLASSES)
    idx = rg.stacked_order(y, 4, "small batches", [1, 2])[:5]
    z = rg.training_mode_logits(model, x, idx)
    assert z.shape == (20, 2, CLASSES)
    # BN in training mode depends on the batch only, not on the moving statistics it updates.
    direct = np.asarray(model(x[idx[2]], training=True))  # (4, 2, classes)
    np.testing.assert_allclose(z[8:12], direct, rtol=1e-5, atol=1e-6)


def test_mode_gap_and_compare():
    x, y = _data(rows=240)
    res = rg.compare(
        x[:180],
        y[:180],
        x[180:],
        y[180:],
        "two-class batches",
        6,
        1,
        [5, 6],
        7,
        learning_rate=0.05,
        widths=(8,),
    )
    assert set(res) == {"bn", "renorm"}
    for scores in res.values():
        assert set(scores) == {"gap", "agree", "acc_inference", "acc_training_mode"}
        assert all(v.shape == (2,) for v in scores.values())
        assert np.all(scores["gap"] > 0)
        for k in ("agree", "acc_inference", "acc_training_mode"):
            assert np.all((scores[k] >= 0) & (scores[k] <= 1))


def test_the_renorm_stack_starts_from_the_bn_stacks_dense_weights():
    keras.utils.set_random_seed(8)
    bn = rg.stacked_norm_mlp(3, renorm=False, widths=(8, 8), n_in=N_IN, n_out=CLASSES)
    rn = rg.stacked_norm_mlp(3, renorm=True, widths=(8, 8), n_in=N_IN, n_out=CLASSES)
    rg._copy_dense(bn, rn)
    dense = lambda m: [
        w
        for layer in m.layers
        if isinstance(layer, keras.layers.EinsumDense)  # noqa: E731
        for w in layer.get_weights()
    ]
    for a, b in zip(dense(bn), dense(rn)):
        np.testing.assert_array_equal(a, b)
