"""Every kind of distillation in keras_kd on scikit-learn's digits, side by side.

    python examples/distillation_methods.py            # about two minutes on 2 CPU cores
    python examples/distillation_methods.py --quick    # a few epochs, for tests

For means and spreads over seeds, see benchmarks/quality.py --suite methods.
"""

import argparse

import keras
import numpy as np

import keras_kd
from keras_kd.recipes import architectures
from keras_kd.recipes.data import load_digits


def hidden_mlp(name, units, seed):
    """A one-hidden-layer MLP whose hidden layer has a known name (for hints)."""
    keras.utils.set_random_seed(seed)
    x = keras.Input((64,))
    h = keras.layers.Dense(units, activation="relu", name=f"{name}_hidden")(x)
    return keras.Model(x, keras.layers.Dense(10, name=f"{name}_logits")(h), name=name)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny settings for tests")
    parser.add_argument("--output", default="saved_models/digits_methods_student")
    args = parser.parse_args(argv)
    epochs = 2 if args.quick else 40
    data = load_digits()
    fit = dict(epochs=epochs, batch_size=64, verbose=0)

    def accuracy(model):
        return np.mean(model.predict(data.x_test, verbose=0).argmax(-1) == data.y_test)

    # Two different teachers, trained on the labels.
    teachers = [hidden_mlp("teacher_a", 256, 0), architectures.build("mlp-medium", (64,), 10, seed=1)]
    for teacher in teachers:
        teacher.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        teacher.fit(data.x_train, data.y_train, **fit)

    results = {}
    variants = {
        "vanilla KD": dict(teacher=teachers[0]),
        "multi-teacher (entropy weights)": dict(teacher=teachers, teacher_weights="entropy"),
        "DKD": dict(teacher=teachers[0], distillation_loss="dkd", alpha=0.5, warmup_epochs=5),
        "FitNets hint + KD": dict(
            teacher=teachers[0], hints=[keras_kd.FeatureHint("student_hidden", "teacher_a_hidden")]
        ),
    }
    for name, kwargs in variants.items():
        student = hidden_mlp("student", 32, seed=2)
        distiller = keras_kd.Distiller(student, temperature=4.0, **kwargs)
        distiller.compile(keras.optimizers.Adam(3e-3), metrics=["accuracy"])
        distiller.fit(data.x_train, data.y_train, **fit)
        results[name] = accuracy(student)
        if name == "FitNets hint + KD":  # the projection is not exported
            # A SavedModel (TF Serving, TFLite) on TensorFlow; a .keras file on JAX and PyTorch.
            if keras.backend.backend() == "tensorflow":
                print("student SavedModel:", distiller.export_student(args.output))
            else:
                print("student .keras file:", distiller.export_student(args.output + ".keras"))

    peers = [hidden_mlp("peer_a", 32, seed=3), hidden_mlp("peer_b", 32, seed=4)]
    mutual = keras_kd.MutualDistiller(peers)
    mutual.compile(keras.optimizers.Adam(3e-3), metrics=["accuracy"])
    mutual.fit(data.x_train, data.y_train, **fit)
    results["deep mutual learning (peer 0)"] = accuracy(peers[0])

    born_again = keras_kd.self_distill(
        lambda: hidden_mlp("generation", 32, seed=5), data.x_train, data.y_train,
        (data.x_test, data.y_test), generations=2, epochs=epochs, batch_size=64,
    )
    print(born_again.to_markdown())
    results["born-again (generation 1)"] = born_again.table[-1]["val_accuracy"]

    print("\n| method | test accuracy |\n|---|---|")
    for name, value in results.items():
        print(f"| {name} | {100 * value:.2f}% |")


if __name__ == "__main__":
    main()
