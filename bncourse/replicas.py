"""One Keras layer on several replicas of ``tf.distribute.MirroredStrategy``, seen from outside.

Chapter 7 ("Across devices") runs ``keras.layers.BatchNormalization`` under a
``MirroredStrategy`` over two logical CPUs and compares what it computes with bnlib. The
scaffolding for that lives here:

- :func:`logical_cpus` splits the physical CPU into logical devices (before TensorFlow
  initializes its devices, i.e. before any TensorFlow operation);
- :func:`per_replica` hands replica ``i`` its own slice of a batch;
- :func:`training_step` runs one training-mode call on every replica and collects the outputs,
  the gradients for ``x``, ``gamma`` and ``beta``, and every replica's copy of the moving
  statistics;
- :func:`moving_variance` is the same for a layer with ``momentum=0``: its moving variance after
  one step is the variance it normalized with.
"""

from __future__ import annotations

import numpy as np

from bncourse._keras import tf

__all__ = ["logical_cpus", "per_replica", "training_step", "moving_variance"]


def logical_cpus(n=2):
    """Split the first physical CPU into ``n`` logical devices; return their names.

    Must run before TensorFlow initializes its devices (any TensorFlow operation does); if they
    are already initialized with ``n`` logical CPUs, returns their names unchanged.

    Raises
    ------
    RuntimeError
        If TensorFlow's devices are already initialized with another number of logical CPUs.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    cpu = tf.config.list_physical_devices("CPU")[0]
    try:
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * n
        )
    except RuntimeError:
        names = [d.name for d in tf.config.list_logical_devices("CPU")]
        if len(names) != n:
            raise RuntimeError(
                f"TensorFlow's devices are already initialized with {len(names)} logical CPU(s); "
                f"logical_cpus({n}) must run before any TensorFlow operation"
            ) from None
        return names
    return [d.name for d in tf.config.list_logical_devices("CPU")]


def per_replica(strategy, slices):
    """A distributed value whose replica ``i`` holds ``slices[i]`` (one array per replica)."""
    if len(slices) != strategy.num_replicas_in_sync:
        raise ValueError(
            f"need one slice per replica: {len(slices)} slices, {strategy.num_replicas_in_sync} replicas"
        )
    return strategy.experimental_distribute_values_from_function(
        lambda ctx: tf.constant(slices[ctx.replica_id_in_sync_group])
    )


def _local(strategy, value):
    return [np.asarray(t) for t in strategy.experimental_local_results(value)]


def training_step(strategy, make_layer, x_slices, dout_slices):
    """One training-mode call of a layer on every replica, and what it computed.

    Parameters
    ----------
    strategy : tf.distribute.Strategy
        E.g. ``MirroredStrategy`` over the devices of :func:`logical_cpus`.
    make_layer : callable
        ``make_layer()`` returns an unbuilt normalization layer with ``gamma``, ``beta``,
        ``moving_mean`` and ``moving_variance`` (``keras.layers.BatchNormalization(...)``); it is
        created and built under ``strategy.scope()`` for inputs ``(None, C)``.
    x_slices, dout_slices : sequence of arrays, each (m, C)
        Replica ``i``'s inputs and upstream gradient (``L = sum(dout * y)``).

    Returns
    -------
    dict
        ``y`` and ``dx``: the replicas' results concatenated in replica order, ``(sum m, C)``;
        ``dgamma`` and ``dbeta``: summed over replicas (what the all-reduce of the gradients
        gives); ``mean_copies`` and ``var_copies``: each replica's copy of ``moving_mean`` and
        ``moving_variance`` after the step; ``mean_read``: what reading ``layer.moving_mean``
        outside the replicas gives (``.numpy()``); ``mean_saved``: what the layer hands to a saved
        model for ``moving_mean`` (``Layer.save_own_variables``, which ``model.save`` and
        ``save_weights`` call); ``synchronization`` and ``aggregation``: the settings of the
        ``tf.Variable`` behind ``moving_mean`` (e.g. ``"ON_WRITE"``, ``"NONE"``).
    """
    channels = np.shape(x_slices[0])[-1]
    with strategy.scope():
        layer = make_layer()
        layer.build((None, channels))

    @tf.function
    def step(x_r, dout_r):
        with tf.GradientTape() as tape:
            tape.watch(x_r)
            y_r = layer(x_r, training=True)
            loss = tf.reduce_sum(y_r * dout_r)
        return (y_r, *tape.gradient(loss, [x_r, layer.gamma, layer.beta]))

    outs = strategy.run(
        step, args=(per_replica(strategy, x_slices), per_replica(strategy, dout_slices))
    )
    y, dx, dgamma, dbeta = (_local(strategy, o) for o in outs)
    store = {}
    layer.save_own_variables(store)
    own = layer._trainable_variables + layer._non_trainable_variables  # save_own_variables's order
    index = [v is layer.moving_mean for v in own].index(True)
    tf_var = layer.moving_mean.value
    return dict(
        y=np.concatenate(y),
        dx=np.concatenate(dx),
        dgamma=sum(dgamma),
        dbeta=sum(dbeta),
        mean_copies=_local(strategy, tf_var),
        var_copies=_local(strategy, layer.moving_variance.value),
        mean_read=np.asarray(layer.moving_mean.numpy()),
        mean_saved=np.asarray(store[str(index)]),
        synchronization=tf_var.synchronization.name,
        aggregation=tf_var.aggregation.name,
    )


def moving_variance(strategy, make_layer, x_slices):
    """The variance a layer normalized with: one training call with ``momentum=0`` per replica.

    Parameters
    ----------
    strategy : tf.distribute.Strategy
    make_layer : callable
        ``make_layer()`` returns an unbuilt ``BatchNormalization`` layer with ``momentum=0``
        (checked), built under ``strategy.scope()``.
    x_slices : sequence of arrays, each (m, C)

    Returns
    -------
    variance : ndarray, shape (C,)
        Replica 0's copy of ``moving_variance`` after the call.
    y : ndarray, shape (sum m, C)
        The training-mode outputs, concatenated in replica order.
    """
    channels = np.shape(x_slices[0])[-1]
    with strategy.scope():
        layer = make_layer()
        if float(layer.momentum) != 0.0:
            raise ValueError(f"make_layer must give momentum=0, got {layer.momentum}")
        layer.build((None, channels))
    outs = strategy.run(
        tf.function(lambda v: layer(v, training=True)), args=(per_replica(strategy, x_slices),)
    )
    return _local(strategy, layer.moving_variance.value)[0], np.concatenate(_local(strategy, outs))
