"""The views a recipe trains on: random shifts, mixup, and recorded epochs of them."""

import numpy as np

from keras_kd.recipes.architectures import image_shape
from keras_kd.recipes.registry import get

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
