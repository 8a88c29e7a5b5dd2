"""Consistent caching: a few augmented epochs recorded with the teacher's logits and replayed."""

import dataclasses

import keras
import numpy as np
import pytest

import keras_kd
from keras_kd import recipes
from keras_kd.caching import targets
from helpers import sequential_noise, tiny_data, tiny_models
from test_distiller import CountingTeacher


def noisy(x, y, batch=16):
    """The recipes' pipeline: new random shifts (of 4x4 images) and order every epoch."""
    recipe = dataclasses.replace(recipes.get("hinton"), batch_size=batch)
    return recipes.training_data(x, y, recipe, 3, seed=0)


def test_teacher_runs_only_for_the_recorded_epochs_on_the_views_the_student_sees(tmp_path):
    teacher, _ = tiny_models(inputs=16)
    student = keras.models.clone_model(teacher)
    student.set_weights(teacher.get_weights())
    x, y = tiny_data(n=64, inputs=16)
    counting = CountingTeacher(teacher)
    counting(x[:1])
    before = int(counting.seen.numpy())
    distiller = keras_kd.Distiller(student, counting, alpha=1.0)
    distiller.compile(keras.optimizers.SGD(0.0))
    history = distiller.fit(noisy(x, y), epochs=5, verbose=0, augmented_epochs=2,
                            cache_teacher=str(tmp_path))
    # Two recorded epochs of 64 examples, plus the input check's probe batch of 16.
    assert int(counting.seen.numpy()) - before == 2 * 64 + 16
    # A student equal to its teacher has zero KL only on the very views the teacher labelled.
    assert max(history.history["distillation_loss"]) < 1e-6
    assert len(history.history["loss"]) == 5


def test_replay_cycles_through_distinct_recorded_epochs(tmp_path):
    teacher, _ = tiny_models(inputs=16)
    x, y = tiny_data(n=64, inputs=16)
    replay, steps = keras_kd.record_augmented_epochs(teacher, noisy(x, y), 2, tmp_path)
    assert steps == 4
    epochs = [[b for b in replay.skip(e * steps).take(steps)] for e in range(3)]
    inputs = [np.concatenate([b[0].numpy() for b in epoch]) for epoch in epochs]
    assert not np.allclose(inputs[0], inputs[1])
    np.testing.assert_array_equal(inputs[0], inputs[2])
    logits = np.concatenate([b[1][targets.TEACHER_LOGITS].numpy() for b in epochs[1]])
    np.testing.assert_allclose(logits, teacher(inputs[1]), atol=1e-5)
    labels = np.concatenate([b[1][targets.LABELS].numpy() for b in epochs[1]])
    np.testing.assert_array_equal(np.sort(labels), np.sort(y))  # reshuffled, all there


def test_a_recording_is_reused_and_bad_arguments_are_refused(tmp_path):
    teacher, _ = tiny_models(inputs=16)
    x, y = tiny_data(n=32, inputs=16)
    keras_kd.record_augmented_epochs(teacher, noisy(x, y), 2, tmp_path)
    (entry,) = list(tmp_path.iterdir())
    stamp = (entry / "recorded.json").stat().st_mtime_ns
    keras_kd.record_augmented_epochs(teacher, noisy(x, y), 2, tmp_path)
    assert list(tmp_path.iterdir()) == [entry]
    assert (entry / "recorded.json").stat().st_mtime_ns == stamp
    keras_kd.record_augmented_epochs(teacher, noisy(x, y), 3, tmp_path)
    assert len(list(tmp_path.iterdir())) == 2  # another number of epochs, another recording
    with pytest.raises(ValueError, match="integer >= 1"):
        keras_kd.record_augmented_epochs(teacher, noisy(x, y), 0, tmp_path)
    with pytest.raises(ValueError, match="infinite"):
        keras_kd.record_augmented_epochs(teacher, noisy(x, y).repeat(), 2, tmp_path)


def test_recorded_epochs_draw_anew_under_a_global_seed(tmp_path):
    teacher, _ = tiny_models(inputs=16)
    x, y = tiny_data(n=32, inputs=16)
    keras.utils.set_random_seed(0)  # as users do, and conftest before each test
    replay, steps = keras_kd.record_augmented_epochs(teacher, sequential_noise(x, y), 3, tmp_path)
    assert steps == 2
    epochs = [np.concatenate([b[0].numpy() for b in replay.skip(e * steps).take(steps)])
              for e in range(3)]
    for a, b in ((0, 1), (1, 2), (0, 2)):
        assert not np.allclose(epochs[a], epochs[b]), (a, b)
    for epoch in epochs:  # each is x plus noise in [0, 1)
        assert ((epoch - x >= 0) & (epoch - x < 1)).all()
