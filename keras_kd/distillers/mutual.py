"""`MutualDistiller`: peers that teach each other while they train (Deep Mutual Learning)."""

import contextlib

import keras
from keras import ops

from keras_kd import backends
from keras_kd.distillers import checks, fit_inputs
from keras_kd import losses
from keras_kd.losses.registry import label_loss
from keras_kd.models.export import export_saved_model
from keras_kd.distribute.replicas import batch_size, mean_over_batch, regularization_loss, unscale_for_replicas
from keras_kd.distillers.trainer import DistillationTrainer


@keras.saving.register_keras_serializable(package="keras_kd")
class MutualDistiller(DistillationTrainer):
    """Trains N peers together, each on its labels and the others' predictions.

    Deep Mutual Learning (Zhang et al. 2018): peer `i` minimises
    `(1 - alpha) * CE(y, s_i) + alpha * mean_{j != i} T^2 KL(softmax(s_j / T) || softmax(s_i / T))`
    where the other peers' predictions are held fixed (stop-gradient) in
    peer `i`'s term. All peers step together on the same batch with one
    optimizer; each peer's gradients come from its own term only. History
    reports every peer's loss and metrics (`peer_<i>_loss`,
    `peer_<i>_accuracy`, ...). `call()`/`predict()` are peer 0's.

    Args:
        peers: List of at least 2 `keras.Model`s that output logits over the
            same classes. They may differ in architecture.
        temperature: Float, greater than 0. Defaults to 1.0 (as in the paper).
        alpha: Float in [0, 1], the weight of the mimicry term. Defaults to 0.5
            (the paper's equal weighting, up to a factor 2).
        **kwargs: Passed to `keras.Model`.

    Example:

    ```python
    dml = keras_kd.MutualDistiller([make_model(), make_model()])
    dml.compile(optimizer="adam", metrics=["accuracy"])
    dml.fit(x_train, y_train, epochs=10, validation_data=(x_val, y_val))
    dml.export_peer(1, "saved_models/peer1")
    ```
    """

    def __init__(self, peers, temperature=1.0, alpha=0.5, **kwargs):
        super().__init__(**kwargs)
        peers = list(peers) if isinstance(peers, (list, tuple)) else [peers]
        if len(peers) < 2:
            raise ValueError(
                f"MutualDistiller needs at least 2 peers to learn from each other, got "
                f"{len(peers)}. For one model use keras_kd.Distiller with a teacher."
            )
        for index, peer in enumerate(peers):
            checks.check_model(peer, f"peer {index}")
        if len({id(p) for p in peers}) != len(peers):
            raise ValueError("The same model object appears twice in `peers`; pass separate models.")
        for index, peer in enumerate(peers[1:], start=1):
            checks.check_logit_models(peer, peers[0], teacher_role=f"peer {index}")
        self.peers = peers
        self.init_softening(temperature, alpha)
        self.peer_loss_trackers = [
            keras.metrics.Mean(name=f"peer_{i}_loss") for i in range(len(peers))
        ]
        self.peer_metrics = []
        # Off TensorFlow, Keras's own step differentiates what `call` returns:
        # inside fit/evaluate that is every peer's logits (see `call`).
        self._every_peer = False
        if all(p.built for p in peers):
            self.built = True

    def compile(self, optimizer="adam", loss=None, metrics=None, **kwargs):
        """Configures training of all peers.

        Args:
            optimizer: One optimizer for every peer's weights. Defaults to "adam".
            loss: Label loss on each peer's logits. Defaults to
                `SparseCategoricalCrossentropy(from_logits=True)`.
            metrics: Metrics computed for every peer separately, reported as
                `peer_<i>_<name>`. "accuracy" means sparse categorical accuracy.
            **kwargs: Passed to `keras.Model.compile`.
        """
        self.peer_metrics = [
            [_peer_metric(spec, i) for spec in (metrics or [])] for i in range(len(self.peers))
        ]
        self._label_loss = label_loss(loss)
        super().compile(optimizer=optimizer, **kwargs)
        self._peer_compile_config = {"loss": loss, "metrics": metrics}

    def get_compile_config(self):
        config = super().get_compile_config()
        if config is not None:
            config.update(keras.saving.serialize_keras_object(self._peer_compile_config))
        return config

    def compile_from_config(self, config):
        self.compile(**keras.saving.deserialize_keras_object(config))
        if self.built:
            self.optimizer.build(self.trained_variables())

    @property
    def metrics(self):
        tracked = [self.loss_tracker] + list(self.peer_loss_trackers)
        for per_peer in self.peer_metrics:
            tracked += per_peer
        return tracked

    def call(self, inputs, training=None):
        """Peer 0's logits; every peer's, as a list, inside `fit`/`evaluate` on JAX."""
        if self._every_peer:
            return [peer(inputs, training=training) for peer in self.peers]
        return self.peers[0](inputs, training=training)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """`step_loss` on every peer's logits (`y_pred` holds them all off TensorFlow)."""
        return self.step_loss(x, y, y_pred, None, sample_weight)

    def fit(self, *args, **kwargs):
        """`keras.Model.fit`; a random `tf.data` pipeline draws anew every epoch.

        As in `Distiller.fit`, a random pipeline of known length is read
        through one iterator for the whole fit, so that a global seed does not
        make every epoch repeat the first one's draws.
        """
        fit_args = fit_inputs.fit_arguments(*args, **kwargs)
        if fit_args["steps_per_epoch"] is None:
            fit_args["x"], fit_args["steps_per_epoch"] = fit_inputs.one_iterator_if_random(
                fit_args["x"], steps_per_execution=self.steps_per_execution
            )
        if backends.is_tf_dataset(fit_args["x"]):
            fit_args["shuffle"] = False  # a default Keras would warn about for a dataset
        with self._every_peer_in_steps():
            return super().fit(**fit_args)

    def evaluate(self, *args, **kwargs):
        with self._every_peer_in_steps():
            return super().evaluate(*args, **kwargs)

    @contextlib.contextmanager
    def _every_peer_in_steps(self):
        """Off TensorFlow, the steps Keras traces here see every peer's logits from `call`."""
        # Re-entrant: fit's validation calls evaluate, and the steps after it
        # (run eagerly on PyTorch) must still see every peer.
        outer = self._every_peer
        self._every_peer = not backends.is_tensorflow()
        try:
            yield
        finally:
            self._every_peer = outer

    def student_outputs(self, x, training):
        # Metrics see every peer's logits.
        return [peer(x, training=training) for peer in self.peers], None

    def trained_variables(self):
        return [v for peer in self.peers for v in peer.trainable_variables]

    def step_loss(self, x, y, y_pred, extras, sample_weight):
        if y is None:
            raise ValueError("MutualDistiller trains on labels: pass `y` or (x, y) batches.")
        outputs = y_pred
        alpha = ops.convert_to_tensor(self._alpha)
        fixed = [ops.stop_gradient(o) for o in outputs]
        total = 0.0
        for i, (output, tracker) in enumerate(zip(outputs, self.peer_loss_trackers)):
            mimicry = ops.mean(ops.stack([
                losses.distillation_loss(fixed[j], output, self._temperature)
                for j in range(len(outputs)) if j != i
            ], axis=0), axis=0)
            term = (1.0 - alpha) * self._label_loss(y, output, sample_weight)
            term = term + alpha * mean_over_batch(mimicry, sample_weight)
            term = term + regularization_loss(self.peers[i])
            tracker.update_state(unscale_for_replicas(term), sample_weight=batch_size(x))
            total = total + term
        return total

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        for per_peer, output in zip(self.peer_metrics, y_pred):
            for metric in per_peer:
                metric.update_state(y, output, sample_weight=sample_weight)
        return {m.name: m.result() for m in self.metrics}

    def export_peer(self, index, path):
        """Writes peer `index` alone as a TF SavedModel, atomically; returns the path."""
        return export_saved_model(self.peers[index], path)

    def get_config(self):
        config = super().get_config()
        config.update({
            "peers": [keras.saving.serialize_keras_object(p) for p in self.peers],
            "temperature": self.temperature,
            "alpha": self.alpha,
        })
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["peers"] = [keras.saving.deserialize_keras_object(p) for p in config["peers"]]
        return cls(**config)


def _peer_metric(spec, index):
    """A fresh metric for peer `index`, named `peer_<index>_<name>`."""
    name = spec
    if isinstance(spec, str):
        spec = (
            keras.metrics.SparseCategoricalAccuracy()
            if spec in ("accuracy", "acc") else keras.metrics.get(spec)
        )
    if not isinstance(spec, keras.metrics.Metric):
        raise TypeError(
            f"MutualDistiller metrics must be names or keras.metrics.Metric objects, got {spec!r}."
        )
    config = spec.get_config()
    config["name"] = f"peer_{index}_{name if isinstance(name, str) else spec.name}"
    return spec.__class__.from_config(config)
