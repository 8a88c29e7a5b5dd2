"""`keras-kd` end to end on the digits, on mocked TFDS data, and on every bad input."""

import contextlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import time

import keras
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

import keras_kd

from keras_kd.app import cli, commands
from keras_kd.models import tflite


def run(argv, capsys):
    code = cli.main(argv)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run_in_new_folder(tmp_path_factory, name, argv):
    """`keras-kd ARGV` in a fresh folder, for a module fixture: `(folder, code, stdout, stderr)`."""
    folder = tmp_path_factory.mktemp(name)
    return (folder, *run_in_folder(folder, argv))


def run_in_folder(folder, argv):
    """`keras-kd ARGV` run in `folder`, outside a test's capsys: `(code, stdout, stderr)`."""
    out, err = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = cli.main(argv)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    """One `distill` on the digits split of seed 7 (2 seeds, TFLite too), shared by the tests
    reading its output."""
    return run_in_new_folder(tmp_path_factory, "digits_run", [
        "distill", "--recipe", "none", "--epochs", "2", "--seeds", "2", "--seed", "7",
        "--format", "tflite", "--output", "out"])


@pytest.mark.xdist_group("cli_digits_run")
def test_distill_on_digits_writes_everything(digits_run, capsys, monkeypatch):
    workdir, code, out, err = digits_run
    monkeypatch.chdir(workdir)
    assert code == 0, err
    table = [line for line in out.splitlines() if line.startswith("| ")]
    names = [line.split("|")[1].strip() for line in table[1:]]
    assert names == ["teacher", "scratch student", "distilled student", "distilled student"]
    assert "TFLite (none)" in table[-1] and "gap" in out
    out_dir = workdir / "out"
    for name in ("student", "student.keras", "student.tflite", "model_card.json", "report.md",
                 "training_curves.png", "accuracy_vs_latency.png"):
        assert (out_dir / name).exists(), name
    card = json.loads((out_dir / "model_card.json").read_text())
    assert card["dataset"] == "digits" and card["seeds"] == [7, 8] and card["split_seed"] == 7
    assert card["temperature"] == 4.0 and card["alpha"] == 0.9 and card["epochs"] == 2
    assert len(card["teacher_weights_fingerprint"]) == 16 and len(card["data_fingerprint"]) == 16
    assert [m["name"] for m in card["models"]] == names
    for model in card["models"]:
        assert 0 <= model["test_accuracy_mean"] <= 1 and model["size_bytes"] > 0
        assert model["latency_ms"]["batch_1"] > 0 and model["latency_ms"]["batch_256"] > 0
    assert card["models"][0]["parameters"] > 10 * card["models"][1]["parameters"]
    assert card["versions"]["tensorflow"] == tf.__version__
    assert "| teacher |" in (out_dir / "report.md").read_text()

    from keras_kd.recipes.data import load_digits

    x = load_digits(seed=7).x_test
    student = keras.saving.load_model(out_dir / "student.keras")
    want = student.predict(x, verbose=0)
    loaded = tf.saved_model.load(str(out_dir / "student"))
    served = loaded.serve(tf.constant(x)).numpy()
    np.testing.assert_allclose(served, want, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(tflite.TFLiteModel(out_dir / "student.tflite")(x), want, rtol=1e-4, atol=1e-4)
    # The per-seed accuracy of the exported student is the one reported.
    accuracy = (want.argmax(-1) == load_digits(seed=7).y_test).mean()
    assert card["models"][2]["test_accuracy_per_seed"][0] == pytest.approx(accuracy)

    # A second run reuses the cached teacher and replaces its own output.
    code, out, err = run(["distill", "--recipe", "none", "--epochs", "2", "--seeds", "1",
                          "--seed", "7", "--output", "out"], capsys)
    assert code == 0, err
    assert "reusing teacher" in out
    assert json.loads((out_dir / "model_card.json").read_text())["seeds"] == [7]


@pytest.fixture(scope="module")
def recipe_run(tmp_path_factory):
    """One `distill` with a recipe, exported to int8 TFLite; shared by the tests reading it."""
    return run_in_new_folder(tmp_path_factory, "recipe_run", [
        "distill", "--recipe", "function-matching", "--epochs", "2", "--teacher-epochs", "2",
        "--seeds", "1", "--format", "tflite", "--quantize", "int8", "--output", "out"])


@pytest.mark.xdist_group("cli_recipe_run")
def test_distill_with_a_recipe_takes_its_settings(recipe_run, capsys, monkeypatch):
    workdir, code, out, err = recipe_run
    monkeypatch.chdir(workdir)
    assert code == 0, err
    assert "recipe function-matching" in out
    card = json.loads((workdir / "out" / "model_card.json").read_text())
    assert card["recipe"] == "function-matching"
    assert (card["teacher_architecture"], card["student_architecture"]) == ("cnn-large", "mlp-medium")
    assert (card["temperature"], card["alpha"], card["epochs"], card["teacher_epochs"]) == (1.0, 1.0, 2, 2)
    (teacher,) = os.listdir(workdir / "saved_models" / "teachers")
    assert "function-matching" in teacher
    code, out, err = run(["distill", "--recipe", "patient"], capsys)
    assert_clean_failure(code, out, err, r"invalid choice: 'patient'.*distill -h", workdir)


@pytest.mark.xdist_group("cli_recipe_run")
def test_quantized_tflite_keeps_the_predictions(recipe_run):
    workdir, code, out, err = recipe_run
    assert code == 0, err
    table = [line for line in out.splitlines() if line.startswith("| ")]
    assert "TFLite (int8)" in table[-1]
    from keras_kd.recipes.data import load_digits

    x = load_digits().x_test
    want = keras.saving.load_model(workdir / "out" / "student.keras").predict(x, verbose=0).argmax(-1)
    got = tflite.TFLiteModel(workdir / "out" / "student.tflite")(x).argmax(-1)
    assert (got == want).mean() > 0.9
    card = json.loads((workdir / "out" / "model_card.json").read_text())
    # int8 weights: about a byte per parameter, where float32 takes four.
    float32_bytes = 4 * card["models"][2]["parameters"]
    assert os.path.getsize(workdir / "out" / "student.tflite") < 0.35 * float32_bytes


@pytest.fixture(scope="module")
def mnist_run(tmp_path_factory):
    """A folder holding a user's file; `distill` on mocked TFDS MNIST refused there, then run
    there with --overwrite --quiet: `(folder, (code, out, err, the file after it), (code, out,
    err))`."""
    folder = tmp_path_factory.mktemp("mnist_run")
    (folder / "mine").mkdir()
    (folder / "mine" / "thesis.tex").write_text("precious")
    argv = ["distill", "--dataset", "mnist", "--epochs", "1", "--teacher-arch", "mlp-small",
            "--student-arch", "mlp-tiny", "--batch-size", "32", "--output", "mine"]
    with tfds.testing.mock_data(num_examples=96):
        refused = run_in_folder(folder, argv)
        kept = (folder / "mine" / "thesis.tex").read_text()
        written = run_in_folder(folder, argv + ["--overwrite", "--quiet"])
    return folder, refused + (kept,), written


@pytest.mark.xdist_group("cli_mnist_run")
def test_tfds_dataset_through_mock_data(mnist_run):
    folder, _, (code, out, err) = mnist_run
    assert code == 0, err
    card = json.loads((folder / "mine" / "model_card.json").read_text())
    assert card["dataset"] == "mnist" and card["train_examples"] == 96
    assert card["seeds"] == [0]  # one seed by default beyond digits


@pytest.mark.xdist_group("cli_mnist_run")
def test_output_folder_with_other_files(mnist_run):
    folder, (code, out, err, kept), _ = mnist_run
    assert_clean_failure(code, out, err, r"already holds other files.*--overwrite", folder)
    assert kept == "precious"
    code, out, err = mnist_run[2]
    assert code == 0 and err == ""
    assert (folder / "mine" / "model_card.json").exists()
    # --quiet: no progress on stderr, and stdout holds the table and the verdict alone.
    assert [line for line in out.splitlines() if not line.startswith("|")] == [
        "Distillation closed " + out.split("Distillation closed ")[1].splitlines()[0]
    ]


@pytest.mark.xdist_group("cli_digits_run")
def test_evaluate_and_export_commands(digits_run, capsys, monkeypatch):
    workdir = digits_run[0]
    monkeypatch.chdir(workdir)
    assert digits_run[1] == 0
    code, out, _ = run(["evaluate", "out/student.keras"], capsys)
    assert code == 0 and "test accuracy on digits" in out
    code, out, _ = run(["evaluate", "out/student"], capsys)
    assert code == 0 and "test accuracy on digits" in out
    for fmt, path in (("tflite", "s.tflite"), ("keras", "s.keras"), ("saved_model", "s_sm")):
        code, _, err = run(["export", "out/student.keras", path, "--format", fmt], capsys)
        assert code == 0, err
        assert (workdir / path).exists()
    # s.tflite has no model card beside it: the digits split must be named.
    code, out, err = run(["evaluate", "s.tflite"], capsys)
    assert_clean_failure(code, out, err, r"No model_card.json.*--seed", workdir)
    code, out, _ = run(["evaluate", "s.tflite", "--seed", "0"], capsys)
    assert code == 0 and "split seed 0 (--seed)" in out and "%" in out


def test_the_runs_share_one_distiller_and_train_as_new_ones(digits, digits_teacher, monkeypatch):
    """`distill` trains every seed and configuration on one compiled Distiller; each run must
    give what a new Distiller gives: the same weights and history, bit for bit."""
    from keras_kd.app import runs, settings as settings_lib
    from keras_kd.recipes.data import Splits

    def dropout_student(seed):  # dropout: its seed state must restart too
        keras.utils.set_random_seed(seed)
        return keras.Sequential([keras.Input((64,)), keras.layers.Dense(24, activation="relu"),
                                 keras.layers.Dropout(0.3), keras.layers.Dense(10)])

    monkeypatch.setattr(runs, "student_factory", lambda settings, data: dropout_student)
    data = Splits("digits", digits.x_train[:96], digits.y_train[:96], digits.x_test[:32],
                  digits.y_test[:32], 10)
    settings = settings_lib.Settings(epochs=2, batch_size=32, seeds=(3, 4), quiet=True)
    configurations = {"scratch": (4.0, 0.0), "distilled": (2.0, 0.8)}
    traced = []
    original = runs.Distiller.make_train_function
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(runs.Distiller, "make_train_function",
                      lambda self, *a, **k: traced.append(self) or original(self, *a, **k))
        shared = runs.train_configurations(settings, data, digits_teacher, 0,
                                           tf.distribute.get_strategy(), configurations)
    assert len(set(map(id, traced))) == 1  # one Distiller traced its step for all four runs
    # The restarted runs against new Distillers (the first run is a new one).
    for index, name in [(0, "distilled"), (1, "scratch"), (1, "distilled")]:
        seed, (temperature, alpha) = settings.seeds[index], configurations[name]
        student = dropout_student(seed)
        distiller = keras_kd.Distiller(student, digits_teacher, temperature, alpha)
        distiller.compile(keras.optimizers.Adam(settings.learning_rate), metrics=["accuracy"])
        keras.utils.set_random_seed(seed)
        history = distiller.fit(data.x_train, data.y_train, epochs=2, batch_size=32, verbose=0,
                                validation_data=(data.x_test, data.y_test)).history
        got, got_history = shared[name][index]
        for a, b in zip(got.get_weights(), student.get_weights(), strict=True):
            np.testing.assert_array_equal(a, b)
        assert got_history == history
    # Each run returned its own model: the first seed's students were not overwritten.
    first, last = shared["scratch"][0][0], shared["distilled"][1][0]
    assert first is not last and not np.array_equal(first.get_weights()[0], last.get_weights()[0])


def test_a_given_student_reloads_with_its_seeds_dropout_state(digits, tmp_path):
    """Both students of a seed start from the saved weights and the same dropout seeds, and a
    run repeats: a reloaded Dropout draws its seed from the global random state."""
    from keras_kd.app import runs, settings as settings_lib

    student = keras.Sequential([keras.Input((64,)), keras.layers.Dense(8),
                                keras.layers.Dropout(0.5), keras.layers.Dense(10)])
    student.save(tmp_path / "student.keras")
    make = runs.student_factory(settings_lib.Settings(student=str(tmp_path / "student.keras")),
                                digits)
    first, again, other = make(3), make(3), make(4)

    def seeds(model):
        return [v.numpy() for v in model.variables if "seed_generator" in v.path]

    assert len(seeds(first)) == 1
    np.testing.assert_array_equal(seeds(first), seeds(again))
    assert not np.array_equal(seeds(first), seeds(other))
    for model in (first, again, other):
        for a, b in zip(model.get_weights(), student.get_weights()):
            if a.dtype.kind == "f":
                np.testing.assert_array_equal(a, b)


def assert_clean_failure(code, out, err, pattern, workdir):
    import re

    assert code == 2
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert re.search(pattern, lines[0]), lines[0]
    leftovers = [p.name for p in (workdir / "saved_models").rglob("*")] if (workdir / "saved_models").exists() else []
    assert not [p for p in leftovers if ".tmp-" in p], leftovers


@pytest.mark.parametrize(
    "argv, pattern",
    [
        (["distill", "--dataset", "mnst"], r"Unknown dataset 'mnst'.*mnist"),
        (["distill", "--teacher", "missing.keras"], r"missing.keras' does not exist"),
        (["distill", "--alpha", "1.5"], r"alpha"),
    ],
)
def test_bad_input_in_process(workdir, capsys, argv, pattern):
    code, out, err = run(argv, capsys)
    assert_clean_failure(code, out, err, pattern, workdir)


def test_not_a_model(workdir, capsys):
    (workdir / "junk.keras").write_text("junk")
    code, out, err = run(["distill", "--teacher", "junk.keras"], capsys)
    assert_clean_failure(code, out, err, r"does not hold a loadable Keras model: it is not a "
                         r"\.keras archive\. Write one with model\.save", workdir)


def test_student_with_the_wrong_class_count(workdir, capsys):
    student = keras.Sequential([keras.Input((64,)), keras.layers.Dense(3)])
    student.save(workdir / "three.keras")
    code, out, err = run(["distill", "--student", "three.keras", "--epochs", "1"], capsys)
    assert_clean_failure(code, out, err, r"dataset has 10 classes", workdir)


@pytest.mark.parametrize("epochs", ["0", "-3"])
def test_non_positive_epochs(workdir, capsys, epochs):
    code, out, err = run(["distill", "--epochs", epochs], capsys)
    assert_clean_failure(code, out, err, r"--epochs.*positive.*See 'keras-kd distill -h'", workdir)


def test_offline_tfds_fails_fast_with_instructions(workdir, capsys, monkeypatch):
    import socket

    import tensorflow_datasets as tfds

    from keras_kd.recipes import data

    # Offline, injected: the download server is a local port nobody listens on,
    # so the test means the same on a machine with network access.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    monkeypatch.setattr(data, "_DOWNLOAD_HOST", ("127.0.0.1", closed_port))
    downloads = []
    monkeypatch.setattr(tfds.core.DatasetBuilder, "download_and_prepare",
                        lambda self, *a, **k: downloads.append(self.name))
    start = time.monotonic()
    code, out, err = run(["distill", "--dataset", "mnist", "--data-dir", str(workdir / "tfds")],
                         capsys)
    assert time.monotonic() - start < 30
    assert_clean_failure(code, out, err, r"'mnist' is not prepared in .*tfds and its download "
                         r"server \(127.0.0.1\) cannot be reached.*--data-dir", workdir)
    assert downloads == [] and not (workdir / "saved_models").exists()


def test_mirrored_and_mixed_precision_run(workdir, capsys):
    code, _, err = run(
        ["distill", "--recipe", "none", "--epochs", "2", "--seeds", "1", "--strategy",
         "mirrored", "--mixed-precision", "--output", "m"],
        capsys,
    )
    assert code == 0, err
    card = json.loads((workdir / "m" / "model_card.json").read_text())
    assert card["strategy"] == "mirrored" and card["replicas"] == 2  # two logical CPUs
    assert card["mixed_precision"] and not card["jit_compile"]
    assert all(0.1 < m["test_accuracy_mean"] <= 1 for m in card["models"])


def test_xla_runs_and_is_refused_with_several_replicas(workdir, capsys):
    # A given teacher, and batches that divide the 1,078 training images: each
    # student's step is compiled once, not once more for a short last batch.
    teacher = keras.Sequential([keras.Input((64,)), keras.layers.Dense(32, activation="relu"),
                                keras.layers.Dense(10)])
    teacher.save(workdir / "teacher.keras")
    code, _, err = run(["distill", "--recipe", "none", "--teacher", "teacher.keras", "--epochs",
                        "2", "--seeds", "1", "--batch-size", "98", "--jit", "--output", "j"],
                       capsys)
    assert code == 0, err
    card = json.loads((workdir / "j" / "model_card.json").read_text())
    assert card["jit_compile"] and card["batch_size"] == 98
    code, out, err = run(["distill", "--strategy", "mirrored", "--jit", "--output", "x"], capsys)
    assert_clean_failure(code, out, err, r"--jit cannot be combined with 2 replicas", workdir)


def test_multiworker_needs_a_teacher_and_tf_config(workdir, capsys):
    code, out, err = run(["distill", "--strategy", "multiworker"], capsys)
    assert_clean_failure(code, out, err, r"needs a trained --teacher", workdir)


@pytest.mark.slow  # three processes, two of them TensorFlow, about 29 CPU s (benchmarks/RESULTS.md)
def test_launch_two_local_workers(workdir, capsys):
    teacher = keras.Sequential([keras.Input((64,)), keras.layers.Dense(32, activation="relu"),
                                keras.layers.Dense(10)])
    teacher.save(workdir / "teacher.keras")
    # As a user would start it: TensorFlow's start-up lines are the command's to drop.
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    env["CUDA_VISIBLE_DEVICES"] = ""
    result = subprocess.run(
        [sys.executable, "-m", "keras_kd.app.cli", "launch", "--workers", "2", "--", "distill",
         "--recipe", "none", "--teacher", "teacher.keras", "--epochs", "1", "--seeds", "1",
         "--output", "mw"],
        cwd=workdir, capture_output=True, text=True, timeout=300, env=env,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    lines = result.stdout.splitlines()
    assert any(line.startswith("[worker 0] [keras-kd] wrote mw") for line in lines)
    # The chief measures and writes; the other worker only says what it trained.
    (chief_row,) = [l for l in lines if l.startswith("[worker 0] | distilled")]
    assert not [l for l in lines if l.startswith("[worker 1] |")]
    (worker_line,) = [l for l in lines if l.startswith("[worker 1] [keras-kd] distilled student: ")]
    accuracy = worker_line.split(": ")[1].split()[0]
    assert chief_row.split("|")[3].strip() == accuracy  # both workers trained the same student
    assert "the chief writes mw" in worker_line
    assert json.loads((workdir / "mw" / "model_card.json").read_text())["strategy"] == "multiworker"
    assert sorted(p.name for p in workdir.iterdir()) == ["mw", "teacher.keras"]
    noise = [line for line in (result.stdout + result.stderr).splitlines()
             if any(part in line for part in commands._STARTUP_NOISE)]
    assert noise == []


def test_launch_reports_failing_workers(workdir, capsys):
    code, out, err = run(["launch", "--workers", "2", "--", "distill", "--teacher", "nope.keras"],
                         capsys)
    assert code == 2 and "failed" in err


@pytest.mark.parametrize("command, pattern", [
    (["no-such-program", "x"], r"'no-such-program' is neither a keras-kd command .* nor a program on PATH"),
    (["launch", "--workers", "2"], r"launch cannot launch itself"),
    ([], r"Give the command to run after --"),
])
def test_launch_refuses_what_it_cannot_start(workdir, capsys, command, pattern):
    code, out, err = run(["launch", "--workers", "2", "--", *command], capsys)
    assert code == 2 and out == "", (code, out, err)
    assert len(err.splitlines()) == 1 and re.search(pattern, err), err


def test_tune_selects_on_a_validation_split_and_reports_the_test_split(workdir, capsys,
                                                                       monkeypatch):
    from keras_kd import tuning
    from keras_kd.recipes.data import load_digits

    seen = {}
    original = tuning.search

    def spying_search(student_fn, teacher, train_data, validation_data, **kwargs):
        seen["train"], seen["validation"] = train_data, validation_data
        return original(student_fn, teacher, train_data, validation_data, **kwargs)

    monkeypatch.setattr(tuning, "search", spying_search)
    code, out, err = run(["tune", "--recipe", "none", "--tuner", "random", "--max-trials", "2",
                          "--epochs", "2", "--teacher-epochs", "2", "--seeds", "1",
                          "--output", "t"], capsys)
    assert code == 0, err
    digits = load_digits()
    test_rows = {row.tobytes() for row in digits.x_test}
    train_rows = {row.tobytes() for row in digits.x_train}
    searched = [seen["train"][0], seen["validation"][0]]
    for x in searched:  # the test split never reaches the search
        assert not {row.tobytes() for row in x} & test_rows
        assert {row.tobytes() for row in x} <= train_rows
    assert len(searched[0]) + len(searched[1]) == len(digits.x_train)
    assert "baseline (alpha=0, labels only)" in out and "best on validation: T=" in out
    for phase in ("search baseline (labels only)", "search trial 1/2", "search trial 2/2"):
        assert f"[keras-kd] {phase}: 2 epochs in" in err, err
    for name in ("student", "student.keras", "tuning.json", "tuning.md", "tuning.png",
                 "model_card.json"):
        assert (workdir / "t" / name).exists(), name
    report = json.loads((workdir / "t" / "tuning.json").read_text())
    assert len(report["trials"]) == 3
    assert report["best_score"] == max(r["score"] for r in report["trials"])
    split = report["validation_split"]
    assert (split["validation_examples"], split["search_examples"]) == (216, 862)
    if report["best"]["alpha"] > 0:  # T only matters where the teacher does
        assert 1.0 <= report["best"]["temperature"] <= 20.0
    names = [m["name"] for m in report["test_comparison"]]
    assert names[:3] == ["teacher", "scratch student", "default (T=4, alpha=0.9)"]
    assert names[3].startswith("tuned (T=")
    assert all(len(m["test_accuracy_per_seed"]) == 1 for m in report["test_comparison"][1:])
    assert "## On the test split" in (workdir / "t" / "tuning.md").read_text()
    assert (workdir / "saved_models" / "tuning").is_dir()


@pytest.mark.parametrize("flag, value", [("--temperature-range", "0,5"), ("--alpha-range", "0.5,2"),
                                         ("--temperature-range", "8,2")])
def test_tune_rejects_bad_ranges(workdir, capsys, flag, value):
    code, out, err = run(["tune", flag, value], capsys)
    assert_clean_failure(code, out, err, flag, workdir)


def test_savedmodel_student_is_refused_with_the_fix(workdir, capsys):
    student = keras.Sequential([keras.Input((64,)), keras.layers.Dense(10)])
    student.export(str(workdir / "student_sm"), verbose=False)
    code, out, err = run(["distill", "--student", "student_sm", "--epochs", "1"], capsys)
    assert_clean_failure(code, out, err, r"SavedModel.*not trained.*\.keras", workdir)


def test_the_default_recipe_with_progress_lines(workdir, capsys, monkeypatch):
    import dataclasses

    from keras_kd.recipes import registry

    # The default recipe as it is, on 3 recorded passes of shifted images instead
    # of 30: the teachers label 3,234 images instead of 32,340 (25 s -> 19 s).
    default = registry.RECIPES["consistent-ensemble"]
    monkeypatch.setitem(registry.RECIPES, "consistent-ensemble", dataclasses.replace(default, views=3))
    code, out, err = run(["distill", "--epochs", "1", "--teacher-epochs", "1", "--seeds", "1",
                          "--output", "d"], capsys)
    assert code == 0, err
    card = json.loads((workdir / "d" / "model_card.json").read_text())
    assert card["recipe"] == "consistent-ensemble"
    assert card["teacher_architecture"] == "ensemble of 5 cnn-large"
    assert card["student_architecture"] == "mlp-medium"
    assert "training 5 teachers cnn-large" in out
    # The five members are averaged into one saved teacher; the table counts them all.
    (path,) = os.listdir(workdir / "saved_models" / "teachers")
    teacher = keras.saving.load_model(workdir / "saved_models" / "teachers" / path)
    members = [layer for layer in teacher.layers if isinstance(layer, keras.Model)]
    assert len(members) == 5
    assert card["models"][0]["parameters"] == sum(m.count_params() for m in members)
    # Progress goes to stderr, as plain lines when it is not a terminal.
    for phase in ("teacher 1/5", "teacher 5/5", "student 1/2 (seed 0, scratch)",
                  "student 2/2 (seed 0, distilled)"):
        assert f"[keras-kd] {phase}: 1 epochs in" in err, err


def test_help_and_missing_files_do_not_start_tensorflow():
    code = ("import sys\nfrom keras_kd.app import cli\ntry:\n    cli.main(['distill', '-h'])\n"
            "except SystemExit:\n    pass\n"
            "assert cli.main(['distill', '--teacher', 'missing.keras']) == 2\n"
            "assert 'tensorflow' not in sys.modules\n"
            "assert 'keras' not in sys.modules\nprint('ok')")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0 and result.stdout.splitlines()[-1] == "ok", result.stderr
    assert result.stderr.splitlines() == ["keras-kd: error: 'missing.keras' does not exist."]


def test_start_up_lines_of_tensorflow_are_filtered(workdir):
    # A file that exists but is not a model: the error comes after TF started.
    (workdir / "junk.keras").write_text("junk")
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    result = subprocess.run(
        [sys.executable, "-m", "keras_kd.app.cli", "evaluate", "junk.keras", "--seed", "0"],
        cwd=workdir, capture_output=True, text=True, timeout=120, env=env,
    )
    assert result.returncode == 2
    (line,) = result.stderr.splitlines()
    assert line.startswith("keras-kd: error: ") and "does not hold a loadable Keras model" in line


@pytest.mark.xdist_group("cli_digits_run")
def test_evaluate_uses_the_split_the_model_was_trained_on(digits_run, capsys, monkeypatch):
    from keras_kd.app import report
    from keras_kd.recipes.data import load_digits

    workdir = digits_run[0]
    monkeypatch.chdir(workdir)
    shutil.copytree(workdir / "out", workdir / "s7")  # the other tests may replace out/
    card = json.loads((workdir / "s7" / "model_card.json").read_text())
    assert card["split_seed"] == 7
    scored = []
    original = report.accuracy
    monkeypatch.setattr(report, "accuracy",
                        lambda predict, x, y, **kw: scored.append(x) or original(predict, x, y, **kw))
    code, out, err = run(["evaluate", "s7/student.keras"], capsys)
    assert code == 0, err
    assert "split seed 7, from model_card.json" in out
    reported = card["models"][2]["test_accuracy_per_seed"][0]
    assert f"= {100 * reported:.2f}%" in out
    train_rows = {row.tobytes() for row in load_digits(seed=7).x_train}
    assert not {row.tobytes() for row in scored[0]} & train_rows
    code, out, err = run(["evaluate", "s7/student.keras", "--seed", "0"], capsys)
    assert_clean_failure(code, out, err, r"split of seed 7.*Drop --seed", workdir)


def test_another_keras_backend_is_refused_in_one_line(workdir, capsys, monkeypatch):
    monkeypatch.setenv("KERAS_BACKEND", "jax")
    code, out, err = run(["distill", "--epochs", "1"], capsys)
    assert_clean_failure(code, out, err, r"needs the TensorFlow backend.*'jax'.*KERAS_BACKEND=tensorflow",
                         workdir)


def test_a_machine_without_tensorflow_is_told_what_to_install(workdir, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorflow", None)  # as without TensorFlow: import fails
    code, out, err = run(["distill", "--epochs", "1"], capsys)
    assert_clean_failure(code, out, err,
                         r"runs on TensorFlow, which is not installed: pip install 'keras-kd\[tensorflow\]'",
                         workdir)
