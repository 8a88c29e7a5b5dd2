"""Under mixed precision the losses stay float32 and training tracks float32 training."""

import keras
import numpy as np
import pytest

import keras_kd
from keras_kd.recipes import architectures


def distill(digits, teacher, policy, temperature=4.0, epochs=6):
    keras.mixed_precision.set_global_policy(policy)
    student = architectures.build("mlp-small", digits.input_shape, 10, seed=3)
    distiller = keras_kd.Distiller(student, teacher, temperature=temperature, alpha=0.9)
    distiller.compile(keras.optimizers.Adam(3e-3), metrics=["accuracy"])
    keras.utils.set_random_seed(3)
    history = distiller.fit(
        digits.x_train, digits.y_train, batch_size=64, epochs=epochs, verbose=0,
        validation_data=(digits.x_test, digits.y_test),
    )
    keras.mixed_precision.set_global_policy("float32")
    return student, distiller, history.history


@pytest.fixture(scope="module")
def float32_reference(digits, digits_teacher):
    keras.backend.clear_session()
    return distill(digits, digits_teacher, "float32")[2]


@pytest.mark.xdist_group("mixed_precision")  # shares the float32 run
@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision_tracks_float32(digits, digits_teacher, float32_reference, policy):
    reference = float32_reference
    student, distiller, mixed = distill(digits, digits_teacher, policy)
    assert student.layers[-1].compute_dtype in ("float16", "bfloat16")
    if policy == "mixed_float16":
        assert isinstance(distiller.optimizer, keras.optimizers.LossScaleOptimizer)
    for key in ("loss", "distillation_loss", "student_loss"):
        assert np.all(np.isfinite(mixed[key]))
    np.testing.assert_allclose(mixed["loss"][-1], reference["loss"][-1], rtol=0.1, atol=0.02)
    assert abs(mixed["val_accuracy"][-1] - reference["val_accuracy"][-1]) < 0.02


def test_mixed_float16_large_logits_at_t20_stay_finite():
    keras.mixed_precision.set_global_policy("mixed_float16")
    keras.utils.set_random_seed(0)
    teacher = keras.Sequential([keras.Input((8,)), keras.layers.Dense(10)])
    student = keras.Sequential([keras.Input((8,)), keras.layers.Dense(10)])
    x = np.random.default_rng(0).normal(size=(64, 8)).astype("float32") * 40
    y = np.zeros(64, "int32")
    distiller = keras_kd.Distiller(student, teacher, temperature=20.0, alpha=0.9)
    distiller.compile(keras.optimizers.SGD(1e-3))
    result = distiller.evaluate(x, y, verbose=0, return_dict=True)
    assert teacher(x[:2]).dtype == "float16"
    assert all(np.isfinite(v) for v in result.values()), result
    history = distiller.fit(x, y, epochs=2, verbose=0).history
    assert np.all(np.isfinite(history["loss"]))


def test_loss_scaling_rescues_gradients_that_underflow_in_float16():
    """The first layer's gradients are about 1e-8: zero in float16 unless the loss is scaled."""
    x = np.random.default_rng(0).normal(size=(64, 8)).astype("float32")
    y = np.random.default_rng(1).integers(0, 10, 64).astype("int32")

    def first_layer_change(policy, optimizer, epochs=3):
        keras.mixed_precision.set_global_policy(policy)
        keras.utils.set_random_seed(0)
        teacher = keras.Sequential([keras.Input((8,)), keras.layers.Dense(32, activation="relu"),
                                    keras.layers.Dense(10)])
        student = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, name="first"),
                                    keras.layers.Rescaling(1e-5), keras.layers.Dense(10)])
        student.layers[-1].trainable = False  # only the first layer learns
        before = student.get_layer("first").kernel.numpy().copy()
        distiller = keras_kd.Distiller(student, teacher, temperature=4.0, alpha=0.9)
        distiller.compile(optimizer)
        distiller.fit(x, y, batch_size=64, epochs=epochs, shuffle=False, verbose=0)
        keras.mixed_precision.set_global_policy("float32")
        return student.get_layer("first").kernel.numpy() - before, distiller.optimizer

    reference, _ = first_layer_change("float32", keras.optimizers.SGD(1e4))
    scaled, optimizer = first_layer_change("mixed_float16", keras.optimizers.SGD(1e4))
    unscaled, _ = first_layer_change(
        "mixed_float16",
        keras.optimizers.LossScaleOptimizer(keras.optimizers.SGD(1e4), initial_scale=1.0),
    )
    assert isinstance(optimizer, keras.optimizers.LossScaleOptimizer)
    assert np.abs(reference).max() > 1e-3
    assert np.all(unscaled == 0)  # without scaling nothing reaches the first layer
    np.testing.assert_allclose(scaled, reference, rtol=0, atol=0.01 * np.abs(reference).max())
