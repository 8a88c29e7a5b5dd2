"""Peak resident memory of writing and reading a large TeacherCache (run by a test; not a test module).

    python tests/cache_memory_job.py FOLDER

Prints one JSON line: the logits' size on disk and how far the process's peak
resident set rose above its level before building, and before reading.
"""

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.modules.setdefault("jax", None)  # as in conftest.py: TensorFlow would import the unused JAX
# As in multi_worker_job.py: Keras's scikit-learn wrappers and pyplot, unused here.
sys.modules.setdefault("sklearn", None)
sys.modules.setdefault("matplotlib.pyplot", None)

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

import keras_kd  # noqa: E402

CLASSES, EXAMPLES = 1000, 50_000  # 200 MB of float32 logits


def resident_kib(field):
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(field + ":"))


def reset_peak():
    """Sets the peak resident set (VmHWM) to the current one (Linux 4.0+)."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def main():
    folder = sys.argv[1]
    keras.utils.set_random_seed(0)
    teacher = keras.Sequential([keras.Input((4,)), keras.layers.Dense(CLASSES)])
    x = tf.data.Dataset.range(EXAMPLES).map(
        lambda i: tf.fill((4,), tf.cast(i % 7, tf.float32))).batch(500)
    # Imports, tracing and buffers of the first use are not what is measured.
    for _ in keras_kd.TeacherCache(teacher, os.path.join(folder, "warm-up")).attach(x.take(4)):
        pass
    cache = keras_kd.TeacherCache(teacher, os.path.join(folder, "cache"))
    reset_peak()
    before = resident_kib("VmRSS")
    attached = cache.attach(x)
    build = resident_kib("VmHWM") - before
    reset_peak()
    before = resident_kib("VmRSS")
    count = 0
    for _, target in attached:
        count += len(target[keras_kd.caching.targets.TEACHER_LOGITS])
    read = resident_kib("VmHWM") - before
    (entry,) = os.listdir(os.path.join(folder, "cache"))
    size = os.path.getsize(os.path.join(folder, "cache", entry, "logits.bin"))
    print(json.dumps({"logits_bytes": size, "examples": count,
                      "build_rise_bytes": 1024 * build, "read_rise_bytes": 1024 * read}))


if __name__ == "__main__":
    main()
