"""The training runs of `keras-kd distill` and `tune`: the teacher, and students over seeds."""

import os

import keras

from keras_kd import defaults, recipes
from keras_kd.app import report
from keras_kd.distillers import checks
from keras_kd.distillers.distiller import Distiller
from keras_kd.models.export import save_keras
from keras_kd.models.loading import load_model
from keras_kd.models.reuse import Restartable
from keras_kd.models.tools import compile_classifier
from keras_kd.recipes import architectures


TEACHERS_DIR = os.path.join("saved_models", "teachers")


def log(message, settings=None):
    if settings is None or not settings.quiet:
        print(f"[keras-kd] {message}", flush=True)


def progress_callbacks(settings):
    """A function from a phase name to the callbacks that report it (none when quiet)."""
    if settings.quiet:
        return lambda description: []
    from keras_kd.callbacks.epoch_progress import EpochProgress

    return lambda description: [EpochProgress(description)]


def get_teacher(settings, data, verbose, strategy):
    """Loads the given teacher, reuses a cached one, or trains and caches one.

    Returns:
        `(teacher, description)`.
    """
    if settings.teacher:
        teacher = load_model(settings.teacher, role="teacher")
        checks.check_num_classes(teacher, data.num_classes, "teacher")
        return teacher, settings.teacher
    epochs = settings.teacher_epochs or settings.epochs
    name = (
        f"{data.name}_{settings.teacher_arch}_e{epochs}_b{settings.batch_size}"
        f"{'_' + settings.recipe if settings.recipe else ''}"
        f"_s{settings.seeds[0]}_{data.fingerprint()[:8]}.keras"
    )
    path = os.path.join(TEACHERS_DIR, name)
    if os.path.exists(path):
        log(f"reusing teacher {path}", settings)
        return load_model(path, role="teacher"), path
    build = lambda seed: architectures.build(  # noqa: E731
        settings.teacher_arch, data.input_shape, data.num_classes, seed=seed
    )
    progress = progress_callbacks(settings)
    recipe = settings.training_recipe()
    if recipe:
        members = f"{recipe.teachers} teachers" if recipe.teachers > 1 else "teacher"
        log(f"training {members} {settings.teacher_arch} for {epochs} epochs", settings)
        with strategy.scope():
            teacher = recipes.train_teachers(
                build, data.x_train, data.y_train, recipe, data.num_classes,
                seed=settings.seeds[0], verbose=verbose, progress=progress,
            )
    else:
        log(f"training teacher {settings.teacher_arch} for {epochs} epochs", settings)
        with strategy.scope():
            teacher = build(settings.seeds[0])
            compile_classifier(teacher, keras.optimizers.Adam(defaults.LEARNING_RATE),
                               jit_compile=settings.jit or "auto")
        teacher.fit(
            data.x_train, data.y_train, epochs=epochs, batch_size=settings.batch_size,
            verbose=verbose, callbacks=progress("teacher"),
        )
    save_keras(teacher, path)
    return teacher, path


def student_factory(settings, data):
    """A function `seed -> fresh student`: built, or reloaded from `--student`."""
    if settings.student:
        checks.check_num_classes(load_model(settings.student, role="student"), data.num_classes, "student")

        def reload(seed):
            # Reloading gives every run the saved weights (clone_model cannot
            # copy the TFSMLayer of a SavedModel). Its dropout layers draw their
            # seeds from the global random state as they load: seeding it first
            # gives both students of a seed the same seeds, and a run the same
            # numbers every time.
            keras.utils.set_random_seed(seed)
            return load_model(settings.student, role="student")

        return reload
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
        data: A `keras_kd.recipes.data.Splits`; trains on its training split and
            reports its test split per epoch.
        teacher: The trained teacher.
        verbose: Keras verbosity.
        strategy: A `tf.distribute.Strategy`.
        configurations: Dict `name -> (temperature, alpha)`; alpha = 0 trains
            from labels alone.

    Returns:
        Dict `name -> [(student, history dict), ...]`, one entry per seed.
    """
    make_student = student_factory(settings, data)
    progress = progress_callbacks(settings)
    runs = {name: [] for name in configurations}
    total = len(configurations) * len(settings.seeds)
    done = 0
    shared = _SharedDistiller()
    for seed in settings.seeds:
        for name, (temperature, alpha) in configurations.items():
            done += 1
            how = "from labels alone" if alpha == 0 else (
                f"distilled at T={temperature:g}, alpha={alpha:g}"
            )
            if settings.recipe:
                how += f", recipe {settings.recipe}"
            log(f"seed {seed}: student {how}, {settings.epochs} epochs", settings)
            callbacks = progress(f"student {done}/{total} (seed {seed}, {name})")
            recipe = settings.training_recipe(temperature=temperature, alpha=alpha)
            if recipe:
                trained = _train_with_recipe(recipe, data, teacher, verbose, strategy,
                                             make_student, seed, alpha, callbacks)
            else:
                trained = shared.train(settings, data, teacher, verbose, strategy, make_student,
                                       seed, temperature, alpha, callbacks)
            runs[name].append(trained)
    return runs


def _train_with_recipe(recipe, data, teacher, verbose, strategy, make_student, seed, alpha,
                       callbacks):
    with strategy.scope():
        student = make_student(seed)
        keras.utils.set_random_seed(seed)
        history = recipes.train_student(
            student, data.x_train, data.y_train, recipe, data.num_classes,
            teacher=teacher if alpha > 0 else None, validation_data=(data.x_test, data.y_test),
            seed=seed, verbose=verbose, callbacks=callbacks,
        )
    return student, history.history


class _SharedDistiller:
    """Trains every seed and configuration without a recipe on one compiled Distiller.

    Each run restarts it from that seed's freshly built student, T and alpha,
    and a fresh optimizer (`Restartable`): the same numbers as a new
    Distiller per run (tested), with its steps traced once instead of once
    per run. Each run's trained weights go to that fresh student, which the
    run returns.
    """

    def __init__(self):
        self.restartable = None

    def train(self, settings, data, teacher, verbose, strategy, make_student, seed, temperature,
              alpha, callbacks):
        student = make_student(seed)
        shared = self.restartable
        if shared is not None and shared.can_restart(start_from=student):
            distiller = shared.restart(start_from=student)
            distiller.temperature, distiller.alpha = temperature, alpha
        else:
            with strategy.scope():
                distiller = Distiller(make_student(seed), teacher, temperature=temperature,
                                      alpha=alpha)
                distiller.compile(
                    keras.optimizers.Adam(settings.learning_rate), metrics=["accuracy"],
                    jit_compile=settings.jit or "auto",
                )
            shared = self.restartable = Restartable(distiller)
        keras.utils.set_random_seed(seed)
        history = distiller.fit(
            data.x_train, data.y_train, epochs=settings.epochs, batch_size=settings.batch_size,
            validation_data=(data.x_test, data.y_test), verbose=verbose,
            callbacks=callbacks + shared.record_callbacks(),
        )
        return shared.copy_trained_to(student), history.history


def test_accuracy(model, data):
    return report.accuracy(lambda b: model(b, training=False), data.x_test, data.y_test)
