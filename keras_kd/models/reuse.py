"""`Restartable`: one compiled model trained again from fresh starts, so its steps trace once."""

import keras


class Restartable:
    """A compiled model (a Distiller or a plain Keras model) reset before each new training.

    Keras traces a model's train, test and predict steps on its first `fit`
    and reuses them only for that same model. Training several students of
    one architecture (seeds, configurations, tuner trials) or the members of
    an ensemble on one compiled model, restarted in between, traces once
    instead of once per run: about a second per run, half of a short one.
    A restarted model trains exactly as a new one would (tested).

    A restart sets every variable except the teachers' (weights, BatchNorm
    statistics, dropout seed states, T, alpha, hint projections) back to its
    value when this object was made, then, with `start_from`, the trained
    model's variables to a fresh model's; and the optimizer back to the fresh
    state that the callback of `record_callbacks` recorded in the first `fit`.

    Args:
        model: A compiled `keras.Model`; for a Distiller the trained part is
            its `student`, and its teachers are left alone.

    Example:

    ```python
    shared = Restartable(distiller)
    for seed in seeds:
        shared.restart(start_from=build_student(seed))
        distiller.fit(x, y, callbacks=shared.record_callbacks())
        students.append(shared.copy_trained_to(build_student(seed)))
    ```
    """

    def __init__(self, model):
        self.model = model
        frozen = {id(v) for teacher in getattr(model, "teachers", ()) for v in teacher.variables}
        self.variables = [v for v in model.variables if id(v) not in frozen]
        self.start = [v.numpy() for v in self.variables]
        self.optimizer_start = None  # the first fit builds the optimizer

    @property
    def trained(self):
        """The model whose weights a training changes: the student of a Distiller, else the model."""
        return getattr(self.model, "student", self.model)

    def can_restart(self, start_from=None):
        """Whether `restart` gives a fresh start: the optimizer is unbuilt or its start is
        recorded, and `start_from` (if given) has the trained model's variables."""
        if self.optimizer_start is None and self.model.optimizer.built:
            return False
        return start_from is None or _same_variables(start_from, self.trained)

    def restart(self, start_from=None):
        """Resets the model to its recorded start, then the trained model to `start_from`'s
        variables (a fresh model of the same architecture), if given."""
        _assign(self.variables, self.start)
        if self.optimizer_start is not None:
            _assign(self.model.optimizer.variables, self.optimizer_start)
        if start_from is not None:
            _assign(self.trained.variables, [v.numpy() for v in start_from.variables])
        return self.model

    def record_callbacks(self):
        """Callbacks for a `fit`: the first records the optimizer's fresh state."""
        return [] if self.optimizer_start is not None else [_RecordOptimizerStart(self)]

    def copy_trained_to(self, model):
        """Gives `model` (same architecture) the trained model's variables; returns it."""
        _assign(model.variables, [v.numpy() for v in self.trained.variables])
        return model


def _same_variables(a, b):
    va, vb = a.variables, b.variables
    return len(va) == len(vb) and all(
        tuple(x.shape) == tuple(y.shape) and x.dtype == y.dtype for x, y in zip(va, vb))


def _assign(variables, values):
    for variable, value in zip(variables, values, strict=True):
        variable.assign(value)


class _RecordOptimizerStart(keras.callbacks.Callback):
    """Records the optimizer's fresh state as `fit` begins."""

    def __init__(self, restartable):
        super().__init__()
        self.restartable = restartable

    def on_train_begin(self, logs=None):
        optimizer = self.model.optimizer
        if not optimizer.built:
            # Without a distribution strategy Keras builds it in the first
            # step, for the same variables (`apply_gradients`).
            optimizer.build(self.model.trainable_variables)
        self.restartable.optimizer_start = [v.numpy() for v in optimizer.variables]
