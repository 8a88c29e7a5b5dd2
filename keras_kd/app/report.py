"""Measuring models side by side: accuracy, size on disk, latency, and the gap closed."""

import dataclasses
import os
import statistics
import tempfile
import time

import numpy as np
from keras_kd import backends

backends.require_tensorflow("The keras-kd command line")

import tensorflow as tf

from keras_kd.models.export import export_saved_model


@dataclasses.dataclass
class ModelReport:
    """One row of the comparison table.

    Attributes:
        name: String, e.g. "teacher", "scratch student", "distilled student".
        accuracies: List of floats, test accuracy of each seed's model.
        params: Integer, the parameter count.
        size_bytes: Integer, size on disk of the deployed artifact.
        latency_ms: Dict `batch size -> median milliseconds` per call.
        artifact: String, "SavedModel" or "TFLite (<quantization>)".
    """

    name: str
    accuracies: list
    params: int
    size_bytes: int
    latency_ms: dict
    artifact: str = "SavedModel"

    @property
    def accuracy(self):
        """Float, the mean test accuracy over seeds."""
        return float(np.mean(self.accuracies))

    @property
    def spread(self):
        """Float, the sample standard deviation (ddof=1) of test accuracy over seeds (0 for one)."""
        return float(np.std(self.accuracies, ddof=1)) if len(self.accuracies) > 1 else 0.0


def accuracy(predict, x, y, batch_size=512):
    """Top-1 accuracy of `predict` (a function from a batch to logits) on `(x, y)`."""
    correct = 0
    for start in range(0, len(x), batch_size):
        logits = np.asarray(predict(x[start : start + batch_size]))
        correct += int(np.sum(logits.argmax(-1) == y[start : start + batch_size]))
    return correct / len(x)


def folder_size(path):
    """Bytes in a file, or in every file under a folder."""
    if os.path.isfile(path):
        return os.path.getsize(path)
    return sum(
        os.path.getsize(os.path.join(root, f)) for root, _, files in os.walk(path) for f in files
    )


def latency_ms(predict, batch, repeats=None, warmup=5):
    """Median wall-clock milliseconds of `predict(batch)`.

    Args:
        predict: Function from a batch to outputs; results are forced to
            host memory so that asynchronous execution is counted.
        batch: Array, the batch to time.
        repeats: Integer or None; by default enough calls for about 0.5 s,
            or the environment variable `KERAS_KD_LATENCY_REPEATS` when set
            (the test suite sets 2, with one warm-up call, to save time).
        warmup: Integer, untimed calls first (tracing, caches).

    Returns:
        Float, the median time of one call in milliseconds.
    """
    if repeats is None and os.environ.get("KERAS_KD_LATENCY_REPEATS"):
        repeats = int(os.environ["KERAS_KD_LATENCY_REPEATS"])
        warmup = min(warmup, 1)
    for _ in range(warmup):
        np.asarray(predict(batch))
    if repeats is None:
        start = time.perf_counter()
        np.asarray(predict(batch))
        once = max(time.perf_counter() - start, 1e-5)
        repeats = int(min(200, max(10, 0.5 / once)))
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        np.asarray(predict(batch))
        times.append(time.perf_counter() - start)
    return 1000.0 * statistics.median(times)


def measure_saved_model(name, model, x, y, accuracies=None, batch_sizes=(1, 256), path=None):
    """Exports `model` as a SavedModel and measures the exported artifact.

    Latency is that of the deployed function (`tf.saved_model.load(...).serve`),
    not of the Keras object.

    Args:
        name: String, the row's name.
        model: A `keras.Model`.
        x, y: Test inputs and labels.
        accuracies: List of floats (several seeds) or None to measure `model`.
        batch_sizes: Tuple of integers, batch sizes to time.
        path: Folder to export to, or None for a temporary one.

    Returns:
        A `ModelReport`.
    """
    with tempfile.TemporaryDirectory() as tmp:
        path = path or os.path.join(tmp, "model")
        if not os.path.exists(path):
            export_saved_model(model, path)
        loaded = tf.saved_model.load(path)  # keeps the variables `serve` reads alive
        serve = loaded.serve
        if accuracies is None:
            accuracies = [accuracy(lambda b: serve(tf.constant(b)), x, y)]
        latency = {
            b: latency_ms(lambda batch: serve(tf.constant(batch)), example_batch(x, b))
            for b in batch_sizes
        }
        return ModelReport(name, list(accuracies), model.count_params(), folder_size(path), latency)


def example_batch(x, size):
    """The first `size` rows of `x`, repeated when `x` has fewer: a batch to time."""
    reps = -(-size // len(x))
    return np.concatenate([x] * reps)[:size] if reps > 1 else x[:size]


def gap_closed(teacher, scratch, distilled):
    """Share of the teacher-minus-scratch accuracy gap that distillation closed.

    Returns:
        Float (1.0 = distilled matches the teacher, 0.0 = no better than
        scratch, negative = worse), or NaN when the teacher is no better
        than scratch.
    """
    gap = teacher - scratch
    return float("nan") if gap <= 0 else (distilled - scratch) / gap


def markdown_table(rows, batch_sizes=(1, 256)):
    """The comparison as a Markdown table, one row per `ModelReport`."""
    header = ["model", "artifact", "test accuracy (mean ± SD)", "seeds", "parameters", "size on disk"]
    header += [f"latency b{b} (ms)" for b in batch_sizes]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        spread = f" ± {100 * row.spread:.2f}" if len(row.accuracies) > 1 else ""
        cells = [
            row.name,
            row.artifact,
            f"{100 * row.accuracy:.2f}%{spread}",
            str(len(row.accuracies)),
            f"{row.params:,}",
            _human_bytes(row.size_bytes),
        ] + [f"{row.latency_ms[b]:.3f}" for b in batch_sizes]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _human_bytes(n):
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
