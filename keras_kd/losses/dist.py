"""DIST (Huang et al., NeurIPS 2022): relations between predictions matched by Pearson correlation."""

import keras
from keras import ops

from keras_kd.losses.kl import TemperedLoss, as_float32

EPSILON = 1e-8  # in the denominators of the correlations, as in the authors' code


def _tempered(teacher_logits, student_logits, temperature):
    teacher_logits = as_float32(teacher_logits)
    student_logits = as_float32(student_logits)
    temperature = ops.cast(temperature, teacher_logits.dtype)
    p = ops.softmax(teacher_logits / temperature, axis=-1)
    q = ops.softmax(student_logits / temperature, axis=-1)
    return p, q, temperature


def dist_inter_class(teacher_logits, student_logits, temperature=1.0):
    """Per-example inter-class relation loss: `T^2 (1 - pearson(q, p))` over the classes.

    `p = softmax(teacher / T)`, `q = softmax(student / T)`. The Pearson
    correlation of the two probability vectors ignores their scale and
    shift, so the student matches how the teacher *ranks and spaces* the
    classes rather than the exact probabilities (DIST's relaxed match).

    Args:
        teacher_logits: Tensor `(batch, ..., classes)`.
        student_logits: Tensor of the same shape.
        temperature: Float or scalar tensor, greater than 0. Defaults to 1.0.

    Returns:
        Tensor `(batch, ...)`.

    Example:

    ```python
    loss = keras_kd.losses.dist_inter_class(teacher(x), student(x), 4.0)
    ```
    """
    p, q, temperature = _tempered(teacher_logits, student_logits, temperature)
    p = p - ops.mean(p, axis=-1, keepdims=True)
    q = q - ops.mean(q, axis=-1, keepdims=True)
    norms = ops.sqrt(ops.sum(ops.square(p), axis=-1) * ops.sum(ops.square(q), axis=-1))
    correlation = ops.sum(p * q, axis=-1) / (norms + EPSILON)
    return ops.square(temperature) * (1.0 - correlation)


def dist_intra_class(teacher_logits, student_logits, temperature=1.0, weights=None,
                     sum_over_batch=None):
    """The batch's intra-class relation loss: `T^2 mean_c (1 - pearson_c)`, a scalar.

    For each class `c`, the Pearson correlation between the student's and
    the teacher's probabilities of `c` across the examples of the batch
    (tokens and pixels count as examples). It needs the whole batch, so it
    is a scalar, not a per-example value.

    Args:
        teacher_logits: Tensor `(batch, ..., classes)`.
        student_logits: Tensor of the same shape.
        temperature: Float or scalar tensor, greater than 0. Defaults to 1.0.
        weights: Optional tensor `(batch, ...)` of non-negative example
            weights (sample weights times padding masks); 0 leaves an example
            out of the correlations. Defaults to all ones.
        sum_over_batch: Optional callable summing a tensor over its first
            axis; the `Distiller` passes one that also sums over the
            replicas of a `tf.distribute` strategy, so the correlations are
            those of the global batch. Defaults to `ops.sum(x, axis=0)`.

    Returns:
        Scalar tensor.

    Example:

    ```python
    loss = keras_kd.losses.dist_intra_class(teacher(x), student(x), 4.0)
    ```
    """
    p, q, temperature = _tempered(teacher_logits, student_logits, temperature)
    classes = ops.shape(p)[-1]
    p = ops.reshape(p, (-1, classes))
    q = ops.reshape(q, (-1, classes))
    w = ops.ones_like(p[:, :1]) if weights is None else ops.reshape(
        ops.cast(weights, p.dtype), (-1, 1))
    total = sum_over_batch or (lambda x: ops.sum(x, axis=0))
    # Two passes (means, then centered sums), so nothing cancels in float32.
    sums = total(ops.concatenate([w, w * p, w * q], axis=-1))
    count = ops.maximum(sums[:1], EPSILON)
    p = p - sums[1:1 + classes] / count
    q = q - sums[1 + classes:] / count
    moments = total(ops.concatenate([w * p * q, w * p * p, w * q * q], axis=-1))
    covariance = moments[:classes]
    norms = ops.sqrt(moments[classes:2 * classes] * moments[2 * classes:])
    correlation = covariance / (norms + EPSILON)
    return ops.square(temperature) * (1.0 - ops.mean(correlation))


def dist_loss(teacher_logits, student_logits, temperature=1.0, beta=1.0, gamma=1.0):
    """DIST's loss over a batch: `beta * mean(inter-class) + gamma * intra-class`, a scalar.

    Huang et al. (NeurIPS 2022, "Knowledge Distillation from A Stronger
    Teacher") use beta = gamma = 1 at T = 1 on ImageNet and beta = gamma =
    2 at T = 4 on CIFAR-100.

    Args:
        teacher_logits: Tensor `(batch, ..., classes)`.
        student_logits: Tensor of the same shape.
        temperature: Float, greater than 0. Defaults to 1.0.
        beta: Float, weight of the inter-class term. Defaults to 1.0.
        gamma: Float, weight of the intra-class term. Defaults to 1.0.

    Returns:
        Scalar tensor.

    Example:

    ```python
    loss = keras_kd.losses.dist_loss(teacher(x), student(x), 4.0, beta=2.0, gamma=2.0)
    ```
    """
    inter = ops.mean(dist_inter_class(teacher_logits, student_logits, temperature))
    return beta * inter + gamma * dist_intra_class(teacher_logits, student_logits, temperature)


@keras.saving.register_keras_serializable(package="keras_kd")
class DISTLoss(TemperedLoss):
    """`dist_loss` as a Keras `Loss`; `sample_weight` weighs both relations.

    The inter-class term is reduced as Keras reduces any loss; the
    intra-class term weighs each example's place in the correlations by its
    weight. Under a `tf.distribute` strategy use it through `Distiller(...,
    distillation_loss="dist")`, which takes the correlations over the global
    batch; this class sees one replica's batch.

    Args:
        temperature: Float, greater than 0, or a scalar `keras.Variable`.
            Defaults to 1.0.
        beta: Float, weight of the inter-class term. Defaults to 1.0.
        gamma: Float, weight of the intra-class term. Defaults to 1.0.
        **kwargs: `name` (default "dist_loss"), `reduction`, `dtype`, as
            `keras_kd.losses.kl.TemperedLoss`.

    Example:

    ```python
    loss = keras_kd.losses.DISTLoss(4.0, beta=2.0, gamma=2.0)(teacher_logits, student_logits)
    ```
    """

    default_name = "dist_loss"

    def __init__(self, temperature=1.0, beta=1.0, gamma=1.0, **kwargs):
        super().__init__(temperature, **kwargs)
        self.beta = float(beta)
        self.gamma = float(gamma)

    def call(self, y_true, y_pred):
        return self.beta * dist_inter_class(y_true, y_pred, self.temperature)

    def __call__(self, y_true, y_pred, sample_weight=None):
        inter = super().__call__(y_true, y_pred, sample_weight)
        weights = None
        if sample_weight is not None:
            values = ops.ones(ops.shape(y_true)[:-1])
            weights = broadcast_weights(values, sample_weight)
        intra = dist_intra_class(y_true, y_pred, self.temperature, weights)
        return inter + ops.cast(self.gamma, intra.dtype) * intra

    def get_config(self):
        return {**super().get_config(), "beta": self.beta, "gamma": self.gamma}


def broadcast_weights(values, sample_weight=None, mask=None):
    """Per-example weights of the shape of `values` from a sample weight and a mask.

    Args:
        values: Tensor `(batch, ...)`, per-example (per-token) loss values.
        sample_weight: Optional tensor `(batch,)`, `(batch, 1)` or of the
            shape of `values`.
        mask: Optional boolean tensor of the shape of `values`.

    Returns:
        Float tensor of the shape of `values`.
    """
    weights = ops.ones_like(values)
    if sample_weight is not None:
        sample_weight = ops.cast(sample_weight, weights.dtype)
        while len(sample_weight.shape) > len(weights.shape):
            sample_weight = ops.squeeze(sample_weight, axis=-1)
        while len(sample_weight.shape) < len(weights.shape):
            sample_weight = ops.expand_dims(sample_weight, axis=-1)
        weights = weights * sample_weight
    if mask is not None:
        weights = weights * ops.cast(mask, weights.dtype)
    return weights
