"""Model tools: softmax models to logit models, ensembles, weight fingerprints, batched inference."""

import hashlib
import weakref

import keras
import numpy as np

from keras_kd import backends, internals


def strip_softmax(model):
    """Returns a copy of `model` that outputs logits instead of probabilities.

    The copy shares no variables with `model` but holds the same weights. A
    final `Softmax` or `Activation("softmax")` layer is dropped; a final layer
    with `activation="softmax"` gets a linear activation.

    Args:
        model: A Sequential or Functional `keras.Model` ending in softmax.

    Returns:
        A `keras.Model` whose outputs are the pre-softmax logits.

    Example:

    ```python
    teacher = keras_kd.strip_softmax(keras.saving.load_model("teacher.keras"))
    ```
    """
    clone = keras.models.clone_model(model)
    clone.set_weights(model.get_weights())
    last = clone.layers[-1]
    if isinstance(last, keras.layers.Softmax) or (
        isinstance(last, keras.layers.Activation)
        and last.activation is keras.activations.softmax
    ):
        if isinstance(clone, keras.Sequential):
            return keras.Sequential(clone.layers[:-1], name=clone.name)
        return keras.Model(clone.inputs, last.input, name=clone.name)
    if getattr(last, "activation", None) is keras.activations.softmax:
        last.activation = keras.activations.linear
        return clone
    raise ValueError(
        f"The last layer of '{model.name}' ({type(last).__name__}) applies no "
        "softmax, so there is nothing to strip."
    )


def ensemble(models, name="ensemble"):
    """One model whose logits are the mean of several models' logits.

    Averaging logits takes the normalized geometric mean of the members'
    distributions, and does so at every temperature: softmax(mean(z) / T)
    is the geometric mean of the softmax(z_k / T). So the ensemble is a
    teacher like any other (cacheable, exportable, one model to tune
    against), as in Hinton et al.'s distillation of an ensemble into one net.

    Args:
        models: List of at least one `keras.Model`, all taking the same
            input shape and outputting logits of the same shape.
        name: String, the model's name. Defaults to "ensemble".

    Returns:
        A functional `keras.Model`; its members are its layers, so saving and
        loading it keeps them. Members that share a name are renamed
        `<name>_<k>` (k their position), since a model's layers need unique names.

    Raises:
        ValueError: no models, or members whose input or output shapes differ.

    Example:

    ```python
    teacher = keras_kd.ensemble([teacher_a, teacher_b, teacher_c])
    ```
    """
    models = list(models)
    if not models:
        raise ValueError("ensemble() needs at least one model.")
    shapes = {(tuple(m.inputs[0].shape[1:]), tuple(m.outputs[0].shape[1:])) for m in models}
    if len(shapes) != 1:
        raise ValueError(
            "Every member of an ensemble must take the same input and output the same "
            f"logits; got (input, output) shapes {sorted(shapes)}."
        )
    names = [model.name for model in models]
    for k, model in enumerate(models):
        if names.count(model.name) > 1:
            model.name = f"{model.name}_{k}"
    inputs = keras.Input(models[0].inputs[0].shape[1:], name="inputs")
    outputs = [model(inputs) for model in models]
    mean = outputs[0] if len(outputs) == 1 else keras.layers.Average(name="mean_logits")(outputs)
    return keras.Model(inputs, mean, name=name)


def weights_fingerprint(model):
    """A short SHA-256 of a model's weights: equal weights, equal fingerprint."""
    digest = hashlib.sha256()
    for weight in model.get_weights():
        digest.update(np.ascontiguousarray(weight).tobytes())
    return digest.hexdigest()[:16]


def inference_function(model):
    """A compiled `model(batch, training=False)`, traced once per input shape.

    One function per model, kept while the model lives, so every `fit` and
    cache that runs the same teacher reuses its traces. On JAX and PyTorch it
    is Keras's own compiled `predict_on_batch`.
    """
    if not backends.is_tensorflow():
        return model.predict_on_batch
    import tensorflow as tf

    function = _INFERENCE.get(model)
    if function is None:
        # As Keras's own predict step: a Keras model needs no AutoGraph, and
        # converting costs about 0.3 s on first use.
        # A weak reference: the function must not keep its own key alive.
        ref = weakref.ref(model)
        call = tf.autograph.experimental.do_not_convert(lambda batch: ref()(batch, training=False))
        function = _INFERENCE[model] = tf.function(call, reduce_retracing=True)
    return function


_INFERENCE = weakref.WeakKeyDictionary()


def run_batches(function, x, batch_size=None):
    """Applies `function` to in-memory `x` in batches; returns the rows as NumPy.

    Args:
        function: Callable from a batch to outputs, e.g. `inference_function(teacher)`.
        x: Array, or a nested structure of arrays, with examples on axis 0.
        batch_size: Integer, defaults to 256.

    Returns:
        NumPy array of the outputs of every example (a list of them for a
        model with several outputs).
    """
    batch_size = batch_size or 256
    count = len(keras.tree.flatten(x)[0])
    batches = [
        keras.tree.map_structure(np.asarray, function(
            keras.tree.map_structure(lambda a: a[i : i + batch_size], x)))
        for i in range(0, count, batch_size)
    ]
    if isinstance(batches[0], (list, tuple)):
        return [np.concatenate(parts) for parts in zip(*batches)]
    return np.concatenate(batches)


def classifier_loss_and_metric(one_hot=False):
    """Cross-entropy from logits and accuracy, for integer or one-hot (mixed) labels."""
    if one_hot:
        return (keras.losses.CategoricalCrossentropy(from_logits=True),
                keras.metrics.CategoricalAccuracy(name="accuracy"))
    return (keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            keras.metrics.SparseCategoricalAccuracy(name="accuracy"))


def compile_classifier(model, optimizer, one_hot=False, **kwargs):
    """Compiles a model that outputs logits to train on labels alone, reporting accuracy.

    Args:
        model: The `keras.Model`.
        optimizer: A Keras optimizer or its name.
        one_hot: Boolean, labels are one-hot (or mixed) rows. Defaults to False.
        **kwargs: Passed to `compile` (`jit_compile`, ...).
    """
    loss, metric = classifier_loss_and_metric(one_hot)
    model.compile(optimizer, loss, metrics=[metric], **kwargs)


def random_layers(model):
    """Names the layers of `model` that transform inputs randomly in training.

    Keras random preprocessing layers (`RandomFlip`, `RandomRotation`, ...)
    inside a student make it train on views the teacher never sees.

    Args:
        model: A `keras.Model`.

    Returns:
        List of layer names.
    """
    found = []
    for layer in internals.flatten_layers(model):
        if type(layer).__name__.startswith("Random") and isinstance(layer, keras.layers.Layer):
            found.append(layer.name)
    return found
