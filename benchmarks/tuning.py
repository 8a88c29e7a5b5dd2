"""Cost of a 10-trial search against 10 separate distillation runs without teacher reuse.

    python benchmarks/tuning.py                 # defaults: a few minutes on 2 CPU cores
    python benchmarks/tuning.py --trials 4 --epochs 2

Both sides train the same 10 (T, alpha) configurations for the same epochs on
the same data: keras_kd.tuning.search (random search, teacher logits computed
once per search) and a loop of Distiller.fit with cache_teacher=False (the
teacher run on every batch of every epoch of every run, as the keras.io
example and keras.distillation do). Prints wall time, teacher examples and
the ratio.
"""

import argparse
import os
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import keras_kd  # noqa: E402


class Counting(keras.Model):
    def __init__(self, inner):
        super().__init__()
        self.inner = inner
        self.seen = tf.Variable(0, dtype=tf.int64, trainable=False)

    def call(self, x, training=False):
        self.seen.assign_add(tf.cast(tf.shape(x)[0], tf.int64))
        return self.inner(x, training=training)


def mlp(hidden, name):
    layers = [keras.Input((784,))] + [keras.layers.Dense(h, activation="relu") for h in hidden]
    return keras.Sequential(layers + [keras.layers.Dense(10)], name=name)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--examples", type=int, default=10_000)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(args.examples, 784)).astype("float32")
    y = rng.integers(0, 10, args.examples).astype("int32")
    xv, yv = x[: args.examples // 5], y[: args.examples // 5]
    keras.utils.set_random_seed(0)
    teacher = Counting(mlp((2048, 2048), "teacher"))
    teacher(x[:1])
    student = lambda: mlp((256, 256), "student")  # noqa: E731

    with tempfile.TemporaryDirectory() as tmp:
        before, start = int(teacher.seen.numpy()), time.perf_counter()
        result = keras_kd.tuning.search(student, teacher, (x, y), (xv, yv), tuner="random",
                                        max_trials=args.trials, epochs=args.epochs,
                                        directory=tmp, batch_size=256)
        search_time, search_seen = time.perf_counter() - start, int(teacher.seen.numpy()) - before
    configs = [(r["temperature"], r["alpha"]) for r in result.table if r["temperature"] is not None]

    before, start = int(teacher.seen.numpy()), time.perf_counter()
    for temperature, alpha in [(configs[0][0], 0.0)] + configs:  # baseline + trials, as search
        distiller = keras_kd.Distiller(student(), teacher, temperature, alpha)
        distiller.compile(keras.optimizers.Adam(1e-3), metrics=["accuracy"])
        distiller.fit(x, y, batch_size=256, epochs=args.epochs, validation_data=(xv, yv),
                      verbose=0, cache_teacher=False)
    loop_time, loop_seen = time.perf_counter() - start, int(teacher.seen.numpy()) - before

    print(f"{len(configs)} trials + the labels-only baseline, {args.epochs} epochs each, "
          f"{args.examples} training and {len(xv)} validation examples; teacher 784-2048-2048-10, "
          f"student 784-256-256-10; TF {tf.__version__}, {os.cpu_count()} CPUs")
    print("| run | wall time (s) | examples through the teacher |")
    print("|---|---|---|")
    print(f"| keras_kd.tuning.search (teacher once) | {search_time:.1f} | {search_seen:,} |")
    print(f"| separate Distiller.fit runs, teacher per batch | {loop_time:.1f} | {loop_seen:,} |")
    print(f"search is {loop_time / search_time:.2f}x faster; the teacher saw "
          f"{loop_seen / max(search_seen, 1):.0f}x fewer examples")


if __name__ == "__main__":
    main()
