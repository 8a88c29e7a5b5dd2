"""`DistillerHyperModel`: a compiled `Distiller` for each Keras Tuner trial, reset between trials."""

import math

import keras
import keras_tuner

from keras_kd import defaults
from keras_kd.distillers import checks
from keras_kd.distillers import hints as hints_lib
from keras_kd.distillers.distiller import Distiller
from keras_kd.distillers.teacher_view import TeacherView
from keras_kd.models.reuse import Restartable


def check_space(name, spec, low=None, high=None, open_low=False):
    """Validates a search-space entry: a number, a `(min, max)` tuple or a list of choices."""
    values = list(spec) if isinstance(spec, (tuple, list)) else [spec]
    if not values:
        raise ValueError(f"The search space for `{name}` is empty; give a value, a (min, max) range or choices.")
    for value in values:
        if not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ValueError(f"`{name}` must be finite numbers, got {spec!r}.")
        if (low is not None and (value < low or (open_low and value <= low))) or (
            high is not None and value > high
        ):
            bound = f"{'(' if open_low else '['}{low}, {high if high is not None else 'inf'}]"
            raise ValueError(f"`{name}` must lie in {bound}, got {spec!r}.")
    if isinstance(spec, tuple):
        if len(spec) != 2 or spec[0] > spec[1]:
            raise ValueError(f"A range for `{name}` is (min, max) with min <= max, got {spec!r}.")
    return spec


def _hyperparameter(hp, name, spec, log=False):
    if isinstance(spec, tuple):
        if spec[0] == spec[1]:
            return hp.Fixed(name, float(spec[0]))
        return hp.Float(name, float(spec[0]), float(spec[1]), sampling="log" if log else "linear")
    if isinstance(spec, list):
        return hp.Choice(name, [float(v) for v in spec])
    return hp.Fixed(name, float(spec))


class DistillerHyperModel(keras_tuner.HyperModel):
    """Gives each trial a compiled `Distiller` from a student builder and a teacher.

    Trials share one Distiller, reset to the seeded start before each, so its
    steps are traced once per search (see `build_distiller`).

    Each entry of the search space is a number (fixed), a `(min, max)` tuple
    (searched; temperature and learning rate on a log scale) or a list of
    choices.

    Args:
        student_fn: Callable returning a fresh, uncompiled student.
        teacher: The trained teacher (`keras.Model` outputting logits).
        temperature: Search space for T. Defaults to `(1.0, 20.0)`.
        alpha: Search space for alpha. Defaults to `(0.0, 1.0)`.
        learning_rate: Search space for Adam's learning rate. Defaults to 1e-3.
        metrics: List of metrics of the student. Defaults to `["accuracy"]`.
        seed: Integer; every trial's student starts from the same seeded
            weights and sees the same data order, so trials differ only by
            their hyperparameters.
        distiller_kwargs: Dict of further `Distiller` arguments fixed for
            every trial (`distillation_loss="dkd"`, `hints`, `teacher_weights`
            with a list of teachers, ...). Defaults to None.
        decay_steps: Integer or None. When set, Adam's rate decays to 0 along
            a cosine over this many steps (the recipes' schedule), so each
            trial ends converged instead of wandering at a constant rate.
        progress: Optional callable from a phase name ("search trial 3/10")
            to a list of Keras callbacks added to each trial's fit.
        max_trials: Integer or None, the trial count shown in that name.

    Example:

    ```python
    hypermodel = keras_kd.tuning.DistillerHyperModel(make_student, teacher, alpha=[0.5, 0.9])
    tuner = keras_tuner.RandomSearch(hypermodel, "val_accuracy", max_trials=10)
    ```
    """

    def __init__(self, student_fn, teacher, temperature=defaults.TEMPERATURE_RANGE,
                 alpha=defaults.ALPHA_RANGE, learning_rate=defaults.LEARNING_RATE, metrics=("accuracy",), seed=0, distiller_kwargs=None,
                 decay_steps=None, progress=None, max_trials=None, **kwargs):
        super().__init__(**kwargs)
        self.student_fn = student_fn
        self.teacher = teacher
        self.temperature = check_space("temperature", temperature, low=0.0, open_low=True)
        self.alpha = check_space("alpha", alpha, low=0.0, high=1.0)
        self.learning_rate = check_space("learning_rate", learning_rate, low=0.0, open_low=True)
        self.metrics = list(metrics)
        self.seed = seed
        self.distiller_kwargs = dict(distiller_kwargs or {})
        if decay_steps is not None and (not isinstance(decay_steps, int) or decay_steps < 1):
            raise ValueError(f"`decay_steps` must be a positive integer or None, got {decay_steps!r}.")
        self.decay_steps = decay_steps
        # Checks the models now and gives the model whose outputs every trial
        # reads (one teacher, or several teachers and hints).
        student, teachers = checks.check_distiller_models(student_fn(), teacher)
        hints = hints_lib.as_hints(self.distiller_kwargs.get("hints"))
        view = TeacherView(teachers, student, hints)
        if view.structured:
            raise ValueError(
                "A search caches the teachers' outputs as one flat row per example; feature "
                "hints on sequence or pixel outputs give a list. Search without `hints`, then "
                "train the chosen T and alpha with them."
            )
        self.teacher_view = view.model
        self.progress = progress
        self.max_trials = max_trials
        self.trials_run = 0  # in this process: a resumed search counts from 1 again
        self._shared = None  # a Restartable: the Distiller the trials share
        self._shared_rate = None

    def build(self, hp):
        temperature = _hyperparameter(hp, "temperature", self.temperature, log=True)
        alpha = _hyperparameter(hp, "alpha", self.alpha)
        learning_rate = _hyperparameter(hp, "learning_rate", self.learning_rate, log=True)
        return self.build_distiller(temperature, alpha, learning_rate)

    def build_distiller(self, temperature, alpha, learning_rate):
        """A compiled Distiller with these values and a freshly seeded student.

        Trials with the same learning rate get the same Distiller back, reset
        to the seeded initial weights and a fresh optimizer: its steps are
        traced once per search instead of once per trial (about half of a
        short trial's time), and it trains exactly as a new one would.
        """
        shared = self._shared
        if shared is not None and self._shared_rate == learning_rate and shared.can_restart():
            distiller = shared.restart()
            distiller.temperature = temperature
            distiller.alpha = alpha
            return distiller
        keras.utils.set_random_seed(self.seed)
        distiller = Distiller(self.student_fn(), self.teacher, temperature, alpha,
                              **self.distiller_kwargs)
        compiled_rate = learning_rate
        if self.decay_steps:
            compiled_rate = keras.optimizers.schedules.CosineDecay(learning_rate, self.decay_steps)
        distiller.compile(keras.optimizers.Adam(compiled_rate), metrics=self.metrics)
        self._shared, self._shared_rate = Restartable(distiller), learning_rate
        return distiller

    def release(self):
        """Stops handing out the shared Distiller: later builds make new ones.

        `search` calls it before returning, so that no later `build` resets the
        best student it returns.
        """
        self._shared = None

    def fit(self, hp, model, *args, **kwargs):
        keras.utils.set_random_seed(self.seed)
        callbacks = list(kwargs.get("callbacks") or [])
        if self.progress is not None:
            self.trials_run += 1
            name = f"search trial {self.trials_run}"
            if self.max_trials:
                name += f"/{self.max_trials}"
            callbacks += self.progress(name)
        kwargs["callbacks"] = callbacks + self.reuse_callbacks(model)
        return model.fit(*args, **kwargs)

    def reuse_callbacks(self, model):
        """Callbacks for a fit of the shared Distiller: the first records its fresh optimizer."""
        shared = self._shared
        return shared.record_callbacks() if shared is not None and shared.model is model else []
