"""Knowledge distillation as a first-class Keras 3 workflow."""

import importlib
import os

# TensorFlow first, as in Keras: unless KERAS_BACKEND or keras.json chooses
# another backend. Without TensorFlow (`pip install keras-kd` alone) a user
# chooses one, e.g. KERAS_BACKEND=jax; asking for a name says so otherwise.
from keras_kd import backends as _backends  # noqa: E402

if _backends.backend() == "tensorflow" and _backends.tensorflow_installed():
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")

from keras_kd import _legacy_paths  # noqa: E402

# Public name -> the module that defines it. Names load on first use
# (PEP 562), so `import keras_kd` and `keras-kd -h` do not start TensorFlow.
_EXPORTS = {
    "Distiller": "distillers.distiller",
    "MutualDistiller": "distillers.mutual",
    "FeatureHint": "distillers.hints",
    "SelfDistillationResult": "distillers.self_distillation",
    "self_distill": "distillers.self_distillation",
    "DistillationLoss": "losses.kl",
    "distillation_loss": "losses.kl",
    "DistillationSchedule": "callbacks.schedule",
    "StopOnNaN": "callbacks.schedule",
    "curriculum": "callbacks.schedule",
    "EpochProgress": "callbacks.epoch_progress",
    "RandomPipelineError": "caching.teacher_cache",
    "TeacherCache": "caching.teacher_cache",
    "record_augmented_epochs": "caching.augmented_epochs",
    "atomic_path": "atomic",
    "export_saved_model": "models.export",
    "save_keras": "models.export",
    "load_model": "models.loading",
    "copy_teacher_layers": "models.initialization",
    "ensemble": "models.tools",
    "strip_softmax": "models.tools",
    "weights_fingerprint": "models.tools",
}
# Public subpackages, reachable as attributes: `keras_kd.losses.distillation_loss`.
_SUBPACKAGES = ("losses", "recipes", "tuning")

__all__ = sorted(list(_EXPORTS) + list(_SUBPACKAGES))
__version__ = "0.1.0"


# Public names that need TensorFlow itself (tf.data caches, SavedModel
# serving); the rest runs on every Keras backend.
_TENSORFLOW_ONLY = {"RandomPipelineError", "TeacherCache", "record_augmented_epochs"}


def __getattr__(name):
    if name in _EXPORTS:
        from keras_kd import backends

        if name in _TENSORFLOW_ONLY:
            backends.require_tensorflow(f"keras_kd.{name}")
        backends.check_backend_installed()
        value = getattr(importlib.import_module(f"keras_kd.{_EXPORTS[name]}"), name)
    elif name in _SUBPACKAGES:
        value = importlib.import_module(f"keras_kd.{name}")
    elif name in _legacy_paths.MOVED:
        return _legacy_paths.load(f"keras_kd.{name}")
    else:
        raise AttributeError(f"module 'keras_kd' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__():
    return __all__ + ["__version__"]
