"""Keras callbacks for distillation: schedules, warm-up, NaN stops and progress lines."""

from keras_kd.callbacks.schedule import NAN_MARKER, DistillationSchedule, StopOnNaN, nan_message  # noqa: F401,E402
