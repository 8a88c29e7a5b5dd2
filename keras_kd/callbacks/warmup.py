"""`DistillationWarmup`: ramps a distiller's soft-label term in over its first epochs."""

import keras


class DistillationWarmup(keras.callbacks.Callback):
    """Sets the distillation term's warm-up factor at the start of each epoch.

    The factor is `min(1, (epoch + 1) / epochs)` (DKD's linear warm-up); the
    `Distiller` adds this callback itself when `warmup_epochs > 0`.

    Args:
        variable: The scalar `keras.Variable` the step multiplies the term by.
        epochs: Integer >= 1, the epochs of the ramp.
    """

    def __init__(self, variable, epochs):
        super().__init__()
        self.variable = variable
        self.epochs = epochs

    def on_epoch_begin(self, epoch, logs=None):
        self.variable.assign(warmup_factor(epoch, self.epochs))


def warmup_factor(epoch, warmup_epochs):
    """`min(1, (epoch + 1) / warmup_epochs)`, 1 without warm-up."""
    return 1.0 if not warmup_epochs else min(1.0, (epoch + 1) / warmup_epochs)
