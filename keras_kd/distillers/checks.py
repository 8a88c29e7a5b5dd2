"""Up-front checks of distillation inputs, each raising an error that names the fix."""

import math
import os

import keras
import numpy as np

from keras_kd.models import hub
from keras_kd.models.loading import load_model


def check_alpha(alpha):
    """Returns `alpha` as a float, or raises if it is outside [0, 1]."""
    try:
        value = float(alpha)
    except (TypeError, ValueError):
        raise ValueError(f"`alpha` must be a number in [0, 1], got {alpha!r}.") from None
    if not 0.0 <= value <= 1.0:
        raise ValueError(
            f"`alpha` must be in [0, 1], got {value}: it weights the "
            "distillation term and `1 - alpha` the label term."
        )
    return value


def check_model(model, role):
    """Raises unless `model` is a Keras model (or layer) that can be called."""
    if not isinstance(model, keras.layers.Layer):
        raise TypeError(
            f"`{role}` must be a keras.Model (or a path to a saved model), "
            f"got {type(model).__name__}."
        )


def ends_in_softmax(model):
    """Whether the last layer of a Sequential or Functional model applies softmax."""
    layers = getattr(model, "layers", None)
    if not layers:
        return False
    last = layers[-1]
    if isinstance(last, keras.layers.Softmax):
        return True
    return getattr(last, "activation", None) is keras.activations.softmax


def is_probabilities(outputs, atol=1e-3):
    """Whether every row of `outputs` is non-negative and sums to 1."""
    outputs = np.asarray(outputs, dtype="float64")
    if outputs.ndim < 1 or outputs.shape[-1] < 2 or outputs.size == 0:
        return False
    return bool(
        np.all(outputs >= 0) and np.allclose(outputs.sum(axis=-1), 1.0, atol=atol)
    )


def _softmax_error(role):
    return ValueError(
        f"The {role} outputs probabilities (its last layer applies softmax). "
        "Distillation needs logits: softening probabilities with a "
        "temperature silently trains on the wrong targets. Fix: pass "
        f"`keras_kd.strip_softmax({role.split()[0]})`, which returns a copy of the model "
        "that outputs logits, and keep softmax for inference only."
    )


def check_logit_models(teacher, student, teacher_role="teacher"):
    """Raises if either model ends in softmax or their output shapes differ."""
    for model, role in ((teacher, teacher_role), (student, "student")):
        if ends_in_softmax(model):
            raise _softmax_error(role)
    t_shape = _output_shape(teacher)
    s_shape = _output_shape(student)
    if t_shape is not None and s_shape is not None:
        check_same_output_shape(t_shape, s_shape, teacher_role)


def _output_shape(model):
    try:
        outputs = model.outputs
    except (AttributeError, ValueError):
        return None
    if not outputs or len(outputs) != 1:
        return None
    return tuple(outputs[0].shape[1:])


def check_same_output_shape(teacher_shape, student_shape, teacher_role="teacher"):
    """Raises if teacher and student outputs (without the batch axis) differ."""
    teacher_shape, student_shape = tuple(teacher_shape), tuple(student_shape)
    if teacher_shape != student_shape:
        raise ValueError(
            f"The {teacher_role} outputs shape {teacher_shape} per example but the "
            f"student outputs {student_shape}. Both must produce logits over "
            "the same classes: give the student a final "
            f"keras.layers.Dense({teacher_shape[-1] if teacher_shape else '?'})."
        )


def check_outputs(teacher_outputs, student_outputs):
    """Checks a probe batch of teacher and student outputs."""
    check_same_output_shape(
        np.shape(teacher_outputs)[1:], np.shape(student_outputs)[1:]
    )
    if is_probabilities(teacher_outputs):
        raise _softmax_error("teacher")
    if is_probabilities(student_outputs):
        raise _softmax_error("student")


def check_labels(labels, num_classes, role="y"):
    """Raises if integer class labels fall outside `[0, num_classes)`.

    One-hot or soft labels (a trailing axis of size `num_classes`) only need
    that shape. Does nothing for labels of other structures.
    """
    if labels is None or isinstance(labels, (dict, list, tuple)):
        return
    labels = np.asarray(labels)
    if labels.size == 0:
        return
    if labels.ndim >= 2 and labels.shape[-1] == num_classes and num_classes > 1:
        return
    if not np.issubdtype(labels.dtype, np.number):
        raise ValueError(f"`{role}` must hold integer class ids, got dtype {labels.dtype}.")
    if not np.all(np.isfinite(labels)) or np.any(labels != np.round(labels)):
        raise ValueError(f"`{role}` must hold integer class ids in [0, {num_classes}).")
    low, high = labels.min(), labels.max()
    if low < 0 or high >= num_classes:
        raise ValueError(
            f"`{role}` holds class ids from {int(low)} to {int(high)}, but the "
            f"models output {num_classes} classes: ids must be in "
            f"[0, {num_classes - 1}]."
        )


def check_distiller_models(student, teacher):
    """Loads paths and checks the student and teachers of a `Distiller`.

    Args:
        student: A `keras.Model` or a path to a saved one.
        teacher: A `keras.Model`, a path, or a list of them.

    Returns:
        `(student, teachers)`: the student and the list of teachers, each a
        model that outputs logits of the same shape as the student's.
    """
    if isinstance(student, (str, os.PathLike)):
        student = load_model(student, role="student")
    check_model(student, "student")
    hub.check_logits_output(student, "student")
    teachers = list(teacher) if isinstance(teacher, (list, tuple)) else [teacher]
    if not teachers:
        raise ValueError("`teacher` is an empty list; give at least one teacher model.")
    teachers = [
        load_model(t, role="teacher") if isinstance(t, (str, os.PathLike)) else t
        for t in teachers
    ]
    for index, model in enumerate(teachers):
        role = "teacher" if len(teachers) == 1 else f"teacher {index}"
        check_model(model, role)
        hub.check_logits_output(model, role)
        if model is student:
            raise ValueError(
                f"The student and {role} are the same model object. Pass a "
                "separate, usually smaller, student model."
            )
        check_logit_models(model, student, teacher_role=role)
    hub.preprocessor_of(student, teachers)  # raises when they would read different tokens
    return student, teachers


def check_teacher_weights(weights, count):
    """Normalized teacher weights, or "entropy"; raises on bad values."""
    if isinstance(weights, str):
        if weights != "entropy":
            raise ValueError(f"`teacher_weights` must be a list of numbers or 'entropy', got {weights!r}.")
        return weights
    if weights is None:
        return [1.0 / count] * count
    weights = [float(w) for w in weights]
    if len(weights) != count:
        raise ValueError(
            f"`teacher_weights` has {len(weights)} entries for {count} teachers; give one per teacher."
        )
    if any(not np.isfinite(w) or w < 0 for w in weights) or sum(weights) <= 0:
        raise ValueError(f"`teacher_weights` must be non-negative with a positive sum, got {weights}.")
    total = sum(weights)
    return [w / total for w in weights]


def check_choice(name, value, choices):
    """Returns `value`, or raises naming the choices."""
    if value not in choices:
        raise ValueError(f"`{name}` must be one of {tuple(choices)}, got {value!r}.")
    return value


def check_non_negative(name, value):
    """Returns `value` as a float, or raises unless it is a finite number >= 0."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"`{name}` must be a number >= 0, got {value!r}.") from None
    if not math.isfinite(number) or number < 0:
        raise ValueError(f"`{name}` must be a finite number >= 0, got {value!r}.")
    return number


def check_boolean(name, value):
    """Returns `value`, or raises unless it is True or False."""
    if not isinstance(value, bool):
        raise ValueError(f"`{name}` must be True or False, got {value!r}.")
    return value


def check_warmup_epochs(epochs):
    """Returns `epochs` as an integer, or raises unless it is an integer >= 0."""
    if int(epochs) != epochs or epochs < 0:
        raise ValueError(f"`warmup_epochs` must be an integer >= 0, got {epochs!r}.")
    return int(epochs)


def check_labels_needed(labels, soft_loss, alpha):
    """Raises when labels are missing but the loss reads them.

    Args:
        labels: The labels given to `fit`, or None.
        soft_loss: The distiller's `keras_kd.losses.SoftLoss`.
        alpha: Float, the weight of the soft term.
    """
    if labels is not None:
        return
    if soft_loss.needs_labels:
        raise ValueError(
            f"distillation_loss={soft_loss.name!r} splits the distributions at the true "
            "class, so it needs labels. Pass labels (`y`, or (x, y) batches) "
            "or use distillation_loss='kl'."
        )
    if alpha < 1.0:
        raise ValueError(
            f"No labels were given but alpha={alpha} < 1 weights a "
            "label loss. Pass labels (`y`, or (x, y) batches), or set "
            "`alpha=1.0` to train on the teacher's soft labels alone."
        )


def check_num_classes(model, num_classes, role):
    """Raises unless `model` outputs `num_classes` logits (when its output shape is known)."""
    shape = _output_shape(model)
    if shape is not None and shape != (num_classes,):
        raise ValueError(
            f"The {role} outputs shape {shape} but the dataset has {num_classes} "
            f"classes: the {role} must output ({num_classes},) logits."
        )
