"""`Distiller`: a `keras.Model` that trains a student on frozen teachers' soft labels."""

import os

import keras
from keras import ops

from keras_kd import backends, defaults, internals
from keras_kd.caching import targets
from keras_kd.callbacks.warmup import DistillationWarmup, warmup_factor
from keras_kd.distillers import checks, fit_inputs
from keras_kd.distillers import hints as hints_lib
from keras_kd.distillers.soft_term import SoftTerm
from keras_kd.distillers.teacher_view import TeacherView
from keras_kd.distillers.trainer import DistillationTrainer
from keras_kd.distribute.replicas import (
    batch_size, mean_over_batch, regularization_loss, scale_for_replicas, sum_over_global_batch,
    unscale_for_replicas,
)
from keras_kd.losses import hint_loss
from keras_kd.losses.dist import broadcast_weights
from keras_kd.losses.jsd import check_beta
from keras_kd.losses.registry import label_loss, soft_loss
from keras_kd.models import hub
from keras_kd.models.export import export_saved_model, save_keras
from keras_kd.models.tools import inference_function, run_batches

@keras.saving.register_keras_serializable(package="keras_kd")
class Distiller(DistillationTrainer):
    """Trains `student` from one or more frozen teachers' softened predictions.

    The training loss is
    `alpha * T^2 * KL(softmax(t / T) || softmax(s / T)) + (1 - alpha) * CE(y, s)`
    plus the student's own regularization losses and any feature hints. The
    teachers run in inference mode outside the gradient tape and never
    change; gradients reach only the student (and hint projections).
    `predict()` and `call()` are the student's.

    `fit()` computes the teachers' outputs once and reuses them every epoch
    (in memory, or on disk for a `tf.data` pipeline that repeats); random
    pipelines run the teachers in the student's step, on the same view.
    Several teachers, DKD (`distillation_loss="dkd"`), feature hints and a
    warm-up all run through the same step; history has `student_loss`,
    `distillation_loss` and, with several teachers, `teacher_<k>_loss`.

    Args:
        student: `keras.Model` that outputs logits.
        teacher: `keras.Model` that outputs logits over the same classes, a
            path to a `.keras` file or SavedModel folder holding one, or a
            list of them.
        temperature: Float, greater than 0, softening both distributions.
            Defaults to 4.0.
        alpha: Float in [0, 1], the weight of the distillation term; the
            label term gets `1 - alpha`. Defaults to 0.9.
        distillation_loss: String, a `keras_kd.losses.SOFT_LOSSES` name: "kl"
            (forward KL), "reverse_kl", "jsd" (generalized Jensen-Shannon)
            "dkd" (decoupled KD) or "dist" (DIST's Pearson relations).
            Defaults to "kl".
        dkd_alpha: Float, DKD's target-class weight. Defaults to 1.0.
        dkd_beta: Float, DKD's non-target weight. Defaults to 8.0.
        jsd_beta: Float in (0, 1), the teacher's weight in JSD's mixture.
            Defaults to 0.5.
        dist_beta: Float, DIST's inter-class (per-example) weight. Defaults to 1.0.
        dist_gamma: Float, DIST's intra-class (across the batch) weight; its
            correlations are over the global batch under a strategy.
            Defaults to 1.0.
        standardize_logits: Boolean. Z-score each example's teacher and
            student logits before the temperature (logit standardization,
            Sun et al. 2024), with any `distillation_loss`. Defaults to False.
        warmup_epochs: Integer >= 0; the soft term ramps linearly from
            `1 / warmup_epochs` to 1 (DKD's warm-up). Defaults to 0 (none).
        teacher_weights: None (equal), a list of non-negative floats, one per
            teacher, or "entropy" (per-example confidence). Defaults to None.
        teacher_combination: String, "average" (mix the teachers' tempered
            distributions into one target) or "sum" (a weighted term per
            teacher). Defaults to "average".
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

    def __init__(self, student, teacher, temperature=defaults.TEMPERATURE, alpha=defaults.ALPHA,
                 distillation_loss="kl", dkd_alpha=1.0, dkd_beta=8.0, jsd_beta=0.5,
                 dist_beta=1.0, dist_gamma=1.0, standardize_logits=False, warmup_epochs=0,
                 teacher_weights=None, teacher_combination="average", hints=None, **kwargs):
        super().__init__(**kwargs)
        student, teachers = checks.check_distiller_models(student, teacher)
        for model in teachers:
            model.trainable = False
        self.student = student
        self.teachers = teachers
        self.teacher = teachers[0]
        self.distillation_loss = distillation_loss
        self.dkd_alpha = float(dkd_alpha)
        self.dkd_beta = float(dkd_beta)
        self.jsd_beta = check_beta(jsd_beta)
        self.dist_beta = checks.check_non_negative("dist_beta", dist_beta)
        self.dist_gamma = checks.check_non_negative("dist_gamma", dist_gamma)
        self.standardize_logits = checks.check_boolean("standardize_logits", standardize_logits)
        self.warmup_epochs = checks.check_warmup_epochs(warmup_epochs)
        self.soft_loss = soft_loss(distillation_loss)
        options = {k: getattr(self, v) for k, v in self.soft_loss.options.items()}
        self.soft_term = SoftTerm(self.soft_loss, options, len(teachers), teacher_weights,
                                  teacher_combination, self.standardize_logits)
        self.teacher_combination = teacher_combination
        self.teacher_weights = self.soft_term.weights
        self.hints = hints_lib.as_hints(hints)
        self.init_softening(temperature, alpha)
        self._warmup = keras.Variable(
            warmup_factor(0, self.warmup_epochs), dtype="float32", trainable=False,
            name="warmup_factor",
        )
        # A plain object, so Keras does not track the view's models (they
        # share the real models' layers); the projections are tracked here.
        self._view = TeacherView(teachers, student, self.hints)
        self.hint_projections = self.view.projections
        self.student_loss_tracker = keras.metrics.Mean(name="student_loss")
        self.distillation_loss_tracker = keras.metrics.Mean(name="distillation_loss")
        self.teacher_loss_trackers = self.soft_term.trackers
        self.hint_loss_tracker = keras.metrics.Mean(name="hint_loss") if self.hints else None
        self._preprocessed = False
        if student.built and all(t.built for t in teachers):
            self.built = True

    @property
    def view(self):
        """The `keras_kd.distillers.teacher_view.TeacherView`: what the step reads of the teachers."""
        return self._view

    @property
    def teacher_view(self):
        """The `keras.Model` whose outputs the step reads and `TeacherCache` stores.

        The teacher itself for one teacher without hints; otherwise a model
        that concatenates every teacher's logits and hinted features, flattened.
        """
        return self._view.model

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
        super().compile(optimizer=optimizer, loss=label_loss(loss), metrics=metrics, **kwargs)

    def compile_from_config(self, config):
        # Keras skips custom compile() methods when loading; this one only
        # wraps the label loss, so replaying it is safe.
        self.compile(**keras.saving.deserialize_keras_object(config))
        if self.built:
            self.optimizer.build(self.trained_variables())

    def call(self, inputs, training=None):
        return self.student(inputs, training=training)

    def teacher_logits(self, x, batch_size=None):
        """The `teacher_view`'s outputs over in-memory `x`, in batches (default 256).

        Returns:
            NumPy array, one row per example: the teacher's logits, or with
            several teachers or hints every teacher's logits and features.
        """
        return run_batches(inference_function(self.teacher_view), x, batch_size)

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
        return targets.pack(y, keras.tree.map_structure(
            ops.stop_gradient, self.teacher_view(x, training=False)))

    def student_outputs(self, x, training):
        if self._view.student_features is None:
            return self(x, training=training), None
        outputs = self._view.student_features(x, training=training)
        return outputs[0], outputs[1:]

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """`step_loss` under Keras's `compute_loss` contract; the teachers run if `y` lacks them."""
        extras = self.student_outputs(x, training=False)[1] if self.hints else None
        return self.step_loss(x, y, y_pred, extras, sample_weight)

    def step_loss(self, x, y, y_pred, extras, sample_weight):
        """The weighted sum of the soft, label and hint terms, scaled per replica."""
        labels, flat = targets.unpack(y)
        sample_weight = targets.unpack_weights(sample_weight)
        if flat is None:
            flat = keras.tree.map_structure(ops.stop_gradient, self.teacher_view(x, training=False))
        parts = self._view.split(flat)
        alpha = ops.convert_to_tensor(self._alpha)
        local_batch = batch_size(x)
        # Padded tokens (a Keras mask on the student's logits) count nothing.
        mask = internals.keras_mask(y_pred)
        teacher_logits = parts[: len(self.teachers)]
        per_example = self.soft_term(
            teacher_logits, y_pred, labels, self._temperature, sample_weight, mask
        )
        soft = mean_over_batch(per_example, sample_weight, mask)
        batch_term = self.soft_term.batch_term(
            teacher_logits, y_pred, labels, self._temperature,
            broadcast_weights(per_example, sample_weight, mask), sum_over_global_batch,
        )
        if batch_term is not None:  # one value for the global batch, shared by the replicas
            soft = soft + scale_for_replicas(batch_term)
        self.distillation_loss_tracker.update_state(
            unscale_for_replicas(soft), sample_weight=local_batch
        )
        total = alpha * ops.convert_to_tensor(self._warmup) * soft
        if labels is not None:
            hard = self.compiled_label_loss(labels, y_pred, sample_weight)
            self.student_loss_tracker.update_state(
                unscale_for_replicas(hard), sample_weight=local_batch
            )
            total = total + (1.0 - alpha) * hard
        if self.hints:
            hint_total = self._hint_term(x, parts, extras, sample_weight)
            self.hint_loss_tracker.update_state(
                unscale_for_replicas(hint_total), sample_weight=local_batch
            )
            total = total + hint_total
        return total + regularization_loss(self.student)

    def _hint_term(self, x, parts, student_features, sample_weight):
        total = 0.0
        for hint, slot, projection, features in zip(
            self.hints, self._view.hint_slots, self.hint_projections, student_features
        ):
            mask = hints_lib.sequence_mask(x, features) if len(features.shape) == 3 else None
            if projection is not None:
                features = projection(features)
            values = hint_loss(ops.stop_gradient(parts[slot]), features, hint.loss)
            weights = hints_lib.step_weights(sample_weight, values)
            total = total + hint.weight * mean_over_batch(values, weights, mask)
        return total

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        labels, _ = targets.unpack(y)
        if labels is None:
            # Soft labels only: the label metrics have nothing to compare with.
            return {m.name: m.result() for m in [self.loss_tracker, self.distillation_loss_tracker]
                    + self.teacher_loss_trackers}
        return super().compute_metrics(x, labels, y_pred, targets.unpack_weights(sample_weight))

    def get_metrics_result(self):
        # Compiled metrics stay unbuilt when every batch lacked labels.
        compiled = internals.compiled_metrics(self)
        if compiled is None or compiled.built:
            return super().get_metrics_result()
        return {m.name: m.result() for m in self.metrics if m is not compiled}

    def fit(self, *args, cache_teacher=True, augmented_epochs=None, **kwargs):
        """Trains the student; arguments as in `keras.Model.fit`, plus two.

        Labels, class range and output shapes are checked before training.

        Args:
            cache_teacher: Boolean, a folder, or a `keras_kd.TeacherCache`.
                When true (the default), the teachers' outputs are computed
                once and reused by every epoch: in memory for arrays, on disk
                for a `tf.data` pipeline that yields the same data every epoch
                (in a temporary folder, or the folder or cache given). A
                pipeline with random augmentation or reshuffling runs the
                teachers on each batch instead, with a warning, and is read
                through one iterator for the whole fit so that each epoch
                draws anew under a global seed. False always runs them per
                batch.
            augmented_epochs: Integer or None. With a `tf.data` pipeline that
                augments at random, record this many of its epochs with the
                teachers' outputs (`keras_kd.record_augmented_epochs`) and
                replay them in turn: teacher and student still see the same
                views, and the teachers run only `augmented_epochs` times.

        Returns:
            A `keras.callbacks.History`.
        """
        fit_args = fit_inputs.fit_arguments(*args, **kwargs)
        preprocessor = hub.preprocessor_of(self.student, self.teachers)
        if preprocessor is not None:  # raw text for KerasHub models, as their own fit takes
            fit_args = hub.preprocessed_fit_arguments(preprocessor, fit_args)
        fit_inputs.check_fit_data(self, fit_args["x"], fit_args["y"])
        if fit_args["validation_data"] is not None:
            validation = fit_inputs.split_validation(fit_args["validation_data"])
            fit_inputs.check_fit_data(self, *validation[:2])
        fit_inputs.warn_about_random_layers(self.student)
        fit_inputs.check_sampled_cache(self, cache_teacher)
        fit_args["callbacks"] = list(fit_args["callbacks"] or [])
        if self.warmup_epochs:
            fit_args["callbacks"].append(DistillationWarmup(self._warmup, self.warmup_epochs))
        with fit_inputs.fit_inputs(self._view, fit_args, cache_teacher, augmented_epochs,
                                   self.steps_per_execution) as ready:
            self._preprocessed = True  # fit's validation calls evaluate on preprocessed data
            try:
                return super().fit(**ready)
            finally:
                self._preprocessed = False

    def evaluate(self, x=None, y=None, batch_size=None, *args, sample_weight=None, **kwargs):
        """`keras.Model.evaluate`; per-token weights also work next to packed teacher outputs.

        A KerasHub student's preprocessor is applied to `x` first, as in `fit`.
        """
        preprocessor = hub.preprocessor_of(self.student, self.teachers)
        if preprocessor is not None and not self._preprocessed:
            x, y, sample_weight = hub.preprocess(preprocessor, x, y, sample_weight, batch_size)
            batch_size = None if backends.is_tf_dataset(x) else batch_size
        return super().evaluate(x, y, batch_size, *args,
                                sample_weight=targets.weights_for(y, sample_weight), **kwargs)

    def predict(self, x, batch_size=None, *args, **kwargs):
        """The student's `predict`; a KerasHub student's preprocessor is applied to `x` first."""
        preprocessor = hub.preprocessor_of(self.student, self.teachers)
        if preprocessor is not None:
            x = hub.preprocess(preprocessor, x, batch_size=batch_size)[0]
            batch_size = None if backends.is_tf_dataset(x) else batch_size
        return super().predict(x, batch_size, *args, **kwargs)

    def export_student(self, path):
        """Writes the student alone (no hint projections) at `path`, atomically.

        A path ending in `.keras` gets a Keras file (every backend); any other
        path a SavedModel folder (TensorFlow).

        Returns:
            String, the absolute path written.
        """
        if os.fspath(path).endswith(".keras"):
            return save_keras(self.student, path)
        return export_saved_model(self.student, path)

    def get_config(self):
        teachers = self.teachers[0] if len(self.teachers) == 1 else self.teachers
        return {
            **super().get_config(),
            "student": keras.saving.serialize_keras_object(self.student),
            "teacher": keras.saving.serialize_keras_object(teachers),
            "temperature": self.temperature, "alpha": self.alpha,
            "distillation_loss": self.distillation_loss,
            "dkd_alpha": self.dkd_alpha, "dkd_beta": self.dkd_beta, "jsd_beta": self.jsd_beta,
            "dist_beta": self.dist_beta, "dist_gamma": self.dist_gamma,
            "standardize_logits": self.standardize_logits,
            "warmup_epochs": self.warmup_epochs,
            "teacher_weights": self.teacher_weights if len(self.teachers) > 1 else None,
            "teacher_combination": self.teacher_combination,
            "hints": [h.get_config() for h in self.hints],
        }

    @classmethod
    def from_config(cls, config):
        models = {k: keras.saving.deserialize_keras_object(config[k]) for k in ("student", "teacher")}
        return cls(**{**config, **models})
