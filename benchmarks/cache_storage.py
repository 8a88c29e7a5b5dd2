"""Accuracy of students distilled from compact teacher caches: float32, float16 and top-k logits.

    python benchmarks/cache_storage.py            # digits, 3 seeds, about a minute on 2 CPU cores
    python benchmarks/cache_storage.py --dataset synthetic100   # 100 classes, where top-k is meant

Trains one teacher on the digits, caches its logits with each storage
option, distills the same student from each cache over several seeds, and
prints test accuracy, top-1 agreement with the teacher and the bytes stored
per example.
"""

import argparse
import os
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import keras_kd  # noqa: E402
from keras_kd.recipes import architectures  # noqa: E402

STORAGE = {
    "digits": [("float32", None), ("float16", None), ("float16", 5), ("float16", 3), ("float16", 1)],
    "synthetic100": [("float32", None), ("float16", None), ("float16", 20), ("float16", 10),
                     ("float16", 5), ("float16", 1)],
}


def synthetic100():
    """100 overlapping Gaussian classes (scikit-learn's make_classification), 12k/4k split."""
    from sklearn.datasets import make_classification

    x, y = make_classification(n_samples=16_000, n_features=64, n_informative=48, n_redundant=8,
                               n_classes=100, n_clusters_per_class=1, class_sep=2.0,
                               random_state=0)
    x = ((x - x.mean(0)) / x.std(0)).astype("float32")
    y = y.astype("int32")
    return keras_kd.recipes.data.Splits("synthetic100", x[:12_000], y[:12_000], x[12_000:], y[12_000:], 100)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--temperature", type=float, default=4.0)
    parser.add_argument("--student", default="mlp-small")
    parser.add_argument("--dataset", choices=sorted(STORAGE), default="digits")
    args = parser.parse_args(argv)
    data = keras_kd.recipes.data.load_digits() if args.dataset == "digits" else synthetic100()
    classes = data.num_classes
    teacher = architectures.build("mlp-medium", data.input_shape, classes, seed=0)
    teacher.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    teacher.fit(data.x_train, data.y_train, epochs=40, batch_size=64, verbose=0)
    teacher_top1 = teacher.predict(data.x_test, verbose=0).argmax(-1)
    print(f"{data.name}: teacher test accuracy {np.mean(teacher_top1 == data.y_test):.4f}; student {args.student}, "
          f"T={args.temperature}, alpha=0.9, {args.epochs} epochs, {args.seeds} seeds")
    print("| storage | bytes/example | test accuracy | agreement with teacher |")
    print("|---|---|---|---|")
    examples = tf.data.Dataset.from_tensor_slices((data.x_train, data.y_train))
    for dtype, top_k in STORAGE[args.dataset]:
        with tempfile.TemporaryDirectory() as tmp:
            cache = keras_kd.TeacherCache(teacher, tmp, dtype=dtype, top_k=top_k)
            attached = cache.attach(examples)
            entry = next(os.scandir(tmp)).path
            per_example = os.path.getsize(os.path.join(entry, "logits.bin")) // len(data.x_train)
            accuracy, agreement = [], []
            for seed in range(args.seeds):
                student = architectures.build(args.student, data.input_shape, classes, seed=seed)
                distiller = keras_kd.Distiller(student, teacher, args.temperature, alpha=0.9)
                distiller.compile(keras.optimizers.Adam(3e-3))
                train = attached.shuffle(len(data.x_train), seed=seed).batch(64)
                distiller.fit(train, epochs=args.epochs, verbose=0)
                top1 = student.predict(data.x_test, verbose=0).argmax(-1)
                accuracy.append(np.mean(top1 == data.y_test))
                agreement.append(np.mean(top1 == teacher_top1))
        name = dtype if top_k is None else f"{dtype}, top-{top_k}"
        print(f"| {name} | {per_example} | {100 * np.mean(accuracy):.2f}% ± {100 * np.std(accuracy):.2f} "
              f"| {100 * np.mean(agreement):.2f}% ± {100 * np.std(agreement):.2f} |", flush=True)


if __name__ == "__main__":
    main()
