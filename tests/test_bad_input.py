"""Each bad input gets a clear error that names it, before any training starts."""

import keras
import numpy as np
import pytest

import keras_kd
from helpers import tiny_data, tiny_models


@pytest.mark.parametrize("temperature", [0, -2.0, float("nan"), float("inf")])
def test_temperature(temperature):
    teacher, student = tiny_models()
    with pytest.raises(ValueError, match="temperature"):
        keras_kd.Distiller(student, teacher, temperature=temperature)


@pytest.mark.parametrize("alpha", [-0.1, 1.5, float("nan")])
def test_alpha(alpha):
    teacher, student = tiny_models()
    with pytest.raises(ValueError, match="alpha"):
        keras_kd.Distiller(student, teacher, alpha=alpha)


def test_changing_to_a_bad_value_is_refused_and_keeps_the_old_one():
    teacher, student = tiny_models()
    distiller = keras_kd.Distiller(student, teacher, temperature=3.0, alpha=0.5)
    with pytest.raises(ValueError, match="temperature"):
        distiller.temperature = -1
    with pytest.raises(ValueError, match="alpha"):
        distiller.alpha = 2
    assert (distiller.temperature, distiller.alpha) == (3.0, 0.5)


def test_class_counts_differ():
    teacher, _ = tiny_models(classes=3)
    _, student = tiny_models(classes=4)
    with pytest.raises(ValueError, match=r"teacher outputs shape \(3,\).*student outputs \(4,\)"):
        keras_kd.Distiller(student, teacher)


class Subclassed(keras.Model):
    """A subclassed model, whose outputs are only known once it runs."""

    def __init__(self, classes, softmax=False):
        super().__init__()
        self.dense = keras.layers.Dense(classes)
        self.softmax = softmax

    def call(self, x):
        logits = self.dense(x)
        return keras.ops.softmax(logits) if self.softmax else logits


def test_class_counts_differ_in_subclassed_models_before_training():
    teacher, _ = tiny_models(classes=3)
    distiller = keras_kd.Distiller(Subclassed(5), teacher)
    distiller.compile("sgd")
    x, y = tiny_data()
    with pytest.raises(ValueError, match="student outputs"):
        distiller.fit(x, y, verbose=0)
    assert distiller.optimizer.iterations.numpy() == 0


def test_teacher_with_softmax_is_refused_with_the_fix():
    teacher, student = tiny_models()
    probs = keras.Sequential([teacher, keras.layers.Softmax()])
    with pytest.raises(ValueError, match=r"teacher outputs probabilities.*strip_softmax"):
        keras_kd.Distiller(student, probs)
    dense_softmax = keras.Sequential(
        [keras.Input((8,)), keras.layers.Dense(3, activation="softmax")]
    )
    with pytest.raises(ValueError, match="teacher outputs probabilities"):
        keras_kd.Distiller(student, dense_softmax)


def test_probability_outputs_found_by_the_probe():
    _, student = tiny_models()
    distiller = keras_kd.Distiller(student, Subclassed(3, softmax=True))
    distiller.compile("sgd")
    x, y = tiny_data()
    with pytest.raises(ValueError, match="teacher outputs probabilities"):
        distiller.fit(x, y, verbose=0)


def test_student_with_softmax_is_refused():
    teacher, _ = tiny_models()
    student = keras.Sequential([keras.Input((8,)), keras.layers.Dense(3, activation="softmax")])
    with pytest.raises(ValueError, match="student outputs probabilities"):
        keras_kd.Distiller(student, teacher)


def test_probability_label_loss_is_refused():
    teacher, student = tiny_models()
    distiller = keras_kd.Distiller(student, teacher)
    with pytest.raises(ValueError, match="from_logits=True"):
        distiller.compile("sgd", loss=keras.losses.SparseCategoricalCrossentropy())


@pytest.mark.parametrize("labels", [[0, 1, 3], [-1, 0, 1]])
def test_labels_outside_the_class_range(labels):
    teacher, student = tiny_models(classes=3)
    distiller = keras_kd.Distiller(student, teacher)
    distiller.compile("sgd")
    x, _ = tiny_data(n=3)
    with pytest.raises(ValueError, match=r"class ids .* must be in \[0, 2\]"):
        distiller.fit(x, np.array(labels), verbose=0)


def test_validation_labels_are_checked_too():
    teacher, student = tiny_models(classes=3)
    distiller = keras_kd.Distiller(student, teacher)
    distiller.compile("sgd")
    x, y = tiny_data()
    with pytest.raises(ValueError, match="class ids"):
        distiller.fit(x, y, validation_data=(x, y + 5), verbose=0)


def test_missing_labels_with_alpha_below_one():
    teacher, student = tiny_models()
    distiller = keras_kd.Distiller(student, teacher, alpha=0.9)
    distiller.compile("sgd")
    x, _ = tiny_data()
    with pytest.raises(ValueError, match=r"No labels.*alpha=0.9.*alpha=1.0"):
        distiller.fit(x, verbose=0)


def test_teacher_path_that_does_not_exist(tmp_path):
    _, student = tiny_models()
    with pytest.raises(FileNotFoundError, match="teacher path .* does not exist"):
        keras_kd.Distiller(student, str(tmp_path / "nope.keras"))


def test_teacher_path_that_holds_no_model(tmp_path):
    _, student = tiny_models()
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no saved_model.pb"):
        keras_kd.Distiller(student, str(tmp_path / "empty"))
    junk = tmp_path / "junk.keras"
    junk.write_text("not a model")
    with pytest.raises(ValueError, match="does not hold a loadable Keras model"):
        keras_kd.Distiller(student, str(junk))


def test_teacher_paths_that_hold_models(tmp_path):
    teacher, student = tiny_models()
    x, y = tiny_data()
    teacher.save(tmp_path / "teacher.keras")
    teacher.export(str(tmp_path / "teacher_savedmodel"), verbose=False)
    for path in (tmp_path / "teacher.keras", tmp_path / "teacher_savedmodel"):
        distiller = keras_kd.Distiller(student, str(path))
        np.testing.assert_allclose(
            distiller.teacher.predict(x, verbose=0), teacher.predict(x, verbose=0), atol=1e-6
        )
        distiller.compile("sgd")
        distiller.fit(x, y, epochs=1, verbose=0)


def test_same_model_for_both_roles():
    teacher, _ = tiny_models()
    with pytest.raises(ValueError, match="same model"):
        keras_kd.Distiller(teacher, teacher)


def test_not_a_model():
    _, student = tiny_models()
    with pytest.raises(TypeError, match="teacher"):
        keras_kd.Distiller(student, lambda x: x)
