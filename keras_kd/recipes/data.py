"""Datasets as in-memory splits: scikit-learn's digits built in, TFDS by name."""

import dataclasses
import hashlib
import os
import socket

import numpy as np

DEFAULT_DATASET = "digits"


@dataclasses.dataclass(frozen=True)
class Splits:
    """Train and test arrays of one classification dataset.

    Attributes:
        name: String, the dataset's name.
        x_train, y_train: Training inputs (float32) and integer labels.
        x_test, y_test: Held-out inputs and labels.
        num_classes: Integer, the number of classes.
        split_seed: Integer that drew the train/test split (the digits), or
            None where the dataset's split is fixed (TFDS).
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int
    split_seed: int = None

    @property
    def input_shape(self):
        """Tuple, the shape of one example."""
        return tuple(self.x_train.shape[1:])

    def fingerprint(self):
        """A short SHA-256 of every array, to tell one data set from another."""
        digest = hashlib.sha256(self.name.encode())
        for array in (self.x_train, self.y_train, self.x_test, self.y_test):
            digest.update(str(array.shape).encode())
            digest.update(np.ascontiguousarray(array).tobytes())
        return digest.hexdigest()[:16]


def load_digits(test_fraction=0.4, seed=0):
    """scikit-learn's 8x8 digits (1,797 images, shipped with scikit-learn).

    Pixels are scaled to [0, 1] and kept flat (64 features); the split is
    stratified and fixed by `seed`.

    Args:
        test_fraction: Float, the share of examples held out. Defaults to 0.4
            (1,078 train and 719 test images).
        seed: Integer, seeds the split. Defaults to 0.

    Returns:
        A `Splits`.
    """
    from sklearn.datasets import load_digits as sklearn_digits
    from sklearn.model_selection import train_test_split

    digits = sklearn_digits()
    x = (digits.data / 16.0).astype("float32")
    y = digits.target.astype("int32")
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=test_fraction, random_state=seed, stratify=y
    )
    return Splits("digits", x_train, y_train, x_test, y_test, 10, split_seed=seed)


class DatasetUnavailable(RuntimeError):
    """A named dataset is neither prepared locally nor downloadable now."""


# Where TFDS downloads from; checked before any download is attempted,
# because offline TFDS retries for many minutes instead of failing.
_DOWNLOAD_HOST = ("storage.googleapis.com", 443)


def available_datasets():
    """Names `load` accepts: "digits" and every TFDS builder."""
    import tensorflow_datasets as tfds

    return [DEFAULT_DATASET] + list(tfds.list_builders())


def load(name=DEFAULT_DATASET, data_dir=None, download=True, seed=0):
    """Loads a classification dataset by name as in-memory `Splits`.

    "digits" is scikit-learn's, needing no network. Any other name is a
    TensorFlow Datasets image-classification set (`mnist`, `fashion_mnist`,
    `cifar10`, ...): read from `data_dir` when prepared there, else
    downloaded by TFDS if the network is reachable, else refused at once
    with instructions.

    Args:
        name: String, "digits" or a TFDS dataset name.
        data_dir: String or None, the TFDS data folder (TFDS's default,
            `~/tensorflow_datasets`, when None).
        download: Boolean, whether an unprepared dataset may be downloaded.
        seed: Integer, seeds the digits split.

    Returns:
        A `Splits` with float32 inputs scaled to [0, 1] and int32 labels.

    Raises:
        ValueError: `name` is unknown (close matches are listed).
        DatasetUnavailable: not prepared locally and cannot be downloaded.

    Example:

    ```python
    data = keras_kd.recipes.data.load("mnist", data_dir="/data/tfds")
    ```
    """
    if name == DEFAULT_DATASET:
        return load_digits(seed=seed)
    return _load_tfds(name, data_dir, download)


def _load_tfds(name, data_dir, download):
    import tensorflow_datasets as tfds

    try:
        builder = tfds.builder(name, data_dir=data_dir)
    except Exception as error:  # TFDS raises its own DatasetNotFoundError.
        if type(error).__name__ != "DatasetNotFoundError":
            raise
        import difflib

        close = difflib.get_close_matches(name, available_datasets(), n=5)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise ValueError(f"Unknown dataset '{name}'.{hint}") from None
    features = builder.info.features
    if "label" not in features or not hasattr(features["label"], "num_classes"):
        raise ValueError(f"'{name}' is not a classification dataset with a 'label' feature.")
    splits = _read_splits(builder)
    if splits is None:
        _prepare(builder, name, data_dir, download)
        splits = _read_splits(builder)
    train, test = splits
    return Splits(name, *train, *test, int(features["label"].num_classes))


def _read_splits(builder):
    """Reads train and test arrays, or returns None if not prepared."""
    names = list(builder.info.splits.keys()) or ["train", "test"]
    test_split = next((s for s in ("test", "validation") if s in names), None)
    try:
        train = _as_arrays(builder, "train")
        if test_split is None:
            x, y = train
            cut = int(len(x) * 0.8)
            return (x[:cut], y[:cut]), (x[cut:], y[cut:])
        return train, _as_arrays(builder, test_split)
    except AssertionError:  # TFDS: "could not find data in ..."
        return None


def _as_arrays(builder, split):
    import tensorflow_datasets as tfds

    dataset = builder.as_dataset(split=split, as_supervised=True).batch(4096)
    batches = list(tfds.as_numpy(dataset))
    images = np.concatenate([b[0] for b in batches])
    labels = np.concatenate([b[1] for b in batches])
    scale = 255.0 if images.dtype == np.uint8 else 1.0
    return (images.astype("float32") / scale), np.asarray(labels).astype("int32")


def _prepare(builder, name, data_dir, download):
    folder = data_dir or "~/tensorflow_datasets"
    how = (
        f"Prepare it on a machine with network access (python -c \"import "
        f"tensorflow_datasets as tfds; tfds.builder('{name}', "
        f"data_dir='{folder}').download_and_prepare()\"), copy the folder "
        f"'{folder}/{name}' here and pass --data-dir {folder}; or put the "
        f"files TFDS would download into '{folder}/downloads/manual'."
    )
    if not download:
        raise DatasetUnavailable(f"Dataset '{name}' is not prepared in {folder}. {how}")
    if not _host_reachable(*_DOWNLOAD_HOST):
        raise DatasetUnavailable(
            f"Dataset '{name}' is not prepared in {folder} and its download "
            f"server ({_DOWNLOAD_HOST[0]}) cannot be reached. {how}"
        )
    import tensorflow_datasets as tfds

    manual_dir = os.path.join(os.path.expanduser(folder), "downloads", "manual")
    builder.download_and_prepare(
        download_config=tfds.download.DownloadConfig(manual_dir=manual_dir)
    )


def _host_reachable(host, port, timeout=3.0):
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False
