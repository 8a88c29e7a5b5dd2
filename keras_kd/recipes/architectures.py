"""Built-in teacher and student architectures: MLPs and small CNNs that output logits."""

import math


def mlp(input_shape, num_classes, hidden=(256, 256), dropout=0.0, name="mlp"):
    """A multilayer perceptron over flattened inputs, ending in logits.

    Args:
        input_shape: Tuple, the shape of one example.
        num_classes: Integer, the number of output logits.
        hidden: Tuple of integers, the width of each hidden ReLU layer.
        dropout: Float, dropout rate after each hidden layer. Defaults to 0.
        name: String, the model's name.

    Returns:
        An uncompiled `keras.Sequential`.
    """
    import keras

    layers = [keras.Input(shape=tuple(input_shape)), keras.layers.Flatten()]
    for width in hidden:
        layers.append(keras.layers.Dense(width, activation="relu"))
        if dropout:
            layers.append(keras.layers.Dropout(dropout))
    layers.append(keras.layers.Dense(num_classes, name="logits"))
    return keras.Sequential(layers, name=name)


def cnn(input_shape, num_classes, filters=(32, 64), dense=128, dropout=0.0, name="cnn"):
    """A small convolutional network for images, ending in logits.

    Inputs of rank 1 whose length is a square (the 64 pixels of digits) are
    reshaped into one-channel images first.

    Args:
        input_shape: Tuple, the shape of one example: `(h, w, c)`, `(h, w)`
            or `(h * w,)`.
        num_classes: Integer, the number of output logits.
        filters: Tuple of integers, the channels of each 3x3 conv block; each
            block halves the resolution with max pooling.
        dense: Integer, the width of the hidden dense layer (0 for none).
        dropout: Float, dropout rate before the logits. Defaults to 0.
        name: String, the model's name.

    Returns:
        An uncompiled `keras.Sequential`.
    """
    import keras

    layers = [keras.Input(shape=tuple(input_shape))]
    shape = image_shape(input_shape)
    if shape != tuple(input_shape):
        layers.append(keras.layers.Reshape(shape))
    for width in filters:
        layers.append(keras.layers.Conv2D(width, 3, padding="same", activation="relu"))
        layers.append(keras.layers.MaxPooling2D(2, padding="same"))
    layers.append(keras.layers.Flatten())
    if dense:
        layers.append(keras.layers.Dense(dense, activation="relu"))
    if dropout:
        layers.append(keras.layers.Dropout(dropout))
    layers.append(keras.layers.Dense(num_classes, name="logits"))
    return keras.Sequential(layers, name=name)


def image_shape(input_shape, needed_by="A CNN", fix=""):
    """`(h, w, c)` for images, `(h, w)` plus a channel, or square flat vectors.

    Args:
        input_shape: Tuple, one example's shape.
        needed_by: String, what needs images; named in the error.
        fix: String, appended to the error.

    Returns:
        Tuple `(height, width, channels)`.

    Raises:
        ValueError: the examples are neither images nor square flat vectors.
    """
    shape = tuple(input_shape)
    if len(shape) == 3:
        return shape
    if len(shape) == 2:
        return shape + (1,)
    side = math.isqrt(shape[0]) if len(shape) == 1 else 0
    if len(shape) == 1 and side * side == shape[0]:
        return (side, side, 1)
    raise ValueError(
        f"{needed_by} needs images; examples of shape {shape} are neither images nor "
        f"square flat vectors.{' ' + fix if fix else ''}"
    )


# Name -> (builder, keyword arguments). Teachers are wide and regularized;
# students are small enough to show what distillation adds.
ARCHITECTURES = {
    "mlp-tiny": (mlp, {"hidden": (16,)}),
    "mlp-small": (mlp, {"hidden": (64,)}),
    "mlp-medium": (mlp, {"hidden": (256, 256)}),
    "mlp-large": (mlp, {"hidden": (1200, 1200), "dropout": 0.3}),
    "mlp-hinton-student": (mlp, {"hidden": (800, 800)}),
    "mlp-hinton-teacher": (mlp, {"hidden": (1200, 1200), "dropout": 0.5}),
    "cnn-small": (cnn, {"filters": (8, 16), "dense": 32}),
    "cnn-medium": (cnn, {"filters": (16, 32), "dense": 64}),
    "cnn-large": (cnn, {"filters": (32, 64), "dense": 256, "dropout": 0.3}),
}


def build(name, input_shape, num_classes, seed=None):
    """Builds the named architecture with fresh, optionally seeded, weights.

    Args:
        name: String, a key of `ARCHITECTURES`.
        input_shape: Tuple, the shape of one example.
        num_classes: Integer, the number of output logits.
        seed: Integer or None; seeds Keras's initializers when given.

    Returns:
        An uncompiled `keras.Model` outputting logits.

    Example:

    ```python
    student = keras_kd.recipes.architectures.build("mlp-tiny", (64,), 10, seed=0)
    ```
    """
    if name not in ARCHITECTURES:
        raise ValueError(
            f"Unknown architecture '{name}'. Choose one of: "
            f"{', '.join(sorted(ARCHITECTURES))}."
        )
    if seed is not None:
        import keras

        keras.utils.set_random_seed(seed)
    builder, kwargs = ARCHITECTURES[name]
    return builder(input_shape, num_classes, name=name.replace("-", "_"), **kwargs)
