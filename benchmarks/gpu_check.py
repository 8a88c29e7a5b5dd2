"""GPU check: MirroredStrategy equivalence on one GPU split in two, and mixed_float16 distillation.

    bash benchmarks/gpu_check.sh          # runs this, then benchmarks/speed.py with and without XLA

Needs TensorFlow with GPU support. Prints what it measured; exits non-zero
when the two-replica weights or the mixed-precision run are off.
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

gpus = tf.config.list_physical_devices("GPU")
if not gpus:
    sys.exit("No GPU visible to TensorFlow: this check needs one.")
tf.config.set_logical_device_configuration(
    gpus[0], [tf.config.LogicalDeviceConfiguration(memory_limit=8192)] * 2
)

import keras  # noqa: E402

import keras_kd  # noqa: E402


def models(seed=7):
    keras.utils.set_random_seed(seed)
    teacher = keras.Sequential([keras.Input((64,)), keras.layers.Dense(512, activation="relu"),
                                keras.layers.Dense(10)])
    student = keras.Sequential([keras.Input((64,)), keras.layers.Dense(32, activation="relu"),
                                keras.layers.Dense(10)])
    return teacher, student


def train(strategy, x, y):
    with strategy.scope():
        teacher, student = models()
        distiller = keras_kd.Distiller(student, teacher, temperature=3.0, alpha=0.6)
        distiller.compile(keras.optimizers.SGD(0.2))
    history = distiller.fit(x, y, batch_size=64, epochs=3, shuffle=False, verbose=0)
    return student.get_weights(), history.history["loss"]


def main():
    print("TensorFlow", tf.__version__, "| Keras", keras.__version__, "|",
          tf.config.experimental.get_device_details(gpus[0]).get("device_name"))
    data = keras_kd.recipes.data.load_digits()
    x, y = data.x_train[:1024], data.y_train[:1024]
    logical = [d.name for d in tf.config.list_logical_devices("GPU")]
    one, loss_one = train(tf.distribute.OneDeviceStrategy(logical[0]), x, y)
    two, loss_two = train(tf.distribute.MirroredStrategy(logical[:2]), x, y)
    gap = max(float(np.abs(a - b).max()) for a, b in zip(one, two))
    print(f"MirroredStrategy over 2 logical GPUs vs one: max weight difference {gap:.2e}, "
          f"losses {loss_one} vs {loss_two}")

    keras.mixed_precision.set_global_policy("mixed_float16")
    teacher, student = models()
    distiller = keras_kd.Distiller(student, teacher, temperature=20.0, alpha=0.9)
    distiller.compile(keras.optimizers.Adam(1e-3), metrics=["accuracy"])
    history = distiller.fit(x * 40.0, y, batch_size=64, epochs=3, verbose=0)
    keras.mixed_precision.set_global_policy("float32")
    finite = all(np.all(np.isfinite(v)) for v in history.history.values())
    print(f"mixed_float16 at T=20 with large inputs: losses {history.history['loss']}, all finite: {finite}")
    return 0 if gap < 1e-4 and finite else 1


if __name__ == "__main__":
    sys.exit(main())
