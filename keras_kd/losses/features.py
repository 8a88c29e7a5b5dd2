"""Feature-hint (FitNets) distances between teacher and student features."""

from keras import ops

from keras_kd.losses.kl import as_float32


def hint_loss(teacher_features, student_features, kind="mse"):
    """Per-example distance between teacher and (projected) student features (FitNets).

    Sequences, `(batch, steps, channels)`, are compared step by step (a
    token's hidden state with the teacher's, as DistilBERT's cosine loss
    does), so that padded steps can be left out; other shapes per example.

    Args:
        teacher_features: Tensor `(batch, ...)`.
        student_features: Tensor of the same shape.
        kind: String, "mse" (mean squared difference over the feature
            entries) or "cosine" (1 - cosine similarity of the flattened
            features). Defaults to "mse".

    Returns:
        Float32 tensor `(batch, steps)` for sequences, else `(batch,)`.

    Example:

    ```python
    loss = keras_kd.losses.hint_loss(teacher_block3, projection(student_block2))
    ```
    """
    t = as_float32(teacher_features)
    s = as_float32(student_features)
    if len(t.shape) != 3:
        t = ops.reshape(t, (ops.shape(t)[0], -1))
        s = ops.reshape(s, (ops.shape(s)[0], -1))
    if kind == "mse":
        return ops.mean(ops.square(t - s), axis=-1)
    if kind == "cosine":
        dot = ops.sum(t * s, axis=-1)
        norms = ops.sqrt(ops.sum(ops.square(t), axis=-1) * ops.sum(ops.square(s), axis=-1))
        return 1.0 - dot / ops.maximum(norms, 1e-12)
    raise ValueError(f"Unknown hint loss {kind!r}; use 'mse' or 'cosine'.")
