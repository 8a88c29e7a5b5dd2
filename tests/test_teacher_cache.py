"""`TeacherCache`: same training as running the teacher, bounded memory, stale and broken entries."""

import os
import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_kd
from keras_kd.caching import pipelines as inspection
from keras_kd.caching.teacher_cache import reconstruct_top_k
from helpers import sequential_noise, tiny_data, tiny_models
from test_distiller import CountingTeacher


def batches(x, y, batch_size=16):
    return tf.data.Dataset.from_tensor_slices((x, y)).batch(batch_size)


def train(dataset, cache_teacher, epochs=3, seed=4):
    teacher, student = tiny_models(student_width=8, seed=seed)
    distiller = keras_kd.Distiller(student, teacher, temperature=3.0, alpha=0.8)
    distiller.compile(keras.optimizers.SGD(0.1), metrics=["accuracy"])
    if cache_teacher == "explicit":
        cache_teacher = keras_kd.TeacherCache(teacher, dataset.cache_dir)
    history = distiller.fit(dataset.data, epochs=epochs, verbose=0, cache_teacher=cache_teacher)
    return student.get_weights(), history.history


class Data:
    def __init__(self, data, cache_dir=None):
        self.data, self.cache_dir = data, cache_dir


def test_cached_dataset_trains_exactly_like_the_online_teacher(tmp_path):
    x, y = tiny_data(n=80)
    online, h_online = train(Data(batches(x, y)), cache_teacher=False)
    for mode in (True, "explicit", str(tmp_path / "folder")):
        cached, h_cached = train(Data(batches(x, y), str(tmp_path / "explicit")), cache_teacher=mode)
        for a, b in zip(online, cached):
            np.testing.assert_allclose(a, b, atol=1e-6)
        np.testing.assert_allclose(h_online["loss"], h_cached["loss"], rtol=1e-6)


def test_the_teacher_sees_each_example_once(tmp_path):
    teacher, student = tiny_models()
    x, y = tiny_data(n=64)
    counting = CountingTeacher(teacher)
    counting(x[:1])
    cache = keras_kd.TeacherCache(counting, tmp_path)
    distiller = keras_kd.Distiller(student, counting)
    distiller.compile("sgd")
    train_ds = batches(x, y)
    before = int(counting.seen.numpy())
    distiller.fit(train_ds, epochs=4, verbose=0, cache_teacher=cache)
    probe = 16  # the input check runs both models on one batch
    assert int(counting.seen.numpy()) - before == 64 + probe


def test_a_second_fit_reuses_the_entry(tmp_path):
    teacher, student = tiny_models()
    x, y = tiny_data(n=64)
    cache = keras_kd.TeacherCache(teacher, tmp_path)
    distiller = keras_kd.Distiller(student, teacher)
    distiller.compile("sgd")
    distiller.fit(batches(x, y), epochs=2, verbose=0, cache_teacher=cache)
    (entry,) = entry_dirs(tmp_path)
    written = os.path.getmtime(tmp_path / entry / "logits.bin")
    distiller.fit(batches(x, y), epochs=2, verbose=0, cache_teacher=cache)
    assert entry_dirs(tmp_path) == [entry]
    assert os.path.getmtime(tmp_path / entry / "logits.bin") == written


def test_random_pipelines_run_the_teacher_per_batch(tmp_path):
    teacher, student = tiny_models()
    x, y = tiny_data(n=64)
    counting = CountingTeacher(teacher)
    counting(x[:1])
    augmented = tf.data.Dataset.from_tensor_slices((x, y)).map(
        lambda a, b: (a + tf.random.normal(tf.shape(a), stddev=0.1), b)
    ).batch(16)
    distiller = keras_kd.Distiller(student, counting)
    distiller.compile("sgd")
    before = int(counting.seen.numpy())
    with pytest.warns(UserWarning, match=r"RandomStandardNormal.*teacher runs on every batch"):
        distiller.fit(augmented, epochs=3, verbose=0)
    assert int(counting.seen.numpy()) - before == 3 * 64 + 16
    with pytest.raises(ValueError, match="different data every epoch"):
        keras_kd.TeacherCache(teacher, tmp_path).attach(augmented)


def test_pipeline_randomness_detection():
    x, y = tiny_data(n=8)
    base = tf.data.Dataset.from_tensor_slices((x, y))
    flip = keras.layers.RandomFlip("horizontal")
    generator = tf.random.Generator.from_seed(1)
    random = {
        "normal": base.map(lambda a, b: (a + tf.random.normal(tf.shape(a)), b)),
        "uniform": base.map(lambda a, b: (a * tf.random.uniform(()), b)),
        "keras_layer": base.batch(2).map(
            lambda a, b: (flip(tf.reshape(a, (-1, 2, 4, 1)), training=True), b)
        ),
        "generator": base.map(lambda a, b: (a + generator.normal(tf.shape(a)), b)),
        "reshuffle": base.shuffle(8),
        "python": tf.data.Dataset.from_generator(
            lambda: iter([(x[0], y[0])]),
            output_signature=(tf.TensorSpec((8,)), tf.TensorSpec((), tf.int32)),
        ),
    }
    deterministic = {
        "plain": base.batch(4),
        "fixed_shuffle": base.shuffle(8, seed=3, reshuffle_each_iteration=False),
        "stateless": base.map(lambda a, b: (a + tf.random.stateless_normal((8,), seed=[1, 2]), b)),
        "cached_map": base.map(lambda a, b: (a * 2.0, b)).cache(),
    }
    for name, dataset in random.items():
        assert inspection.pipeline_randomness(dataset), name
    for name, dataset in deterministic.items():
        assert inspection.pipeline_randomness(dataset) == [], name


def test_random_layers_in_the_student_are_flagged():
    teacher, _ = tiny_models(inputs=16)
    student = keras.Sequential([
        keras.Input((4, 4, 1)), keras.layers.RandomFlip(), keras.layers.Flatten(), keras.layers.Dense(3),
    ])
    teacher = keras.Sequential([keras.Input((4, 4, 1)), keras.layers.Flatten(), teacher])
    distiller = keras_kd.Distiller(student, teacher)
    distiller.compile("sgd")
    x = np.random.default_rng(0).normal(size=(8, 4, 4, 1)).astype("float32")
    with pytest.warns(UserWarning, match="random layers"):
        distiller.fit(x, np.zeros(8, "int32"), verbose=0)


def entry_dirs(root):
    return sorted(p for p in os.listdir(root) if not p.startswith("."))


def test_a_changed_teacher_gets_a_new_entry(tmp_path):
    teacher, _ = tiny_models()
    x, y = tiny_data(n=32)
    dataset = batches(x, y)
    cache = keras_kd.TeacherCache(teacher, tmp_path)
    first = [b[1][keras_kd.caching.targets.TEACHER_LOGITS].numpy() for b in cache.attach(dataset)]
    teacher.set_weights([w + 0.5 for w in teacher.get_weights()])
    second = [b[1][keras_kd.caching.targets.TEACHER_LOGITS].numpy() for b in cache.attach(dataset)]
    assert len(entry_dirs(tmp_path)) == 2
    np.testing.assert_allclose(np.concatenate(second), teacher.predict(x, verbose=0), atol=1e-5)
    assert not np.allclose(np.concatenate(first), np.concatenate(second))
    # Different data, same teacher: a third entry.
    cache.attach(batches(x + 1, y))
    assert len(entry_dirs(tmp_path)) == 3


@pytest.mark.parametrize("damage", ["truncate", "flip", "meta"])
def test_corrupt_or_truncated_entries_are_rebuilt(tmp_path, damage):
    teacher, _ = tiny_models()
    x, y = tiny_data(n=32)
    cache = keras_kd.TeacherCache(teacher, tmp_path)
    cache.attach(batches(x, y))
    (entry,) = entry_dirs(tmp_path)
    logits_file = tmp_path / entry / "logits.bin"
    data = bytearray(logits_file.read_bytes())
    if damage == "truncate":
        logits_file.write_bytes(bytes(data[:-7]))
    elif damage == "flip":
        data[10] ^= 0xFF
        logits_file.write_bytes(bytes(data))
    else:
        (tmp_path / entry / "meta.json").write_text("{not json")
    with pytest.warns(UserWarning, match="corrupt or truncated.*rebuilding"):
        attached = cache.attach(batches(x, y))
    got = np.concatenate([b[1][keras_kd.caching.targets.TEACHER_LOGITS].numpy() for b in attached])
    np.testing.assert_allclose(got, teacher.predict(x, verbose=0), atol=1e-5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cache.attach(batches(x, y))  # intact again: no warning


@pytest.mark.skipif(not os.path.exists("/proc/self/clear_refs"),
                    reason="peak resident memory is read from Linux's /proc")
def test_streams_in_bounded_memory(tmp_path):
    """A 200 MB cache is written and read while the process's peak memory rises by under 20 MB."""
    import json
    import subprocess
    import sys

    # Peak resident memory of its own process sees TF tensors and tf.data
    # buffers, which tracemalloc does not.
    job = os.path.join(os.path.dirname(os.path.abspath(__file__)), "cache_memory_job.py")
    result = subprocess.run([sys.executable, job, str(tmp_path)], capture_output=True, text=True,
                            timeout=240)
    assert result.returncode == 0, result.stderr[-3000:]
    measured = json.loads(result.stdout.splitlines()[-1])
    budget = 20_000_000
    assert measured["logits_bytes"] == 50_000 * 1000 * 4 >= 10 * budget
    assert measured["examples"] == 50_000
    assert measured["build_rise_bytes"] < budget and measured["read_rise_bytes"] < budget, measured


def test_float16_and_top_k_storage(tmp_path):
    rng = np.random.default_rng(5)
    keras.utils.set_random_seed(5)
    teacher = keras.Sequential([keras.Input((6,)), keras.layers.Dense(20, kernel_initializer=keras.initializers.RandomNormal(stddev=2.0))])
    x = rng.normal(size=(50, 6)).astype("float32")
    dataset = tf.data.Dataset.from_tensor_slices(x)  # unbatched, no labels
    want = teacher.predict(x, verbose=0)
    sizes = {}
    for dtype, top_k in (("float32", None), ("float16", None), ("float16", 5)):
        cache = keras_kd.TeacherCache(teacher, tmp_path / f"{dtype}{top_k}", dtype=dtype, top_k=top_k)
        got = np.stack([t[keras_kd.caching.targets.TEACHER_LOGITS].numpy() for _, t in cache.attach(dataset)])
        (entry,) = entry_dirs(tmp_path / f"{dtype}{top_k}")
        sizes[(dtype, top_k)] = os.path.getsize(tmp_path / f"{dtype}{top_k}" / entry / "logits.bin")
        probs_want = tf.nn.softmax(want).numpy()
        probs_got = tf.nn.softmax(got).numpy()
        if top_k is None:
            np.testing.assert_allclose(got, want, rtol=1e-3 if dtype == "float16" else 1e-6, atol=1e-2 if dtype == "float16" else 1e-6)
        else:
            top = np.argsort(-want, axis=1)[:, :top_k]
            # Top-k probabilities survive up to float16 rounding of logits
            # near 10 (steps of 0.008, so probabilities move by up to ~0.003).
            np.testing.assert_allclose(
                np.take_along_axis(probs_got, top, 1), np.take_along_axis(probs_want, top, 1), atol=5e-3
            )
            rest = np.ones_like(want, bool)
            np.put_along_axis(rest, top, False, 1)
            rest_probs = probs_got[rest].reshape(50, -1)
            np.testing.assert_allclose(rest_probs, rest_probs[:, :1].repeat(15, 1), rtol=1e-4)
            np.testing.assert_allclose(probs_got.sum(1), 1.0, atol=1e-5)
    assert sizes[("float16", None)] == sizes[("float32", None)] // 2
    assert sizes[("float16", 5)] == 50 * (5 * 2 + 5 * 4 + 4) < sizes[("float16", None)]


def test_reconstruct_top_k_matches_numpy():
    logits = np.array([[3.0, 1.0, 0.5, -2.0, 0.0]], "float32")
    lse = np.log(np.exp(logits).sum(-1))
    got = reconstruct_top_k(np.array([[3.0, 1.0]]), np.array([[0, 1]]), lse, 5).numpy()
    p = np.exp(logits - lse[:, None])
    rest = (1 - p[0, 0] - p[0, 1]) / 3
    want = np.array([[3.0, 1.0, *(np.log(rest) + lse) * np.ones(3)]])
    np.testing.assert_allclose(got, want, rtol=1e-5)


def test_unbatched_cache_can_be_shuffled_and_batched_afterwards(tmp_path):
    teacher, student = tiny_models(student_width=8)
    x, y = tiny_data(n=64)
    cache = keras_kd.TeacherCache(teacher, tmp_path)
    attached = cache.attach(tf.data.Dataset.from_tensor_slices((x, y)))
    train_ds = attached.shuffle(64, seed=0).batch(16)
    distiller = keras_kd.Distiller(student, teacher)
    distiller.compile("sgd")
    history = distiller.fit(train_ds, epochs=3, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    for features, target in attached.take(5):
        np.testing.assert_allclose(
            target[keras_kd.caching.targets.TEACHER_LOGITS].numpy(),
            teacher(features[None], training=False).numpy()[0],
            atol=1e-5,
        )


def test_unsuitable_datasets_are_refused(tmp_path):
    teacher, _ = tiny_models()
    x, y = tiny_data(n=40)
    cache = keras_kd.TeacherCache(teacher, tmp_path)
    with pytest.raises(ValueError, match="infinite"):
        cache.attach(batches(x, y).repeat())
    uneven = tf.data.Dataset.from_tensor_slices((x, y)).batch(8).concatenate(
        tf.data.Dataset.from_tensor_slices((x, y)).batch(16)
    )
    with pytest.raises(ValueError, match="batches of one size"):
        cache.attach(uneven)
    assert entry_dirs(tmp_path) == []  # nothing half-written left behind
    with pytest.raises(ValueError, match="dtype"):
        keras_kd.TeacherCache(teacher, tmp_path, dtype="int8")


def test_keys_follow_every_byte_of_large_embedded_arrays(tmp_path):
    teacher, _ = tiny_models()
    cache = keras_kd.TeacherCache(teacher, tmp_path)
    x = np.random.default_rng(0).normal(size=(8192, 8)).astype("float32")  # 256 KiB: hashed apart
    y = np.zeros(8192, "int32")
    changed = x.copy()
    changed[-1, -1] += 1.0  # outside the first batch, which the key also reads

    def pipeline(a):
        return tf.data.Dataset.from_tensor_slices((a, y)).batch(64).map(lambda u, v: (u * 2.0, v))

    assert cache.key(pipeline(x)) == cache.key(pipeline(x.copy()))
    assert cache.key(pipeline(x)) != cache.key(pipeline(changed))


def pipelines(x, y, folder):
    """Pipelines of every stage the fast walk reads, plus some it leaves to TF."""
    records = os.path.join(folder, "r.tfrecord")
    with tf.io.TFRecordWriter(records) as writer:
        writer.write(b"abc")
    base = tf.data.Dataset.from_tensor_slices((x, y))
    flip = keras.layers.RandomFlip("horizontal")
    table = tf.constant(np.arange(4, dtype="float32"))
    return {
        "slices": base, "tensors": tf.data.Dataset.from_tensors(x), "range": tf.data.Dataset.range(3),
        "batch": base.batch(4, drop_remainder=True), "parallel_batch": base.batch(4, num_parallel_calls=2),
        "padded_batch": base.padded_batch(4), "rebatch": base.batch(4).rebatch(2),
        "unbatch": base.batch(4).unbatch(), "map": base.map(lambda a, b: (a * 2.0, b)),
        "captured": base.map(lambda a, b: (a + table[0], b)),
        "parallel_map": base.map(lambda a, b: (a, b), num_parallel_calls=2),
        "filter": base.filter(lambda a, b: b >= 0), "flat_map": base.flat_map(
            lambda a, b: tf.data.Dataset.from_tensors(a)),
        "interleave": base.interleave(lambda a, b: tf.data.Dataset.from_tensors(a), cycle_length=2),
        "scan": base.scan(0, lambda s, e: (s + 1, e)), "take": base.take(3), "skip": base.skip(1),
        "take_while": base.take_while(lambda a, b: True), "shard": base.shard(2, 0),
        "window": base.window(2).flat_map(lambda a, b: a), "fixed_shuffle": base.shuffle(
            4, seed=1, reshuffle_each_iteration=False), "prefetch": base.prefetch(2),
        "repeat": base.repeat(2), "zip": tf.data.Dataset.zip((base, base)),
        "concatenate": base.concatenate(base), "cache": base.cache(),
        "cardinality": base.apply(tf.data.experimental.assert_cardinality(len(x))),
        "ignore_errors": base.ignore_errors(), "tfrecord": tf.data.TFRecordDataset(records),
        "tfrecord_parallel": tf.data.TFRecordDataset([records] * 2, num_parallel_reads=2),
        "fixed_length": tf.data.FixedLengthRecordDataset(records, 1),
        "text": tf.data.TextLineDataset(records), "enumerate": base.enumerate(),
        "stateless": base.map(lambda a, b: (a + tf.random.stateless_normal((8,), seed=[1, 2]), b)),
        # Random:
        "reshuffle": base.shuffle(4), "random_source": tf.data.Dataset.random(seed=1),
        "normal": base.map(lambda a, b: (a + tf.random.normal(tf.shape(a)), b)),
        "keras_layer": base.batch(2).map(lambda a, b: (flip(tf.reshape(a, (-1, 2, 4, 1)), training=True), b)),
        "python": tf.data.Dataset.from_generator(lambda: iter([1]), output_signature=tf.TensorSpec((), tf.int32)),
        "sample": tf.data.Dataset.sample_from_datasets([base, base], seed=1),
        "unordered_map": base.map(lambda a, b: (a, b), num_parallel_calls=2, deterministic=False),
    }


def test_the_fast_walk_reads_pipelines_as_tf_serializes_them(tmp_path):
    """Same randomness verdict from the Python walk as from TF's own graph, for every stage."""
    x, y = tiny_data(n=8)
    walked = []
    for name, dataset in pipelines(x, y, tmp_path).items():
        from_tf = inspection._randomness(inspection._serialized_graph(dataset), dataset)
        graph = inspection._walk(dataset)
        if graph is not None:
            walked.append(name)
            assert bool(inspection._randomness(graph, dataset)) == bool(from_tf), name
        assert bool(inspection.pipeline_randomness(dataset)) == bool(from_tf), name
    # The common pipelines take the fast path (no copy of embedded arrays).
    for name in ("slices", "batch", "map", "captured", "parallel_map", "reshuffle", "tfrecord",
                 "interleave", "cache", "normal", "keras_layer", "unordered_map"):
        assert name in walked, name
    assert inspection.pipeline_randomness(pipelines(x, y, tmp_path)["unordered_map"])
    options = tf.data.Options()
    options.deterministic = False
    assert inspection.pipeline_randomness(batches(x, y).with_options(options))


def test_every_stage_parameter_is_in_the_fingerprint(tmp_path):
    x, y = tiny_data(n=8)
    fingerprint = inspection.pipeline_fingerprint
    base = lambda a=x: tf.data.Dataset.from_tensor_slices((a, y))  # noqa: E731
    same = pipelines(x, y, tmp_path)
    for _ in range(150):  # move TF's per-process function numbers past another digit
        tf.function(lambda: 0).get_concrete_function()
    again = pipelines(x, y, tmp_path)
    for name in same:
        if name not in ("python", "reshuffle", "normal", "keras_layer", "sample"):
            assert fingerprint(same[name]) == fingerprint(again[name]), name
    other = tmp_path / "other.tfrecord"
    with tf.io.TFRecordWriter(str(other)) as writer:
        writer.write(b"abc")
    table = lambda v: tf.constant(np.arange(4, dtype="float32") + v)  # noqa: E731
    changed = [
        (base(), base(x + 1)),
        (base().batch(4), base().batch(3)),
        (base().batch(4), base().batch(4, drop_remainder=True)),
        (base().padded_batch(4), base().padded_batch(4, padding_values=(1.0, 0))),
        (base().map(lambda a, b: (a * 2.0, b)), base().map(lambda a, b: (a * 3.0, b))),
        (base().map(lambda a, b, t=table(0): (a + t[0], b)), base().map(lambda a, b, t=table(1): (a + t[0], b))),
        (base().filter(lambda a, b: b >= 0), base().filter(lambda a, b: b >= 1)),
        (base().take(3), base().take(4)), (base().skip(1), base().skip(2)),
        (base().shard(2, 0), base().shard(2, 1)), (base().repeat(2), base().repeat(3)),
        (base().shuffle(4, seed=1, reshuffle_each_iteration=False),
         base().shuffle(4, seed=2, reshuffle_each_iteration=False)),
        (tf.data.Dataset.zip((base(), base(x + 1))), tf.data.Dataset.zip((base(x + 1), base()))),
        (base().concatenate(base(x + 1)), base(x + 1).concatenate(base())),
        (base().cache(str(tmp_path / "a")), base().cache(str(tmp_path / "b"))),
        (base().interleave(lambda a, b: tf.data.Dataset.from_tensors(a), cycle_length=2),
         base().interleave(lambda a, b: tf.data.Dataset.from_tensors(a), cycle_length=3)),
        (tf.data.TFRecordDataset(str(tmp_path / "r.tfrecord")), tf.data.TFRecordDataset(str(other))),
        (tf.data.Dataset.range(3), tf.data.Dataset.range(4)),
    ]
    for index, (first, second) in enumerate(changed):
        assert inspection._walk(first) is not None, index
        assert fingerprint(first) != fingerprint(second), index


def test_batches_of_different_shapes_are_cached_exactly(tmp_path):
    """The teacher runs on groups of batches; padded batches of varying length stay apart."""
    keras.utils.set_random_seed(0)
    teacher = keras.Sequential([keras.Input((None,), dtype="int32"), keras.layers.Embedding(20, 4),
                                keras.layers.GlobalAveragePooling1D(), keras.layers.Dense(3)])
    dataset = tf.data.Dataset.range(40).map(
        lambda i: tf.cast(tf.range(1 + i % 7) % 20, tf.int32)).padded_batch(4)
    attached = keras_kd.TeacherCache(teacher, tmp_path).attach(dataset)
    widths = set()
    for x, target in attached:
        widths.add(int(x.shape[1]))
        np.testing.assert_allclose(target[keras_kd.caching.targets.TEACHER_LOGITS].numpy(),
                                   teacher(x, training=False).numpy(), atol=1e-6)
    assert len(widths) > 1


class SumOfTrainingInputs(keras.layers.Layer):
    """Passes its input on; adds each training batch's sum to `total` and 1 to `steps`."""

    def build(self, shape):
        self.total = self.add_weight(shape=(), initializer="zeros", trainable=False)
        self.steps = self.add_weight(shape=(), initializer="zeros", trainable=False)

    def call(self, x, training=False):
        if training:
            self.total.assign_add(keras.ops.sum(x))
            self.steps.assign_add(1.0)
        return x


def test_a_random_pipeline_draws_anew_each_epoch_and_repeats_under_the_seed():
    """Keras starts an iterator per epoch; under a global seed TensorFlow restarts a
    sequential map's random draws in each, so every epoch saw the same noise."""

    def run():
        keras.utils.set_random_seed(0)
        x, y = tiny_data(n=32)
        teacher, _ = tiny_models(seed=1)
        student = keras.Sequential([keras.Input(x.shape[1:]), SumOfTrainingInputs(),
                                    keras.layers.Dense(3)])
        noisy = sequential_noise(x, y, 16)
        distiller = keras_kd.Distiller(student, teacher, temperature=2.0, alpha=0.5)
        distiller.compile(keras.optimizers.SGD(0.1))
        totals = []
        record = keras.callbacks.LambdaCallback(
            on_epoch_end=lambda epoch, logs: totals.append(float(student.layers[0].total.numpy())))
        with pytest.warns(UserWarning, match="different data every epoch"):
            history = distiller.fit(noisy, epochs=3, verbose=0, callbacks=[record])
        assert len(history.history["loss"]) == 3
        return np.diff([0.0] + totals), float(x.sum())

    sums, clean = run()
    noise = sums - clean  # each epoch: the 32 examples' noise, 32 x inputs draws in [0, 1)
    assert ((noise > 0) & (noise < 32 * 8)).all(), noise
    assert len(set(np.round(noise, 4))) == 3, noise  # three different draws
    again, _ = run()
    np.testing.assert_allclose(again, sums, rtol=1e-6)  # the same draws under the same seed


@pytest.mark.parametrize("steps_per_execution", [2, 5])
def test_a_random_pipeline_trains_its_own_number_of_steps(steps_per_execution):
    """Five batches per epoch: 2 steps per call would run a sixth from the repeated pipeline."""
    x, y = tiny_data(n=40)
    teacher, _ = tiny_models(seed=1)
    student = keras.Sequential([keras.Input(x.shape[1:]), SumOfTrainingInputs(), keras.layers.Dense(3)])
    noisy = sequential_noise(x, y, 8)
    distiller = keras_kd.Distiller(student, teacher)
    distiller.compile(keras.optimizers.SGD(0.1), steps_per_execution=steps_per_execution)
    with pytest.warns(UserWarning, match="different data every epoch"):
        distiller.fit(noisy, epochs=3, verbose=0)
    assert int(student.layers[0].steps.numpy()) == 15
