"""The two source articles' Keras models, built as published, with reduced twins that fit a budget.

Two of the course's source articles give a Keras model with and without batch normalization
and never show it run to a result. This module builds both, layer for layer, so the appendix
("The sources' models, run") can run them, and chapter 6 can reuse the CNN:

Source 003's MLP (:func:`mlp_003`)
    ``Flatten`` of a 28×28 image → ``Dense(128)`` → [``BatchNormalization``] → ``ReLU`` →
    ``Dense(64)`` → [``BatchNormalization``] → ``ReLU`` → ``Dense(10, softmax)``. The dense layers
    keep their bias, also in front of BN (where the mean subtraction cancels it, so its gradient is
    zero). The article builds the two ``Sequential`` models and stops: no ``compile``, no ``fit``.
Source 004's CNN (:func:`cnn_004`)
    ``Conv2D(32, 3, relu)`` → BN → ``Conv2D(64, 3, relu)`` → BN → ``MaxPooling2D(2)`` →
    ``Flatten`` → ``Dense(128, relu)`` → BN → ``Dense(10, softmax)``: BN *after* every ReLU,
    although the article's text recommends BN before the activation. The article compiles it with
    Adam and ``categorical_crossentropy`` on one-hot labels (``to_categorical``) and fits it for 5
    epochs of batch 128 with ``validation_data=(x_test, y_test)``.

Deviations from the published code, all optional except the first:

1. **The input and the container.** Both articles build a ``keras.Sequential`` and pass
   ``input_shape=`` to its first layer, which Keras 3 accepts with a ``UserWarning`` ("Do not pass
   an `input_shape`/`input_dim` argument to a layer"). The builders start from
   ``keras.Input(shape)`` instead, as the warning asks, and apply the same layers in the same
   order as a functional ``keras.Model``: the same layers, the same function, and under one seed
   the same initial weights, but with a defined ``model.input``, which the course's probes
   (``bncourse.stacked.precise_bn``) need and a Keras 3 ``Sequential`` lacks until it is called.
   ``published_input=True`` returns the article's ``Sequential``, warning included.
2. **Logits** (``logits=True``): the last ``Dense(10)`` has no softmax, and the softmax moves into
   the loss (``from_logits=True``, as every trainer of ``bncourse.stacked`` computes it), which is
   the same function computed more stably.
3. **A reduced twin** (``input_shape`` and ``width``): every layer's units and filters are
   multiplied by ``width`` (rounded, at least 1), and the input may be smaller, e.g. 14×14
   digits from :func:`pool_2x2`. ``width=1`` with the default input is the published size.
4. **Other placements of BN** (CNN only, ``placement="before"``): ``Conv2D``/``Dense`` without
   bias → BN → ``ReLU``, the order the article's text recommends; ``placement="none"`` removes
   every BN layer, the model "without BN" the article does not build.

Chapter 6's quarter-width CNN on 14×14 digits is ``cnn_004(placement, input_shape=(14, 14, 1),
width=0.25, logits=True)``. See the appendix for the runs and what they show.
"""

from __future__ import annotations

import numpy as np

from bncourse._keras import keras

__all__ = ["PLACEMENTS", "mlp_003", "cnn_004", "pool_2x2", "layer_sequence"]

PLACEMENTS = ("after", "before", "none")


def _check_width(width) -> float:
    if isinstance(width, (bool, np.bool_)) or not isinstance(width, (int, float, np.number)):
        raise TypeError(f"width must be a positive number, got {type(width).__name__} {width!r}")
    if not np.isfinite(width) or width <= 0:
        raise ValueError(f"width must be a positive number, got {width!r}")
    return float(width)


def _check_shape(input_shape, rank: int, name: str = "input_shape") -> tuple[int, ...]:
    try:
        shape = tuple(input_shape)
    except TypeError:
        raise TypeError(
            f"{name} must be a tuple of {rank} positive ints, got {input_shape!r}"
        ) from None
    if len(shape) != rank or not all(
        isinstance(d, (int, np.integer)) and not isinstance(d, (bool, np.bool_)) and d >= 1
        for d in shape
    ):
        raise ValueError(f"{name} must be a tuple of {rank} positive ints, got {input_shape!r}")
    return tuple(int(d) for d in shape)


def _check_bool(value, name: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {type(value).__name__} {value!r}")
    return bool(value)


def _scaled(units: int, width: float) -> int:
    return max(1, int(round(units * width)))


def _first(layer_class, input_shape, published_input, *args, **kwargs):
    """The model's first layer: with ``input_shape=`` as published (Keras 3 warns), or without."""
    if published_input:
        return [layer_class(*args, input_shape=input_shape, **kwargs)]
    return [layer_class(*args, **kwargs)]


def _assemble(layers, input_shape, published_input, name):
    """The published ``Sequential``, or the same layers applied in order to ``keras.Input``."""
    if published_input:
        return keras.Sequential(layers, name=name)
    inputs = keras.Input(shape=input_shape)
    h = inputs
    for layer in layers:
        h = layer(h)
    return keras.Model(inputs, h, name=name)


def mlp_003(bn, input_shape=(28, 28), width=1.0, logits=False, published_input=False):
    """Source 003's MNIST MLP, with or without batch normalization.

    ``Flatten`` → ``Dense(128)`` → [BN] → ``ReLU`` → ``Dense(64)`` → [BN] → ``ReLU`` →
    ``Dense(10, softmax)``, (see the module docstring for the deviations).

    Parameters
    ----------
    bn : bool
        Insert ``BatchNormalization()`` between each hidden ``Dense`` and its ``ReLU``.
    input_shape : tuple of 2 int, default (28, 28)
        One image, ``(H, W)``; the model takes ``(B, H, W)`` and flattens it to ``(B, H * W)``.
    width : float, default 1.0
        Multiplies the hidden units (128 and 64), rounded, at least 1.
    logits : bool, default False
        Output logits (no softmax): the form ``bncourse.stacked``'s trainers expect.
    published_input : bool, default False
        Pass ``input_shape=`` to ``Flatten`` as the article does (Keras 3 warns) instead of
        starting with ``keras.Input``.

    Returns
    -------
    keras.Model
        ``(B, H, W)`` → ``(B, 10)`` probabilities (or logits); a functional model, or
        ``keras.Sequential`` if ``published_input``.
    """
    bn = _check_bool(bn, "bn")
    input_shape = _check_shape(input_shape, 2)
    width = _check_width(width)
    logits = _check_bool(logits, "logits")
    published_input = _check_bool(published_input, "published_input")
    layers = _first(keras.layers.Flatten, input_shape, published_input)
    for units in (128, 64):
        layers.append(keras.layers.Dense(_scaled(units, width)))
        if bn:
            layers.append(keras.layers.BatchNormalization())
        layers.append(keras.layers.ReLU())
    layers.append(keras.layers.Dense(10, activation=None if logits else "softmax"))
    return _assemble(layers, input_shape, published_input, "mlp_003_bn" if bn else "mlp_003")


def cnn_004(
    placement="after", input_shape=(28, 28, 1), width=1.0, logits=False, published_input=False
):
    """Source 004's MNIST CNN, with BN after the activations (as published), before them, or none.

    ``Conv2D(32, 3)`` → ``Conv2D(64, 3)`` → ``MaxPooling2D(2)`` → ``Flatten`` → ``Dense(128)`` →
    ``Dense(10, softmax)``, every hidden layer with a ReLU and a BN layer placed by ``placement``,
    (see the module docstring for the deviations).

    Parameters
    ----------
    placement : {"after", "before", "none"}, default "after"
        ``"after"``: ``Conv2D/Dense(..., activation="relu")`` → BN, the published code.
        ``"before"``: ``Conv2D/Dense(..., use_bias=False)`` → BN → ``ReLU``.
        ``"none"``: ``Conv2D/Dense(..., activation="relu")``, no BN layer.
    input_shape : tuple of 3 int, default (28, 28, 1)
        One image, ``(H, W, C)``; ``H`` and ``W`` at least 6 (two valid 3×3 convolutions, then a
        2×2 pooling).
    width : float, default 1.0
        Multiplies the filters (32, 64) and the dense units (128), rounded, at least 1;
        ``width=0.25`` gives 8, 16 and 32.
    logits : bool, default False
        Output logits (no softmax).
    published_input : bool, default False
        Pass ``input_shape=`` to the first ``Conv2D`` as the article does (Keras 3 warns).

    Returns
    -------
    keras.Model
        ``(B, H, W, C)`` → ``(B, 10)`` probabilities (or logits); a functional model, or
        ``keras.Sequential`` if ``published_input``.
    """
    if not isinstance(placement, str) or placement not in PLACEMENTS:
        raise ValueError(f"placement must be 'after', 'before' or 'none', got {placement!r}")
    input_shape = _check_shape(input_shape, 3)
    if min(input_shape[:2]) < 6:
        raise ValueError(
            f"input_shape must be at least 6x6 (two 3x3 convolutions and a 2x2 pool), "
            f"got {input_shape!r}"
        )
    width = _check_width(width)
    logits = _check_bool(logits, "logits")
    published_input = _check_bool(published_input, "published_input")

    def block(layer_class, units, *args, first=False):
        if placement == "before":
            kwargs = {"use_bias": False}
            tail = [keras.layers.BatchNormalization(), keras.layers.ReLU()]
        else:
            kwargs = {"activation": "relu"}
            tail = [keras.layers.BatchNormalization()] if placement == "after" else []
        if first:
            head = _first(layer_class, input_shape, published_input, units, *args, **kwargs)
        else:
            head = [layer_class(units, *args, **kwargs)]
        return head + tail

    layers = block(keras.layers.Conv2D, _scaled(32, width), (3, 3), first=True)
    layers += block(keras.layers.Conv2D, _scaled(64, width), (3, 3))
    layers += [keras.layers.MaxPooling2D((2, 2)), keras.layers.Flatten()]
    layers += block(keras.layers.Dense, _scaled(128, width))
    layers.append(keras.layers.Dense(10, activation=None if logits else "softmax"))
    return _assemble(layers, input_shape, published_input, f"cnn_004_{placement}")


def pool_2x2(images):
    """2×2 average pooling of images: 28×28 digits become 14×14 (chapter 6's cheaper copies).

    Parameters
    ----------
    images : array, shape (N, H, W) or (N, H, W, C)
        ``H`` and ``W`` even.

    Returns
    -------
    ndarray, float32, shape (N, H // 2, W // 2) or (N, H // 2, W // 2, C)
        A new array; ``images`` is not modified.
    """
    x = np.asarray(images)
    if x.ndim not in (3, 4) or x.shape[1] % 2 or x.shape[2] % 2:
        raise ValueError(
            f"images must be (N, H, W) or (N, H, W, C) with H and W even, got shape {x.shape}"
        )
    n, h, w = x.shape[:3]
    pooled = x.astype(np.float32).reshape(n, h // 2, 2, w // 2, 2, *x.shape[3:]).mean(axis=(2, 4))
    return pooled.astype(np.float32)


def layer_sequence(model):
    """The model's layers as short strings, e.g. ``["Conv2D(32, relu)", "BatchNormalization"]``.

    Parameters
    ----------
    model : keras.Model

    Returns
    -------
    list of str
        One entry per layer (the ``InputLayer`` left out): the class name, with the units or
        filters and the activation (if it is not linear) of ``Dense`` and ``Conv2D`` layers.
    """
    if not isinstance(model, keras.Model):
        raise TypeError(f"model must be a keras.Model, got {type(model).__name__}")
    out = []
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        name = type(layer).__name__
        size = getattr(layer, "units", None) or getattr(layer, "filters", None)
        if size is not None:
            activation = getattr(layer.activation, "__name__", "linear")
            name += f"({size}" + ("" if activation == "linear" else f", {activation}") + ")"
        out.append(name)
    return out
