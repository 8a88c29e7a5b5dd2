"""Forward KL between tempered distributions: `distillation_loss` and `DistillationLoss`."""

import math

import keras
from keras import ops

def as_float32(x):
    """Casts to float32 unless already float64, so float16 logits never reach the loss."""
    x = ops.convert_to_tensor(x)
    if keras.backend.standardize_dtype(x.dtype) == "float64":
        return x
    return ops.cast(x, "float32")


def distillation_loss(teacher_logits, student_logits, temperature=1.0):
    """Per-example `T^2 * KL(softmax(teacher / T) || softmax(student / T))`.

    Computed from log-softmax, never from the log of clipped probabilities, so
    it stays exact for large logits and its gradient with respect to the
    student logits is `T * (softmax(student / T) - softmax(teacher / T))`.
    Inputs in float16 or bfloat16 are cast to float32 first.

    Args:
        teacher_logits: Tensor of shape `(batch, ..., classes)`, the
            teacher's pre-softmax outputs: `(batch, classes)` for a
            classifier, `(batch, seq, vocab)` per token, `(batch, h, w,
            classes)` per pixel.
        student_logits: Tensor of the same shape, the student's logits.
        temperature: Float or scalar tensor, greater than 0. Defaults to 1.0.

    Returns:
        Tensor of shape `(batch, ...)`: the scaled KL divergence of each
        example (token, pixel).

    Example:

    ```python
    loss = keras_kd.losses.distillation_loss(teacher(x), student(x), 4.0)
    ```
    """
    teacher_logits = as_float32(teacher_logits)
    student_logits = as_float32(student_logits)
    temperature = ops.cast(temperature, teacher_logits.dtype)
    log_p = ops.log_softmax(teacher_logits / temperature, axis=-1)
    p = ops.exp(log_p)
    # With d = (t - s) / T and its p-weighted mean c, the identity
    #   KL(p || q) = log E_p[exp(-(d - c))]
    # holds exactly. Near-identical distributions (high T) make KL tiny and
    # the usual sum of p * (log p - log q) loses most of its digits, so there
    # it is evaluated as log1p(E_p[expm1(-(d - c))]), which keeps them; for
    # large differences, where expm1 could overflow, as a log-sum-exp.
    d = (teacher_logits - student_logits) / temperature
    centered = d - ops.sum(p * d, axis=-1, keepdims=True)
    near = ops.max(ops.abs(centered), axis=-1) < 1.0
    safe = ops.where(near[..., None], centered, ops.zeros_like(centered))
    kl_near = ops.log1p(ops.sum(p * ops.expm1(-safe), axis=-1))
    kl_far = ops.logsumexp(log_p - centered, axis=-1)
    kl = ops.where(near, kl_near, kl_far)
    return ops.square(temperature) * kl


def check_temperature(temperature):
    """Returns `temperature` as a float, or raises if it is not finite and > 0."""
    try:
        value = float(temperature)
    except (TypeError, ValueError):
        raise ValueError(
            f"`temperature` must be a number greater than 0, got {temperature!r}."
        ) from None
    if not math.isfinite(value) or value <= 0:
        raise ValueError(
            f"`temperature` must be finite and greater than 0, got {value}. "
            "Typical values are 1 to 20; 1 leaves the teacher's softmax as is."
        )
    return value


class TemperedLoss(keras.losses.Loss):
    """Base of the divergence `Loss` classes: a temperature, Keras's reduction, and a config.

    `y_true` takes the teacher's logits and `y_pred` the student's. The
    reduction is Keras's, so under `tf.distribute` the per-replica value is
    scaled by the replica count exactly as for any compiled loss, and a
    `sample_weight` of shape `(batch, seq)` weights each token.

    Args:
        temperature: Float, greater than 0, or a scalar `keras.Variable` that
            is read on every call. Defaults to 1.0.
        name: String, name of the loss.
        reduction: String, a Keras loss reduction. Defaults to
            "sum_over_batch_size".
        dtype: The dtype of the loss's computations. Defaults to float32.
    """

    default_name = None

    def __init__(self, temperature=1.0, name=None, reduction="sum_over_batch_size", dtype=None):
        super().__init__(name=name or self.default_name, reduction=reduction, dtype=dtype)
        if not isinstance(temperature, keras.Variable):
            temperature = check_temperature(temperature)
        self.temperature = temperature

    def get_config(self):
        config = super().get_config()
        config["temperature"] = float(keras.ops.convert_to_numpy(self.temperature))
        return config


@keras.saving.register_keras_serializable(package="keras_kd")
class DistillationLoss(TemperedLoss):
    """`T^2 * KL(teacher || student)` between tempered distributions (`distillation_loss`).

    Arguments as `TemperedLoss`; the name defaults to "distillation_loss".

    Example:

    ```python
    loss_fn = keras_kd.losses.DistillationLoss(temperature=4.0)
    loss = loss_fn(teacher_logits, student_logits)
    ```
    """

    default_name = "distillation_loss"

    def call(self, y_true, y_pred):
        return distillation_loss(y_true, y_pred, self.temperature)
