"""Detecting input pipelines and models whose outputs change from epoch to epoch."""

import hashlib
import re

import keras
import tensorflow as tf
from tensorflow.core.framework import graph_pb2

# Ops whose results differ on every run: stateful random number generators,
# and variable writes (the seed counters of tf.random.Generator and of Keras
# random layers). Stateless random ops with fixed seeds repeat, so they pass.
_STATEFUL_PREFIXES = ("Random", "Stateful", "RngReadAndSkip", "RngSkip", "NonDeterministic")
_STATEFUL_OPS = {
    "TruncatedNormal", "Multinomial", "ParameterizedTruncatedNormal",
    "AssignVariableOp", "AssignAddVariableOp", "AssignSubVariableOp",
    # Python code inside the pipeline cannot be inspected.
    "PyFunc", "EagerPyFunc", "PyFuncStateless", "GeneratorDataset",
}


def pipeline_randomness(dataset):
    """Names what makes a `tf.data` pipeline yield different data each epoch.

    Looks through the pipeline's graph and the functions it maps: stateful
    random ops (`tf.random.normal`, Keras random preprocessing layers called
    with `training=True`, `tf.random.Generator`), shuffles that reshuffle each
    iteration, and Python generators (which cannot be inspected).

    Args:
        dataset: A `tf.data.Dataset`.

    Returns:
        Sorted list of strings, empty when every epoch yields the same data
        in the same order.

    Example:

    ```python
    if keras_kd.augmentation.pipeline_randomness(train_ds):
        print("teacher outputs cannot be cached; the teacher runs per batch")
    ```
    """
    return _randomness(_graph(dataset))


def _randomness(graph):
    reasons = set()
    for node in _nodes(graph):
        if node.op.startswith("Shuffle") and node.attr["reshuffle_each_iteration"].b:
            reasons.add(f"{node.op} (reshuffle_each_iteration=True)")
        elif node.op in _STATEFUL_OPS or node.op.startswith(_STATEFUL_PREFIXES):
            reasons.add(node.op)
    return sorted(reasons)


def pipeline_fingerprint(dataset):
    """A SHA-256 of a pipeline's graph, equal for pipelines built the same way.

    Covers sources (file names, in-memory tensors), transformations and their
    functions; leaves out the per-process names TF gives each dataset, its
    traced functions and its seed generators.
    """
    return _fingerprint(_graph(dataset))


def inspect_pipeline(dataset):
    """`(pipeline_randomness, pipeline_fingerprint)` from one look at the graph."""
    graph = _graph(dataset)
    return _randomness(graph), _fingerprint(graph)


# Names TF numbers per process: traced functions and seed-generator resources.
_COUNTED_NAMES = re.compile(r"(__inference_\w*?|SeedGenerator)_\d+$")
# Embedded arrays larger than this are hashed once and replaced by their
# digest, so the graph is re-serialized without them.
_LARGE_CONSTANT = 1 << 16


def _fingerprint(graph):
    # Names are rewritten in the graph, not in its bytes: a name's length is
    # part of the serialized message around it.
    canonical = lambda name: _COUNTED_NAMES.sub(r"\1", name)  # noqa: E731
    for function in graph.library.function:
        function.signature.name = canonical(function.signature.name)
    for node in _nodes(graph):
        if "metadata" in node.attr:
            del node.attr["metadata"]
        for attr in node.attr.values():
            if attr.HasField("func"):
                attr.func.name = canonical(attr.func.name)
            for func in attr.list.func:
                func.name = canonical(func.name)
            if attr.HasField("tensor"):
                for handle in attr.tensor.resource_handle_val:
                    handle.name = canonical(handle.name)
                if len(attr.tensor.tensor_content) > _LARGE_CONSTANT:
                    attr.tensor.tensor_content = hashlib.sha256(attr.tensor.tensor_content).digest()
    return hashlib.sha256(graph.SerializeToString(deterministic=True)).hexdigest()


def _graph(dataset):
    graph = graph_pb2.GraphDef()
    graph.ParseFromString(dataset._as_serialized_graph(strip_device_assignment=True).numpy())
    return graph


def _nodes(graph):
    nodes = list(graph.node)
    for function in graph.library.function:
        nodes.extend(function.node_def)
    return nodes


def random_layers(model):
    """Names the layers of `model` that transform inputs randomly in training.

    Keras random preprocessing layers (`RandomFlip`, `RandomRotation`, ...)
    inside a student make it train on views the teacher never sees.

    Args:
        model: A `keras.Model`.

    Returns:
        List of layer names.
    """
    found = []
    for layer in model._flatten_layers(include_self=False):
        if type(layer).__name__.startswith("Random") and isinstance(layer, keras.layers.Layer):
            found.append(layer.name)
    return found


def is_batched(dataset):
    """Whether a dataset's elements carry a leading batch axis of unknown size."""
    leaves = tf.nest.flatten(dataset.element_spec)
    return bool(leaves) and all(
        spec.shape.rank and spec.shape[0] is None for spec in leaves
    )
