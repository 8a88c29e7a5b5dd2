"""Searching temperature, alpha and learning rate with Keras Tuner, the teacher run once per search."""

import dataclasses
import json
import math
import os

import keras
import keras_tuner
from keras_kd import backends

backends.require_tensorflow("keras_kd.tuning.search (Keras Tuner searches over tf.data-cached teachers)")

import tensorflow as tf

from keras_kd import defaults
from keras_kd.caching.teacher_cache import TeacherCache
from keras_kd.distillers.fit_inputs import attach_teacher_outputs
from keras_kd.models.export import save_keras
from keras_kd.tuning.hypermodel import DistillerHyperModel

TUNERS = {
    "bayesian": keras_tuner.BayesianOptimization,
    "random": keras_tuner.RandomSearch,
    "hyperband": keras_tuner.Hyperband,
    "grid": keras_tuner.GridSearch,
}


@dataclasses.dataclass
class SearchResult:
    """What `search` found.

    Attributes:
        best_hyperparameters: Dict of temperature, alpha, learning_rate.
        best_student: The trained student of the best configuration.
        best_score: Float, its objective value.
        table: List of dicts, one per trial plus the labels-only baseline,
            best first (ties on the objective broken by the lower validation
            label cross-entropy, "tie_break").
        baseline: Dict, the alpha = 0 run.
        tuner: The `keras_tuner.Tuner`.
    """

    best_hyperparameters: dict
    best_student: keras.Model
    best_score: float
    table: list
    baseline: dict
    tuner: object


def search(student_fn, teacher, train_data, validation_data, tuner="bayesian", max_trials=10,
           epochs=10, directory="kd_tuning", project_name="distiller", objective="val_accuracy",
           temperature=defaults.TEMPERATURE_RANGE, alpha=defaults.ALPHA_RANGE,
           learning_rate=defaults.LEARNING_RATE, batch_size=defaults.BATCH_SIZE,
           seed=0, overwrite=False, verbose=0, distiller_kwargs=None,
           learning_rate_decay="constant", progress=None):
    """Searches temperature, alpha (and optionally the learning rate) for a student.

    The teacher runs once over the training and validation data; every
    trial and epoch reuses its logits (arrays in memory, deterministic
    pipelines through a `TeacherCache` in the tuner's folder; a pipeline with
    random augmentation runs the teacher per batch, with a warning). A
    labels-only baseline (alpha = 0, at the first learning rate) is trained
    once and is reported, and returned if no trial beats it. An interrupted
    search resumes from `directory` without redoing finished trials.

    Args:
        student_fn: Callable returning a fresh, uncompiled student.
        teacher: The trained teacher.
        train_data: `(x, y)` arrays or a `tf.data.Dataset` of batches.
        validation_data: `(x, y)` arrays or a `tf.data.Dataset`.
        tuner: String, one of "bayesian", "random", "hyperband", "grid".
        max_trials: Integer, at least 1 (Hyperband sets its own count).
        epochs: Integer, epochs per trial (Hyperband's maximum).
        directory, project_name: Where Keras Tuner keeps its state.
        objective: String, the student's validation metric to maximize or
            minimize ("val_accuracy", "val_loss", ...).
        temperature, alpha, learning_rate: Search spaces, as in
            `DistillerHyperModel`.
        batch_size: Integer, for array data.
        seed: Integer, seeds the tuner, the students and the data order.
        overwrite: Boolean, start afresh instead of resuming.
        verbose: Keras verbosity of each trial.
        distiller_kwargs: Dict of further `Distiller` arguments fixed for
            every trial, as in `DistillerHyperModel`.
        learning_rate_decay: "constant", or "cosine" to decay each trial's
            rate to 0 over its `epochs` (as `keras_kd.recipes` trains). A
            dataset then needs a known number of batches.
        progress: Optional callable from a phase name ("search trial 3/10",
            "search baseline (labels only)") to a list of Keras callbacks for
            that fit, e.g.
            `lambda name: [keras_kd.EpochProgress(name)]`.

    Distributed tuning (Keras Tuner's `KERASTUNER_TUNER_ID`,
    `KERASTUNER_ORACLE_IP` and `KERASTUNER_ORACLE_PORT`, one chief and
    several workers running this same call over a shared `directory`):
    workers run trials and return None; the chief serves the oracle, then
    trains the baseline once and returns the result.

    Returns:
        A `SearchResult` (None on a distributed-tuning worker).

    Example:

    ```python
    result = keras_kd.tuning.search(make_student, teacher, (x, y), (xv, yv),
                                    tuner="random", max_trials=10, epochs=20)
    print(result.best_hyperparameters)
    ```
    """
    if tuner not in TUNERS:
        raise ValueError(f"Unknown tuner '{tuner}'. Choose one of: {', '.join(TUNERS)}.")
    if not isinstance(max_trials, int) or max_trials < 1:
        raise ValueError(f"`max_trials` must be an integer >= 1, got {max_trials!r}.")
    if not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"`epochs` must be an integer >= 1, got {epochs!r}.")
    if learning_rate_decay not in ("constant", "cosine"):
        raise ValueError(f"`learning_rate_decay` must be 'constant' or 'cosine', got {learning_rate_decay!r}.")
    decay_steps = None
    if learning_rate_decay == "cosine":
        decay_steps = epochs * _steps_per_epoch(train_data, batch_size)
    hypermodel = DistillerHyperModel(student_fn, teacher, temperature, alpha, learning_rate,
                                     seed=seed, distiller_kwargs=distiller_kwargs,
                                     decay_steps=decay_steps, progress=progress,
                                     max_trials=None if tuner == "hyperband" else max_trials)
    project = os.path.join(directory, project_name)
    distributed = keras_tuner_distributed()
    x, y = _with_teacher_logits(hypermodel, train_data, batch_size, project)
    validation = _with_teacher_logits(hypermodel, validation_data, batch_size, project)
    if validation[1] is None:  # a dataset
        validation = validation[0]
    fit_kwargs = {"validation_data": validation, "epochs": epochs, "verbose": verbose}
    if y is not None:
        fit_kwargs.update(y=y, batch_size=batch_size)
    # Keras Tuner reads a seed of 0 as "no seed" (`seed or random.randint(...)`).
    tuner_kwargs = {"objective": objective, "directory": directory, "project_name": project_name,
                    "seed": seed + 1, "overwrite": overwrite}
    if tuner == "hyperband":
        tuner_kwargs["max_epochs"] = epochs
    else:
        tuner_kwargs["max_trials"] = max_trials
    search_tuner = TUNERS[tuner](hypermodel, **tuner_kwargs)
    if distributed == "worker":
        search_tuner.search(x, **fit_kwargs)
        return None
    if distributed is None:
        baseline = _baseline(hypermodel, search_tuner, x, fit_kwargs, project, objective)
    search_tuner.search(x, **fit_kwargs)  # on the chief: serves the oracle until done
    if distributed == "chief":
        baseline = _baseline(hypermodel, search_tuner, x, fit_kwargs, project, objective)
    return _result(search_tuner, hypermodel, baseline, objective, project)


def _steps_per_epoch(train_data, batch_size):
    if isinstance(train_data, tf.data.Dataset):
        steps = int(train_data.cardinality())
        if steps < 1:
            raise ValueError(
                "learning_rate_decay='cosine' needs the number of batches per epoch, and this "
                "dataset's is unknown or infinite: apply "
                "`tf.data.experimental.assert_cardinality(n)` or pass arrays."
            )
        return steps
    return math.ceil(len(keras.tree.flatten(train_data[0])[0]) / batch_size)


def keras_tuner_distributed():
    """"chief" or "worker" under Keras Tuner's distributed tuning, else None."""
    if "KERASTUNER_ORACLE_IP" not in os.environ:
        return None
    return "chief" if "chief" in os.environ.get("KERASTUNER_TUNER_ID", "") else "worker"


def _with_teacher_logits(hypermodel, data, batch_size, project):
    """Arrays get packed teacher logits; datasets a TeacherCache; both computed once."""
    cache = TeacherCache(hypermodel.teacher_view, os.path.join(project, "teacher_cache"))
    x, y = (data, None) if isinstance(data, tf.data.Dataset) else data
    return attach_teacher_outputs(hypermodel.teacher_view, x, y, batch_size, cache)


def _baseline(hypermodel, tuner, x, fit_kwargs, project, objective):
    """Trains the alpha = 0 student once per project; a resumed search reads it back."""
    path = os.path.join(project, "baseline.json")
    if os.path.exists(path):
        with open(path) as f:
            return json.load(f)
    learning_rate = hypermodel.learning_rate
    if isinstance(learning_rate, (tuple, list)):
        learning_rate = learning_rate[0]
    temperature = hypermodel.temperature
    temperature = temperature[0] if isinstance(temperature, (tuple, list)) else temperature
    distiller = hypermodel.build_distiller(temperature, 0.0, learning_rate)
    keras.utils.set_random_seed(hypermodel.seed)
    callbacks = hypermodel.progress("search baseline (labels only)") if hypermodel.progress else []
    callbacks = callbacks + hypermodel.reuse_callbacks(distiller)
    history = distiller.fit(x, callbacks=callbacks, **fit_kwargs).history
    scores = history[objective]
    best = max(scores) if tuner.oracle.objective.direction == "max" else min(scores)
    os.makedirs(project, exist_ok=True)
    save_keras(distiller.student, os.path.join(project, "baseline_student.keras"))
    tie_break = min(history[TIE_BREAK]) if TIE_BREAK in history else None
    baseline = {"trial": "baseline (alpha=0, labels only)", "temperature": None, "alpha": 0.0,
                "learning_rate": float(learning_rate), "score": float(best),
                "tie_break": tie_break}
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(baseline, f)
    os.replace(tmp, path)
    return baseline


# Ties on the objective are common with small validation sets (216 digits
# score in steps of 0.46%); they go to the lower validation cross-entropy on
# the labels, which every trial reports on the same scale.
TIE_BREAK = "val_student_loss"


def _result(tuner, hypermodel, baseline, objective, project):
    rows, trials = [], {}
    for trial in tuner.oracle.get_best_trials(num_trials=len(tuner.oracle.trials)):
        values = trial.hyperparameters.values
        tie_break = None
        if trial.metrics.exists(TIE_BREAK):
            tie_break = trial.metrics.get_best_value(TIE_BREAK)
        rows.append({"trial": trial.trial_id, "temperature": values.get("temperature"),
                     "alpha": values.get("alpha"), "learning_rate": values.get("learning_rate"),
                     "score": trial.score, "tie_break": tie_break})
        trials[trial.trial_id] = trial
    rows.append(baseline)
    rows = rank_rows(rows, maximize=tuner.oracle.objective.direction == "max")
    best = rows[0]
    if best is baseline:
        student = keras.saving.load_model(os.path.join(project, "baseline_student.keras"))
    else:
        student = tuner.load_model(trials[best["trial"]]).student
    hypermodel.release()  # the trials' shared Distiller now holds the returned student
    hyperparameters = {k: best[k] for k in ("temperature", "alpha", "learning_rate")}
    return SearchResult(hyperparameters, student, best["score"], rows, baseline, tuner)


def rank_rows(rows, maximize=True):
    """Rows best first: by score, ties by the lower `tie_break`; no score last.

    Args:
        rows: List of dicts with "score" and optionally "tie_break" (a loss).
        maximize: Boolean, whether a higher score is better.

    Returns:
        A new, sorted list.
    """
    def key(row):
        if row["score"] is None:
            return (1, 0.0, 0.0)
        tie_break = row.get("tie_break")
        return (0, -row["score"] if maximize else row["score"],
                math.inf if tie_break is None else tie_break)

    return sorted(rows, key=key)
