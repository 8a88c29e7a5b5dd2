"""Knowledge distillation as a first-class Keras 3 workflow."""

import importlib
import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

# Public name -> the module that defines it. Names load on first use
# (PEP 562), so `import keras_kd` and `keras-kd -h` do not start TensorFlow.
_EXPORTS = {
    "Distiller": "distiller",
    "DistillationLoss": "losses",
    "distillation_loss": "losses",
    "DistillationSchedule": "callbacks",
    "StopOnNaN": "callbacks",
    "EpochProgress": "progress",
    "FeatureHint": "hints",
    "MutualDistiller": "mutual",
    "RandomPipelineError": "teacher_cache",
    "TeacherCache": "teacher_cache",
    "SelfDistillationResult": "self_distillation",
    "self_distill": "self_distillation",
    "atomic_path": "atomic",
    "record_augmented_epochs": "augmented_cache",
    "export_saved_model": "export",
    "save_keras": "export",
    "ensemble": "models",
    "load_model": "models",
    "strip_softmax": "models",
    "weights_fingerprint": "models",
}
_SUBMODULES = (
    "architectures", "augmentation", "checks", "data", "launch", "losses", "recipes",
    "report", "targets", "tflite", "tuning", "workflow",
)

__all__ = sorted(list(_EXPORTS) + list(_SUBMODULES))
__version__ = "0.1.0"


def _check_backend():
    import keras

    if keras.backend.backend() != "tensorflow":
        raise ImportError(
            "keras_kd needs the TensorFlow backend of Keras, but KERAS_BACKEND is "
            f"'{keras.backend.backend()}'. Set KERAS_BACKEND=tensorflow."
        )


def __getattr__(name):
    if name in _EXPORTS:
        _check_backend()
        value = getattr(importlib.import_module(f"keras_kd.{_EXPORTS[name]}"), name)
    elif name in _SUBMODULES:
        value = importlib.import_module(f"keras_kd.{name}")
    else:
        raise AttributeError(f"module 'keras_kd' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__():
    return __all__ + ["__version__"]
