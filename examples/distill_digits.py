"""Distill a 2x256 MLP teacher into a 16-unit student on scikit-learn's digits.

Runs offline in well under a minute on a laptop CPU:

    python examples/distill_digits.py            # full run
    python examples/distill_digits.py --quick    # a few epochs, for tests
"""

import argparse

import keras

import keras_kd
from keras_kd.recipes import architectures
from keras_kd.recipes.data import load_digits


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny settings for tests")
    parser.add_argument("--output", default="saved_models/digits_example_student")
    args = parser.parse_args(argv)
    epochs = 3 if args.quick else 40

    data = load_digits()

    # 1. A large teacher, trained on the labels as usual. It outputs logits.
    teacher = architectures.build("mlp-medium", data.input_shape, data.num_classes, seed=0)
    teacher.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    teacher.fit(data.x_train, data.y_train, epochs=epochs, batch_size=64, verbose=0)

    # 2. A small student learns from the teacher's softened predictions (90%)
    #    and the labels (10%). The teacher's logits are computed once and reused.
    student = architectures.build("mlp-tiny", data.input_shape, data.num_classes, seed=1)
    distiller = keras_kd.Distiller(student, teacher, temperature=4.0, alpha=0.9)
    distiller.compile(keras.optimizers.Adam(3e-3), metrics=["accuracy"])
    distiller.fit(data.x_train, data.y_train, epochs=epochs, batch_size=64, verbose=2,
                  validation_data=(data.x_test, data.y_test))

    # 3. Compare, and export the student alone for serving.
    teacher_accuracy = teacher.evaluate(data.x_test, data.y_test, verbose=0)[1]
    student_accuracy = distiller.evaluate(data.x_test, data.y_test, verbose=0, return_dict=True)["accuracy"]
    print(f"teacher: {teacher.count_params():>7,} parameters, test accuracy {teacher_accuracy:.4f}")
    print(f"student: {student.count_params():>7,} parameters, test accuracy {student_accuracy:.4f}")
    # A SavedModel (TF Serving, TFLite) on TensorFlow; a .keras file on JAX and PyTorch.
    if keras.backend.backend() == "tensorflow":
        print("student SavedModel:", distiller.export_student(args.output))
    else:
        print("student .keras file:", distiller.export_student(args.output + ".keras"))


if __name__ == "__main__":
    main()
