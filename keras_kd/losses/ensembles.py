"""Mixing several teachers' tempered distributions into one target."""

from keras import ops

from keras_kd.losses.kl import as_float32


def combine_teachers(teacher_logits, weights, temperature=1.0):
    """Logits whose tempered softmax is the weighted mixture of the teachers' ones.

    Returns `T * log(sum_k w_k softmax(t_k / T))`, computed as a log-sum-exp,
    so `softmax(result / T)` is the mixture and any distillation loss can use
    it in place of one teacher's logits.

    Args:
        teacher_logits: Tensor `(batch, teachers, ..., classes)`.
        weights: Tensor `(teachers,)`, `(batch, teachers)` or `(batch,
            teachers, ...)` (per token), summing to 1 over the teachers.
        temperature: Float, greater than 0. Defaults to 1.0.

    Returns:
        Float32 tensor `(batch, ..., classes)`.

    Example:

    ```python
    t = keras_kd.losses.combine_teachers(ops.stack([t1, t2], 1), [0.5, 0.5], 4.0)
    ```
    """
    teacher_logits = as_float32(teacher_logits)
    temperature = ops.cast(temperature, teacher_logits.dtype)
    weights = _per_teacher(weights, teacher_logits)
    log_p = ops.log_softmax(teacher_logits / temperature, axis=-1)
    mixed = ops.logsumexp(log_p + ops.log(weights)[..., None], axis=1)
    return temperature * mixed


def entropy_weights(teacher_logits, temperature=1.0, prior=None):
    """Per-example teacher weights that favour confident (low-entropy) teachers.

    `w_k(x) = prior_k exp(-H(softmax(t_k(x) / T))) / Z(x)`: no learned
    parameters; a teacher unsure about an example counts less for it.

    Args:
        teacher_logits: Tensor `(batch, teachers, ..., classes)`.
        temperature: Float, greater than 0. Defaults to 1.0.
        prior: Optional tensor `(teachers,)` of non-negative weights.

    Returns:
        Float32 tensor `(batch, teachers, ...)` (one weight per example or
        token) summing to 1 over the teachers.

    Example:

    ```python
    w = keras_kd.losses.entropy_weights(ops.stack([t1, t2], 1), 4.0)
    ```
    """
    teacher_logits = as_float32(teacher_logits)
    temperature = ops.cast(temperature, teacher_logits.dtype)
    log_p = ops.log_softmax(teacher_logits / temperature, axis=-1)
    entropy = -ops.sum(ops.exp(log_p) * log_p, axis=-1)
    score = -entropy
    if prior is not None:
        score = score + ops.log(_per_teacher(prior, score[..., None]))
    return ops.softmax(score, axis=1)


def _per_teacher(weights, teacher_logits):
    """Weights shaped to broadcast over `(batch, teachers, ...)` without the class axis."""
    weights = ops.cast(ops.convert_to_tensor(weights), teacher_logits.dtype)
    if len(weights.shape) == 1:
        weights = weights[None, :]
    extra = len(teacher_logits.shape) - 1 - len(weights.shape)
    return ops.reshape(weights, ops.shape(weights) + (1,) * extra) if extra > 0 else weights
