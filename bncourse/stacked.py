"""Many small Keras networks trained as one model ("stacked networks"), and how to score them.

A claim drawn from training runs needs several seeds per setting; training them one after the
other is slow on a CPU. Networks that share an architecture can instead be *stacked* along an
extra axis and trained as one Keras model, which costs little more than training one of them:

- activations have shape ``(B, n, units)`` and network ``s`` reads its own batch from column
  ``s``; a dense layer of the stack is a ``keras.layers.EinsumDense`` with the equation
  ``"bsi,sio->bso"`` (kernel ``(n, I, O)``, bias ``(n, O)``), see :func:`stacked_dense`;
- normalization layers are applied without mixing the networks (:func:`normalize`): batch
  normalization of the flattened ``(B, n * units)`` stack gives every feature of every network
  its own statistics, group normalization with ``n * groups`` groups keeps every group inside one
  network, and layer normalization is group normalization with one group per network;
- the loss is the sum of the networks' losses (:func:`make_trainer`); no parameter is shared, so
  the gradient with respect to network ``s``'s parameters is the gradient of its own loss, and
  with a per-coordinate optimizer (SGD, Adam) the stack trains exactly like ``n`` separate runs.
  With plain SGD a loss weight ``c_s`` multiplies network ``s``'s learning rate by ``c_s``, so one
  stack can sweep learning rates;
- short runs are scored after *precise BN* (:func:`precise_bn`, :func:`evaluate`): the moving
  statistics are replaced by the mean and variance of each BN layer's input over training data.

Seeds are cheap with stacks: ``n`` seeds of a setting are ``n`` networks of one stack, each with
its own initial weights and its own batches (:func:`batch_indices`). See chapter 6 ("Many small
networks at once") for the technique and its check against plain Keras models.
"""

from __future__ import annotations

import logging
import weakref

import numpy as np

from bncourse._checks import positive_int as _positive_int
from bncourse._keras import keras, tf

__all__ = [
    "PLACEMENTS",
    "NORMS",
    "glorot",
    "stacked_dense",
    "normalize",
    "hidden_block",
    "stacked_mlp",
    "stacked_conv",
    "normalize_maps",
    "stacked_cnn",
    "batch_indices",
    "make_trainer",
    "make_plain_trainer",
    "make_train_step",
    "stack",
    "restart",
    "bn_layers",
    "normalized_std",
    "layer_input",
    "precise_bn",
    "stacked_accuracy",
    "network_accuracies",
    "accuracy",
    "moving_statistics",
    "evaluate",
    "copy_network",
    "plain_mlp",
]

PLACEMENTS = ("after", "before", "none")
NORMS = ("batch", "group", "layer")


# ------------------------------------------------------------------------------------ layers


def glorot(fan_in: int, fan_out: int, scale: float = 1.0) -> keras.initializers.RandomUniform:
    """Keras's default kernel initializer (Glorot uniform) for one network, times ``scale``.

    ``keras.initializers.GlorotUniform`` reads the fans from the kernel's shape, which is wrong
    for a stacked ``(n, fan_in, fan_out)`` kernel; this one is given them explicitly.

    Parameters
    ----------
    fan_in, fan_out : int
        Inputs and outputs of one network's layer.
    scale : float, default 1.0
        Factor on the limit ``sqrt(6 / (fan_in + fan_out))`` of the uniform distribution.

    Returns
    -------
    keras.initializers.RandomUniform
        Uniform on ``(-limit, limit)``, ``limit = scale * sqrt(6 / (fan_in + fan_out))``.
    """
    fan_in = _positive_int(fan_in, "fan_in")
    fan_out = _positive_int(fan_out, "fan_out")
    if not (np.isfinite(scale) and scale > 0):
        raise ValueError(f"scale must be a positive number, got {scale!r}")
    limit = float(scale) * np.sqrt(6.0 / (fan_in + fan_out))
    return keras.initializers.RandomUniform(-limit, limit)


def stacked_dense(n, fan_in, units, use_bias=True, activation=None, name=None, scale=1.0):
    """``n`` independent ``Dense(units)`` layers as one ``EinsumDense``: ``(B, n, fan_in) -> (B, n, units)``.

    Network ``s`` uses ``kernel[s]`` (shape ``(fan_in, units)``) and ``bias[s]`` only; kernels
    start from :func:`glorot` of one network (times ``scale``), biases from zeros, as Keras's
    ``Dense`` does.

    Parameters
    ----------
    n : int
        Number of stacked networks.
    fan_in, units : int
        Inputs and outputs of one network's layer.
    use_bias : bool, default True
    activation : str or callable, optional
        As in ``keras.layers.Dense``.
    name : str, optional
        Layer name.
    scale : float, default 1.0
        Factor on Glorot's initial kernel limit.

    Returns
    -------
    keras.layers.EinsumDense
        Equation ``"bsi,sio->bso"``, kernel ``(n, fan_in, units)``, bias ``(n, units)``.
    """
    n = _positive_int(n, "n")
    units = _positive_int(units, "units")
    return keras.layers.EinsumDense(
        "bsi,sio->bso",
        output_shape=(n, units),
        bias_axes="so" if use_bias else None,
        activation=activation,
        kernel_initializer=glorot(fan_in, units, scale),
        name=name,
    )


def normalize(h, kind, n, units, groups=8, name=None):
    """A Keras normalization layer applied to ``n`` stacked networks without mixing them.

    Parameters
    ----------
    h : KerasTensor, shape (B, n, units)
        Stacked activations.
    kind : {"batch", "group", "layer"}
        ``"batch"``: ``BatchNormalization`` of the flattened ``(B, n * units)`` stack, so every
        feature of every network has its own batch statistics, ``gamma``, ``beta`` and moving
        averages. ``"group"``: ``GroupNormalization`` with ``n * groups`` groups of consecutive
        features of the flattened stack, each inside one network. ``"layer"``: layer
        normalization of each network, as ``GroupNormalization`` with ``n`` groups (one per
        network, each with its own ``gamma`` and ``beta``; ``LayerNormalization`` of the last
        axis would share them between the networks). Both equal ``LayerNormalization`` of one
        network: the same statistics and the same default ``epsilon``, 1e-3.
    n, units : int
        Number of networks and units per network.
    groups : int, default 8
        Groups per network for ``kind="group"``; must divide ``units``.
    name : str, optional
        Name of the normalization layer.

    Returns
    -------
    KerasTensor, shape (B, n, units)
    """
    n = _positive_int(n, "n")
    units = _positive_int(units, "units")
    if kind not in NORMS:
        raise ValueError(f"kind must be 'batch', 'group' or 'layer', got {kind!r}")
    flat = keras.layers.Reshape((n * units,))(h)
    if kind == "batch":
        out = keras.layers.BatchNormalization(name=name)(flat)
    elif kind == "layer":
        # Layer normalization of each network: one group per network. (LayerNormalization of the
        # last axis would normalize per network too, but share gamma and beta between networks.)
        out = keras.layers.GroupNormalization(groups=n, name=name)(flat)
    else:
        groups = _positive_int(groups, "groups")
        if units % groups:
            raise ValueError(f"groups ({groups}) must divide units ({units})")
        out = keras.layers.GroupNormalization(groups=n * groups, name=name)(flat)
    return keras.layers.Reshape((n, units))(out)


def hidden_block(h, n, fan_in, units, placement, norm="batch", scale=1.0, groups=8):
    """One hidden layer of ``n`` stacked networks, with the normalization before or after the ReLU.

    Parameters
    ----------
    h : KerasTensor, shape (B, n, fan_in)
    n, fan_in, units : int
    placement : {"after", "before", "none"}
        ``"after"``: ``Dense(activation="relu")`` → normalization; ``"before"``:
        ``Dense(use_bias=False)`` → normalization → ReLU; ``"none"``: ``Dense(activation="relu")``.
    norm : {"batch", "group", "layer"}, default "batch"
        See :func:`normalize`.
    scale : float, default 1.0
        Factor on Glorot's initial kernel limit.
    groups : int, default 8
        Groups per network for ``norm="group"``.

    Returns
    -------
    KerasTensor, shape (B, n, units)
    """
    if placement == "after":
        h = stacked_dense(n, fan_in, units, activation="relu", scale=scale)(h)
        return normalize(h, norm, n, units, groups)
    if placement == "before":
        h = stacked_dense(n, fan_in, units, use_bias=False, scale=scale)(h)
        return keras.layers.ReLU()(normalize(h, norm, n, units, groups))
    if placement == "none":
        return stacked_dense(n, fan_in, units, activation="relu", scale=scale)(h)
    raise ValueError(f"placement must be 'after', 'before' or 'none', got {placement!r}")


def stacked_mlp(n, widths, placement, norm="batch", n_in=196, input_bn=False, n_out=10, groups=8):
    """``n`` stacked multilayer perceptrons: ``(B, n, n_in)`` → hidden blocks → ``(B, n, n_out)`` logits.

    Parameters
    ----------
    n : int
        Number of networks.
    widths : sequence of int
        Units of the hidden layers, each a :func:`hidden_block`.
    placement : {"after", "before", "none"}
        Where the normalization goes in every hidden block.
    norm : {"batch", "group", "layer"}, default "batch"
    n_in : int, default 196
        Inputs per network (196 for 14×14 digits, 784 for 28×28).
    input_bn : bool, default False
        Batch-normalize the inputs first (the first dense model of chapter 2).
    n_out : int, default 10
        Logits per network (no softmax: use ``from_logits=True``).
    groups : int, default 8
        Groups per network for ``norm="group"``.

    Returns
    -------
    keras.Model
    """
    n = _positive_int(n, "n")
    n_in = _positive_int(n_in, "n_in")
    inputs = keras.Input(shape=(n, n_in))
    h = normalize(inputs, "batch", n, n_in) if input_bn else inputs
    fan_in = n_in
    for units in widths:
        h = hidden_block(h, n, fan_in, units, placement, norm, groups=groups)
        fan_in = units
    return keras.Model(inputs, stacked_dense(n, fan_in, n_out)(h))


def stacked_conv(n, channels_in, filters, kernel_size=3, name=None):
    """``n`` independent convolutions of one network's ``(H, W, channels_in)`` maps, as Keras layers.

    The stack's feature maps hold the networks side by side along the channel axis: network ``s``
    owns channels ``s * C`` to ``(s + 1) * C - 1``. ``Conv2D(groups=n)`` would keep them apart,
    but TensorFlow's CPU kernels for grouped convolutions are slow (about 100 ms for a forward and
    backward pass of 12 networks at batch 32) and have no input gradient of their own. So:

    - with ``channels_in == 1`` (the first layer): a ``DepthwiseConv2D`` with
      ``depth_multiplier=filters`` on the ``n`` input channels, which *is* a
      ``Conv2D(filters, kernel_size)`` of each network's one channel;
    - otherwise a depthwise-separable convolution: ``DepthwiseConv2D`` (one ``k × k`` filter per
      channel) then a ``1 × 1`` convolution inside each network (an ``EinsumDense``, kernel
      ``(n, channels_in, filters)``), as in MobileNet's blocks.

    No bias (the normalization that follows has ``beta``); ``padding="same"``. Kernels start from
    :func:`glorot` with one network's fans, as Keras initializes a single network's layers.

    Parameters
    ----------
    n : int
        Number of stacked networks.
    channels_in, filters : int
        Input channels and filters of one network's layer.
    kernel_size : int, default 3
    name : str, optional
        Prefix of the layers' names.

    Returns
    -------
    callable
        ``(B, H, W, n * channels_in)`` → ``(B, H, W, n * filters)``.
    """
    n = _positive_int(n, "n")
    channels_in = _positive_int(channels_in, "channels_in")
    filters = _positive_int(filters, "filters")
    kernel_size = _positive_int(kernel_size, "kernel_size")
    area = kernel_size * kernel_size
    multiplier = filters if channels_in == 1 else 1
    depthwise = keras.layers.DepthwiseConv2D(
        kernel_size,
        padding="same",
        depth_multiplier=multiplier,
        use_bias=False,
        depthwise_initializer=glorot(area, area * multiplier),
        name=None if name is None else f"{name}_depthwise",
    )
    if channels_in == 1:
        return depthwise

    def layer(h):
        height, width = h.shape[1], h.shape[2]
        h = keras.layers.Reshape((height, width, n, channels_in))(depthwise(h))
        h = keras.layers.EinsumDense(
            "bhwsc,scf->bhwsf",
            output_shape=(height, width, n, filters),
            kernel_initializer=glorot(channels_in, filters),
            name=None if name is None else f"{name}_pointwise",
        )(h)
        return keras.layers.Reshape((height, width, n * filters))(h)

    return layer


def normalize_maps(h, kind, n, channels, groups=4, name=None):
    """A Keras normalization layer on the feature maps of ``n`` stacked CNNs, without mixing them.

    Parameters
    ----------
    h : KerasTensor, shape (B, H, W, n * channels)
        Feature maps, network ``s`` in channels ``s * channels`` to ``(s + 1) * channels - 1``.
    kind : {"batch", "group", "layer"}
        ``"batch"``: ``BatchNormalization`` of the channel axis, statistics per channel over the
        batch and the positions (what BN does in a CNN). ``"group"``: ``GroupNormalization`` with
        ``n * groups`` groups of consecutive channels, so each network has ``groups`` groups and
        each group's statistics come from one example's positions and channels in the group.
        ``"layer"``: one group per network: the statistics of one example's whole feature map
        (layer normalization over ``(H, W, C)``, the paper's convolutional form).
    n, channels : int
        Networks and channels per network.
    groups : int, default 4
        Groups per network for ``kind="group"``; must divide ``channels``.
    name : str, optional

    Returns
    -------
    KerasTensor, shape (B, H, W, n * channels)
    """
    n = _positive_int(n, "n")
    channels = _positive_int(channels, "channels")
    if kind not in NORMS:
        raise ValueError(f"kind must be 'batch', 'group' or 'layer', got {kind!r}")
    if kind == "batch":
        return keras.layers.BatchNormalization(name=name)(h)
    if kind == "layer":
        return keras.layers.GroupNormalization(groups=n, name=name)(h)
    groups = _positive_int(groups, "groups")
    if channels % groups:
        raise ValueError(f"groups ({groups}) must divide channels ({channels})")
    return keras.layers.GroupNormalization(groups=n * groups, name=name)(h)


def stacked_cnn(n, filters=(8, 16), norm="batch", side=14, n_out=10, groups=4):
    """``n`` stacked small CNNs: ``(B, n, side * side)`` images → conv blocks → ``(B, n, n_out)`` logits.

    Each network is ``side × side × 1`` → [convolution with ``f`` filters of ``3 × 3`` →
    normalization → ReLU → ``MaxPooling2D(2)``] for each ``f`` in ``filters`` → flatten →
    ``Dense(n_out)``. The first convolution is a ``Conv2D``; the others are depthwise-separable
    (see :func:`stacked_conv`, which says why). The flat inputs are the ones
    :func:`make_trainer`, :func:`stacked_accuracy` and :func:`evaluate` use for MLPs; the model
    reshapes them into images, network ``s``'s image in channel ``s``.

    Parameters
    ----------
    n : int
        Number of networks.
    filters : sequence of int, default (8, 16)
        Filters of the conv blocks, each a :func:`stacked_conv` followed by :func:`normalize_maps`.
    norm : {"batch", "group", "layer"}, default "batch"
    side : int, default 14
        Images are ``side × side``; each block halves the maps (rounding down), so ``side`` must
        be at least ``2 ** len(filters)``.
    n_out : int, default 10
    groups : int, default 4
        Groups per network for ``norm="group"``; must divide every entry of ``filters``.

    Returns
    -------
    keras.Model
    """
    n = _positive_int(n, "n")
    side = _positive_int(side, "side")
    filters = [_positive_int(f, "filters") for f in filters]
    if not filters or side < 2 ** len(filters):
        raise ValueError(
            f"side ({side}) must be at least 2 ** len(filters) (filters={tuple(filters)}): "
            "every block halves the maps"
        )
    inputs = keras.Input(shape=(n, side * side))
    h = keras.layers.Reshape((n, side, side))(inputs)
    h = keras.layers.Permute((2, 3, 1))(h)  # (B, side, side, n): network s reads channel s
    c_in = 1
    for f in filters:
        h = stacked_conv(n, c_in, f)(h)
        h = keras.layers.ReLU()(normalize_maps(h, norm, n, f, groups))
        h = keras.layers.MaxPooling2D(2)(h)
        c_in = f
    rest = side
    for _ in filters:
        rest //= 2  # MaxPooling2D(2) drops an odd last row and column
    h = keras.layers.Reshape((rest, rest, n, c_in))(h)
    h = keras.layers.Permute((3, 1, 2, 4))(h)  # (B, n, rest, rest, C): one network per row
    h = keras.layers.Reshape((n, rest * rest * c_in))(h)
    return keras.Model(inputs, stacked_dense(n, rest * rest * c_in, n_out)(h))


# ---------------------------------------------------------------------------------- training


def batch_indices(n, steps, batch, seed, pool):
    """Training-row indices for ``n`` networks: each takes its own shuffled passes over ``pool``.

    Parameters
    ----------
    n, steps, batch : int
        Networks, steps and batch size.
    seed : int
        Seed of the shuffles (derive it from ``bncourse.evidence.seed``).
    pool : int or 1-D array of int
        The rows to draw from: ``range(pool)`` for an int, else the given row indices.

    Returns
    -------
    ndarray of int32, shape (steps, batch, n)
        Column ``s`` (``idx[..., s].ravel()``) is a concatenation of independent permutations of
        ``pool``, cut to ``steps * batch`` entries: every row appears once per pass.
    """
    n = _positive_int(n, "n")
    steps = _positive_int(steps, "steps")
    batch = _positive_int(batch, "batch")
    if isinstance(pool, (int, np.integer)) and not isinstance(pool, (bool, np.bool_)):
        pool = np.arange(_positive_int(pool, "pool"))
    else:
        pool = np.asarray(pool)
        if pool.ndim != 1 or pool.size == 0 or not np.issubdtype(pool.dtype, np.integer):
            raise ValueError(
                f"pool must be a positive int or a non-empty 1-D array of row indices, got "
                f"shape {pool.shape}, dtype {pool.dtype}"
            )
    rng = np.random.default_rng(seed)
    need = steps * batch
    passes = -(-need // pool.size)
    columns = [
        np.concatenate([rng.permutation(pool) for _ in range(passes)])[:need] for _ in range(n)
    ]
    return np.stack(columns, axis=-1).reshape(steps, batch, n).astype(np.int32)


def _as_tensor(values, dtype):
    """A tensor of ``dtype``: a tensor of that dtype as it is (no copy), anything else converted."""
    if isinstance(values, tf.Tensor) and values.dtype == dtype:
        return values
    return tf.constant(np.asarray(values, dtype.as_numpy_dtype))


def make_trainer(model, optimizer, n, data, labels, loss_weights=None, last=20):
    """A compiled training loop for ``n`` stacked networks.

    ``trainer(idx)`` runs ``len(idx)`` steps; step ``t`` gives network ``s`` the rows
    ``idx[t, :, s]`` of ``data``. The loss is ``sum_s loss_weights[s] * loss_s`` with ``loss_s``
    network ``s``'s mean sparse categorical cross-entropy (from logits) over its batch. The loop
    is traced once, for any number of steps and any batch size.

    Parameters
    ----------
    model : keras.Model
        ``(B, n, D)`` → ``(B, n, classes)`` logits, e.g. from :func:`stacked_mlp`.
    optimizer : keras.optimizers.Optimizer
        Built here for ``model.trainable_variables``; its state persists between calls.
    n : int
        Number of networks in the stack.
    data : array or tf.Tensor, shape (N, D)
        Training inputs, shared by all networks. A float32 ``tf.Tensor`` is used as it is; an
        array is copied into one (pass a tensor to share one copy between several trainers).
    labels : array of int, shape (N,)
        Training labels.
    loss_weights : array, shape (n,), optional
        Per-network loss factors (with plain SGD: learning-rate factors). Default: ones.
    last : int, default 20
        The returned losses are averaged over the last ``last`` steps of a call.

    Returns
    -------
    callable
        ``trainer(idx)`` with ``idx`` an int array ``(steps, B, n)``; returns a float32 array
        ``(n,)``: each network's mean training loss over the last ``last`` steps.
    """
    n = _positive_int(n, "n")
    last = _positive_int(last, "last")
    data, labels = _as_tensor(data, tf.float32), _as_tensor(labels, tf.int32)
    if data.shape.rank < 2 or labels.shape.rank != 1 or data.shape[0] != labels.shape[0]:
        raise ValueError(
            f"data must be (N, D) and labels (N,), got {tuple(data.shape)} and {tuple(labels.shape)}"
        )
    weights = np.ones(n) if loss_weights is None else np.asarray(loss_weights, np.float64)
    if weights.shape != (n,):
        raise ValueError(f"loss_weights must have shape ({n},), got {weights.shape}")
    weights = tf.constant(weights, tf.float32)
    optimizer.build(model.trainable_variables)

    def step(idx):  # idx: (B, n)
        xb, yb = tf.gather(data, idx), tf.gather(labels, idx)  # (B, n, D), (B, n)
        with tf.GradientTape() as tape:
            logits = model(xb, training=True)  # (B, n, classes)
            losses = tf.reduce_mean(
                keras.losses.sparse_categorical_crossentropy(yb, logits, from_logits=True), axis=0
            )  # (n,): one loss per network
            total = tf.reduce_sum(weights * losses)
        grads = tape.gradient(total, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return losses

    def loop(idx):  # idx: (steps, B, n)
        steps = tf.shape(idx)[0]
        recent = tf.zeros([n])
        for t in tf.range(steps):
            losses = step(idx[t])
            recent += tf.where(t >= steps - last, losses, tf.zeros_like(losses))
        return recent / tf.cast(tf.minimum(steps, last), tf.float32)

    compiled = tf.function(
        loop, input_signature=[tf.TensorSpec([None, None, n], tf.int32)]
    ).get_concrete_function()

    def trainer(idx):
        idx = np.asarray(idx)
        if idx.ndim != 3 or idx.shape[2] != n or idx.shape[0] < 1 or idx.shape[1] < 1:
            raise ValueError(f"idx must have shape (steps, batch, {n}), got {idx.shape}")
        if idx.min() < 0 or idx.max() >= data.shape[0]:
            raise ValueError(f"idx must index rows 0 to {data.shape[0] - 1} of data")
        return compiled(tf.constant(idx, tf.int32)).numpy()

    return trainer


def make_plain_trainer(model, optimizer, data, labels, last=20):
    """A compiled training loop for one plain Keras model (for architectures that do not stack).

    ``trainer(idx)`` runs ``len(idx)`` steps of mean sparse categorical cross-entropy (from
    logits) on the rows ``idx[t]`` of ``data``; traced once, for any number of steps and any
    batch size. Convolutions, for example: a stack of them would need grouped convolutions, which
    are slow on a CPU, so several seeds of a CNN are trained one after the other with
    :func:`restart` between them.

    Parameters
    ----------
    model : keras.Model
        ``(B, ...)`` → ``(B, classes)`` logits.
    optimizer : keras.optimizers.Optimizer
        Built here for ``model.trainable_variables``.
    data : array or tf.Tensor, shape (N, ...)
        Training inputs (a float32 ``tf.Tensor`` is used without a copy).
    labels : array of int, shape (N,)
    last : int, default 20
        The returned loss is averaged over the last ``last`` steps of a call.

    Returns
    -------
    callable
        ``trainer(idx)`` with ``idx`` an int array ``(steps, B)``; returns the mean training loss
        over the last ``last`` steps (a float).
    """
    last = _positive_int(last, "last")
    data, labels = _as_tensor(data, tf.float32), _as_tensor(labels, tf.int32)
    if data.shape.rank < 2 or labels.shape.rank != 1 or data.shape[0] != labels.shape[0]:
        raise ValueError(
            f"data must be (N, ...) and labels (N,), got {tuple(data.shape)} and "
            f"{tuple(labels.shape)}"
        )
    optimizer.build(model.trainable_variables)

    def loop(idx):  # idx: (steps, B)
        steps = tf.shape(idx)[0]
        recent = tf.zeros([])
        for t in tf.range(steps):
            with tf.GradientTape() as tape:
                logits = model(tf.gather(data, idx[t]), training=True)
                loss = tf.reduce_mean(
                    keras.losses.sparse_categorical_crossentropy(
                        tf.gather(labels, idx[t]), logits, from_logits=True
                    )
                )
            grads = tape.gradient(loss, model.trainable_variables)
            optimizer.apply_gradients(zip(grads, model.trainable_variables))
            recent += tf.where(t >= steps - last, loss, 0.0)
        return recent / tf.cast(tf.minimum(steps, last), tf.float32)

    compiled = tf.function(
        loop, input_signature=[tf.TensorSpec([None, None], tf.int32)]
    ).get_concrete_function()

    def trainer(idx):
        idx = np.asarray(idx)
        if idx.ndim != 2 or idx.shape[0] < 1 or idx.shape[1] < 1:
            raise ValueError(f"idx must have shape (steps, batch), got {idx.shape}")
        if idx.min() < 0 or idx.max() >= data.shape[0]:
            raise ValueError(f"idx must index rows 0 to {data.shape[0] - 1} of data")
        return float(compiled(tf.constant(idx, tf.int32)).numpy())

    return trainer


def make_train_step(model, optimizer, variables=None, training=True):
    """One compiled training step of a stack, for hand-written loops (chapter 5).

    ``step(xb, yb)`` takes a batch per network, ``xb`` of shape ``(B, n, D)`` and labels ``yb``
    of shape ``(B, n)``, and applies one update for the loss ``sum_s loss_s``, the sum of the
    networks' mean sparse categorical cross-entropies (from logits). It returns that loss.

    Parameters
    ----------
    model : keras.Model
        ``(B, n, D)`` → ``(B, n, classes)``.
    optimizer : keras.optimizers.Optimizer
    variables : list of variables, optional
        What the optimizer updates; the model's trainable variables by default. Giving fewer
        freezes the rest without changing how the model runs.
    training : bool, default True
        The mode the model is called in: with True, BN layers normalize with the batch's
        statistics and update their moving averages (unless the layer is not trainable).
    """
    variables = model.trainable_variables if variables is None else variables

    @tf.function
    def train_step(xb, yb):
        with tf.GradientTape() as tape:
            losses = keras.losses.sparse_categorical_crossentropy(
                yb, model(xb, training=training), from_logits=True
            )
            loss = tf.reduce_sum(tf.reduce_mean(losses, axis=0))
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return loss

    return train_step


def stack(x, n):
    """The same examples for each of ``n`` stacked networks: ``(N, D)`` → ``(N, n, D)``, a view."""
    x = np.asarray(x)
    if x.ndim != 2:
        raise ValueError(f"x must be (N, D), got shape {x.shape}")
    return np.broadcast_to(x[:, None], (len(x), _positive_int(n, "n"), x.shape[-1]))


def restart(model, weights, optimizer, learning_rate=None):
    """Start a new run with a compiled trainer: initial ``weights``, a fresh optimizer state.

    Parameters
    ----------
    model : keras.Model
    weights : list of arrays
        From ``model.get_weights()`` (or of a model of the same architecture).
    optimizer : keras.optimizers.Optimizer
        Every state variable (moments, iteration count) is set to zero; the learning rate, which
        Keras 3 also keeps among ``optimizer.variables``, is not.
    learning_rate : float, optional
        The new learning rate (unchanged if None).
    """
    model.set_weights(weights)
    rate = getattr(optimizer, "_learning_rate", None)
    for v in optimizer.variables:
        if v is not rate:
            v.assign(tf.zeros_like(v))
    if learning_rate is not None:
        optimizer.learning_rate = learning_rate


# -------------------------------------------------------------------------------- evaluation


_COMPILED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _compiled(model, key, build):
    """A compiled function of ``model`` (an inference-mode forward pass, a probe), made once.

    Kept per model (weakly: the compiled function holds no reference to ``model`` itself, so both
    go when the model goes); ``build(model)`` makes the Keras model or callable to compile.
    Compiled calls avoid the per-layer overhead of eager execution, which dominates for small
    models evaluated many times. Every model gets its own ``tf.function``, traced once (the input
    signature fixes everything but the batch size); TensorFlow's warning about "frequent
    retracing", which counts the tracings of all of them together, is a false alarm here and is
    kept out of the output.
    """
    cache = _COMPILED.setdefault(model, {})
    if key not in cache:
        target = build(model)
        if (
            target is model
        ):  # reach the model through a weak reference: no cycle key -> value -> key
            ref = weakref.ref(model)

            def function(x):
                return ref()(x, training=False)

        else:

            def function(x):
                return target(x, training=False)

        spec = [tf.TensorSpec((None, *model.input.shape[1:]), model.input.dtype)]
        compiled = tf.function(function, input_signature=spec)

        def quiet(x):
            logger = tf.get_logger()
            level = logger.level
            logger.setLevel(logging.ERROR)
            try:
                return compiled(x)
            finally:
                logger.setLevel(level)

        cache[key] = quiet
    return cache[key]


def _rows_per_chunk(row_size: int, chunk: int) -> int:
    """Rows per forward pass: at most ``chunk``, and at most about 4 million input values."""
    return max(1, min(int(chunk), (1 << 22) // max(1, int(row_size))))


def _mean_var64(z, axis):
    """Mean and variance of ``z`` over every axis but ``axis``, in float64, a block of features at a time."""
    z = np.moveaxis(np.asarray(z), axis, -1)
    z = z.reshape(-1, z.shape[-1])
    mean, var = np.empty(z.shape[1]), np.empty(z.shape[1])
    step = max(1, (1 << 22) // max(1, z.shape[0]))  # about 32 MB of float64 per block
    for j in range(0, z.shape[1], step):
        block = z[:, j : j + step].astype(np.float64)
        mean[j : j + step] = block.mean(axis=0)
        var[j : j + step] = block.var(axis=0)
    return mean, var


def bn_layers(model):
    """The ``keras.layers.BatchNormalization`` layers of ``model``, in order."""
    return [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]


def layer_input(model, layer, x, chunk=1000):
    """What ``layer`` of ``model`` receives for inputs ``x``, in inference mode.

    A compiled probe (made once per model and layer), run over ``x`` a chunk of rows at a time.

    Parameters
    ----------
    model : keras.Model
        A functional model.
    layer : keras.layers.Layer or str
        One of its layers (or its name), with a single input.
    x : array, shape (N, ...)
        Inputs of the model.
    chunk : int, default 1000
        Rows per forward pass at most (fewer when a pass would hold more than about 4 million
        input values).

    Returns
    -------
    ndarray, float32, shape (N, ...)
        The layer's input for every row of ``x``.
    """
    if isinstance(layer, str):
        layer = model.get_layer(layer)
    probe = _compiled(model, ("input of", layer.name), lambda m: keras.Model(m.input, layer.input))
    x = np.asarray(x, np.float32)
    rows = _rows_per_chunk(int(np.prod(x.shape[1:])), chunk)
    return np.concatenate([probe(x[i : i + rows]).numpy() for i in range(0, len(x), rows)])


def precise_bn(model, x):
    """Precise BN: every BN layer's moving statistics become the mean and variance of its input.

    Layer by layer, in inference mode, so each BN layer sees the ones before it with their new
    statistics (chapter 5). The statistics are computed in float64 (then stored in the layer's
    dtype), so they do not depend on the summation order of a float32 reduction.

    Parameters
    ----------
    model : keras.Model
        A functional model; its ``BatchNormalization`` layers are updated in place.
    x : array
        Inputs of the model (for a stack, ``(N, n, D)``: e.g. the same rows repeated for every
        network).

    Returns
    -------
    int
        The number of BN layers updated (0 if there are none).
    """
    layers = bn_layers(model)
    x = np.asarray(x, np.float32)
    for bn in layers:
        z = layer_input(model, bn, x)
        axis = np.atleast_1d(bn.axis)
        if axis.size != 1:
            raise ValueError(f"{bn.name}: precise_bn supports one feature axis, got axis={bn.axis}")
        mean, var = _mean_var64(z, int(axis[0]) % z.ndim)
        bn.moving_mean.assign(mean.astype(bn.moving_mean.dtype))
        bn.moving_variance.assign(var.astype(bn.moving_variance.dtype))
    return len(layers)


def stacked_accuracy(model, n, x, y, chunk=1000):
    """Inference-mode accuracy of each of ``n`` stacked networks on the same examples.

    Parameters
    ----------
    model : keras.Model
        ``(B, n, D)`` → ``(B, n, classes)``.
    n : int
    x : array, shape (N, D)
        Test inputs, given to every network.
    y : array of int, shape (N,)
        Test labels.
    chunk : int, default 1000
        Examples per forward pass at most (fewer when a pass would hold more than about 4
        million input values, to bound the memory).

    Returns
    -------
    ndarray, shape (n,)
        The fraction of ``x`` each network classifies correctly.
    """
    n = _positive_int(n, "n")
    x, y = np.asarray(x), np.asarray(y)
    if x.ndim != 2 or y.shape != (len(x),):
        raise ValueError(f"x must be (N, D) and y (N,), got {x.shape} and {y.shape}")
    forward = _compiled(model, "forward", lambda m: m)
    x = np.asarray(x, np.float32)
    rows = _rows_per_chunk(n * x.shape[1], chunk)
    correct = np.zeros(n)
    for i in range(0, len(x), rows):
        logits = forward(np.repeat(x[i : i + rows, None], n, axis=1)).numpy()
        correct += np.sum(np.argmax(logits, axis=-1) == y[i : i + rows, None], axis=0)
    return correct / len(x)


def network_accuracies(model, x, y, chunk=500):
    """:func:`stacked_accuracy` with ``n`` read off the model's input ``(B, n, D)``."""
    return stacked_accuracy(model, model.input_shape[1], x, y, chunk=chunk)


def moving_statistics(model, n):
    """Each BN layer's moving mean and variance, per network.

    Parameters
    ----------
    model : keras.Model
        A stack of ``n`` networks whose BN layers normalize ``(B, n * units)``.
    n : int

    Returns
    -------
    list of (mean, variance) pairs of float32 arrays of shape (n, units)
        One pair per BN layer, in order; row ``s`` belongs to network ``s``.
    """
    n = _positive_int(n, "n")
    return [
        (bn.moving_mean.numpy().reshape(n, -1), bn.moving_variance.numpy().reshape(n, -1))
        for bn in bn_layers(model)
    ]


def accuracy(model, x, y, chunk=1000):
    """Inference-mode accuracy of a plain Keras model (logits of shape ``(B, classes)``).

    Parameters
    ----------
    model : keras.Model
    x : array, shape (N, ...)
    y : array of int, shape (N,)
    chunk : int, default 1000
        Examples per forward pass at most (fewer when a pass would hold more than about 4
        million input values, to bound the memory).

    Returns
    -------
    float
        The fraction of ``x`` classified correctly.
    """
    x, y = np.asarray(x, np.float32), np.asarray(y)
    if y.shape != (len(x),):
        raise ValueError(f"y must have shape ({len(x)},), got {y.shape}")
    forward = _compiled(model, "forward", lambda m: m)
    rows = _rows_per_chunk(int(np.prod(x.shape[1:])), chunk)
    correct = 0
    for i in range(0, len(x), rows):
        logits = forward(x[i : i + rows]).numpy()
        correct += int(np.sum(np.argmax(logits, axis=-1) == y[i : i + rows]))
    return correct / len(x)


def evaluate(model, n, x_train, x_test, y_test, n_precise=1000, moving=True):
    """Test accuracy of ``n`` stacked networks with their moving statistics, then after precise BN.

    Parameters
    ----------
    model : keras.Model
    n : int
    x_train : array, shape (N, D)
        Its first ``n_precise`` rows give every network its precise statistics.
    x_test, y_test : arrays, shapes (M, D) and (M,)
    n_precise : int, default 1000
    moving : bool, default True
        Also score the moving statistics as trained (before they are replaced).

    Returns
    -------
    acc_moving : ndarray, shape (n,), or None
        Accuracy with the statistics as trained (None if ``moving=False`` and there is BN).
    acc_precise : ndarray, shape (n,)
        Accuracy after :func:`precise_bn` (the same as ``acc_moving`` for a model without BN).
    """
    has_bn = bool(bn_layers(model))
    acc_moving = stacked_accuracy(model, n, x_test, y_test) if moving or not has_bn else None
    if not has_bn:
        return acc_moving, acc_moving
    precise_bn(model, np.repeat(np.asarray(x_train)[:n_precise, None], n, axis=1))
    return acc_moving, stacked_accuracy(model, n, x_test, y_test)


def copy_network(stacked, s, plain):
    """Load network ``s`` of a stacked model into a model of the same architecture.

    ``plain`` is a plain Keras model (``Dense``, ``BatchNormalization``, ... layers in the same
    order as the stack's weighted layers) or a stack of one network.

    Parameters
    ----------
    stacked : keras.Model
        A stack of ``n`` networks built from :func:`stacked_dense` and :func:`normalize`.
    s : int
        Which network, ``0 <= s < n``.
    plain : keras.Model
        The target, modified in place.
    """
    src = [layer for layer in stacked.layers if layer.weights]
    dst = [layer for layer in plain.layers if layer.weights]
    if len(src) != len(dst):
        raise ValueError(
            f"the models differ: {len(src)} layers with weights in the stack, {len(dst)} in plain"
        )
    for a, b in zip(src, dst):
        if len(a.weights) != len(b.weights):
            raise ValueError(f"layers {a.name} and {b.name} have different numbers of weights")
        if isinstance(a, keras.layers.DepthwiseConv2D):  # kernel (k, k, n * C, multiplier)
            (w,), shape = a.get_weights(), b.weights[0].shape
            c = shape[2]
            if not 0 <= s < w.shape[2] // c:
                raise ValueError(f"s must be in 0..{w.shape[2] // c - 1}, got {s}")
            new = [w[:, :, s * c : (s + 1) * c, :].reshape(shape)]
        elif isinstance(a, keras.layers.EinsumDense):  # kernel (n, I, O), bias (n, O)
            n = a.weights[0].shape[0]
            if not 0 <= s < n:
                raise ValueError(f"s must be in 0..{n - 1}, got {s}")
            new = [np.asarray(w)[s].reshape(v.shape) for w, v in zip(a.weights, b.weights)]
        else:  # normalization over n * units features: network s owns a slice of them
            units = int(np.prod(b.weights[0].shape))
            new = [
                np.asarray(w)[s * units : (s + 1) * units].reshape(v.shape)
                for w, v in zip(a.weights, b.weights)
            ]
            if any(w.size != units for w in new):
                raise ValueError(f"network {s} is not in layer {a.name}")
        b.set_weights(new)


def plain_mlp(widths, n_in, n_out=10):
    """One network of ``stacked_mlp(n, widths, "before", n_in=n_in)`` as ordinary Keras layers.

    ``(Dense(w, use_bias=False) -> BN -> ReLU)`` per width, then ``Dense(n_out)``; the layers are
    named ``dense_i``, ``bn_i`` (from 1) and ``logits``. Load network ``s`` of a stack into it
    with :func:`copy_network`.
    """
    inputs = keras.Input(shape=(_positive_int(n_in, "n_in"),))
    h = inputs
    for i, units in enumerate(widths, start=1):
        h = keras.layers.Dense(_positive_int(units, "widths"), use_bias=False, name=f"dense_{i}")(h)
        h = keras.layers.ReLU()(keras.layers.BatchNormalization(name=f"bn_{i}")(h))
    return keras.Model(inputs, keras.layers.Dense(n_out, name="logits")(h))


def normalized_std(model, x):
    """The standard deviation of BN's normalized activation x̂, per BN layer and network, in training mode.

    One forward pass of a stack built by :func:`stacked_mlp` on one batch: every BN layer uses the
    batch's statistics (as in the first training step), and nothing is updated. With
    ``var`` a feature's batch variance, its x̂ has standard deviation ``sqrt(var / (var + epsilon))``:
    1 only when ``var`` is much larger than ``epsilon`` (chapter 6, the initial-scale sweep).

    Parameters
    ----------
    model : keras.Model
        A stack of ``n`` networks from :func:`stacked_mlp` (a chain of layers, BN over
        ``(B, n * units)``).
    x : array, shape (B, n, D)
        One batch per network.

    Returns
    -------
    ndarray, float64, shape (BN layers, n)
        The standard deviation of x̂ over the batch and the units of each network.
    """
    x = np.asarray(x, np.float32)
    if x.ndim != 3:
        raise ValueError(f"x must be (B, n, D), got shape {x.shape}")
    n, h, out = x.shape[1], x, []
    for layer in model.layers[1:]:
        if isinstance(layer, keras.layers.BatchNormalization):
            z = np.asarray(h, np.float64)
            var = z.var(axis=0)
            xhat = (z - z.mean(axis=0)) / np.sqrt(var + layer.epsilon)
            out.append(np.sqrt(np.mean((var / (var + layer.epsilon)).reshape(n, -1), axis=1)))
            gamma, beta = (np.asarray(w, np.float64) for w in (layer.gamma, layer.beta))
            h = (gamma * xhat + beta).astype(np.float32)
        else:
            h = np.asarray(layer(h))
    return np.array(out)
