"""Every default value keras_kd chooses for its users, in one place (no TensorFlow).

The `Distiller`, the tuner, the recipes and the command line read these
names; change a default here and it changes everywhere.
"""

# The softening and weighting of Hinton et al. (2015)'s MNIST experiments.
TEMPERATURE = 4.0
ALPHA = 0.9
# Search ranges: T on a log scale (1 leaves the softmax as is), alpha linear.
TEMPERATURE_RANGE = (1.0, 20.0)
ALPHA_RANGE = (0.0, 1.0)
# Adam's rate for teachers and for the tuner's students; the CLI's students
# (and the recipes') train at STUDENT_LEARNING_RATE.
LEARNING_RATE = 1e-3
STUDENT_LEARNING_RATE = 3e-3
BATCH_SIZE = 64
# Batches per compiled call in the recipes' fits: one call per epoch of the
# digits instead of 17 cuts Keras's per-step overhead (150 epochs of the 2x256
# student: 99 s -> 66 s for six fits on 2 cores; benchmarks/RESULTS.md).
STEPS_PER_EXECUTION = 16
# `keras-kd distill` without a recipe: epochs and seeds by dataset size.
EPOCHS_DIGITS = 40
EPOCHS_OTHER = 10
SEEDS_DIGITS = 3
SEEDS_OTHER = 1
# `keras-kd tune`: the share of the training split held out for scoring.
VALIDATION_FRACTION = 0.2
