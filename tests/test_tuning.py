"""Keras Tuner search over T, alpha and learning rate, with the teacher run once per search."""

import json
import os

import keras
import keras_tuner
import numpy as np
import pytest
import tensorflow as tf

from keras_kd.recipes import architectures
from keras_kd import tuning
from test_distiller import CountingTeacher


def make_student():
    return architectures.build("mlp-tiny", (64,), 10)


def test_hypermodel_builds_the_configurations_it_is_given(digits, digits_teacher):
    hypermodel = tuning.DistillerHyperModel(
        make_student, digits_teacher, temperature=(1.0, 20.0), alpha=[0.25, 0.75], learning_rate=3e-3
    )
    hp = keras_tuner.HyperParameters()
    first = hypermodel.build(hp)
    assert set(hp.values) == {"temperature", "alpha", "learning_rate"}
    assert hp.values["learning_rate"] == 3e-3
    first_values = (first.temperature, first.alpha)
    start = [w.copy() for w in first.student.get_weights()]
    hypermodel.fit(hp, first, digits.x_train[:128], digits.y_train[:128], epochs=1, verbose=0)
    hp.values.update(temperature=7.5, alpha=0.75)
    second = hypermodel.build(hp)
    assert second is first  # one compiled Distiller per search: its steps are traced once
    assert (second.temperature, second.alpha) == (7.5, 0.75) != first_values
    assert second.optimizer.learning_rate.numpy() == pytest.approx(3e-3)
    # Every trial's student starts from the same seeded weights, with a fresh optimizer.
    for a, b in zip(start, second.student.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert int(second.optimizer.iterations.numpy()) == 0
    assert all(not np.any(v.numpy()) for v in second.optimizer.variables
               if "momentum" in v.path or "velocity" in v.path)


def test_a_reused_distiller_trains_exactly_like_a_new_one(digits, digits_teacher):
    """Trial B after trial A on the shared Distiller equals trial B on a new hypermodel."""
    x, y = digits.x_train[:256], digits.y_train[:256]
    fit = dict(epochs=2, batch_size=64, validation_data=(digits.x_test[:128], digits.y_test[:128]),
               verbose=0)

    def trial(hypermodel, temperature, alpha):
        hp = keras_tuner.HyperParameters()
        hp.Fixed("temperature", temperature)
        hp.Fixed("alpha", alpha)
        model = hypermodel.build(hp)
        history = hypermodel.fit(hp, model, x, y, **fit).history
        return model, history, [w.copy() for w in model.student.get_weights()]

    def hypermodel():  # a student with dropout: its random state is reset too
        return tuning.DistillerHyperModel(
            lambda: architectures.mlp((64,), 10, hidden=(32,), dropout=0.3), digits_teacher,
            temperature=(1.0, 20.0), alpha=(0.0, 1.0), learning_rate=3e-3, decay_steps=8)

    shared = hypermodel()
    first, _, _ = trial(shared, 2.0, 0.3)
    traces = []
    train_step = first.train_step
    first.train_step = lambda data: traces.append(1) or train_step(data)
    reused, history, weights = trial(shared, 6.0, 0.8)
    assert reused is first and traces == []  # no new trace for the second trial
    _, want_history, want_weights = trial(hypermodel(), 6.0, 0.8)
    for key, values in want_history.items():
        np.testing.assert_allclose(history[key], values, rtol=1e-6, atol=1e-7, err_msg=key)
    for a, b in zip(weights, want_weights):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


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
        ({"learning_rate_decay": "linear"}, "learning_rate_decay"),
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


def test_cosine_decay_takes_each_trial_to_a_zero_rate(digits, digits_teacher, tmp_path):
    hypermodel = tuning.DistillerHyperModel(make_student, digits_teacher, learning_rate=3e-3,
                                            decay_steps=10)
    distiller = hypermodel.build(keras_tuner.HyperParameters())
    assert float(distiller.optimizer.learning_rate) == pytest.approx(3e-3)
    distiller.optimizer.iterations.assign(5)
    assert float(distiller.optimizer.learning_rate) == pytest.approx(1.5e-3, rel=1e-5)
    distiller.optimizer.iterations.assign(10)
    assert float(distiller.optimizer.learning_rate) == pytest.approx(0.0, abs=1e-9)
    # search() sets the steps from the data: epochs x batches per epoch.
    result = run_search(digits, digits_teacher, tmp_path, max_trials=1, epochs=2,
                        learning_rate_decay="cosine")
    steps = 2 * int(np.ceil(len(digits.x_train) / 64))
    assert result.tuner.hypermodel.decay_steps == steps
    with pytest.raises(ValueError, match="assert_cardinality"):
        unknown = tf.data.Dataset.from_tensor_slices((digits.x_train, digits.y_train)).batch(64).filter(
            lambda x, y: True)
        tuning.search(make_student, digits_teacher, unknown, (digits.x_test, digits.y_test),
                      directory=str(tmp_path / "q"), learning_rate_decay="cosine")
    with pytest.raises(ValueError, match="decay_steps"):
        tuning.DistillerHyperModel(make_student, digits_teacher, decay_steps=0)


def run_search(digits, teacher, tmp_path, max_trials=3, **kwargs):
    return tuning.search(
        make_student, teacher, (digits.x_train, digits.y_train), (digits.x_test, digits.y_test),
        tuner=kwargs.pop("tuner", "random"), max_trials=max_trials, epochs=kwargs.pop("epochs", 4),
        directory=str(tmp_path), project_name="p", learning_rate=3e-3, **kwargs,
    )


def test_search_runs_the_teacher_once_and_ranks_the_trials_with_the_baseline(digits, digits_teacher, tmp_path):
    counting = CountingTeacher(digits_teacher)
    counting(digits.x_train[:1])
    before = int(counting.seen.numpy())
    result = run_search(digits, counting, tmp_path, max_trials=3, epochs=4)
    # Training and validation examples once each: not trials x epochs.
    assert int(counting.seen.numpy()) - before == len(digits.x_train) + len(digits.x_test)
    assert len(result.table) == 4 and result.table[-1]["score"] <= result.table[0]["score"]
    assert any(row["trial"].startswith("baseline") for row in result.table)
    assert result.best_score == max(row["score"] for row in result.table)
    assert set(result.best_hyperparameters) == {"temperature", "alpha", "learning_rate"}
    accuracy = np.mean(result.best_student.predict(digits.x_test, verbose=0).argmax(-1) == digits.y_test)
    assert accuracy == pytest.approx(result.best_score, abs=0.02)  # best epoch vs final weights
    assert accuracy > 0.5


def test_the_labels_only_baseline_wins_against_an_untrained_teacher(digits, tmp_path):
    # alpha = 1 copies a random teacher's soft labels: no trial can learn the
    # digits, so the search must return the baseline, its student included.
    keras.utils.set_random_seed(5)
    untrained = keras.Sequential([keras.Input((64,)), keras.layers.Dense(10)])
    result = run_search(digits, untrained, tmp_path, max_trials=2, epochs=3,
                        temperature=[4.0], alpha=[1.0])
    assert result.table[0] is result.baseline
    assert result.best_hyperparameters == {"temperature": None, "alpha": 0.0,
                                           "learning_rate": 3e-3}
    trials = [row["score"] for row in result.table[1:]]
    assert result.best_score == result.baseline["score"] > max(trials) + 0.2
    accuracy = np.mean(result.best_student.predict(digits.x_test, verbose=0).argmax(-1)
                       == digits.y_test)
    assert accuracy == pytest.approx(result.best_score, abs=0.02)  # the baseline's own student


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


@pytest.mark.slow  # three TensorFlow processes, about 25 CPU s (benchmarks/RESULTS.md)
def test_distributed_tuning_with_a_chief_and_two_workers(digits_teacher, tmp_path):
    import sys

    from helpers import run_together

    from keras_kd.distribute import launch

    teacher_path = tmp_path / "teacher.keras"
    digits_teacher.save(teacher_path)
    job = os.path.join(os.path.dirname(os.path.abspath(__file__)), "tuning_job.py")
    (port,) = launch.free_ports(1)
    commands, envs = [], []
    for tuner_id in ("chief", "tuner0", "tuner1"):
        env = dict(os.environ, KERASTUNER_TUNER_ID=tuner_id, KERASTUNER_ORACLE_IP="127.0.0.1",
                   KERASTUNER_ORACLE_PORT=str(port), TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
        env.pop("TF_CONFIG", None)
        commands.append([sys.executable, job, str(teacher_path), str(tmp_path / "tuning"),
                         str(tmp_path / f"{tuner_id}.json")])
        envs.append(env)
    codes, logs = run_together(commands, envs, timeout=300)
    assert codes == [0, 0, 0], "\n".join(log[-2000:] for log in logs)
    reports = {t: json.loads((tmp_path / f"{t}.json").read_text()) for t in ("chief", "tuner0", "tuner1")}
    assert reports["chief"]["ran"] == []  # the chief only serves the oracle
    ran = reports["tuner0"]["ran"] + reports["tuner1"]["ran"]
    assert len(ran) == 3  # every trial ran exactly once, across the two workers
    assert len({json.dumps(r, sort_keys=True) for r in ran}) == 3
    table = reports["chief"]["table"]
    assert len(table) == 4 and table[0]["score"] == reports["chief"]["best_score"]
    assert reports["chief"]["best_score"] == max(r["score"] for r in table)
    assert sum(r["trial"].startswith("baseline") for r in table) == 1


def test_a_killed_search_resumes_to_the_uninterrupted_result(digits_teacher, tmp_path, monkeypatch):
    import subprocess
    import sys

    import tuning_job

    teacher_path = tmp_path / "teacher.keras"
    digits_teacher.save(teacher_path)
    job = os.path.join(os.path.dirname(os.path.abspath(__file__)), "tuning_job.py")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KERASTUNER_", "TF_CONFIG"))}
    env.update(TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")

    def start(directory, name, *extra):
        return subprocess.Popen([sys.executable, job, str(teacher_path), str(tmp_path / directory),
                                 str(tmp_path / name), *extra], env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)

    def finish(process):
        try:
            output, _ = process.communicate(timeout=300)
        finally:
            process.kill()
        return process.returncode, output

    # The uninterrupted search runs here while the killed one runs in its own
    # process; the killed search then resumes here, from the folder it left.
    killed = start("resumed", "killed.json", "2")
    whole = tuning_job.search(keras.saving.load_model(teacher_path, compile=False), str(tmp_path / "whole"))
    killed_code, killed_log = finish(killed)
    assert killed_code == 17, killed_log[-2000:]
    assert not (tmp_path / "killed.json").exists()
    ran = []
    fit = tuning.DistillerHyperModel.fit
    monkeypatch.setattr(tuning.DistillerHyperModel, "fit",
                        lambda self, hp, *a, **k: ran.append(dict(hp.values)) or fit(self, hp, *a, **k))
    resumed = tuning_job.search(keras.saving.load_model(teacher_path, compile=False), str(tmp_path / "resumed"))
    assert len(ran) == 2  # trial 1 was finished before the kill and not redone
    assert resumed["best"] == whole["best"]
    assert resumed["best_score"] == pytest.approx(whole["best_score"], abs=1e-6)
    assert [r["score"] for r in resumed["table"]] == pytest.approx([r["score"] for r in whole["table"]], abs=1e-6)


@pytest.mark.parametrize("tuner", ["bayesian", "hyperband"])
def test_every_tuner_runs(digits, digits_teacher, tmp_path, tuner):
    result = run_search(digits, digits_teacher, tmp_path, max_trials=2, epochs=2, tuner=tuner)
    trials = [row for row in result.table if not row["trial"].startswith("baseline")]
    assert len(trials) >= 2 and all(row["score"] is not None for row in trials)
    assert result.best_score == max(row["score"] for row in result.table)


def test_search_over_several_teachers_with_dkd_runs_each_teacher_once(digits, digits_teacher, tmp_path):
    second = CountingTeacher(architectures.build("mlp-small", (64,), 10))
    first = CountingTeacher(digits_teacher)
    for teacher in (first, second):
        teacher(digits.x_train[:1])
    before = [int(t.seen.numpy()) for t in (first, second)]
    result = run_search(
        digits, [first, second], tmp_path, max_trials=2, epochs=2,
        distiller_kwargs={"distillation_loss": "dkd", "teacher_weights": [3, 1]},
    )
    examples = len(digits.x_train) + len(digits.x_test)
    assert [int(t.seen.numpy()) - b for t, b in zip((first, second), before)] == [examples] * 2
    assert len(result.table) == 3
    predictions = result.best_student.predict(digits.x_test[:64], verbose=0)
    assert result.tuner.hypermodel._shared is None  # released: no build resets the result
    built = result.tuner.hypermodel.build(result.tuner.oracle.get_best_trials(1)[0].hyperparameters)
    assert built.distillation_loss == "dkd" and built.teacher_weights == [0.75, 0.25]
    # A build after the search makes a new Distiller: the returned student keeps its weights.
    assert built.student is not result.best_student
    np.testing.assert_array_equal(result.best_student.predict(digits.x_test[:64], verbose=0),
                                  predictions)


def test_ties_go_to_the_lower_validation_cross_entropy():
    rows = [
        {"trial": "a", "score": 0.98, "tie_break": 0.30},
        {"trial": "b", "score": None},
        {"trial": "c", "score": 0.98, "tie_break": 0.10},
        {"trial": "d", "score": 0.97, "tie_break": 0.01},
        {"trial": "e", "score": 0.98},  # e.g. an old baseline.json without the value
    ]
    assert [r["trial"] for r in tuning.rank_rows(rows)] == ["c", "a", "e", "d", "b"]
    losses = [dict(r, score=None if r["score"] is None else -r["score"]) for r in rows]
    assert [r["trial"] for r in tuning.rank_rows(losses, maximize=False)] == ["c", "a", "e", "d", "b"]
