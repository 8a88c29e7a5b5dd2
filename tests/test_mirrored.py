"""MirroredStrategy over two logical CPUs gives the single-device numbers."""

import keras
import numpy as np
import tensorflow as tf

import keras_kd
from helpers import tiny_data, tiny_models


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
    two, history_two = train(
        tf.distribute.MirroredStrategy([d.name for d in devices[:2]]), x, y, steps=1
    )
    moved = max(np.abs(a - b).max() for a, b in zip(one, tiny_models(student_width=16, seed=7)[1].get_weights()))
    assert moved > 1e-3  # the step changed the weights, so equality means something
    for a, b in zip(one, two):
        np.testing.assert_allclose(a, b, atol=1e-5)
    for key in ("loss", "student_loss", "distillation_loss", "val_loss", "val_accuracy"):
        np.testing.assert_allclose(history_one[key], history_two[key], rtol=1e-5)


def test_several_epochs_match_one_device():
    devices = tf.config.list_logical_devices("CPU")
    x, y = tiny_data(n=128)
    one, history_one = train(tf.distribute.OneDeviceStrategy("/cpu:0"), x, y, steps=4, epochs=3)
    two, history_two = train(
        tf.distribute.MirroredStrategy([d.name for d in devices[:2]]), x, y, steps=4, epochs=3
    )
    for a, b in zip(one, two):
        np.testing.assert_allclose(a, b, atol=1e-5)
    np.testing.assert_allclose(history_one["loss"], history_two["loss"], rtol=1e-5)
    np.testing.assert_allclose(history_one["val_loss"], history_two["val_loss"], rtol=1e-5)
