"""bnlib: batch normalization from the inside out, in numpy.

The library behind the course's chapters: input scalers (chapter 1), a small numpy multilayer
perceptron (chapter 2), the batch normalization forward and backward passes and a layer with moving
statistics (chapters 3-5), numerical gradient checking (chapter 4), folding BN into the layer before
it (chapter 5), the variants that normalize over other axes or renormalize (layer, instance, group
and weight normalization, batch renormalization; chapter 7), and the real MNIST digits offline.
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
from .nn import ACTIVATIONS, Activation, Dense, Sequential, glorot_std, softmax_cross_entropy
from .scalers import MeanNormalizer, MinMaxScaler, StandardScaler
from .variants import (
    BatchRenormCache,
    NormCache,
    WeightNormCache,
    batch_renorm_backward,
    batch_renorm_forward,
    batch_renorm_update,
    group_norm_backward,
    group_norm_forward,
    instance_norm_backward,
    instance_norm_forward,
    layer_norm_backward,
    layer_norm_forward,
    weight_norm_backward,
    weight_norm_forward,
)

__version__ = "0.1.0"

__all__ = [
    "ACTIVATIONS",
    "Activation",
    "BatchNorm",
    "BatchNormCache",
    "BatchRenormCache",
    "Dense",
    "MeanNormalizer",
    "MinMaxScaler",
    "NormCache",
    "Sequential",
    "StandardScaler",
    "WeightNormCache",
    "batch_norm_backward",
    "batch_norm_forward",
    "batch_norm_inference",
    "batch_renorm_backward",
    "batch_renorm_forward",
    "batch_renorm_update",
    "batch_statistics",
    "fold_batch_norm",
    "glorot_std",
    "group_norm_backward",
    "group_norm_forward",
    "instance_norm_backward",
    "instance_norm_forward",
    "layer_norm_backward",
    "layer_norm_forward",
    "load_mnist",
    "mnist_path",
    "numerical_gradient",
    "rel_error",
    "softmax_cross_entropy",
    "weight_norm_backward",
    "weight_norm_forward",
]
