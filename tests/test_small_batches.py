"""Tests of bncourse.small_batches.sweep: one stack per normalization, restarted per batch size."""

from __future__ import annotations

import numpy as np
import pytest

from bncourse import small_batches as sb
from bncourse import stacked as st

keras = pytest.importorskip("keras")


def _data(rows=96, n_in=16, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    return (
        rng.normal(size=(rows, n_in)).astype(np.float32),
        rng.integers(classes, size=rows).astype(np.int32),
    )


def test_sweep_starts_every_normalization_from_the_same_kernels():
    x, y = _data()
    built = {}

    def build(norm):
        model = st.stacked_mlp(3, (8,), "before", norm=norm, n_in=16, n_out=3, groups=2)
        built[norm] = [
            layer.kernel.numpy()
            for layer in model.layers
            if isinstance(layer, keras.layers.EinsumDense)
        ]
        return model

    seen = []
    acc, moving = sb.sweep(
        build,
        3,
        [4, 8],
        16,
        0.01,
        x,
        y,
        x,
        x[:40],
        y[:40],
        progress=lambda norm, b: seen.append((norm, b)),
    )
    assert seen == [(norm, b) for norm in st.NORMS for b in (4, 8)]
    for norm in ("group", "layer"):
        for a, b in zip(built["batch"], built[norm]):
            np.testing.assert_array_equal(a, b)
    assert set(acc) == set(st.NORMS) and moving.shape == (2, 3)
    for values in (*acc.values(), moving):
        assert values.shape == (2, 3)
        assert np.all((values >= 0) & (values <= 100))
        # accuracies on 40 examples, in percent: multiples of 2.5
        np.testing.assert_allclose(values / 2.5, np.round(values / 2.5), atol=1e-9)


def test_sweep_restarts_each_batch_size_from_the_initial_weights():
    x, y = _data()
    build = lambda norm: st.stacked_mlp(2, (8,), "before", norm=norm, n_in=16, n_out=3)
    both, _ = sb.sweep(build, 2, [4, 8], 16, 0.05, x, y, x, x, y, norms=("layer",))
    alone, moving = sb.sweep(build, 2, [8], 16, 0.05, x, y, x, x, y, norms=("layer",))
    assert moving is None
    np.testing.assert_array_equal(both["layer"][1], alone["layer"][0])


def test_sweep_bad_input():
    x, y = _data()
    build = lambda norm: st.stacked_mlp(2, (8,), "before", norm=norm, n_in=16, n_out=3)
    with pytest.raises(ValueError, match="multiple of every batch size"):
        sb.sweep(build, 2, [4, 6], 16, 0.01, x, y, x, x, y)
    with pytest.raises(ValueError, match="lr_per_example"):
        sb.sweep(build, 2, [4], 16, -1.0, x, y, x, x, y)
    with pytest.raises(ValueError, match="norms"):
        sb.sweep(build, 2, [4], 16, 0.01, x, y, x, x, y, norms=("instance",))
