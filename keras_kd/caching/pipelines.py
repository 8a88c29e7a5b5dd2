"""Detecting input pipelines and models whose outputs change from epoch to epoch."""

import dataclasses
import hashlib
import re

import numpy as np
from keras_kd import backends

backends.require_tensorflow("keras_kd.caching (tf.data pipeline inspection)")

import tensorflow as tf
from tensorflow.core.framework import graph_pb2, node_def_pb2

from keras_kd import internals

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
    iteration, parallel stages allowed to return results out of order
    (`deterministic=False`), and Python generators (which cannot be inspected).

    Args:
        dataset: A `tf.data.Dataset`.

    Returns:
        Sorted list of strings, empty when every epoch yields the same data
        in the same order.

    Example:

    ```python
    if keras_kd.caching.pipelines.pipeline_randomness(train_ds):
        print("teacher outputs cannot be cached; the teacher runs per batch")
    ```
    """
    return _randomness(_graph(dataset), dataset)


def _randomness(graph, dataset):
    reasons = set()
    if dataset.options().deterministic is False:
        reasons.add("tf.data.Options.deterministic=False (parallel results in any order)")
    for node in _nodes(graph):
        if node.op.startswith("Shuffle") and node.attr["reshuffle_each_iteration"].b:
            reasons.add(f"{node.op} (reshuffle_each_iteration=True)")
        elif "deterministic" in node.attr and node.attr["deterministic"].s == b"false":
            reasons.add(f"{node.op} (deterministic=False: parallel results in any order)")
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


@dataclasses.dataclass(frozen=True)
class PipelineInfo:
    """What one look at a `tf.data` pipeline's graph tells.

    Attributes:
        reasons: Tuple of strings, what makes it yield different data each
            epoch (`pipeline_randomness`); empty when it repeats.
        fingerprint: String, `pipeline_fingerprint`.
        batched: Boolean, `is_batched`.
    """

    reasons: tuple
    fingerprint: str
    batched: bool

    @property
    def random(self):
        """Whether the pipeline yields different data each epoch."""
        return bool(self.reasons)


def inspect(dataset):
    """A `PipelineInfo` from one look at the pipeline's graph.

    Example:

    ```python
    info = keras_kd.caching.pipelines.inspect(train_ds)
    if info.random:
        print("the teacher runs per batch:", ", ".join(info.reasons))
    ```
    """
    graph = _graph(dataset)
    reasons = tuple(_randomness(graph, dataset))  # before _fingerprint rewrites names
    return PipelineInfo(reasons, _fingerprint(graph), is_batched(dataset))


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
    """The pipeline as a GraphDef, from its Python objects when it can be.

    TF's own serialization copies every embedded array (about 0.5 s for
    63 MB of `from_tensor_slices` arrays, a fifth of a teacher pass in
    `benchmarks/speed.py`); the walk hashes them in place instead. Pipelines
    with a stage the walk does not know are serialized by TF.
    """
    walked = _walk(dataset)
    return walked if walked is not None else _serialized_graph(dataset)


def _serialized_graph(dataset):
    return internals.dataset_graph(dataset)


# Dataset classes whose Python objects keep every input of their op (checked
# against TF 2.21's sources; tests/test_teacher_cache.py changes a parameter of
# the common ones and expects a new key, and compares every one's randomness
# verdict with TF's graph). Each becomes a node named after its class, so the
# randomness rules read it as they read TF's graph (`ShuffleDataset` with
# `reshuffle_each_iteration`, `RandomDataset`, stateful ops in functions).
_WALKABLE = frozenset({
    "_TensorSliceDataset", "_TensorDataset", "_RangeDataset", "_RandomDataset",
    "_BatchDataset", "_ParallelBatchDataset", "_PaddedBatchDataset", "_RebatchDataset",
    "_UnbatchDataset", "_RestructuredDataset", "_DenseToRaggedDataset",
    "_MapDataset", "_ParallelMapDataset", "_FilterDataset", "_FlatMapDataset",
    "_InterleaveDataset", "_ParallelInterleaveDataset", "_ScanDataset",
    "_TakeDataset", "_SkipDataset", "_TakeWhileDataset", "_ShardDataset",
    "_WindowDataset", "_ShuffleDataset", "_PrefetchDataset", "_RepeatDataset",
    "_ZipDataset", "_ConcatenateDataset", "CacheDataset", "_OptionsDataset",
    "_AssertCardinalityDataset", "_IgnoreErrorsDataset",
    "TFRecordDatasetV2", "FixedLengthRecordDatasetV2", "TextLineDatasetV2",
    "ParallelInterleaveDataset",
})
_UNWALKED_ATTRS = ("_variant_tensor_attr", "_graph_attr", "_name")


class _NotWalkable(Exception):
    pass


def _walk(dataset):
    """The pipeline rebuilt as a GraphDef of its stages, or None if it has an unknown stage."""
    graph, library = graph_pb2.GraphDef(), {}
    try:
        _walk_stage(dataset, graph, library, {})
    except _NotWalkable:
        return None
    graph.library.function.extend(library[name] for name in sorted(library))
    return graph


def _walk_stage(dataset, graph, library, names):
    if id(dataset) in names:
        return names[id(dataset)]
    kind = type(dataset).__name__
    if kind not in _WALKABLE:
        raise _NotWalkable(kind)
    node = node_def_pb2.NodeDef(op=kind.lstrip("_"))
    for key in sorted(vars(dataset)):
        if key not in _UNWALKED_ATTRS:
            _walk_value(node, key.lstrip("_"), getattr(dataset, key), graph, library, names)
    node.name = names[id(dataset)] = f"stage_{len(graph.node)}"
    graph.node.append(node)
    return node.name


def _walk_value(node, key, value, graph, library, names):
    attr = node.attr[key]
    if isinstance(value, tf.data.Dataset):
        node.input.append(_walk_stage(value, graph, library, names))
        attr.s = node.input[-1].encode()
    elif internals.is_dataset_function(value):
        function = value.function
        definition = function.function_def
        library[definition.signature.name] = definition
        for nested in function.graph.as_graph_def().library.function:
            library[nested.signature.name] = nested
        attr.func.name = definition.signature.name
        for index, captured in enumerate(function.captured_inputs):
            node.attr[f"{key}/captured_{index}"].s = _tensor_digest(captured)
    elif isinstance(value, tf.Tensor):
        attr.s = _tensor_digest(value)
    elif isinstance(value, bool):
        attr.b = value
    elif isinstance(value, int):
        attr.i = value
    elif isinstance(value, float):
        attr.f = value
    elif isinstance(value, str):
        attr.s = value.encode()
    elif isinstance(value, tf.data.Options):
        attr.s = internals.options_bytes(value)
    elif value is None or isinstance(value, (tf.TypeSpec, tf.DType, type)):
        attr.s = repr(value).encode()
    elif isinstance(value, (list, tuple)):
        attr.i = len(value)
        for index, item in enumerate(value):
            _walk_value(node, f"{key}/{index}", item, graph, library, names)
    else:
        raise _NotWalkable(f"{key}: {type(value).__name__}")


def _tensor_digest(tensor):
    """Dtype, shape and a hash of the values; resources (variables) by kind only."""
    header = f"{tensor.dtype.name}{tensor.shape}".encode()
    if tensor.dtype in (tf.resource, tf.variant):
        return header
    digest = hashlib.sha256(header)
    if tensor.dtype == tf.string:
        for item in np.asarray(tensor.numpy(), dtype=object).reshape(-1):
            digest.update(len(item).to_bytes(8, "little") + item)
    else:
        # The tensor's own buffer; `numpy()` would copy it first.
        digest.update(np.ascontiguousarray(internals.tensor_buffer(tensor)).data)
    return digest.digest()


def _nodes(graph):
    nodes = list(graph.node)
    for function in graph.library.function:
        nodes.extend(function.node_def)
    return nodes


def is_batched(dataset):
    """Whether a dataset's elements carry a leading batch axis of unknown size."""
    leaves = tf.nest.flatten(dataset.element_spec)
    return bool(leaves) and all(
        spec.shape.rank and spec.shape[0] is None for spec in leaves
    )
