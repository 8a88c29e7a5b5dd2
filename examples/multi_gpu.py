"""Distill on every local GPU with MirroredStrategy (or on two logical CPUs to try it without GPUs).

    python examples/multi_gpu.py                   # all visible GPUs
    python examples/multi_gpu.py --cpus 2 --quick  # two logical CPU devices, for tests

Everything that creates variables (models, Distiller, compile) goes inside
`strategy.scope()`. `batch_size` is the GLOBAL batch: each of N replicas
gets batch_size / N examples, and the loss is averaged over the global batch,
so the result equals one device with the same global batch.
"""

import argparse

import tensorflow as tf


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cpus", type=int, default=0, help="split the CPU into N logical devices")
    parser.add_argument("--quick", action="store_true", help="tiny settings, for tests")
    parser.add_argument("--output", default="saved_models/digits_multi_gpu_student")
    args = parser.parse_args(argv)
    if args.cpus and len(tf.config.list_logical_devices("CPU")) < args.cpus:
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * args.cpus)

    import keras

    import keras_kd
    from keras_kd.recipes import architectures
    from keras_kd.recipes import data

    devices = [d.name for d in tf.config.list_logical_devices("GPU" if not args.cpus else "CPU")]
    if args.cpus:  # logical CPUs: reduce on one device rather than with collectives
        strategy = tf.distribute.MirroredStrategy(
            devices[: args.cpus], cross_device_ops=tf.distribute.ReductionToOneDevice()
        )
    else:
        strategy = tf.distribute.MirroredStrategy()
    print(f"{strategy.num_replicas_in_sync} replicas")
    digits = data.load_digits()
    epochs = 2 if args.quick else 40
    # Scale the global batch with the replicas; a larger batch may want a
    # proportionally larger learning rate.
    global_batch = 64 * strategy.num_replicas_in_sync

    with strategy.scope():
        teacher = architectures.build("mlp-medium", digits.input_shape, 10, seed=0)
        student = architectures.build("mlp-small", digits.input_shape, 10, seed=1)
    # Keras's own fit trains the teacher; the Distiller trains the student.
    with strategy.scope():
        teacher.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                        metrics=["accuracy"])
    teacher.fit(digits.x_train, digits.y_train, epochs=epochs, batch_size=global_batch, verbose=0)
    with strategy.scope():
        distiller = keras_kd.Distiller(student, teacher, temperature=4.0, alpha=0.9)
        distiller.compile(keras.optimizers.Adam(3e-3), metrics=["accuracy"])
    distiller.fit(digits.x_train, digits.y_train, epochs=epochs, batch_size=global_batch,
                  validation_data=(digits.x_test, digits.y_test), verbose=2)
    print("student SavedModel:", distiller.export_student(args.output))


if __name__ == "__main__":
    main()
