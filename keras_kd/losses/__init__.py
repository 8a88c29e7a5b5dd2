"""Distillation losses: pure functions of tensors, thin `keras.losses.Loss` wrappers, one registry.

Every function is pure `keras.ops`, per example, and runs on any Keras
backend, on logits of any shape `(batch, ..., classes)`.
`keras_kd.losses.SOFT_LOSSES` names the soft-label terms a `Distiller` can
use: `distillation_loss="kl"` (forward KL), `"reverse_kl"`, `"jsd"`, `"dkd"`,
`"dist"`; `standardize_logits` z-scores the logits before any of them.
"""

from keras_kd.losses.dist import DISTLoss, dist_inter_class, dist_intra_class, dist_loss
from keras_kd.losses.dkd import decoupled_distillation_loss
from keras_kd.losses.ensembles import combine_teachers, entropy_weights
from keras_kd.losses.features import hint_loss
from keras_kd.losses.jsd import GeneralizedJSD, generalized_jsd
from keras_kd.losses.kl import DistillationLoss, check_temperature, distillation_loss
from keras_kd.losses.reverse_kl import ReverseKLDivergence, reverse_kl_divergence
from keras_kd.losses.registry import SOFT_LOSSES, SoftLoss, label_loss, soft_loss
from keras_kd.losses.standardization import standardize_logits
