"""Recipes: tested ways to train a teacher and distill it so the student beats training alone.

What makes distillation pay (Hinton et al. 2015; Beyer et al. 2022,
"Knowledge distillation: A good teacher is patient and consistent"):

- a teacher much better than the student could become alone: trained with
  augmentation (random shifts of up to a few pixels) and dropout, and, where
  one teacher leaves the student little to learn, an ensemble of such
  teachers (Hinton et al. distilled ensembles into one net);
- consistent views: teacher and student see the *same* augmented batch,
  so the teacher runs inside the student's step instead of from a cache;
- patience: many more epochs than training from labels needs, because every
  epoch shows new views that the teacher labels;
- function matching: mixing pairs of inputs (mixup) yields inputs between
  the classes where the teacher's function carries the most information;
  the student then learns from the teacher alone (alpha = 1).

The scratch baseline of a recipe gets the same augmentation and epochs, so
a comparison isolates what the teacher adds.
"""

import dataclasses
import math

import numpy as np

from keras_kd.architectures import image_shape

# TensorFlow and Keras are imported inside the functions that train, so that
# the registry (and `keras-kd -h`) loads without starting TensorFlow.


@dataclasses.dataclass(frozen=True)
class Recipe:
    """Settings of one recipe.

    Attributes:
        name: String.
        teacher_shift: Integer, the largest random shift in pixels of the
            teacher's training images (0: none).
        student_shift: Integer, the same for the students' images; the
            distilled student's teacher sees the same shifted batch.
        mixup: Float, the Beta(a, a) concentration of input mixing (0: none).
        temperature: Float.
        alpha: Float, weight of the distillation term.
        epochs: Integer, student epochs (scratch and distilled alike).
        teacher_epochs: Integer.
        learning_rate: Float, Adam's initial rate for the students; it decays
            to 0 along a cosine over their epochs.
        batch_size: Integer.
        teachers: Integer, how many teachers `train_teachers` trains (from
            consecutive seeds) and averages into one (`keras_kd.ensemble`).
        views: Integer. 0: the students draw new augmented views every epoch
            and the teacher runs in the distilled student's step. k > 0: k
            augmented passes over the training set are drawn once
            (`recorded_views`), the teacher labels them once, and both students
            train on those same arrays for `ceil(epochs / k)` passes over them,
            so distillation costs about what training alone costs.
    """

    name: str
    teacher_shift: int
    student_shift: int
    mixup: float
    temperature: float
    alpha: float
    epochs: int
    teacher_epochs: int
    learning_rate: float = 3e-3
    batch_size: int = 64
    teachers: int = 1
    views: int = 0


RECIPES = {
    # Hinton et al.'s teacher (jittered images, dropout in the architecture)
    # and students on consistent jittered views, patiently. Measured on the
    # MNIST 5k subset (benchmarks/RESULTS.md): at 150 epochs the distilled
    # 2x256 student beats the same student on the same views by about a point
    # and closes 60% of the gap (36% at 60 epochs).
    "hinton": Recipe("hinton", teacher_shift=1, student_shift=1, mixup=0.0, temperature=4.0,
                     alpha=0.9, epochs=150, teacher_epochs=150),
    # The same with an ensemble of five such teachers, for small data sets
    # where one teacher leaves a well-trained student little to learn. On the
    # 8x8 digits (teacher 99.17%, ensemble 99.44%) only the ensemble lets the
    # 2x256 student beat the same student trained alone by more than the
    # seeds' spread (benchmarks/RESULTS.md). Costs five teacher trainings and
    # five teacher passes per student step.
    "hinton-ensemble": Recipe("hinton-ensemble", teacher_shift=1, student_shift=1, mixup=0.0,
                              temperature=4.0, alpha=0.9, epochs=150, teacher_epochs=150,
                              teachers=5),
    # Beyer et al.: consistent mixed views, the teacher's function only, patience.
    "function-matching": Recipe("function-matching", teacher_shift=1, student_shift=1,
                                mixup=1.0, temperature=1.0, alpha=1.0, epochs=300,
                                teacher_epochs=150),
    # The default of `keras-kd distill` on the digits, sized to finish in about
    # two minutes on 2 CPU cores: Hinton et al.'s setting, in which the teacher
    # (here three CNNs, trained on shifted images, averaged) knows an invariance
    # that the students, trained on the clean images alone, cannot learn from
    # labels. The students' views are static, so the teacher labels them once.
    # Measured front (benchmarks/RESULTS.md): a gain smaller than the seeds'
    # spread; `hinton-ensemble` gains more but takes 7.5 minutes.
    "quick-ensemble": Recipe("quick-ensemble", teacher_shift=1, student_shift=0, mixup=0.0,
                             temperature=4.0, alpha=0.9, epochs=150, teacher_epochs=40,
                             teachers=3, views=1),
}


# The recipe `keras-kd distill` and `tune` use on a dataset when none is named.
DEFAULT_RECIPES = {"digits": "quick-ensemble"}


def get(name):
    """The `Recipe` called `name`; raises with the choices otherwise."""
    if isinstance(name, Recipe):
        return name
    if name not in RECIPES:
        raise ValueError(f"Unknown recipe {name!r}. Choose one of: {', '.join(RECIPES)}.")
    return RECIPES[name]


def shift(images, max_shift, seed):
    """Shifts each example by its own random whole number of pixels, zero-filled.

    Args:
        images: Float tensor `(batch, ...)` of images or square flat vectors.
        max_shift: Integer, the largest shift along each axis.
        seed: Tensor of shape (2,), a stateless random seed.

    Returns:
        Tensor of the same shape and dtype.
    """
    import tensorflow as tf

    if not max_shift:
        return images
    flat_shape = tf.shape(images)
    h, w, c = image_shape(images.shape[1:], "A random shift", "Use a recipe without shifts.")
    x = tf.reshape(images, (-1, h, w, c))
    padded = tf.pad(x, [[0, 0], [max_shift, max_shift], [max_shift, max_shift], [0, 0]])
    offsets = tf.random.stateless_uniform(
        (tf.shape(x)[0], 2), seed, minval=0, maxval=2 * max_shift + 1, dtype=tf.int32
    )
    rows = offsets[:, :1] + tf.range(h)[None, :]  # (batch, h)
    cols = offsets[:, 1:] + tf.range(w)[None, :]  # (batch, w)
    x = tf.gather(padded, rows, axis=1, batch_dims=1)
    x = tf.gather(x, cols, axis=2, batch_dims=1)
    return tf.reshape(x, flat_shape)


def mix(x, y, concentration, seed):
    """Mixup: each example blended with another of the batch, `lam ~ Beta(a, a)`.

    Args:
        x: Float tensor `(batch, ...)`.
        y: One-hot (or soft) float labels `(batch, classes)`, mixed alike.
        concentration: Float a > 0.
        seed: Tensor of shape (2,).

    Returns:
        `(x_mixed, y_mixed)`.
    """
    import tensorflow as tf

    batch = tf.shape(x)[0]
    seeds = tf.random.experimental.stateless_split(seed, 3)
    g1 = tf.random.stateless_gamma((batch,), seeds[0], alpha=concentration)
    g2 = tf.random.stateless_gamma((batch,), seeds[1], alpha=concentration)
    lam = g1 / (g1 + g2)
    partner = tf.random.experimental.stateless_shuffle(tf.range(batch), seeds[2])
    lam_x = tf.reshape(lam, [-1] + [1] * (len(x.shape) - 1))
    x = lam_x * x + (1.0 - lam_x) * tf.gather(x, partner)
    y = lam[:, None] * y + (1.0 - lam[:, None]) * tf.gather(y, partner)
    return x, y


def training_data(x, y, recipe, num_classes, seed=0, teacher=False):
    """The recipe's augmented, reshuffled training batches.

    Every epoch draws new shifts (and mixing partners). Labels stay integer
    class ids, except when the recipe mixes: then they come one-hot, mixed
    like the inputs, for a categorical cross-entropy.

    Args:
        x: Float array `(n, ...)`.
        y: Integer labels `(n,)`.
        recipe: A `Recipe` or recipe name.
        num_classes: Integer.
        seed: Integer.
        teacher: Boolean, use the teacher's shift and no mixing.

    Returns:
        A `tf.data.Dataset` of `(x, y)` batches.
    """
    import tensorflow as tf

    recipe = get(recipe)
    max_shift = recipe.teacher_shift if teacher else recipe.student_shift
    mixup = 0.0 if teacher else recipe.mixup
    labels = np.asarray(y).reshape(-1).astype("int32")
    if mixup:
        labels = np.eye(num_classes, dtype="float32")[labels]
    dataset = tf.data.Dataset.from_tensor_slices((np.asarray(x, "float32"), labels))
    dataset = dataset.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.batch(recipe.batch_size)
    # One stateless seed per batch, different in every epoch: the epoch
    # counter comes from a random dataset that is itself seeded.
    seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
    dataset = tf.data.Dataset.zip((dataset, seeds))

    def augment(batch, batch_seed):
        images, labels = batch
        shift_seed, mix_seed = tf.unstack(tf.random.experimental.stateless_split(batch_seed, 2))
        images = shift(images, max_shift, shift_seed)
        if mixup:
            images, labels = mix(images, labels, mixup, mix_seed)
        return images, labels

    return dataset.map(augment, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


def recorded_views(x, y, recipe, num_classes, seed=0):
    """`recipe.views` augmented passes over `(x, y)`, drawn once, as in-memory arrays.

    The passes are those `training_data` yields (the same shifts and mixing),
    concatenated. Training on them instead of on fresh views lets the teacher
    label every view once, through the Distiller's in-memory cache, while
    the scratch and distilled students still see exactly the same inputs.

    Args:
        x: Float array `(n, ...)`.
        y: Integer labels `(n,)`.
        recipe: A `Recipe` (or name) with `views` >= 1.
        num_classes: Integer.
        seed: Integer, seeds the views.

    Returns:
        `(x_views, y_views)`, `recipe.views * n` examples.

    Example:

    ```python
    xv, yv = keras_kd.recipes.recorded_views(x, y, "digits-quick", 10, seed=0)
    ```
    """
    recipe = get(recipe)
    if not isinstance(recipe.views, int) or recipe.views < 1:
        raise ValueError(f"Recipe {recipe.name!r} has views={recipe.views!r}; it needs views >= 1.")
    dataset = training_data(x, y, recipe, num_classes, seed)
    xs, ys = [], []
    for _ in range(recipe.views):
        for images, labels in dataset.as_numpy_iterator():
            xs.append(images)
            ys.append(labels)
    return np.concatenate(xs), np.concatenate(ys)


def _label_loss_and_metric(mixed):
    """Cross-entropy and accuracy for one-hot (mixed) or integer labels."""
    import keras

    if mixed:
        return (keras.losses.CategoricalCrossentropy(from_logits=True),
                keras.metrics.CategoricalAccuracy(name="accuracy"))
    return (keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            keras.metrics.SparseCategoricalAccuracy(name="accuracy"))


def _compile(model, learning_rate, mixed=False):
    import keras

    loss, metric = _label_loss_and_metric(mixed)
    model.compile(keras.optimizers.Adam(learning_rate), loss, metrics=[metric])


def train_teacher(teacher, x, y, recipe, num_classes, validation_data=None, seed=0, verbose=0,
                  callbacks=None):
    """Trains `teacher` (logits out) on the recipe's shifted images, for its teacher epochs.

    There is no mixing: the teacher learns the classes, the student learns
    the teacher's function between them. Regularize the teacher in its
    architecture (dropout).

    Returns:
        The `keras.callbacks.History`.
    """
    recipe = get(recipe)
    _compile(teacher, 1e-3)
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
    build = lambda seed: keras_kd.architectures.build("cnn-large", (64,), 10, seed=seed)
    teacher = keras_kd.recipes.train_teachers(build, x, y, "hinton-ensemble", 10)
    ```
    """
    recipe = get(recipe)
    if not isinstance(recipe.teachers, int) or recipe.teachers < 1:
        raise ValueError(
            f"Recipe {recipe.name!r} has teachers={recipe.teachers!r}; it must be a "
            "positive integer (1 for a single teacher)."
        )
    members = []
    for k in range(recipe.teachers):
        teacher = make_teacher(seed + k)
        name = "teacher" if recipe.teachers == 1 else f"teacher {k + 1}/{recipe.teachers}"
        train_teacher(teacher, x, y, recipe, num_classes, validation_data=validation_data,
                      seed=seed + k, verbose=verbose, callbacks=progress(name) if progress else None)
        members.append(teacher)
    if len(members) == 1:
        return members[0]
    from keras_kd.models import ensemble

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

    from keras_kd.distiller import Distiller

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
    if teacher is None:
        _compile(student, rate, mixed)
        return student.fit(*fit_args, **fit_kwargs)
    distiller = Distiller(student, teacher, temperature=recipe.temperature, alpha=recipe.alpha)
    loss, metric = _label_loss_and_metric(mixed)
    distiller.compile(keras.optimizers.Adam(rate), loss=loss, metrics=[metric])
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
