"""Training a recipe's teachers and students on its views."""

import math

import numpy as np

from keras_kd import defaults

from keras_kd.recipes.registry import get
from keras_kd.recipes.views import recorded_views, training_data

# TensorFlow and Keras are imported inside the functions that train, so that
# the registry (and `keras-kd -h`) loads without starting TensorFlow.


def train_teacher(teacher, x, y, recipe, num_classes, validation_data=None, seed=0, verbose=0,
                  callbacks=None):
    """Trains `teacher` (logits out) on the recipe's shifted images, for its teacher epochs.

    There is no mixing: the teacher learns the classes, the student learns
    the teacher's function between them. Regularize the teacher in its
    architecture (dropout).

    Returns:
        The `keras.callbacks.History`.
    """
    _compile_teacher(teacher)
    return _fit_teacher(teacher, x, y, recipe, num_classes, validation_data, seed, verbose,
                        callbacks)


def _compile_teacher(teacher):
    import keras

    from keras_kd.models.tools import compile_classifier

    compile_classifier(teacher, keras.optimizers.Adam(defaults.LEARNING_RATE),
                       steps_per_execution=defaults.STEPS_PER_EXECUTION)


def _fit_teacher(teacher, x, y, recipe, num_classes, validation_data, seed, verbose, callbacks):
    recipe = get(recipe)
    return teacher.fit(
        training_data(x, y, recipe, num_classes, seed, teacher=True), epochs=recipe.teacher_epochs,
        validation_data=validation_data, verbose=verbose, shuffle=False, callbacks=callbacks,
    )


def train_teachers(make_teacher, x, y, recipe, num_classes, validation_data=None, seed=0,
                   verbose=0, progress=None):
    """Trains the recipe's teachers; several are averaged into one ensemble model.

    Teacher k is `make_teacher(seed + k)`, trained by `train_teacher` on its
    own shifted views (seed `seed + k`), so the members differ in their
    initial weights and in the views they saw.

    Args:
        make_teacher: Callable from an integer seed to a fresh `keras.Model`
            outputting logits.
        x, y: Training arrays (integer labels).
        recipe: A `Recipe` or recipe name; `recipe.teachers` members.
        num_classes: Integer.
        validation_data: Optional `(x, y)`, reported while training.
        seed: Integer, the first member's seed.
        verbose: Keras verbosity.
        progress: Optional callable from a phase description ("teacher 2/5")
            to a list of Keras callbacks, e.g. `keras_kd.EpochProgress`.

    Returns:
        The trained teacher, or with several the `keras_kd.ensemble` of them
        (its logits are the mean of theirs).

    Example:

    ```python
    build = lambda seed: keras_kd.recipes.architectures.build("cnn-large", (64,), 10, seed=seed)
    teacher = keras_kd.recipes.train_teachers(build, x, y, "hinton-ensemble", 10)
    ```
    """
    recipe = get(recipe)
    if not isinstance(recipe.teachers, int) or recipe.teachers < 1:
        raise ValueError(
            f"Recipe {recipe.name!r} has teachers={recipe.teachers!r}; it must be a "
            "positive integer (1 for a single teacher)."
        )
    if recipe.teachers == 1:
        teacher = make_teacher(seed)
        train_teacher(teacher, x, y, recipe, num_classes, validation_data=validation_data,
                      seed=seed, verbose=verbose, callbacks=progress("teacher") if progress else None)
        return teacher
    from keras_kd.models.reuse import Restartable

    # The members train on one compiled model, restarted from each member's
    # fresh weights: its steps are traced once, not once per member (about a
    # second each), and each member trains exactly as alone (tested). The
    # trained weights go back to the member.
    trainer = make_teacher(seed)
    _compile_teacher(trainer)
    shared = Restartable(trainer)
    members = []
    for k in range(recipe.teachers):
        member = make_teacher(seed + k)
        name = f"teacher {k + 1}/{recipe.teachers}"
        callbacks = list(progress(name)) if progress else []
        if not shared.can_restart(start_from=member):  # a builder of differing members
            train_teacher(member, x, y, recipe, num_classes, validation_data, seed + k, verbose,
                          callbacks)
            members.append(member)
            continue
        shared.restart(start_from=member)
        _fit_teacher(shared.model, x, y, recipe, num_classes, validation_data, seed + k, verbose,
                     callbacks + shared.record_callbacks())
        members.append(shared.copy_trained_to(member))
    from keras_kd.models.tools import ensemble

    return ensemble(members)


def train_student(student, x, y, recipe, num_classes, teacher=None, validation_data=None,
                  seed=0, verbose=0, epochs=None, callbacks=None, views=None):
    """Trains `student` with the recipe: distilled from `teacher`, or from labels alone.

    Both get the same augmented batches and epochs. Without recorded views
    (`recipe.views == 0`) the teacher runs in the student's step on the very
    batch the student sees (consistent views), since no two epochs see the
    same inputs. With `recipe.views = k`, both students train on the same k
    recorded passes (`recorded_views`), and the teacher labels them once.

    Args:
        student: `keras.Model` outputting logits.
        x, y: Training arrays (integer labels).
        recipe: A `Recipe` or recipe name.
        num_classes: Integer.
        teacher: Trained `keras.Model` (an ensemble from `train_teachers`
            included), or None for the scratch baseline.
        validation_data: Optional `(x, y)` with integer labels.
        seed: Integer, seeds the augmentation (and the order of recorded views).
        verbose: Keras verbosity.
        epochs: Integer, passes over the training examples; overrides the
            recipe's.
        callbacks: Optional list of Keras callbacks.

    Returns:
        The `keras.callbacks.History`.

    Example:

    ```python
    keras_kd.recipes.train_teacher(teacher, x, y, "function-matching", 10)
    keras_kd.recipes.train_student(student, x, y, "function-matching", 10, teacher=teacher)
    ```
    """
    import keras

    from keras_kd.distillers.distiller import Distiller
    from keras_kd.models.tools import classifier_loss_and_metric, compile_classifier

    recipe = get(recipe)
    epochs = epochs or recipe.epochs
    mixed = bool(recipe.mixup)
    validation = _one_hot(validation_data, num_classes) if mixed else validation_data
    fit_kwargs = {"validation_data": validation, "verbose": verbose, "callbacks": callbacks}
    if recipe.views:
        xv, yv = recorded_views(x, y, recipe, num_classes, seed)
        passes = math.ceil(epochs / recipe.views)
        fit_args = (xv, yv)
        fit_kwargs.update(epochs=passes, batch_size=recipe.batch_size, shuffle=True)
        rate = _cosine(recipe, passes, len(xv))
    else:
        fit_args = (training_data(x, y, recipe, num_classes, seed),)
        fit_kwargs.update(epochs=epochs, shuffle=False)
        rate = _cosine(recipe, epochs, len(x))
    keras.utils.set_random_seed(seed)  # the same order of recorded views for both students
    speed = {"steps_per_execution": defaults.STEPS_PER_EXECUTION}
    if teacher is None:
        compile_classifier(student, keras.optimizers.Adam(rate), one_hot=mixed, **speed)
        return student.fit(*fit_args, **fit_kwargs)
    distiller = Distiller(student, teacher, temperature=recipe.temperature, alpha=recipe.alpha)
    loss, metric = classifier_loss_and_metric(mixed)
    distiller.compile(keras.optimizers.Adam(rate), loss=loss, metrics=[metric], **speed)
    # Recorded views are arrays, so the teacher's logits are computed once in
    # memory; fresh views change every epoch, so the teacher runs per batch.
    return distiller.fit(*fit_args, cache_teacher=bool(recipe.views), **fit_kwargs)


def _cosine(recipe, epochs, examples):
    """Adam's rate decaying to 0 along a cosine over the whole schedule.

    With a constant rate the last epochs wander (on the digits, last-epoch
    accuracy was up to 0.9 points below the best epoch's); decaying it makes
    the final student the converged one.
    """
    import keras

    steps = epochs * math.ceil(examples / recipe.batch_size)
    return keras.optimizers.schedules.CosineDecay(recipe.learning_rate, decay_steps=steps)


def _one_hot(validation_data, num_classes):
    if validation_data is None:
        return None
    x, y = validation_data
    return np.asarray(x, "float32"), np.eye(num_classes, dtype="float32")[np.asarray(y).reshape(-1)]
