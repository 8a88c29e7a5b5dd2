"""How fast this machine is right now: the median of 8 short Distiller fits.

The shared CI-sized VM's speed moves by half within an hour, so a suite time
means little alone. Run this before and after a measurement and report both:

    python benchmarks/calibrate.py                # prints: CALIB median fit s 1.237
    python benchmarks/calibrate.py --no-grappler  # as in the test processes

Each fit: an `mlp-small` teacher and an `mlp-tiny` student on 1,078 random
64-feature examples, two epochs of batch 64 with a 719-example validation
pass (the shape of a test's fit: mostly tracing). One warm-up fit first.
"""

import sys
import time

sys.modules.setdefault("jax", None)  # TensorFlow would import an installed, unused JAX

import numpy as np  # noqa: E402

import keras_kd  # noqa: E402
from keras_kd.recipes import architectures  # noqa: E402


def one_fit(x, y):
    teacher = architectures.build("mlp-small", (64,), 10, seed=0)
    student = architectures.build("mlp-tiny", (64,), 10, seed=1)
    distiller = keras_kd.Distiller(student, teacher)
    distiller.compile("adam", metrics=["accuracy"])
    start = time.perf_counter()
    distiller.fit(x, y, epochs=2, batch_size=64, verbose=0, validation_data=(x[:719], y[:719]))
    return time.perf_counter() - start


def main():
    if "--no-grappler" in sys.argv:
        import tensorflow as tf

        tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": True})
    rng = np.random.default_rng(0)
    x = rng.normal(size=(1078, 64)).astype("float32")
    y = rng.integers(0, 10, 1078)
    one_fit(x, y)
    times = [one_fit(x, y) for _ in range(8)]
    print("CALIB median fit s", round(float(np.median(times)), 3))


if __name__ == "__main__":
    main()
