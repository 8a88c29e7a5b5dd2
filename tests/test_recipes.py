"""The recipes' pieces: shifts, mixing, consistent views, inference without augmentation."""

import dataclasses

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_kd
from keras_kd import recipes

SEED = tf.constant([1, 2], tf.int64)


def test_shift_moves_each_image_by_whole_pixels_with_zero_fill():
    images = np.random.default_rng(0).uniform(0.1, 1.0, size=(32, 8, 8, 1)).astype("float32")
    shifted = recipes.shift(tf.constant(images), 2, SEED).numpy()
    assert shifted.shape == images.shape and shifted.dtype == np.float32
    seen = set()
    for original, moved in zip(images, shifted):
        padded = np.pad(original, [(2, 2), (2, 2), (0, 0)])
        matches = [
            (dy, dx) for dy in range(5) for dx in range(5)
            if np.array_equal(padded[dy : dy + 8, dx : dx + 8], moved)
        ]
        assert len(matches) == 1
        seen.add(matches[0])
    assert len(seen) > 5  # each example draws its own shift


def test_shift_keeps_flat_vectors_flat_and_zero_shift_is_identity():
    flat = np.random.default_rng(1).uniform(size=(4, 64)).astype("float32")
    moved = recipes.shift(tf.constant(flat), 1, SEED).numpy()
    assert moved.shape == (4, 64)
    assert not np.array_equal(moved, flat)
    np.testing.assert_array_equal(recipes.shift(tf.constant(flat), 0, SEED), flat)
    with pytest.raises(ValueError, match="square flat vectors"):
        recipes.shift(tf.zeros((2, 10)), 1, SEED)


def test_mixing_blends_inputs_and_labels_with_the_same_weight():
    x = np.eye(8, dtype="float32")  # example i is the i-th unit vector
    y = np.eye(8, dtype="float32")
    mixed_x, mixed_y = recipes.mix(tf.constant(x), tf.constant(y), 1.0, SEED)
    np.testing.assert_allclose(mixed_x, mixed_y, atol=1e-6)
    np.testing.assert_allclose(np.sum(mixed_y, -1), 1.0, atol=1e-6)
    assert np.all(mixed_x.numpy() >= 0) and not np.allclose(mixed_x, x)


def test_training_data_draws_new_views_every_epoch_and_is_reproducible(digits):
    recipe = dataclasses.replace(recipes.get("function-matching"), batch_size=16)
    x, y = digits.x_train[:32], digits.y_train[:32]
    dataset = recipes.training_data(x, y, recipe, 10, seed=3)
    first, second = [np.concatenate([b[0].numpy() for b in dataset]) for _ in range(2)]
    assert first.shape == (32, 64) and first.dtype == np.float32
    assert not np.allclose(first, second)
    again = np.concatenate([b[0].numpy() for b in recipes.training_data(x, y, recipe, 10, seed=3)])
    np.testing.assert_array_equal(first, again)
    labels = np.concatenate([b[1].numpy() for b in dataset])
    assert labels.shape == (32, 10)
    np.testing.assert_allclose(labels.sum(-1), 1.0, atol=1e-6)


def test_teacher_and_student_see_the_same_augmented_view(digits):
    """A student identical to its teacher has zero KL only if both saw the same batch."""
    teacher = keras_kd.recipes.architectures.build("mlp-small", (64,), 10, seed=0)
    student = keras.models.clone_model(teacher)
    student.set_weights(teacher.get_weights())
    recipe = dataclasses.replace(
        recipes.get("function-matching"), epochs=2, batch_size=32, learning_rate=0.0
    )
    x, y = digits.x_train[:128], digits.y_train[:128]
    history = recipes.train_student(student, x, y, recipe, 10, teacher=teacher, seed=0)
    assert max(history.history["distillation_loss"]) < 1e-6
    # The views are really augmented, so a teacher fed the raw batch would differ.
    (batch, _), = recipes.training_data(x, y, recipe, 10, seed=0).take(1)
    raw = keras_kd.losses.distillation_loss(teacher(x[:32]), teacher(batch), 1.0)
    assert float(np.mean(raw)) > 1e-3


def test_augmentation_is_off_at_inference(digits):
    recipe = dataclasses.replace(recipes.get("hinton"), epochs=2, teacher_epochs=2)
    teacher = keras_kd.recipes.architectures.build("mlp-small", (64,), 10, seed=0)
    recipes.train_teacher(teacher, digits.x_train[:256], digits.y_train[:256], recipe, 10)
    student = keras_kd.recipes.architectures.build("mlp-tiny", (64,), 10, seed=0)
    history = recipes.train_student(
        student, digits.x_train[:256], digits.y_train[:256], recipe, 10, teacher=teacher,
        validation_data=(digits.x_test, digits.y_test),
    )
    assert not keras_kd.models.tools.random_layers(student)
    first, second = (student.predict(digits.x_test, verbose=0) for _ in range(2))
    np.testing.assert_array_equal(first, second)
    accuracy = np.mean(first.argmax(-1) == digits.y_test)
    assert history.history["val_accuracy"][-1] == pytest.approx(accuracy, abs=1e-6)
    assert np.all(np.isfinite(history.history["loss"]))


def test_unknown_recipe_is_refused():
    with pytest.raises(ValueError, match="hinton, hinton-ensemble, function-matching"):
        recipes.get("patient")


def _softmax(z):
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def test_ensemble_is_the_geometric_mean_of_its_members_at_every_temperature(tmp_path):
    # Same-named members (as architectures.build makes them) must be accepted.
    members = [keras_kd.recipes.architectures.build("mlp-small", (64,), 10, seed=s) for s in range(3)]
    teacher = keras_kd.ensemble(members)
    x = np.random.default_rng(0).uniform(size=(16, 64)).astype("float32")
    logits = np.stack([m.predict(x, verbose=0) for m in members]).astype("float64")
    got = teacher.predict(x, verbose=0)
    np.testing.assert_allclose(got, logits.mean(0), rtol=1e-5, atol=1e-6)
    for temperature in (1.0, 4.0, 20.0):
        geometric = np.exp(np.log(_softmax(logits / temperature)).mean(0))
        geometric /= geometric.sum(-1, keepdims=True)
        np.testing.assert_allclose(_softmax(got.astype("float64") / temperature), geometric,
                                   rtol=1e-5, atol=1e-7)
    path = tmp_path / "ensemble.keras"
    keras_kd.save_keras(teacher, path)
    np.testing.assert_allclose(keras.saving.load_model(path).predict(x, verbose=0), got,
                               rtol=1e-6, atol=1e-6)


def test_ensemble_refuses_no_members_or_mismatched_ones():
    with pytest.raises(ValueError, match="at least one model"):
        keras_kd.ensemble([])
    members = [keras_kd.recipes.architectures.build("mlp-tiny", (64,), 10),
               keras_kd.recipes.architectures.build("mlp-tiny", (64,), 3)]
    with pytest.raises(ValueError, match="same input and output the same logits"):
        keras_kd.ensemble(members)


def test_train_teachers_trains_each_member_from_its_own_seed(digits):
    recipe = dataclasses.replace(recipes.get("hinton-ensemble"), teachers=2, teacher_epochs=2)
    built = {}

    def make(seed):  # dropout: each member's seed state counts too
        keras.utils.set_random_seed(seed)
        return keras_kd.recipes.architectures.mlp((64,), 10, hidden=(16,), dropout=0.2)

    def build(seed):
        built[seed] = make(seed)
        return built[seed]

    initial = {s: make(s).get_weights() for s in (5, 6)}
    x, y = digits.x_train[:256], digits.y_train[:256]
    traced = []
    original = keras.Model.make_train_function
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(keras.Model, "make_train_function",
                      lambda self, *a, **k: traced.append(self) or original(self, *a, **k))
        teacher = recipes.train_teachers(build, x, y, recipe, 10, seed=5)
    assert len(set(map(id, traced))) == 1  # the members trained on one compiled model
    assert sorted(built) == [5, 6]
    members = [layer for layer in teacher.layers if isinstance(layer, keras.Model)]
    assert members == [built[5], built[6]]
    for seed, member in built.items():  # trained away from its seeded start
        assert not np.allclose(member.get_weights()[0], initial[seed][0])
    # Member k is exactly the teacher the recipe trains alone from seed 5 + k
    # (its own initial weights and its own shifted views), although the members
    # train on one shared compiled model.
    for seed in (5, 6):
        alone = make(seed)
        recipes.train_teacher(alone, x, y, recipe, 10, seed=seed)
        for a, b in zip(alone.get_weights(), built[seed].get_weights(), strict=True):
            np.testing.assert_array_equal(a, b)
    assert teacher.output.shape[1:] == (10,)
    # Members of differing shapes cannot share a compiled model: each trains alone.
    widths = iter([8, 12])
    mixed = recipes.train_teachers(
        lambda seed: keras_kd.recipes.architectures.mlp((64,), 10, hidden=(next(widths, 8),)),
        x[:64], y[:64], recipe, 10, seed=5)
    members = [layer for layer in mixed.layers if isinstance(layer, keras.Model)]
    assert [m.layers[1].units for m in members] == [12, 8]
    assert members[0].optimizer.iterations.numpy() > 0  # the 12-wide one trained on its own
    assert mixed.output.shape[1:] == (10,)
    single = recipes.train_teachers(build, digits.x_train[:64], digits.y_train[:64],
                                    dataclasses.replace(recipe, teachers=1), 10, seed=7)
    assert single is built[7]
    with pytest.raises(ValueError, match="teachers=0"):
        recipes.train_teachers(build, digits.x_train, digits.y_train,
                               dataclasses.replace(recipe, teachers=0), 10)


def test_shifts_and_cnns_refuse_examples_that_are_not_images():
    import keras_kd.recipes.architectures as architectures

    assert architectures.image_shape((64,)) == (8, 8, 1)
    assert architectures.image_shape((28, 28)) == (28, 28, 1)
    with pytest.raises(ValueError, match=r"A random shift needs images; examples of shape "
                                         r"\(10,\) are neither.*Use a recipe without shifts\."):
        recipes.shift(tf.zeros((4, 10)), 1, SEED)
    with pytest.raises(ValueError, match=r"A CNN needs images; examples of shape \(10,\)"):
        architectures.build("cnn-small", (10,), 3)
