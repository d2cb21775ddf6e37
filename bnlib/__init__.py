"""bnlib: batch normalization from the inside out, in numpy.

The library behind the course's chapters: input scalers (chapter 1), the batch normalization
forward and backward passes and a layer with moving statistics (chapters 3-5), numerical gradient
checking (chapter 4), and the real MNIST digits offline.
"""

from .batchnorm import (
    BatchNorm,
    BatchNormCache,
    batch_norm_backward,
    batch_norm_forward,
    batch_norm_inference,
    batch_statistics,
)
from .data import load_mnist, mnist_path
from .folding import fold_batch_norm
from .gradcheck import numerical_gradient, rel_error
from .scalers import MeanNormalizer, MinMaxScaler, StandardScaler

__version__ = "0.1.0"

__all__ = [
    "BatchNorm",
    "BatchNormCache",
    "MeanNormalizer",
    "MinMaxScaler",
    "StandardScaler",
    "batch_norm_backward",
    "batch_norm_forward",
    "batch_norm_inference",
    "batch_statistics",
    "fold_batch_norm",
    "load_mnist",
    "mnist_path",
    "numerical_gradient",
    "rel_error",
]
