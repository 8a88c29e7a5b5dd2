"""Helpers the speed benchmarks share; no TensorFlow, so the JAX / PyTorch GPU check can use them."""

import time

import keras


class EpochTimer(keras.callbacks.Callback):
    """Records the wall time of every epoch of a `fit`."""

    def __init__(self):
        super().__init__()
        self.times = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.times.append(time.perf_counter() - self._start)


def mlp(input_dim, hidden, classes, name):
    """A ReLU MLP that outputs logits."""
    layers = [keras.Input((input_dim,))]
    layers += [keras.layers.Dense(h, activation="relu") for h in hidden]
    layers.append(keras.layers.Dense(classes))
    return keras.Sequential(layers, name=name)


def dense_flops(input_dim, hidden, classes):
    """Multiply-adds x 2 of one forward pass of an MLP, per example."""
    sizes = [input_dim, *hidden, classes]
    return sum(2 * a * b for a, b in zip(sizes, sizes[1:]))
