"""Generalized Jensen-Shannon divergence with `beta` (GKD, Agarwal et al. 2024)."""

import math

import keras
from keras import ops

from keras_kd.losses.kl import TemperedLoss, as_float32


def check_beta(beta):
    """Returns `beta` as a float, or raises unless 0 < beta < 1."""
    try:
        value = float(beta)
    except (TypeError, ValueError):
        raise ValueError(f"`beta` must be a number in (0, 1), got {beta!r}.") from None
    if not 0.0 < value < 1.0:
        raise ValueError(
            f"`beta` must lie strictly between 0 and 1, got {value}: at 0 or 1 the "
            "mixture equals one of the two distributions and the divergence is 0. "
            "For those limits use distillation_loss='kl' or 'reverse_kl'."
        )
    return value


def generalized_jsd(teacher_logits, student_logits, temperature=1.0, beta=0.5):
    """Per-example `T^2 * (beta KL(p || m) + (1 - beta) KL(q || m))`, `m = beta p + (1 - beta) q`.

    `p = softmax(teacher / T)`, `q = softmax(student / T)`. `beta = 0.5` is
    the symmetric Jensen-Shannon divergence (bounded by `log 2`); GKD's
    `beta` moves it between forward-KL-like (small beta) and reverse-KL-like
    (large beta) behaviour. Each KL to the mixture is computed from the log
    ratio `d` of the two distributions as `-E[log(1 - w + w e^d)]`, with
    `log1p(w expm1(d))` where `|d| < 1` (exact for near-identical
    distributions) and a log-add-exp elsewhere (no overflow).

    Args:
        teacher_logits: Tensor `(batch, ..., classes)`.
        student_logits: Tensor of the same shape.
        temperature: Float or scalar tensor, greater than 0. Defaults to 1.0.
        beta: Float in (0, 1), the teacher's weight in the mixture. Defaults to 0.5.

    Returns:
        Tensor `(batch, ...)`.

    Example:

    ```python
    loss = keras_kd.losses.generalized_jsd(teacher(x), student(x), 1.0, beta=0.5)
    ```
    """
    beta = check_beta(beta)
    teacher_logits = as_float32(teacher_logits)
    student_logits = as_float32(student_logits)
    temperature = ops.cast(temperature, teacher_logits.dtype)
    log_p = ops.log_softmax(teacher_logits / temperature, axis=-1)
    log_q = ops.log_softmax(student_logits / temperature, axis=-1)
    # KL(p || m) = -E_p[log(m / p)], m / p = beta + (1 - beta) q / p; likewise for q.
    kl_p = -ops.sum(ops.exp(log_p) * _log_mixture_ratio(log_q - log_p, 1.0 - beta), axis=-1)
    kl_q = -ops.sum(ops.exp(log_q) * _log_mixture_ratio(log_p - log_q, beta), axis=-1)
    return ops.square(temperature) * (beta * kl_p + (1.0 - beta) * kl_q)


def _log_mixture_ratio(d, w):
    """`log(1 - w + w exp(d))`, exact near d = 0 and free of overflow for large d."""
    near = ops.abs(d) < 1.0
    safe = ops.where(near, d, ops.zeros_like(d))
    precise = ops.log1p(w * ops.expm1(safe))
    far = ops.logaddexp(ops.full_like(d, math.log(1.0 - w)), math.log(w) + d)
    return ops.where(near, precise, far)


@keras.saving.register_keras_serializable(package="keras_kd")
class GeneralizedJSD(TemperedLoss):
    """`generalized_jsd` as a Keras `Loss`.

    Args:
        temperature: Float, greater than 0, or a scalar `keras.Variable`.
            Defaults to 1.0.
        beta: Float in (0, 1), the teacher's weight in the mixture. Defaults to 0.5.
        **kwargs: `name` (default "generalized_jsd"), `reduction`, `dtype`,
            as `keras_kd.losses.kl.TemperedLoss`.

    Example:

    ```python
    loss = keras_kd.losses.GeneralizedJSD(1.0, beta=0.9)(teacher_logits, student_logits)
    ```
    """

    default_name = "generalized_jsd"

    def __init__(self, temperature=1.0, beta=0.5, **kwargs):
        super().__init__(temperature, **kwargs)
        self.beta = check_beta(beta)

    def call(self, y_true, y_pred):
        return generalized_jsd(y_true, y_pred, self.temperature, self.beta)

    def get_config(self):
        return {**super().get_config(), "beta": self.beta}
