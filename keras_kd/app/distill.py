"""`distill`: train a teacher, a scratch and a distilled student, and compare them."""

import json
import os

import keras
import numpy as np
from keras_kd import backends

backends.require_tensorflow("The keras-kd command line")

import tensorflow as tf

from keras_kd.app import plots, report
from keras_kd.app.model_card import model_card
from keras_kd.app.runs import get_teacher, log, student_factory, test_accuracy, train_students
from keras_kd.atomic import atomic_path
from keras_kd.distribute import strategies
from keras_kd.models import tflite
from keras_kd.models.export import export_saved_model, save_keras


def distill(settings, data, verbose=0, strategy=None):
    """Runs the whole comparison and writes every result to `settings.output`.

    The output folder is assembled under a temporary name and moved into
    place at the end, so an interrupted run leaves no half-written folder.

    Args:
        settings: A `Settings`.
        data: A `keras_kd.recipes.data.Splits`.
        verbose: Keras `fit` verbosity.
        strategy: A `tf.distribute.Strategy`, or None to make
            `settings.strategy`. MultiWorkerMirroredStrategy must be created
            before TensorFlow runs anything, so create it first and pass it.

    Returns:
        Dict, the model card that was written (also `model_card.json`), or
        None on a multi-worker run's workers other than the chief, which
        help train and log the distilled student's accuracy; the chief
        measures, exports and writes.
    """
    strategy = strategy or strategies.make_strategy(settings.strategy)
    if settings.jit and strategy.num_replicas_in_sync > 1:
        raise ValueError(
            f"--jit cannot be combined with {strategy.num_replicas_in_sync} replicas: XLA "
            "cannot compile a step that reads variables on several devices (Keras "
            "turns XLA off under distribution strategies for the same reason). "
            "Drop --jit, or use --strategy one_device."
        )
    student_factory(settings, data)  # a bad --student is refused before the teacher trains
    if settings.mixed_precision:
        gpu = bool(tf.config.list_logical_devices("GPU"))
        keras.mixed_precision.set_global_policy("mixed_float16" if gpu else "mixed_bfloat16")
    teacher, teacher_source = get_teacher(settings, data, verbose, strategy)
    scratch, distilled = train_students(settings, data, teacher, verbose, strategy)
    if not strategies.is_chief():
        accuracy = np.mean([test_accuracy(model, data) for model, _ in distilled])
        log(f"distilled student: {100 * accuracy:.2f}% test accuracy; the chief writes "
            f"{settings.output}", settings)
        return None
    return _write_results(
        settings, data, teacher, teacher_source, scratch, distilled, settings.output,
        strategy.num_replicas_in_sync,
    )


def _write_results(settings, data, teacher, teacher_source, scratch, distilled, output, replicas):
    with atomic_path(output) as out:
        os.makedirs(out)
        log("exporting the distilled student and measuring all models", settings)
        student = distilled[0][0]
        export_saved_model(student, os.path.join(out, "student"))
        save_keras(student, os.path.join(out, "student.keras"))
        rows = [
            report.measure_saved_model("teacher", teacher, data.x_test, data.y_test),
            report.measure_saved_model(
                "scratch student", scratch[0][0], data.x_test, data.y_test,
                accuracies=[test_accuracy(m, data) for m, _ in scratch],
            ),
            report.measure_saved_model(
                "distilled student", student, data.x_test, data.y_test,
                accuracies=[test_accuracy(m, data) for m, _ in distilled],
                path=os.path.join(out, "student"),
            ),
        ]
        if settings.format == "tflite":
            rows.append(_tflite_row(settings, data, out, student))
        gap = report.gap_closed(rows[0].accuracy, rows[1].accuracy, rows[2].accuracy)
        table = report.markdown_table(rows)
        summary = f"Distillation closed {_percent(gap)} of the teacher-vs-scratch accuracy gap."
        card = model_card(settings, data, teacher, teacher_source, rows, gap, replicas)
        with open(os.path.join(out, "model_card.json"), "w") as f:
            json.dump(card, f, indent=2)
        with open(os.path.join(out, "report.md"), "w") as f:
            f.write(f"# {data.name}: teacher vs students\n\n{table}\n\n{summary}\n")
        recipe = settings.training_recipe()
        plots.training_curves(scratch, distilled, os.path.join(out, "training_curves.png"),
                              epochs_per_point=recipe.views if recipe and recipe.views else 1)
        plots.accuracy_latency(rows, os.path.join(out, "accuracy_vs_latency.png"))
    print(table)
    print(summary)
    log(f"wrote {output}", settings)
    return card


def _percent(value):
    return "n/a (the teacher is no better than scratch)" if np.isnan(value) else f"{100 * value:.1f}%"


def _tflite_row(settings, data, out, student):
    path = os.path.join(out, "student.tflite")
    log(f"converting to TFLite (quantize={settings.quantize})", settings)
    tflite.convert(
        os.path.join(out, "student"), path, settings.quantize, representative_data=data.x_train
    )
    model = tflite.TFLiteModel(path)
    return report.ModelReport(
        "distilled student",
        [report.accuracy(model, data.x_test, data.y_test)],
        student.count_params(),
        report.folder_size(path),
        {b: report.latency_ms(model, report.example_batch(data.x_test, b)) for b in (1, 256)},
        artifact=f"TFLite ({settings.quantize})",
    )
