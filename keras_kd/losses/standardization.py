"""Logit standardization (Sun et al., CVPR 2024): z-scored logits before the temperature."""

from keras import ops

from keras_kd.losses.kl import as_float32

EPSILON = 1e-7


def standardize_logits(logits, epsilon=EPSILON):
    """Z-scores each example's logits over the class axis: `(z - mean) / (std + epsilon)`.

    Sun et al. (CVPR 2024, "Logit Standardization in Knowledge
    Distillation") apply this to the teacher's and the student's logits
    before dividing by the temperature, so the student matches the
    teacher's logit *relations* instead of their range: a small student
    need not reproduce a large teacher's logit scale. As in the authors'
    code, `std` is the sample standard deviation (ddof=1) and `epsilon` is
    added to it. The result is invariant to adding a constant to, or
    multiplying by a positive number, each example's logits.

    Args:
        logits: Tensor `(batch, ..., classes)`, at least 2 classes; cast to
            float32 unless float64.
        epsilon: Float added to the standard deviation. Defaults to 1e-7.

    Returns:
        Tensor of the same shape.

    Example:

    ```python
    z = keras_kd.losses.standardize_logits(student(x))
    ```
    """
    logits = as_float32(logits)
    classes = logits.shape[-1]
    if classes is not None and classes < 2:
        raise ValueError(
            f"Logit standardization needs at least 2 classes, got logits of shape "
            f"{tuple(logits.shape)}. Use standardize_logits=False for a single output."
        )
    mean = ops.mean(logits, axis=-1, keepdims=True)
    centered = logits - mean
    count = ops.cast(ops.shape(logits)[-1], logits.dtype)
    std = ops.sqrt(ops.sum(ops.square(centered), axis=-1, keepdims=True) / (count - 1.0))
    return centered / (std + ops.cast(epsilon, logits.dtype))
