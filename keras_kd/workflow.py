"""The main job: train a teacher, a scratch student and a distilled student, and compare them."""

import contextlib
import dataclasses
import json
import os
import platform
import sys
import tempfile

import keras
import numpy as np
import tensorflow as tf

from keras_kd import architectures, recipes, report, strategies, tflite
from keras_kd.atomic import atomic_path
from keras_kd.distiller import Distiller
from keras_kd.export import export_saved_model, save_keras
from keras_kd.models import load_model, weights_fingerprint

TEACHERS_DIR = os.path.join("saved_models", "teachers")


@dataclasses.dataclass
class Settings:
    """Everything one `keras-kd distill` run depends on.

    Attributes mirror the command line: `teacher`/`student` are paths to
    saved models (or None to build `teacher_arch`/`student_arch`), `seeds`
    lists the seeds of the student runs, `format` is "saved_model" or
    "tflite", `quantize` a `keras_kd.tflite.QUANTIZATIONS` entry,
    `strategy` a `keras_kd.strategies.STRATEGIES` entry, `mixed_precision`
    trains in mixed_float16 on GPUs (mixed_bfloat16 on CPUs), `jit` compiles
    the training step with XLA, `recipe` names a `keras_kd.recipes` recipe
    (augmented teacher; scratch and distilled students on the same
    augmented batches).
    """

    dataset: str = "digits"
    data_dir: str = None
    teacher: str = None
    student: str = None
    teacher_arch: str = None
    student_arch: str = None
    temperature: float = 4.0
    alpha: float = 0.9
    epochs: int = 40
    teacher_epochs: int = None
    batch_size: int = 64
    learning_rate: float = 3e-3
    seeds: tuple = (0, 1, 2)
    output: str = None
    overwrite: bool = False
    format: str = "saved_model"
    quantize: str = "none"
    strategy: str = "auto"
    mixed_precision: bool = False
    jit: bool = False
    recipe: str = None


def default_architectures(input_shape, recipe=None):
    """(teacher, student) architecture names suited to inputs of this shape.

    A recipe gets the pairing it was measured with (benchmarks/RESULTS.md):
    a CNN teacher trained on shifted images and a 2x256 MLP student (a small
    CNN for colour images).
    """
    if recipe:
        colour = len(input_shape) == 3 and input_shape[-1] > 1
        return "cnn-large", "cnn-small" if colour else "mlp-medium"
    if len(input_shape) >= 2:
        return "cnn-large", "cnn-small"
    return "mlp-medium", "mlp-tiny"


def check_output_folder(path, overwrite):
    """Refuses an output folder that holds something other than a keras-kd run."""
    if not os.path.exists(path) or overwrite:
        return
    if not os.path.isdir(path):
        raise ValueError(f"--output '{path}' exists and is a file. Pick another path.")
    entries = os.listdir(path)
    if entries and "model_card.json" not in entries:
        raise ValueError(
            f"--output '{path}' already holds other files ({', '.join(sorted(entries)[:3])}"
            f"{', ...' if len(entries) > 3 else ''}). Pick another folder or pass --overwrite."
        )


def check_classes(model, num_classes, role):
    """Raises unless `model` outputs `num_classes` logits."""
    shape = tuple(model.outputs[0].shape[1:]) if getattr(model, "outputs", None) else None
    if shape is not None and shape != (num_classes,):
        raise ValueError(
            f"The {role} outputs shape {shape} but the dataset has {num_classes} "
            f"classes: the {role} must output ({num_classes},) logits."
        )


def _log(message):
    print(f"[keras-kd] {message}", flush=True)


def _compile_classifier(model, learning_rate, jit):
    model.compile(
        keras.optimizers.Adam(learning_rate),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
        jit_compile=jit or "auto",
    )


def get_teacher(settings, data, verbose, strategy):
    """Loads the given teacher, reuses a cached one, or trains and caches one.

    Returns:
        `(teacher, description)`.
    """
    if settings.teacher:
        teacher = load_model(settings.teacher, role="teacher")
        check_classes(teacher, data.num_classes, "teacher")
        return teacher, settings.teacher
    epochs = settings.teacher_epochs or settings.epochs
    name = (
        f"{data.name}_{settings.teacher_arch}_e{epochs}_b{settings.batch_size}"
        f"{'_' + settings.recipe if settings.recipe else ''}"
        f"_s{settings.seeds[0]}_{data.fingerprint()[:8]}.keras"
    )
    path = os.path.join(TEACHERS_DIR, name)
    if os.path.exists(path):
        _log(f"reusing teacher {path}")
        return load_model(path, role="teacher"), path
    build = lambda seed: architectures.build(  # noqa: E731
        settings.teacher_arch, data.input_shape, data.num_classes, seed=seed
    )
    if settings.recipe:
        recipe = dataclasses.replace(
            recipes.get(settings.recipe), teacher_epochs=epochs, batch_size=settings.batch_size
        )
        members = f"{recipe.teachers} teachers" if recipe.teachers > 1 else "teacher"
        _log(f"training {members} {settings.teacher_arch} for {epochs} epochs")
        with strategy.scope():
            teacher = recipes.train_teachers(
                build, data.x_train, data.y_train, recipe, data.num_classes,
                validation_data=(data.x_test, data.y_test), seed=settings.seeds[0],
                verbose=verbose,
            )
    else:
        _log(f"training teacher {settings.teacher_arch} for {epochs} epochs")
        with strategy.scope():
            teacher = build(settings.seeds[0])
            _compile_classifier(teacher, 1e-3, settings.jit)
        teacher.fit(
            data.x_train, data.y_train, epochs=epochs, batch_size=settings.batch_size,
            validation_data=(data.x_test, data.y_test), verbose=verbose,
        )
    save_keras(teacher, path)
    return teacher, path


def _student_factory(settings, data):
    """A function `seed -> fresh student`: built, or reloaded from `--student`."""
    if settings.student:
        check_classes(load_model(settings.student, role="student"), data.num_classes, "student")
        # Reloading gives every run the saved weights (clone_model cannot
        # copy the TFSMLayer of a SavedModel).
        return lambda seed: load_model(settings.student, role="student")
    return lambda seed: architectures.build(
        settings.student_arch, data.input_shape, data.num_classes, seed=seed
    )


def train_students(settings, data, teacher, verbose, strategy):
    """Trains, for each seed, the student from labels alone and by distillation.

    Both runs of a seed start from the same weights and see the same data
    order; only the loss differs. The scratch student is a Distiller with
    alpha = 0, which is exactly ordinary training (tested) and, unlike
    Keras's own `fit`, also runs under MultiWorkerMirroredStrategy.

    Returns:
        `(scratch, distilled)`: lists of `(model, history dict)`, one per seed.
    """
    make_student = _student_factory(settings, data)
    runs = {"scratch": [], "distilled": []}
    if settings.recipe:
        return _train_students_with_recipe(settings, data, teacher, verbose, strategy, make_student)
    for seed in settings.seeds:
        for kind, alpha in (("scratch", 0.0), ("distilled", settings.alpha)):
            how = "from labels alone" if kind == "scratch" else (
                f"distilled at T={settings.temperature}, alpha={alpha}"
            )
            _log(f"seed {seed}: student {how}, {settings.epochs} epochs")
            with strategy.scope():
                student = make_student(seed)
                distiller = Distiller(
                    student, teacher, temperature=settings.temperature, alpha=alpha
                )
                distiller.compile(
                    keras.optimizers.Adam(settings.learning_rate),
                    metrics=["accuracy"],
                    jit_compile=settings.jit or "auto",
                )
            keras.utils.set_random_seed(seed)
            history = distiller.fit(
                data.x_train, data.y_train, epochs=settings.epochs,
                batch_size=settings.batch_size, validation_data=(data.x_test, data.y_test),
                verbose=verbose,
            )
            runs[kind].append((student, history.history))
    return runs["scratch"], runs["distilled"]


def _train_students_with_recipe(settings, data, teacher, verbose, strategy, make_student):
    """`train_students` for a recipe: both students see the same augmented batches."""
    recipe = dataclasses.replace(
        recipes.get(settings.recipe), temperature=settings.temperature, alpha=settings.alpha,
        epochs=settings.epochs, learning_rate=settings.learning_rate,
        batch_size=settings.batch_size,
    )
    runs = {"scratch": [], "distilled": []}
    for seed in settings.seeds:
        for kind, tutor in (("scratch", None), ("distilled", teacher)):
            _log(f"seed {seed}: student {kind} with recipe {recipe.name}, {recipe.epochs} epochs")
            with strategy.scope():
                student = make_student(seed)
                keras.utils.set_random_seed(seed)
                history = recipes.train_student(
                    student, data.x_train, data.y_train, recipe, data.num_classes,
                    teacher=tutor, validation_data=(data.x_test, data.y_test), seed=seed,
                    verbose=verbose,
                )
            runs[kind].append((student, history.history))
    return runs["scratch"], runs["distilled"]


def _test_accuracy(model, data):
    return report.accuracy(lambda b: model(b, training=False), data.x_test, data.y_test)


def distill(settings, data, verbose=0, strategy=None):
    """Runs the whole comparison and writes every result to `settings.output`.

    The output folder is assembled under a temporary name and moved into
    place at the end, so an interrupted run leaves no half-written folder.

    Args:
        settings: A `Settings`.
        data: A `keras_kd.data.Splits`.
        verbose: Keras `fit` verbosity.
        strategy: A `tf.distribute.Strategy`, or None to make
            `settings.strategy`. MultiWorkerMirroredStrategy must be created
            before TensorFlow runs anything, so create it first and pass it.

    Returns:
        Dict, the model card that was written (also `model_card.json`).
    """
    strategy = strategy or strategies.make_strategy(settings.strategy)
    if settings.jit and strategy.num_replicas_in_sync > 1:
        raise ValueError(
            f"--jit cannot be combined with {strategy.num_replicas_in_sync} replicas: XLA "
            "cannot compile a step that reads variables on several devices (Keras "
            "turns XLA off under distribution strategies for the same reason). "
            "Drop --jit, or use --strategy one_device."
        )
    if settings.mixed_precision:
        gpu = bool(tf.config.list_logical_devices("GPU"))
        keras.mixed_precision.set_global_policy("mixed_float16" if gpu else "mixed_bfloat16")
    teacher, teacher_source = get_teacher(settings, data, verbose, strategy)
    scratch, distilled = train_students(settings, data, teacher, verbose, strategy)
    with contextlib.ExitStack() as stack:
        output = settings.output
        if not strategies.is_chief():  # Workers other than the chief discard results.
            output = os.path.join(stack.enter_context(tempfile.TemporaryDirectory()), "out")
        return _write_results(
            settings, data, teacher, teacher_source, scratch, distilled, output,
            strategy.num_replicas_in_sync,
        )


def _write_results(settings, data, teacher, teacher_source, scratch, distilled, output, replicas):
    with atomic_path(output) as out:
        os.makedirs(out)
        _log("exporting the distilled student and measuring all models")
        student = distilled[0][0]
        export_saved_model(student, os.path.join(out, "student"))
        save_keras(student, os.path.join(out, "student.keras"))
        rows = [
            report.measure_saved_model("teacher", teacher, data.x_test, data.y_test),
            report.measure_saved_model(
                "scratch student", scratch[0][0], data.x_test, data.y_test,
                accuracies=[_test_accuracy(m, data) for m, _ in scratch],
            ),
            report.measure_saved_model(
                "distilled student", student, data.x_test, data.y_test,
                accuracies=[_test_accuracy(m, data) for m, _ in distilled],
                path=os.path.join(out, "student"),
            ),
        ]
        if settings.format == "tflite":
            rows.append(_tflite_row(settings, data, out, student))
        gap = report.gap_closed(rows[0].accuracy, rows[1].accuracy, rows[2].accuracy)
        table = report.markdown_table(rows)
        summary = f"Distillation closed {_percent(gap)} of the teacher-vs-scratch accuracy gap."
        card = _model_card(settings, data, teacher, teacher_source, rows, gap, replicas)
        with open(os.path.join(out, "model_card.json"), "w") as f:
            json.dump(card, f, indent=2)
        with open(os.path.join(out, "report.md"), "w") as f:
            f.write(f"# {data.name}: teacher vs students\n\n{table}\n\n{summary}\n")
        _plot_curves(scratch, distilled, os.path.join(out, "training_curves.png"))
        _plot_accuracy_latency(rows, os.path.join(out, "accuracy_vs_latency.png"))
    print(table)
    print(summary)
    _log(f"wrote {output}")
    return card


def _percent(value):
    return "n/a (the teacher is no better than scratch)" if np.isnan(value) else f"{100 * value:.1f}%"


def _tflite_row(settings, data, out, student):
    path = os.path.join(out, "student.tflite")
    _log(f"converting to TFLite (quantize={settings.quantize})")
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


def _teacher_architecture(settings, teacher):
    if settings.teacher:
        return teacher.name
    members = recipes.get(settings.recipe).teachers if settings.recipe else 1
    return f"ensemble of {members} {settings.teacher_arch}" if members > 1 else settings.teacher_arch


def _model_card(settings, data, teacher, teacher_source, rows, gap, replicas):
    return {
        "dataset": data.name,
        "data_fingerprint": data.fingerprint(),
        "train_examples": int(len(data.x_train)),
        "test_examples": int(len(data.x_test)),
        "teacher": teacher_source,
        "teacher_architecture": _teacher_architecture(settings, teacher),
        "teacher_weights_fingerprint": weights_fingerprint(teacher),
        "student_architecture": settings.student_arch if not settings.student else settings.student,
        "recipe": settings.recipe,
        "temperature": settings.temperature,
        "alpha": settings.alpha,
        "epochs": settings.epochs,
        "teacher_epochs": settings.teacher_epochs or settings.epochs,
        "batch_size": settings.batch_size,
        "learning_rate": settings.learning_rate,
        "seeds": list(settings.seeds),
        "strategy": settings.strategy,
        "replicas": replicas,
        "mixed_precision": settings.mixed_precision,
        "jit_compile": settings.jit,
        "gap_closed": None if np.isnan(gap) else gap,
        "models": [
            {
                "name": row.name,
                "artifact": row.artifact,
                "test_accuracy_mean": row.accuracy,
                "test_accuracy_std": row.spread,
                "test_accuracy_per_seed": row.accuracies,
                "parameters": row.params,
                "size_bytes": row.size_bytes,
                "latency_ms": {f"batch_{b}": ms for b, ms in row.latency_ms.items()},
            }
            for row in rows
        ],
        "versions": {
            "python": platform.python_version(),
            "tensorflow": tf.__version__,
            "keras": keras.__version__,
            "keras_kd": sys.modules["keras_kd"].__version__,
            "numpy": np.__version__,
        },
    }


def _mean_curve(histories, key):
    curves = [h[key] for h in histories if key in h]
    return np.mean(curves, axis=0) if curves else None


def _plot_curves(scratch, distilled, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scratch_h = [h for _, h in scratch]
    distilled_h = [h for _, h in distilled]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    axes[0].plot(_mean_curve(scratch_h, "loss"), label="scratch")
    axes[0].plot(_mean_curve(distilled_h, "student_loss"), label="distilled")
    axes[0].set_title("label loss (train)")
    axes[1].plot(_mean_curve(distilled_h, "distillation_loss"), label="train", color="C1")
    axes[1].plot(_mean_curve(distilled_h, "val_distillation_loss"), label="test", color="C1", ls="--")
    axes[1].set_title("distillation loss (distilled student)")
    axes[2].plot(_mean_curve(scratch_h, "val_accuracy"), label="scratch")
    axes[2].plot(_mean_curve(distilled_h, "val_accuracy"), label="distilled")
    axes[2].set_title("test accuracy")
    for ax in axes:
        ax.set_xlabel("epoch")
        ax.legend()
    fig.suptitle(f"mean over {len(scratch)} seed(s)")
    fig.tight_layout()
    _save_figure(fig, path)


def _plot_accuracy_latency(rows, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 4))
    for i, row in enumerate(rows):
        label = row.name if row.artifact == "SavedModel" else f"{row.name} ({row.artifact})"
        ax.errorbar(row.latency_ms[1], 100 * row.accuracy, yerr=100 * row.spread,
                    fmt="o", capsize=3, color=f"C{i}", label=label)
    ax.set_xscale("log")
    ax.set_xlabel("batch-1 latency (ms, log scale)")
    ax.set_ylabel("test accuracy (%)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    _save_figure(fig, path)


def _save_figure(fig, path):
    import matplotlib.pyplot as plt

    fig.savefig(path, dpi=110)
    plt.close(fig)


def tune(settings, data, tuner="bayesian", max_trials=10, directory=None,
         temperature=(1.0, 20.0), alpha=(0.0, 1.0), overwrite=False, verbose=0):
    """Searches T and alpha for the student of `settings` and exports the best one.

    Writes to `settings.output`: the best student (`student/` SavedModel and
    `student.keras`), `tuning.json` (every trial and the labels-only
    baseline), `tuning.md` and `tuning.png` (validation score over T and
    alpha). Keras Tuner's own state goes to `directory` (default
    `saved_models/tuning`), so an interrupted search resumes.

    Returns:
        A `keras_kd.tuning.SearchResult`.
    """
    from keras_kd import tuning

    strategy = strategies.make_strategy(settings.strategy)
    teacher, _ = get_teacher(settings, data, verbose, strategy)
    make_student = _student_factory(settings, data)
    directory = directory or os.path.join("saved_models", "tuning")
    project = f"{data.name}_{settings.student_arch}_{data.fingerprint()[:8]}"
    _log(f"{tuner} search, {max_trials} trials of {settings.epochs} epochs, state in {directory}/{project}")
    result = tuning.search(
        lambda: make_student(settings.seeds[0]), teacher, (data.x_train, data.y_train),
        (data.x_test, data.y_test), tuner=tuner, max_trials=max_trials, epochs=settings.epochs,
        directory=directory, project_name=project, temperature=temperature, alpha=alpha,
        learning_rate=settings.learning_rate, batch_size=settings.batch_size,
        seed=settings.seeds[0], overwrite=overwrite, verbose=verbose,
    )
    table = _tuning_table(result.table)
    best = result.best_hyperparameters
    summary = (f"best: T={best['temperature']}, alpha={best['alpha']}, score {result.best_score:.4f} "
               f"(labels-only baseline {result.baseline['score']:.4f})")
    with atomic_path(settings.output) as out:
        os.makedirs(out)
        export_saved_model(result.best_student, os.path.join(out, "student"))
        save_keras(result.best_student, os.path.join(out, "student.keras"))
        with open(os.path.join(out, "tuning.json"), "w") as f:
            json.dump({"tuner": tuner, "objective": "val_accuracy", "best": best,
                       "best_score": result.best_score, "trials": result.table}, f, indent=2)
        with open(os.path.join(out, "tuning.md"), "w") as f:
            f.write(f"# {data.name}: {tuner} search\n\n{table}\n\n{summary}\n")
        _plot_search(result.table, os.path.join(out, "tuning.png"))
    print(table)
    print(summary)
    _log(f"wrote {settings.output}")
    return result


def _tuning_table(rows):
    def show(value, fmt):
        return "-" if value is None else format(value, fmt)

    lines = ["| trial | temperature | alpha | learning rate | val accuracy |", "|---|---|---|---|---|"]
    for row in rows:
        lines.append(f"| {row['trial']} | {show(row['temperature'], '.3g')} | {show(row['alpha'], '.3f')} "
                     f"| {show(row['learning_rate'], '.2e')} | {show(row['score'], '.4f')} |")
    return "\n".join(lines)


def _plot_search(rows, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    trials = [r for r in rows if r["temperature"] is not None and r["score"] is not None]
    fig, ax = plt.subplots(figsize=(5.5, 4))
    if trials:
        points = ax.scatter([r["temperature"] for r in trials], [r["alpha"] for r in trials],
                            c=[r["score"] for r in trials], cmap="viridis", s=60)
        fig.colorbar(points, label="validation accuracy")
    baseline = [r for r in rows if r["temperature"] is None]
    for row in baseline:
        ax.axhline(0.0, color="grey", ls="--", label=f"labels only: {row['score']:.4f}")
    ax.set_xscale("log")
    ax.set_xlabel("temperature (log scale)")
    ax.set_ylabel("alpha")
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    _save_figure(fig, path)
