"""`keras-kd`: the command line, a thin shell over the Python API."""

import argparse
import os
import sys


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
                        "recipe's; without one 40 for digits, 10 otherwise)")
    parser.add_argument("--teacher-epochs", type=_positive_int,
                        help="default: the recipe's, or --epochs")
    parser.add_argument("--batch-size", type=_positive_int, help="default 64, or the recipe's")
    parser.add_argument("--learning-rate", type=_positive_float,
                        help="default 3e-3, or the recipe's")
    parser.add_argument("--seed", type=int, default=0,
                        help="first seed; also seeds the digits' train/test split (default 0)")


def build_parser():
    from keras_kd import architectures, recipes, strategies, tflite

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
                         help="default 4.0, or the recipe's")
    distill.add_argument("--alpha", type=float,
                         help="weight of the distillation term, in [0, 1] (default 0.9, "
                              "or the recipe's)")
    distill.add_argument("--seeds", type=_positive_int,
                         help="number of student seeds (default: 3 for digits, 1 otherwise)")
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
    tune.add_argument("--temperature-range", type=_range, default=(1.0, 20.0),
                      help="min,max of T (log scale), or one value (default 1,20)")
    tune.add_argument("--alpha-range", type=_range, default=(0.0, 1.0),
                      help="min,max of alpha, or one value (default 0,1)")
    tune.add_argument("--validation-fraction", type=_positive_float, default=0.2,
                      help="share of the training split held out to score trials (default 0.2)")
    tune.add_argument("--seeds", type=_positive_int,
                      help="seeds of the final test comparison (default: 3 for digits, 1 otherwise)")
    tune.add_argument("--directory", help="Keras Tuner state (default saved_models/tuning); "
                                          "an interrupted search resumes from it")
    tune.add_argument("--output", help="output folder (default saved_models/<dataset>_<student>_tuned)")
    tune.add_argument("--overwrite", action="store_true",
                      help="start the search afresh and replace an output folder")
    _add_output_options(tune)

    launch = commands.add_parser(
        "launch",
        help="run a command as N local workers with TF_CONFIG (multi-worker training)",
        description="Start N local worker processes of `keras-kd COMMAND ...`, each "
                    "with its TF_CONFIG; stream their output with a [worker i] prefix "
                    "and stop all of them if one fails. Example: keras-kd launch "
                    "--workers 2 -- distill --teacher t.keras --epochs 5",
    )
    launch.add_argument("--workers", type=_positive_int, required=True)
    launch.add_argument("worker_command", nargs=argparse.REMAINDER, metavar="command",
                        help="-- then a keras-kd command and its options")

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


def run_tune(args):
    from keras_kd import data as data_module, strategies, tuning, workflow

    _recipe_defaults(args)
    if args.output:
        workflow.check_output_folder(args.output, args.overwrite)
    for flag, space, low, high in (("--temperature-range", args.temperature_range, 0.0, None),
                                   ("--alpha-range", args.alpha_range, 0.0, 1.0)):
        try:
            tuning.check_space(flag, space, low=low, high=high, open_low=flag.startswith("--temp"))
        except ValueError as error:
            raise ValueError(f"{flag} {','.join(map(str, space)) if isinstance(space, tuple) else space}"
                             f" is not valid: {error}") from None
    if not 0 < args.validation_fraction < 1:
        raise ValueError(f"--validation-fraction must lie in (0, 1), got {args.validation_fraction}.")
    strategies.make_strategy("auto")
    data = data_module.load(args.dataset, data_dir=args.data_dir, seed=args.seed)
    args.format, args.quantize, args.strategy = "saved_model", "none", "auto"
    args.mixed_precision = args.jit = False
    settings = _settings(args, data)
    if not args.output:
        settings.output += "_tuned"
    workflow.check_output_folder(settings.output, args.overwrite)
    workflow.tune(settings, data, tuner=args.tuner, max_trials=args.max_trials,
                  directory=args.directory, temperature=args.temperature_range,
                  alpha=args.alpha_range, overwrite=args.overwrite,
                  validation_fraction=args.validation_fraction)


def _recipe_defaults(args):
    """Fills unset training options from the recipe, or the plain defaults."""
    from keras_kd import recipes

    if args.recipe is None:
        args.recipe = recipes.DEFAULT_RECIPES.get(args.dataset, "none")
    recipe = None if args.recipe == "none" else recipes.get(args.recipe)
    defaults = {"temperature": 4.0, "alpha": 0.9, "batch_size": 64, "learning_rate": 3e-3}
    for name, value in defaults.items():
        if getattr(args, name, None) is None:
            setattr(args, name, getattr(recipe, name) if recipe else value)
    if recipe:
        args.epochs = args.epochs or recipe.epochs
        args.teacher_epochs = args.teacher_epochs or recipe.teacher_epochs
    return recipe


def _settings(args, data):
    from keras_kd import checks, workflow

    recipe = _recipe_defaults(args)
    checks.check_alpha(args.alpha)
    teacher_arch, student_arch = workflow.default_architectures(data.input_shape, recipe)
    digits = data.name == "digits"
    student_arch = args.student_arch or student_arch
    student_name = os.path.splitext(os.path.basename(args.student.rstrip("/")))[0] if args.student else student_arch
    count = args.seeds or (3 if digits else 1)
    return workflow.Settings(
        dataset=data.name,
        data_dir=args.data_dir,
        teacher=args.teacher,
        student=args.student,
        teacher_arch=args.teacher_arch or teacher_arch,
        student_arch=student_arch,
        temperature=args.temperature,
        alpha=args.alpha,
        epochs=args.epochs or (40 if digits else 10),
        teacher_epochs=args.teacher_epochs,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        seeds=tuple(range(args.seed, args.seed + count)),
        output=args.output or os.path.join("saved_models", f"{data.name}_{student_name}"),
        overwrite=args.overwrite,
        format=args.format,
        quantize=args.quantize,
        strategy=args.strategy,
        mixed_precision=args.mixed_precision,
        jit=args.jit,
        recipe=recipe.name if recipe else None,
        quiet=args.quiet,
    )


def _check_paths(*paths):
    for path in paths:
        if path and not os.path.exists(path):
            raise FileNotFoundError(f"'{path}' does not exist.")


# The input files each command reads: checked before TensorFlow starts, so a
# typo fails in a fraction of a second instead of after its 5-10 s import.
_INPUT_PATHS = {
    "distill": ("teacher", "student"),
    "tune": ("teacher", "student"),
    "evaluate": ("path",),
    "export": ("source",),
}


def run_distill(args):
    from keras_kd import checks, data as data_module, strategies, workflow

    # Everything that can be checked without training is checked first.
    _recipe_defaults(args)
    checks.check_alpha(args.alpha)
    if args.quantize != "none" and args.format != "tflite":
        raise ValueError("--quantize applies to --format tflite; add --format tflite.")
    if args.strategy == "multiworker" and not args.teacher:
        raise ValueError(
            "--strategy multiworker needs a trained --teacher: every worker must "
            "distill from the same teacher. Train one first, e.g. with keras-kd distill."
        )
    if args.output:
        workflow.check_output_folder(args.output, args.overwrite)
    # Before anything else runs TensorFlow: multi-worker needs it so.
    strategy = strategies.make_strategy(args.strategy)
    data = data_module.load(args.dataset, data_dir=args.data_dir, seed=args.seed)
    settings = _settings(args, data)
    workflow.check_output_folder(settings.output, settings.overwrite)
    workflow.distill(settings, data, strategy=strategy)


def _load_any(path, role):
    from keras_kd import Distiller, tflite
    from keras_kd.models import load_model

    if path.endswith(".tflite"):
        _check_paths(path)
        return tflite.TFLiteModel(path)
    model = load_model(path, role=role)
    return model.student if isinstance(model, Distiller) else model


def run_evaluate(args):
    from keras_kd import report, workflow

    data, split = workflow.trained_split(args.path, args.dataset, args.seed, args.data_dir)
    model = _load_any(args.path, "model")
    predict = model if callable(model) and not hasattr(model, "predict") else (
        lambda b: model(b, training=False)
    )
    accuracy = report.accuracy(predict, data.x_test, data.y_test)
    print(f"{args.path}: test accuracy on {data.name} ({split}) = {100 * accuracy:.2f}% "
          f"({len(data.x_test)} examples)")


def run_export(args):
    import tempfile

    from keras_kd import tflite, workflow
    from keras_kd.export import export_saved_model, save_keras

    if args.quantize != "none" and args.format != "tflite":
        raise ValueError("--quantize applies to --format tflite; add --format tflite.")
    representative = None
    if args.quantize == "int8":  # Calibrate on the model's own training examples.
        data, _ = workflow.trained_split(args.source, args.dataset, args.seed, args.data_dir)
        representative = data.x_train
    student = _load_any(args.source, "student")
    if args.format == "saved_model":
        export_saved_model(student, args.path)
    elif args.format == "keras":
        save_keras(student, args.path)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            export_saved_model(student, os.path.join(tmp, "model"))
            tflite.convert(os.path.join(tmp, "model"), args.path, args.quantize, representative)
    print(f"wrote {args.path}")


def run_launch(args):
    from keras_kd import launch

    command = list(args.worker_command)
    if command[:1] == ["--"]:
        command = command[1:]
    if not command:
        raise ValueError("Give the command to run after --, e.g. -- distill --teacher t.keras")
    if command[0] == "distill" and "--strategy" not in command:
        command += ["--strategy", "multiworker"]
    codes = launch.run_workers([sys.executable, "-m", "keras_kd.cli", *command], args.workers)
    failed = [i for i, code in enumerate(codes) if code != 0]
    if failed:
        raise RuntimeError(f"worker(s) {failed} failed (exit codes {codes}).")


def _add_output_options(parser):
    parser.add_argument("--quiet", action="store_true",
                        help="print only the results, no progress")
    parser.add_argument("--verbose", action="store_true",
                        help="also show TensorFlow's own log messages")


# What TensorFlow's C++ runtime prints on every start, whatever
# TF_CPP_MIN_LOG_LEVEL says (TF 2.21): dropped unless --verbose.
_STARTUP_NOISE = (
    "absl::InitializeLog", "oneDNN custom operations", "cpu_feature_guard",
    "To enable the following instructions", "rebuild TensorFlow with the appropriate",
    "Unable to register cu", "computation placer already registered",
)


def _quiet_tensorflow():
    """Starts TensorFlow with its start-up lines filtered out of stderr.

    The lines come from C++ before any logging setting applies, so stderr's
    file descriptor is captured while TensorFlow and Keras load; anything
    else written meanwhile is passed on.
    """
    import logging
    import tempfile

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            import keras  # noqa: F401  (imports TensorFlow under its backend)
            import tensorflow  # noqa: F401
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
        capture.seek(0)
        text = capture.read().decode(errors="replace")
    for line in text.splitlines():
        if line.strip() and not any(noise in line for noise in _STARTUP_NOISE):
            print(line, file=sys.stderr)
    logging.getLogger("tensorflow").setLevel(logging.ERROR)


def main(argv=None):
    """Entry point of the `keras-kd` console script; returns the exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if args.command is None:
            raise UsageError("give a command: distill, tune, evaluate, export or launch. "
                             "See 'keras-kd -h'")
        _check_paths(*(getattr(args, name) for name in _INPUT_PATHS.get(args.command, ())))
    except (UsageError, FileNotFoundError) as error:
        print(f"keras-kd: error: {error}", file=sys.stderr)
        return 2
    if not getattr(args, "verbose", False) and args.command != "launch":
        _quiet_tensorflow()
    from keras_kd.data import DatasetUnavailable

    runners = {
        "distill": run_distill, "evaluate": run_evaluate, "export": run_export,
        "launch": run_launch, "tune": run_tune,
    }
    try:
        runners[args.command](args)
    except (ValueError, TypeError, FileNotFoundError, RuntimeError, DatasetUnavailable,
            UsageError) as error:
        print(f"keras-kd: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
