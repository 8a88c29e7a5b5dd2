"""What each `keras-kd` command does, given its options as keyword arguments.

`keras_kd.app.cli` parses the command line and calls one of these; each is
also usable from Python: `commands.distill(dataset="digits", seeds=1)`.
"""

import os
import sys
import tempfile

from keras_kd import defaults

# The input files each command reads: checked before TensorFlow starts, so a
# typo fails in a fraction of a second instead of after its 5-10 s import.
INPUT_PATHS = {
    "distill": ("teacher", "student"),
    "tune": ("teacher", "student"),
    "evaluate": ("path",),
    "export": ("source",),
}


def check_paths(*paths):
    """Raises `FileNotFoundError` for the first given path that does not exist."""
    for path in paths:
        if path and not os.path.exists(path):
            raise FileNotFoundError(f"'{path}' does not exist.")


def distill(dataset="digits", data_dir=None, seed=0, strategy="auto", **options):
    """`keras-kd distill`: checks the options, loads the data and runs `keras_kd.app.distill`.

    Args:
        dataset, data_dir, seed, strategy: As on the command line.
        **options: The remaining options of `keras_kd.app.settings.Settings.resolve`.

    Returns:
        Dict, the model card written.
    """
    from keras_kd.app import distill as distill_job, settings as settings_lib
    from keras_kd.distribute import strategies
    from keras_kd.recipes import data as data_lib

    # Everything that can be checked without training is checked first.
    settings_lib.check_distill_options(dataset=dataset, strategy=strategy, **options)
    # Before anything else runs TensorFlow: multi-worker needs it so.
    made = strategies.make_strategy(strategy)
    data = data_lib.load(dataset, data_dir=data_dir, seed=seed)
    settings = settings_lib.Settings.resolve(data, seed=seed, strategy=strategy,
                                             data_dir=data_dir, **options)
    settings_lib.check_output_folder(settings.output, settings.overwrite)
    return distill_job.distill(settings, data, strategy=made)


def tune(dataset="digits", data_dir=None, seed=0, tuner="bayesian", max_trials=10,
         directory=None, temperature_range=defaults.TEMPERATURE_RANGE,
         alpha_range=defaults.ALPHA_RANGE, validation_fraction=defaults.VALIDATION_FRACTION,
         **options):
    """`keras-kd tune`: checks the search space, loads the data and runs `keras_kd.app.tune`.

    Returns:
        A `keras_kd.tuning.SearchResult`.
    """
    from keras_kd.app import settings as settings_lib, tune as tune_job
    from keras_kd.distribute import strategies
    from keras_kd.recipes import data as data_lib

    settings_lib.check_distill_options(dataset=dataset, **options)
    settings_lib.check_search_space(temperature_range, alpha_range, validation_fraction)
    strategies.make_strategy("auto")
    data = data_lib.load(dataset, data_dir=data_dir, seed=seed)
    settings = settings_lib.Settings.resolve(data, seed=seed, data_dir=data_dir,
                                             output_suffix="_tuned", **options)
    settings_lib.check_output_folder(settings.output, settings.overwrite)
    return tune_job.tune(settings, data, tuner=tuner, max_trials=max_trials,
                         directory=directory, temperature=temperature_range,
                         alpha=alpha_range, overwrite=settings.overwrite,
                         validation_fraction=validation_fraction)


def load_any(path, role):
    """A model to evaluate or export: a `.tflite` file, a student, or a Distiller's student."""
    from keras_kd.distillers.distiller import Distiller
    from keras_kd.models import tflite
    from keras_kd.models.loading import load_model

    if path.endswith(".tflite"):
        check_paths(path)
        return tflite.TFLiteModel(path)
    model = load_model(path, role=role)
    return model.student if isinstance(model, Distiller) else model


def evaluate(path, dataset=None, seed=None, data_dir=None):
    """`keras-kd evaluate`: prints a saved model's accuracy on the test split it was not trained on."""
    from keras_kd.app import report
    from keras_kd.app.model_card import trained_split

    data, split = trained_split(path, dataset, seed, data_dir)
    model = load_any(path, "model")
    predict = model if callable(model) and not hasattr(model, "predict") else (
        lambda b: model(b, training=False)
    )
    accuracy = report.accuracy(predict, data.x_test, data.y_test)
    print(f"{path}: test accuracy on {data.name} ({split}) = {100 * accuracy:.2f}% "
          f"({len(data.x_test)} examples)")
    return accuracy


def export(source, path, format="saved_model", quantize="none", dataset=None, seed=None,
           data_dir=None):
    """`keras-kd export`: writes a saved student as a SavedModel, `.keras` or TFLite file."""
    from keras_kd.app.model_card import trained_split
    from keras_kd.models import tflite
    from keras_kd.models.export import export_saved_model, save_keras

    if quantize != "none" and format != "tflite":
        raise ValueError("--quantize applies to --format tflite; add --format tflite.")
    representative = None
    if quantize == "int8":  # Calibrate on the model's own training examples.
        data, _ = trained_split(source, dataset, seed, data_dir)
        representative = data.x_train
    student = load_any(source, "student")
    if format == "saved_model":
        export_saved_model(student, path)
    elif format == "keras":
        save_keras(student, path)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            export_saved_model(student, os.path.join(tmp, "model"))
            tflite.convert(os.path.join(tmp, "model"), path, quantize, representative)
    print(f"wrote {path}")


def launch(workers, worker_command):
    """`keras-kd launch`: runs a command as `workers` local processes with TF_CONFIG.

    The command is a keras-kd command (`distill ...`, run by this package's
    command line; `distill` gets `--strategy multiworker` unless it names a
    strategy) or any program, such as `python train.py` (`python` is the
    interpreter keras-kd runs on, so the workers see the same packages).
    """
    import shutil

    from keras_kd.distribute import launch as launch_lib

    command = list(worker_command)
    if command[:1] == ["--"]:
        command = command[1:]
    if not command:
        raise ValueError("Give the command to run after --, e.g. -- distill --teacher t.keras "
                         "or -- python train.py")
    if command[0] == "launch":
        raise ValueError("launch cannot launch itself: give the workers' command after --, "
                         "e.g. -- distill --teacher t.keras")
    if command[0] in WORKER_COMMANDS:
        if command[0] == "distill" and "--strategy" not in command:
            command += ["--strategy", "multiworker"]
        command = [sys.executable, "-m", "keras_kd.app.cli", *command]
    elif command[0] in ("python", "python3"):
        command[0] = sys.executable
    elif shutil.which(command[0]) is None:
        raise ValueError(f"'{command[0]}' is neither a keras-kd command ({', '.join(WORKER_COMMANDS)}) "
                         "nor a program on PATH. Give one after --, e.g. -- python train.py")
    codes = launch_lib.run_workers(command, workers)
    failed = [i for i, code in enumerate(codes) if code != 0]
    if failed:
        raise RuntimeError(f"worker(s) {failed} failed (exit codes {codes}).")


# The keras-kd commands `launch` runs through this package's command line.
WORKER_COMMANDS = ("distill", "tune", "evaluate", "export")


# What TensorFlow's C++ runtime prints on every start, whatever
# TF_CPP_MIN_LOG_LEVEL says (TF 2.21): dropped unless --verbose.
_STARTUP_NOISE = (
    "absl::InitializeLog", "oneDNN custom operations", "cpu_feature_guard",
    "To enable the following instructions", "rebuild TensorFlow with the appropriate",
    "Unable to register cu", "computation placer already registered",
    # The full `tensorflow` wheel (which KerasHub's extra brings) on a machine
    # without a GPU driver: it looks for CUDA and says it found none.
    "Could not find cuda drivers", "failed call to cuInit",
)


def start_tensorflow_quietly(multi_worker=False):
    """Starts TensorFlow with its start-up lines filtered out of stderr.

    The lines come from C++ before any logging setting applies, so stderr's
    file descriptor is captured while TensorFlow and Keras load and the
    devices start (the full `tensorflow` wheel reports its CUDA search then);
    anything else written meanwhile is passed on.

    Args:
        multi_worker: Boolean. A multi-worker run's strategy must come before
            the devices, so with `TF_CONFIG` set it is made inside the capture
            (`strategies.make_strategy` returns it again later).
    """
    import logging

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            import keras  # noqa: F401  (imports TensorFlow under its backend)
            import tensorflow

            if not multi_worker:
                tensorflow.config.list_logical_devices()
            elif "TF_CONFIG" in os.environ:  # without it, distill says what is missing
                from keras_kd.distribute import strategies

                strategies.make_strategy("multiworker")
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
