"""The model card written beside every student, and reading the split a saved model was trained on."""

import json
import os
import platform
import sys

import keras
import numpy as np
from keras_kd import backends

backends.require_tensorflow("The keras-kd command line")

import tensorflow as tf

from keras_kd import recipes
from keras_kd.models.tools import weights_fingerprint


def find_model_card(path):
    """The `model_card.json` beside a saved model (`.keras`, SavedModel, `.tflite`), or None."""
    folder = os.path.dirname(os.path.abspath(os.fspath(path).rstrip("/\\")))
    card = os.path.join(folder, "model_card.json")
    if not os.path.isfile(card):
        return None
    with open(card) as f:
        return json.load(f)


def trained_split(path, dataset=None, seed=None, data_dir=None):
    """The train/test split that the model at `path` was trained on.

    Read from the model card beside the model, which records the dataset,
    the seed of its split and a fingerprint of the data. Without a card the
    digits need an explicit `seed` (their split depends on it); a TFDS
    dataset's split is fixed.

    Args:
        path: String, a saved model written by `keras-kd distill` or `tune`.
        dataset: String or None; must agree with the card when both exist.
        seed: Integer or None; the digits' split seed, when there is no card.
        data_dir: TFDS data folder.

    Returns:
        `(splits, description)`: a `keras_kd.recipes.data.Splits` and a phrase saying
        which split it is.

    Raises:
        ValueError: the given dataset or seed contradict the card, the data
            changed since training, or the digits' seed is unknown.
    """
    from keras_kd.recipes import data as data_module

    card = find_model_card(path)
    if card is None:
        dataset = dataset or data_module.DEFAULT_DATASET
        if dataset == data_module.DEFAULT_DATASET and seed is None:
            raise ValueError(
                f"No model_card.json beside '{path}', so its digits split is unknown: "
                "pass --seed with the seed it was distilled with (distill --seed)."
            )
        data = data_module.load(dataset, data_dir=data_dir, seed=seed or 0)
        how = "its fixed test split" if data.split_seed is None else f"split seed {seed} (--seed)"
        return data, how
    card_seed = card.get("split_seed", (card.get("seeds") or [0])[0])
    if dataset is not None and dataset != card["dataset"]:
        raise ValueError(
            f"'{path}' was trained on {card['dataset']} (model_card.json), not {dataset}; "
            "drop --dataset."
        )
    if seed is not None and card_seed is not None and seed != card_seed:
        raise ValueError(
            f"'{path}' was trained on the split of seed {card_seed} (model_card.json); "
            f"--seed {seed} would score it on its own training examples. Drop --seed."
        )
    data = data_module.load(card["dataset"], data_dir=data_dir, seed=card_seed or 0)
    if card.get("data_fingerprint") and data.fingerprint() != card["data_fingerprint"]:
        raise ValueError(
            f"The {card['dataset']} data here differ from those '{path}' was trained on "
            "(data fingerprint in model_card.json); evaluate it where it was trained."
        )
    how = ("its fixed test split" if card_seed is None or data.split_seed is None
           else f"split seed {card_seed}, from model_card.json")
    return data, how


def _teacher_architecture(settings, teacher):
    if settings.teacher:
        return teacher.name
    members = recipes.get(settings.recipe).teachers if settings.recipe else 1
    return f"ensemble of {members} {settings.teacher_arch}" if members > 1 else settings.teacher_arch


def model_card(settings, data, teacher, teacher_source, rows, gap, replicas):
    return {
        "dataset": data.name,
        "data_fingerprint": data.fingerprint(),
        "split_seed": data.split_seed,
        "train_examples": int(len(data.x_train)),
        "test_examples": int(len(data.x_test)),
        "teacher": teacher_source,
        "teacher_architecture": _teacher_architecture(settings, teacher),
        "teacher_weights_fingerprint": weights_fingerprint(teacher),
        "student_architecture": settings.student_arch if not settings.student else settings.student,
        "recipe": settings.recipe,
        "temperature": settings.temperature,
        "alpha": settings.alpha,
        "epochs": settings.epochs,
        "teacher_epochs": settings.teacher_epochs or settings.epochs,
        "batch_size": settings.batch_size,
        "learning_rate": settings.learning_rate,
        "seeds": list(settings.seeds),
        "strategy": settings.strategy,
        "replicas": replicas,
        "mixed_precision": settings.mixed_precision,
        "jit_compile": settings.jit,
        "gap_closed": None if np.isnan(gap) else gap,
        "models": [
            {
                "name": row.name,
                "artifact": row.artifact,
                "test_accuracy_mean": row.accuracy,
                "test_accuracy_std": row.spread,
                "test_accuracy_per_seed": row.accuracies,
                "parameters": row.params,
                "size_bytes": row.size_bytes,
                "latency_ms": {f"batch_{b}": ms for b, ms in row.latency_ms.items()},
            }
            for row in rows
        ],
        "versions": {
            "python": platform.python_version(),
            "tensorflow": tf.__version__,
            "keras": keras.__version__,
            "keras_kd": sys.modules["keras_kd"].__version__,
            "numpy": np.__version__,
        },
    }
