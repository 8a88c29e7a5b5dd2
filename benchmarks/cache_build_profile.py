"""Where `TeacherCache.attach` spends its time on a tf.data pipeline that embeds 63 MB of arrays.

    python benchmarks/cache_build_profile.py

Prints one warm teacher pass over the pipeline, then, per repeat, the time of
inspecting the pipeline (the walk over its stages: randomness check, fingerprint),
computing the key, building the cache (one teacher pass plus writing) and
attaching it, and what inspecting through TF's serialized graph (the fallback
for unknown stages) would have cost. Same teacher and data as
benchmarks/speed.py's defaults.
"""

import os
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import keras_kd  # noqa: E402
from keras_kd.caching import pipelines  # noqa: E402
from keras_kd.models.tools import weights_fingerprint  # noqa: E402


def main():
    keras.utils.set_random_seed(0)
    teacher = keras.Sequential([keras.Input((784,)), keras.layers.Dense(2048, activation="relu"),
                                keras.layers.Dense(2048, activation="relu"), keras.layers.Dense(10)])
    x = np.random.rand(20_000, 784).astype("float32")
    y = np.random.randint(0, 10, 20_000)
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(256)
    infer = tf.function(lambda batch: teacher(batch, training=False))
    for _ in range(2):
        start = time.perf_counter()
        for batch_x, _ in dataset:
            infer(batch_x).numpy()
        print(f"teacher pass {time.perf_counter() - start:.3f} s")
    for _ in range(2):
        with tempfile.TemporaryDirectory() as tmp:
            cache = keras_kd.TeacherCache(teacher, tmp)
            t0 = time.perf_counter()
            info = pipelines.inspect(dataset)
            t1 = time.perf_counter()
            fingerprint = weights_fingerprint(teacher)
            entry = os.path.join(tmp, cache.key(dataset, info, fingerprint))
            t2 = time.perf_counter()
            meta = cache._build(dataset, entry, fingerprint, info.batched)
            t3 = time.perf_counter()
            cache._zip(dataset, entry, meta)
            t4 = time.perf_counter()
            pipelines._fingerprint(pipelines._serialized_graph(dataset))
            t5 = time.perf_counter()
            print(f"inspect {t1 - t0:.3f} s, key {t2 - t1:.3f} s, build {t3 - t2:.3f} s, "
                  f"attach {t4 - t3:.3f} s; for comparison, TF's graph serialization and "
                  f"its fingerprint {t5 - t4:.3f} s")


if __name__ == "__main__":
    main()
