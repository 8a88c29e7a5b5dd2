"""`self_distill`: Born-Again Networks, each generation taught by the one before."""

import dataclasses

import keras
import numpy as np

from keras_kd import defaults
from keras_kd.distillers.distiller import Distiller
from keras_kd.models.tools import compile_classifier


@dataclasses.dataclass
class SelfDistillationResult:
    """What `self_distill` returns.

    Attributes:
        models: List of `keras.Model`, generation 0 (labels only) first.
        table: List of dicts, one per generation: `generation`,
            `val_accuracy` (last epoch), `best_val_accuracy` (best epoch) and
            `agreement` with the previous generation (None for generation 0).
    """

    models: list
    table: list

    @property
    def best(self):
        """The generation with the highest last-epoch validation accuracy."""
        return self.models[int(np.argmax([row["val_accuracy"] for row in self.table]))]

    def to_markdown(self):
        lines = ["| generation | val accuracy (last) | val accuracy (best) | agreement with previous |",
                 "|---|---|---|---|"]
        for row in self.table:
            agreement = "" if row["agreement"] is None else f"{100 * row['agreement']:.2f}%"
            lines.append(
                f"| {row['generation']} | {100 * row['val_accuracy']:.2f}% | "
                f"{100 * row['best_val_accuracy']:.2f}% | {agreement} |"
            )
        return "\n".join(lines)


def self_distill(model_fn, x, y, validation_data, generations=3,
                 temperature=defaults.TEMPERATURE, alpha=0.5,
                 epochs=10, batch_size=32, optimizer="adam", verbose=0):
    """Trains `generations` copies of one architecture, each distilled from the last.

    Born-Again Networks (Furlanello et al. 2018): generation 0 learns from
    the labels; generation k+1, a fresh model of the same architecture,
    learns from generation k as a frozen teacher (and the labels).

    Args:
        model_fn: Callable with no arguments that returns a new, uncompiled
            `keras.Model` outputting logits.
        x: Training inputs (arrays).
        y: Integer training labels.
        validation_data: Tuple `(x_val, y_val)`, used for the table.
        generations: Integer >= 1, the number of models trained. Defaults to 3.
        temperature: Float, greater than 0. Defaults to 4.0.
        alpha: Float in [0, 1], weight of the teacher term. Defaults to 0.5.
        epochs: Integer, epochs per generation. Defaults to 10.
        batch_size: Integer. Defaults to 32.
        optimizer: Optimizer name, or a callable returning a fresh optimizer
            (each generation needs its own). Defaults to "adam".
        verbose: Passed to `fit`. Defaults to 0.

    Returns:
        A `SelfDistillationResult` with every generation and their table.

    Example:

    ```python
    result = keras_kd.self_distill(lambda: keras_kd.recipes.architectures.build("mlp-small", 64, 10),
                                   x, y, (x_val, y_val), generations=3)
    print(result.to_markdown())
    ```
    """
    if int(generations) != generations or generations < 1:
        raise ValueError(f"`generations` must be an integer >= 1, got {generations!r}.")
    if not callable(model_fn):
        raise TypeError("`model_fn` must be a callable that returns a new keras.Model.")
    if isinstance(optimizer, keras.optimizers.Optimizer):
        raise TypeError(
            "Each generation needs its own optimizer: pass a name ('adam') or a "
            "callable that returns a new optimizer, not an optimizer object."
        )
    x_val, y_val = validation_data
    models, table, previous = [], [], None
    for generation in range(int(generations)):
        model = model_fn()
        if models and model is models[-1]:
            raise ValueError("`model_fn` returned the same model twice; it must build a new one.")
        # Generation 0 has no teacher: alpha = 0 with itself as a stand-in
        # would be refused, so it trains on the labels through plain Keras.
        if previous is None:
            trainer = model
            compile_classifier(trainer, optimizer() if callable(optimizer) else optimizer)
        else:
            trainer = Distiller(model, previous, temperature=temperature, alpha=alpha)
            trainer.compile(optimizer=optimizer() if callable(optimizer) else optimizer,
                            metrics=["accuracy"])
        history = trainer.fit(x, y, epochs=epochs, batch_size=batch_size,
                              validation_data=(x_val, y_val), verbose=verbose)
        predictions = np.argmax(model.predict(x_val, verbose=0), axis=-1)
        agreement = None
        if previous is not None:
            agreement = float(np.mean(predictions == np.argmax(previous.predict(x_val, verbose=0), -1)))
        table.append({
            "generation": generation,
            "val_accuracy": float(np.mean(predictions == np.asarray(y_val).reshape(-1))),
            "best_val_accuracy": float(max(history.history["val_accuracy"])),
            "agreement": agreement,
        })
        models.append(model)
        previous = model
    return SelfDistillationResult(models=models, table=table)
