"""Hinton et al. (2015) on MNIST: a 2x1200 teacher teaches a 2x800 student at T = 20.

Needs MNIST prepared for TensorFlow Datasets (see README, "Datasets"):

    python examples/distill_mnist.py --data-dir ~/tensorflow_datasets
    python examples/distill_mnist.py --quick     # 512 examples, 1 epoch
"""

import argparse

import keras

import keras_kd
from keras_kd.recipes import architectures
from keras_kd.recipes import data


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", help="TFDS data folder holding a prepared mnist")
    parser.add_argument("--quick", action="store_true", help="tiny settings, for tests")
    parser.add_argument("--output", default="saved_models/mnist_hinton_student")
    args = parser.parse_args(argv)
    mnist = data.load("mnist", data_dir=args.data_dir)
    x_train, y_train = mnist.x_train, mnist.y_train
    epochs = 20
    if args.quick:
        x_train, y_train, epochs = x_train[:512], y_train[:512], 1

    # The teacher: wide, with dropout (Hinton also jittered the inputs).
    teacher = architectures.build("mlp-hinton-teacher", mnist.input_shape, 10, seed=0)
    teacher.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    teacher.fit(x_train, y_train, epochs=epochs, batch_size=128, verbose=2)

    # The student: 2x800, no dropout. T = 20 as in the paper; the soft term
    # carries almost all the weight.
    student = architectures.build("mlp-hinton-student", mnist.input_shape, 10, seed=1)
    distiller = keras_kd.Distiller(student, teacher, temperature=20.0, alpha=0.95)
    distiller.compile("adam", metrics=["accuracy"])
    distiller.fit(x_train, y_train, epochs=epochs, batch_size=128, verbose=2,
                  validation_data=(mnist.x_test, mnist.y_test))

    for name, model in (("teacher", teacher), ("student", student)):
        model.compile(metrics=["accuracy"], loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        accuracy = model.evaluate(mnist.x_test, mnist.y_test, verbose=0)[1]
        errors = round((1 - accuracy) * len(mnist.x_test))
        print(f"{name}: {errors} test errors ({100 * accuracy:.2f}% accuracy)")
    print("student SavedModel:", distiller.export_student(args.output))


if __name__ == "__main__":
    main()
