"""Up-front checks of distillation inputs, each raising an error that names the fix."""

import numpy as np
import keras

from keras_kd.losses import check_temperature  # noqa: F401  (re-exported)


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
