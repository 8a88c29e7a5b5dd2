"""Tiny models and data shared by the tests."""

import importlib.metadata
import subprocess

import keras
import numpy as np
import tensorflow as tf


def tiny_models(inputs=8, classes=3, teacher_width=32, student_width=None, seed=0):
    """A small teacher and student MLP pair that output logits."""
    keras.utils.set_random_seed(seed)
    teacher = keras.Sequential(
        [
            keras.Input((inputs,)),
            keras.layers.Dense(teacher_width, activation="relu"),
            keras.layers.Dense(classes),
        ],
        name="teacher",
    )
    hidden = [keras.layers.Dense(student_width, activation="relu")] if student_width else []
    student = keras.Sequential(
        [keras.Input((inputs,)), *hidden, keras.layers.Dense(classes)], name="student"
    )
    return teacher, student


def tiny_data(n=64, inputs=8, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, inputs)).astype("float32")
    y = rng.integers(0, classes, size=n).astype("int32")
    return x, y


def mirrored(cross_device_ops=None):
    """Two replicas on the two logical CPUs; by default TF's collective all-reduce.

    Collective keys of a second strategy in one process collide with the
    first's (TF's own tests raise the key base the same way).
    """
    tf.distribute.MirroredStrategy._collective_key_base += 100_000
    devices = [d.name for d in tf.config.list_logical_devices("CPU")[:2]]
    return tf.distribute.MirroredStrategy(devices, cross_device_ops=cross_device_ops)


def without_graph_optimizer():
    """Turns TensorFlow's graph optimizer (Grappler) off in this process.

    Grappler rewrites every new tf.function graph before its first run: for
    the tests' tiny models that is about a quarter of a short fit (1.18 s ->
    0.90 s; 100 in-process tests 105 s -> 83 s), and it changes no result
    they compare. `KERAS_KD_TEST_GRAPPLER=1` keeps it on, as in users'
    programs (the command-line workers the tests start keep it on anyway).
    """
    import os

    if os.environ.get("KERAS_KD_TEST_GRAPPLER") != "1":
        tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": True})


def installed(package):
    """Whether `package` is installed, asked of its metadata without importing it."""
    try:
        importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


def run_together(commands, envs, timeout):
    """Starts every command at once (each with its env), waits for all; returns `(codes, logs)`.

    Each log is the process's stdout and stderr together. A process still
    running at the end (a timeout, a failed assertion) is killed.
    """
    processes = [subprocess.Popen(command, env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True)
                 for command, env in zip(commands, envs)]
    try:
        logs = [p.communicate(timeout=timeout)[0] for p in processes]
    finally:
        for p in processes:
            p.kill()
    return [p.returncode for p in processes], logs


def sequential_noise(x, y, batch=16):
    """Uniform noise added in a sequential `map`: under a global seed, TensorFlow restarts
    its draws in every new iterator of the pipeline."""

    def add_noise(features, labels):
        return features + tf.random.uniform(tf.shape(features)), labels

    return tf.data.Dataset.from_tensor_slices((x, y)).batch(batch).map(add_noise)
