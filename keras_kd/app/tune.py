"""`tune`: search T and alpha on a validation split, then compare the pick on the test split."""

import dataclasses
import json
import math
import os

from keras_kd import recipes
from keras_kd.app import plots, report
from keras_kd.app.model_card import model_card
from keras_kd.app.runs import (
    get_teacher, log, progress_callbacks, student_factory, test_accuracy, train_configurations,
)
from keras_kd.atomic import atomic_path
from keras_kd.distribute import strategies
from keras_kd.models.export import export_saved_model, save_keras


def validation_split(data, fraction=0.2, seed=0):
    """Carves a stratified, seeded validation split out of the training split.

    The test split is left untouched, so that a search scored on the
    validation split never sees it.

    Args:
        data: A `keras_kd.recipes.data.Splits`.
        fraction: Float in (0, 1), the share of training examples held out.
        seed: Integer.

    Returns:
        `(search, description)`: a `Splits` whose "test" arrays are the
        validation examples, and a dict describing the split for the record.
    """
    from sklearn.model_selection import train_test_split

    if not 0 < fraction < 1:
        raise ValueError(f"The validation fraction must lie in (0, 1), got {fraction!r}.")
    x_fit, x_val, y_fit, y_val = train_test_split(
        data.x_train, data.y_train, test_size=fraction, random_state=seed, stratify=data.y_train
    )
    search = dataclasses.replace(data, x_train=x_fit, y_train=y_fit, x_test=x_val, y_test=y_val)
    return search, {"fraction": fraction, "seed": seed, "stratified": True,
                    "search_examples": int(len(x_fit)), "validation_examples": int(len(x_val))}


def tune(settings, data, tuner="bayesian", max_trials=10, directory=None,
         temperature=(1.0, 20.0), alpha=(0.0, 1.0), overwrite=False, verbose=0,
         validation_fraction=0.2):
    """Searches T and alpha on a validation split, then compares the pick on the test split.

    The search trains each trial on the training split less a stratified
    validation split (`validation_split`), on the recipe's views and
    schedule (cosine decay), and scores it on that validation split: the
    test split never reaches it. The chosen T and alpha are then trained as
    `keras-kd distill` trains, on the whole training split over the seeds,
    next to the scratch student and the default T and alpha, and all three
    are reported on the test split.

    Writes to `settings.output`: the tuned student of the first seed
    (`student/` SavedModel, `student.keras`), `model_card.json`,
    `tuning.json` (every trial, the labels-only baseline, the validation
    split and the test comparison), `tuning.md` and `tuning.png`. Keras
    Tuner's own state goes to `directory` (default `saved_models/tuning`),
    so an interrupted search resumes.

    Returns:
        A `keras_kd.tuning.SearchResult`.
    """
    from keras_kd import tuning

    strategy = strategies.make_strategy(settings.strategy)
    make_student = student_factory(settings, data)  # refused before the teacher trains
    teacher, teacher_source = get_teacher(settings, data, verbose, strategy)
    seed = settings.seeds[0]
    search_data, split = validation_split(data, validation_fraction, seed)
    directory = directory or os.path.join("saved_models", "tuning")
    project = f"{data.name}_{settings.student_arch}_{search_data.fingerprint()[:8]}"
    train, epochs = (search_data.x_train, search_data.y_train), settings.epochs
    recipe = settings.training_recipe()
    if recipe and recipe.views:
        train = recipes.recorded_views(*train, recipe, data.num_classes, seed)
        epochs = math.ceil(settings.epochs / recipe.views)
    log(f"{tuner} search, {max_trials} trials, on {split['search_examples']} training "
         f"examples scored on {split['validation_examples']} held out from them; state in "
         f"{directory}/{project}", settings)
    result = tuning.search(
        lambda: make_student(seed), teacher, train, (search_data.x_test, search_data.y_test),
        tuner=tuner, max_trials=max_trials, epochs=epochs, directory=directory,
        project_name=project, temperature=temperature, alpha=alpha,
        learning_rate=settings.learning_rate, batch_size=settings.batch_size, seed=seed,
        overwrite=overwrite, verbose=verbose, learning_rate_decay="cosine",
        progress=progress_callbacks(settings),
    )
    best = result.best_hyperparameters
    summary = (f"best on validation: T={_show(best['temperature'])}, alpha={_show(best['alpha'])}, "
               f"score {result.best_score:.4f} (labels-only baseline "
               f"{result.baseline['score']:.4f})")
    print(_tuning_table(result.table))
    print(summary)
    configurations = {
        "scratch student": (settings.temperature, 0.0),
        f"default (T={settings.temperature:g}, alpha={settings.alpha:g})":
            (settings.temperature, settings.alpha),
    }
    tuned = f"tuned (T={_show(best['temperature'])}, alpha={_show(best['alpha'])})"
    configurations[tuned] = (best["temperature"] or settings.temperature, best["alpha"])
    log(f"training the pick, the default and scratch on the whole training split over "
         f"seeds {list(settings.seeds)}; reporting the test split", settings)
    runs = train_configurations(settings, data, teacher, verbose, strategy, configurations)
    with atomic_path(settings.output) as out:
        os.makedirs(out)
        student = runs[tuned][0][0]
        export_saved_model(student, os.path.join(out, "student"))
        save_keras(student, os.path.join(out, "student.keras"))
        rows = [report.measure_saved_model("teacher", teacher, data.x_test, data.y_test)]
        for name, trained in runs.items():
            rows.append(report.measure_saved_model(
                name, trained[0][0], data.x_test, data.y_test,
                accuracies=[test_accuracy(m, data) for m, _ in trained],
            ))
        comparison = report.markdown_table(rows)
        card = model_card(settings, data, teacher, teacher_source, rows,
                           report.gap_closed(rows[0].accuracy, rows[1].accuracy, rows[3].accuracy),
                           strategy.num_replicas_in_sync)
        card.update(temperature=best["temperature"], alpha=best["alpha"])
        with open(os.path.join(out, "model_card.json"), "w") as f:
            json.dump(card, f, indent=2)
        with open(os.path.join(out, "tuning.json"), "w") as f:
            json.dump({"tuner": tuner, "objective": "val_accuracy", "best": best,
                       "best_score": result.best_score, "validation_split": split,
                       "trials": result.table,
                       "test_comparison": card["models"]}, f, indent=2)
        with open(os.path.join(out, "tuning.md"), "w") as f:
            f.write(f"# {data.name}: {tuner} search\n\n{_tuning_table(result.table)}\n\n"
                    f"{summary}\n\n## On the test split\n\n{comparison}\n")
        plots.search_scatter(result.table, os.path.join(out, "tuning.png"))
    print(comparison)
    log(f"wrote {settings.output}", settings)
    return result


def _show(value):
    return "-" if value is None else f"{value:.3g}"


def _tuning_table(rows):
    def show(value, fmt):
        return "-" if value is None else format(value, fmt)

    lines = ["| trial | temperature | alpha | learning rate | val accuracy |", "|---|---|---|---|---|"]
    for row in rows:
        lines.append(f"| {row['trial']} | {show(row['temperature'], '.3g')} | {show(row['alpha'], '.3f')} "
                     f"| {show(row['learning_rate'], '.2e')} | {show(row['score'], '.4f')} |")
    return "\n".join(lines)
