"""Reverse KL, `KL(student || teacher)`: mode-seeking distillation (MiniLLM, Gu et al. 2024)."""

import keras

from keras_kd.losses.kl import TemperedLoss, distillation_loss


def reverse_kl_divergence(teacher_logits, student_logits, temperature=1.0):
    """Per-example `T^2 * KL(softmax(student / T) || softmax(teacher / T))`.

    The student's distribution comes first, so mass the student puts where
    the teacher has little is penalised hard and the student may drop some
    of the teacher's modes: it seeks one mode well instead of covering all
    of them, which suits a small student of a large language model. Computed
    by the same exact routine as `distillation_loss`, with the arguments
    swapped; gradients reach the student through the first argument.

    Args:
        teacher_logits: Tensor `(batch, ..., classes)`.
        student_logits: Tensor of the same shape.
        temperature: Float or scalar tensor, greater than 0. Defaults to 1.0.

    Returns:
        Tensor `(batch, ...)`.

    Example:

    ```python
    loss = keras_kd.losses.reverse_kl_divergence(teacher(x), student(x), 2.0)
    ```
    """
    return distillation_loss(student_logits, teacher_logits, temperature)


@keras.saving.register_keras_serializable(package="keras_kd")
class ReverseKLDivergence(TemperedLoss):
    """`T^2 * KL(student || teacher)` (`reverse_kl_divergence`) as a Keras `Loss`.

    Arguments as `keras_kd.losses.kl.TemperedLoss`; the name defaults to
    "reverse_kl_divergence".

    Example:

    ```python
    loss = keras_kd.losses.ReverseKLDivergence(2.0)(teacher_logits, student_logits)
    ```
    """

    default_name = "reverse_kl_divergence"

    def call(self, y_true, y_pred):
        return reverse_kl_divergence(y_true, y_pred, self.temperature)
