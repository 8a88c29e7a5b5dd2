"""Cost of building a disk TeacherCache over a file-backed pipeline, against one teacher pass over it.

    python benchmarks/cache_build.py              # 20,000 TFRecord examples of 784 floats
    python benchmarks/cache_build.py --examples 100000

The yardstick is the teacher (784-2048-2048-10) run once over the same
TFRecord pipeline; both are timed warm (best of the repeats after the
first) and cold (the first build in the process).
"""

import argparse
import os
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

import keras_kd  # noqa: E402
from memory import FEATURES, write_records  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "data.tfrecord")
        write_records(path, args.examples)
        spec = {"x": tf.io.FixedLenFeature([FEATURES], tf.float32),
                "y": tf.io.FixedLenFeature([], tf.int64)}
        dataset = (tf.data.TFRecordDataset(path).batch(256)
                   .map(lambda r: tf.io.parse_example(r, spec)).map(lambda e: (e["x"], e["y"])))
        keras.utils.set_random_seed(0)
        teacher = keras.Sequential([keras.Input((FEATURES,)), keras.layers.Dense(2048, activation="relu"),
                                    keras.layers.Dense(2048, activation="relu"), keras.layers.Dense(10)])
        infer = tf.function(lambda batch: teacher(batch, training=False))
        passes, builds = [], []
        for _ in range(args.repeats):
            start = time.perf_counter()
            for x, _ in dataset:
                infer(x).numpy()
            passes.append(time.perf_counter() - start)
        for i in range(args.repeats):
            start = time.perf_counter()
            keras_kd.TeacherCache(teacher, os.path.join(tmp, f"cache{i}")).attach(dataset)
            builds.append(time.perf_counter() - start)
    warm_pass, warm_build = min(passes[1:]), min(builds[1:])
    print(f"{args.examples} examples from TFRecords, batch 256, TF {tf.__version__}, {os.cpu_count()} CPUs")
    print(f"teacher pass: warm {warm_pass:.3f} s (first {passes[0]:.3f} s)")
    print(f"cache build: warm {warm_build:.3f} s = {warm_build / warm_pass:.2f}x a warm pass; "
          f"first {builds[0]:.3f} s = {builds[0] / passes[0]:.2f}x the first pass")


if __name__ == "__main__":
    main()
