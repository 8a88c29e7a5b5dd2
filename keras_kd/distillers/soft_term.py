"""`SoftTerm`: the per-example soft-label term over one or several teachers."""

import keras
import numpy as np
from keras import ops

from keras_kd.distillers import checks
from keras_kd.distribute.replicas import batch_size, mean_over_batch, unscale_for_replicas
from keras_kd.losses import combine_teachers, entropy_weights, standardize_logits

COMBINATIONS = ("average", "sum")


class SoftTerm:
    """A registered soft loss (`keras_kd.losses.SOFT_LOSSES`), applied to one or several teachers.

    Several teachers' tempered distributions are mixed with `weights` into
    one target ("average"), or each gets its own term, weighted ("sum");
    "entropy" weights each example by the teachers' confidence. With
    `standardize=True` every teacher's and the student's logits are z-scored
    first (logit standardization, Sun et al. 2024), whatever the loss.

    Args:
        loss: A `keras_kd.losses.SoftLoss` from `SOFT_LOSSES`.
        options: Dict of the loss's keyword options (DKD's `alpha`, `beta`).
        teachers: Integer, the number of teachers.
        weights: None, a list of floats or "entropy" (`Distiller`'s `teacher_weights`).
        combination: String, "average" or "sum".
        standardize: Boolean, z-score the logits before the loss.
    """

    def __init__(self, loss, options, teachers, weights=None, combination="average",
                 standardize=False):
        self.loss = loss
        self.options = options
        self.weights = checks.check_teacher_weights(weights, teachers)
        self.combination = checks.check_choice("teacher_combination", combination, COMBINATIONS)
        self.standardize = bool(standardize)
        if loss.batch_function and self.weights == "entropy" and self.combination == "sum":
            raise ValueError(
                f"distillation_loss={loss.name!r} relates the examples of a batch to each "
                "other, so per-example teacher weights cannot weigh its separate teacher "
                "terms. Use teacher_combination='average' or a list of teacher_weights."
            )
        # History entries `teacher_<k>_loss`, with several teachers.
        self.trackers = [
            keras.metrics.Mean(name=f"teacher_{k}_loss") for k in range(teachers)
        ] if teachers > 1 else []

    def __call__(self, teacher_logits, student_logits, labels, temperature, sample_weight=None,
                 mask=None):
        """Per-example (or per-token) term; `teacher_logits` is a list, one tensor per teacher.

        `sample_weight` and `mask` weigh only the per-teacher history entries.
        """
        teacher_logits, student_logits = self._standardized(teacher_logits, student_logits)
        if len(teacher_logits) == 1:
            return self._one(teacher_logits[0], student_logits, labels, temperature)
        # Each teacher's own term, for the history and for "sum".
        own = [self._one(t, student_logits, labels, temperature) for t in teacher_logits]
        for tracker, values in zip(self.trackers, own):
            tracker.update_state(
                unscale_for_replicas(mean_over_batch(values, sample_weight, mask)),
                sample_weight=batch_size(values),
            )
        stacked, weights = self._stacked_and_weights(teacher_logits, temperature)
        own = ops.stack(own, axis=1)  # (batch, teachers, ...)
        if self.combination == "sum":
            extra = len(own.shape) - len(weights.shape)
            weights = ops.reshape(weights, ops.shape(weights) + (1,) * extra)
            return ops.sum(weights * own, axis=1)
        mixed = combine_teachers(stacked, weights, temperature)
        return self._one(mixed, student_logits, labels, temperature)

    def batch_term(self, teacher_logits, student_logits, labels, temperature, weights,
                   sum_over_batch):
        """The loss's batch-level part (a scalar over the global batch), or None if it has none.

        Args:
            teacher_logits: List of tensors, one per teacher.
            student_logits: Tensor `(batch, ..., classes)`.
            labels: Labels or None.
            temperature: Scalar.
            weights: Tensor `(batch, ...)`, per-example weights (0: left out).
            sum_over_batch: Callable summing over the first axis and the replicas.
        """
        function = self.loss.batch_function
        if function is None:
            return None
        teacher_logits, student_logits = self._standardized(teacher_logits, student_logits)

        def one(teacher):
            return function(teacher, student_logits, labels, temperature, weights,
                            sum_over_batch, **self.options)

        if len(teacher_logits) == 1:
            return one(teacher_logits[0])
        if self.combination == "sum":  # list weights only (checked at construction)
            return sum(w * one(t) for w, t in zip(self.weights, teacher_logits))
        stacked, weights_ = self._stacked_and_weights(teacher_logits, temperature)
        return one(combine_teachers(stacked, weights_, temperature))

    def _stacked_and_weights(self, teacher_logits, temperature):
        """`(batch, teachers, ..., classes)` logits and the teachers' weights."""
        stacked = ops.stack([ops.cast(t, "float32") for t in teacher_logits], axis=1)
        if self.weights == "entropy":
            return stacked, ops.stop_gradient(entropy_weights(stacked, temperature))
        return stacked, ops.convert_to_tensor(np.asarray(self.weights, "float32"))[None, :]

    def _standardized(self, teacher_logits, student_logits):
        if not self.standardize:
            return teacher_logits, student_logits
        return [standardize_logits(t) for t in teacher_logits], standardize_logits(student_logits)

    def _one(self, teacher_logits, student_logits, labels, temperature):
        return self.loss.function(teacher_logits, student_logits, labels, temperature,
                                  **self.options)
