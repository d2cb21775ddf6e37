"""The MNIST file shipped in data/: its identity, and how load_mnist finds it and fails."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

import bnlib
from bnlib import load_mnist, mnist_path

# SHA-256 of each array's raw bytes (C order), computed once from data/mnist.npz. Together with
# the shapes and dtypes they pin the data down exactly: any changed pixel or label changes them.
SHA256 = {
    "x_train": "741c988805d008ac6e4c904b69001ba184c24b2c540a4ef403f4c71b676cf757",
    "y_train": "1feba77c54802fa5339a11837ea4b2866434b83314ec45192930f1df69120c13",
    "x_test": "6d87418db22cc8025d05968bec9bd5c3932904b23485740db143a061a2c9d161",
    "y_test": "ddeff807876a9661a1110d45c266c86239a3a1b7d37da0c3716a7a683c852ff5",
}
TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


@pytest.fixture(scope="module")
def mnist():
    """The shipped file, loaded once, as load_mnist() finds it with no BNLIB_MNIST override."""
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("BNLIB_MNIST", raising=False)
        (x_train, y_train), (x_test, y_test) = load_mnist()
    return {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}


@pytest.fixture(autouse=True)
def _no_env_override(monkeypatch):
    monkeypatch.delenv("BNLIB_MNIST", raising=False)


def test_shapes_and_dtypes(mnist):
    expected = {
        "x_train": (60000, 28, 28),
        "y_train": (60000,),
        "x_test": (10000, 28, 28),
        "y_test": (10000,),
    }
    for name, shape in expected.items():
        assert mnist[name].shape == shape, name
        assert mnist[name].dtype == np.uint8, name


def test_labels(mnist):
    assert np.bincount(mnist["y_train"], minlength=10).tolist() == TRAIN_COUNTS
    assert np.bincount(mnist["y_test"], minlength=10).tolist() == TEST_COUNTS
    assert mnist["y_train"][:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert mnist["y_train"].max() == 9 and mnist["y_test"].max() == 9


def test_pixel_range(mnist):
    for name in ("x_train", "x_test"):
        assert mnist[name].min() == 0 and mnist[name].max() == 255, name


@pytest.mark.parametrize("name", list(SHA256))
def test_fingerprint(mnist, name):
    arr = np.ascontiguousarray(mnist[name])
    assert hashlib.sha256(arr.tobytes()).hexdigest() == SHA256[name]


def test_default_path_is_the_repository_data_folder():
    path = mnist_path()
    assert path == Path(bnlib.__file__).resolve().parent.parent / "data" / "mnist.npz"
    assert path.is_file()


def test_each_call_returns_fresh_arrays(mnist):
    (x_train, y_train), _ = load_mnist()
    assert not np.shares_memory(x_train, mnist["x_train"])
    assert not np.shares_memory(y_train, mnist["y_train"])


def _write_small_npz(path, **overrides):
    arrays = {
        "x_train": np.arange(2 * 28 * 28, dtype=np.uint8).reshape(2, 28, 28),
        "y_train": np.array([3, 7], np.uint8),
        "x_test": np.full((1, 28, 28), 9, np.uint8),
        "y_test": np.array([1], np.uint8),
    }
    arrays.update(overrides)
    np.savez(path, **{k: v for k, v in arrays.items() if v is not None})
    return arrays


def test_explicit_path(tmp_path):
    arrays = _write_small_npz(tmp_path / "small.npz")
    for path in (tmp_path / "small.npz", str(tmp_path / "small.npz")):
        (x_train, y_train), (x_test, y_test) = load_mnist(path)
        np.testing.assert_array_equal(x_train, arrays["x_train"])
        np.testing.assert_array_equal(y_train, arrays["y_train"])
        np.testing.assert_array_equal(x_test, arrays["x_test"])
        np.testing.assert_array_equal(y_test, arrays["y_test"])


def test_environment_variable_is_honoured(tmp_path, monkeypatch):
    arrays = _write_small_npz(tmp_path / "elsewhere.npz")
    monkeypatch.setenv("BNLIB_MNIST", str(tmp_path / "elsewhere.npz"))
    assert mnist_path() == tmp_path / "elsewhere.npz"
    (x_train, y_train), _ = load_mnist()
    assert x_train.shape == (2, 28, 28)
    np.testing.assert_array_equal(y_train, arrays["y_train"])


def test_missing_file(tmp_path, monkeypatch):
    missing = tmp_path / "nowhere" / "mnist.npz"
    with pytest.raises(FileNotFoundError, match=r"^path: no MNIST file at .*nowhere.*BNLIB_MNIST"):
        load_mnist(missing)
    with pytest.raises(FileNotFoundError, match=r"^path: no MNIST file"):
        load_mnist(tmp_path)  # a directory is not the file either
    monkeypatch.setenv("BNLIB_MNIST", str(missing))
    with pytest.raises(FileNotFoundError, match=r"^path: no MNIST file at .*nowhere"):
        load_mnist()


def test_npz_missing_arrays(tmp_path):
    path = tmp_path / "partial.npz"
    _write_small_npz(path, y_train=None, y_test=None)
    with pytest.raises(
        ValueError, match=r"^path: .*partial\.npz lacks the arrays \['y_train', 'y_test'\]"
    ):
        load_mnist(path)
