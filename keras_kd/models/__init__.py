"""Loading, changing, running and exporting the teacher and student models."""

import importlib

# Names load on first use, so `keras_kd.models.tflite.QUANTIZATIONS` (read by
# `keras-kd -h`) does not start TensorFlow.
_EXPORTS = {
    "copy_teacher_layers": "initialization",
    "export_saved_model": "export",
    "save_keras": "export",
    "load_model": "loading",
    "ensemble": "tools",
    "strip_softmax": "tools",
    "weights_fingerprint": "tools",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'keras_kd.models' has no attribute {name!r}")
    return getattr(importlib.import_module(f"keras_kd.models.{_EXPORTS[name]}"), name)
