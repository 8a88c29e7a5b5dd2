"""`Settings`: everything one `keras-kd distill` or `tune` run depends on, with every default resolved.

The command line only parses; the rules that turn its options into a run
(recipe defaults, dataset-dependent epochs and seeds, cross-option checks)
live here, so the Python API and the CLI resolve the same way. Nothing here
starts TensorFlow.
"""

import dataclasses
import os

from keras_kd import defaults, recipes
from keras_kd.distillers.checks import check_alpha


@dataclasses.dataclass
class Settings:
    """Everything one `keras-kd distill` run depends on.

    Attributes mirror the command line: `teacher`/`student` are paths to
    saved models (or None to build `teacher_arch`/`student_arch`), `seeds`
    lists the seeds of the student runs, `format` is "saved_model" or
    "tflite", `quantize` a `keras_kd.models.tflite.QUANTIZATIONS` entry,
    `strategy` a `keras_kd.distribute.strategies.STRATEGIES` entry,
    `mixed_precision` trains in mixed_float16 on GPUs (mixed_bfloat16 on
    CPUs), `jit` compiles the training step with XLA, `recipe` names a
    `keras_kd.recipes` recipe (augmented teacher; scratch and distilled
    students on the same augmented batches), `quiet` turns off the progress
    lines. Build one with `Settings.resolve` to get the CLI's defaults.
    """

    dataset: str = "digits"
    data_dir: str = None
    teacher: str = None
    student: str = None
    teacher_arch: str = None
    student_arch: str = None
    temperature: float = defaults.TEMPERATURE
    alpha: float = defaults.ALPHA
    epochs: int = defaults.EPOCHS_DIGITS
    teacher_epochs: int = None
    batch_size: int = defaults.BATCH_SIZE
    learning_rate: float = defaults.STUDENT_LEARNING_RATE
    seeds: tuple = tuple(range(defaults.SEEDS_DIGITS))
    output: str = None
    overwrite: bool = False
    format: str = "saved_model"
    quantize: str = "none"
    strategy: str = "auto"
    mixed_precision: bool = False
    jit: bool = False
    recipe: str = None
    quiet: bool = False

    @classmethod
    def resolve(cls, data, recipe=None, teacher=None, student=None, teacher_arch=None,
                student_arch=None, temperature=None, alpha=None, epochs=None,
                teacher_epochs=None, batch_size=None, learning_rate=None, seed=0, seeds=None,
                output=None, output_suffix="", **options):
        """Settings with every unset (None) option filled, as `keras-kd distill` fills them.

        In order: the option given, then the recipe's value (the dataset's
        default recipe when `recipe` is None; "none" for no recipe), then
        the defaults in `keras_kd.defaults`; epochs and the seed count
        depend on whether the dataset is the small built-in digits.

        Args:
            data: The loaded `keras_kd.recipes.data.Splits`.
            recipe, teacher, ...: The command line's options, None when unset.
            seed: Integer, the first seed.
            seeds: Integer or None, how many seeds.
            output_suffix: String appended to the default output folder name.
            **options: The remaining `Settings` fields (`format`, `jit`, ...).

        Returns:
            A `Settings`.
        """
        chosen = recipe_for(data.name, recipe)
        digits = data.name == "digits"
        default_teacher, default_student = default_architectures(data.input_shape, chosen)
        student_arch = student_arch or default_student
        student_name = (os.path.splitext(os.path.basename(student.rstrip("/")))[0]
                        if student else student_arch)
        from_recipe = lambda name, fallback: getattr(chosen, name) if chosen else fallback  # noqa: E731
        count = seeds or (defaults.SEEDS_DIGITS if digits else defaults.SEEDS_OTHER)
        return cls(
            dataset=data.name,
            teacher=teacher,
            student=student,
            teacher_arch=teacher_arch or default_teacher,
            student_arch=student_arch,
            temperature=temperature or from_recipe("temperature", defaults.TEMPERATURE),
            alpha=check_alpha(alpha if alpha is not None else from_recipe("alpha", defaults.ALPHA)),
            epochs=epochs or from_recipe(
                "epochs", defaults.EPOCHS_DIGITS if digits else defaults.EPOCHS_OTHER
            ),
            teacher_epochs=teacher_epochs or from_recipe("teacher_epochs", None),
            batch_size=batch_size or from_recipe("batch_size", defaults.BATCH_SIZE),
            learning_rate=learning_rate or from_recipe(
                "learning_rate", defaults.STUDENT_LEARNING_RATE
            ),
            seeds=tuple(range(seed, seed + count)),
            output=output or os.path.join(
                "saved_models", f"{data.name}_{student_name}{output_suffix}"
            ),
            recipe=chosen.name if chosen else None,
            **options,
        )

    def training_recipe(self, **overrides):
        """The run's `Recipe` with its schedule, T and alpha from these settings; None without one.

        Args:
            **overrides: Fields to set instead (`temperature=`, `alpha=`).
        """
        if not self.recipe:
            return None
        values = dict(epochs=self.epochs, teacher_epochs=self.teacher_epochs or self.epochs,
                      learning_rate=self.learning_rate, batch_size=self.batch_size,
                      temperature=self.temperature, alpha=self.alpha)
        return dataclasses.replace(recipes.get(self.recipe), **{**values, **overrides})


def recipe_for(dataset, name=None):
    """The `keras_kd.recipes.Recipe` a run uses: `name`, or the dataset's default; None for "none"."""
    if name is None:
        name = recipes.DEFAULT_RECIPES.get(dataset, "none")
    return None if name == "none" else recipes.get(name)


def default_architectures(input_shape, recipe=None):
    """(teacher, student) architecture names suited to inputs of this shape.

    A recipe gets the pairing it was measured with (benchmarks/RESULTS.md):
    a CNN teacher trained on shifted images and a 2x256 MLP student (a small
    CNN for colour images).
    """
    if recipe:
        colour = len(input_shape) == 3 and input_shape[-1] > 1
        return "cnn-large", "cnn-small" if colour else "mlp-medium"
    if len(input_shape) >= 2:
        return "cnn-large", "cnn-small"
    return "mlp-medium", "mlp-tiny"


def check_distill_options(dataset=None, recipe=None, alpha=None, format="saved_model",
                          quantize="none", strategy="auto", teacher=None, output=None,
                          overwrite=False, **unused):
    """The rules between `distill` options, checked before any data loads or TF starts.

    Raises:
        ValueError: naming the option to change.
    """
    del unused
    chosen = recipe_for(dataset, recipe)
    check_alpha(alpha if alpha is not None else (chosen.alpha if chosen else defaults.ALPHA))
    if quantize != "none" and format != "tflite":
        raise ValueError("--quantize applies to --format tflite; add --format tflite.")
    if strategy == "multiworker" and not teacher:
        raise ValueError(
            "--strategy multiworker needs a trained --teacher: every worker must "
            "distill from the same teacher. Train one first, e.g. with keras-kd distill."
        )
    if output:
        check_output_folder(output, overwrite)


def check_search_space(temperature_range, alpha_range, validation_fraction):
    """The `tune` search ranges and held-out share, checked before anything trains.

    Raises:
        ValueError: naming the option and what is wrong with it.
    """
    from keras_kd.tuning.hypermodel import check_space

    for flag, space, low, high in (("--temperature-range", temperature_range, 0.0, None),
                                   ("--alpha-range", alpha_range, 0.0, 1.0)):
        try:
            check_space(flag, space, low=low, high=high, open_low=flag.startswith("--temp"))
        except ValueError as error:
            shown = ",".join(map(str, space)) if isinstance(space, tuple) else space
            raise ValueError(f"{flag} {shown} is not valid: {error}") from None
    if not 0 < validation_fraction < 1:
        raise ValueError(f"--validation-fraction must lie in (0, 1), got {validation_fraction}.")


def check_output_folder(path, overwrite):
    """Refuses an output folder that holds something other than a keras-kd run."""
    if not os.path.exists(path) or overwrite:
        return
    if not os.path.isdir(path):
        raise ValueError(f"--output '{path}' exists and is a file. Pick another path.")
    entries = os.listdir(path)
    if entries and "model_card.json" not in entries:
        raise ValueError(
            f"--output '{path}' already holds other files ({', '.join(sorted(entries)[:3])}"
            f"{', ...' if len(entries) > 3 else ''}). Pick another folder or pass --overwrite."
        )
