"""Multi-teacher, decoupled KD, feature hints, mutual learning and self-distillation."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_kd
from keras_kd import losses
from keras_kd.caching import targets
from helpers import sequential_noise, tiny_data
from references64 import ce64, dkd64, kl64, softmax64

T = 3.0


def functional(name, inputs=8, hidden=16, classes=3, seed=0):
    keras.utils.set_random_seed(seed)
    x = keras.Input((inputs,))
    h = keras.layers.Dense(hidden, activation="relu", name=f"{name}_hidden")(x)
    return keras.Model(x, keras.layers.Dense(classes, name=f"{name}_logits")(h), name=name)


def fixed_logits(rows=6, classes=3, seed=1, scale=3.0):
    return np.random.default_rng(seed).normal(scale=scale, size=(rows, classes)).astype("float32")


# Loss functions against float64 NumPy.


def test_combine_teachers_is_the_weighted_mixture_of_tempered_softmaxes():
    t = np.stack([fixed_logits(seed=1), fixed_logits(seed=2, scale=10.0)], axis=1)
    weights = np.array([0.3, 0.7])
    mixed = keras.ops.convert_to_numpy(losses.combine_teachers(t, weights, T))
    expected = 0.3 * softmax64(t[:, 0], T) + 0.7 * softmax64(t[:, 1], T)
    np.testing.assert_allclose(softmax64(mixed, T), expected, rtol=1e-5)


def test_entropy_weights_favour_the_confident_teacher():
    t = np.stack([fixed_logits(seed=1), fixed_logits(seed=2, scale=0.1)], axis=1)
    weights = keras.ops.convert_to_numpy(losses.entropy_weights(t, T))
    p = softmax64(t, T)
    entropy = -(p * np.log(p)).sum(-1)
    expected = np.exp(-entropy) / np.exp(-entropy).sum(-1, keepdims=True)
    np.testing.assert_allclose(weights, expected, rtol=1e-5)
    assert np.all(weights[:, 0] > weights[:, 1])  # scale 3 is surer than scale 0.1


@pytest.mark.parametrize("kind", ["mse", "cosine"])
def test_hint_loss_matches_numpy(kind):
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(2, 5, 4, 4, 3))
    got = keras.ops.convert_to_numpy(losses.hint_loss(a, b, kind))
    a, b = a.reshape(5, -1), b.reshape(5, -1)
    if kind == "mse":
        expected = ((a - b) ** 2).mean(-1)
    else:
        expected = 1 - (a * b).sum(-1) / np.sqrt((a * a).sum(-1) * (b * b).sum(-1))
    np.testing.assert_allclose(got, expected, rtol=1e-5)


def distiller_loss(distiller, teacher_rows, student_logits, labels):
    distiller.compile(optimizer="sgd")
    y = targets.pack(labels, teacher_rows)
    x = np.zeros((len(labels), 8), "float32")
    return float(distiller.compute_loss(x, y, student_logits))


@pytest.mark.parametrize("mode", ["average", "sum", "entropy"])
def test_multi_teacher_loss_matches_numpy(mode):
    t1, t2 = fixed_logits(seed=1), fixed_logits(seed=2, scale=6.0)
    s, labels = fixed_logits(seed=3), np.array([0, 1, 2, 0, 1, 2])
    distiller = keras_kd.Distiller(
        functional("student"), [functional("a"), functional("b", hidden=4)], temperature=T,
        alpha=0.7, teacher_weights="entropy" if mode == "entropy" else [1.0, 3.0],
        teacher_combination="sum" if mode == "sum" else "average",
    )
    got = distiller_loss(distiller, np.concatenate([t1, t2], -1), s, labels)
    p1, p2, q = softmax64(t1, T), softmax64(t2, T), softmax64(s, T)
    if mode == "entropy":
        h = np.stack([-(p * np.log(p)).sum(-1) for p in (p1, p2)], 1)
        w = np.exp(-h) / np.exp(-h).sum(-1, keepdims=True)
    else:
        w = np.tile([0.25, 0.75], (len(s), 1))
    if mode == "sum":
        soft = T**2 * (w[:, 0] * kl64(p1, q) + w[:, 1] * kl64(p2, q))
    else:
        soft = T**2 * kl64(w[:, :1] * p1 + w[:, 1:] * p2, q)
    expected = 0.7 * soft.mean() + 0.3 * ce64(labels, s).mean()
    np.testing.assert_allclose(got, expected, rtol=1e-5)


def test_dkd_loss_in_the_distiller_matches_numpy():
    t, s, labels = fixed_logits(seed=1), fixed_logits(seed=3), np.array([0, 1, 2, 2, 1, 0])
    distiller = keras_kd.Distiller(
        functional("student"), functional("teacher"), temperature=T, alpha=0.6,
        distillation_loss="dkd", dkd_alpha=1.5, dkd_beta=4.0,
    )
    got = distiller_loss(distiller, t, s, labels)
    dkd = dkd64(t, s, labels, T, alpha=1.5, beta=4.0)
    expected = 0.6 * dkd.mean() + 0.4 * ce64(labels, s).mean()
    np.testing.assert_allclose(got, expected, rtol=1e-5)


def test_dkd_warmup_ramps_the_distillation_term():
    x, y = tiny_data(n=32)
    distiller = keras_kd.Distiller(
        functional("student"), functional("teacher"), alpha=1.0,
        distillation_loss="dkd", warmup_epochs=4,
    )
    distiller.compile(keras.optimizers.SGD(0.0))  # weights fixed: only the factor moves
    history = distiller.fit(x, y, epochs=4, batch_size=32, verbose=0).history
    soft = np.array(history["distillation_loss"])
    np.testing.assert_allclose(history["loss"], soft * np.array([1, 2, 3, 4]) / 4, rtol=1e-5)


def test_hint_term_matches_numpy_with_the_projection():
    student, teacher = functional("student", hidden=5), functional("teacher", hidden=7)
    distiller = keras_kd.Distiller(
        student, teacher, alpha=1.0,
        hints=[keras_kd.FeatureHint("student_hidden", "teacher_hidden", weight=2.0)],
    )
    distiller.compile(optimizer="sgd")
    x, y = tiny_data(n=6)
    rows = distiller.teacher_logits(x)
    assert rows.shape == (6, 3 + 7)
    y_pred = student(x)
    total = float(distiller.compute_loss(x, targets.pack(y, rows), y_pred))
    hidden = lambda m, name: keras.Model(m.input, m.get_layer(name).output)(x)  # noqa: E731

    s_feat = np.asarray(hidden(student, "student_hidden"), "float64")
    t_feat = np.asarray(hidden(teacher, "teacher_hidden"), "float64")
    kernel, bias = distiller.hint_projections[0].get_weights()
    hint = ((t_feat - (s_feat @ kernel + bias)) ** 2).mean(-1).mean()
    soft = 4.0**2 * kl64(softmax64(rows[:, :3], 4.0), softmax64(np.asarray(y_pred), 4.0))
    np.testing.assert_allclose(total, soft.mean() + 2.0 * hint, rtol=1e-5)


def test_mutual_loss_matches_numpy():
    peers = [functional(f"p{i}", hidden=4 + i) for i in range(3)]
    dml = keras_kd.MutualDistiller(peers, temperature=2.0, alpha=0.4)
    dml.compile(optimizer="sgd")
    outputs = [fixed_logits(seed=i) for i in range(3)]
    labels = np.array([0, 1, 2, 0, 1, 2])
    got = float(dml.step_loss(np.zeros((6, 8), "float32"), labels, outputs, None, None))
    probs = [softmax64(o, 2.0) for o in outputs]
    expected = 0.0
    for i, o in enumerate(outputs):
        mimicry = np.mean([4.0 * kl64(probs[j], probs[i]) for j in range(3) if j != i], axis=0)
        expected += 0.6 * ce64(labels, o).mean() + 0.4 * mimicry.mean()
    np.testing.assert_allclose(got, expected, rtol=1e-5)


# Which variables train.


def test_several_teachers_stay_frozen_and_report_their_terms():
    x, y = tiny_data(n=64)
    teachers = [functional("a"), functional("b", hidden=4)]
    before = [t.get_weights() for t in teachers]
    student = functional("student", seed=3)
    start = student.get_weights()
    distiller = keras_kd.Distiller(student, teachers, teacher_weights=[1, 2])
    distiller.compile("adam")
    history = distiller.fit(x, y, epochs=2, verbose=0, validation_data=(x, y)).history
    for teacher, weights in zip(teachers, before):
        for a, b in zip(teacher.get_weights(), weights):
            np.testing.assert_array_equal(a, b)
    assert any(np.abs(a - b).max() > 1e-4 for a, b in zip(student.get_weights(), start))
    for key in ("teacher_0_loss", "teacher_1_loss", "val_teacher_0_loss", "val_teacher_1_loss"):
        assert len(history[key]) == 2 and np.all(np.isfinite(history[key]))
    assert history["teacher_0_loss"] != history["teacher_1_loss"]


def test_mutual_peers_get_gradients_from_their_own_term_only():
    peers = [functional("p0", seed=1), functional("p1", hidden=6, seed=2)]
    dml = keras_kd.MutualDistiller(peers, temperature=2.0, alpha=0.5)
    dml.compile(optimizer="sgd")
    x, y = tiny_data(n=16)
    with tf.GradientTape(persistent=True) as tape:
        outputs = [p(x, training=True) for p in peers]
        total = dml.step_loss(x, y, outputs, None, None)
        ce = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        own = 0.5 * ce(y, outputs[1]) + 0.5 * keras.ops.mean(
            losses.distillation_loss(tf.stop_gradient(outputs[0]), outputs[1], 2.0)
        )
    got = tape.gradient(total, peers[1].trainable_variables)
    expected = tape.gradient(own, peers[1].trainable_variables)
    for a, b in zip(got, expected):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
    assert max(float(tf.reduce_max(tf.abs(g))) for g in got) > 1e-4


def test_hints_train_student_and_projection_never_the_teacher_or_export(tmp_path):
    x, y = tiny_data(n=64)
    student, teacher = functional("student", hidden=5), functional("teacher", hidden=7)
    teacher_before = teacher.get_weights()
    distiller = keras_kd.Distiller(student, teacher, hints=[("student_hidden", "teacher_hidden")])
    distiller.compile("adam")
    projection = distiller.hint_projections[0]
    projection_before = projection.get_weights()
    assert {id(v) for v in distiller.trained_variables()} == {
        id(v) for v in student.trainable_variables + projection.trainable_variables
    }
    distiller.fit(x, y, epochs=2, verbose=0)
    for a, b in zip(teacher.get_weights(), teacher_before):
        np.testing.assert_array_equal(a, b)
    assert np.abs(projection.get_weights()[0] - projection_before[0]).max() > 1e-4
    exported = tf.saved_model.load(distiller.export_student(tmp_path / "student"))
    assert len(exported.variables) == len(student.variables)
    np.testing.assert_allclose(exported.serve(x), student(x), atol=1e-6)


# End to end on the digits.


def small_student(name="student", hidden=32, seed=0):
    keras.utils.set_random_seed(seed)
    x = keras.Input((64,))
    h = keras.layers.Dense(hidden, activation="relu", name=f"{name}_hidden")(x)
    return keras.Model(x, keras.layers.Dense(10, name=f"{name}_logits")(h), name=name)


def accuracy(model, digits):
    predictions = np.argmax(model.predict(digits.x_test, verbose=0), -1)
    return float(np.mean(predictions == digits.y_test))


@pytest.mark.parametrize("method", ["multi_teacher", "dkd", "hints"])
def test_distiller_variants_learn_the_digits(method, digits, digits_teacher):
    student = small_student()
    if method == "multi_teacher":
        kwargs = {"teacher": [digits_teacher, small_student("second", 64, seed=5)],
                  "teacher_weights": "entropy"}
    elif method == "dkd":
        kwargs = {"teacher": digits_teacher, "distillation_loss": "dkd", "alpha": 0.5,
                  "warmup_epochs": 3}
    else:
        kwargs = {"teacher": digits_teacher,
                  "hints": [keras_kd.FeatureHint("student_hidden", digits_teacher.layers[1].name,
                                                 loss="cosine")]}
    distiller = keras_kd.Distiller(student, temperature=4.0, **kwargs)
    distiller.compile(keras.optimizers.Adam(3e-3), metrics=["accuracy"])
    distiller.fit(digits.x_train, digits.y_train, epochs=12, batch_size=64, verbose=0)
    assert accuracy(student, digits) > 0.85  # chance is 0.10


def test_mutual_learning_on_digits(digits):
    peers = [small_student("a", 32, seed=1), small_student("b", 16, seed=2)]
    dml = keras_kd.MutualDistiller(peers)
    dml.compile(keras.optimizers.Adam(3e-3), metrics=["accuracy"])
    history = dml.fit(digits.x_train, digits.y_train, epochs=12, batch_size=64, verbose=0,
                      validation_data=(digits.x_test, digits.y_test)).history
    for i, peer in enumerate(peers):
        assert accuracy(peer, digits) > 0.85
        assert history[f"val_peer_{i}_accuracy"][-1] == pytest.approx(accuracy(peer, digits), abs=1e-6)


def test_self_distillation_on_digits(digits):
    result = keras_kd.self_distill(
        lambda: small_student(hidden=32), digits.x_train, digits.y_train,
        (digits.x_test, digits.y_test), generations=2, epochs=10, batch_size=64,
    )
    assert [row["generation"] for row in result.table] == [0, 1]
    assert result.models[0] is not result.models[1]
    assert result.table[0]["agreement"] is None and result.table[1]["agreement"] > 0.85
    for model, row in zip(result.models, result.table):
        assert row["val_accuracy"] == pytest.approx(accuracy(model, digits))
        assert row["val_accuracy"] > 0.85
    assert "| 1 |" in result.to_markdown()


# Serialization.


def test_multi_teacher_dkd_hint_distiller_round_trips(tmp_path):
    x, y = tiny_data(n=32)
    distiller = keras_kd.Distiller(
        functional("student"), [functional("a"), functional("b", hidden=4)], temperature=2.5,
        distillation_loss="dkd", dkd_beta=2.0, teacher_weights=[1, 3], teacher_combination="sum",
        hints=[keras_kd.FeatureHint("student_hidden", "b_hidden", loss="cosine", teacher_index=1)],
    )
    distiller.compile("adam")
    distiller.fit(x, y, epochs=1, verbose=0)
    config = distiller.get_config()
    clone = keras_kd.Distiller.from_config(config)
    models = ("student", "teacher")
    assert {k: v for k, v in clone.get_config().items() if k not in models} == {
        k: v for k, v in config.items() if k not in models
    }
    assert [t.count_params() for t in clone.teachers] == [t.count_params() for t in distiller.teachers]
    path = tmp_path / "d.keras"
    distiller.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded, keras_kd.Distiller) and loaded.teacher_weights == [0.25, 0.75]
    np.testing.assert_allclose(loaded.predict(x, verbose=0), distiller.predict(x, verbose=0), atol=1e-6)
    np.testing.assert_allclose(
        loaded.hint_projections[0].get_weights()[0], distiller.hint_projections[0].get_weights()[0]
    )
    rows = distiller.teacher_logits(x)
    np.testing.assert_allclose(
        float(loaded.compute_loss(x, targets.pack(y, rows), loaded.student(x))),
        float(distiller.compute_loss(x, targets.pack(y, rows), distiller.student(x))), rtol=1e-6,
    )


def test_mutual_distiller_round_trips(tmp_path):
    x, y = tiny_data(n=32)
    dml = keras_kd.MutualDistiller([functional("a"), functional("b", hidden=4)], temperature=2.0)
    dml.compile("adam", metrics=["accuracy"])
    dml.fit(x, y, epochs=1, verbose=0)
    dml.save(tmp_path / "dml.keras")
    loaded = keras.saving.load_model(tmp_path / "dml.keras")
    assert loaded.temperature == 2.0
    for a, b in zip(loaded.peers, dml.peers):
        np.testing.assert_allclose(a.predict(x, verbose=0), b.predict(x, verbose=0), atol=1e-6)
    assert "peer_1_accuracy" in loaded.evaluate(x, y, verbose=0, return_dict=True)
    path = dml.export_peer(1, tmp_path / "peer1")
    exported = tf.saved_model.load(path)  # keep it referenced while serving
    np.testing.assert_allclose(exported.serve(x), dml.peers[1](x), atol=1e-6)


# Bad configurations.


def bad(kwargs, match, student=None):
    with pytest.raises((ValueError, TypeError), match=match):
        keras_kd.Distiller(student or functional("student"), **kwargs)


def test_bad_multi_teacher_configurations():
    bad({"teacher": [functional("a"), functional("b", classes=4)]}, r"teacher 1 outputs shape \(4,\)")
    bad({"teacher": []}, "at least one teacher")
    bad({"teacher": [functional("a"), functional("b")], "teacher_weights": [1]}, "one per teacher")
    bad({"teacher": [functional("a"), functional("b")], "teacher_weights": [1, -1]}, "non-negative")
    bad({"teacher": [functional("a"), functional("b")], "teacher_weights": "confidence"}, "entropy")
    bad({"teacher": [functional("a"), functional("b")], "teacher_combination": "max"}, "average")


def test_bad_loss_and_hint_configurations():
    bad({"teacher": functional("t"), "distillation_loss": "fitnet"}, "'kl', 'reverse_kl', 'jsd', 'dkd'")
    bad({"teacher": functional("t"), "warmup_epochs": -1}, "warmup_epochs")
    bad({"teacher": functional("t"), "hints": [("student_hidden", "nope")]},
        "no layer named 'nope'.*t_hidden")
    bad({"teacher": functional("t", hidden=7),
         "hints": [keras_kd.FeatureHint("student_hidden", "t_hidden", projection=False)]},
        r"\(16,\).*\(7,\).*without a projection")
    with pytest.raises(ValueError, match="'mse', 'cosine'"):
        keras_kd.FeatureHint("a", "b", loss="l1")
    bad({"teacher": functional("t"), "hints": [keras_kd.FeatureHint("student_hidden", "t_hidden",
                                                                    teacher_index=2)]},
        "teacher 2.*1 teachers")


def test_hints_on_mismatched_feature_maps_are_refused():
    def conv(name, size):
        x = keras.Input((8, 8, 1))
        h = keras.layers.Conv2D(4, 3, padding="same" if size == 8 else "valid", name=f"{name}_conv")(x)
        out = keras.layers.Dense(3)(keras.layers.GlobalAveragePooling2D()(h))
        return keras.Model(x, out, name=name)

    with pytest.raises(ValueError, match=r"\(6, 6, 4\).*\(8, 8, 4\).*other axes must agree"):
        keras_kd.Distiller(conv("s", 6), conv("t", 8), hints=[("s_conv", "t_conv")])
    distiller = keras_kd.Distiller(conv("s", 8), conv("t", 8), hints=[("s_conv", "t_conv")])
    assert isinstance(distiller.hint_projections[0], keras.layers.Conv2D)


def test_dkd_without_labels_is_refused_before_training():
    x, _ = tiny_data()
    distiller = keras_kd.Distiller(functional("s"), functional("t"), alpha=1.0, distillation_loss="dkd")
    distiller.compile("adam")
    with pytest.raises(ValueError, match="needs labels"):
        distiller.fit(x, epochs=1, verbose=0)


def test_bad_mutual_configurations():
    with pytest.raises(ValueError, match="at least 2 peers"):
        keras_kd.MutualDistiller([functional("a")])
    model = functional("a")
    with pytest.raises(ValueError, match="twice"):
        keras_kd.MutualDistiller([model, model])
    with pytest.raises(ValueError, match=r"peer 1 outputs shape \(4,\)"):
        keras_kd.MutualDistiller([functional("a"), functional("b", classes=4)])
    with pytest.raises(ValueError, match="generations"):
        keras_kd.self_distill(lambda: functional("a"), None, None, (None, None), generations=0)


def test_teacher_cache_of_a_multi_teacher_view_is_reused(tmp_path):
    from test_distiller import CountingTeacher

    x, y = tiny_data(n=64)
    teachers = [CountingTeacher(functional("a")), CountingTeacher(functional("b", hidden=4))]
    distiller = keras_kd.Distiller(functional("student"), teachers)
    distiller.compile("sgd")
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(16)
    probe = 16  # the input check runs the teachers on the first batch
    cache = keras_kd.TeacherCache(distiller.teacher_view, tmp_path)
    distiller.fit(dataset, epochs=2, verbose=0, cache_teacher=cache)
    assert [int(t.seen.numpy()) for t in teachers] == [probe + 64] * 2
    (entry,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    files = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in entry.iterdir()}
    # A second fit, through a new cache object on the same folder, reads the
    # entry: no teacher pass beyond the input check, and the entry is untouched.
    again = keras_kd.TeacherCache(distiller.teacher_view, tmp_path)
    distiller.fit(dataset, epochs=2, verbose=0, cache_teacher=again)
    assert [int(t.seen.numpy()) for t in teachers] == [2 * probe + 64] * 2
    assert [p for p in tmp_path.iterdir() if p.is_dir()] == [entry]
    assert {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in entry.iterdir()} == files
    with pytest.raises(ValueError, match="top_k=None"):
        distiller.fit(dataset, epochs=2, verbose=0,
                      cache_teacher=keras_kd.TeacherCache(distiller.teacher_view, tmp_path, top_k=2))
    _, y_cached = next(iter(cache.attach(dataset)))
    np.testing.assert_allclose(
        y_cached[targets.TEACHER_LOGITS],
        np.concatenate([teachers[0](x[:16]), teachers[1](x[:16])], -1), atol=1e-6,
    )


def test_mutual_learning_draws_anew_each_epoch_from_a_random_pipeline():
    """As the Distiller: one iterator for the fit, so the global seed does not repeat epochs."""
    from test_teacher_cache import SumOfTrainingInputs

    x, y = tiny_data(n=32)
    peer = keras.Sequential([keras.Input(x.shape[1:]), SumOfTrainingInputs(), keras.layers.Dense(3)])
    other = keras.Sequential([keras.Input(x.shape[1:]), keras.layers.Dense(3)])
    noisy = sequential_noise(x, y, 16)
    mutual = keras_kd.MutualDistiller([peer, other])
    mutual.compile(keras.optimizers.SGD(0.1))
    totals = []
    mutual.fit(noisy, epochs=3, verbose=0, callbacks=[keras.callbacks.LambdaCallback(
        on_epoch_end=lambda epoch, logs: totals.append(float(peer.layers[0].total.numpy())))])
    noise = np.diff([0.0] + totals) - float(x.sum())
    assert ((noise > 0) & (noise < 32 * 8)).all(), noise
    assert len(set(np.round(noise, 4))) == 3, noise
