"""`SoftTerm`: the per-example soft-label term over one or several teachers."""

import keras
import numpy as np
from keras import ops

from keras_kd.distillers import checks
from keras_kd.distribute.replicas import batch_size, mean_over_batch, unscale_for_replicas
from keras_kd.losses import combine_teachers, entropy_weights

COMBINATIONS = ("average", "sum")


class SoftTerm:
    """A registered soft loss (`keras_kd.losses.SOFT_LOSSES`), applied to one or several teachers.

    Several teachers' tempered distributions are mixed with `weights` into
    one target ("average"), or each gets its own term, weighted ("sum");
    "entropy" weights each example by the teachers' confidence.

    Args:
        loss: A `keras_kd.losses.SoftLoss` from `SOFT_LOSSES`.
        options: Dict of the loss's keyword options (DKD's `alpha`, `beta`).
        teachers: Integer, the number of teachers.
        weights: None, a list of floats or "entropy" (`Distiller`'s `teacher_weights`).
        combination: String, "average" or "sum".
    """

    def __init__(self, loss, options, teachers, weights=None, combination="average"):
        self.loss = loss
        self.options = options
        self.weights = checks.check_teacher_weights(weights, teachers)
        self.combination = checks.check_choice("teacher_combination", combination, COMBINATIONS)
        # History entries `teacher_<k>_loss`, with several teachers.
        self.trackers = [
            keras.metrics.Mean(name=f"teacher_{k}_loss") for k in range(teachers)
        ] if teachers > 1 else []

    def __call__(self, teacher_logits, student_logits, labels, temperature, sample_weight=None,
                 mask=None):
        """Per-example (or per-token) term; `teacher_logits` is a list, one tensor per teacher.

        `sample_weight` and `mask` weigh only the per-teacher history entries.
        """
        if len(teacher_logits) == 1:
            return self._one(teacher_logits[0], student_logits, labels, temperature)
        # Each teacher's own term, for the history and for "sum".
        own = [self._one(t, student_logits, labels, temperature) for t in teacher_logits]
        for tracker, values in zip(self.trackers, own):
            tracker.update_state(
                unscale_for_replicas(mean_over_batch(values, sample_weight, mask)),
                sample_weight=batch_size(values),
            )
        stacked = ops.stack([ops.cast(t, "float32") for t in teacher_logits], axis=1)
        if self.weights == "entropy":
            weights = ops.stop_gradient(entropy_weights(stacked, temperature))
        else:
            weights = ops.convert_to_tensor(np.asarray(self.weights, "float32"))[None, :]
        own = ops.stack(own, axis=1)  # (batch, teachers, ...)
        if self.combination == "sum":
            extra = len(own.shape) - len(weights.shape)
            weights = ops.reshape(weights, ops.shape(weights) + (1,) * extra)
            return ops.sum(weights * own, axis=1)
        mixed = combine_teachers(stacked, weights, temperature)
        return self._one(mixed, student_logits, labels, temperature)

    def _one(self, teacher_logits, student_logits, labels, temperature):
        return self.loss.function(teacher_logits, student_logits, labels, temperature,
                                  **self.options)
