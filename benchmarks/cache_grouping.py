"""Does running the teacher on groups of batches make the cache build faster?

    python benchmarks/cache_grouping.py

Same teacher (784-2048-2048-10) and 20,000 examples as benchmarks/speed.py.
Part 1: one teacher pass over in-memory arrays in calls of 256, 512, 1,024
and 2,048 examples. Part 2: `TeacherCache.attach` over the batch-256
tf.data pipeline with one teacher call per batch against groups of up to
1,024 and 2,048 examples, next to a plain teacher pass, in interleaved
rounds. Prints every time (s); this VM's speed is bimodal, so read the
spread as well as the medians.
"""

import os
import statistics
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import keras_kd  # noqa: E402
from keras_kd.caching import teacher_cache  # noqa: E402

ROUNDS = 6


def seconds(function):
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def report(times):
    for name, values in times.items():
        print(f"| {name} | {' '.join(f'{v:.2f}' for v in values)} | {statistics.median(values):.3f} |")


def main():
    keras.utils.set_random_seed(0)
    teacher = keras.Sequential([keras.Input((784,)), keras.layers.Dense(2048, activation="relu"),
                                keras.layers.Dense(2048, activation="relu"), keras.layers.Dense(10)])
    rng = np.random.default_rng(0)
    x = rng.normal(size=(20_000, 784)).astype("float32")
    y = rng.integers(0, 10, 20_000).astype("int32")
    infer = tf.function(lambda batch: teacher(batch, training=False))

    def array_pass(size):
        for i in range(0, len(x), size):
            infer(x[i : i + size]).numpy()

    sizes = (256, 512, 1024, 2048)
    for size in sizes:
        array_pass(size)  # trace
    times = {f"arrays, calls of {size}": [] for size in sizes}
    for _ in range(3):
        for size in sizes:
            times[f"arrays, calls of {size}"].append(seconds(lambda: array_pass(size)))
    print("| run | times (s) | median (s) |\n|---|---|---|")
    report(times)

    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(256)

    def dataset_pass():
        for batch_x, _ in dataset:
            infer(batch_x).numpy()

    def attach(group):
        teacher_cache._GROUP_EXAMPLES = group
        with tempfile.TemporaryDirectory() as folder:
            keras_kd.TeacherCache(teacher, folder).attach(dataset)

    variants = {"teacher pass over the pipeline": dataset_pass,
                "attach, one call per batch": lambda: attach(1),
                "attach, groups of 1,024": lambda: attach(1024),
                "attach, groups of 2,048": lambda: attach(2048)}
    for run in variants.values():
        run()  # warm up
    times = {name: [] for name in variants}
    for _ in range(ROUNDS):
        for name, run in variants.items():
            times[name].append(seconds(run))
    report(times)


if __name__ == "__main__":
    main()
