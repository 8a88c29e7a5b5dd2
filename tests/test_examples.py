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


def test_every_example_is_covered():
    assert sorted(p.stem for p in EXAMPLES.glob("*.py")) == sorted(
        ["distill_digits", "distill_mnist", "distill_cifar10"]
    )


@pytest.mark.parametrize("name", ["distill_digits", "distill_mnist", "distill_cifar10"])
def test_example_runs_and_exports(name, tmp_path, capsys):
    output = tmp_path / "student"
    with tfds.testing.mock_data(num_examples=64):
        load_example(name).main(["--quick", "--output", str(output)])
    assert tf.saved_model.contains_saved_model(str(output))
    assert "student SavedModel:" in capsys.readouterr().out
