"""Distillation losses: pure functions of tensors and thin `keras.losses.Loss` wrappers."""

import math

import keras
from keras import ops


def _as_float32(x):
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
        teacher_logits: Tensor of shape `(batch, classes)`, the teacher's
            pre-softmax outputs.
        student_logits: Tensor of the same shape, the student's logits.
        temperature: Float or scalar tensor, greater than 0. Defaults to 1.0.

    Returns:
        Tensor of shape `(batch,)`: the scaled KL divergence of each example.

    Example:

    ```python
    loss = keras_kd.losses.distillation_loss(teacher(x), student(x), 4.0)
    ```
    """
    teacher_logits = _as_float32(teacher_logits)
    student_logits = _as_float32(student_logits)
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


@keras.saving.register_keras_serializable(package="keras_kd")
class DistillationLoss(keras.losses.Loss):
    """`T^2 * KL` between tempered teacher and student distributions.

    `y_true` takes the teacher's logits and `y_pred` the student's. The
    reduction is Keras's, so under `tf.distribute` the per-replica value is
    scaled by the replica count exactly as for any compiled loss.

    Args:
        temperature: Float, greater than 0, or a scalar `keras.Variable` that
            is read on every call. Defaults to 1.0.
        name: String, name of the loss. Defaults to "distillation_loss".
        reduction: String, a Keras loss reduction. Defaults to
            "sum_over_batch_size".
        dtype: The dtype of the loss's computations. Defaults to float32.

    Example:

    ```python
    loss_fn = keras_kd.losses.DistillationLoss(temperature=4.0)
    loss = loss_fn(teacher_logits, student_logits)
    ```
    """

    def __init__(
        self,
        temperature=1.0,
        name="distillation_loss",
        reduction="sum_over_batch_size",
        dtype=None,
    ):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        if not isinstance(temperature, keras.Variable):
            temperature = check_temperature(temperature)
        self.temperature = temperature

    def call(self, y_true, y_pred):
        return distillation_loss(y_true, y_pred, self.temperature)

    def get_config(self):
        config = super().get_config()
        config["temperature"] = float(keras.ops.convert_to_numpy(self.temperature))
        return config


def decoupled_distillation_loss(teacher_logits, student_logits, labels, temperature=1.0,
                                alpha=1.0, beta=8.0):
    """Per-example decoupled KD (DKD, Zhao et al. 2022): `T^2 (alpha TCKD + beta NCKD)`.

    TCKD is the KL divergence between the binary (target class, all others)
    distributions of teacher and student; NCKD the KL divergence between
    their distributions over the non-target classes alone. Both are computed
    from log-softmax with the target class masked out, never from the log of
    a probability.

    Args:
        teacher_logits: Tensor `(batch, classes)`.
        student_logits: Tensor `(batch, classes)`.
        labels: Integer tensor `(batch,)` of target classes.
        temperature: Float, greater than 0. Defaults to 1.0.
        alpha: Float, weight of TCKD. Defaults to 1.0.
        beta: Float, weight of NCKD. Defaults to 8.0 (the paper's CIFAR setting).

    Returns:
        Tensor `(batch,)`.

    Example:

    ```python
    loss = keras_kd.losses.decoupled_distillation_loss(t, s, y, 4.0, alpha=1.0, beta=8.0)
    ```
    """
    teacher_logits = _as_float32(teacher_logits)
    student_logits = _as_float32(student_logits)
    temperature = ops.cast(temperature, teacher_logits.dtype)
    target = ops.cast(
        ops.one_hot(ops.reshape(ops.cast(labels, "int32"), (-1,)), ops.shape(teacher_logits)[-1]),
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
    return log_target, log_rest - log_all, scaled - log_rest[:, None]


def combine_teachers(teacher_logits, weights, temperature=1.0):
    """Logits whose tempered softmax is the weighted mixture of the teachers' ones.

    Returns `T * log(sum_k w_k softmax(t_k / T))`, computed as a log-sum-exp,
    so `softmax(result / T)` is the mixture and any distillation loss can use
    it in place of one teacher's logits.

    Args:
        teacher_logits: Tensor `(batch, teachers, classes)`.
        weights: Tensor `(teachers,)` or `(batch, teachers)`, rows summing to 1.
        temperature: Float, greater than 0. Defaults to 1.0.

    Returns:
        Float32 tensor `(batch, classes)`.

    Example:

    ```python
    t = keras_kd.losses.combine_teachers(ops.stack([t1, t2], 1), [0.5, 0.5], 4.0)
    ```
    """
    teacher_logits = _as_float32(teacher_logits)
    temperature = ops.cast(temperature, teacher_logits.dtype)
    weights = ops.cast(ops.convert_to_tensor(weights), teacher_logits.dtype)
    if len(weights.shape) == 1:
        weights = weights[None, :]
    log_p = ops.log_softmax(teacher_logits / temperature, axis=-1)
    mixed = ops.logsumexp(log_p + ops.log(weights)[..., None], axis=1)
    return temperature * mixed


def entropy_weights(teacher_logits, temperature=1.0, prior=None):
    """Per-example teacher weights that favour confident (low-entropy) teachers.

    `w_k(x) = prior_k exp(-H(softmax(t_k(x) / T))) / Z(x)`: no learned
    parameters; a teacher unsure about an example counts less for it.

    Args:
        teacher_logits: Tensor `(batch, teachers, classes)`.
        temperature: Float, greater than 0. Defaults to 1.0.
        prior: Optional tensor `(teachers,)` of non-negative weights.

    Returns:
        Float32 tensor `(batch, teachers)` whose rows sum to 1.

    Example:

    ```python
    w = keras_kd.losses.entropy_weights(ops.stack([t1, t2], 1), 4.0)
    ```
    """
    teacher_logits = _as_float32(teacher_logits)
    temperature = ops.cast(temperature, teacher_logits.dtype)
    log_p = ops.log_softmax(teacher_logits / temperature, axis=-1)
    entropy = -ops.sum(ops.exp(log_p) * log_p, axis=-1)
    score = -entropy
    if prior is not None:
        score = score + ops.log(ops.cast(ops.convert_to_tensor(prior), score.dtype))[None, :]
    return ops.softmax(score, axis=-1)


def hint_loss(teacher_features, student_features, kind="mse"):
    """Per-example distance between teacher and (projected) student features (FitNets).

    Args:
        teacher_features: Tensor `(batch, ...)`.
        student_features: Tensor of the same shape.
        kind: String, "mse" (mean squared difference over all feature
            entries) or "cosine" (1 - cosine similarity of the flattened
            features). Defaults to "mse".

    Returns:
        Float32 tensor `(batch,)`.

    Example:

    ```python
    loss = keras_kd.losses.hint_loss(teacher_block3, projection(student_block2))
    ```
    """
    t = _as_float32(teacher_features)
    s = _as_float32(student_features)
    t = ops.reshape(t, (ops.shape(t)[0], -1))
    s = ops.reshape(s, (ops.shape(s)[0], -1))
    if kind == "mse":
        return ops.mean(ops.square(t - s), axis=-1)
    if kind == "cosine":
        dot = ops.sum(t * s, axis=-1)
        norms = ops.sqrt(ops.sum(ops.square(t), axis=-1) * ops.sum(ops.square(s), axis=-1))
        return 1.0 - dot / ops.maximum(norms, 1e-12)
    raise ValueError(f"Unknown hint loss {kind!r}; use 'mse' or 'cosine'.")
