"""Which Keras backend runs, and one clear error for what needs TensorFlow.

The losses, the `Distiller` (one or several teachers, every soft loss, feature
hints), in-memory teacher caching of arrays, the schedules and `.keras` export
run on every Keras backend. `tf.data` caches, `tf.distribute` strategies,
SavedModel and TFLite export and the command line need TensorFlow.
"""

import os
import sys


def backend():
    """The name of the running Keras backend: "tensorflow", "jax" or "torch".

    Before Keras is imported, the one `KERAS_BACKEND` will select (keras_kd
    sets it to "tensorflow" unless given), so that asking starts no backend.
    """
    keras = sys.modules.get("keras")
    if keras is not None and hasattr(keras, "backend"):
        return keras.backend.backend()
    return os.environ.get("KERAS_BACKEND", "tensorflow")


def is_tensorflow():
    return backend() == "tensorflow"


class BackendError(RuntimeError):
    """A keras_kd feature that needs another Keras backend than the running one."""


def require_tensorflow(feature):
    """Raises `BackendError` naming `feature` unless Keras runs on TensorFlow.

    Args:
        feature: String, what the caller wanted, e.g. "TeacherCache (tf.data caches)".
    """
    if not is_tensorflow():
        raise BackendError(
            f"{feature} needs the TensorFlow backend of Keras, but this process runs "
            f"'{backend()}'. Set KERAS_BACKEND=tensorflow (with TensorFlow installed) "
            "before importing Keras."
        )


def is_tf_dataset(x):
    """Whether `x` is a `tf.data.Dataset`, without importing TensorFlow."""
    return any(c.__module__.startswith("tensorflow") and c.__name__.endswith("Dataset")
               for c in type(x).__mro__)
