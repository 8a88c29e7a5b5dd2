"""`EpochProgress`: epochs done, time elapsed and time left of one `fit()`, on stderr."""

import sys
import time

import keras
from tqdm import tqdm


class EpochProgress(keras.callbacks.Callback):
    """Reports one training phase epoch by epoch.

    On a terminal it is one tqdm line that updates in place; elsewhere (a log
    file, CI) it prints plain lines, at most one every `interval` seconds
    plus one when the phase ends, so logs stay short.

    Args:
        description: String, the phase, e.g. "teacher 1/3" or "seed 0 distilled".
        epochs: Integer or None; by default the `epochs` that `fit()` was given.
        stream: File to write to. Defaults to `sys.stderr`.
        interval: Float, seconds between plain lines. Defaults to 10.

    Example:

    ```python
    model.fit(x, y, epochs=40, verbose=0, callbacks=[keras_kd.EpochProgress("teacher")])
    ```
    """

    def __init__(self, description, epochs=None, stream=None, interval=10.0):
        super().__init__()
        self.description = description
        self.epochs = epochs
        self.stream = stream or sys.stderr
        self.interval = interval
        self._bar = None
        self._start = self._last = None
        self._done = 0

    def on_train_begin(self, logs=None):
        total = self.epochs or self.params.get("epochs")
        self._start = self._last = time.monotonic()
        self._done = 0
        self._total = total
        if _is_terminal(self.stream):
            self._bar = tqdm(
                total=total, desc=self.description, unit="epoch", file=self.stream,
                leave=True, dynamic_ncols=True,
                bar_format="{desc}: {n_fmt}/{total_fmt} epochs |{bar:24}| "
                           "{elapsed} elapsed, {remaining} left",
            )

    def on_epoch_end(self, epoch, logs=None):
        self._done += 1
        if self._bar is not None:
            self._bar.update(1)
            return
        now = time.monotonic()
        if now - self._last >= self.interval and self._done < (self._total or 0):
            self._last = now
            elapsed = now - self._start
            left = elapsed / self._done * ((self._total or self._done) - self._done)
            self._print(f"epoch {self._done}/{self._total}, {_clock(elapsed)} elapsed, "
                        f"about {_clock(left)} left")

    def on_train_end(self, logs=None):
        if self._bar is not None:
            self._bar.close()
            self._bar = None
            return
        self._print(f"{self._done} epochs in {_clock(time.monotonic() - self._start)}")

    def _print(self, text):
        print(f"[keras-kd] {self.description}: {text}", file=self.stream, flush=True)


def _clock(seconds):
    return tqdm.format_interval(seconds)


def _is_terminal(stream):
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
