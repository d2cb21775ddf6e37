"""The real MNIST digits, offline.

The repository ships all 70,000 MNIST images in ``data/mnist.npz`` (see ``data/README.md`` for
where they come from and their licence). :func:`load_mnist` returns exactly what
``keras.datasets.mnist.load_data()`` returns, without touching the network.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

__all__ = ["load_mnist", "mnist_path"]

_ENV_VAR = "BNLIB_MNIST"
_KEYS = ("x_train", "y_train", "x_test", "y_test")


def mnist_path() -> Path:
    """Where :func:`load_mnist` looks: ``$BNLIB_MNIST`` if set, else ``data/mnist.npz`` in the repository."""
    env = os.environ.get(_ENV_VAR)
    if env:
        return Path(env)
    return Path(__file__).resolve().parent.parent / "data" / "mnist.npz"


def load_mnist(path=None):
    """Load MNIST as ``(x_train, y_train), (x_test, y_test)``, like ``keras.datasets.mnist.load_data()``.

    Parameters
    ----------
    path : str or Path, optional
        An ``.npz`` with arrays ``x_train``, ``y_train``, ``x_test``, ``y_test``. Defaults to
        :func:`mnist_path`.

    Returns
    -------
    (x_train, y_train), (x_test, y_test)
        ``x_train``: uint8, shape (60000, 28, 28), pixel values 0..255; ``y_train``: uint8,
        shape (60000,), digits 0..9; ``x_test``: uint8, (10000, 28, 28); ``y_test``: uint8,
        (10000,). Fresh arrays on each call.
    """
    path = Path(path) if path is not None else mnist_path()
    if not path.is_file():
        raise FileNotFoundError(
            f"path: no MNIST file at {path}. It ships with the course repository as data/mnist.npz; "
            f"run from a clone with bnlib installed by `pip install -e .`, or set ${_ENV_VAR} "
            "to the file's location."
        )
    with np.load(path, allow_pickle=False) as archive:
        missing = [k for k in _KEYS if k not in archive.files]
        if missing:
            raise ValueError(f"path: {path} lacks the arrays {missing}; expected {list(_KEYS)}")
        x_train, y_train, x_test, y_test = (archive[k] for k in _KEYS)
    return (x_train, y_train), (x_test, y_test)
