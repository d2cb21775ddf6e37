"""A small multilayer perceptron in numpy: dense layers, activations, a container and a loss.

Every layer has the interface of :class:`bnlib.BatchNorm`: ``layer(x, training=...)`` computes the
output and remembers what the backward pass needs, and ``layer.backward(dout)`` returns ``dx`` and
stores the gradients of the layer's parameters as ``d<name>`` (``dkernel``, ``dbias``; ``dgamma``,
``dbeta`` for batch normalization). :class:`Sequential` chains layers, so a network with or
without batch normalization is a list::

    model = Sequential([Dense(784, 100, use_bias=False, seed=0), BatchNorm(), Activation("tanh"),
                        Dense(100, 10, seed=1)])
    logits = model(x, training=True)
    loss, dlogits = softmax_cross_entropy(logits, labels)
    model.backward(dlogits)
    model.sgd_step(0.1)

Chapter 2 uses it to look at activations and gradients layer by layer in a deep network, with and
without batch normalization.
"""

from __future__ import annotations

import numbers

import numpy as np

from ._checks import as_float_array, check_bool, check_integer, check_positive, check_shape

__all__ = [
    "ACTIVATIONS",
    "Activation",
    "Dense",
    "Sequential",
    "glorot_std",
    "softmax_cross_entropy",
]

#: The activation functions :class:`Activation` knows.
ACTIVATIONS = ("linear", "sigmoid", "tanh", "relu")


def _check_units(value, name):
    value = check_integer(value, name)
    if value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value}")
    return value


def _generator(seed):
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None or (
        isinstance(seed, numbers.Integral) and not isinstance(seed, (bool, np.bool_))
    ):
        if seed is not None and seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {seed}")
        return np.random.default_rng(seed)
    raise TypeError(f"seed must be None, a non-negative integer or a numpy Generator, got {seed!r}")


def glorot_std(fan_in, fan_out):
    """The Glorot (Xavier) normal standard deviation, ``sqrt(2 / (fan_in + fan_out))``.

    Weights with this spread keep the variance of activations and of gradients roughly constant
    from layer to layer in a network without saturation (Glorot and Bengio, 2010).

    Parameters
    ----------
    fan_in, fan_out : int > 0
        The number of inputs and outputs of the layer.

    Returns
    -------
    float
    """
    fan_in = _check_units(fan_in, "fan_in")
    fan_out = _check_units(fan_out, "fan_out")
    return float(np.sqrt(2.0 / (fan_in + fan_out)))


class Dense:
    """A fully connected layer, ``y = x @ kernel + bias``.

    Parameters
    ----------
    in_features : int > 0
        D_in, the number of input features.
    units : int > 0
        D_out, the number of outputs.
    weight_scale : float > 0
        The kernel is drawn from a normal distribution with mean 0 and standard deviation
        ``weight_scale * glorot_std(in_features, units)``: 1 is Glorot (Xavier) normal, 0.5 and 2
        are half and twice that spread.
    weight_std : float > 0, optional
        An absolute standard deviation for the kernel instead (then ``weight_scale`` is ignored).
    use_bias : bool
        False for a layer followed by batch normalization, whose ``beta`` makes a bias redundant.
    seed : int, numpy.random.Generator or None
        The source of the initial kernel.
    dtype : floating dtype
        Of ``kernel`` and ``bias`` (float64 by default, for gradient checks).

    Attributes
    ----------
    kernel : ndarray, shape (in_features, units)
    bias : ndarray, shape (units,), zeros at first; None if ``use_bias=False``
    dkernel, dbias : ndarray or None
        Gradients from the most recent :meth:`backward` (``dbias`` is None without a bias).
    """

    def __init__(
        self,
        in_features,
        units,
        weight_scale=1.0,
        weight_std=None,
        use_bias=True,
        seed=None,
        dtype=np.float64,
    ):
        self.in_features = _check_units(in_features, "in_features")
        self.units = _check_units(units, "units")
        self.weight_scale = check_positive(weight_scale, "weight_scale")
        if weight_std is not None:
            weight_std = check_positive(weight_std, "weight_std")
        self.use_bias = check_bool(use_bias, "use_bias")
        dtype = np.dtype(dtype)
        if not np.issubdtype(dtype, np.floating):
            raise TypeError(f"dtype must be a floating-point dtype, got {dtype}")
        std = (
            weight_std
            if weight_std is not None
            else self.weight_scale * glorot_std(in_features, units)
        )
        self.weight_std = float(std)
        rng = _generator(seed)
        self.kernel = (std * rng.standard_normal((self.in_features, self.units))).astype(dtype)
        self.bias = np.zeros(self.units, dtype) if self.use_bias else None
        self.dkernel = None
        self.dbias = None
        self._x = None

    def __repr__(self):
        return (
            f"Dense(in_features={self.in_features}, units={self.units}, "
            f"weight_std={self.weight_std:.4g}, use_bias={self.use_bias})"
        )

    def __call__(self, x, training=False):
        """Apply the layer to ``x``, shape (N, in_features); returns shape (N, units). Not modified.

        ``training`` is accepted for a uniform layer interface; a dense layer computes the same
        thing either way. The input is kept for :meth:`backward`.
        """
        check_bool(training, "training")
        x = as_float_array(x, "x", min_ndim=2)
        if x.ndim != 2 or x.shape[1] != self.in_features:
            raise ValueError(
                f"x must have shape (N, {self.in_features}) (a batch of {self.in_features} features), "
                f"got {x.shape}"
            )
        self._x = x
        y = x @ self.kernel
        if self.use_bias:
            y = y + self.bias
        return y

    def backward(self, dout):
        """Gradients of the most recent call: returns ``dx = dout @ kernel.T``.

        Sets ``dkernel = x.T @ dout`` and ``dbias = dout.sum(axis=0)``.

        Parameters
        ----------
        dout : array_like, shape (N, units)
            The upstream gradient. Not modified.

        Returns
        -------
        dx : ndarray, shape (N, in_features)
        """
        if self._x is None:
            raise RuntimeError(
                "backward() needs a preceding call: the layer has not been called yet"
            )
        dout = as_float_array(dout, "dout")
        check_shape(dout, (self._x.shape[0], self.units), "dout", "the shape of the layer's output")
        self.dkernel = self._x.T @ dout
        self.dbias = dout.sum(axis=0) if self.use_bias else None
        return dout @ self.kernel.T


def _sigmoid(x):
    # exp of a non-positive number never overflows: 1 / (1 + e^-x) for x >= 0, e^x / (1 + e^x) else.
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(x.dtype, copy=False)


class Activation:
    """An element-wise activation function: ``"linear"``, ``"sigmoid"``, ``"tanh"`` or ``"relu"``.

    Parameters
    ----------
    name : str
        One of :data:`ACTIVATIONS`.
    """

    def __init__(self, name):
        if name not in ACTIVATIONS:
            raise ValueError(f"name must be one of {ACTIVATIONS}, got {name!r}")
        self.name = name
        self._x = None
        self._y = None

    def __repr__(self):
        return f"Activation({self.name!r})"

    def __call__(self, x, training=False):
        """Apply the function element-wise; any shape. ``x`` is not modified."""
        check_bool(training, "training")
        x = as_float_array(x, "x")
        if self.name == "linear":
            y = x.copy()
        elif self.name == "sigmoid":
            y = _sigmoid(x)
        elif self.name == "tanh":
            y = np.tanh(x)
        else:
            y = np.maximum(x, 0.0).astype(x.dtype, copy=False)
        self._x, self._y = x, y
        return y

    def derivative(self):
        """The local derivative ``f'(x)`` at the most recent input, same shape.

        sigmoid: ``y (1 - y)`` (at most 1/4); tanh: ``1 - y**2`` (at most 1); relu: 1 where
        ``x > 0``, else 0; linear: 1.
        """
        if self._x is None:
            raise RuntimeError(
                "derivative() needs a preceding call: the layer has not been called yet"
            )
        y = self._y
        if self.name == "sigmoid":
            return y * (1.0 - y)
        if self.name == "tanh":
            return 1.0 - y * y
        if self.name == "relu":
            return (self._x > 0).astype(y.dtype)
        return np.ones_like(y)

    def backward(self, dout):
        """``dx = dout * f'(x)`` for the most recent call. ``dout`` has the input's shape."""
        local = self.derivative()
        dout = as_float_array(dout, "dout")
        check_shape(dout, local.shape, "dout", "the shape of the layer's input")
        return dout * local


class Sequential:
    """Layers applied one after the other, and backpropagated through in reverse.

    Parameters
    ----------
    layers : sequence of layers
        Each has ``layer(x, training=...)`` and ``layer.backward(dout)``: :class:`Dense`,
        :class:`Activation` and :class:`bnlib.BatchNorm` all do.

    Attributes
    ----------
    layers : list
    """

    #: The parameters a layer may have; each one's gradient is the attribute named "d" + name.
    PARAMETER_NAMES = ("kernel", "bias", "gamma", "beta")

    def __init__(self, layers):
        layers = list(layers)
        if not layers:
            raise ValueError("layers must contain at least one layer")
        for i, layer in enumerate(layers):
            if not (callable(layer) and callable(getattr(layer, "backward", None))):
                raise TypeError(
                    f"layers[{i}] must be a layer with __call__(x, training) and backward(dout), "
                    f"got {type(layer).__name__}"
                )
        self.layers = layers

    def __repr__(self):
        inner = ",\n    ".join(repr(layer) for layer in self.layers)
        return f"Sequential([\n    {inner},\n])"

    def forward(self, x, training=False):
        """Apply every layer in order; ``training`` is passed on (it matters for BatchNorm)."""
        training = check_bool(training, "training")
        for layer in self.layers:
            x = layer(x, training=training)
        return x

    __call__ = forward

    def backward(self, dout):
        """Backpropagate ``dout`` (the gradient of the loss with respect to the output).

        Every layer stores the gradients of its parameters; returns the gradient with respect to
        the network's input.
        """
        for layer in reversed(self.layers):
            dout = layer.backward(dout)
        return dout

    def parameters(self):
        """The trainable parameters: a list of ``(layer, name)`` pairs, in layer order.

        ``getattr(layer, name)`` is the parameter and ``getattr(layer, "d" + name)`` its gradient.
        Parameters that a layer does not have (``bias`` with ``use_bias=False``) are left out.
        """
        return [
            (layer, name)
            for layer in self.layers
            for name in self.PARAMETER_NAMES
            if getattr(layer, name, None) is not None
        ]

    def sgd_step(self, learning_rate):
        """One step of plain gradient descent on every parameter, with the stored gradients.

        Each parameter is replaced by a new array ``value - learning_rate * gradient`` (never
        updated in place, so earlier references keep their values).
        """
        learning_rate = check_positive(learning_rate, "learning_rate")
        for layer, name in self.parameters():
            grad = getattr(layer, "d" + name, None)
            if grad is None:
                raise RuntimeError(
                    f"{type(layer).__name__}.d{name} is not set: call backward() before sgd_step()"
                )
            value = getattr(layer, name)
            setattr(layer, name, (value - learning_rate * grad).astype(value.dtype, copy=False))


def softmax_cross_entropy(logits, labels):
    """Mean softmax cross-entropy over a batch, and its gradient with respect to the logits.

    ``loss = mean_i( logsumexp(logits[i]) - logits[i, labels[i]] )``, computed stably (the row
    maximum is subtracted first), and ``dlogits = (softmax(logits) - onehot(labels)) / N``.

    Parameters
    ----------
    logits : array_like, shape (N, C)
        Unnormalized scores, one row per example. Not modified.
    labels : array_like of int, shape (N,)
        The correct class of each example, in ``[0, C)``.

    Returns
    -------
    loss : float
    dlogits : ndarray, shape (N, C)
    """
    logits = as_float_array(logits, "logits", min_ndim=2)
    if logits.ndim != 2 or logits.shape[0] < 1 or logits.shape[1] < 1:
        raise ValueError(f"logits must have shape (N, C) with N, C >= 1, got {logits.shape}")
    n, c = logits.shape
    labels = np.asarray(labels)
    if labels.dtype == object or not (
        np.issubdtype(labels.dtype, np.integer) and not np.issubdtype(labels.dtype, np.bool_)
    ):
        raise TypeError(
            f"labels must be an array of integers (class indices), got dtype {labels.dtype}"
        )
    if labels.shape != (n,):
        raise ValueError(
            f"labels must have shape ({n},) (one class index per row of logits), got {labels.shape}"
        )
    if np.any(labels < 0) or np.any(labels >= c):
        raise ValueError(
            f"labels must lie in [0, {c}) (one of the {c} classes), got values outside it"
        )
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    total = exp.sum(axis=1, keepdims=True)
    rows = np.arange(n)
    loss = float(np.mean(np.log(total[:, 0]) - shifted[rows, labels]))
    dlogits = exp / total
    dlogits[rows, labels] -= 1.0
    return loss, dlogits / n
