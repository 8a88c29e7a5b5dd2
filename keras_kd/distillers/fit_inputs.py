"""What `Distiller.fit` does to its inputs before Keras sees them: probe, record, cache, attach.

Each input is looked at once: in memory (arrays), a `tf.data` pipeline
(inspected into one `PipelineInfo`), or something that cannot be peeked at
(generators, `PyDataset`). The teacher outputs are then attached to the
targets (`keras_kd.caching.targets.pack`) so the step need not run the teachers.
"""

import contextlib
import inspect
import os
import tempfile
import warnings

import keras
import numpy as np

from keras_kd import backends
from keras_kd.caching import targets
from keras_kd.distillers import checks
from keras_kd.models.tools import inference_function, random_layers, run_batches

# The `tf.data` parts (caches, pipeline inspection, recorded epochs) are
# imported where a dataset arrives: arrays need no TensorFlow.

# Examples run through both models before training to check their outputs.
PROBE_SIZE = 64


def check_fit_data(distiller, x, y):
    """Runs the models on a few examples of `(x, y)` and checks outputs and labels.

    Raises:
        ValueError: labels missing where the loss needs them, teacher outputs
            of the wrong width, probabilities instead of logits, or labels
            outside the class range.
    """
    if x is None:
        return
    if backends.is_tf_dataset(x):
        for batch in x.take(1):
            x, y, _ = keras.utils.unpack_x_y_sample_weight(batch)
        probe = x
    elif in_memory(x):
        probe = keras.tree.map_structure(lambda a: a[:PROBE_SIZE], x)
    else:  # Generators and PyDatasets cannot be peeked at safely.
        return
    labels, cached = targets.unpack(y)
    checks.check_labels_needed(labels, distiller.soft_loss, distiller.alpha)
    view = distiller.view
    if cached is not None:  # Precomputed outputs: the teachers need not run.
        teacher_out = keras.tree.map_structure(lambda a: np.asarray(a)[:PROBE_SIZE], cached)
    else:
        teacher_out = keras.tree.map_structure(keras.ops.convert_to_numpy,
                                               view.model(probe, training=False))
    student_out = keras.ops.convert_to_numpy(distiller.student(probe, training=False))
    if view.hint_slots and not view.structured and teacher_out.shape[-1] != view.columns:
        raise ValueError(
            f"The precomputed teacher outputs have {teacher_out.shape[-1]} "
            f"columns, but this distiller's teacher_view gives {view.columns}. "
            "Recompute them with `distiller.teacher_logits(x)`."
        )
    for logits in view.split(teacher_out)[: len(view.teachers)]:
        checks.check_outputs(np.asarray(logits), student_out)
    checks.check_labels(labels, student_out.shape[-1])


def fit_arguments(*args, **kwargs):
    """Every argument of `keras.Model.fit`, by name, with its defaults filled in.

    Raises:
        TypeError: an argument `keras.Model.fit` does not take.
    """
    bound = inspect.signature(keras.Model.fit).bind(None, *args, **kwargs)
    bound.apply_defaults()
    return {name: value for name, value in bound.arguments.items() if name != "self"}


@contextlib.contextmanager
def fit_inputs(view, fit_args, cache_teacher, augmented_epochs, steps_per_execution=1):
    """Yields `fit_args` with the teachers' outputs attached to the data.

    Temporary folders (caches, recorded epochs) live until the block ends.

    Args:
        view: The distiller's `TeacherView`.
        fit_args: Dict, `fit_arguments(...)`.
        cache_teacher, augmented_epochs: As `Distiller.fit` documents them.
        steps_per_execution: The model's `steps_per_execution`.
    """
    fit_args = dict(fit_args)
    x, y, batch_size = fit_args["x"], fit_args["y"], fit_args["batch_size"]
    teacher_view = view.model
    with contextlib.ExitStack() as stack:
        info = None
        if augmented_epochs:
            backends.require_tensorflow("Recording augmented epochs (augmented_epochs=...)")
            if view.structured:
                raise ValueError(
                    "augmented_epochs records one flat row of teacher outputs per example; "
                    "with feature hints on sequence or pixel outputs, drop augmented_epochs."
                )
        # Off TensorFlow a tf.data pipeline runs the teachers on every batch.
        if backends.is_tensorflow() and backends.is_tf_dataset(x) and not is_packed_dataset(x) and (
            augmented_epochs or (cache_teacher and not _infinite(x))
        ):
            from keras_kd.caching import pipelines

            info = pipelines.inspect(x)
        if augmented_epochs and info is not None and info.random:
            from keras_kd.caching.augmented_epochs import record_augmented_epochs

            folder = _folder_of(cache_teacher) or stack.enter_context(
                tempfile.TemporaryDirectory(prefix="keras_kd_views_")
            )
            x, steps = record_augmented_epochs(teacher_view, x, augmented_epochs, folder, info)
            fit_args["steps_per_epoch"] = fit_args["steps_per_epoch"] or steps
            info = None  # the recorded pipeline carries the teachers' outputs
        if cache_teacher and fit_args["class_weight"] is None:
            epochs = fit_args["epochs"] - fit_args["initial_epoch"]
            cache = cache_for(view, cache_teacher, epochs, stack)
            x, y = attach_teacher_outputs(teacher_view, x, y, batch_size, cache, info)
            validation_data = fit_args["validation_data"]
            if validation_data is not None:
                vx, vy, vsw = split_validation(validation_data)
                vx, vy = attach_teacher_outputs(
                    teacher_view, vx, vy, fit_args["validation_batch_size"] or batch_size, cache
                )
                vsw = targets.weights_for(vy, vsw)
                fit_args["validation_data"] = vx if vy is None else (
                    (vx, vy) if vsw is None else (vx, vy, vsw)
                )
        if not augmented_epochs and fit_args["steps_per_epoch"] is None:
            x, fit_args["steps_per_epoch"] = one_iterator_if_random(x, info, steps_per_execution)
        fit_args.update(x=x, y=y, sample_weight=targets.weights_for(y, fit_args["sample_weight"]))
        if backends.is_tf_dataset(x):
            # Keras ignores `shuffle` for a dataset and warns when it is passed;
            # fit_arguments filled in its default, which the user did not pass.
            fit_args["shuffle"] = False
        yield fit_args


def check_sampled_cache(distiller, cache_teacher):
    """Refuses a sampled `TeacherCache` whose draws would give a biased gradient.

    The draws are unbiased for the forward KL at the temperature they were
    drawn at only.
    """
    samples = getattr(cache_teacher, "samples", None)
    if not samples:
        return
    if distiller.distillation_loss != "kl":
        raise ValueError(
            f"A sampled TeacherCache estimates the forward KL's gradient without bias; "
            f"distillation_loss={distiller.distillation_loss!r} would be biased. Use "
            "distillation_loss='kl', or a full or top-k cache."
        )
    if distiller.standardize_logits:
        raise ValueError(
            "A sampled TeacherCache estimates the forward KL of the raw logits; "
            "standardize_logits=True needs every logit of each example. Use a full or "
            "top-k cache, or standardize_logits=False."
        )
    if abs(distiller.temperature - cache_teacher.temperature) > 1e-6:
        raise ValueError(
            f"The TeacherCache drew its samples at T={cache_teacher.temperature} but the "
            f"distiller's temperature is {distiller.temperature}. Build the cache with "
            f"temperature={distiller.temperature}."
        )


def cache_for(view, cache_teacher, epochs, stack):
    """The `TeacherCache` that datasets use, or None to run the teachers per batch.

    Off TensorFlow there are no `tf.data` caches: None, unless a cache or a
    folder was asked for by name, which is refused with the backend it needs.
    """
    teacher_view = view.model
    if not backends.is_tensorflow():
        if not isinstance(cache_teacher, bool):
            backends.require_tensorflow("A TeacherCache (cache_teacher=<cache or folder>)")
        return None
    if view.structured:  # token logits with hints, or features of unknown size: no flat row
        if not isinstance(cache_teacher, bool):
            raise ValueError(
                "A TeacherCache stores one flat row per example, and this distiller's "
                "teachers give sequence or pixel outputs with feature hints. Pass "
                "cache_teacher=True (arrays are kept in memory; pipelines run the "
                "teachers per batch) or False."
            )
        return None
    from keras_kd.caching.teacher_cache import TeacherCache

    if isinstance(cache_teacher, TeacherCache):
        if cache_teacher.teacher is not teacher_view:
            raise ValueError(
                "`cache_teacher` is a TeacherCache of another model. Build it "
                "from `distiller.teacher_view`."
            )
        compact = cache_teacher.top_k is not None or cache_teacher.samples is not None
        if compact and teacher_view is not view.teachers[0]:
            raise ValueError(
                "A top-k or sampled TeacherCache stores one teacher's logits only; with "
                "several teachers or feature hints use top_k=None and samples=None."
            )
        return cache_teacher
    if isinstance(cache_teacher, (str, os.PathLike)):
        return TeacherCache(teacher_view, cache_teacher)
    if epochs > 1:  # One epoch runs the teacher once either way.
        return TeacherCache(
            teacher_view, stack.enter_context(tempfile.TemporaryDirectory(prefix="keras_kd_"))
        )
    return None


def attach_teacher_outputs(teacher_view, x, y, batch_size, cache, info=None):
    """Precomputes the teachers' outputs for arrays or a deterministic dataset.

    Args:
        teacher_view: The `keras.Model` to run.
        x, y: Inputs and targets as given to `fit`.
        batch_size: Integer or None, for arrays.
        cache: A `TeacherCache` for datasets, or None to leave them alone.
        info: The `PipelineInfo` of `x` when already inspected.

    Returns:
        `(x, y)`: arrays with `y` packed with the outputs, a dataset whose
        targets carry them, or the inputs unchanged where the teachers must
        run per batch (random pipelines, with a warning; infinite ones).
    """
    if in_memory(x):
        if targets.is_packed(y):
            return x, y
        outputs = run_batches(inference_function(teacher_view), x, batch_size)
        return x, targets.pack(y, outputs)
    if not backends.is_tf_dataset(x) or cache is None or is_packed_dataset(x):
        return x, y
    if _infinite(x):
        return x, y
    from keras_kd.caching import pipelines

    info = info or pipelines.inspect(x)
    if info.random:
        warnings.warn(
            "The input pipeline yields different data every epoch "
            f"({', '.join(info.reasons)}), so the teacher runs on every "
            "batch to see the same view as the student. Pass "
            "cache_teacher=False to silence this.",
            stacklevel=5,
        )
        return x, y
    return cache.attach(x, info=info), y


def one_iterator_if_random(x, info=None, steps_per_execution=1):
    """A random `tf.data` pipeline as one iterator for the whole fit.

    Keras starts a new iterator of a dataset every epoch. With a global seed
    set (`keras.utils.set_random_seed` sets one), TensorFlow restarts the
    random ops of a pipeline's sequential `map` in each new iterator, so every
    epoch would draw the same augmentation, or the same masks. One iterator
    over the repeated pipeline continues their sequence instead, and the
    run stays reproducible under the seed.

    Args:
        x: What `fit` trains on.
        info: The `PipelineInfo` of `x` when already inspected.
        steps_per_execution: The model's. Keras's last call of an epoch runs
            that many steps even past the epoch's end when the data goes on,
            so a pipeline whose length it does not divide is left as it is.

    Returns:
        `(x.repeat(), batches per epoch)` for a random TensorFlow pipeline of
        known finite length; `(x, None)` for anything else.
    """
    if not (backends.is_tensorflow() and backends.is_tf_dataset(x)) or is_packed_dataset(x):
        return x, None
    batches = int(x.cardinality())
    if batches <= 0 or batches % steps_per_execution:  # infinite, unknown, empty, or split
        return x, None
    from keras_kd.caching import pipelines

    if not (info or pipelines.inspect(x)).random:
        return x, None
    return x.repeat(), batches


def in_memory(x):
    """Whether `x` is a (nested) structure of NumPy arrays or eager tensors."""
    leaves = keras.tree.flatten(x)
    return bool(leaves) and all(
        isinstance(leaf, np.ndarray) or keras.ops.is_tensor(leaf) for leaf in leaves
    )


def _infinite(dataset):
    import tensorflow as tf

    return dataset.cardinality() == tf.data.INFINITE_CARDINALITY


def is_packed_dataset(dataset):
    """Whether a dataset's targets already carry teacher outputs."""
    spec = dataset.element_spec
    return isinstance(spec, tuple) and len(spec) > 1 and targets.is_packed(spec[1])


def split_validation(validation_data):
    """`(x, y, sample_weight)` from the forms `fit` takes as validation data."""
    if isinstance(validation_data, tuple) and len(validation_data) in (2, 3):
        return keras.utils.unpack_x_y_sample_weight(validation_data)
    return validation_data, None, None


def warn_about_random_layers(student):
    """Warns when the student has random layers the teacher never sees."""
    names = random_layers(student)
    if names:
        warnings.warn(
            f"The student has random layers ({', '.join(names)}) that change "
            "its inputs in training, but the teacher sees them unchanged. Move "
            "augmentation into the input pipeline so both see the same view.",
            stacklevel=3,
        )


def _folder_of(cache_teacher):
    from keras_kd.caching.teacher_cache import TeacherCache

    if isinstance(cache_teacher, TeacherCache):
        return cache_teacher.directory
    if isinstance(cache_teacher, (str, os.PathLike)):
        return os.fspath(cache_teacher)
    return None
