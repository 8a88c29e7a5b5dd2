"""Peak memory of distillation with a disk cache against plain training, on data streamed from disk.

    python benchmarks/memory.py                  # 100k examples of 784 floats (300 MB of TFRecords)
    python benchmarks/memory.py --examples 20000

Writes a TFRecord file, then trains in separate processes (so each peak is
its own): the student alone, and keras_kd.Distiller with a TeacherCache on
disk, both streaming the file. Prints each process's peak resident memory.
"""

import argparse
import os
import resource
import subprocess
import sys
import tempfile

FEATURES, CLASSES = 784, 10


def write_records(path, examples):
    import numpy as np
    import tensorflow as tf

    rng = np.random.default_rng(0)
    with tf.io.TFRecordWriter(path) as writer:
        for start in range(0, examples, 1000):
            x = rng.normal(size=(1000, FEATURES)).astype("float32")
            y = rng.integers(0, CLASSES, 1000)
            for row, label in zip(x, y):
                features = {
                    "x": tf.train.Feature(float_list=tf.train.FloatList(value=row)),
                    "y": tf.train.Feature(int64_list=tf.train.Int64List(value=[label])),
                }
                writer.write(tf.train.Example(features=tf.train.Features(feature=features)).SerializeToString())


def train(mode, path, cache_dir):
    import keras
    import tensorflow as tf

    import keras_kd

    spec = {"x": tf.io.FixedLenFeature([FEATURES], tf.float32), "y": tf.io.FixedLenFeature([], tf.int64)}
    dataset = (
        tf.data.TFRecordDataset(path)
        .batch(256)
        .map(lambda r: tf.io.parse_example(r, spec))
        .map(lambda e: (e["x"], tf.cast(e["y"], tf.int32)))
    )

    def mlp(hidden):
        layers = [keras.Input((FEATURES,))] + [keras.layers.Dense(h, activation="relu") for h in hidden]
        return keras.Sequential(layers + [keras.layers.Dense(CLASSES)])

    keras.utils.set_random_seed(0)
    student = mlp((256, 256))
    if mode == "plain":
        student.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        student.fit(dataset, epochs=3, verbose=0)
    else:
        teacher = mlp((2048, 2048))
        distiller = keras_kd.Distiller(student, teacher, temperature=4.0, alpha=0.9)
        distiller.compile("adam")
        distiller.fit(dataset, epochs=3, verbose=0, cache_teacher=keras_kd.TeacherCache(teacher, cache_dir))
    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=100_000)
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        train(*args.child)
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "data.tfrecord")
        write_records(path, args.examples)
        size = os.path.getsize(path) / 2**20
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
        peaks = {}
        for mode in ("plain", "distill-cached"):
            out = subprocess.run(
                [sys.executable, __file__, "--child", mode, path, os.path.join(tmp, "cache")],
                capture_output=True, text=True, env=env, check=True,
            ).stdout
            peaks[mode] = int(out.strip().splitlines()[-1])
        print(f"{args.examples} examples, {size:.0f} MiB of TFRecords, 3 epochs, batch 256")
        print("| run | peak resident memory (MiB) | x plain |")
        print("|---|---|---|")
        for mode, peak in peaks.items():
            print(f"| {mode} | {peak} | {peak / peaks['plain']:.2f} |")


if __name__ == "__main__":
    main()
