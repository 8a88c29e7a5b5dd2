"""Every private Keras and TensorFlow API keras_kd uses, in one place.

Written against Keras 3.15.1 and TensorFlow 2.21. A Keras or TensorFlow
upgrade that moves one of these touches this file only; each entry says what
it reads and why no public API does.
"""

import keras
from keras import ops
from keras.src.backend import get_keras_mask, set_keras_mask

from keras_kd import backends

# TensorFlow is imported by the entries that need it, so that the core runs on
# JAX and PyTorch without it.

KERAS_VERSION = "3.15.1"
TENSORFLOW_VERSION = "2.21"


def compiled_loss(model, y, y_pred, sample_weight):
    """The loss given to `model.compile`, with Keras's reduction (`Model._compile_loss`).

    Keras exposes the compiled loss only through `compute_loss`, which also
    adds the model's regularization losses; distillers add those once
    themselves.
    """
    return model._compile_loss(y, y_pred, sample_weight)


def loss_tracker(model):
    """The `keras.metrics.Mean` behind the `loss` entry of the history (`Model._loss_tracker`)."""
    return model._loss_tracker


def compiled_metrics(model):
    """The `CompileMetrics` of `model.compile(metrics=...)`, or None (`Model._compile_metrics`)."""
    return model._compile_metrics


def keras_mask(x):
    """The Keras mask a tensor carries (`_keras_mask`, set by `Embedding(mask_zero=True)`), or None."""
    return get_keras_mask(x)


def with_keras_mask(values, mask):
    """A copy of `values` carrying `mask` as its Keras mask, which Keras losses read; `values` if no mask."""
    if mask is None:
        return values
    values = ops.copy(values)
    set_keras_mask(values, mask)
    return values


def call_nodes(layer):
    """The graph nodes where `layer` was called in Functional models (`Operation._inbound_nodes`).

    A nested model's output as its caller's graph holds it is only reachable
    through the node of that call; Keras 3 has no public `get_output_at`.
    """
    return list(getattr(layer, "_inbound_nodes", []))


def flatten_layers(model):
    """Every layer nested in `model`, itself excluded (`Layer._flatten_layers`)."""
    return model._flatten_layers(include_self=False)


class OneReplicaBuild:
    """A `keras.Model` mixin that builds from one replica's batch (`Trainer._maybe_symbolic_build`).

    Keras MEAN-reduces a whole distributed batch only to read its shapes;
    under MultiWorkerMirroredStrategy that eager collective fails
    (keras-team/keras#20585). One replica's batch has the same structure.
    With no strategy set, Keras defers the build to the first trace of the
    step, whose new variables make `tf.function` trace it twice; the build
    runs here instead, so each `fit` traces its step once.

    Once everything is built no batch is read: reading one starts a
    distributed iterator that `evaluate` then drops, and TensorFlow 2.21 has
    segfaulted dropping it at the start of a validation pass.
    """

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        if iterator is not None and not self._needs_a_batch_to_build():
            iterator = None  # Keras's `_symbolic_build` then only builds the optimizer
        if iterator is not None and backends.is_tensorflow():
            import tensorflow as tf

            local = self.distribute_strategy.experimental_local_results
            for _, _, batches in iterator:
                data_batch = keras.tree.map_structure(
                    lambda v: local(v)[0] if isinstance(v, tf.distribute.DistributedValues) else v,
                    next(batches),
                )
                break
        if self._distribute_strategy is None and data_batch is not None:
            return self._symbolic_build(data_batch=data_batch)  # see the docstring
        return super()._maybe_symbolic_build(data_batch=data_batch)

    def _needs_a_batch_to_build(self):
        """Keras's `_symbolic_build` test: a layer, the compiled metrics or loss is unbuilt."""
        return (
            not all(layer.built for layer in self._flatten_layers())
            or (self._compile_metrics is not None and not self._compile_metrics.built)
            or (self._compile_loss is not None and not self._compile_loss.built)
        )


def in_multi_worker_mode(strategy):
    """Whether a strategy spans several worker processes (`extended._in_multi_worker_mode`)."""
    extended = getattr(strategy, "extended", None)
    in_multi_worker = getattr(extended, "_in_multi_worker_mode", None)
    return bool(in_multi_worker and in_multi_worker())


def dataset_graph(dataset):
    """A `tf.data` pipeline's GraphDef as TF serializes it (`Dataset._as_serialized_graph`)."""
    from tensorflow.core.framework import graph_pb2

    graph = graph_pb2.GraphDef()
    graph.ParseFromString(dataset._as_serialized_graph(strip_device_assignment=True).numpy())
    return graph


def is_dataset_function(value):
    """Whether `value` is a function a `tf.data` stage maps (`StructuredFunctionWrapper`)."""
    from tensorflow.python.data.ops import structured_function

    return isinstance(value, structured_function.StructuredFunctionWrapper)


def options_bytes(options):
    """A `tf.data.Options`' serialized proto (`Options._to_proto`)."""
    return options._to_proto().SerializeToString(deterministic=True)


def tensor_buffer(tensor):
    """An eager tensor's own NumPy buffer, not a copy (`EagerTensor._numpy`)."""
    return tensor._numpy()
