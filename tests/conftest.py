"""Shared fixtures for bnlib's tests.

The layouts the course uses are one parametrized fixture, ``layout``, so every test that takes it
runs for dense ``(N, D)`` activations, NHWC images (``axis=-1``) and NCHW images (``axis=1``).
Every dimension of a layout has a different size, so normalizing over the wrong axes cannot go
unnoticed (it changes a shape or a statistic). The arrays are small because a numerical gradient
costs two forward passes per input element.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass

# TensorFlow and Keras read these when they are first imported; conftest is imported before any
# test module, so the Keras parity tests start quiet and deterministic (no oneDNN reordering).
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

SEED = 20250101


@dataclass(frozen=True)
class Layout:
    """An input shape and its feature axis, with the shapes batch normalization derives from it."""

    name: str
    shape: tuple
    axis: int

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def features(self) -> int:
        """C: the number of features (channels)."""
        return self.shape[self.axis]

    @property
    def reduce_axes(self) -> tuple:
        """The axes the statistics are taken over: every axis but the feature axis."""
        axis = self.axis % self.ndim
        return tuple(i for i in range(self.ndim) if i != axis)

    @property
    def count(self) -> int:
        """m: how many values each per-feature statistic is computed from."""
        return int(np.prod(self.shape)) // self.features

    def per_feature(self, v) -> np.ndarray:
        """Reshape a (C,) vector so that it broadcasts against an input of this layout."""
        shape = [1] * self.ndim
        shape[self.axis] = self.features
        return np.asarray(v).reshape(shape)

    def sample(self, rng, dtype=np.float64, shape=None) -> np.ndarray:
        """A batch whose features have clearly different means and scales.

        Feature c has mean about 3*c - 2 and standard deviation between 0.5 and 3, so a statistic
        taken over the wrong axes, or applied to the wrong feature, is far off.
        """
        shape = self.shape if shape is None else shape
        c = self.features
        loc = self.per_feature(3.0 * np.arange(c) - 2.0)
        scale = self.per_feature(rng.uniform(0.5, 3.0, size=c))
        return (loc + scale * rng.standard_normal(shape)).astype(dtype)


LAYOUTS = (
    Layout("dense", (6, 4), -1),  # (N, D)
    Layout("nhwc", (4, 3, 2, 5), -1),  # (N, H, W, C)
    Layout("nchw", (4, 5, 3, 2), 1),  # (N, C, H, W)
)


# Larger batches for comparisons with Keras, where nothing is differentiated numerically.
BIG_LAYOUTS = (
    Layout("dense", (32, 6), -1),
    Layout("nhwc", (8, 5, 4, 3), -1),
    Layout("nchw", (8, 3, 5, 4), 1),
)


@pytest.fixture(params=LAYOUTS, ids=[lay.name for lay in LAYOUTS])
def layout(request) -> Layout:
    return request.param


@pytest.fixture(params=BIG_LAYOUTS, ids=[lay.name for lay in BIG_LAYOUTS])
def big_layout(request) -> Layout:
    return request.param


@pytest.fixture
def rng() -> np.random.Generator:
    """A fresh, seeded generator for each test: results do not depend on test order."""
    return np.random.default_rng(SEED)


@pytest.fixture
def unchanged():
    """Context manager: assert that the given arrays hold the same values (and dtype) afterwards.

    ``with unchanged(x, gamma): f(x, gamma)`` fails if ``f`` wrote into ``x`` or ``gamma``.
    With ``readonly=True`` the arrays are also made read-only for the duration of the block, so an
    in-place write raises at the offending line instead of being detected afterwards.
    """

    @contextlib.contextmanager
    def check(*arrays, readonly=False):
        copies = [a.copy() for a in arrays]
        if readonly:
            for a in arrays:
                a.flags.writeable = False
        try:
            yield
        finally:
            if readonly:
                for a in arrays:
                    a.flags.writeable = True
        for a, c in zip(arrays, copies):
            assert a.dtype == c.dtype
            np.testing.assert_array_equal(a, c, strict=True)

    return check
