"""Distill across machines with MultiWorkerMirroredStrategy.

Every worker runs this same script with its own TF_CONFIG. Locally:

    keras-kd launch --workers 2 -- python examples/multi_worker.py --teacher teacher.keras

On real hosts, set on each (index 0 is the chief, which writes the results):

    TF_CONFIG='{"cluster": {"worker": ["host1:12345", "host2:12345"]},
                "task": {"type": "worker", "index": 0}}'

The strategy must be created before anything else runs TensorFlow. Keras 3's
own fit() fails under this strategy (keras-team/keras#20585); the Distiller
works around it. Give BackupAndRestore a folder per worker: a killed worker
and its peers then restart and resume from the last epoch.
"""

import argparse
import json
import os

import tensorflow as tf


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--teacher", help="trained teacher (.keras); trains a quick one if absent")
    parser.add_argument("--quick", action="store_true", help="tiny settings, for tests")
    parser.add_argument("--backup", default="/tmp/keras_kd_backup")
    parser.add_argument("--output", default="saved_models/digits_multi_worker_student")
    args = parser.parse_args(argv)
    strategy = tf.distribute.MultiWorkerMirroredStrategy()  # before any other TF work

    import keras

    import keras_kd
    from keras_kd.recipes import architectures
    from keras_kd.recipes import data

    task = json.loads(os.environ.get("TF_CONFIG", "{}")).get("task", {"index": 0})
    digits = data.load_digits()
    epochs = 2 if args.quick else 40
    if args.teacher:
        with strategy.scope():
            teacher = keras_kd.load_model(args.teacher, role="teacher")
    else:
        # Every worker must hold the same teacher. Train it as the "student"
        # of a Distiller with alpha = 0, which is ordinary label training and,
        # unlike Keras's fit, runs across workers; the stand-in is unused.
        with strategy.scope():
            teacher = architectures.build("mlp-medium", digits.input_shape, 10, seed=0)
            stand_in = architectures.build("mlp-tiny", digits.input_shape, 10, seed=0)
            trainer = keras_kd.Distiller(teacher, stand_in, alpha=0.0)
            trainer.compile("adam")
        trainer.fit(digits.x_train, digits.y_train, epochs=epochs, batch_size=64, verbose=0)
    with strategy.scope():
        student = architectures.build("mlp-small", digits.input_shape, 10, seed=1)
        distiller = keras_kd.Distiller(student, teacher, temperature=4.0, alpha=0.9)
        distiller.compile(keras.optimizers.Adam(3e-3), metrics=["accuracy"])
    backup = keras.callbacks.BackupAndRestore(os.path.join(args.backup, f"worker{task['index']}"))
    distiller.fit(digits.x_train, digits.y_train, epochs=epochs, batch_size=64, verbose=2,
                  validation_data=(digits.x_test, digits.y_test), callbacks=[backup])
    if task.get("index", 0) == 0:  # the chief writes the results
        print("student SavedModel:", distiller.export_student(args.output))


if __name__ == "__main__":
    main()
