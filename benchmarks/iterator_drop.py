"""Repeats fits or evaluations under MultiWorkerMirroredStrategy, to count TensorFlow 2.21's segfault.

TensorFlow has segfaulted when Keras's `evaluate` dropped a distributed
iterator that had been read from (benchmarks/RESULTS.md, "CI at 243 s").
A crash ends the process with exit code -11, and `PYTHONFAULTHANDLER=1`
prints where it was; a run that ends prints `done N`. Start it in a loop
to count crashes per fit or per `evaluate`.

Example (two at a time on 2 cores, as measured):
    PYTHONFAULTHANDLER=1 python benchmarks/iterator_drop.py fits 300 --epochs 1
    PYTHONFAULTHANDLER=1 python benchmarks/iterator_drop.py evaluations 100000
"""
import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
parser = argparse.ArgumentParser()
parser.add_argument("what", choices=["fits", "evaluations"])
parser.add_argument("count", type=int)
parser.add_argument("--epochs", type=int, default=2)
args = parser.parse_args()

import tensorflow as tf  # noqa: E402

strategy = tf.distribute.MultiWorkerMirroredStrategy()  # one worker: no TF_CONFIG

import keras  # noqa: E402

import keras_kd  # noqa: E402
from keras_kd.recipes import architectures, data  # noqa: E402

digits = data.load_digits()
with strategy.scope():
    teacher = architectures.build("mlp-medium", digits.input_shape, 10, seed=0)


def new_distiller():
    with strategy.scope():
        student = architectures.build("mlp-small", digits.input_shape, 10, seed=1)
        distiller = keras_kd.Distiller(student, teacher, temperature=4.0, alpha=0.9)
        distiller.compile(keras.optimizers.Adam(3e-3), metrics=["accuracy"])
    return distiller


if args.what == "fits":
    for i in range(args.count):
        new_distiller().fit(digits.x_train, digits.y_train, epochs=args.epochs, batch_size=64,
                            verbose=0, validation_data=(digits.x_test, digits.y_test))
        print(i + 1, flush=True)
else:
    distiller = new_distiller()
    distiller.fit(digits.x_train, digits.y_train, epochs=1, batch_size=64, verbose=0)
    for i in range(args.count):
        distiller.evaluate(digits.x_test, digits.y_test, batch_size=64, verbose=0)
        if (i + 1) % 100 == 0:
            print(i + 1, flush=True)
print("done", args.count)
