"""Knowledge distillation as a first-class Keras 3 workflow."""

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras  # noqa: E402

if keras.backend.backend() != "tensorflow":
    raise ImportError(
        "keras_kd needs the TensorFlow backend of Keras, but KERAS_BACKEND is "
        f"'{keras.backend.backend()}'. Set KERAS_BACKEND=tensorflow."
    )

from keras_kd import architectures, augmentation, data, losses, report, tflite, tuning, workflow  # noqa: E402
from keras_kd.atomic import atomic_path  # noqa: E402
from keras_kd.augmented_cache import record_augmented_epochs  # noqa: E402
from keras_kd.callbacks import DistillationSchedule, StopOnNaN  # noqa: E402
from keras_kd.distiller import Distiller  # noqa: E402
from keras_kd.export import export_saved_model, save_keras  # noqa: E402
from keras_kd.hints import FeatureHint  # noqa: E402
from keras_kd.losses import DistillationLoss, distillation_loss  # noqa: E402
from keras_kd import checks, launch, targets  # noqa: E402
from keras_kd.models import ensemble, load_model, strip_softmax, weights_fingerprint  # noqa: E402
from keras_kd.mutual import MutualDistiller  # noqa: E402
from keras_kd.self_distillation import SelfDistillationResult, self_distill  # noqa: E402
from keras_kd.teacher_cache import RandomPipelineError, TeacherCache  # noqa: E402

__all__ = [
    "Distiller", "DistillationLoss", "DistillationSchedule", "FeatureHint", "MutualDistiller",
    "RandomPipelineError", "SelfDistillationResult", "StopOnNaN", "TeacherCache", "architectures", "atomic_path", "augmentation", "checks",
    "data", "distillation_loss", "ensemble", "export_saved_model", "launch", "load_model", "losses", "record_augmented_epochs",
    "report", "save_keras", "self_distill", "strip_softmax", "targets", "tflite", "tuning", "weights_fingerprint",
    "workflow",
]
__version__ = "0.1.0"
