"""The Distiller's training step, checked against plain Keras and float64 references."""

import types

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_kd
from helpers import tiny_data, tiny_models
from test_losses import reference_kd


def compiled(student, teacher, temperature=2.0, alpha=0.5, optimizer=None, **kwargs):
    distiller = keras_kd.Distiller(student, teacher, temperature=temperature, alpha=alpha)
    distiller.compile(
        optimizer=optimizer or keras.optimizers.SGD(0.1),
        metrics=["accuracy"],
        **kwargs,
    )
    return distiller


def test_call_and_predict_are_the_students():
    teacher, student = tiny_models()
    x, _ = tiny_data()
    distiller = compiled(student, teacher)
    np.testing.assert_array_equal(
        distiller.predict(x, verbose=0), student.predict(x, verbose=0)
    )
    assert distiller.student is student and distiller.teacher is teacher


def test_loss_matches_float64_reference():
    teacher, student = tiny_models(student_width=4)
    x, y = tiny_data(n=32)
    distiller = compiled(student, teacher, temperature=3.0, alpha=0.7)
    result = distiller.evaluate(x, y, batch_size=32, verbose=0, return_dict=True)
    t = teacher.predict(x, verbose=0).astype(np.float64)
    s = student.predict(x, verbose=0).astype(np.float64)
    kd = reference_kd(t, s, 3.0).mean()
    log_q = s - s.max(-1, keepdims=True)
    log_q -= np.log(np.exp(log_q).sum(-1, keepdims=True))
    ce = -log_q[np.arange(32), y].mean()
    np.testing.assert_allclose(result["distillation_loss"], kd, rtol=1e-5)
    np.testing.assert_allclose(result["student_loss"], ce, rtol=1e-5)
    np.testing.assert_allclose(result["loss"], 0.7 * kd + 0.3 * ce, rtol=1e-5)


def test_alpha_zero_is_ordinary_student_training():
    teacher, student = tiny_models(student_width=16)
    x, y = tiny_data(n=96)
    plain = keras.models.clone_model(student)
    plain.set_weights(student.get_weights())
    initial = [w.copy() for w in student.get_weights()]
    distiller = compiled(student, teacher, alpha=0.0, optimizer=keras.optimizers.Adam(0.01))
    distiller.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0)
    plain.compile(
        keras.optimizers.Adam(0.01),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    plain.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0)
    for got, want in zip(student.get_weights(), plain.get_weights()):
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-6)
    assert not np.allclose(student.get_weights()[0], initial[0])  # it trained


def test_teacher_never_changes_and_only_the_student_trains():
    teacher, student = tiny_models(student_width=8)
    x, y = tiny_data()
    teacher_before = [w.copy() for w in teacher.get_weights()]
    student_before = [w.copy() for w in student.get_weights()]
    distiller = compiled(student, teacher)
    distiller.fit(x, y, epochs=2, batch_size=16, verbose=0)
    for got, want in zip(teacher.get_weights(), teacher_before):
        np.testing.assert_array_equal(got, want)
    assert all(
        not np.array_equal(a, b) for a, b in zip(student.get_weights(), student_before)
    )
    trainable = {id(v) for v in distiller.trainable_variables}
    assert trainable == {id(v) for v in student.trainable_variables}


def test_history_reports_every_term_for_training_and_validation():
    teacher, student = tiny_models()
    x, y = tiny_data()
    distiller = compiled(student, teacher)
    history = distiller.fit(x, y, epochs=1, validation_data=(x, y), verbose=0)
    for key in ("loss", "student_loss", "distillation_loss", "accuracy"):
        assert key in history.history and "val_" + key in history.history


def test_cached_and_online_teachers_train_identically():
    x, y = tiny_data(n=80)
    weights = []
    for cache in (True, False):
        teacher, student = tiny_models(student_width=8, seed=4)
        distiller = compiled(student, teacher, alpha=0.8)
        distiller.fit(
            x, y, batch_size=16, epochs=3, shuffle=False, verbose=0, cache_teacher=cache
        )
        weights.append(student.get_weights())
    for cached, online in zip(*weights):
        np.testing.assert_allclose(cached, online, atol=1e-6)


class CountingTeacher(keras.Model):
    """Wraps a model and counts the examples it sees.

    The count is kept outside the model's weights, so that it does not change
    the teacher's fingerprint (and with it the teacher-cache key).
    """

    def __init__(self, inner):
        super().__init__()
        self.inner = inner
        self._count = types.SimpleNamespace(seen=tf.Variable(0, dtype="int64", trainable=False))

    @property
    def seen(self):
        return self._count.seen

    def call(self, x, training=False):
        self.seen.assign_add(tf.cast(tf.shape(x)[0], "int64"))
        return self.inner(x, training=training)


def test_arrays_run_the_teacher_once_not_every_epoch():
    teacher, student = tiny_models()
    x, y = tiny_data(n=64)
    counting = CountingTeacher(teacher)
    counting(x[:1])
    distiller = compiled(student, counting)
    probe = int(counting.seen.numpy())
    distiller.fit(x, y, batch_size=16, epochs=5, verbose=0)
    # One pass to cache (the probe of the input checks aside), not 5 epochs.
    assert int(counting.seen.numpy()) - probe <= 64 + 64


def test_temperature_and_alpha_change_without_retracing():
    teacher, student = tiny_models()
    x, y = tiny_data(n=32)
    distiller = compiled(student, teacher, temperature=2.0, alpha=0.5)
    traces = []
    train_step = distiller.train_step
    distiller.train_step = lambda data: traces.append(1) or train_step(data)
    distiller.fit(x, y, batch_size=32, epochs=1, verbose=0)
    train_function = distiller.train_function
    traced = len(traces)
    distiller.temperature, distiller.alpha = 8.0, 1.0
    schedule = keras_kd.DistillationSchedule(temperature=lambda e: 8.0 + e)
    history = distiller.fit(x, y, batch_size=32, epochs=3, verbose=0, callbacks=[schedule])
    assert distiller.train_function is train_function
    # One trace: the optimizer and metrics are built before it (a variable
    # created while tracing makes tf.function trace the step a second time).
    assert traced == 1 and len(traces) == traced
    assert distiller.temperature == 10.0 and distiller.alpha == 1.0
    # With alpha = 1 the loss is the distillation term at the new temperature.
    np.testing.assert_allclose(history.history["loss"], history.history["distillation_loss"], rtol=1e-6)
    result = distiller.evaluate(x, y, batch_size=32, verbose=0, return_dict=True)
    t = teacher.predict(x, verbose=0)
    s = student.predict(x, verbose=0)
    np.testing.assert_allclose(result["loss"], reference_kd(t, s, 10.0).mean(), rtol=1e-5)


def test_alpha_one_trains_on_unlabeled_arrays_and_datasets():
    teacher, student = tiny_models()
    x, _ = tiny_data()
    distiller = compiled(student, teacher, alpha=1.0)
    before = student.get_weights()[0].copy()
    first = distiller.fit(x, epochs=3, batch_size=16, verbose=0).history["loss"]
    dataset = tf.data.Dataset.from_tensor_slices(x).batch(16)
    second = distiller.fit(dataset, epochs=1, verbose=0).history["loss"]
    assert first[-1] < first[0] and second[0] < first[0]
    assert not np.array_equal(before, student.get_weights()[0])


def test_a_dataset_runs_the_teacher_once_when_cached_and_every_step_when_not(tmp_path, monkeypatch):
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # where the automatic cache goes
    x, y = tiny_data(n=64)
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(16)
    probe = 16  # the input check runs the teacher on the first batch
    seen, losses = {}, {}
    for cache_teacher in (True, False):
        keras.utils.set_random_seed(0)
        teacher, student = tiny_models(student_width=8)
        counting = CountingTeacher(teacher)
        distiller = compiled(student, counting)
        history = distiller.fit(dataset, epochs=4, verbose=0, cache_teacher=cache_teacher)
        seen[cache_teacher] = int(counting.seen.numpy()) - probe
        losses[cache_teacher] = history.history["loss"]
    # The automatic temporary disk cache: one pass over the data for 4 epochs,
    # and the folder is gone afterwards. Without it: every batch of every epoch.
    assert seen == {True: 64, False: 4 * 64}
    assert list(tmp_path.iterdir()) == []
    np.testing.assert_allclose(losses[True], losses[False], rtol=1e-5)
    assert losses[True][-1] < losses[True][0]


def test_keras_file_round_trip(tmp_path):
    teacher, student = tiny_models(student_width=8)
    x, y = tiny_data()
    distiller = compiled(student, teacher, temperature=3.5, alpha=0.25)
    distiller.fit(x, y, epochs=1, verbose=0)
    path = str(tmp_path / "distiller.keras")
    distiller.save(path)
    restored = keras.saving.load_model(path)
    assert isinstance(restored, keras_kd.Distiller)
    assert (restored.temperature, restored.alpha) == (3.5, 0.25)
    np.testing.assert_array_equal(restored.predict(x, verbose=0), distiller.predict(x, verbose=0))
    np.testing.assert_array_equal(
        restored.teacher.predict(x, verbose=0), teacher.predict(x, verbose=0)
    )
    restored.fit(x, y, epochs=1, verbose=0)  # compiled from the saved config


def test_config_round_trip():
    teacher, student = tiny_models()
    distiller = keras_kd.Distiller(student, teacher, temperature=6.0, alpha=0.3)
    clone = keras_kd.Distiller.from_config(distiller.get_config())
    assert (clone.temperature, clone.alpha) == (6.0, 0.3)
    assert clone.student.count_params() == student.count_params()


def _folder_size(path):
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def test_export_student_holds_the_student_alone(tmp_path):
    teacher, student = tiny_models(inputs=64, teacher_width=4096, student_width=8)
    x, y = tiny_data(inputs=64)
    distiller = compiled(student, teacher)
    distiller.fit(x, y, epochs=1, verbose=0)
    path = tmp_path / "student"
    distiller.export_student(path)
    loaded = tf.saved_model.load(str(path))
    np.testing.assert_allclose(
        loaded.serve(x).numpy(), student.predict(x, verbose=0), rtol=1e-6, atol=1e-6
    )
    np.testing.assert_allclose(
        loaded.signatures["serving_default"](tf.constant(x))["output_0"].numpy(),
        student.predict(x, verbose=0),
        rtol=1e-6,
        atol=1e-6,
    )
    student.export(str(tmp_path / "alone"), verbose=False)
    teacher.export(str(tmp_path / "teacher"), verbose=False)
    size = _folder_size(path)
    assert size == pytest.approx(_folder_size(tmp_path / "alone"), rel=0.05)
    assert size < _folder_size(tmp_path / "teacher") / 10


def test_failed_export_keeps_the_previous_one(tmp_path, monkeypatch):
    teacher, student = tiny_models()
    x, _ = tiny_data()
    distiller = keras_kd.Distiller(student, teacher)
    path = tmp_path / "student"
    distiller.export_student(path)
    want = student.predict(x, verbose=0)
    student.set_weights([w + 1.0 for w in student.get_weights()])  # a new student fails to export

    def broken_export(filepath, **kwargs):
        import os

        os.makedirs(filepath)
        open(os.path.join(filepath, "saved_model.pb"), "w").write("half")
        raise RuntimeError("disk full")

    monkeypatch.setattr(student, "export", broken_export)
    with pytest.raises(RuntimeError, match="disk full"):
        distiller.export_student(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["student"]
    loaded = tf.saved_model.load(str(path))  # the previous student, whole
    np.testing.assert_allclose(loaded.serve(tf.constant(x)).numpy(), want, rtol=1e-6, atol=1e-6)


def test_nan_loss_stops_training_with_a_message():
    teacher, student = tiny_models()
    x, y = tiny_data()
    x[5, 0] = np.nan
    distiller = compiled(student, teacher)
    with pytest.raises(FloatingPointError, match="NaN or infinite in epoch 1.*not applied"):
        distiller.fit(x, y, epochs=3, batch_size=8, verbose=0)
    assert all(np.all(np.isfinite(w)) for w in student.get_weights())


def test_nan_loss_under_xla_stops_at_the_end_of_the_epoch():
    teacher, student = tiny_models()
    x, y = tiny_data()
    x[5, 0] = np.nan
    distiller = compiled(student, teacher, jit_compile=True)
    with pytest.raises(FloatingPointError, match="NaN or infinite in epoch 1"):
        distiller.fit(x, y, epochs=3, batch_size=8, verbose=0)


def test_student_regularization_is_added_once():
    keras.utils.set_random_seed(0)
    teacher, _ = tiny_models()
    student = keras.Sequential(
        [keras.Input((8,)), keras.layers.Dense(3, kernel_regularizer=keras.regularizers.L2(0.5))]
    )
    x, y = tiny_data(n=16)
    distiller = compiled(student, teacher, alpha=0.5)
    result = distiller.evaluate(x, y, batch_size=16, verbose=0, return_dict=True)
    l2 = 0.5 * np.sum(student.get_weights()[0] ** 2)
    expected = 0.5 * result["distillation_loss"] + 0.5 * result["student_loss"] + l2
    np.testing.assert_allclose(result["loss"], expected, rtol=1e-5)


def test_strip_softmax_gives_the_logits():
    keras.utils.set_random_seed(0)
    probs = keras.Sequential([keras.Input((8,)), keras.layers.Dense(3, activation="softmax")])
    logits = keras_kd.strip_softmax(probs)
    x, _ = tiny_data()
    np.testing.assert_allclose(
        keras.ops.softmax(logits.predict(x, verbose=0)), probs.predict(x, verbose=0), atol=1e-6
    )
    inputs = keras.Input((8,))
    functional = keras.Model(inputs, keras.layers.Softmax()(keras.layers.Dense(3)(inputs)))
    stripped = keras_kd.strip_softmax(functional)
    assert not keras_kd.distillers.checks.ends_in_softmax(stripped)
    keras_kd.Distiller(tiny_models()[1], stripped)


def test_xla_gives_the_same_numbers():
    x, y = tiny_data(n=64)
    results = []
    for jit in (False, True):
        teacher, student = tiny_models(student_width=8, seed=9)
        distiller = compiled(student, teacher, jit_compile=jit)
        history = distiller.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0)
        results.append((student.get_weights(), history.history["loss"]))
    (w_plain, l_plain), (w_xla, l_xla) = results
    for a, b in zip(w_plain, w_xla):
        np.testing.assert_allclose(a, b, atol=1e-5)
    np.testing.assert_allclose(l_plain, l_xla, rtol=1e-5)


def test_the_teacher_inference_function_is_traced_once_across_fits_and_freed_with_the_model():
    import gc

    from keras_kd.models import tools

    teacher, student = tiny_models(seed=3)
    x, y = tiny_data(n=40)
    distiller = keras_kd.Distiller(student, teacher)
    distiller.compile("sgd")
    distiller.fit(x, y, batch_size=40, epochs=1, verbose=0)
    function = tools.inference_function(teacher)
    traces = function.experimental_get_tracing_count()
    assert traces >= 1  # the first fit ran the teacher through it
    distiller.fit(x, y, batch_size=40, epochs=1, verbose=0)
    assert tools.inference_function(teacher) is function
    assert function.experimental_get_tracing_count() == traces  # no new trace
    held = len(tools._INFERENCE)
    del distiller, teacher, function
    gc.collect()
    assert len(tools._INFERENCE) < held  # the entry went with its model


def test_fit_on_a_dataset_raises_no_keras_shuffle_warning():
    """Keras warns when `shuffle` is passed with a dataset; Distiller.fit must not pass it."""
    import warnings

    x, y = tiny_data(n=32)
    teacher, student = tiny_models()
    distiller = keras_kd.Distiller(student, teacher)
    distiller.compile("sgd")
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(16)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        distiller.fit(dataset, epochs=2, verbose=0)


def _stack(name, depth, seed):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((4,))
    inner_in = keras.Input((4,))
    h = keras.layers.Dense(6, name="embed")(inner_in)
    for i in range(depth):
        h = keras.layers.Dense(6, activation="relu", name=f"block_{i}")(h)
    body = keras.Model(inner_in, h, name=f"{name}_body")  # nested, as a KerasHub backbone
    return keras.Model(inputs, keras.layers.Dense(3, name="head")(body(inputs)), name=name)


def test_copy_teacher_layers_takes_every_other_block_and_refuses_mismatches():
    teacher, student = _stack("teacher", 4, 0), _stack("student", 2, 1)
    copied = keras_kd.copy_teacher_layers(student, teacher, {"block_0": "block_0", "block_1": "block_2"})
    assert copied == [("embed", "embed"), ("block_0", "block_0"), ("block_1", "block_2"),
                      ("head", "head")]
    for s, t in (("embed", "embed"), ("block_1", "block_2"), ("head", "head")):
        for a, b in zip(student.get_layer("student_body").get_layer(s).get_weights()
                        if s != "head" else student.get_layer(s).get_weights(),
                        teacher.get_layer("teacher_body").get_layer(t).get_weights()
                        if t != "head" else teacher.get_layer(t).get_weights()):
            np.testing.assert_array_equal(a, b)
    x = np.random.default_rng(0).normal(size=(5, 4)).astype("float32")
    assert not np.allclose(student(x), teacher(x))  # blocks 1 and 3 are not in the student
    with pytest.raises(ValueError, match=r"'block_9', but the teacher has no layer"):
        keras_kd.copy_teacher_layers(student, teacher, {"block_0": "block_9"})
    wide = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, name="embed")])
    with pytest.raises(ValueError, match=r"'embed' has weights of shapes .*teacher's widths"):
        keras_kd.copy_teacher_layers(wide, teacher)
