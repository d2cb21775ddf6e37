"""Input scalers for chapter 1: min-max scaling, mean normalization and the z-score.

Each scaler is *fitted* on training data (it records statistics) and then *applied* to any data
with the same features — validation and test data included — using the training statistics. That
order is the point: statistics computed on the test set leak information into the model.

Samples are on axis 0 and everything after it is a feature: ``(N, D)`` tables, or ``(N, 28, 28)``
images with one statistic per pixel. ``per_feature=False`` uses one statistic for the whole array
instead (the usual choice for pixels, which share one scale).

A feature that is constant in the training data (range or standard deviation 0) is divided by 1
instead of 0, as scikit-learn does: its training value maps to the bottom of the output range (0
for the z-score and mean normalization), and other values at transform time are only shifted, not
scaled (a pixel that was always blank in training but has ink in a test image keeps its raw size).
"""

from __future__ import annotations

import numpy as np

from ._checks import as_float_array, check_bool, check_integer

__all__ = ["MeanNormalizer", "MinMaxScaler", "StandardScaler"]


class _Scaler:
    """Shared mechanics: ``transform(x) = low + (x - offset) / divisor``."""

    low = 0.0

    def __init__(self, per_feature=True):
        self.per_feature = check_bool(per_feature, "per_feature")
        self.offset_ = None
        self.divisor_ = None
        self._feature_shape = None

    def _statistics(self, x):  # -> (offset, divisor) before the zero-divisor guard
        raise NotImplementedError

    def _reduce(self):
        return 0 if self.per_feature else None

    def fit(self, x):
        """Record the statistics of ``x`` (training data, samples on axis 0). Returns self."""
        x = as_float_array(x, "x", min_ndim=1)
        if x.shape[0] < 1:
            raise ValueError(f"x must contain at least one sample (axis 0), got shape {x.shape}")
        offset, divisor = self._statistics(x.astype(np.float64, copy=False))
        divisor = np.where(divisor > 0, divisor, 1.0)
        self.offset_, self.divisor_ = offset, divisor
        self._feature_shape = x.shape[1:]
        return self

    def _check_fitted(self, x, name):
        if self.offset_ is None:
            raise RuntimeError(
                f"{type(self).__name__} is not fitted yet: call fit(x_train) before transforming"
            )
        x = as_float_array(x, name, min_ndim=1)
        if x.shape[1:] != self._feature_shape:
            raise ValueError(
                f"{name} must have feature shape {self._feature_shape} (samples on axis 0) "
                f"like the data the scaler was fitted on, got shape {x.shape}"
            )
        return x

    def transform(self, x):
        """Scale ``x`` with the fitted statistics. Returns a new float array."""
        x = self._check_fitted(x, "x")
        return (self.low + (x - self.offset_) / self.divisor_).astype(x.dtype, copy=False)

    def fit_transform(self, x):
        """``fit(x)`` then ``transform(x)``."""
        return self.fit(x).transform(x)

    def inverse_transform(self, z):
        """Undo :meth:`transform`. Returns a new float array."""
        z = self._check_fitted(z, "z")
        return ((z - self.low) * self.divisor_ + self.offset_).astype(z.dtype, copy=False)


class MinMaxScaler(_Scaler):
    """Min-max scaling: ``x' = a + (x - min) * (b - a) / (max - min)``, into ``feature_range=(a, b)``.

    Parameters
    ----------
    feature_range : (float, float), a < b
    per_feature : bool
        True: one min and max per feature (over axis 0). False: one for the whole array.

    Attributes
    ----------
    data_min_, data_max_ : ndarray (or float with ``per_feature=False``), set by :meth:`fit`
    """

    def __init__(self, feature_range=(0.0, 1.0), per_feature=True):
        super().__init__(per_feature)
        try:
            low, high = (float(v) for v in feature_range)
        except (TypeError, ValueError):
            raise TypeError(
                f"feature_range must be a pair of numbers (a, b), got {feature_range!r}"
            ) from None
        if not (np.isfinite(low) and np.isfinite(high) and low < high):
            raise ValueError(f"feature_range must be finite with a < b, got {feature_range!r}")
        self.feature_range = (low, high)
        self.low = low
        self.data_min_ = self.data_max_ = None

    def _statistics(self, x):
        self.data_min_ = np.min(x, axis=self._reduce())
        self.data_max_ = np.max(x, axis=self._reduce())
        low, high = self.feature_range
        return self.data_min_, (self.data_max_ - self.data_min_) / (high - low)


class MeanNormalizer(_Scaler):
    """Mean normalization: ``x' = (x - mean) / (max - min)``; on the fitted data, mean 0 and range 1.

    Outputs on the fitted data lie within [-1, 1]; new data can fall outside.

    Parameters
    ----------
    per_feature : bool

    Attributes
    ----------
    mean_, data_min_, data_max_ : set by :meth:`fit`
    """

    def __init__(self, per_feature=True):
        super().__init__(per_feature)
        self.mean_ = self.data_min_ = self.data_max_ = None

    def _statistics(self, x):
        self.mean_ = np.mean(x, axis=self._reduce())
        self.data_min_ = np.min(x, axis=self._reduce())
        self.data_max_ = np.max(x, axis=self._reduce())
        return self.mean_, self.data_max_ - self.data_min_


class StandardScaler(_Scaler):
    """Z-score standardization: ``z = (x - mean) / std``; outputs have mean 0 and std 1.

    Parameters
    ----------
    per_feature : bool
    ddof : int
        0 (default): the population standard deviation, dividing by N. 1: the sample standard
        deviation, dividing by N - 1. For the N of a training set the difference is negligible.

    Attributes
    ----------
    mean_, std_ : set by :meth:`fit`
    """

    def __init__(self, per_feature=True, ddof=0):
        super().__init__(per_feature)
        self.ddof = check_integer(ddof, "ddof")
        if self.ddof not in (0, 1):
            raise ValueError(f"ddof must be 0 (population) or 1 (sample), got {ddof!r}")
        self.mean_ = self.std_ = None

    def _statistics(self, x):
        count = x.shape[0] if self.per_feature else x.size
        if count - self.ddof < 1:
            raise ValueError(f"x must contain more than {self.ddof} sample(s) for ddof={self.ddof}")
        self.mean_ = np.mean(x, axis=self._reduce())
        self.std_ = np.std(x, axis=self._reduce(), ddof=self.ddof)
        return self.mean_, self.std_
