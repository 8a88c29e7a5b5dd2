"""Choosing a `tf.distribute` strategy by name, and who writes results."""

import json
import os

from keras_kd import backends

backends.require_tensorflow("keras_kd.distribute.strategies (tf.distribute strategies)")

STRATEGIES = ("auto", "one_device", "mirrored", "multiworker")
_multi_worker = []  # the process's one MultiWorkerMirroredStrategy, once made


def make_strategy(name="auto"):
    """Returns the `tf.distribute.Strategy` called `name`.

    Args:
        name: String. "auto": MirroredStrategy when more than one GPU is
            visible, else the default strategy. "one_device": the first GPU,
            or the CPU. "mirrored": every local GPU (or the CPU).
            "multiworker": MultiWorkerMirroredStrategy, configured by the
            `TF_CONFIG` environment variable (see `keras-kd launch`); made
            once per process (TensorFlow sets up its collectives once), then
            returned again.

    Returns:
        A `tf.distribute.Strategy`; models must be built in its `scope()`.
    """
    if name not in STRATEGIES:
        raise ValueError(f"Unknown strategy '{name}'. Choose one of: {', '.join(STRATEGIES)}.")
    import tensorflow as tf

    if name == "multiworker":
        # Must come before anything initializes TensorFlow, device listing included.
        if "TF_CONFIG" not in os.environ:
            raise ValueError(
                "--strategy multiworker needs TF_CONFIG describing the cluster; "
                "start local workers with `keras-kd launch --workers N -- distill ...`."
            )
        if not _multi_worker:
            _multi_worker.append(tf.distribute.MultiWorkerMirroredStrategy())
        return _multi_worker[0]
    gpus = tf.config.list_logical_devices("GPU")
    if name == "auto":
        return tf.distribute.MirroredStrategy() if len(gpus) > 1 else tf.distribute.get_strategy()
    if name == "one_device":
        return tf.distribute.OneDeviceStrategy(gpus[0].name if gpus else "/cpu:0")
    if gpus:
        return tf.distribute.MirroredStrategy()
    # Without GPUs, replicas are logical CPU devices. Their default collective
    # all-reduce collides with that of an earlier strategy in the same process
    # (a shape-mismatch abort); reducing on one device avoids collectives.
    return tf.distribute.MirroredStrategy(cross_device_ops=tf.distribute.ReductionToOneDevice())


def is_chief():
    """Whether this process writes results: always, unless it is a non-chief worker."""
    config = json.loads(os.environ.get("TF_CONFIG") or "{}")
    task = config.get("task", {})
    return task.get("type", "worker") in ("chief",) or (
        task.get("type", "worker") == "worker"
        and task.get("index", 0) == 0
        and "chief" not in config.get("cluster", {})
    )
