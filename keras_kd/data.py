"""Datasets as in-memory splits: scikit-learn's digits built in, TFDS by name."""

import dataclasses
import hashlib

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
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int

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
    return Splits("digits", x_train, y_train, x_test, y_test, 10)
