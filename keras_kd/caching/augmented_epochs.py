"""Consistent caching: a few augmented epochs recorded with the teacher's logits, then replayed."""

import hashlib
import json
import os

import keras
import numpy as np
from keras_kd import backends

backends.require_tensorflow("keras_kd.caching (recorded augmented epochs)")

import tensorflow as tf

from keras_kd.caching import pipelines
from keras_kd.caching import targets
from keras_kd.atomic import atomic_path
from keras_kd.models.tools import inference_function, weights_fingerprint

_DONE = "recorded.json"


def record_augmented_epochs(teacher, dataset, epochs, directory, info=None):
    """Records `epochs` passes of a random pipeline, each batch with the teacher's logits.

    With random augmentation a plain cache is wrong (the teacher would label
    other views than the student sees), so the teacher normally runs on every
    batch. Recording a fixed number of augmented epochs keeps teacher and
    student on the same views while running the teacher only `epochs` times:
    training then replays the recorded epochs in order, cycling. The cost is
    disk (the inputs are stored, `epochs` times) and view diversity (only
    `epochs` distinct augmentations of each example).

    The recording is written under a temporary name and moved into place
    when complete; it is keyed by the teacher's weights, the pipeline's graph
    and `epochs`, so a second run with the same ones reuses it.

    Args:
        teacher: `keras.Model` outputting logits (or a Distiller's `teacher_view`).
        dataset: A finite, batched `tf.data.Dataset` of `x`, `(x, y)` or
            `(x, y, sample_weight)` whose batches change from epoch to epoch.
        epochs: Integer >= 1, the number of augmented epochs to record.
        directory: Folder to keep recordings in.
        info: The dataset's `keras_kd.caching.pipelines.PipelineInfo`, when
            already inspected.

    Returns:
        `(replay, steps_per_epoch)`: an infinite dataset of the recorded
        batches with the teacher's logits packed into the targets, and the
        number of batches in one epoch (pass it to `fit`).

    Example:

    ```python
    replay, steps = keras_kd.record_augmented_epochs(teacher, augmented, 8, "/tmp/views")
    distiller.fit(replay, steps_per_epoch=steps, epochs=40)
    ```
    """
    if int(epochs) != epochs or epochs < 1:
        raise ValueError(f"`epochs` must be an integer >= 1, got {epochs!r}.")
    if dataset.cardinality() == tf.data.INFINITE_CARDINALITY:
        raise ValueError("Cannot record an infinite dataset: record it before `.repeat()`.")
    info = info or pipelines.inspect(dataset)
    if not info.batched:
        raise ValueError("Record a batched dataset: call `.batch(...)` first.")
    digest = hashlib.sha256()
    digest.update(weights_fingerprint(teacher).encode())
    digest.update(info.fingerprint.encode())
    digest.update(f"epochs={int(epochs)}".encode())
    digest.update(b"one iterator")  # recordings before it could repeat one epoch's draws
    path = os.path.join(directory, "views_" + digest.hexdigest()[:24])
    if not os.path.exists(os.path.join(path, _DONE)):
        _record(teacher, dataset, int(epochs), path)
    with open(os.path.join(path, _DONE)) as f:
        steps = json.load(f)["steps_per_epoch"]
    return tf.data.Dataset.load(os.path.join(path, "data")).repeat().prefetch(tf.data.AUTOTUNE), steps


def _one_iterator(dataset, epochs):
    """`(epoch, batch)` for `epochs` passes over `dataset`, read from one iterator.

    With a global seed set, TensorFlow restarts the random ops of a
    pipeline's sequential `map` in each new iterator: one iterator per epoch
    would record the same augmentation every time.
    """
    def tagged(epoch):
        return dataset.map(lambda *batch: (epoch, batch[0] if len(batch) == 1 else batch))

    for epoch, batch in tf.data.Dataset.range(epochs).flat_map(tagged):
        yield int(epoch), batch


def _record(teacher, dataset, epochs, path):
    predict = inference_function(teacher)
    counts = []

    def batches():
        counts.extend([0] * epochs)
        for epoch, batch in _one_iterator(dataset, epochs):
            x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(batch)
            logits = tf.convert_to_tensor(np.asarray(predict(x), "float32"))
            element = (x, targets.pack(y, logits))
            yield element if sample_weight is None else element + (sample_weight,)
            counts[epoch] += 1

    x_spec, y_spec, weight_spec = keras.utils.unpack_x_y_sample_weight(dataset.element_spec)
    signature = (x_spec, targets.pack(y_spec, tf.TensorSpec((None, None), tf.float32)))
    if weight_spec is not None:
        signature += (weight_spec,)
    recorded = tf.data.Dataset.from_generator(batches, output_signature=signature)
    with atomic_path(path) as tmp:
        os.makedirs(tmp)
        recorded.save(os.path.join(tmp, "data"))
        if len(set(counts)) != 1:
            raise ValueError(f"The epochs had different numbers of batches: {counts}.")
        with open(os.path.join(tmp, _DONE), "w") as f:
            json.dump({"epochs": epochs, "steps_per_epoch": counts[0]}, f)
