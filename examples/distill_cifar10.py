"""Small CNNs on CIFAR-10: a 32-64 channel teacher teaches an 8-16 channel student.

Needs CIFAR-10 prepared for TensorFlow Datasets (see README, "Datasets"):

    python examples/distill_cifar10.py --data-dir ~/tensorflow_datasets
    python examples/distill_cifar10.py --quick   # 512 examples, 1 epoch
"""

import argparse

import keras

import keras_kd
from keras_kd.recipes import architectures
from keras_kd.recipes import data


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", help="TFDS data folder holding a prepared cifar10")
    parser.add_argument("--quick", action="store_true", help="tiny settings, for tests")
    parser.add_argument("--output", default="saved_models/cifar10_cnn_student")
    args = parser.parse_args(argv)
    cifar = data.load("cifar10", data_dir=args.data_dir)
    x_train, y_train = cifar.x_train, cifar.y_train
    epochs = 15
    if args.quick:
        x_train, y_train, epochs = x_train[:512], y_train[:512], 1

    teacher = architectures.build("cnn-large", cifar.input_shape, 10, seed=0)
    teacher.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    teacher.fit(x_train, y_train, epochs=epochs, batch_size=128, verbose=2)

    # The teacher's logits are computed once (in-memory arrays), so each
    # student epoch costs about what training the student alone costs.
    student = architectures.build("cnn-small", cifar.input_shape, 10, seed=1)
    distiller = keras_kd.Distiller(student, teacher, temperature=4.0, alpha=0.9)
    distiller.compile("adam", metrics=["accuracy"])
    distiller.fit(x_train, y_train, epochs=epochs, batch_size=128, verbose=2,
                  validation_data=(cifar.x_test, cifar.y_test))
    print(f"teacher {teacher.count_params():,} parameters, student {student.count_params():,}")
    print("student SavedModel:", distiller.export_student(args.output))


if __name__ == "__main__":
    main()
