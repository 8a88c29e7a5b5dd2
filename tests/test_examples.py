"""Every script in examples/ runs with --quick (TFDS ones on mocked data)."""

import importlib.util
import pathlib

import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"


def load_example(name):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


IN_PROCESS = ["distill_digits", "distill_mnist", "distill_cifar10", "multi_gpu", "distillation_methods"]


def test_every_example_is_covered():
    assert sorted(p.stem for p in EXAMPLES.glob("*.py")) == sorted(
        IN_PROCESS + ["multi_worker", "distill_bert"]
    )


@pytest.mark.parametrize("name", IN_PROCESS)
def test_example_runs_and_exports(name, tmp_path, capsys):
    output = tmp_path / "student"
    extra = ["--cpus", "2"] if name == "multi_gpu" else []
    with tfds.testing.mock_data(num_examples=64):
        load_example(name).main(["--quick", "--output", str(output), *extra])
    assert tf.saved_model.contains_saved_model(str(output))
    assert "student SavedModel:" in capsys.readouterr().out


def launch_multi_worker_example(tmp_path, workers):
    """`keras-kd launch --workers N -- python examples/multi_worker.py --quick`, as its
    docstring starts it, with a trained teacher (training one on the workers is
    Distiller(alpha=0) under the strategy, as the launch test's scratch students are)."""
    import os
    import subprocess
    import sys

    import keras

    teacher = keras.Sequential([keras.Input((64,)), keras.layers.Dense(32, activation="relu"),
                                keras.layers.Dense(10)])
    teacher.save(tmp_path / "teacher.keras")
    output = tmp_path / "student"
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
    result = subprocess.run(
        [sys.executable, "-m", "keras_kd.app.cli", "launch", "--workers", str(workers), "--",
         "python", str(EXAMPLES / "multi_worker.py"), "--quick", "--teacher",
         str(tmp_path / "teacher.keras"), "--backup", str(tmp_path / "backup"), "--output",
         str(output)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert tf.saved_model.contains_saved_model(str(output))
    lines = result.stdout.splitlines()
    # The chief (worker 0) writes the student.
    assert any(line.startswith("[worker 0] student SavedModel: ") for line in lines), lines
    return lines


def test_multi_worker_example_on_one_local_worker(tmp_path):
    # The suite's run of the example: one worker, one TensorFlow start. The
    # two-worker run below is in the slow checks (`pytest -m slow`).
    lines = launch_multi_worker_example(tmp_path, workers=1)
    assert any(line.startswith("[worker 0] Epoch 2/2") for line in lines), lines
    assert not [line for line in lines if line.startswith("[worker 1]")]


@pytest.mark.slow  # two TensorFlow starts, about 24 CPU s (benchmarks/RESULTS.md)
def test_multi_worker_example_on_two_local_workers(tmp_path):
    lines = launch_multi_worker_example(tmp_path, workers=2)
    # Only the chief writes the student; the other worker trains the same steps.
    assert not [line for line in lines if line.startswith("[worker 1] student SavedModel")]
    assert any(line.startswith("[worker 1] Epoch 2/2") for line in lines), lines


def test_the_distilbert_example_runs_with_keras_hub(tmp_path, capsys):
    pytest.importorskip("keras_hub", reason="KerasHub is optional: pip install -e '.[hub]'")
    output = tmp_path / "student.keras"
    load_example("distill_bert").main(["--quick", "--output", str(output)])
    out = capsys.readouterr().out
    for row in ("| teacher (4 layers) |", "| student alone (2 layers) |",
                "| student distilled (2 layers) |", "| student distilled + cosine (2 layers) |"):
        assert row in out, out
    import keras

    student = keras.saving.load_model(output)
    assert len([l for l in student.backbone.layers if l.name.startswith("transformer_layer")]) == 2
