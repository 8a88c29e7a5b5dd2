"""The soft-label terms a `Distiller` can use, by name: one table, read by every distiller."""

import dataclasses

import keras
from keras import ops

from keras_kd.losses.dist import dist_inter_class, dist_intra_class
from keras_kd.losses.dkd import decoupled_distillation_loss
from keras_kd.losses.jsd import generalized_jsd
from keras_kd.losses.kl import distillation_loss
from keras_kd.losses.reverse_kl import reverse_kl_divergence


@dataclasses.dataclass(frozen=True)
class SoftLoss:
    """One soft-label term.

    Attributes:
        name: String, the `distillation_loss` argument that selects it.
        function: Callable `(teacher_logits, student_logits, labels,
            temperature, **options) -> per-example tensor`.
        needs_labels: Boolean; the term reads the true classes.
        options: Dict from the function's keyword options to the
            `Distiller` arguments that set them.
        batch_function: None, or a callable `(teacher_logits,
            student_logits, labels, temperature, weights, sum_over_batch,
            **options) -> scalar` for a part of the term that relates the
            examples of a batch to each other (DIST's intra-class relation);
            `weights` are per-example weights of the shape of the per-example
            values, and `sum_over_batch` sums over the global batch.
    """

    name: str
    function: object
    needs_labels: bool = False
    options: dict = dataclasses.field(default_factory=dict)
    batch_function: object = None


def _kl(teacher_logits, student_logits, labels, temperature):
    del labels
    return distillation_loss(teacher_logits, student_logits, temperature)


def _reverse_kl(teacher_logits, student_logits, labels, temperature):
    del labels
    return reverse_kl_divergence(teacher_logits, student_logits, temperature)


def _jsd(teacher_logits, student_logits, labels, temperature, beta):
    del labels
    return generalized_jsd(teacher_logits, student_logits, temperature, beta)


def _dkd(teacher_logits, student_logits, labels, temperature, alpha, beta):
    ids = class_ids(labels, len(student_logits.shape))
    return decoupled_distillation_loss(
        teacher_logits, student_logits, ids, temperature, alpha=alpha, beta=beta
    )


def _dist(teacher_logits, student_logits, labels, temperature, beta, gamma):
    del labels, gamma
    return beta * dist_inter_class(teacher_logits, student_logits, temperature)


def _dist_batch(teacher_logits, student_logits, labels, temperature, weights, sum_over_batch,
                beta, gamma):
    del labels, beta
    return gamma * dist_intra_class(teacher_logits, student_logits, temperature, weights,
                                    sum_over_batch)


SOFT_LOSSES = {
    "kl": SoftLoss("kl", _kl),
    "reverse_kl": SoftLoss("reverse_kl", _reverse_kl),
    "jsd": SoftLoss("jsd", _jsd, options={"beta": "jsd_beta"}),
    "dkd": SoftLoss("dkd", _dkd, needs_labels=True,
                    options={"alpha": "dkd_alpha", "beta": "dkd_beta"}),
    "dist": SoftLoss("dist", _dist, options={"beta": "dist_beta", "gamma": "dist_gamma"},
                     batch_function=_dist_batch),
}



def soft_loss(name):
    """The `SoftLoss` registered as `name`; raises with the choices otherwise."""
    if name not in SOFT_LOSSES:
        raise ValueError(
            f"`distillation_loss` must be one of {tuple(SOFT_LOSSES)}, got {name!r}."
        )
    return SOFT_LOSSES[name]


def class_ids(labels, logits_rank=2):
    """Integer class ids of the shape of the logits without their class axis.

    Args:
        labels: Sparse ids `(batch, ...)` (or `(batch, 1)` for a classifier),
            or one-hot rows of the logits' shape.
        logits_rank: Integer, the rank of the logits (2 for a classifier, 3
            per token).
    """
    labels = ops.convert_to_tensor(labels)
    if len(labels.shape) == logits_rank and labels.shape[-1] not in (None, 1):
        return ops.argmax(labels, axis=-1)
    if len(labels.shape) == logits_rank:  # (batch, ..., 1)
        return ops.squeeze(labels, axis=-1)
    return labels


# Label losses given by name are read as taking logits: the student's outputs
# are logits, so the probability forms would be wrong.
_LOGIT_LOSSES = {
    "sparse_categorical_crossentropy": keras.losses.SparseCategoricalCrossentropy,
    "categorical_crossentropy": keras.losses.CategoricalCrossentropy,
}


def label_loss(loss):
    """The label loss to compile, insisting that it takes logits.

    Args:
        loss: None (sparse cross-entropy from logits), a cross-entropy's
            name, or a `keras.losses.Loss`.

    Returns:
        A `keras.losses.Loss` (or the callable given).
    """
    if loss is None:
        return keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    if isinstance(loss, str) and loss in _LOGIT_LOSSES:
        return _LOGIT_LOSSES[loss](from_logits=True)
    if getattr(loss, "from_logits", None) is False:
        raise ValueError(
            f"The label loss {type(loss).__name__} was built with "
            "from_logits=False, but the student outputs logits. Pass "
            f"{type(loss).__name__}(from_logits=True)."
        )
    return loss
