"""`distillation_loss` and `DistillationLoss` against float64 NumPy references."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_kd import losses


def reference_kd(teacher, student, temperature):
    """T^2 * KL(softmax(t/T) || softmax(s/T)) per example, in float64."""
    t = np.asarray(teacher, np.float64) / temperature
    s = np.asarray(student, np.float64) / temperature
    log_p = t - t.max(-1, keepdims=True)
    log_p -= np.log(np.exp(log_p).sum(-1, keepdims=True))
    log_q = s - s.max(-1, keepdims=True)
    log_q -= np.log(np.exp(log_q).sum(-1, keepdims=True))
    return temperature**2 * (np.exp(log_p) * (log_p - log_q)).sum(-1)


def softmax64(z):
    z = np.asarray(z, np.float64)
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


@pytest.mark.parametrize("temperature", [1.0, 2.5, 4.0, 20.0])
@pytest.mark.parametrize("scale", [1.0, 50.0])
def test_matches_float64_reference(temperature, scale):
    rng = np.random.default_rng(int(temperature * 10 + scale))
    teacher = (rng.normal(size=(32, 10)) * scale).astype("float32")
    student = (rng.normal(size=(32, 10)) * scale).astype("float32")
    got = losses.distillation_loss(teacher, student, temperature).numpy()
    want = reference_kd(teacher, student, temperature)
    assert got.dtype == np.float32 and got.shape == (32,)
    assert np.all(np.isfinite(got))
    # Relative 2e-4 everywhere, except that a KL below float32's resolution
    # of log(1 + tiny) (~1e-7, two near one-hot rows agreeing) may read as 0.
    np.testing.assert_allclose(got, want, rtol=2e-4, atol=1e-7 * temperature**2)


def test_identical_logits_give_zero():
    z = np.random.default_rng(0).normal(size=(4, 5)).astype("float32") * 30
    np.testing.assert_allclose(losses.distillation_loss(z, z, 3.0).numpy(), 0.0, atol=1e-5)


@pytest.mark.parametrize("temperature", [1.0, 4.0, 20.0])
def test_gradient_is_analytic(temperature):
    rng = np.random.default_rng(1)
    teacher = rng.normal(size=(16, 7)).astype("float32") * 5
    student = tf.Variable(rng.normal(size=(16, 7)).astype("float32") * 5)
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(losses.distillation_loss(teacher, student, temperature))
    grad = tape.gradient(loss, student).numpy()
    want = temperature * (
        softmax64(student.numpy() / temperature) - softmax64(teacher / temperature)
    ) / 16
    np.testing.assert_allclose(grad, want, rtol=1e-4, atol=1e-7)


def test_float16_logits_are_computed_in_float32_without_overflow():
    rng = np.random.default_rng(2)
    teacher = (rng.normal(size=(8, 10)) * 50).astype("float16")
    student = (rng.normal(size=(8, 10)) * 50).astype("float16")
    got = losses.distillation_loss(teacher, student, 20.0)
    assert got.dtype == tf.float32
    np.testing.assert_allclose(
        got.numpy(), reference_kd(teacher, student, 20.0), rtol=2e-4
    )


def test_loss_class_reduces_like_keras_and_applies_sample_weight():
    rng = np.random.default_rng(3)
    teacher = rng.normal(size=(6, 4)).astype("float32")
    student = rng.normal(size=(6, 4)).astype("float32")
    weight = np.array([1, 0, 2, 1, 0, 1], "float32")
    per_example = reference_kd(teacher, student, 2.0)
    loss_fn = losses.DistillationLoss(temperature=2.0)
    np.testing.assert_allclose(loss_fn(teacher, student).numpy(), per_example.mean(), rtol=1e-5)
    np.testing.assert_allclose(
        loss_fn(teacher, student, sample_weight=weight).numpy(),
        (per_example * weight).sum() / 6,
        rtol=1e-5,
    )


def test_loss_class_serializes():
    loss_fn = losses.DistillationLoss(temperature=7.5, name="kd")
    config = json.loads(json.dumps(keras.saving.serialize_keras_object(loss_fn)))
    restored = keras.saving.deserialize_keras_object(config)
    assert isinstance(restored, losses.DistillationLoss)
    assert restored.temperature == 7.5 and restored.name == "kd"


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan"), float("inf"), "hot", None])
def test_bad_temperature_is_rejected(bad):
    with pytest.raises(ValueError, match="temperature"):
        losses.DistillationLoss(temperature=bad)


def reference_dkd(teacher, student, labels, temperature, alpha, beta):
    """DKD per example in float64, straight from the paper's definitions."""
    p = softmax64(np.asarray(teacher, np.float64) / temperature)
    q = softmax64(np.asarray(student, np.float64) / temperature)
    out = []
    for pi, qi, y in zip(p, q, labels):
        b_p, b_q = np.array([pi[y], 1 - pi[y]]), np.array([qi[y], 1 - qi[y]])
        tckd = np.sum(b_p * np.log(b_p / b_q))
        rest_p, rest_q = np.delete(pi, y), np.delete(qi, y)
        rest_p, rest_q = rest_p / rest_p.sum(), rest_q / rest_q.sum()
        nckd = np.sum(rest_p * np.log(rest_p / rest_q))
        out.append(temperature**2 * (alpha * tckd + beta * nckd))
    return np.array(out)


@pytest.mark.parametrize("temperature", [1.0, 4.0])
def test_decoupled_loss_matches_float64_reference(temperature):
    rng = np.random.default_rng(7)
    teacher = (rng.normal(size=(16, 10)) * 3).astype("float32")
    student = (rng.normal(size=(16, 10)) * 3).astype("float32")
    labels = rng.integers(0, 10, size=16)
    got = losses.decoupled_distillation_loss(teacher, student, labels, temperature, 1.0, 8.0).numpy()
    want = reference_dkd(teacher, student, labels, temperature, 1.0, 8.0)
    assert np.all(np.isfinite(got))
    np.testing.assert_allclose(got, want, rtol=2e-4, atol=1e-6)
    # With beta = 0 only the target-class part is left, and it is smaller.
    tckd = losses.decoupled_distillation_loss(teacher, student, labels, temperature, 1.0, 0.0).numpy()
    np.testing.assert_allclose(tckd, reference_dkd(teacher, student, labels, temperature, 1.0, 0.0), rtol=2e-4, atol=1e-6)
    assert np.all(tckd <= got + 1e-6)


def test_decoupled_loss_gradient_is_finite_and_numerically_right():
    rng = np.random.default_rng(8)
    teacher = rng.normal(size=(4, 6)) * 3
    student = rng.normal(size=(4, 6)) * 3
    labels = np.array([0, 3, 5, 2])
    variable = tf.Variable(student)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(losses.decoupled_distillation_loss(teacher, variable, labels, 2.0))
    grad = tape.gradient(loss, variable).numpy()
    assert np.all(np.isfinite(grad))
    numeric = np.zeros_like(student)
    for i, j in np.ndindex(*student.shape):
        step = np.zeros_like(student)
        step[i, j] = 1e-6
        numeric[i, j] = (reference_dkd(teacher, student + step, labels, 2.0, 1.0, 8.0).sum()
                         - reference_dkd(teacher, student - step, labels, 2.0, 1.0, 8.0).sum()) / 2e-6
    np.testing.assert_allclose(grad, numeric, rtol=1e-4, atol=1e-6)
