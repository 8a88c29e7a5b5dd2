"""The main job: train a teacher, a scratch student and a distilled student, and compare them."""

import contextlib
import dataclasses
import json
import math
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
    augmented batches), `quiet` turns off the progress lines.
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
    quiet: bool = False


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


def find_model_card(path):
    """The `model_card.json` beside a saved model (`.keras`, SavedModel, `.tflite`), or None."""
    folder = os.path.dirname(os.path.abspath(os.fspath(path).rstrip("/\\")))
    card = os.path.join(folder, "model_card.json")
    if not os.path.isfile(card):
        return None
    with open(card) as f:
        return json.load(f)


def trained_split(path, dataset=None, seed=None, data_dir=None):
    """The train/test split that the model at `path` was trained on.

    Read from the model card beside the model, which records the dataset,
    the seed of its split and a fingerprint of the data. Without a card the
    digits need an explicit `seed` (their split depends on it); a TFDS
    dataset's split is fixed.

    Args:
        path: String, a saved model written by `keras-kd distill` or `tune`.
        dataset: String or None; must agree with the card when both exist.
        seed: Integer or None; the digits' split seed, when there is no card.
        data_dir: TFDS data folder.

    Returns:
        `(splits, description)`: a `keras_kd.data.Splits` and a phrase saying
        which split it is.

    Raises:
        ValueError: the given dataset or seed contradict the card, the data
            changed since training, or the digits' seed is unknown.
    """
    from keras_kd import data as data_module

    card = find_model_card(path)
    if card is None:
        dataset = dataset or data_module.DEFAULT_DATASET
        if dataset == data_module.DEFAULT_DATASET and seed is None:
            raise ValueError(
                f"No model_card.json beside '{path}', so its digits split is unknown: "
                "pass --seed with the seed it was distilled with (distill --seed)."
            )
        data = data_module.load(dataset, data_dir=data_dir, seed=seed or 0)
        how = "its fixed test split" if data.split_seed is None else f"split seed {seed} (--seed)"
        return data, how
    card_seed = card.get("split_seed", (card.get("seeds") or [0])[0])
    if dataset is not None and dataset != card["dataset"]:
        raise ValueError(
            f"'{path}' was trained on {card['dataset']} (model_card.json), not {dataset}; "
            "drop --dataset."
        )
    if seed is not None and card_seed is not None and seed != card_seed:
        raise ValueError(
            f"'{path}' was trained on the split of seed {card_seed} (model_card.json); "
            f"--seed {seed} would score it on its own training examples. Drop --seed."
        )
    data = data_module.load(card["dataset"], data_dir=data_dir, seed=card_seed or 0)
    if card.get("data_fingerprint") and data.fingerprint() != card["data_fingerprint"]:
        raise ValueError(
            f"The {card['dataset']} data here differ from those '{path}' was trained on "
            "(data fingerprint in model_card.json); evaluate it where it was trained."
        )
    how = ("its fixed test split" if card_seed is None or data.split_seed is None
           else f"split seed {card_seed}, from model_card.json")
    return data, how


def check_classes(model, num_classes, role):
    """Raises unless `model` outputs `num_classes` logits."""
    shape = tuple(model.outputs[0].shape[1:]) if getattr(model, "outputs", None) else None
    if shape is not None and shape != (num_classes,):
        raise ValueError(
            f"The {role} outputs shape {shape} but the dataset has {num_classes} "
            f"classes: the {role} must output ({num_classes},) logits."
        )


def _log(message, settings=None):
    if settings is None or not settings.quiet:
        print(f"[keras-kd] {message}", flush=True)


def _progress(settings):
    """A function from a phase name to the callbacks that report it (none when quiet)."""
    if settings.quiet:
        return lambda description: []
    from keras_kd.progress import EpochProgress

    return lambda description: [EpochProgress(description)]


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
        _log(f"reusing teacher {path}", settings)
        return load_model(path, role="teacher"), path
    build = lambda seed: architectures.build(  # noqa: E731
        settings.teacher_arch, data.input_shape, data.num_classes, seed=seed
    )
    progress = _progress(settings)
    if settings.recipe:
        recipe = dataclasses.replace(
            recipes.get(settings.recipe), teacher_epochs=epochs, batch_size=settings.batch_size
        )
        members = f"{recipe.teachers} teachers" if recipe.teachers > 1 else "teacher"
        _log(f"training {members} {settings.teacher_arch} for {epochs} epochs", settings)
        with strategy.scope():
            teacher = recipes.train_teachers(
                build, data.x_train, data.y_train, recipe, data.num_classes,
                seed=settings.seeds[0], verbose=verbose, progress=progress,
            )
    else:
        _log(f"training teacher {settings.teacher_arch} for {epochs} epochs", settings)
        with strategy.scope():
            teacher = build(settings.seeds[0])
            _compile_classifier(teacher, 1e-3, settings.jit)
        teacher.fit(
            data.x_train, data.y_train, epochs=epochs, batch_size=settings.batch_size,
            verbose=verbose, callbacks=progress("teacher"),
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
    runs = train_configurations(
        settings, data, teacher, verbose, strategy,
        {"scratch": (settings.temperature, 0.0),
         "distilled": (settings.temperature, settings.alpha)},
    )
    return runs["scratch"], runs["distilled"]


def train_configurations(settings, data, teacher, verbose, strategy, configurations):
    """Trains the student once per seed and configuration, as `keras-kd distill` does.

    Args:
        settings: A `Settings` (seeds, epochs, recipe, ...).
        data: A `keras_kd.data.Splits`; trains on its training split and
            reports its test split per epoch.
        teacher: The trained teacher.
        verbose: Keras verbosity.
        strategy: A `tf.distribute.Strategy`.
        configurations: Dict `name -> (temperature, alpha)`; alpha = 0 trains
            from labels alone.

    Returns:
        Dict `name -> [(student, history dict), ...]`, one entry per seed.
    """
    make_student = _student_factory(settings, data)
    progress = _progress(settings)
    runs = {name: [] for name in configurations}
    total = len(configurations) * len(settings.seeds)
    done = 0
    for seed in settings.seeds:
        for name, (temperature, alpha) in configurations.items():
            done += 1
            how = "from labels alone" if alpha == 0 else (
                f"distilled at T={temperature:g}, alpha={alpha:g}"
            )
            if settings.recipe:
                how += f", recipe {settings.recipe}"
            _log(f"seed {seed}: student {how}, {settings.epochs} epochs", settings)
            callbacks = progress(f"student {done}/{total} (seed {seed}, {name})")
            history = _train_one(settings, data, teacher, verbose, strategy, make_student,
                                 seed, temperature, alpha, callbacks)
            runs[name].append(history)
    return runs


def _train_one(settings, data, teacher, verbose, strategy, make_student, seed, temperature,
               alpha, callbacks):
    validation = (data.x_test, data.y_test)
    if settings.recipe:
        recipe = dataclasses.replace(
            recipes.get(settings.recipe), temperature=temperature, alpha=alpha,
            epochs=settings.epochs, learning_rate=settings.learning_rate,
            batch_size=settings.batch_size,
        )
        with strategy.scope():
            student = make_student(seed)
            keras.utils.set_random_seed(seed)
            history = recipes.train_student(
                student, data.x_train, data.y_train, recipe, data.num_classes,
                teacher=teacher if alpha > 0 else None, validation_data=validation, seed=seed,
                verbose=verbose, callbacks=callbacks,
            )
        return student, history.history
    with strategy.scope():
        student = make_student(seed)
        distiller = Distiller(student, teacher, temperature=temperature, alpha=alpha)
        distiller.compile(
            keras.optimizers.Adam(settings.learning_rate), metrics=["accuracy"],
            jit_compile=settings.jit or "auto",
        )
    keras.utils.set_random_seed(seed)
    history = distiller.fit(
        data.x_train, data.y_train, epochs=settings.epochs, batch_size=settings.batch_size,
        validation_data=validation, verbose=verbose, callbacks=callbacks,
    )
    return student, history.history


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
    _student_factory(settings, data)  # a bad --student is refused before the teacher trains
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
        _log("exporting the distilled student and measuring all models", settings)
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
    _log(f"wrote {output}", settings)
    return card


def _percent(value):
    return "n/a (the teacher is no better than scratch)" if np.isnan(value) else f"{100 * value:.1f}%"


def _tflite_row(settings, data, out, student):
    path = os.path.join(out, "student.tflite")
    _log(f"converting to TFLite (quantize={settings.quantize})", settings)
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
        "split_seed": data.split_seed,
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
    """Test accuracy against parameters and against batch-256 latency, with SD error bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, NullFormatter

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    batch = max(rows[0].latency_ms)
    for i, row in enumerate(rows):
        label = row.name if row.artifact == "SavedModel" else f"{row.name} ({row.artifact})"
        accuracy, spread = 100 * row.accuracy, 100 * row.spread
        dodge = 1 + 0.06 * (i - 1) if row.name != "teacher" else 1  # students share a size
        for ax, x in ((axes[0], row.params * dodge), (axes[1], row.latency_ms[batch])):
            ax.errorbar(x, accuracy, yerr=spread, fmt="o", capsize=4, color=f"C{i}",
                        label=label)
    sizes = sorted({row.params for row in rows})
    axes[0].set_xscale("log")
    axes[0].set_xlim(sizes[0] / 2, sizes[-1] * 2)
    axes[0].set_xticks(sizes)
    axes[0].xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    axes[0].xaxis.set_minor_formatter(NullFormatter())
    axes[0].set_xlabel("parameters (log scale; ticks at the models' sizes)")
    axes[0].set_title("accuracy against size")
    axes[1].set_xlim(left=0)
    axes[1].set_xlabel(f"latency of a batch of {batch} (ms, SavedModel)")
    axes[1].set_title("accuracy against latency")
    seeds = max(len(row.accuracies) for row in rows)
    for ax in axes:
        ax.set_ylabel("test accuracy (%)")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8, loc="lower right")
    fig.suptitle(f"error bars: sample SD over {seeds} seeds" if seeds > 1 else "one seed")
    fig.tight_layout()
    _save_figure(fig, path)


def _save_figure(fig, path):
    import matplotlib.pyplot as plt

    fig.savefig(path, dpi=110)
    plt.close(fig)


def validation_split(data, fraction=0.2, seed=0):
    """Carves a stratified, seeded validation split out of the training split.

    The test split is left untouched, so that a search scored on the
    validation split never sees it.

    Args:
        data: A `keras_kd.data.Splits`.
        fraction: Float in (0, 1), the share of training examples held out.
        seed: Integer.

    Returns:
        `(search, description)`: a `Splits` whose "test" arrays are the
        validation examples, and a dict describing the split for the record.
    """
    from sklearn.model_selection import train_test_split

    if not 0 < fraction < 1:
        raise ValueError(f"The validation fraction must lie in (0, 1), got {fraction!r}.")
    x_fit, x_val, y_fit, y_val = train_test_split(
        data.x_train, data.y_train, test_size=fraction, random_state=seed, stratify=data.y_train
    )
    search = dataclasses.replace(data, x_train=x_fit, y_train=y_fit, x_test=x_val, y_test=y_val)
    return search, {"fraction": fraction, "seed": seed, "stratified": True,
                    "search_examples": int(len(x_fit)), "validation_examples": int(len(x_val))}


def tune(settings, data, tuner="bayesian", max_trials=10, directory=None,
         temperature=(1.0, 20.0), alpha=(0.0, 1.0), overwrite=False, verbose=0,
         validation_fraction=0.2):
    """Searches T and alpha on a validation split, then compares the pick on the test split.

    The search trains each trial on the training split less a stratified
    validation split (`validation_split`), on the recipe's views and
    schedule (cosine decay), and scores it on that validation split: the
    test split never reaches it. The chosen T and alpha are then trained as
    `keras-kd distill` trains, on the whole training split over the seeds,
    next to the scratch student and the default T and alpha, and all three
    are reported on the test split.

    Writes to `settings.output`: the tuned student of the first seed
    (`student/` SavedModel, `student.keras`), `model_card.json`,
    `tuning.json` (every trial, the labels-only baseline, the validation
    split and the test comparison), `tuning.md` and `tuning.png`. Keras
    Tuner's own state goes to `directory` (default `saved_models/tuning`),
    so an interrupted search resumes.

    Returns:
        A `keras_kd.tuning.SearchResult`.
    """
    from keras_kd import tuning

    strategy = strategies.make_strategy(settings.strategy)
    make_student = _student_factory(settings, data)  # refused before the teacher trains
    teacher, teacher_source = get_teacher(settings, data, verbose, strategy)
    seed = settings.seeds[0]
    search_data, split = validation_split(data, validation_fraction, seed)
    directory = directory or os.path.join("saved_models", "tuning")
    project = f"{data.name}_{settings.student_arch}_{search_data.fingerprint()[:8]}"
    train, epochs = (search_data.x_train, search_data.y_train), settings.epochs
    if settings.recipe and recipes.get(settings.recipe).views:
        recipe = dataclasses.replace(recipes.get(settings.recipe), batch_size=settings.batch_size)
        train = recipes.recorded_views(*train, recipe, data.num_classes, seed)
        epochs = math.ceil(settings.epochs / recipe.views)
    _log(f"{tuner} search, {max_trials} trials, on {split['search_examples']} training "
         f"examples scored on {split['validation_examples']} held out from them; state in "
         f"{directory}/{project}", settings)
    result = tuning.search(
        lambda: make_student(seed), teacher, train, (search_data.x_test, search_data.y_test),
        tuner=tuner, max_trials=max_trials, epochs=epochs, directory=directory,
        project_name=project, temperature=temperature, alpha=alpha,
        learning_rate=settings.learning_rate, batch_size=settings.batch_size, seed=seed,
        overwrite=overwrite, verbose=verbose, learning_rate_decay="cosine",
        progress=_progress(settings),
    )
    best = result.best_hyperparameters
    summary = (f"best on validation: T={_show(best['temperature'])}, alpha={_show(best['alpha'])}, "
               f"score {result.best_score:.4f} (labels-only baseline "
               f"{result.baseline['score']:.4f})")
    print(_tuning_table(result.table))
    print(summary)
    configurations = {
        "scratch student": (settings.temperature, 0.0),
        f"default (T={settings.temperature:g}, alpha={settings.alpha:g})":
            (settings.temperature, settings.alpha),
    }
    tuned = f"tuned (T={_show(best['temperature'])}, alpha={_show(best['alpha'])})"
    configurations[tuned] = (best["temperature"] or settings.temperature, best["alpha"])
    _log(f"training the pick, the default and scratch on the whole training split over "
         f"seeds {list(settings.seeds)}; reporting the test split", settings)
    runs = train_configurations(settings, data, teacher, verbose, strategy, configurations)
    with atomic_path(settings.output) as out:
        os.makedirs(out)
        student = runs[tuned][0][0]
        export_saved_model(student, os.path.join(out, "student"))
        save_keras(student, os.path.join(out, "student.keras"))
        rows = [report.measure_saved_model("teacher", teacher, data.x_test, data.y_test)]
        for name, trained in runs.items():
            rows.append(report.measure_saved_model(
                name, trained[0][0], data.x_test, data.y_test,
                accuracies=[_test_accuracy(m, data) for m, _ in trained],
            ))
        comparison = report.markdown_table(rows)
        card = _model_card(settings, data, teacher, teacher_source, rows,
                           report.gap_closed(rows[0].accuracy, rows[1].accuracy, rows[3].accuracy),
                           strategy.num_replicas_in_sync)
        card.update(temperature=best["temperature"], alpha=best["alpha"])
        with open(os.path.join(out, "model_card.json"), "w") as f:
            json.dump(card, f, indent=2)
        with open(os.path.join(out, "tuning.json"), "w") as f:
            json.dump({"tuner": tuner, "objective": "val_accuracy", "best": best,
                       "best_score": result.best_score, "validation_split": split,
                       "trials": result.table,
                       "test_comparison": card["models"]}, f, indent=2)
        with open(os.path.join(out, "tuning.md"), "w") as f:
            f.write(f"# {data.name}: {tuner} search\n\n{_tuning_table(result.table)}\n\n"
                    f"{summary}\n\n## On the test split\n\n{comparison}\n")
        _plot_search(result.table, os.path.join(out, "tuning.png"))
    print(comparison)
    _log(f"wrote {settings.output}", settings)
    return result


def _show(value):
    return "-" if value is None else f"{value:.3g}"


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
