"""`Distiller`: a `keras.Model` that trains a student on a frozen teacher's soft labels."""

import contextlib
import os
import tempfile
import warnings

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from keras_kd import augmentation, checks, targets
from keras_kd.callbacks import NAN_MARKER, StopOnNaN, nan_message
from keras_kd.export import export_saved_model
from keras_kd.losses import DistillationLoss
from keras_kd.models import inference_function, load_model, run_batches
from keras_kd.replicas import batch_size, scale_for_replicas, unscale_for_replicas
from keras_kd.teacher_cache import RandomPipelineError, TeacherCache

# Examples run through both models before training to check their outputs.
_PROBE_SIZE = 64
# Label losses given by name are read as taking logits: the student's outputs
# are logits, so the probability forms would be wrong.
_LOGIT_LOSSES = {
    "sparse_categorical_crossentropy": keras.losses.SparseCategoricalCrossentropy,
    "categorical_crossentropy": keras.losses.CategoricalCrossentropy,
}


@keras.saving.register_keras_serializable(package="keras_kd")
class Distiller(keras.Model):
    """Trains `student` from `teacher`'s temperature-softened predictions.

    The training loss is
    `alpha * T^2 * KL(softmax(t / T) || softmax(s / T)) + (1 - alpha) * CE(y, s)`
    plus the student's own regularization losses. The teacher runs in
    inference mode outside the gradient tape and never changes; gradients
    reach only the student's trainable weights. `predict()` and `call()` are
    the student's.

    `fit()` computes the teacher's logits once and reuses them every epoch:
    in memory for arrays, on disk (`TeacherCache`) for a `tf.data` pipeline
    that yields the same data every epoch. Pipelines with random
    augmentation run the teacher inside the same compiled step as the
    student, so both see the same view.

    Args:
        student: `keras.Model` that outputs logits.
        teacher: `keras.Model` that outputs logits over the same classes, or
            a path to a `.keras` file or SavedModel folder holding one.
        temperature: Float, greater than 0, softening both distributions.
            Defaults to 4.0.
        alpha: Float in [0, 1], the weight of the distillation term; the
            label term gets `1 - alpha`. Defaults to 0.9.
        **kwargs: Passed to `keras.Model` (`name`, ...).

    Example:

    ```python
    distiller = keras_kd.Distiller(student, teacher, temperature=4.0, alpha=0.9)
    distiller.compile(optimizer="adam", metrics=["accuracy"])
    distiller.fit(x_train, y_train, epochs=10, validation_data=(x_val, y_val))
    distiller.export_student("saved_models/my_student")
    ```
    """

    def __init__(self, student, teacher, temperature=4.0, alpha=0.9, **kwargs):
        super().__init__(**kwargs)
        if isinstance(teacher, (str, os.PathLike)):
            teacher = load_model(teacher, role="teacher")
        if isinstance(student, (str, os.PathLike)):
            student = load_model(student, role="student")
        checks.check_model(student, "student")
        checks.check_model(teacher, "teacher")
        if student is teacher:
            raise ValueError(
                "`student` and `teacher` are the same model object. Pass a "
                "separate, usually smaller, student model."
            )
        checks.check_logit_models(teacher, student)
        self.student = student
        self.teacher = teacher
        self.teacher.trainable = False
        self._temperature = keras.Variable(
            checks.check_temperature(temperature),
            dtype="float32",
            trainable=False,
            name="temperature",
        )
        self._alpha = keras.Variable(
            checks.check_alpha(alpha), dtype="float32", trainable=False, name="alpha"
        )
        self.distillation_loss_fn = DistillationLoss(temperature=self._temperature)
        self._teacher_fn = None
        self.student_loss_tracker = keras.metrics.Mean(name="student_loss")
        self.distillation_loss_tracker = keras.metrics.Mean(name="distillation_loss")
        if student.built and teacher.built:
            self.built = True

    @property
    def temperature(self):
        """Float, the current temperature; assign to change it without retracing."""
        return _as_float(self._temperature)

    @temperature.setter
    def temperature(self, value):
        self._temperature.assign(checks.check_temperature(value))

    @property
    def alpha(self):
        """Float, the current weight of the distillation term."""
        return _as_float(self._alpha)

    @alpha.setter
    def alpha(self, value):
        self._alpha.assign(checks.check_alpha(value))

    def compile(self, optimizer="adam", loss=None, metrics=None, **kwargs):
        """Configures training; `loss` is the label loss on the student's logits.

        Args:
            optimizer: Optimizer for the student. Defaults to "adam".
            loss: Label (hard) loss. Defaults to
                `SparseCategoricalCrossentropy(from_logits=True)`. Names of
                cross-entropies are read with `from_logits=True`.
            metrics: Metrics of the student's predictions against the labels.
            **kwargs: Passed to `keras.Model.compile`.
        """
        super().compile(
            optimizer=optimizer, loss=_label_loss(loss), metrics=metrics, **kwargs
        )

    def compile_from_config(self, config):
        # Keras skips custom compile() methods when loading; this one only
        # wraps the label loss, so replaying it is safe.
        self.compile(**keras.saving.deserialize_keras_object(config))
        if self.built:
            self.optimizer.build(self.trainable_variables)

    def call(self, inputs, training=None):
        return self.student(inputs, training=training)

    def teacher_logits(self, x, batch_size=None):
        """Runs the teacher in inference mode over in-memory `x`; returns its logits.

        Args:
            x: Arrays (or a nested structure of arrays) the teacher accepts.
            batch_size: Integer, defaults to 256.

        Returns:
            NumPy array of teacher logits, one row per example.
        """
        if self._teacher_fn is None:
            self._teacher_fn = inference_function(self.teacher)
        return run_batches(self._teacher_fn, x, batch_size)

    def _with_teacher_logits(self, x, y):
        """Packs the teacher's logits into the target unless already there."""
        if targets.is_packed(y):
            return y
        teacher_logits = ops.stop_gradient(self.teacher(x, training=False))
        return targets.pack(y, teacher_logits)

    def train_step(self, data):
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        # The frozen teacher runs before the tape: nothing of it is recorded.
        y = self._with_teacher_logits(x, y)
        with tf.GradientTape() as tape:
            y_pred = self(x, training=True)
            loss = self.compute_loss(x, y, y_pred, sample_weight, training=True)
            # Fails the step before its update, without a host round trip.
            loss = tf.debugging.check_numerics(loss, NAN_MARKER)
            self._loss_tracker.update_state(
                unscale_for_replicas(loss), sample_weight=batch_size(x)
            )
            scaled_loss = self.optimizer.scale_loss(loss)
        variables = self.student.trainable_variables
        gradients = tape.gradient(scaled_loss, variables)
        self.optimizer.apply_gradients(zip(gradients, variables))
        return self._replica_logs(self.compute_metrics(x, y, y_pred, sample_weight))

    def test_step(self, data):
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        y = self._with_teacher_logits(x, y)
        y_pred = self(x, training=False)
        loss = self.compute_loss(x, y, y_pred, sample_weight, training=False)
        self._loss_tracker.update_state(
            unscale_for_replicas(loss), sample_weight=batch_size(x)
        )
        return self._replica_logs(self.compute_metrics(x, y, y_pred, sample_weight))

    def _replica_logs(self, logs):
        # Across workers Keras reduces each step output with
        # strategy.reduce("MEAN", v, axis=0), which fails on scalars
        # (keras-team/keras#20585); a length-1 axis makes it the plain mean.
        if not _multi_worker(self.distribute_strategy):
            return logs
        return {name: ops.reshape(value, (1,)) for name, value in logs.items()}

    def compute_loss(
        self, x=None, y=None, y_pred=None, sample_weight=None, training=True
    ):
        """The weighted sum of the distillation and label terms, per replica.

        Args:
            x: Input batch.
            y: Labels, or a target packed with teacher logits by
                `keras_kd.targets.pack`; the teacher runs on `x` when the
                logits are absent.
            y_pred: The student's logits for `x`.
            sample_weight: Optional per-example weights, applied to both terms.
            training: Boolean, unused; kept for the Keras contract.

        Returns:
            Scalar float32 tensor, scaled for the replica count like any
            compiled Keras loss.
        """
        del training
        labels, teacher_logits = targets.unpack(y)
        if teacher_logits is None:
            teacher_logits = ops.stop_gradient(self.teacher(x, training=False))
        alpha = ops.convert_to_tensor(self._alpha)
        local_batch = batch_size(x)
        soft = self.distillation_loss_fn(teacher_logits, y_pred, sample_weight)
        self.distillation_loss_tracker.update_state(
            unscale_for_replicas(soft), sample_weight=local_batch
        )
        total = alpha * soft
        if labels is not None:
            hard = self._compile_loss(labels, y_pred, sample_weight)
            self.student_loss_tracker.update_state(
                unscale_for_replicas(hard), sample_weight=local_batch
            )
            total = total + (1.0 - alpha) * hard
        regularization = self.student.losses
        if regularization:
            total = total + scale_for_replicas(
                ops.sum([ops.cast(ops.sum(r), "float32") for r in regularization])
            )
        return total

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        labels, _ = targets.unpack(y)
        if labels is None:
            # Soft labels only: the label metrics have nothing to compare with.
            return {
                m.name: m.result()
                for m in (self._loss_tracker, self.distillation_loss_tracker)
            }
        return super().compute_metrics(x, labels, y_pred, sample_weight)

    def get_metrics_result(self):
        # Compiled metrics stay unbuilt when every batch lacked labels.
        compiled = self._compile_metrics
        if compiled is None or compiled.built:
            return super().get_metrics_result()
        return {m.name: m.result() for m in self.metrics if m is not compiled}

    def fit(
        self,
        x=None,
        y=None,
        batch_size=None,
        epochs=1,
        verbose="auto",
        callbacks=None,
        validation_split=0.0,
        validation_data=None,
        shuffle=True,
        class_weight=None,
        sample_weight=None,
        initial_epoch=0,
        steps_per_epoch=None,
        validation_steps=None,
        validation_batch_size=None,
        validation_freq=1,
        cache_teacher=True,
    ):
        """Trains the student; arguments as in `keras.Model.fit`, plus one.

        The inputs are checked before any training: labels present unless
        `alpha == 1`, labels within the class range, and teacher and student
        outputs of the same shape and not probabilities.

        Args:
            cache_teacher: Boolean, a folder, or a `keras_kd.TeacherCache`.
                When true (the default), the teacher's logits are computed
                once and reused by every epoch: in memory for arrays, on disk
                for a `tf.data` pipeline that yields the same data every epoch
                (in a temporary folder, or the folder or cache given). A
                pipeline with random augmentation or reshuffling runs the
                teacher on each batch instead, with a warning. False always
                runs the teacher per batch.

        Returns:
            A `keras.callbacks.History`.
        """
        self._check_data(x, y)
        if validation_data is not None:
            self._check_data(*_split_validation(validation_data)[:2])
        _warn_about_random_layers(self.student)
        with contextlib.ExitStack() as stack:
            if cache_teacher and class_weight is None:
                cache = self._cache_for(cache_teacher, epochs - initial_epoch, stack)
                x, y = self._attach_teacher_logits(x, y, batch_size, cache)
                if validation_data is not None:
                    vx, vy, vsw = _split_validation(validation_data)
                    vx, vy = self._attach_teacher_logits(
                        vx, vy, validation_batch_size or batch_size, cache
                    )
                    validation_data = vx if vy is None else (
                        (vx, vy) if vsw is None else (vx, vy, vsw)
                    )
            tracker = _EpochTracker()
            callbacks = list(callbacks or []) + [StopOnNaN(), tracker]
            try:
                return super().fit(
                    x=x,
                    y=y,
                    batch_size=batch_size,
                    epochs=epochs,
                    verbose=verbose,
                    callbacks=callbacks,
                    validation_split=validation_split,
                    validation_data=validation_data,
                    shuffle=shuffle,
                    class_weight=class_weight,
                    sample_weight=sample_weight,
                    initial_epoch=initial_epoch,
                    steps_per_epoch=steps_per_epoch,
                    validation_steps=validation_steps,
                    validation_batch_size=validation_batch_size,
                    validation_freq=validation_freq,
                )
            except tf.errors.InvalidArgumentError as error:
                if NAN_MARKER not in str(error):
                    raise
                raise FloatingPointError(
                    nan_message(tracker.epoch)
                    + " The step that produced it was not applied."
                ) from None

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        # Keras MEAN-reduces a whole distributed batch only to read its shapes;
        # under MultiWorkerMirroredStrategy that eager collective fails
        # (keras-team/keras#20585). One replica's batch has the same structure.
        if iterator is not None:
            local = self.distribute_strategy.experimental_local_results
            for _, _, batches in iterator:
                data_batch = keras.tree.map_structure(
                    lambda v: local(v)[0] if isinstance(v, tf.distribute.DistributedValues) else v,
                    next(batches),
                )
                break
        return super()._maybe_symbolic_build(data_batch=data_batch)

    def _cache_for(self, cache_teacher, epochs, stack):
        """The `TeacherCache` that datasets use, or None to run the teacher per batch."""
        if isinstance(cache_teacher, TeacherCache):
            if cache_teacher.teacher is not self.teacher:
                raise ValueError("`cache_teacher` is a TeacherCache of another teacher.")
            return cache_teacher
        if isinstance(cache_teacher, (str, os.PathLike)):
            return TeacherCache(self.teacher, cache_teacher)
        if epochs > 1:  # One epoch runs the teacher once either way.
            return TeacherCache(
                self.teacher, stack.enter_context(tempfile.TemporaryDirectory(prefix="keras_kd_"))
            )
        return None

    def _attach_teacher_logits(self, x, y, batch_size, cache):
        """Precomputes the teacher's logits for arrays or a deterministic dataset."""
        if _in_memory(x):
            if targets.is_packed(y):
                return x, y
            return x, targets.pack(y, self.teacher_logits(x, batch_size))
        if not isinstance(x, tf.data.Dataset) or cache is None or _is_packed_dataset(x):
            return x, y
        if x.cardinality() == tf.data.INFINITE_CARDINALITY:
            return x, y
        try:
            return cache.attach(x), y
        except RandomPipelineError as error:
            warnings.warn(
                "The input pipeline yields different data every epoch "
                f"({', '.join(error.reasons)}), so the teacher runs on every "
                "batch to see the same view as the student. Pass "
                "cache_teacher=False to silence this.",
                stacklevel=3,
            )
            return x, y

    def _check_data(self, x, y):
        """Runs both models on a few examples and checks outputs and labels."""
        if x is None:
            return
        if isinstance(x, tf.data.Dataset):
            for batch in x.take(1):
                x, y, _ = keras.utils.unpack_x_y_sample_weight(batch)
            probe = x
        elif _in_memory(x):
            probe = keras.tree.map_structure(lambda a: a[:_PROBE_SIZE], x)
        else:  # Generators and PyDatasets cannot be peeked at safely.
            return
        labels, cached = targets.unpack(y)
        if labels is None and self.alpha < 1.0:
            raise ValueError(
                f"No labels were given but alpha={self.alpha} < 1 weights a "
                "label loss. Pass labels (`y`, or (x, y) batches), or set "
                "`alpha=1.0` to train on the teacher's soft labels alone."
            )
        if cached is not None:  # Precomputed logits: the teacher need not run.
            teacher_out = np.asarray(cached)[:_PROBE_SIZE]
        else:
            teacher_out = ops.convert_to_numpy(self.teacher(probe, training=False))
        student_out = ops.convert_to_numpy(self.student(probe, training=False))
        checks.check_outputs(teacher_out, student_out)
        checks.check_labels(labels, teacher_out.shape[-1])

    def export_student(self, path):
        """Writes the student alone as a TF SavedModel, replacing `path` atomically.

        Args:
            path: String or path-like, the folder to write.

        Returns:
            String, the absolute path written.
        """
        return export_saved_model(self.student, path)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "student": keras.saving.serialize_keras_object(self.student),
                "teacher": keras.saving.serialize_keras_object(self.teacher),
                "temperature": self.temperature,
                "alpha": self.alpha,
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for key in ("student", "teacher"):
            config[key] = keras.saving.deserialize_keras_object(config[key])
        return cls(**config)


def _label_loss(loss):
    """The label loss to compile, insisting that it takes logits."""
    if loss is None:
        return keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    if isinstance(loss, str) and loss in _LOGIT_LOSSES:
        return _LOGIT_LOSSES[loss](from_logits=True)
    if getattr(loss, "from_logits", None) is False:
        raise ValueError(
            f"The label loss {type(loss).__name__} was built with "
            "from_logits=False, but the student outputs logits. Pass "
            f"{type(loss).__name__}(from_logits=True)."
        )
    return loss


def _as_float(variable):
    """A float32 variable's value as the shortest decimal that rounds to it."""
    return float(str(ops.convert_to_numpy(variable).astype("float32")))


def _in_memory(x):
    """Whether `x` is a (nested) structure of NumPy arrays or eager tensors."""
    leaves = keras.tree.flatten(x)
    return bool(leaves) and all(
        isinstance(leaf, (np.ndarray, tf.Tensor)) for leaf in leaves
    )


def _multi_worker(strategy):
    """Whether `strategy` spans several worker processes."""
    extended = getattr(strategy, "extended", None)
    in_multi_worker = getattr(extended, "_in_multi_worker_mode", None)
    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) and bool(
        in_multi_worker and in_multi_worker()
    )


class _EpochTracker(keras.callbacks.Callback):
    """Remembers the current epoch, for error messages."""

    epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch


def _is_packed_dataset(dataset):
    spec = dataset.element_spec
    return isinstance(spec, tuple) and len(spec) > 1 and targets.is_packed(spec[1])


def _warn_about_random_layers(student):
    names = augmentation.random_layers(student)
    if names:
        warnings.warn(
            f"The student has random layers ({', '.join(names)}) that change "
            "its inputs in training, but the teacher sees them unchanged. Move "
            "augmentation into the input pipeline so both see the same view.",
            stacklevel=3,
        )


def _split_validation(validation_data):
    """`(x, y, sample_weight)` from the forms `fit` takes as validation data."""
    if isinstance(validation_data, tuple) and len(validation_data) in (2, 3):
        return keras.utils.unpack_x_y_sample_weight(validation_data)
    return validation_data, None, None
