"""The packed target that carries labels and teacher logits through `fit()` together."""

import keras

LABELS = "keras_kd_labels"
TEACHER_LOGITS = "keras_kd_teacher_logits"


def pack(labels, teacher_logits):
    """Bundles labels (or None) with precomputed teacher logits as one target.

    Args:
        labels: The true labels, or None when training on soft labels alone.
        teacher_logits: The teacher's logits for the same examples.

    Returns:
        A dict that `keras.Model.fit` slices, shuffles and batches like any
        target, and that `unpack` reads back inside the training step.
    """
    packed = {TEACHER_LOGITS: teacher_logits}
    if labels is not None:
        packed[LABELS] = labels
    return packed


def unpack(y):
    """Splits a target into `(labels, teacher_logits)`.

    Args:
        y: A target made by `pack`, or plain labels (or None).

    Returns:
        `(labels, teacher_logits)`; `teacher_logits` is None for plain labels.
    """
    if isinstance(y, dict) and TEACHER_LOGITS in y:
        return y.get(LABELS), y[TEACHER_LOGITS]
    return y, None


def is_packed(y):
    """Whether `y` already carries teacher logits."""
    return isinstance(y, dict) and TEACHER_LOGITS in y


def weights_for(y, sample_weight):
    """`sample_weight` in the form `fit` accepts next to a packed target `y`.

    Keras refuses one `sample_weight` array of more than one value per
    example (a padding mask `(batch, seq)`) when the target is a dict, so
    per-token weights are repeated for every entry of `y`; `unpack_weights`
    reads them back.
    """
    if sample_weight is None or not is_packed(y) or isinstance(sample_weight, dict):
        return sample_weight
    shape = getattr(sample_weight, "shape", ())
    if len(shape) <= 1 or (len(shape) == 2 and shape[1] == 1):
        return sample_weight
    # One entry per leaf: the teachers' outputs may be a list (`TeacherView.structured`).
    return keras.tree.map_structure(lambda _: sample_weight, y)


def unpack_weights(sample_weight):
    """The one `sample_weight` array behind `weights_for`'s structure (or the array itself)."""
    if isinstance(sample_weight, dict):
        return keras.tree.flatten(sample_weight)[0]
    return sample_weight
