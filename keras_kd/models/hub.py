"""KerasHub models in a distiller: the one place that knows what they return and take.

A KerasHub *task* (`GPT2CausalLM`, `BertTextClassifier`, `BertMaskedLM`, ...)
outputs plain logits, `(batch, classes)` or `(batch, tokens, vocab)`, and
distils like any model. Two things differ from a plain Keras model:

- A *backbone* (`GPT2Backbone`, `BertBackbone`) outputs hidden states, often
  a dict of them, not logits. It is refused here, with the task to wrap it in.
- A task may carry a `preprocessor` that turns raw strings into token ids
  (and, for language models, into shifted labels and padding weights).
  KerasHub's own `fit` maps it over the data; `preprocess` does the same for
  a distiller, so `distiller.fit(texts, labels)` works as `task.fit` does.

Nothing here imports `keras_hub`: models are recognized by their classes.
"""

import keras
import numpy as np

from keras_kd import backends


def is_hub_model(model):
    """Whether `model` is a KerasHub model (a task or a backbone)."""
    return any(cls.__module__.startswith("keras_hub.") for cls in type(model).__mro__)


def is_backbone(model):
    """Whether `model` is a KerasHub backbone (hidden states, not logits)."""
    return is_hub_model(model) and any(
        cls.__name__ == "Backbone" and cls.__module__.startswith("keras_hub.")
        for cls in type(model).__mro__
    )


def check_logits_output(model, role):
    """Raises unless `model` returns one logits tensor.

    Raises:
        ValueError: for a KerasHub backbone, naming the task to wrap it in,
            and for any Functional model with several outputs (a dict or a
            list), naming the fix.
    """
    name = type(model).__name__
    if is_backbone(model):
        task = name.replace("Backbone", "")
        raise ValueError(
            f"The {role} is a KerasHub backbone ({name}): it outputs hidden states, not "
            f"logits. Distil its task model instead, for example keras_hub.models."
            f"{task}CausalLM(backbone=..., preprocessor=None) or {task}TextClassifier(...)."
        )
    try:
        outputs = model.outputs
    except (AttributeError, ValueError):
        return  # subclassed: checked on real data before training
    if outputs is not None and len(outputs) > 1:
        raise ValueError(
            f"The {role} '{model.name}' has {len(outputs)} outputs; a distiller reads one "
            "logits tensor per model. Wrap it in a keras.Model(inputs, logits) that "
            "returns only its logits."
        )


def preprocessor_of(student, teachers):
    """The preprocessor that a distiller maps over raw data, or None.

    The student's KerasHub preprocessor, when it has one. The teachers read
    the same preprocessed inputs, so each teacher must have none or one with
    the same configuration (the same tokenizer and sequence length).

    Raises:
        ValueError: a teacher's preprocessor differs from the student's.
    """
    preprocessor = getattr(student, "preprocessor", None) if is_hub_model(student) else None
    if preprocessor is None:
        for index, teacher in enumerate(teachers):
            if is_hub_model(teacher) and getattr(teacher, "preprocessor", None) is not None:
                raise ValueError(
                    f"Teacher {index} has a KerasHub preprocessor but the student has none. "
                    "Give the student the same preprocessor (or preprocessor=None to both "
                    "and pass token ids)."
                )
        return None
    want = _config(preprocessor)
    for index, teacher in enumerate(teachers):
        other = getattr(teacher, "preprocessor", None) if is_hub_model(teacher) else None
        if other is not None and _config(other) != want:
            raise ValueError(
                f"Teacher {index}'s preprocessor differs from the student's, but both read "
                "the same token ids. Build the student with the teacher's tokenizer, "
                "vocabulary and sequence length (for example preprocessor=teacher.preprocessor)."
            )
    return preprocessor


def _config(preprocessor):
    """What must match for two preprocessors to give the same token ids.

    The tokenizer's vocabulary (and BPE merges, SentencePiece proto) is in its
    config when built in memory but an asset when loaded from a file: it is
    compared by value, the rest of the config as written.
    """
    config = keras.saving.serialize_keras_object(preprocessor)["config"]
    config.pop("name", None)
    tokenizer = getattr(preprocessor, "tokenizer", None)
    assets = ()
    if tokenizer is not None and isinstance(config.get("tokenizer"), dict):
        tokenizer_config = config["tokenizer"].get("config", {})
        for key in ("name", "vocabulary", "merges", "proto"):
            tokenizer_config.pop(key, None)
        vocabulary = tokenizer.get_vocabulary() if hasattr(tokenizer, "get_vocabulary") else None
        assets = (vocabulary, getattr(tokenizer, "merges", None), getattr(tokenizer, "proto", None))
    return repr(config), repr(assets)


def preprocess(preprocessor, x, y=None, sample_weight=None, batch_size=None, shuffle=False):
    """Raw data through a KerasHub preprocessor, as KerasHub's `Task.fit` maps it.

    Deterministic preprocessing (tokenizing, padding, shifting labels) runs
    once: the result comes back as arrays, which Keras shuffles each epoch
    and the distiller pairs with teacher outputs computed once. Random
    preprocessing (a masked-LM preprocessor's masks) stays a `tf.data`
    pipeline, so every epoch draws new masks and the teachers run on them.

    Args:
        preprocessor: A KerasHub preprocessor layer.
        x: Raw inputs (a list or array of strings, ...) or a `tf.data.Dataset`
            of them, batched, with labels in its elements.
        y, sample_weight: Labels and weights for in-memory `x`, or None.
        batch_size: Batch size for in-memory `x`. Defaults to 32.
        shuffle: Boolean. For random preprocessing of in-memory `x`, shuffle
            the examples anew each epoch (arrays are shuffled by `fit`).

    Returns:
        `(x, y, sample_weight)` as arrays (y and sample_weight may be None), or
        `(dataset, None, None)` for a dataset or random preprocessing.

    Example:

    ```python
    x, y, w = preprocess(classifier.preprocessor, texts, labels)
    ```
    """
    backends.require_tensorflow("A KerasHub preprocessor (tf.data)")
    import tensorflow as tf

    from keras_kd.caching import pipelines

    if isinstance(x, tf.data.Dataset):
        if y is not None or sample_weight is not None:
            raise ValueError(
                "When x is a tf.data.Dataset, put the labels and weights in its elements "
                "and pass no y or sample_weight."
            )
        return x.map(preprocessor, num_parallel_calls=tf.data.AUTOTUNE), None, None
    raw = tf.data.Dataset.from_tensor_slices(keras.utils.pack_x_y_sample_weight(x, y, sample_weight))

    def mapped(examples):
        batches = examples.batch(batch_size or 32)
        return batches.map(preprocessor, num_parallel_calls=tf.data.AUTOTUNE)

    dataset = mapped(raw)
    if pipelines.pipeline_randomness(dataset):
        if shuffle:
            dataset = mapped(raw.shuffle(len(raw), reshuffle_each_iteration=True))
        return dataset.prefetch(tf.data.AUTOTUNE), None, None
    batches = [keras.tree.map_structure(np.asarray, batch) for batch in dataset]
    joined = keras.tree.map_structure(lambda *parts: np.concatenate(parts), *batches)
    return keras.utils.unpack_x_y_sample_weight(joined)


def preprocessed_fit_arguments(preprocessor, fit_args):
    """`fit_arguments` with `x`, `y`, `sample_weight` and `validation_data` preprocessed."""
    fit_args = dict(fit_args)
    x, y, sample_weight = preprocess(
        preprocessor, fit_args["x"], fit_args["y"], fit_args["sample_weight"],
        fit_args["batch_size"], shuffle=fit_args["shuffle"],
    )
    fit_args.update(x=x, y=y, sample_weight=sample_weight)
    batch_size = fit_args["batch_size"]
    if backends.is_tf_dataset(x):
        fit_args["batch_size"] = None  # batched already
    validation = fit_args["validation_data"]
    if validation is not None:
        if isinstance(validation, tuple):
            vx, vy, vsw = (tuple(validation) + (None, None))[:3]
        else:
            vx, vy, vsw = validation, None, None
        vx, vy, vsw = preprocess(
            preprocessor, vx, vy, vsw, fit_args["validation_batch_size"] or batch_size
        )
        fit_args["validation_data"] = keras.utils.pack_x_y_sample_weight(vx, vy, vsw)
    return fit_args
