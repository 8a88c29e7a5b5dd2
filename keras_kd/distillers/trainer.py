"""`DistillationTrainer`: the one training step every keras_kd model shares."""

import keras
from keras import ops

from keras_kd import backends, internals
from keras_kd.distillers import checks
from keras_kd.losses.kl import check_temperature
from keras_kd.callbacks.schedule import NAN_MARKER, StopOnNaN, nan_message
from keras_kd.distribute.replicas import batch_size, unscale_for_replicas


class DistillationTrainer(internals.OneReplicaBuild, keras.Model):
    """A `keras.Model` whose step keeps every duty of Keras's own `train_step`.

    Subclasses say what differs between distillation methods and nothing else:

    - `prepare_targets(x, y)`: adds what the step needs to the targets
      (the teacher's logits), outside the gradient tape;
    - `student_outputs(x, training)`: returns `(y_pred, extras)`, where `y_pred` is
      what the compiled metrics see and `extras` anything else the loss reads
      (intermediate features, other peers' logits). (Not `forward`: on the
      PyTorch backend a Keras layer is a `torch.nn.Module`, whose `forward`
      its own call runs.)
    - `step_loss(x, y, y_pred, extras, sample_weight)`: the per-replica loss;
    - `trained_variables()`: the variables the optimizer updates.

    On TensorFlow the step then runs the forward pass under a tape, fails
    before the update when the loss is NaN or infinite (in graph, no host
    round trip), records the unscaled loss, scales it for mixed precision,
    applies the gradients and returns the metrics; `fit()` turns a NaN failure
    into a `FloatingPointError` naming the epoch. It also works around Keras's
    multi-worker failures (keras-team/keras#20585). On JAX and PyTorch Keras's
    own step runs and calls `compute_loss`, which subclasses implement with the
    same `step_loss`; a NaN loss then stops `fit()` at the end of its epoch
    (`StopOnNaN`).
    """

    def init_softening(self, temperature, alpha):
        """Creates the temperature and alpha variables that `temperature`/`alpha` expose.

        They are variables, so changing them (`DistillationSchedule`) never
        retraces the compiled step.
        """
        self._temperature = keras.Variable(
            check_temperature(temperature), dtype="float32", trainable=False,
            name="temperature",
        )
        self._alpha = keras.Variable(
            checks.check_alpha(alpha), dtype="float32", trainable=False, name="alpha"
        )

    @property
    def temperature(self):
        """Float, the current temperature; assign to change it without retracing."""
        return _as_float(self._temperature)

    @temperature.setter
    def temperature(self, value):
        self._temperature.assign(check_temperature(value))

    @property
    def alpha(self):
        """Float, the current weight of the distillation term."""
        return _as_float(self._alpha)

    @alpha.setter
    def alpha(self, value):
        self._alpha.assign(checks.check_alpha(value))

    @property
    def loss_tracker(self):
        """The `keras.metrics.Mean` that reports the total `loss`."""
        return internals.loss_tracker(self)

    def compiled_label_loss(self, labels, y_pred, sample_weight):
        """The label loss given to `compile`, reduced and scaled per replica as Keras does."""
        return internals.compiled_loss(self, labels, y_pred, sample_weight)

    def prepare_targets(self, x, y):
        return y

    def student_outputs(self, x, training):
        return self(x, training=training), None

    def step_loss(self, x, y, y_pred, extras, sample_weight):
        raise NotImplementedError

    def trained_variables(self):
        raise NotImplementedError

    def _tf_train_step(self, data):
        import tensorflow as tf

        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        # Frozen models run here, before the tape: nothing of them is recorded.
        y = self.prepare_targets(x, y)
        with tf.GradientTape() as tape:
            y_pred, extras = self.student_outputs(x, training=True)
            loss = self.step_loss(x, y, y_pred, extras, sample_weight)
            # Fails the step before its update, without a host round trip.
            loss = tf.debugging.check_numerics(loss, NAN_MARKER)
            self.loss_tracker.update_state(
                unscale_for_replicas(loss), sample_weight=batch_size(x)
            )
            scaled_loss = self.optimizer.scale_loss(loss)
        variables = self.trained_variables()
        gradients = tape.gradient(scaled_loss, variables)
        self.optimizer.apply_gradients(zip(gradients, variables))
        return self.replica_logs(self.compute_metrics(x, y, y_pred, sample_weight))

    def _tf_test_step(self, data):
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        y = self.prepare_targets(x, y)
        y_pred, extras = self.student_outputs(x, training=False)
        loss = self.step_loss(x, y, y_pred, extras, sample_weight)
        self.loss_tracker.update_state(
            unscale_for_replicas(loss), sample_weight=batch_size(x)
        )
        return self.replica_logs(self.compute_metrics(x, y, y_pred, sample_weight))

    # JAX and PyTorch keep Keras's own steps (another signature on JAX), which
    # call `compute_loss`.
    if backends.is_tensorflow():
        train_step = _tf_train_step
        test_step = _tf_test_step

    def replica_logs(self, logs):
        """Step logs in the shape Keras can reduce across workers.

        Across workers Keras reduces each step output with
        `strategy.reduce("MEAN", v, axis=0)`, which fails on scalars
        (keras-team/keras#20585); a length-1 axis makes it the plain mean.
        """
        if not multi_worker(self.distribute_strategy):
            return logs
        return {name: ops.reshape(value, (1,)) for name, value in logs.items()}

    def fit(self, *args, callbacks=None, **kwargs):
        """`keras.Model.fit`; a NaN or infinite loss raises `FloatingPointError`."""
        tracker = _EpochTracker()
        callbacks = list(callbacks or []) + [StopOnNaN(), tracker]
        if not backends.is_tensorflow():
            return super().fit(*args, callbacks=callbacks, **kwargs)
        import tensorflow as tf

        try:
            return super().fit(*args, callbacks=callbacks, **kwargs)
        except tf.errors.InvalidArgumentError as error:
            if NAN_MARKER not in str(error):
                raise
            raise FloatingPointError(
                nan_message(tracker.epoch) + " The step that produced it was not applied."
            ) from None


def _as_float(variable):
    """A float32 variable's value as the shortest decimal that rounds to it."""
    return float(str(ops.convert_to_numpy(variable).astype("float32")))


def multi_worker(strategy):
    """Whether `strategy` spans several worker processes."""
    if not backends.is_tensorflow():
        return False
    import tensorflow as tf

    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) and (
        internals.in_multi_worker_mode(strategy)
    )


class _EpochTracker(keras.callbacks.Callback):
    """Remembers the current epoch, for error messages."""

    epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch
