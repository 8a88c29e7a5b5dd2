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


NAN_MARKER = "keras_kd: the training loss is NaN or infinite"


def nan_message(epoch):
    """The error raised when training produced a NaN or infinite loss."""
    return (
        f"The training loss became NaN or infinite in epoch {epoch + 1}; "
        "training stopped. Usual causes: a learning rate that is too high, "
        "inputs with NaN/inf, or float16 overflow (use a mixed precision "
        "policy rather than float16 models)."
    )


class StopOnNaN(keras.callbacks.Callback):
    """Raises `FloatingPointError` at the end of an epoch whose loss is NaN or inf.

    Unlike `keras.callbacks.TerminateOnNaN`, which stops quietly, this makes
    `fit()` fail with a message. It reads only the epoch's logs, which are on
    the host already, so it never stalls training. The Distiller adds it to
    every `fit()`, on top of its in-graph check of each step (which XLA
    compiles away).
    """

    def on_epoch_end(self, epoch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            self.model.stop_training = True
            raise FloatingPointError(nan_message(epoch))
