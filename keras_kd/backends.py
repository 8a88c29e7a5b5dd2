"""Which Keras backend runs, and one clear error for what needs TensorFlow.

The losses, the `Distiller` (one or several teachers, every soft loss, feature
hints), in-memory teacher caching of arrays, the schedules and `.keras` export
run on every Keras backend. `tf.data` caches, `tf.distribute` strategies,
SavedModel and TFLite export and the command line need TensorFlow.
"""

import importlib.util
import json
import os
import sys

# What `require_tensorflow` and the command line tell a user without TensorFlow.
INSTALL_TENSORFLOW = "pip install 'keras-kd[tensorflow]'"


def backend():
    """The name of the running Keras backend: "tensorflow", "jax" or "torch".

    Before Keras is imported, the one Keras will select, as Keras chooses it
    (`KERAS_BACKEND`, else `keras.json`, else TensorFlow), so that asking
    starts no backend.
    """
    keras = sys.modules.get("keras")
    if keras is not None and hasattr(keras, "backend"):
        return keras.backend.backend()
    return configured_backend()


def configured_backend():
    """The backend a new process would load: `KERAS_BACKEND`, else `keras.json`, else TensorFlow."""
    if "KERAS_BACKEND" in os.environ:
        return os.environ["KERAS_BACKEND"]
    home = os.environ.get("KERAS_HOME") or os.path.join(
        os.path.expanduser("~") if os.access(os.path.expanduser("~"), os.W_OK) else "/tmp", ".keras")
    try:
        with open(os.path.join(home, "keras.json")) as f:
            return json.load(f).get("backend", "tensorflow")
    except (OSError, ValueError, AttributeError):
        return "tensorflow"


def check_backend_installed():
    """Raises ImportError, in one line naming the fix, when the backend Keras will load is missing.

    Keras's own error for a missing TensorFlow comes from deep inside its
    imports; this one says what to install or which backend to choose.
    """
    keras = sys.modules.get("keras")
    if keras is not None and hasattr(keras, "backend"):
        return  # Keras has loaded its backend already
    name = backend()
    if name == "tensorflow" and not tensorflow_installed():
        raise ImportError("Keras runs on TensorFlow unless told otherwise, and TensorFlow is not "
                          f"installed: {INSTALL_TENSORFLOW}, or choose an installed backend, "
                          "e.g. KERAS_BACKEND=jax.")
    if name not in ("jax", "torch") or importlib.util.find_spec(name) is not None:
        return
    raise ImportError(f"Keras's backend is '{name}' (KERAS_BACKEND or keras.json), which is not "
                      f"installed: pip install {'jax[cpu]' if name == 'jax' else name}, or "
                      "choose another backend.")


def is_tensorflow():
    return backend() == "tensorflow"


def tensorflow_installed():
    """Whether `import tensorflow` can succeed, without importing it."""
    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"] is not None
    return importlib.util.find_spec("tensorflow") is not None


class BackendError(RuntimeError):
    """A keras_kd feature that needs another Keras backend than the running one."""


def require_tensorflow(feature):
    """Raises `BackendError` naming `feature` unless Keras runs on TensorFlow.

    Args:
        feature: String, what the caller wanted, e.g. "TeacherCache (tf.data caches)".
    """
    install = "" if tensorflow_installed() else f": {INSTALL_TENSORFLOW}"
    if not is_tensorflow():
        raise BackendError(
            f"{feature} needs the TensorFlow backend of Keras, but this process runs "
            f"'{backend()}'. Set KERAS_BACKEND=tensorflow (with TensorFlow installed{install}) "
            "before importing Keras."
        )
    if install:
        raise BackendError(f"{feature} needs TensorFlow, which is not installed{install}.")


def is_tf_dataset(x):
    """Whether `x` is a `tf.data.Dataset`, without importing TensorFlow."""
    return any(c.__module__.startswith("tensorflow") and c.__name__.endswith("Dataset")
               for c in type(x).__mro__)
