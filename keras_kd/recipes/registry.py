"""Recipes: tested ways to train a teacher and distill it so the student beats training alone.

What makes distillation pay (Hinton et al. 2015; Beyer et al. 2022,
"Knowledge distillation: A good teacher is patient and consistent"):

- a teacher much better than the student could become alone: trained with
  augmentation (random shifts of up to a few pixels) and dropout, and, where
  one teacher leaves the student little to learn, an ensemble of such
  teachers (Hinton et al. distilled ensembles into one net);
- consistent views: teacher and student see the *same* augmented batch,
  so the teacher runs inside the student's step instead of from a cache;
- patience: many more epochs than training from labels needs, because every
  epoch shows new views that the teacher labels;
- function matching: mixing pairs of inputs (mixup) yields inputs between
  the classes where the teacher's function carries the most information;
  the student then learns from the teacher alone (alpha = 1).

The scratch baseline of a recipe gets the same augmentation and epochs, so
a comparison isolates what the teacher adds.
"""

import dataclasses

from keras_kd import defaults

@dataclasses.dataclass(frozen=True)
class Recipe:
    """Settings of one recipe.

    Attributes:
        name: String.
        teacher_shift: Integer, the largest random shift in pixels of the
            teacher's training images (0: none).
        student_shift: Integer, the same for the students' images; the
            distilled student's teacher sees the same shifted batch.
        mixup: Float, the Beta(a, a) concentration of input mixing (0: none).
        temperature: Float.
        alpha: Float, weight of the distillation term.
        epochs: Integer, student epochs (scratch and distilled alike).
        teacher_epochs: Integer.
        learning_rate: Float, Adam's initial rate for the students; it decays
            to 0 along a cosine over their epochs.
        batch_size: Integer.
        teachers: Integer, how many teachers `train_teachers` trains (from
            consecutive seeds) and averages into one (`keras_kd.ensemble`).
        views: Integer. 0: the students draw new augmented views every epoch
            and the teacher runs in the distilled student's step. k > 0: k
            augmented passes over the training set are drawn once
            (`recorded_views`), the teacher labels them once, and both students
            train on those same arrays for `ceil(epochs / k)` passes over them,
            so distillation costs about what training alone costs.
    """

    name: str
    teacher_shift: int
    student_shift: int
    mixup: float
    temperature: float
    alpha: float
    epochs: int
    teacher_epochs: int
    learning_rate: float = defaults.STUDENT_LEARNING_RATE
    batch_size: int = defaults.BATCH_SIZE
    teachers: int = 1
    views: int = 0


RECIPES = {
    # Hinton et al.'s teacher (jittered images, dropout in the architecture)
    # and students on consistent jittered views, patiently. Measured on the
    # MNIST 5k subset (benchmarks/RESULTS.md): at 150 epochs the distilled
    # 2x256 student beats the same student on the same views by about a point
    # and closes 60% of the gap (36% at 60 epochs).
    "hinton": Recipe("hinton", teacher_shift=1, student_shift=1, mixup=0.0, temperature=4.0,
                     alpha=0.9, epochs=150, teacher_epochs=150),
    # The same with an ensemble of five such teachers, for small data sets
    # where one teacher leaves a well-trained student little to learn. On the
    # 8x8 digits (teacher 99.17%, ensemble 99.44%) only the ensemble lets the
    # 2x256 student beat the same student trained alone by more than the
    # seeds' spread (benchmarks/RESULTS.md). Costs five teacher trainings and
    # five teacher passes per student step.
    "hinton-ensemble": Recipe("hinton-ensemble", teacher_shift=1, student_shift=1, mixup=0.0,
                              temperature=4.0, alpha=0.9, epochs=150, teacher_epochs=150,
                              teachers=5),
    # Beyer et al.: consistent mixed views, the teacher's function only, patience.
    "function-matching": Recipe("function-matching", teacher_shift=1, student_shift=1,
                                mixup=1.0, temperature=1.0, alpha=1.0, epochs=300,
                                teacher_epochs=150),
    # The default of `keras-kd distill` on the digits, sized to finish in under
    # three minutes on 2 CPU cores: five CNN teachers (60 epochs each on
    # shifted images) averaged into one, and students on 30 recorded passes of
    # shifted images that the ensemble labels once (consistent views; the
    # teachers never run in a student's step), 300 epochs' worth of steps.
    # Measured front (benchmarks/RESULTS.md): the distilled 2x256 student
    # closes 54-94% of the gap on the three splits measured.
    "consistent-ensemble": Recipe("consistent-ensemble", teacher_shift=1, student_shift=1,
                                  mixup=0.0, temperature=4.0, alpha=0.9, epochs=300,
                                  teacher_epochs=60, teachers=5, views=30),
    # The previous default, about two minutes: Hinton et al.'s setting, in which the teacher
    # (here three CNNs, trained on shifted images, averaged) knows an invariance
    # that the students, trained on the clean images alone, cannot learn from
    # labels. The students' views are static, so the teacher labels them once.
    # Measured front (benchmarks/RESULTS.md): a gain smaller than the seeds'
    # spread; `hinton-ensemble` gains more but takes 7.5 minutes.
    "quick-ensemble": Recipe("quick-ensemble", teacher_shift=1, student_shift=0, mixup=0.0,
                             temperature=4.0, alpha=0.9, epochs=150, teacher_epochs=40,
                             teachers=3, views=1),
}


# The recipe `keras-kd distill` and `tune` use on a dataset when none is named.
DEFAULT_RECIPES = {"digits": "consistent-ensemble"}


def get(name):
    """The `Recipe` called `name`; raises with the choices otherwise."""
    if isinstance(name, Recipe):
        return name
    if name not in RECIPES:
        raise ValueError(f"Unknown recipe {name!r}. Choose one of: {', '.join(RECIPES)}.")
    return RECIPES[name]
