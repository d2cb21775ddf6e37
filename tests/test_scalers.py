"""Input scalers: formulas on a small table, train statistics on test data, images."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from bnlib import MeanNormalizer, MinMaxScaler, StandardScaler

# A small training table: age (years) and yearly income (dollars), two features on very different
# scales. Its statistics are easy by hand: age min 25, max 55, mean 40, population std sqrt(125);
# income min 40000, max 120000, mean 75000, population std sqrt(8.75e8).
TRAIN = np.array(
    [
        [25.0, 40_000.0],
        [35.0, 60_000.0],
        [45.0, 80_000.0],
        [55.0, 120_000.0],
    ]
)
TEST = np.array([[65.0, 20_000.0], [40.0, 75_000.0]])

SCALERS = [MinMaxScaler, MeanNormalizer, StandardScaler]
SCALER_IDS = [s.__name__ for s in SCALERS]


def test_minmax_formula():
    scaler = MinMaxScaler().fit(TRAIN)
    np.testing.assert_array_equal(scaler.data_min_, [25.0, 40_000.0])
    np.testing.assert_array_equal(scaler.data_max_, [55.0, 120_000.0])
    expected = np.column_stack([[0, 1 / 3, 2 / 3, 1], [0, 0.25, 0.5, 1]])
    np.testing.assert_allclose(scaler.transform(TRAIN), expected, rtol=1e-15, atol=1e-15)


def test_minmax_into_a_feature_range():
    scaler = MinMaxScaler(feature_range=(-1, 1)).fit(TRAIN)
    expected = np.column_stack([[-1, -1 / 3, 1 / 3, 1], [-1, -0.5, 0, 1]])
    np.testing.assert_allclose(scaler.transform(TRAIN), expected, rtol=1e-15, atol=1e-15)
    scaler = MinMaxScaler(feature_range=(2, 5)).fit(TRAIN)
    np.testing.assert_allclose(scaler.transform(TRAIN)[:, 0], [2, 3, 4, 5], rtol=1e-15)


def test_mean_normalizer_formula():
    scaler = MeanNormalizer().fit(TRAIN)
    np.testing.assert_array_equal(scaler.mean_, [40.0, 75_000.0])
    # (x - mean) / (max - min)
    expected = np.column_stack(
        [[-15 / 30, -5 / 30, 5 / 30, 15 / 30], [-35 / 80, -15 / 80, 5 / 80, 45 / 80]]
    )
    out = scaler.transform(TRAIN)
    np.testing.assert_allclose(out, expected, rtol=1e-15, atol=1e-15)
    np.testing.assert_allclose(out.mean(axis=0), 0.0, atol=1e-15)


@pytest.mark.parametrize("ddof", [0, 1])
def test_standard_scaler_formula(ddof):
    scaler = StandardScaler(ddof=ddof).fit(TRAIN)
    n = len(TRAIN)
    age_std = np.sqrt((15**2 + 5**2 + 5**2 + 15**2) / (n - ddof))
    income_std = np.sqrt((35e3**2 + 15e3**2 + 5e3**2 + 45e3**2) / (n - ddof))
    np.testing.assert_allclose(scaler.std_, [age_std, income_std], rtol=1e-15)
    expected = np.column_stack(
        [np.array([-15, -5, 5, 15]) / age_std, np.array([-35e3, -15e3, 5e3, 45e3]) / income_std]
    )
    out = scaler.transform(TRAIN)
    np.testing.assert_allclose(out, expected, rtol=1e-14)
    np.testing.assert_allclose(out.mean(axis=0), 0.0, atol=1e-15)
    np.testing.assert_allclose(out.std(axis=0, ddof=ddof), 1.0, rtol=1e-14)


def test_test_data_is_scaled_with_the_training_statistics():
    # The test rows lie outside the training range, so their scaled values do too.
    minmax = MinMaxScaler().fit(TRAIN)
    np.testing.assert_allclose(
        minmax.transform(TEST), [[40 / 30, -0.25], [0.5, 35 / 80]], rtol=1e-15
    )
    mean_norm = MeanNormalizer().fit(TRAIN)
    np.testing.assert_allclose(
        mean_norm.transform(TEST), [[25 / 30, -55 / 80], [0.0, 0.0]], atol=1e-15
    )
    standard = StandardScaler().fit(TRAIN)
    np.testing.assert_allclose(
        standard.transform(TEST),
        (TEST - [40.0, 75_000.0]) / np.sqrt([125.0, 8.75e8]),
        rtol=1e-15,
        atol=1e-15,
    )
    # Transforming does not refit: the statistics are still the training ones.
    np.testing.assert_array_equal(minmax.data_min_, [25.0, 40_000.0])
    np.testing.assert_array_equal(standard.mean_, [40.0, 75_000.0])
    # Fitting on the test data instead gives a different answer: the statistics are the point.
    assert not np.allclose(MinMaxScaler().fit_transform(TEST), minmax.transform(TEST))


@pytest.mark.parametrize("scaler_cls", SCALERS, ids=SCALER_IDS)
def test_fit_transform_is_fit_then_transform(scaler_cls):
    np.testing.assert_array_equal(
        scaler_cls().fit_transform(TRAIN), scaler_cls().fit(TRAIN).transform(TRAIN)
    )


def test_per_feature_false_uses_one_global_statistic():
    minmax = MinMaxScaler(per_feature=False).fit(TRAIN)
    assert np.ndim(minmax.data_min_) == 0 and np.ndim(minmax.data_max_) == 0
    assert minmax.data_min_ == 25.0 and minmax.data_max_ == 120_000.0
    np.testing.assert_allclose(
        minmax.transform(TRAIN), (TRAIN - 25.0) / (120_000.0 - 25.0), rtol=1e-15
    )
    standard = StandardScaler(per_feature=False).fit(TRAIN)
    assert standard.mean_ == pytest.approx(TRAIN.mean(), rel=1e-15)
    assert standard.std_ == pytest.approx(TRAIN.std(), rel=1e-15)
    out = standard.transform(TRAIN)
    assert out.mean() == pytest.approx(0.0, abs=1e-15)
    assert out.std() == pytest.approx(1.0, rel=1e-14)
    assert not np.allclose(out.std(axis=0), 1.0)  # the columns are not standardized one by one
    mean_norm = MeanNormalizer(per_feature=False).fit(TRAIN)
    np.testing.assert_allclose(
        mean_norm.transform(TRAIN), (TRAIN - TRAIN.mean()) / (120_000.0 - 25.0), rtol=1e-14
    )


@pytest.mark.parametrize("scaler_cls", SCALERS, ids=SCALER_IDS)
@pytest.mark.parametrize("per_feature", [True, False])
def test_inverse_transform_round_trips(scaler_cls, per_feature, rng):
    train = rng.normal(loc=[3.0, -50.0, 1e3], scale=[1.0, 10.0, 200.0], size=(20, 3))
    test = rng.normal(loc=[3.0, -50.0, 1e3], scale=[1.0, 10.0, 200.0], size=(7, 3))
    scaler = scaler_cls(per_feature=per_feature).fit(train)
    for data in (train, test):
        z = scaler.transform(data)
        assert not np.allclose(z, data)
        np.testing.assert_allclose(scaler.inverse_transform(z), data, rtol=1e-13, atol=1e-12)


@pytest.mark.parametrize(
    ("scaler", "bottom"),
    [
        (MinMaxScaler(), 0.0),
        (MinMaxScaler(feature_range=(-1, 1)), -1.0),
        (MeanNormalizer(), 0.0),
        (StandardScaler(), 0.0),
        (StandardScaler(ddof=1), 0.0),
    ],
    ids=["minmax", "minmax(-1,1)", "mean-normalizer", "standard", "standard-ddof1"],
)
def test_constant_feature_maps_to_the_bottom_of_the_range(scaler, bottom, rng):
    train = np.column_stack([rng.normal(size=10), np.full(10, 7.0), rng.normal(size=10)])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no divide-by-zero RuntimeWarning either
        out = scaler.fit_transform(train)
        back = scaler.inverse_transform(out)
    assert np.all(np.isfinite(out))
    np.testing.assert_array_equal(out[:, 1], bottom)
    assert np.ptp(out[:, 0]) > 0 and np.ptp(out[:, 2]) > 0  # the others are scaled as usual
    np.testing.assert_allclose(back, train, rtol=1e-14, atol=1e-14)


def test_uint8_images_scale_like_pixels_over_255(rng, unchanged):
    images = rng.integers(0, 256, size=(32, 28, 28), dtype=np.uint8)
    images[0, 0, 0], images[1, 0, 0] = 0, 255  # both ends of the range occur
    images[:, :2, :] = 0  # a constant border, as in MNIST
    with unchanged(images, readonly=True):
        scaler = MinMaxScaler(per_feature=False).fit(images)
        out = scaler.transform(images)
    assert out.shape == images.shape and out.dtype == np.float64
    assert scaler.data_min_ == 0 and scaler.data_max_ == 255
    np.testing.assert_allclose(out, images / 255.0, rtol=1e-15)
    np.testing.assert_array_equal(scaler.inverse_transform(out).round().astype(np.uint8), images)


def test_uint8_images_per_pixel(rng):
    images = rng.integers(0, 256, size=(32, 28, 28), dtype=np.uint8)
    images[:, :2, :] = 0  # constant pixels: no statistic to divide by
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = StandardScaler().fit_transform(images)
        mm = MinMaxScaler().fit_transform(images)
    assert out.shape == (32, 28, 28) and np.all(np.isfinite(out)) and np.all(np.isfinite(mm))
    np.testing.assert_array_equal(out[:, :2, :], 0.0)
    np.testing.assert_allclose(out[:, 2:, :].mean(axis=0), 0.0, atol=1e-14)
    np.testing.assert_allclose(out[:, 2:, :].std(axis=0), 1.0, rtol=1e-13)
    np.testing.assert_array_equal(mm[:, :2, :], 0.0)
    np.testing.assert_allclose(mm[:, 2:, :].min(axis=0), 0.0, atol=1e-15)
    np.testing.assert_allclose(mm[:, 2:, :].max(axis=0), 1.0, rtol=1e-15)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_float_dtype_is_kept(dtype, rng):
    x = rng.normal(size=(10, 3)).astype(dtype)
    for scaler_cls in SCALERS:
        scaler = scaler_cls().fit(x)
        z = scaler.transform(x)
        assert z.dtype == dtype
        assert scaler.inverse_transform(z).dtype == dtype


@pytest.mark.parametrize("scaler_cls", SCALERS, ids=SCALER_IDS)
def test_scalers_do_not_modify_their_input(scaler_cls, rng, unchanged):
    train = rng.normal(size=(10, 3))
    test = rng.normal(size=(4, 3))
    for readonly in (False, True):
        with unchanged(train, test, readonly=readonly):
            scaler = scaler_cls().fit(train)
            z = scaler.transform(test)
            scaler.fit_transform(train)
            scaler.inverse_transform(z)
        with unchanged(z, readonly=readonly):
            scaler.inverse_transform(z)
    # transform returns a new array even when nothing needs converting
    out = scaler.transform(train)
    assert not np.shares_memory(out, train)
