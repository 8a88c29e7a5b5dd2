"""Keras Tuner search over T, alpha and learning rate, with the teacher run once per search."""

import json
import os

import keras
import keras_tuner
import numpy as np
import pytest

from keras_kd import architectures, tuning
from test_distiller import CountingTeacher


def make_student():
    return architectures.build("mlp-tiny", (64,), 10)


def test_hypermodel_builds_the_configurations_it_is_given(digits_teacher):
    hypermodel = tuning.DistillerHyperModel(
        make_student, digits_teacher, temperature=(1.0, 20.0), alpha=[0.25, 0.75], learning_rate=3e-3
    )
    hp = keras_tuner.HyperParameters()
    first = hypermodel.build(hp)
    assert set(hp.values) == {"temperature", "alpha", "learning_rate"}
    assert hp.values["learning_rate"] == 3e-3
    hp.values.update(temperature=7.5, alpha=0.75)
    second = hypermodel.build(hp)
    assert (second.temperature, second.alpha) == (7.5, 0.75)
    assert (first.temperature, first.alpha) != (second.temperature, second.alpha)
    assert second.optimizer.learning_rate.numpy() == pytest.approx(3e-3)
    assert second.student is not first.student
    # Every trial's student starts from the same seeded weights.
    for a, b in zip(first.student.get_weights(), second.student.get_weights()):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    "space, pattern",
    [
        ({"temperature": (0.0, 5.0)}, "temperature"),
        ({"temperature": (-1.0, 5.0)}, "temperature"),
        ({"temperature": (5.0, 1.0)}, r"min <= max"),
        ({"temperature": []}, "empty"),
        ({"alpha": (0.0, 1.5)}, "alpha"),
        ({"alpha": [-0.1, 0.5]}, "alpha"),
        ({"learning_rate": 0.0}, "learning_rate"),
        ({"max_trials": 0}, "max_trials"),
        ({"tuner": "genetic"}, "Unknown tuner"),
    ],
)
def test_bad_search_spaces_are_rejected_before_any_work(digits, tmp_path, space, pattern):
    teacher = CountingTeacher(keras.Sequential([keras.Input((64,)), keras.layers.Dense(10)]))
    teacher(digits.x_train[:1])
    seen = int(teacher.seen.numpy())
    with pytest.raises(ValueError, match=pattern):
        tuning.search(make_student, teacher, (digits.x_train, digits.y_train),
                      (digits.x_test, digits.y_test), directory=str(tmp_path), **space)
    assert int(teacher.seen.numpy()) == seen


def run_search(digits, teacher, tmp_path, max_trials=3, **kwargs):
    return tuning.search(
        make_student, teacher, (digits.x_train, digits.y_train), (digits.x_test, digits.y_test),
        tuner=kwargs.pop("tuner", "random"), max_trials=max_trials, epochs=kwargs.pop("epochs", 4),
        directory=str(tmp_path), project_name="p", learning_rate=3e-3, **kwargs,
    )


def test_search_runs_the_teacher_once_and_beats_or_keeps_the_baseline(digits, digits_teacher, tmp_path):
    counting = CountingTeacher(digits_teacher)
    counting(digits.x_train[:1])
    before = int(counting.seen.numpy())
    result = run_search(digits, counting, tmp_path, max_trials=3, epochs=4)
    # Training and validation examples once each: not trials x epochs.
    assert int(counting.seen.numpy()) - before == len(digits.x_train) + len(digits.x_test)
    assert len(result.table) == 4 and result.table[-1]["score"] <= result.table[0]["score"]
    assert any(row["trial"].startswith("baseline") for row in result.table)
    assert result.best_score >= result.baseline["score"]
    assert set(result.best_hyperparameters) == {"temperature", "alpha", "learning_rate"}
    accuracy = np.mean(result.best_student.predict(digits.x_test, verbose=0).argmax(-1) == digits.y_test)
    assert accuracy == pytest.approx(result.best_score, abs=0.02)  # best epoch vs final weights
    assert accuracy > 0.5


def test_a_search_resumes_without_redoing_trials(digits, digits_teacher, tmp_path):
    run_search(digits, digits_teacher, tmp_path, max_trials=2, epochs=2)
    project = tmp_path / "p"
    trials = sorted(p.name for p in project.iterdir() if p.name.startswith("trial_"))
    stamps = {t: os.path.getmtime(project / t / "trial.json") for t in trials}
    baseline = os.path.getmtime(project / "baseline.json")
    resumed = run_search(digits, digits_teacher, tmp_path, max_trials=3, epochs=2)
    after = sorted(p.name for p in project.iterdir() if p.name.startswith("trial_"))
    assert len(after) == 3 and set(trials) < set(after)
    assert {t: os.path.getmtime(project / t / "trial.json") for t in trials} == stamps
    assert os.path.getmtime(project / "baseline.json") == baseline
    assert len(resumed.table) == 4
    assert json.loads((project / "baseline.json").read_text())["alpha"] == 0.0
