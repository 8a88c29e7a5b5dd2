"""`load_model`: a teacher or student from a `.keras` file or a SavedModel folder."""

import os
import zipfile

import keras

from keras_kd import backends


def load_model(path, role="model"):
    """Loads a `.keras`/`.h5` file or a TF SavedModel folder as a Keras model.

    A SavedModel is wrapped in a `keras.layers.TFSMLayer` behind a
    `keras.Input` read from its signature, so it can be called and
    distilled from like any model; it cannot be a student, since Keras
    cannot train a SavedModel's restored variables.

    Args:
        path: String or path-like, a `.keras` or `.h5` file, or a folder
            holding a SavedModel (`saved_model.pb`).
        role: String, what the model is for ("teacher", "student"), used in
            error messages. Defaults to "model".

    Returns:
        A `keras.Model`.

    Raises:
        FileNotFoundError: `path` does not exist.
        ValueError: `path` exists but holds no model that loads.

    Example:

    ```python
    teacher = keras_kd.load_model("saved_models/teacher.keras", role="teacher")
    ```
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(
            f"The {role} path '{path}' does not exist. Pass a .keras file or "
            "a SavedModel folder."
        )
    if os.path.isdir(path):
        backends.require_tensorflow(f"Loading the SavedModel folder '{path}'")
        import tensorflow as tf

        if not tf.saved_model.contains_saved_model(path):
            raise ValueError(
                f"The {role} path '{path}' is a folder without a SavedModel in "
                "it (no saved_model.pb). Pass a .keras file or a folder "
                "written by model.export() or tf.saved_model.save()."
            )
        if role == "student":
            raise ValueError(
                f"The student '{path}' is a SavedModel, which can be served but not "
                "trained by Keras (its variables come back without their layers). "
                "Save the student as .keras (model.save('student.keras')) and pass that."
            )
        return _load_saved_model(path, role)
    if not path.endswith((".keras", ".h5")):
        raise ValueError(
            f"The {role} path '{path}' is neither a .keras/.h5 file nor a "
            "SavedModel folder."
        )
    if path.endswith(".keras") and not zipfile.is_zipfile(path):
        # Keras says "File not found" for a file that exists but is not a zip.
        raise ValueError(
            f"The {role} file '{path}' does not hold a loadable Keras model: it is "
            "not a .keras archive. Write one with model.save('name.keras')."
        )
    try:
        return keras.saving.load_model(path, compile=False)
    except Exception as error:  # Keras raises many types for a bad file.
        raise ValueError(
            f"The {role} file '{path}' does not hold a loadable Keras model: "
            f"{error}"
        ) from error


def _load_saved_model(path, role):
    import tensorflow as tf

    loaded = tf.saved_model.load(path)
    endpoint = "serve" if hasattr(loaded, "serve") else "serving_default"
    if endpoint == "serve":
        specs = loaded.serve.input_signature
    else:
        signature = loaded.signatures.get("serving_default")
        if signature is None:
            raise ValueError(
                f"The {role} SavedModel '{path}' has neither a `serve` "
                "function nor a `serving_default` signature to call."
            )
        specs = list(signature.structured_input_signature[1].values())
    if len(specs) != 1:
        raise ValueError(
            f"The {role} SavedModel '{path}' takes {len(specs)} inputs; "
            "only single-input models are supported from SavedModels. Save "
            "it as .keras instead."
        )
    spec = specs[0]
    inputs = keras.Input(shape=spec.shape[1:], dtype=spec.dtype.name)
    layer = keras.layers.TFSMLayer(path, call_endpoint=endpoint, trainable=False)
    outputs = layer(inputs)
    if isinstance(outputs, dict):
        if len(outputs) != 1:
            raise ValueError(
                f"The {role} SavedModel '{path}' returns {len(outputs)} "
                f"outputs ({sorted(outputs)}); expected one logits tensor."
            )
        outputs = next(iter(outputs.values()))
    return keras.Model(inputs, outputs, name=os.path.basename(path.rstrip("/")))
