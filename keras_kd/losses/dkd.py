"""Decoupled knowledge distillation (DKD, Zhao et al. 2022)."""

from keras import ops

from keras_kd.losses.kl import as_float32


def decoupled_distillation_loss(teacher_logits, student_logits, labels, temperature=1.0,
                                alpha=1.0, beta=8.0):
    """Per-example decoupled KD (DKD, Zhao et al. 2022): `T^2 (alpha TCKD + beta NCKD)`.

    TCKD is the KL divergence between the binary (target class, all others)
    distributions of teacher and student; NCKD the KL divergence between
    their distributions over the non-target classes alone. Both are computed
    from log-softmax with the target class masked out, never from the log of
    a probability.

    Args:
        teacher_logits: Tensor `(batch, ..., classes)`.
        student_logits: Tensor of the same shape.
        labels: Integer tensor `(batch, ...)` of target classes.
        temperature: Float, greater than 0. Defaults to 1.0.
        alpha: Float, weight of TCKD. Defaults to 1.0.
        beta: Float, weight of NCKD. Defaults to 8.0 (the paper's CIFAR setting).

    Returns:
        Tensor `(batch, ...)`.

    Example:

    ```python
    loss = keras_kd.losses.decoupled_distillation_loss(t, s, y, 4.0, alpha=1.0, beta=8.0)
    ```
    """
    teacher_logits = as_float32(teacher_logits)
    student_logits = as_float32(student_logits)
    temperature = ops.cast(temperature, teacher_logits.dtype)
    target = ops.cast(
        ops.one_hot(ops.reshape(ops.cast(labels, "int32"), ops.shape(teacher_logits)[:-1]),
                    ops.shape(teacher_logits)[-1]),
        "bool",
    )
    parts = [_binary_and_rest(z / temperature, target) for z in (teacher_logits, student_logits)]
    (t_in, t_out, t_rest), (s_in, s_out, s_rest) = parts
    tckd = ops.exp(t_in) * (t_in - s_in) + ops.exp(t_out) * (t_out - s_out)
    difference = ops.where(target, ops.zeros_like(t_rest), t_rest - s_rest)
    probabilities = ops.where(target, ops.zeros_like(t_rest), ops.exp(t_rest))
    nckd = ops.sum(probabilities * difference, axis=-1)
    return ops.square(temperature) * (alpha * tckd + beta * nckd)


def _binary_and_rest(scaled, target):
    """`(log p_target, log (1 - p_target), log-softmax over the non-target classes)`."""
    log_all = ops.logsumexp(scaled, axis=-1)
    masked = ops.where(target, ops.full_like(scaled, -float("inf")), scaled)
    log_rest = ops.logsumexp(masked, axis=-1)
    log_target = ops.sum(ops.where(target, scaled, ops.zeros_like(scaled)), axis=-1) - log_all
    return log_target, log_rest - log_all, scaled - log_rest[..., None]
