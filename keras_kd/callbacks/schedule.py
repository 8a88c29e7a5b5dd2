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


CURRICULUM_SHAPES = ("cosine", "linear")


def curriculum(start, end, epochs, shape="cosine"):
    """A schedule `epoch -> value` moving from `start` to `end` over `epochs` epochs, then holding.

    The easy-to-hard curricula of curriculum temperature distillation
    (CTKD, Li et al., AAAI 2023) ramp their difficulty along a cosine; with
    `DistillationSchedule` this moves T (or alpha) the same way, one value
    per epoch, without retracing the step.

    Args:
        start: Float, the value in epoch 0.
        end: Float, the value from epoch `epochs` on.
        epochs: Integer >= 1, the length of the ramp.
        shape: String, "cosine" (slow at both ends) or "linear". Defaults to "cosine".

    Returns:
        A callable from a 0-based epoch to a float.

    Example:

    ```python
    # T rises from 1 to 4 over the first 20 epochs.
    schedule = keras_kd.DistillationSchedule(temperature=keras_kd.curriculum(1.0, 4.0, 20))
    distiller.fit(x, y, epochs=30, callbacks=[schedule])
    ```
    """
    start, end = float(start), float(end)
    if not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"`epochs` must be an integer >= 1 (the ramp's length), got {epochs!r}.")
    if shape not in CURRICULUM_SHAPES:
        raise ValueError(f"`shape` must be one of {CURRICULUM_SHAPES}, got {shape!r}.")

    def value(epoch):
        progress = min(max(epoch, 0), epochs) / epochs
        if shape == "cosine":
            progress = 0.5 * (1.0 - math.cos(math.pi * progress))
        return start + (end - start) * progress

    return value


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
