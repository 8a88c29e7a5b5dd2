"""Callbacks for distillation: schedules for T and alpha, and a hard stop on NaN."""

import math

import keras


class DistillationSchedule(keras.callbacks.Callback):
    """Sets the distiller's temperature and/or alpha at the start of each epoch.

    The values live in variables read by the compiled step, so changing them
    never retraces or rebuilds the model.

    Args:
        temperature: Callable `epoch -> float`, or None to leave T alone.
        alpha: Callable `epoch -> float`, or None to leave alpha alone.

    Example:

    ```python
    # Anneal T from 8 to 2 over 10 epochs.
    schedule = keras_kd.DistillationSchedule(temperature=lambda e: 8 - 0.6 * e)
    distiller.fit(x, y, epochs=10, callbacks=[schedule])
    ```
    """

    def __init__(self, temperature=None, alpha=None):
        super().__init__()
        if temperature is None and alpha is None:
            raise ValueError("Give a `temperature` or an `alpha` schedule, or both.")
        self.temperature = temperature
        self.alpha = alpha

    def on_epoch_begin(self, epoch, logs=None):
        if self.temperature is not None:
            self.model.temperature = self.temperature(epoch)
        if self.alpha is not None:
            self.model.alpha = self.alpha(epoch)


class StopOnNaN(keras.callbacks.Callback):
    """Raises `FloatingPointError` as soon as the training loss is NaN or inf.

    Unlike `keras.callbacks.TerminateOnNaN`, which only stops quietly, this
    makes `fit()` fail with a message, so a broken student is never mistaken
    for a trained one. The Distiller adds it to every `fit()`.
    """

    def __init__(self):
        super().__init__()
        self._epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is None:
            return
        loss = float(loss)
        if not math.isfinite(loss):
            self.model.stop_training = True
            raise FloatingPointError(
                f"The training loss became {loss} at epoch {self._epoch + 1}, "
                f"batch {batch + 1}; training stopped. Usual causes: a "
                "learning rate that is too high, inputs with NaN/inf, or "
                "float16 overflow (use a mixed precision policy rather than "
                "float16 models). The student's weights are no longer usable."
            )
