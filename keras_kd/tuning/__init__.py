"""Searching temperature, alpha and the learning rate with Keras Tuner."""

from keras_kd.tuning.hypermodel import DistillerHyperModel, check_space
from keras_kd.tuning.search import (
    TIE_BREAK, TUNERS, SearchResult, keras_tuner_distributed, rank_rows, search,
)
