"""`keras-kd`: the command line. It parses and dispatches to `keras_kd.app.commands`."""

import argparse
import os
import sys

from keras_kd import backends, defaults
from keras_kd.app import commands


class UsageError(Exception):
    """Bad command-line input; `main` prints it on one line and returns 2."""


class _Parser(argparse.ArgumentParser):
    """argparse with errors on one line that name the fix, instead of a usage block."""

    def error(self, message):
        raise UsageError(f"{message}. See '{self.prog} -h'.")


def _positive_int(text):
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value}")
    return value


def _positive_float(text):
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be greater than 0, got {text}")
    return value


def _range(text):
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be 'min,max' or one number, got '{text}'") from None
    if len(values) == 1:
        return values[0]
    if len(values) != 2:
        raise argparse.ArgumentTypeError(f"must be 'min,max' or one number, got '{text}'")
    return values


def _add_data_options(parser, default="digits"):
    parser.add_argument("--dataset", default=default,
                        help="'digits' (built in, offline) or a TFDS image-classification "
                             "name such as mnist, fashion_mnist, cifar10 (default: "
                             f"{default or 'the one in model_card.json, else digits'})")
    parser.add_argument("--data-dir", help="TFDS data folder holding prepared datasets")


def _add_split_options(parser):
    _add_data_options(parser, default=None)
    parser.add_argument("--seed", type=int,
                        help="the digits split seed the model was distilled with; read "
                             "from model_card.json beside the model when there is one")


def _add_training_options(parser, recipes, architectures):
    """The data, models and schedule that `distill` and `tune` share."""
    _add_data_options(parser)
    arch_names = sorted(architectures.ARCHITECTURES)
    parser.add_argument("--teacher", help="saved teacher (.keras or SavedModel folder)")
    parser.add_argument("--student", help="saved initial student (.keras)")
    parser.add_argument("--teacher-arch", choices=arch_names, help="built-in teacher")
    parser.add_argument("--student-arch", choices=arch_names, help="built-in student")
    parser.add_argument("--recipe", choices=tuple(recipes.RECIPES) + ("none",),
                        help="how teacher and students train (keras_kd.recipes); sets the "
                             "defaults below. Default: "
                             f"{recipes.DEFAULT_RECIPES.get('digits')} on the digits, none "
                             "otherwise; none: no augmentation, teacher logits cached")
    parser.add_argument("--epochs", type=_positive_int, help="student epochs (default: the "
                        f"recipe's; without one {defaults.EPOCHS_DIGITS} for digits, {defaults.EPOCHS_OTHER} otherwise)")
    parser.add_argument("--teacher-epochs", type=_positive_int,
                        help="default: the recipe's, or --epochs")
    parser.add_argument("--batch-size", type=_positive_int, help=f"default {defaults.BATCH_SIZE}, or the recipe's")
    parser.add_argument("--learning-rate", type=_positive_float,
                        help=f"default {defaults.STUDENT_LEARNING_RATE:g}, or the recipe's")
    parser.add_argument("--seed", type=int, default=0,
                        help="first seed; also seeds the digits' train/test split (default 0)")


def build_parser():
    from keras_kd.recipes import architectures
    from keras_kd import recipes
    from keras_kd.distribute import strategies
    from keras_kd.models import tflite

    parser = _Parser(prog="keras-kd", description="Knowledge distillation for Keras models.")
    commands = parser.add_subparsers(dest="command")

    distill = commands.add_parser(
        "distill",
        help="train a teacher and compare a scratch and a distilled student",
        description="Train (or reuse) a teacher, train the same student from labels "
                    "alone and by distillation over several seeds, and report test "
                    "accuracy, size and latency side by side.",
    )
    _add_training_options(distill, recipes, architectures)
    distill.add_argument("--temperature", type=_positive_float,
                         help=f"default {defaults.TEMPERATURE}, or the recipe's")
    distill.add_argument("--alpha", type=float,
                         help=f"weight of the distillation term, in [0, 1] (default {defaults.ALPHA}, "
                              "or the recipe's)")
    distill.add_argument("--seeds", type=_positive_int,
                         help=f"number of student seeds (default: {defaults.SEEDS_DIGITS} for digits, "
                              f"{defaults.SEEDS_OTHER} otherwise)")
    distill.add_argument("--output", help="output folder (default saved_models/<dataset>_<student>)")
    distill.add_argument("--overwrite", action="store_true",
                         help="replace an output folder that holds other files")
    distill.add_argument("--format", choices=("saved_model", "tflite"), default="saved_model",
                         help="also convert the student to TFLite and measure it")
    distill.add_argument("--quantize", choices=tflite.QUANTIZATIONS, default="none",
                         help="TFLite quantization (with --format tflite)")
    distill.add_argument("--strategy", choices=strategies.STRATEGIES, default="auto",
                         help="tf.distribute strategy (auto: mirrored when several GPUs "
                              "are visible); multiworker needs TF_CONFIG, see `launch`")
    distill.add_argument("--mixed-precision", action="store_true",
                         help="mixed_float16 on GPUs, mixed_bfloat16 on CPUs")
    distill.add_argument("--jit", action="store_true", help="compile training with XLA")
    _add_output_options(distill)

    tune = commands.add_parser(
        "tune",
        help="search temperature and alpha on a validation split, compare on the test split",
        description="Search T and alpha with Keras Tuner on a stratified validation split "
                    "carved from the training data (the test split never reaches the "
                    "search), then train the pick, the default T and alpha and the "
                    "scratch student over seeds and report them on the test split.",
    )
    _add_training_options(tune, recipes, architectures)
    tune.add_argument("--tuner", choices=("bayesian", "random", "hyperband", "grid"), default="bayesian")
    tune.add_argument("--max-trials", type=_positive_int, default=10)
    tune.add_argument("--temperature-range", type=_range, default=defaults.TEMPERATURE_RANGE,
                      help="min,max of T (log scale), or one value (default 1,20)")
    tune.add_argument("--alpha-range", type=_range, default=defaults.ALPHA_RANGE,
                      help="min,max of alpha, or one value (default 0,1)")
    tune.add_argument("--validation-fraction", type=_positive_float,
                      default=defaults.VALIDATION_FRACTION,
                      help="share of the training split held out to score trials "
                           f"(default {defaults.VALIDATION_FRACTION})")
    tune.add_argument("--seeds", type=_positive_int,
                      help="seeds of the final test comparison (default: "
                           f"{defaults.SEEDS_DIGITS} for digits, {defaults.SEEDS_OTHER} otherwise)")
    tune.add_argument("--directory", help="Keras Tuner state (default saved_models/tuning); "
                                          "an interrupted search resumes from it")
    tune.add_argument("--output", help="output folder (default saved_models/<dataset>_<student>_tuned)")
    tune.add_argument("--overwrite", action="store_true",
                      help="start the search afresh and replace an output folder")
    _add_output_options(tune)

    launch = commands.add_parser(
        "launch",
        help="run a command as N local workers with TF_CONFIG (multi-worker training)",
        description="Start N local worker processes of `keras-kd COMMAND ...` or of "
                    "any program, each with its TF_CONFIG; stream their output with a "
                    "[worker i] prefix and stop all of them if one fails. Examples: "
                    "keras-kd launch --workers 2 -- distill --teacher t.keras --epochs 5; "
                    "keras-kd launch --workers 2 -- python train.py",
    )
    launch.add_argument("--workers", type=_positive_int, required=True)
    launch.add_argument("worker_command", nargs=argparse.REMAINDER, metavar="command",
                        help="-- then a keras-kd command (distill, tune, evaluate, export) or a "
                             "program (python train.py), and its options")

    evaluate = commands.add_parser("evaluate", help="test accuracy of a saved model")
    evaluate.add_argument("path", help=".keras file, SavedModel folder or .tflite file")
    _add_split_options(evaluate)

    export = commands.add_parser("export", help="export a saved student or distiller")
    export.add_argument("source", help=".keras file of a student or a Distiller")
    export.add_argument("path", help="where to write")
    export.add_argument("--format", choices=("saved_model", "keras", "tflite"),
                        default="saved_model")
    export.add_argument("--quantize", choices=tflite.QUANTIZATIONS, default="none")
    _add_split_options(export)
    return parser


def _add_output_options(parser):
    parser.add_argument("--quiet", action="store_true",
                        help="print only the results, no progress")
    parser.add_argument("--verbose", action="store_true",
                        help="also show TensorFlow's own log messages")


def main(argv=None):
    """Entry point of the `keras-kd` console script; returns the exit status."""
    try:
        if not backends.tensorflow_installed():
            raise UsageError("the command line runs on TensorFlow, which is not installed: "
                             f"{backends.INSTALL_TENSORFLOW}")
        backend = backends.configured_backend()
        if backend != "tensorflow":
            raise UsageError(
                f"the command line needs the TensorFlow backend of Keras, but Keras would run "
                f"'{backend}' (KERAS_BACKEND or keras.json). Set KERAS_BACKEND=tensorflow (the "
                "Python API's core runs on JAX and PyTorch too)"
            )
        parser = build_parser()
        args = parser.parse_args(argv)
        if args.command is None:
            raise UsageError("give a command: distill, tune, evaluate, export or launch. "
                             "See 'keras-kd -h'")
        options = {k: v for k, v in vars(args).items() if k not in ("command", "verbose")}
        commands.check_paths(*(options.get(name) for name in commands.INPUT_PATHS.get(args.command, ())))
    except (UsageError, FileNotFoundError) as error:
        print(f"keras-kd: error: {error}", file=sys.stderr)
        return 2
    if not getattr(args, "verbose", False) and args.command != "launch":
        multi_worker = options.get("strategy") == "multiworker" or "TF_CONFIG" in os.environ
        commands.start_tensorflow_quietly(multi_worker=multi_worker)
    from keras_kd.recipes.data import DatasetUnavailable

    try:
        getattr(commands, args.command)(**options)
    except (ValueError, TypeError, FileNotFoundError, RuntimeError, DatasetUnavailable,
            UsageError) as error:
        print(f"keras-kd: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
