"""The JAX or PyTorch half of tests/test_backends.py (not a test module): runs with TensorFlow blocked.

    KERAS_BACKEND=torch python tests/backend_job.py IN.npz OUT.npz
    KERAS_BACKEND=jax XLA_FLAGS=--xla_force_host_platform_device_count=2 \
        python tests/backend_job.py IN.npz OUT.npz --data-parallel --example EXAMPLE OUTPUT

IN.npz holds the data and the initial weights the TensorFlow half used; OUT.npz
gets every number the test compares, with the same keys as the TensorFlow half.
On JAX one process also runs the data-parallel comparison (`dp_*` keys; two
host devices) and `EXAMPLE --quick --output OUTPUT`, whose printed lines it
keeps (`example_stdout`): each JAX start costs seconds, so the checks share one.
"""

import sys

import numpy as np


def main():
    import keras

    import keras_kd
    from keras_kd.caching import targets

    assert keras.backend.backend() != "tensorflow"
    import importlib

    try:
        importlib.import_module("tensorflow")
    except ImportError:
        pass
    else:
        raise AssertionError("TensorFlow must not be importable in the JAX half")
    source, out = sys.argv[1:3]
    data = dict(np.load(source))
    results = run_scenarios(keras, keras_kd, targets, data)
    results["backend"] = np.array(keras.backend.backend())
    try:
        keras_kd.TeacherCache
    except keras_kd.backends.BackendError as error:
        results["teacher_cache_error"] = np.array(str(error))
    # TensorFlow-only modules refuse at import, with the same error (never an ImportError).
    for module in ("keras_kd.caching.teacher_cache", "keras_kd.distribute.strategies",
                   "keras_kd.models.tflite", "keras_kd.tuning", "keras_kd.app.distill"):
        try:
            importlib.import_module(module)
        except keras_kd.backends.BackendError as error:
            results[f"import_error_{module}"] = np.array(str(error))
    # Born-Again Networks: each generation a Distiller of the last.
    x, y = data["x"], data["y"]
    make = lambda: keras.Sequential([keras.Input((x.shape[1],)), keras.layers.Dense(3)])  # noqa: E731
    ban = keras_kd.self_distill(make, x, y, (x, y), generations=2, epochs=2, batch_size=16)
    results["ban_generations"] = np.array(len(ban.models))
    results["ban_accuracy"] = np.array([row["val_accuracy"] for row in ban.table])
    if "--data-parallel" in sys.argv:
        parallel = data_parallel(keras, keras_kd, {"x": data["dp_x"], "y": data["dp_y"]})
        results.update({f"dp_{key}": value for key, value in parallel.items()})
    if "--example" in sys.argv:
        example, output = sys.argv[sys.argv.index("--example") + 1:][:2]
        results["example_stdout"] = np.array(run_example(example, output))
    np.savez(out, **results)


def run_example(example, output):
    """Runs `example --quick --output OUTPUT` as its own script would; returns what it printed."""
    import contextlib
    import io
    import runpy

    printed = io.StringIO()
    sys.argv = [example, "--quick", "--output", output]
    with contextlib.redirect_stdout(printed):
        runpy.run_path(example, run_name="__main__")
    return printed.getvalue()


def data_parallel(keras, keras_kd, data):
    """The same DIST + standardization steps on one device and under DataParallel over two."""
    import jax

    x, y = data["x"], data["y"]
    results = {"devices": np.array(len(jax.devices()))}
    for name, distribution in (("one", None),
                               ("two", keras.distribution.DataParallel(devices=jax.devices()))):
        keras.distribution.set_distribution(distribution)
        keras.utils.set_random_seed(0)
        teacher = keras.Sequential([keras.Input((x.shape[1],)),
                                    keras.layers.Dense(16, activation="relu"), keras.layers.Dense(3)])
        student = keras.Sequential([keras.Input((x.shape[1],)), keras.layers.Dense(3)])
        distiller = keras_kd.Distiller(student, teacher, temperature=3.0, alpha=0.7,
                                       distillation_loss="dist", standardize_logits=True)
        distiller.compile(keras.optimizers.SGD(0.5))
        results[f"{name}_start"] = student.get_weights()[0]
        history = distiller.fit(x, y, epochs=2, batch_size=16, shuffle=False, verbose=0)
        keras.distribution.set_distribution(None)
        results[f"{name}_loss"] = np.array(history.history["loss"])
        for i, w in enumerate(student.get_weights()):
            results[f"{name}_{i}"] = w
    return results


def run_scenarios(keras, keras_kd, targets, data):
    """Every scenario of the comparison; the TensorFlow half calls the same function."""
    from keras_kd.backends import BackendError

    x, y = data["x"], data["y"]
    results = {}

    def models():
        teacher = mlp("teacher", 16)
        other = mlp("other", 4)
        student = mlp("student", 8)
        for model in (teacher, other, student):
            model.set_weights([data[f"{model.name}_{i}"] for i in range(4)])
        return teacher, other, student

    def mlp(name, width):
        inputs = keras.Input((x.shape[1],))
        h = keras.layers.Dense(width, activation="relu", name=f"{name}_hidden")(inputs)
        return keras.Model(inputs, keras.layers.Dense(3, name=f"{name}_logits")(h), name=name)

    # The loss of one batch, for each kind of soft term.
    kinds = {
        "kl": dict(),
        "dkd": dict(distillation_loss="dkd", dkd_beta=4.0),
        "dist_ls": dict(distillation_loss="dist", dist_gamma=2.0, standardize_logits=True),
        "two_teachers": dict(teacher_weights=[1.0, 3.0]),
        "hint": dict(hints=[("student_hidden", "teacher_hidden")]),
    }
    for name, kwargs in kinds.items():
        teacher, other, student = models()
        teachers = [teacher, other] if name == "two_teachers" else teacher
        distiller = keras_kd.Distiller(student, teachers, temperature=3.0, alpha=0.7, **kwargs)
        distiller.compile(keras.optimizers.SGD(0.1))
        if name == "hint":  # the projection's initial weights come from the TF half too
            distiller.hint_projections[0].set_weights([data["projection_0"], data["projection_1"]])
        loss = distiller.compute_loss(x, targets.pack(y, distiller.teacher_logits(x)),
                                      distiller.student(x))
        results[f"loss_{name}"] = np.asarray(keras.ops.convert_to_numpy(loss), "float64")

    # A few SGD steps: distilled, and alpha = 0 against plain fit.
    teacher, _, student = models()
    before = [w.copy() for w in teacher.get_weights()]
    distiller = keras_kd.Distiller(student, teacher, temperature=3.0, alpha=0.7)
    distiller.compile(keras.optimizers.SGD(0.1), metrics=["accuracy"])
    history = distiller.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0,
                            validation_data=(x, y))
    for i, w in enumerate(student.get_weights()):
        results[f"distilled_{i}"] = w
    results["history_loss"] = np.array(history.history["loss"])
    results["history_val_accuracy"] = np.array(history.history["val_accuracy"])
    results["teacher_unchanged"] = np.array(all(
        np.array_equal(a, b) for a, b in zip(before, teacher.get_weights())))
    results["predict"] = distiller.predict(x[:4], verbose=0)
    results["evaluate_loss"] = np.array(distiller.evaluate(x, y, verbose=0, return_dict=True)["loss"])
    _, _, scratch = models()
    zero = keras_kd.Distiller(scratch, models()[0], temperature=3.0, alpha=0.0)
    zero.compile(keras.optimizers.SGD(0.1))
    zero.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    _, _, plain = models()
    plain.compile(keras.optimizers.SGD(0.1),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    plain.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    results["alpha0_vs_plain"] = np.array(max(
        np.abs(a - b).max() for a, b in zip(scratch.get_weights(), plain.get_weights())))

    # Deep mutual learning: both peers from the same weights as on TensorFlow.
    _, other, student = models()
    dml = keras_kd.MutualDistiller([student, other], temperature=2.0, alpha=0.5)
    dml.compile(keras.optimizers.SGD(0.1), metrics=["accuracy"])
    history = dml.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0,
                      validation_data=(x, y))
    for i, w in enumerate(student.get_weights() + other.get_weights()):
        results[f"dml_{i}"] = w
    for key in ("loss", "peer_1_loss", "val_peer_0_accuracy", "val_loss"):
        results[f"dml_{key}"] = np.array(history.history[key])
    results["dml_predict"] = dml.predict(x[:4], verbose=0)

    # Save and reload, and the student as .keras.
    folder = data["folder"].item()
    distiller.save(f"{folder}/distiller.keras")
    reloaded = keras.saving.load_model(f"{folder}/distiller.keras")
    results["reloaded_predict"] = reloaded.predict(x[:4], verbose=0)
    distiller.export_student(f"{folder}/student.keras")
    results["student_file_predict"] = keras.saving.load_model(
        f"{folder}/student.keras").predict(x[:4], verbose=0)
    try:
        distiller.export_student(f"{folder}/student_sm")
    except BackendError as error:
        results["saved_model_error"] = np.array(str(error))
    try:
        distiller.fit(x, y, epochs=1, verbose=0, cache_teacher=f"{folder}/cache")
    except BackendError as error:
        results["cache_folder_error"] = np.array(str(error))
    # A schedule moves T between epochs on this backend too.
    schedule = keras_kd.DistillationSchedule(temperature=keras_kd.curriculum(1.0, 2.0, 1))
    distiller.fit(x, y, epochs=2, verbose=0, callbacks=[schedule])
    results["temperature_after_schedule"] = np.array(distiller.temperature)
    return results


if __name__ == "__main__":
    sys.modules["tensorflow"] = None  # as on a machine without TensorFlow: importing it fails
    main()
