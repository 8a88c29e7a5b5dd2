"""Logit standardization, DIST and temperature curricula (issue 20), against float64 NumPy."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_kd
from keras_kd import losses
from keras_kd.caching import targets
from helpers import mirrored, tiny_data, tiny_models
from references64 import ce64, dist64, dkd64, kl64, pearson64, softmax64, standardize64

T = 3.0


def logits(rows=6, classes=4, seed=1, scale=3.0):
    return np.random.default_rng(seed).normal(scale=scale, size=(rows, classes)).astype("float32")


def numeric_gradient(f, x, h=1e-6):
    grad = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        up, down = x.copy(), x.copy()
        up[index] += h
        down[index] -= h
        grad[index] = (f(up) - f(down)) / (2 * h)
    return grad


def tf_gradient(f, x):
    x = tf.constant(x, "float64")
    with tf.GradientTape() as tape:
        tape.watch(x)
        value = f(x)
    return tape.gradient(value, x).numpy()


# Pure functions.


def test_standardize_logits_matches_numpy_and_ignores_shift_and_scale():
    z = logits(scale=5.0)
    got = keras.ops.convert_to_numpy(losses.standardize_logits(z))
    np.testing.assert_allclose(got, standardize64(z), rtol=1e-5, atol=1e-6)
    moved = keras.ops.convert_to_numpy(losses.standardize_logits(3.0 * z + 7.0))
    np.testing.assert_allclose(moved, got, rtol=1e-4, atol=1e-5)
    per_token = np.stack([z, 2 * z])  # (2, 6, 4): the class axis is the last
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(losses.standardize_logits(per_token))[1], got,
        rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("temperature", [1.0, 4.0])
def test_dist_matches_the_authors_formula_in_float64(temperature):
    t, s = logits(seed=1), logits(seed=2, scale=1.0)
    got = float(losses.dist_loss(t, s, temperature, beta=2.0, gamma=0.5))
    np.testing.assert_allclose(got, dist64(t, s, temperature, 2.0, 0.5), rtol=1e-5)
    as_loss = float(losses.DISTLoss(temperature, beta=2.0, gamma=0.5)(t, s))
    np.testing.assert_allclose(as_loss, got, rtol=1e-6)
    # Identical predictions: both correlations are 1.
    assert abs(float(losses.dist_loss(t, t, temperature))) < 1e-5 * temperature**2


def test_dist_gradient_matches_finite_differences():
    t, s = logits(seed=1).astype("float64"), logits(seed=2, scale=1.0).astype("float64")
    got = tf_gradient(lambda x: losses.dist_loss(t, x, 2.0, beta=1.0, gamma=3.0), s)
    expected = numeric_gradient(lambda x: dist64(t, x, 2.0, 1.0, 3.0), s)
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-9)


def test_standardized_kd_gradient_matches_finite_differences():
    t, s = logits(seed=1, scale=5.0).astype("float64"), logits(seed=2).astype("float64")

    def reference(x):
        return T**2 * kl64(softmax64(standardize64(t), T), softmax64(standardize64(x), T)).mean()

    got = tf_gradient(lambda x: keras.ops.mean(losses.distillation_loss(
        losses.standardize_logits(t), losses.standardize_logits(x), T)), s)
    np.testing.assert_allclose(got, numeric_gradient(reference, s), rtol=1e-5, atol=1e-8)
    # Standardization removes the mean and scale of each row: the gradient is orthogonal
    # to both directions.
    np.testing.assert_allclose((got * s).sum(-1), 0.0, atol=1e-6)  # up to the epsilon
    np.testing.assert_allclose(got.sum(-1), 0.0, atol=1e-9)


def test_dist_intra_weights_leave_masked_examples_out():
    t, s = logits(rows=8, seed=1), logits(rows=8, seed=2)
    keep = np.array([1, 1, 0, 1, 0, 1, 1, 1], "float32")
    got = float(losses.dist_intra_class(t, s, T, weights=keep))
    kept = keep.astype(bool)
    p, q = softmax64(t[kept], T), softmax64(s[kept], T)
    np.testing.assert_allclose(got, T**2 * (1 - pearson64(q.T, p.T).mean()), rtol=1e-5)
    # Real-valued weights: the weighted correlation, written out.
    w = np.random.default_rng(3).uniform(0.1, 2.0, size=8)
    p, q = softmax64(t, T), softmax64(s, T)
    pc = p - (w[:, None] * p).sum(0) / w.sum()
    qc = q - (w[:, None] * q).sum(0) / w.sum()
    r = (w[:, None] * pc * qc).sum(0) / (
        np.sqrt((w[:, None] * pc**2).sum(0) * (w[:, None] * qc**2).sum(0)) + 1e-8)
    got = float(losses.dist_intra_class(t, s, T, weights=w.astype("float32")))
    np.testing.assert_allclose(got, T**2 * (1 - r.mean()), rtol=1e-5)


def test_dist_loss_class_weighs_both_relations():
    t, s = logits(rows=8, seed=1), logits(rows=8, seed=2)
    keep = np.array([1, 0, 1, 1, 1, 0, 1, 1], "float32")
    got = float(losses.DISTLoss(T, beta=1.0, gamma=2.0)(t, s, sample_weight=keep))
    kept = keep.astype(bool)
    p, q = softmax64(t, T), softmax64(s, T)
    inter = ((1 - pearson64(q, p)) * keep).sum() / len(keep)  # Keras's reduction
    intra = 1 - pearson64(q[kept].T, p[kept].T).mean()
    np.testing.assert_allclose(got, T**2 * (inter + 2.0 * intra), rtol=1e-5)
    config = losses.DISTLoss(T, beta=1.0, gamma=2.0).get_config()
    assert (config["beta"], config["gamma"], config["temperature"]) == (1.0, 2.0, T)


# In the Distiller, against the same references.


def functional(name, classes=4, seed=0):
    keras.utils.set_random_seed(seed)
    x = keras.Input((8,))
    h = keras.layers.Dense(16, activation="relu", name=f"{name}_hidden")(x)
    return keras.Model(x, keras.layers.Dense(classes, name=f"{name}_logits")(h), name=name)


def distiller_loss(distiller, teacher_rows, student_logits, labels, sample_weight=None):
    distiller.compile(optimizer="sgd")
    y = targets.pack(labels, teacher_rows)
    x = np.zeros((len(labels), 8), "float32")
    return float(distiller.compute_loss(x, y, student_logits, sample_weight=sample_weight))


def test_standardized_kd_in_the_distiller_matches_numpy():
    t, s, labels = logits(seed=1, scale=8.0), logits(seed=3), np.array([0, 1, 2, 3, 1, 2])
    distiller = keras_kd.Distiller(functional("student"), functional("teacher"), temperature=2.0,
                                   alpha=0.7, standardize_logits=True)
    got = distiller_loss(distiller, t, s, labels)
    soft = 4.0 * kl64(softmax64(standardize64(t), 2.0), softmax64(standardize64(s), 2.0))
    expected = 0.7 * soft.mean() + 0.3 * ce64(labels, s).mean()  # labels see the raw logits
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    plain = keras_kd.Distiller(functional("student"), functional("teacher"), temperature=2.0,
                               alpha=0.7)
    assert abs(distiller_loss(plain, t, s, labels) - got) > 1e-2  # the option changes the loss


def test_standardized_dkd_and_two_teachers_match_numpy():
    t1, t2 = logits(seed=1, scale=8.0), logits(seed=2)
    s, labels = logits(seed=3), np.array([0, 1, 2, 3, 1, 2])
    distiller = keras_kd.Distiller(
        functional("student"), [functional("a"), functional("b", seed=1)], temperature=T,
        alpha=0.6, distillation_loss="dkd", dkd_alpha=1.0, dkd_beta=2.0,
        teacher_weights=[1.0, 3.0], standardize_logits=True)
    got = distiller_loss(distiller, np.concatenate([t1, t2], -1), s, labels)
    # The mixture of the standardized teachers' tempered distributions, as logits.
    p = 0.25 * softmax64(standardize64(t1), T) + 0.75 * softmax64(standardize64(t2), T)
    soft = dkd64(T * np.log(p), standardize64(s), labels, T, alpha=1.0, beta=2.0)
    np.testing.assert_allclose(got, 0.6 * soft.mean() + 0.4 * ce64(labels, s).mean(), rtol=1e-5)


def test_dist_in_the_distiller_matches_numpy_with_sample_weights():
    t, s, labels = logits(rows=8, seed=1), logits(rows=8, seed=3), np.arange(8) % 4
    distiller = keras_kd.Distiller(functional("student"), functional("teacher"), temperature=T,
                                   alpha=0.8, distillation_loss="dist", dist_beta=2.0,
                                   dist_gamma=0.5)
    got = distiller_loss(distiller, t, s, labels)
    expected = 0.8 * dist64(t, s, T, 2.0, 0.5) + 0.2 * ce64(labels, s).mean()
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    keep = np.array([1, 1, 0, 1, 1, 0, 1, 1], "float32")
    got = distiller_loss(distiller, t, s, labels, sample_weight=keep)
    kept = keep.astype(bool)
    p, q = softmax64(t, T), softmax64(s, T)
    inter = ((1 - pearson64(q, p)) * keep).mean()
    intra = 1 - pearson64(q[kept].T, p[kept].T).mean()
    soft = T**2 * (2.0 * inter + 0.5 * intra)
    np.testing.assert_allclose(got, 0.8 * soft + 0.2 * (ce64(labels, s) * keep).mean(), rtol=1e-5)


def test_dist_per_token_ignores_padding():
    """Tokens are DIST's examples; padded tokens (sample weight 0) count in neither relation."""
    rng = np.random.default_rng(0)
    t, s = rng.normal(size=(2, 2, 5, 4)).astype("float32") * 3
    weights = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 0]], "float32")
    labels = rng.integers(0, 4, size=(2, 5))
    distiller = keras_kd.Distiller(functional("student"), functional("teacher"), temperature=T,
                                   alpha=1.0, distillation_loss="dist")
    distiller.compile(optimizer="sgd")
    y = targets.pack(labels, t)
    got = float(distiller.compute_loss(np.zeros((2, 8), "float32"), y, s, sample_weight=weights))
    kept = weights.astype(bool)
    tk, sk = t[kept], s[kept]
    p, q = softmax64(tk, T), softmax64(sk, T)
    # Keras divides a sample-weighted sum by the number of tokens, padded ones included.
    inter = (1 - pearson64(q, p)).sum() / weights.size
    intra = 1 - pearson64(q.T, p.T).mean()
    np.testing.assert_allclose(got, T**2 * (inter + intra), rtol=1e-5)


def test_dist_with_a_keras_mask_counts_only_the_unmasked_tokens():
    keras.utils.set_random_seed(0)

    def token_model(width, seed):
        keras.utils.set_random_seed(seed)
        inputs = keras.Input((5,), dtype="int32")
        h = keras.layers.Embedding(7, width, mask_zero=True)(inputs)
        h = keras.layers.Dense(width, activation="tanh")(h)
        return keras.Model(inputs, keras.layers.Dense(7)(h))

    rng = np.random.default_rng(0)
    x = rng.integers(1, 7, size=(6, 5)).astype("int32")
    x[:, 3:] *= rng.integers(0, 2, size=(6, 2))  # some trailing pads (0)
    y = rng.integers(0, 7, size=(6, 5)).astype("int32")
    distiller = keras_kd.Distiller(token_model(6, 1), token_model(16, 0), temperature=T,
                                   alpha=1.0, distillation_loss="dist")
    distiller.compile(optimizer="sgd")
    got = distiller.evaluate(x, y, batch_size=6, verbose=0, return_dict=True)["loss"]
    kept = x != 0
    p = softmax64(np.asarray(distiller.teacher(x))[kept], T)
    q = softmax64(np.asarray(distiller.student(x))[kept], T)
    want = T**2 * ((1 - pearson64(q, p)).mean() + 1 - pearson64(q.T, p.T).mean())
    np.testing.assert_allclose(got, want, rtol=1e-5)


def test_dist_sums_separate_teacher_terms_with_their_weights():
    t1, t2 = logits(rows=8, seed=1), logits(rows=8, seed=2, scale=6.0)
    s, labels = logits(rows=8, seed=3), np.arange(8) % 4
    distiller = keras_kd.Distiller(
        functional("student"), [functional("a"), functional("b", seed=1)], temperature=T,
        alpha=1.0, distillation_loss="dist", teacher_weights=[1.0, 3.0],
        teacher_combination="sum")
    got = distiller_loss(distiller, np.concatenate([t1, t2], -1), s, labels)
    np.testing.assert_allclose(got, 0.25 * dist64(t1, s, T) + 0.75 * dist64(t2, s, T), rtol=1e-5)


def _dist_weights(strategy, x, y, sample_weight):
    with strategy.scope():
        teacher, student = tiny_models(student_width=16, seed=7)
        distiller = keras_kd.Distiller(student, teacher, temperature=2.0, alpha=0.7,
                                       distillation_loss="dist", dist_gamma=4.0,
                                       standardize_logits=True)
        distiller.compile(keras.optimizers.SGD(0.5))
    # T = 1 in the first epoch, 3 in the second: the curriculum under the strategy too.
    schedule = keras_kd.DistillationSchedule(temperature=keras_kd.curriculum(1.0, 3.0, 1))
    history = distiller.fit(x, y, sample_weight=sample_weight, batch_size=len(x) // 2, epochs=2,
                            shuffle=False, verbose=0, callbacks=[schedule])
    assert distiller.temperature == 3.0
    return student.get_weights(), history.history["loss"]


@pytest.mark.xdist_group("mirrored_methods")
def test_dist_standardization_and_curriculum_under_mirrored_strategy_match_one_device():
    """DIST's intra-class relation is over the global batch, not each replica's half."""
    x, y = tiny_data(n=64)
    sample_weight = np.random.default_rng(1).uniform(0.2, 1.5, size=64).astype("float32")
    one, loss_one = _dist_weights(tf.distribute.OneDeviceStrategy("/cpu:0"), x, y, sample_weight)
    two, loss_two = _dist_weights(mirrored(), x, y, sample_weight)
    start = tiny_models(student_width=16, seed=7)[1].get_weights()
    assert max(np.abs(a - b).max() for a, b in zip(one, start)) > 1e-3
    for a, b in zip(one, two):
        np.testing.assert_allclose(a, b, atol=1e-5)
    np.testing.assert_allclose(loss_one, loss_two, rtol=1e-5)


# Temperature curricula.


def test_curriculum_values():
    rise = keras_kd.curriculum(1.0, 5.0, 4)
    np.testing.assert_allclose([rise(e) for e in range(6)],
                               [1.0, 1.0 + 4 * (1 - np.cos(np.pi / 4)) / 2, 3.0,
                                1.0 + 4 * (1 - np.cos(3 * np.pi / 4)) / 2, 5.0, 5.0])
    fall = keras_kd.curriculum(8.0, 2.0, 3, shape="linear")
    assert [fall(e) for e in range(5)] == [8.0, 6.0, 4.0, 2.0, 2.0]


def test_temperature_curriculum_moves_t_every_epoch_without_retracing():
    x, y = tiny_data(n=64)
    teacher, student = tiny_models(student_width=8)
    distiller = keras_kd.Distiller(student, teacher, temperature=1.0, alpha=0.9)
    distiller.compile(keras.optimizers.SGD(0.1))
    traces, started = [], []
    step_loss = distiller.step_loss

    def counting(*args):
        # Python runs only while TensorFlow traces the step (and once, before
        # training starts, when Keras builds the metrics from symbolic inputs).
        if started:
            traces.append(1)
        return step_loss(*args)

    distiller.step_loss = counting
    seen = []
    record = keras.callbacks.LambdaCallback(
        on_train_begin=lambda logs: started.append(1),
        on_epoch_end=lambda epoch, logs: seen.append(distiller.temperature))
    schedule = keras_kd.DistillationSchedule(temperature=keras_kd.curriculum(1.0, 4.0, 3))
    distiller.fit(x, y, epochs=5, batch_size=32, verbose=0, callbacks=[schedule, record],
                  cache_teacher=False)
    np.testing.assert_allclose(seen, [1.0, 1.75, 3.25, 4.0, 4.0], rtol=1e-6)
    assert len(traces) == 1


# Bad input, refused up front.


@pytest.mark.parametrize("kwargs, message", [
    ({"distillation_loss": "dist", "dist_gamma": -1.0}, "`dist_gamma` must be a finite number >= 0"),
    ({"distillation_loss": "dist", "dist_beta": "x"}, "`dist_beta` must be a number >= 0"),
    ({"standardize_logits": "yes"}, "`standardize_logits` must be True or False"),
])
def test_bad_options_are_refused(kwargs, message):
    teacher, student = tiny_models()
    with pytest.raises(ValueError, match=message):
        keras_kd.Distiller(student, teacher, **kwargs)


def test_dist_refuses_per_example_weights_of_separate_teacher_terms():
    teacher, student = tiny_models()
    other, _ = tiny_models(seed=1)
    with pytest.raises(ValueError, match="teacher_combination='average'"):
        keras_kd.Distiller(student, [teacher, other], distillation_loss="dist",
                           teacher_weights="entropy", teacher_combination="sum")


def test_curriculum_refuses_a_bad_ramp():
    with pytest.raises(ValueError, match="integer >= 1"):
        keras_kd.curriculum(1.0, 4.0, 0)
    with pytest.raises(ValueError, match="shape"):
        keras_kd.curriculum(1.0, 4.0, 3, shape="step")


def test_new_options_survive_saving(tmp_path):
    x, y = tiny_data(n=32)
    teacher, student = tiny_models()
    distiller = keras_kd.Distiller(student, teacher, distillation_loss="dist", dist_beta=2.0,
                                   dist_gamma=0.25, standardize_logits=True)
    distiller.compile("sgd")
    distiller.fit(x, y, epochs=1, verbose=0)
    path = str(tmp_path / "d.keras")
    distiller.save(path)
    loaded = keras.saving.load_model(path)
    assert (loaded.distillation_loss, loaded.dist_beta, loaded.dist_gamma,
            loaded.standardize_logits) == ("dist", 2.0, 0.25, True)


def test_the_tuner_searches_with_the_new_methods_fixed():
    x, y = tiny_data(n=32)
    teacher, _ = tiny_models()
    hypermodel = keras_kd.tuning.DistillerHyperModel(
        lambda: tiny_models()[1], teacher, distiller_kwargs={
            "distillation_loss": "dist", "dist_gamma": 2.0, "standardize_logits": True})
    distiller = hypermodel.build_distiller(3.0, 0.5, 1e-2)
    assert (distiller.distillation_loss, distiller.dist_gamma, distiller.standardize_logits) == (
        "dist", 2.0, True)
    history = distiller.fit(x, y, epochs=2, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
