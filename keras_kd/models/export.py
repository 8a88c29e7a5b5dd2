"""Exporting trained students for serving, written atomically."""

import os

from keras_kd import backends
from keras_kd.atomic import atomic_path


def export_saved_model(model, path):
    """Writes `model` as a TF SavedModel folder, replacing `path` atomically.

    The folder has a `serve` function and a `serving_default` signature, so
    `loaded = tf.saved_model.load(path); loaded.serve(x)` and TF Serving
    both work (keep `loaded` referenced while calling `serve`). A failed
    export leaves any previous export at `path` untouched.

    Args:
        model: A built `keras.Model`.
        path: String or path-like, the folder to write.

    Returns:
        String, the absolute path written.

    Example:

    ```python
    keras_kd.export_saved_model(student, "saved_models/digits_student")
    ```
    """
    backends.require_tensorflow("SavedModel export (save a .keras file with save_keras instead)")
    with atomic_path(path) as tmp:
        model.export(tmp, format="tf_saved_model", verbose=False)
    return os.path.abspath(os.fspath(path))


def save_keras(model, path):
    """Saves `model` as a `.keras` file, replacing `path` atomically.

    Args:
        model: A `keras.Model`.
        path: String or path-like ending in `.keras`.

    Returns:
        String, the absolute path written.
    """
    path = os.fspath(path)
    if not path.endswith(".keras"):
        raise ValueError(f"A Keras model file must end in .keras, got '{path}'.")
    with atomic_path(path) as tmp:
        model.save(tmp)
    return os.path.abspath(path)
