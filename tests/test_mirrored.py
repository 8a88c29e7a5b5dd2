"""MirroredStrategy over two logical CPUs gives the single-device numbers."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_kd
from helpers import mirrored, tiny_data, tiny_models


def train(strategy, x, y, steps, epochs=1, alpha=0.6):
    with strategy.scope():
        teacher, student = tiny_models(student_width=16, seed=7)
        distiller = keras_kd.Distiller(student, teacher, temperature=3.0, alpha=alpha)
        distiller.compile(keras.optimizers.SGD(0.5), metrics=["accuracy"])
    history = distiller.fit(
        x, y, batch_size=len(x) // steps, epochs=epochs, shuffle=False, verbose=0,
        validation_data=(x, y),
    )
    return student.get_weights(), history.history


def test_two_replicas_match_one_device():
    devices = tf.config.list_logical_devices("CPU")
    assert len(devices) >= 2, "conftest splits the CPU into two logical devices"
    x, y = tiny_data(n=64)
    one, history_one = train(tf.distribute.OneDeviceStrategy("/cpu:0"), x, y, steps=1)
    two, history_two = train(mirrored(), x, y, steps=1)
    moved = max(np.abs(a - b).max() for a, b in zip(one, tiny_models(student_width=16, seed=7)[1].get_weights()))
    assert moved > 1e-3  # the step changed the weights, so equality means something
    for a, b in zip(one, two):
        np.testing.assert_allclose(a, b, atol=1e-5)
    for key in ("loss", "student_loss", "distillation_loss", "val_loss", "val_accuracy"):
        np.testing.assert_allclose(history_one[key], history_two[key], rtol=1e-5)


def test_several_epochs_match_one_device():
    x, y = tiny_data(n=128)
    one, history_one = train(tf.distribute.OneDeviceStrategy("/cpu:0"), x, y, steps=4, epochs=3)
    two, history_two = train(mirrored(), x, y, steps=4, epochs=3)
    for a, b in zip(one, two):
        np.testing.assert_allclose(a, b, atol=1e-5)
    np.testing.assert_allclose(history_one["loss"], history_two["loss"], rtol=1e-5)
    np.testing.assert_allclose(history_one["val_loss"], history_two["val_loss"], rtol=1e-5)


def test_a_validation_pass_drops_no_partly_read_iterator(monkeypatch):
    # TensorFlow 2.21 has segfaulted (here once in several hundred fits) as Keras's
    # evaluate dropped the distributed iterator its build had read one batch
    # from. A built Distiller reads none; only fit's own build, before any
    # step has run, still reads one.
    from keras.src.backend.tensorflow.trainer import TFEpochIterator

    dropped_partly_read = []
    reset = TFEpochIterator.reset

    def recording_reset(self):
        dropped_partly_read.append(self._current_iterator is not None and self._steps_seen > 0)
        reset(self)

    monkeypatch.setattr(TFEpochIterator, "reset", recording_reset)
    x, y = tiny_data(n=64)
    train(mirrored(), x, y, steps=2, epochs=2)
    assert dropped_partly_read == [True, False, False]  # fit's build, then two validation passes


def _functional(name, hidden, seed):
    keras.utils.set_random_seed(seed)
    x = keras.Input((8,))
    h = keras.layers.Dense(hidden, activation="relu", name=f"{name}_hidden")(x)
    return keras.Model(x, keras.layers.Dense(3, name=f"{name}_logits")(h), name=name)


def _train_methods(strategy, x, y):
    with strategy.scope():
        teachers = [_functional("a", 16, 1), _functional("b", 6, 2)]
        student = _functional("s", 8, 3)
        distiller = keras_kd.Distiller(
            student, teachers, temperature=2.0, alpha=0.7, teacher_weights="entropy",
            distillation_loss="dkd", hints=[("s_hidden", "a_hidden")],
        )
        distiller.compile(keras.optimizers.SGD(0.3))
        summed = keras_kd.Distiller(_functional("t", 8, 6), teachers, temperature=3.0, alpha=0.5,
                                    teacher_weights=[2, 1], teacher_combination="sum")
        summed.compile(keras.optimizers.SGD(0.3))
        peers = [_functional("p", 8, 4), _functional("q", 5, 5)]
        dml = keras_kd.MutualDistiller(peers, temperature=2.0)
        dml.compile(keras.optimizers.SGD(0.3), metrics=["accuracy"])
        seeds = iter(range(10, 20))
        keras.utils.set_random_seed(0)  # BAN shuffles its batches: the same order on both
        ban = keras_kd.self_distill(lambda: _functional("g", 8, next(seeds)), x, y, (x, y),
                                    generations=2, epochs=2, batch_size=len(x) // 2,
                                    optimizer=lambda: keras.optimizers.SGD(0.3))
    fit = dict(batch_size=len(x) // 2, epochs=2, shuffle=False, verbose=0)
    losses = (distiller.fit(x, y, **fit).history["loss"] + summed.fit(x, y, **fit).history["loss"]
              + dml.fit(x, y, **fit).history["loss"])
    weights = student.get_weights() + distiller.hint_projections[0].get_weights()
    weights += summed.student.get_weights() + peers[0].get_weights() + peers[1].get_weights()
    for model in ban.models:
        weights += model.get_weights()
    return weights, losses


@pytest.fixture(scope="module")
def methods_on_one_device():
    return _train_methods(tf.distribute.OneDeviceStrategy("/cpu:0"), *tiny_data(n=64))


@pytest.mark.xdist_group("mirrored_methods")  # shares the one-device run
@pytest.mark.parametrize("cross_device_ops", [
    # TensorFlow's default on these devices: its collective all-reduce.
    pytest.param(None, id="collective"),
    # About 15 CPU s: in the checks too slow for the suite (`pytest -m slow`).
    pytest.param("reduction_to_one_device", id="reduction_to_one_device", marks=pytest.mark.slow),
])
def test_every_method_matches_one_device(methods_on_one_device, cross_device_ops):
    """Multi-teacher (average with entropy weights, and sum), DKD, hints, DML and BAN."""
    x, y = tiny_data(n=64)
    one, losses_one = methods_on_one_device
    ops = tf.distribute.ReductionToOneDevice() if cross_device_ops else None
    two, losses_two = _train_methods(mirrored(ops), x, y)
    start = [_functional("s", 8, 3).get_weights()[0]]
    assert np.abs(one[0] - start[0]).max() > 1e-3
    assert len(one) == len(two) == 4 + 2 + 4 + 4 + 4 + 2 * 4
    for a, b in zip(one, two):
        np.testing.assert_allclose(a, b, atol=1e-5)
    np.testing.assert_allclose(losses_one, losses_two, rtol=1e-5)
