"""Per-replica loss scaling under `tf.distribute`, as Keras losses do it.

Inside a replica context a loss averaged over the local batch is divided by
the number of replicas, so that the gradients the strategy sums across
replicas equal the gradient of the mean over the global batch. Metrics are
updated with the unscaled value. On JAX and PyTorch there are no replicas in
this sense (`keras.distribution` computes the loss over the global batch),
so every function here is the one-device one there.
"""

import keras
from keras import ops

from keras_kd import backends, internals


def _replica_context():
    """TensorFlow's replica context with several replicas in sync, or None."""
    if not backends.is_tensorflow():
        return None
    import tensorflow as tf

    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return None
    return context


def num_replicas():
    """The number of replicas in sync of the current strategy (1 without one)."""
    if not backends.is_tensorflow():
        return 1
    import tensorflow as tf

    return tf.distribute.get_strategy().num_replicas_in_sync


def scale_for_replicas(value):
    """Divides a per-replica mean by the replica count (a no-op on one device)."""
    replicas = num_replicas()
    if replicas > 1:
        value = ops.multiply(value, ops.cast(1.0 / replicas, value.dtype))
    return value


def unscale_for_replicas(value):
    """Undoes `scale_for_replicas`, for reporting a loss as a metric."""
    replicas = num_replicas()
    if replicas > 1:
        value = ops.multiply(value, ops.cast(replicas, value.dtype))
    return value


def sum_over_global_batch(values):
    """Sums `values` over its first axis and over the replicas in sync.

    Inside a replica context with several replicas this is an all-reduce,
    whose gradient is the all-reduce of the incoming gradients, so a loss
    computed from these sums has exactly the gradient it has on one device
    over the whole batch.
    """
    total = ops.sum(values, axis=0)
    context = _replica_context()
    return total if context is None else context.all_reduce("sum", total)


def batch_size(x):
    """The local batch size of a (possibly nested) input batch."""
    first = next(t for t in keras.tree.flatten(x) if t is not None)
    return ops.shape(first)[0]


class _PerExampleValues(keras.losses.Loss):
    """A "loss" whose values are given: only Keras's reduction runs."""

    def call(self, y_true, y_pred):
        return y_pred


_REDUCER = _PerExampleValues(name="per_example", reduction="sum_over_batch_size")


def mean_over_batch(values, sample_weight=None, mask=None):
    """Reduces per-example (or per-token) loss values exactly as a compiled Keras loss does.

    Applies `sample_weight` and `mask`, averages over the local batch and
    scales for the replica count (`keras.losses.Loss.__call__`), so a term
    built from a pure loss function trains the same on one device and under
    `tf.distribute`, and weighs tokens as the label loss does.

    Args:
        values: Tensor `(batch, ...)` of per-example or per-token losses.
        sample_weight: Optional tensor `(batch,)` or of the shape of `values`.
        mask: Optional boolean tensor of the shape of `values` (a Keras mask,
            as from `Embedding(mask_zero=True)`): masked entries count
            nothing, and the mean is over the unmasked ones, as Keras does.

    Returns:
        Scalar float32 tensor.
    """
    return _REDUCER(values, internals.with_keras_mask(values, mask), sample_weight)


def regularization_loss(model):
    """The sum of `model.losses` (weight penalties), scaled for the replica count, or 0."""
    if not model.losses:
        return 0.0
    return scale_for_replicas(ops.sum([ops.cast(ops.sum(r), "float32") for r in model.losses]))
