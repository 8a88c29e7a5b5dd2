"""TFLite (LiteRT) conversion with optional quantization, and its interpreter."""

import os

import numpy as np

from keras_kd import backends
from keras_kd.atomic import atomic_path

backends.require_tensorflow("keras_kd.models.tflite (TFLite conversion)")

QUANTIZATIONS = ("none", "dynamic", "float16", "int8")


def convert(saved_model_dir, path, quantize="none", representative_data=None):
    """Converts a SavedModel folder to a `.tflite` file, written atomically.

    Args:
        saved_model_dir: String, a SavedModel written by `export_saved_model`.
        path: String, the `.tflite` file to write.
        quantize: String, one of "none", "dynamic" (int8 weights),
            "float16" (float16 weights) or "int8" (int8 weights and
            activations, calibrated on `representative_data`).
        representative_data: Array of float32 inputs, needed for "int8".

    Returns:
        String, the absolute path written.

    Example:

    ```python
    keras_kd.models.tflite.convert("saved_models/student", "student.tflite", "dynamic")
    ```
    """
    if quantize not in QUANTIZATIONS:
        raise ValueError(f"`quantize` must be one of {QUANTIZATIONS}, got '{quantize}'.")
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_saved_model(os.fspath(saved_model_dir))
    if quantize != "none":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if quantize == "float16":
        converter.target_spec.supported_types = [tf.float16]
    if quantize == "int8":
        if representative_data is None:
            raise ValueError("int8 quantization needs `representative_data` to calibrate on.")
        samples = np.asarray(representative_data, dtype="float32")[:200]
        converter.representative_dataset = lambda: ([s[None]] for s in samples)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    content = converter.convert()
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(content)
    return os.path.abspath(path)


def _interpreter_class():
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        import tensorflow as tf

        Interpreter = tf.lite.Interpreter
    return Interpreter


class TFLiteModel:
    """Runs a `.tflite` file on batches of any size, like `model.predict`.

    Args:
        path: String, the `.tflite` file.

    Example:

    ```python
    logits = keras_kd.models.tflite.TFLiteModel("student.tflite")(x_test[:32])
    ```
    """

    def __init__(self, path):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tf.lite's deprecation notice
            self._interpreter = _interpreter_class()(model_path=os.fspath(path))
        self._input = self._interpreter.get_input_details()[0]
        self._output = self._interpreter.get_output_details()[0]
        self._batch = None

    def __call__(self, x):
        x = np.asarray(x, dtype=self._input["dtype"])
        if self._batch != len(x):
            self._interpreter.resize_tensor_input(self._input["index"], x.shape)
            self._interpreter.allocate_tensors()
            self._batch = len(x)
        self._interpreter.set_tensor(self._input["index"], x)
        self._interpreter.invoke()
        return self._interpreter.get_tensor(self._output["index"])
