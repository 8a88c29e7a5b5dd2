"""`Distiller`: a `keras.Model` that trains a student on frozen teachers' soft labels."""

import contextlib
import os
import tempfile
import warnings

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from keras_kd import augmentation, checks, hints as hints_lib, losses, targets
from keras_kd.augmented_cache import record_augmented_epochs
from keras_kd.export import export_saved_model
from keras_kd.models import inference_function, load_model, run_batches
from keras_kd.replicas import batch_size, mean_over_batch, regularization_loss, unscale_for_replicas
from keras_kd.teacher_cache import RandomPipelineError, TeacherCache
from keras_kd.trainer import DistillationTrainer

# Examples run through both models before training to check their outputs.
_PROBE_SIZE = 64
# Label losses given by name are read as taking logits: the student's outputs
# are logits, so the probability forms would be wrong.
_LOGIT_LOSSES = {
    "sparse_categorical_crossentropy": keras.losses.SparseCategoricalCrossentropy,
    "categorical_crossentropy": keras.losses.CategoricalCrossentropy,
}
SOFT_LOSSES = ("kl", "dkd")
COMBINATIONS = ("average", "sum")


@keras.saving.register_keras_serializable(package="keras_kd")
class Distiller(DistillationTrainer):
    """Trains `student` from one or more frozen teachers' softened predictions.

    The training loss is
    `alpha * T^2 * KL(softmax(t / T) || softmax(s / T)) + (1 - alpha) * CE(y, s)`
    plus the student's own regularization losses and any feature hints. The
    teachers run in inference mode outside the gradient tape and never
    change; gradients reach only the student (and hint projections).
    `predict()` and `call()` are the student's.

    `fit()` computes the teachers' outputs once and reuses them every epoch:
    in memory for arrays, on disk (`TeacherCache`) for a `tf.data` pipeline
    that yields the same data every epoch. Pipelines with random
    augmentation run the teachers inside the same compiled step as the
    student, so both see the same view.

    Variants, all through the same step:

    - Several teachers (`teacher=[t1, t2]`): their tempered distributions are
      mixed with `teacher_weights` into one target ("average"), or each gets
      its own KL term ("sum"); `teacher_weights="entropy"` weights each
      example by the teachers' confidence. History has `teacher_<k>_loss`.
    - Decoupled KD (`distillation_loss="dkd"`, Zhao et al. 2022): target and
      non-target terms weighted by `dkd_alpha` and `dkd_beta`; needs labels.
    - Feature hints (FitNets, `hints=[FeatureHint(...)]`).
    - `warmup_epochs` ramps the distillation term linearly from
      `1 / warmup_epochs` to 1 (DKD's warm-up).

    Args:
        student: `keras.Model` that outputs logits.
        teacher: `keras.Model` that outputs logits over the same classes, a
            path to a `.keras` file or SavedModel folder holding one, or a
            list of them.
        temperature: Float, greater than 0, softening both distributions.
            Defaults to 4.0.
        alpha: Float in [0, 1], the weight of the distillation term; the
            label term gets `1 - alpha`. Defaults to 0.9.
        distillation_loss: String, "kl" or "dkd". Defaults to "kl".
        dkd_alpha: Float, DKD's target-class weight. Defaults to 1.0.
        dkd_beta: Float, DKD's non-target weight. Defaults to 8.0.
        warmup_epochs: Integer >= 0. Defaults to 0 (no warm-up).
        teacher_weights: None (equal), a list of non-negative floats, one per
            teacher, or "entropy" (per-example confidence). Defaults to None.
        teacher_combination: String, "average" or "sum". Defaults to "average".
        hints: List of `keras_kd.FeatureHint` (or `(student_layer,
            teacher_layer)` name pairs). Defaults to None.
        **kwargs: Passed to `keras.Model` (`name`, ...).

    Example:

    ```python
    distiller = keras_kd.Distiller(student, teacher, temperature=4.0, alpha=0.9)
    distiller.compile(optimizer="adam", metrics=["accuracy"])
    distiller.fit(x_train, y_train, epochs=10, validation_data=(x_val, y_val))
    distiller.export_student("saved_models/my_student")
    ```
    """

    def __init__(self, student, teacher, temperature=4.0, alpha=0.9,
                 distillation_loss="kl", dkd_alpha=1.0, dkd_beta=8.0, warmup_epochs=0,
                 teacher_weights=None, teacher_combination="average", hints=None, **kwargs):
        super().__init__(**kwargs)
        if isinstance(student, (str, os.PathLike)):
            student = load_model(student, role="student")
        checks.check_model(student, "student")
        teachers = list(teacher) if isinstance(teacher, (list, tuple)) else [teacher]
        if not teachers:
            raise ValueError("`teacher` is an empty list; give at least one teacher model.")
        teachers = [
            load_model(t, role="teacher") if isinstance(t, (str, os.PathLike)) else t
            for t in teachers
        ]
        for index, model in enumerate(teachers):
            role = "teacher" if len(teachers) == 1 else f"teacher {index}"
            checks.check_model(model, role)
            if model is student:
                raise ValueError(
                    f"The student and {role} are the same model object. Pass a "
                    "separate, usually smaller, student model."
                )
            checks.check_logit_models(model, student, teacher_role=role)
            model.trainable = False
        if distillation_loss not in SOFT_LOSSES:
            raise ValueError(
                f"`distillation_loss` must be one of {SOFT_LOSSES}, got {distillation_loss!r}."
            )
        if teacher_combination not in COMBINATIONS:
            raise ValueError(
                f"`teacher_combination` must be one of {COMBINATIONS}, got "
                f"{teacher_combination!r}."
            )
        if int(warmup_epochs) != warmup_epochs or warmup_epochs < 0:
            raise ValueError(f"`warmup_epochs` must be an integer >= 0, got {warmup_epochs!r}.")
        self.student = student
        self.teachers = teachers
        self.teacher = teachers[0]
        self.distillation_loss = distillation_loss
        self.dkd_alpha = float(dkd_alpha)
        self.dkd_beta = float(dkd_beta)
        self.warmup_epochs = int(warmup_epochs)
        self.teacher_combination = teacher_combination
        self.teacher_weights = _check_teacher_weights(teacher_weights, len(teachers))
        self.hints = hints_lib.as_hints(hints)
        self.init_softening(temperature, alpha)
        self._warmup = keras.Variable(
            _warmup_factor(0, self.warmup_epochs), dtype="float32", trainable=False,
            name="warmup_factor",
        )
        self._views = _Untracked()
        self.hint_projections = self._build_hints()
        self._teacher_fn = None
        self.student_loss_tracker = keras.metrics.Mean(name="student_loss")
        self.distillation_loss_tracker = keras.metrics.Mean(name="distillation_loss")
        self.teacher_loss_trackers = (
            [keras.metrics.Mean(name=f"teacher_{k}_loss") for k in range(len(teachers))]
            if len(teachers) > 1 else []
        )
        self.hint_loss_tracker = keras.metrics.Mean(name="hint_loss") if self.hints else None
        if student.built and all(t.built for t in teachers):
            self.built = True

    def _build_hints(self):
        """Feature models and projections for the hints; the teacher view."""
        num_classes = _num_classes(self.teachers[0]) or _num_classes(self.student)
        if self.hints and num_classes is None:
            raise ValueError(
                "Feature hints need Functional or Sequential models built with an "
                "Input, so that their layers' shapes are known."
            )
        self._layout = [("logits", num_classes)] * len(self.teachers)
        if not self.hints:
            self._views.student = None
            self._views.teacher = (
                self.teacher if len(self.teachers) == 1
                else _TeacherView(self.teachers, self.teachers, [[] for _ in self.teachers])
            )
            return []
        student_names = [h.student_layer for h in self.hints]
        self._views.student = hints_lib.with_features(self.student, student_names, "student")
        per_teacher = [[] for _ in self.teachers]
        projections = []
        for hint in self.hints:
            if not 0 <= hint.teacher_index < len(self.teachers):
                raise ValueError(
                    f"{hint!r} names teacher {hint.teacher_index}, but there are "
                    f"{len(self.teachers)} teachers."
                )
            teacher = self.teachers[hint.teacher_index]
            t_out = hints_lib.layer_output(teacher, hint.teacher_layer, "teacher")
            s_out = hints_lib.layer_output(self.student, hint.student_layer, "student")
            projection = hints_lib.projection_for(hint, s_out.shape, t_out.shape)
            if projection is not None:
                projection.build(s_out.shape)
            projections.append(projection)
            per_teacher[hint.teacher_index].append(hint.teacher_layer)
        runners = [
            hints_lib.with_features(t, names, "teacher") if names else t
            for t, names in zip(self.teachers, per_teacher)
        ]
        for teacher, names in zip(self.teachers, per_teacher):
            for name in names:
                shape = tuple(hints_lib.layer_output(teacher, name, "teacher").shape[1:])
                self._layout.append(("features", shape))
        self._views.teacher = _TeacherView(self.teachers, runners, per_teacher)
        # Hints are stored per teacher; map each hint to its slot in the layout.
        order = [(k, n) for k, names in enumerate(per_teacher) for n in names]
        self._hint_slots = [
            len(self.teachers) + order.index((h.teacher_index, h.teacher_layer))
            for h in self.hints
        ]
        return projections

    @property
    def teacher_view(self):
        """The `keras.Model` whose outputs the step reads and `TeacherCache` stores.

        The teacher itself for one teacher without hints; otherwise a model
        that concatenates every teacher's logits and hinted features, flattened.
        """
        return self._views.teacher

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
            optimizer=optimizer, loss=label_loss(loss), metrics=metrics, **kwargs
        )

    def compile_from_config(self, config):
        # Keras skips custom compile() methods when loading; this one only
        # wraps the label loss, so replaying it is safe.
        self.compile(**keras.saving.deserialize_keras_object(config))
        if self.built:
            self.optimizer.build(self.trained_variables())

    def call(self, inputs, training=None):
        return self.student(inputs, training=training)

    def teacher_logits(self, x, batch_size=None):
        """Runs the teachers in inference mode over in-memory `x`.

        Args:
            x: Arrays (or a nested structure of arrays) the teacher accepts.
            batch_size: Integer, defaults to 256.

        Returns:
            NumPy array, one row per example: the teacher's logits, or with
            several teachers or hints the `teacher_view`'s flattened outputs.
        """
        if self._teacher_fn is None:
            self._teacher_fn = inference_function(self.teacher_view)
        return run_batches(self._teacher_fn, x, batch_size)

    def trained_variables(self):
        variables = list(self.student.trainable_variables)
        for projection in self.hint_projections:
            if projection is not None:
                variables += projection.trainable_variables
        return variables

    def prepare_targets(self, x, y):
        """Packs the teachers' outputs into the target unless already there."""
        if targets.is_packed(y):
            return y
        return targets.pack(y, ops.stop_gradient(self.teacher_view(x, training=False)))

    def forward(self, x, training):
        if self._views.student is None:
            return self(x, training=training), None
        outputs = self._views.student(x, training=training)
        return outputs[0], outputs[1:]

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """The weighted sum of the distillation and label terms, per replica.

        Args:
            x: Input batch.
            y: Labels, or a target packed with teacher outputs by
                `keras_kd.targets.pack`; the teachers run on `x` when absent.
            y_pred: The student's logits for `x`.
            sample_weight: Optional per-example weights, applied to every term.
            training: Boolean, unused; kept for the Keras contract.

        Returns:
            Scalar float32 tensor, scaled for the replica count like any
            compiled Keras loss.
        """
        del training
        extras = None
        if self.hints:  # The student's hinted features come from x.
            extras = self.forward(x, training=False)[1]
        return self.step_loss(x, y, y_pred, extras, sample_weight)

    def step_loss(self, x, y, y_pred, extras, sample_weight):
        labels, flat = targets.unpack(y)
        if flat is None:
            flat = ops.stop_gradient(self.teacher_view(x, training=False))
        parts = self._split(flat)
        teacher_logits = parts[: len(self.teachers)]
        alpha = ops.convert_to_tensor(self._alpha)
        local_batch = batch_size(x)
        per_example = self._soft_per_example(teacher_logits, y_pred, labels)
        soft = mean_over_batch(per_example, sample_weight)
        self.distillation_loss_tracker.update_state(
            unscale_for_replicas(soft), sample_weight=local_batch
        )
        total = alpha * ops.convert_to_tensor(self._warmup) * soft
        if labels is not None:
            hard = self._compile_loss(labels, y_pred, sample_weight)
            self.student_loss_tracker.update_state(
                unscale_for_replicas(hard), sample_weight=local_batch
            )
            total = total + (1.0 - alpha) * hard
        if self.hints:
            hint_total = self._hint_term(parts, extras, sample_weight)
            self.hint_loss_tracker.update_state(
                unscale_for_replicas(hint_total), sample_weight=local_batch
            )
            total = total + hint_total
        return total + regularization_loss(self.student)

    def _split(self, flat):
        """The teacher view's flat outputs as `[logits per teacher] + [features per hint slot]`."""
        if len(self._layout) == 1:
            return [flat]
        parts, offset = [], 0
        for kind, size in self._layout:
            if kind == "logits":
                # Subclassed teachers have no symbolic outputs to read the
                # class count from; without hints the row is K equal blocks.
                size = size or flat.shape[-1] // len(self.teachers)
                parts.append(flat[:, offset : offset + size])
                offset += size
            else:
                count = int(np.prod(size))
                parts.append(ops.reshape(flat[:, offset : offset + count], (-1,) + size))
                offset += count
        return parts

    def _one_teacher(self, teacher_logits, student_logits, labels):
        if self.distillation_loss == "dkd":
            return losses.decoupled_distillation_loss(
                teacher_logits, student_logits, _class_ids(labels), self._temperature,
                alpha=self.dkd_alpha, beta=self.dkd_beta,
            )
        return losses.distillation_loss(teacher_logits, student_logits, self._temperature)

    def _soft_per_example(self, teacher_logits, student_logits, labels):
        """Per-example distillation term over one or several teachers."""
        if len(teacher_logits) == 1:
            return self._one_teacher(teacher_logits[0], student_logits, labels)
        # Each teacher's own term, for the history and for "sum".
        own = [self._one_teacher(t, student_logits, labels) for t in teacher_logits]
        for tracker, values in zip(self.teacher_loss_trackers, own):
            tracker.update_state(
                unscale_for_replicas(mean_over_batch(values)), sample_weight=batch_size(values)
            )
        stacked = ops.stack([ops.cast(t, "float32") for t in teacher_logits], axis=1)
        if self.teacher_weights == "entropy":
            weights = ops.stop_gradient(losses.entropy_weights(stacked, self._temperature))
        else:
            weights = ops.convert_to_tensor(np.asarray(self.teacher_weights, "float32"))[None, :]
        if self.teacher_combination == "sum":
            return ops.sum(weights * ops.stack(own, axis=1), axis=1)
        mixed = losses.combine_teachers(stacked, weights, self._temperature)
        return self._one_teacher(mixed, student_logits, labels)

    def _hint_term(self, parts, student_features, sample_weight):
        total = 0.0
        for hint, slot, projection, features in zip(
            self.hints, self._hint_slots, self.hint_projections, student_features
        ):
            if projection is not None:
                features = projection(features)
            per_example = losses.hint_loss(ops.stop_gradient(parts[slot]), features, hint.loss)
            total = total + hint.weight * mean_over_batch(per_example, sample_weight)
        return total

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        labels, _ = targets.unpack(y)
        if labels is None:
            # Soft labels only: the label metrics have nothing to compare with.
            return {
                m.name: m.result()
                for m in [self._loss_tracker, self.distillation_loss_tracker]
                + self.teacher_loss_trackers
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
        augmented_epochs=None,
    ):
        """Trains the student; arguments as in `keras.Model.fit`, plus two.

        The inputs are checked before any training: labels present unless
        `alpha == 1` (always for DKD), labels within the class range, and
        teacher and student outputs of the same shape and not probabilities.

        Args:
            cache_teacher: Boolean, a folder, or a `keras_kd.TeacherCache`.
                When true (the default), the teachers' outputs are computed
                once and reused by every epoch: in memory for arrays, on disk
                for a `tf.data` pipeline that yields the same data every epoch
                (in a temporary folder, or the folder or cache given). A
                pipeline with random augmentation or reshuffling runs the
                teachers on each batch instead, with a warning. False always
                runs them per batch.
            augmented_epochs: Integer or None. With a `tf.data` pipeline that
                augments at random, record this many of its epochs with the
                teachers' outputs (`keras_kd.record_augmented_epochs`, in the
                `cache_teacher` folder or a temporary one) and replay them in
                turn: teacher and student still see the same views, and the
                teachers run `augmented_epochs` times instead of every epoch.

        Returns:
            A `keras.callbacks.History`.
        """
        self._check_data(x, y)
        if validation_data is not None:
            self._check_data(*_split_validation(validation_data)[:2])
        _warn_about_random_layers(self.student)
        callbacks = list(callbacks or [])
        if self.warmup_epochs:
            callbacks.append(_Warmup(self._warmup, self.warmup_epochs))
        with contextlib.ExitStack() as stack:
            if augmented_epochs and _is_random_dataset(x):
                folder = _folder_of(cache_teacher) or stack.enter_context(
                    tempfile.TemporaryDirectory(prefix="keras_kd_views_")
                )
                x, steps = record_augmented_epochs(self.teacher_view, x, augmented_epochs, folder)
                steps_per_epoch = steps_per_epoch or steps
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

    def _cache_for(self, cache_teacher, epochs, stack):
        """The `TeacherCache` that datasets use, or None to run the teacher per batch."""
        view = self.teacher_view
        if isinstance(cache_teacher, TeacherCache):
            if cache_teacher.teacher is not view:
                raise ValueError(
                    "`cache_teacher` is a TeacherCache of another model. Build it "
                    "from `distiller.teacher_view`."
                )
            if cache_teacher.top_k is not None and view is not self.teacher:
                raise ValueError(
                    "A top-k TeacherCache stores one teacher's logits only; with "
                    "several teachers or feature hints use top_k=None."
                )
            return cache_teacher
        if isinstance(cache_teacher, (str, os.PathLike)):
            return TeacherCache(view, cache_teacher)
        if epochs > 1:  # One epoch runs the teacher once either way.
            return TeacherCache(
                view, stack.enter_context(tempfile.TemporaryDirectory(prefix="keras_kd_"))
            )
        return None

    def _attach_teacher_logits(self, x, y, batch_size, cache):
        """Precomputes the teachers' outputs for arrays or a deterministic dataset."""
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
        """Runs the models on a few examples and checks outputs and labels."""
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
        if labels is None and self.distillation_loss == "dkd":
            raise ValueError(
                "distillation_loss='dkd' splits the distributions at the true "
                "class, so it needs labels. Pass labels (`y`, or (x, y) batches) "
                "or use distillation_loss='kl'."
            )
        if labels is None and self.alpha < 1.0:
            raise ValueError(
                f"No labels were given but alpha={self.alpha} < 1 weights a "
                "label loss. Pass labels (`y`, or (x, y) batches), or set "
                "`alpha=1.0` to train on the teacher's soft labels alone."
            )
        if cached is not None:  # Precomputed outputs: the teachers need not run.
            teacher_out = np.asarray(cached)[:_PROBE_SIZE]
        else:
            teacher_out = ops.convert_to_numpy(self.teacher_view(probe, training=False))
        student_out = ops.convert_to_numpy(self.student(probe, training=False))
        expected = sum(
            (size or 0) if kind == "logits" else int(np.prod(size)) for kind, size in self._layout
        )
        if self.hints and teacher_out.shape[-1] != expected:
            raise ValueError(
                f"The precomputed teacher outputs have {teacher_out.shape[-1]} "
                f"columns, but this distiller's teacher_view gives {expected}. "
                "Recompute them with `distiller.teacher_logits(x)`."
            )
        for logits in self._split(teacher_out)[: len(self.teachers)]:
            checks.check_outputs(np.asarray(logits), student_out)
        checks.check_labels(labels, student_out.shape[-1])

    def export_student(self, path):
        """Writes the student alone as a TF SavedModel, replacing `path` atomically.

        Hint projections are not part of it.

        Args:
            path: String or path-like, the folder to write.

        Returns:
            String, the absolute path written.
        """
        return export_saved_model(self.student, path)

    def get_config(self):
        config = super().get_config()
        teachers = [keras.saving.serialize_keras_object(t) for t in self.teachers]
        config.update(
            {
                "student": keras.saving.serialize_keras_object(self.student),
                "teacher": teachers[0] if len(teachers) == 1 else teachers,
                "temperature": self.temperature,
                "alpha": self.alpha,
                "distillation_loss": self.distillation_loss,
                "dkd_alpha": self.dkd_alpha,
                "dkd_beta": self.dkd_beta,
                "warmup_epochs": self.warmup_epochs,
                "teacher_weights": self.teacher_weights if len(teachers) > 1 else None,
                "teacher_combination": self.teacher_combination,
                "hints": [h.get_config() for h in self.hints],
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["student"] = keras.saving.deserialize_keras_object(config["student"])
        teacher = config["teacher"]
        config["teacher"] = (
            [keras.saving.deserialize_keras_object(t) for t in teacher]
            if isinstance(teacher, list) else keras.saving.deserialize_keras_object(teacher)
        )
        return cls(**config)


class _Untracked:
    """Holds models that Keras must not track (they share the real models' layers)."""


class _TeacherView(keras.Model):
    """Every teacher's logits and hinted features, flattened into one row per example."""

    def __init__(self, teachers, runners, feature_names, **kwargs):
        super().__init__(name="teacher_view", **kwargs)
        self.teachers = teachers
        self.runners = runners
        self.counts = [len(names) for names in feature_names]

    def call(self, inputs, training=False):
        logits, features = [], []
        for runner, count in zip(self.runners, self.counts):
            outputs = runner(inputs, training=False)
            if count:
                logits.append(outputs[0])
                features += list(outputs[1:])
            else:
                logits.append(outputs)
        rows = [ops.cast(t, "float32") for t in logits]
        rows += [ops.reshape(ops.cast(f, "float32"), (ops.shape(f)[0], -1)) for f in features]
        return ops.concatenate(rows, axis=-1)


class _Warmup(keras.callbacks.Callback):
    """Sets the distillation term's warm-up factor at the start of each epoch."""

    def __init__(self, variable, epochs):
        super().__init__()
        self.variable = variable
        self.epochs = epochs

    def on_epoch_begin(self, epoch, logs=None):
        self.variable.assign(_warmup_factor(epoch, self.epochs))


def _warmup_factor(epoch, warmup_epochs):
    """`min(1, (epoch + 1) / warmup_epochs)`, 1 without warm-up."""
    return 1.0 if not warmup_epochs else min(1.0, (epoch + 1) / warmup_epochs)


def _check_teacher_weights(weights, count):
    """Normalized teacher weights, or "entropy"; raises on bad values."""
    if isinstance(weights, str):
        if weights != "entropy":
            raise ValueError(f"`teacher_weights` must be a list of numbers or 'entropy', got {weights!r}.")
        return weights
    if weights is None:
        return [1.0 / count] * count
    weights = [float(w) for w in weights]
    if len(weights) != count:
        raise ValueError(
            f"`teacher_weights` has {len(weights)} entries for {count} teachers; give one per teacher."
        )
    if any(not np.isfinite(w) or w < 0 for w in weights) or sum(weights) <= 0:
        raise ValueError(f"`teacher_weights` must be non-negative with a positive sum, got {weights}.")
    total = sum(weights)
    return [w / total for w in weights]


def _num_classes(model):
    try:
        return int(model.outputs[0].shape[-1])
    except (AttributeError, ValueError, IndexError, TypeError):
        return None


def _class_ids(labels):
    """Integer class ids from sparse or one-hot labels."""
    labels = ops.convert_to_tensor(labels)
    if len(labels.shape) >= 2 and labels.shape[-1] not in (None, 1):
        return ops.argmax(labels, axis=-1)
    return ops.reshape(labels, (-1,))


def label_loss(loss):
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


def _in_memory(x):
    """Whether `x` is a (nested) structure of NumPy arrays or eager tensors."""
    leaves = keras.tree.flatten(x)
    return bool(leaves) and all(
        isinstance(leaf, (np.ndarray, tf.Tensor)) for leaf in leaves
    )


def _is_random_dataset(x):
    """Whether `x` is a dataset, not yet carrying teacher outputs, that changes every epoch."""
    return (
        isinstance(x, tf.data.Dataset) and not _is_packed_dataset(x)
        and bool(augmentation.pipeline_randomness(x))
    )


def _folder_of(cache_teacher):
    if isinstance(cache_teacher, TeacherCache):
        return cache_teacher.directory
    if isinstance(cache_teacher, (str, os.PathLike)):
        return os.fspath(cache_teacher)
    return None


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
