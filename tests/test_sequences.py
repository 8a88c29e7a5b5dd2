"""Token-level and per-pixel distillation: any logits shape, padding masks, reverse KL and JSD.

Every loss is compared with a float64 NumPy reference over the unmasked
tokens, reduced as Keras reduces its own losses for the same weights: with a
`sample_weight` mask, `sum(w * loss) / (batch * seq)`; with a Keras mask
(`Embedding(mask_zero=True)`), the mean over the unmasked tokens.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_kd
from helpers import mirrored
from keras_kd import losses
from keras_kd.caching import targets
from keras_kd.caching.teacher_cache import reconstruct_top_k

VOCAB, SEQ, N = 11, 6, 24


def log_softmax64(z):
    z = np.asarray(z, np.float64)
    z = z - z.max(-1, keepdims=True)
    return z - np.log(np.exp(z).sum(-1, keepdims=True))


def kl64(t, s, T):
    log_p, log_q = log_softmax64(np.asarray(t) / T), log_softmax64(np.asarray(s) / T)
    return T**2 * (np.exp(log_p) * (log_p - log_q)).sum(-1)


def reverse_kl64(t, s, T):
    return kl64(s, t, T)


def jsd64(t, s, T, beta):
    p, q = np.exp(log_softmax64(np.asarray(t) / T)), np.exp(log_softmax64(np.asarray(s) / T))
    m = beta * p + (1 - beta) * q
    return T**2 * (beta * (p * np.log(p / m)).sum(-1) + (1 - beta) * (q * np.log(q / m)).sum(-1))


def ce64(s, labels):
    return -np.take_along_axis(log_softmax64(s), np.asarray(labels)[..., None], -1)[..., 0]


def token_model(width, seed, mask_zero=False, name=None):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((SEQ,), dtype="int32")
    h = keras.layers.Embedding(VOCAB, width, mask_zero=mask_zero)(inputs)
    h = keras.layers.Dense(width, activation="tanh")(h)
    return keras.Model(inputs, keras.layers.Dense(VOCAB)(h), name=name)


def token_data(seed=0):
    """Padded token sequences (0 pads), next-token-like labels and the padding mask."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(2, SEQ + 1, size=N)
    x = rng.integers(1, VOCAB, size=(N, SEQ)).astype("int32")
    mask = (np.arange(SEQ)[None, :] < lengths[:, None])
    x[~mask] = 0
    y = rng.integers(0, VOCAB, size=(N, SEQ)).astype("int32")
    return x, y, mask.astype("float32")


def reference(distiller, x, y, weights, kind="kl", keras_mask=False, teacher_logits=None):
    """The distiller's loss in float64 NumPy, reduced as Keras reduces the label loss."""
    t = teacher_logits if teacher_logits is not None else np.asarray(distiller.teacher(x))
    s = np.asarray(distiller.student(x))
    T, alpha = distiller.temperature, distiller.alpha
    soft = {"kl": lambda: kl64(t, s, T), "reverse_kl": lambda: reverse_kl64(t, s, T),
            "jsd": lambda: jsd64(t, s, T, distiller.jsd_beta)}[kind]()
    denominator = weights.sum() if keras_mask else weights.size
    return (alpha * (weights * soft).sum() + (1 - alpha) * (weights * ce64(s, y)).sum()) / denominator


def compiled(distiller):
    # A zero learning rate: every reported loss is the loss at the initial weights.
    distiller.compile(keras.optimizers.SGD(0.0))
    return distiller


# --- the divergences against float64 references, gradients included -----------------


@pytest.mark.parametrize("shape", [(5, 7), (3, 4, 9)])
@pytest.mark.parametrize("kind", ["kl", "reverse_kl", "jsd"])
def test_divergences_and_their_gradients_match_float64(kind, shape):
    rng = np.random.default_rng(1)
    t, s = rng.normal(size=shape) * 3, rng.normal(size=shape) * 3
    T, beta = 2.5, 0.3
    functions = {
        "kl": (losses.distillation_loss, kl64, {}),
        "reverse_kl": (losses.reverse_kl_divergence, reverse_kl64, {}),
        "jsd": (lambda a, b, T: losses.generalized_jsd(a, b, T, beta=beta),
                lambda a, b, T: jsd64(a, b, T, beta), {}),
    }
    function, reference64, _ = functions[kind]
    s_var = tf.Variable(s)
    with tf.GradientTape() as tape:
        values = function(tf.constant(t), s_var, T)  # float64 in, float64 out
        total = tf.reduce_sum(values)
    np.testing.assert_allclose(values.numpy(), reference64(t, s, T), rtol=1e-10, atol=1e-12)
    assert values.shape == shape[:-1]
    # Central differences of the float64 reference.
    numeric, eps = np.zeros_like(s), 1e-6
    for index in np.ndindex(*shape):
        up, down = s.copy(), s.copy()
        up[index] += eps
        down[index] -= eps
        numeric[index] = (reference64(t, up, T).sum() - reference64(t, down, T).sum()) / (2 * eps)
    np.testing.assert_allclose(tape.gradient(total, s_var).numpy(), numeric, rtol=1e-6, atol=1e-8)


def test_jsd_keeps_its_digits_for_near_identical_distributions_in_float32():
    rng = np.random.default_rng(2)
    t = rng.normal(size=(16, 50)) * 4
    s = t + 1e-3 * rng.normal(size=t.shape)
    got = losses.generalized_jsd(t.astype("float32"), s.astype("float32"), 1.0, beta=0.5)
    # Rounding the inputs to float32 moves them; the reference takes the rounded ones.
    want = jsd64(t.astype("float32"), s.astype("float32"), 1.0, 0.5)
    np.testing.assert_allclose(np.asarray(got), want, rtol=2e-3)
    assert want.max() < 1e-5  # tiny values, where a plain p * log(p / m) loses them


def test_jsd_limits_refuse_beta_outside_the_open_interval():
    with pytest.raises(ValueError, match="strictly between 0 and 1.*'kl' or 'reverse_kl'"):
        losses.generalized_jsd(np.zeros((1, 3)), np.zeros((1, 3)), beta=1.0)
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        keras_kd.Distiller(token_model(4, 1), token_model(4, 0), distillation_loss="jsd", jsd_beta=0)


def test_loss_classes_reduce_like_keras_and_round_trip():
    rng = np.random.default_rng(3)
    t, s = rng.normal(size=(4, 5, 6)), rng.normal(size=(4, 5, 6))
    weights = (rng.random((4, 5)) > 0.3).astype("float64")
    for cls, reference64 in ((losses.ReverseKLDivergence, reverse_kl64),
                             (lambda T: losses.GeneralizedJSD(T, beta=0.7), lambda a, b, T: jsd64(a, b, T, 0.7))):
        loss = cls(2.0)
        got = float(loss(t, s, sample_weight=weights))
        np.testing.assert_allclose(got, (weights * reference64(t, s, 2.0)).sum() / weights.size, rtol=1e-5)
        again = type(loss).from_config(loss.get_config())
        assert again.get_config() == loss.get_config()


# --- token-level Distiller: fit, evaluate, caches, masks ------------------------------


@pytest.mark.parametrize("kind", ["kl", "reverse_kl", "jsd"])
def test_masked_token_loss_matches_float64_in_fit_and_evaluate(kind):
    x, y, weights = token_data()
    distiller = compiled(keras_kd.Distiller(
        token_model(6, 1), token_model(16, 0), temperature=2.0, alpha=0.6,
        distillation_loss=kind, jsd_beta=0.4,
    ))
    want = reference(distiller, x, y, weights, kind)
    got = distiller.evaluate(x, y, sample_weight=weights, batch_size=N, verbose=0, return_dict=True)
    np.testing.assert_allclose(got["loss"], want, rtol=1e-5)
    packed = targets.pack(y, np.asarray(distiller.teacher(x)))  # precomputed teacher outputs
    got = distiller.evaluate(x, packed, sample_weight=weights, batch_size=N, verbose=0,
                             return_dict=True)
    np.testing.assert_allclose(got["loss"], want, rtol=1e-5)
    # Cached (the default for arrays: teacher outputs packed into the targets,
    # the per-token weights repeated for each target entry) and uncached.
    for cache in (True, False):
        history = distiller.fit(x, y, sample_weight=weights, batch_size=N, epochs=1, verbose=0,
                                cache_teacher=cache, shuffle=False)
        np.testing.assert_allclose(history.history["loss"][0], want, rtol=1e-5)
    # Padded tokens count nothing: another teacher output there changes nothing.
    padded_elsewhere = np.where(weights[..., None] > 0, np.asarray(distiller.teacher(x)), 50.0)
    got = distiller.compute_loss(x, targets.pack(y, padded_elsewhere), distiller.student(x),
                                 sample_weight=weights)
    np.testing.assert_allclose(float(got), want, rtol=1e-5)


def test_a_keras_mask_averages_over_the_unmasked_tokens_like_the_label_loss():
    x, y, weights = token_data(seed=1)
    distiller = compiled(keras_kd.Distiller(
        token_model(6, 1, mask_zero=True), token_model(16, 0, mask_zero=True),
        temperature=3.0, alpha=0.7,
    ))
    want = reference(distiller, x, y, weights, keras_mask=True)
    # Keras divides by the unmasked tokens, not by batch * seq as for a sample_weight.
    over_all = reference(distiller, x, y, weights, keras_mask=False)
    assert abs(want - over_all) > 0.1 * want
    got = distiller.evaluate(x, y, batch_size=N, verbose=0, return_dict=True)
    np.testing.assert_allclose(got["loss"], want, rtol=1e-5)
    history = distiller.fit(x, y, batch_size=N, epochs=1, verbose=0)
    np.testing.assert_allclose(history.history["loss"][0], want, rtol=1e-5)


def test_a_tf_data_pipeline_is_cached_per_token_and_matches_float64(tmp_path):
    x, y, weights = token_data(seed=2)
    distiller = compiled(keras_kd.Distiller(token_model(6, 1), token_model(16, 0),
                                            temperature=2.0, alpha=0.5))
    want = reference(distiller, x, y, weights)
    dataset = tf.data.Dataset.from_tensor_slices((x, y, weights)).batch(N)
    cache = keras_kd.TeacherCache(distiller.teacher_view, tmp_path)
    attached = list(cache.attach(dataset))
    np.testing.assert_allclose(attached[0][1][targets.TEACHER_LOGITS].numpy(),
                               np.asarray(distiller.teacher(x)), rtol=1e-6, atol=1e-6)
    history = distiller.fit(dataset, epochs=2, verbose=0, cache_teacher=cache)
    np.testing.assert_allclose(history.history["loss"], [want, want], rtol=1e-5)


def test_top_k_cache_on_tokens_keeps_the_top_probabilities(tmp_path):
    x, y, weights = token_data(seed=3)
    teacher = token_model(16, 0)
    dataset = tf.data.Dataset.from_tensor_slices((x, y, weights)).batch(8)
    cache = keras_kd.TeacherCache(teacher, tmp_path, top_k=3)
    got = np.concatenate([b[1][targets.TEACHER_LOGITS].numpy() for b in cache.attach(dataset)])
    full = np.asarray(teacher(x), np.float64)
    assert got.shape == (N, SEQ, VOCAB)
    p_got, p_full = np.exp(log_softmax64(got)), np.exp(log_softmax64(full))
    top = np.argsort(-full, axis=-1)[..., :3]
    np.testing.assert_allclose(np.take_along_axis(p_got, top, -1), np.take_along_axis(p_full, top, -1),
                               rtol=1e-5, atol=1e-7)
    rest = 1 - np.take_along_axis(p_full, top, -1).sum(-1, keepdims=True)
    others = np.ones_like(p_got, bool)
    np.put_along_axis(others, top, False, -1)
    np.testing.assert_allclose(p_got[others].reshape(N, SEQ, -1),
                               np.broadcast_to(rest / (VOCAB - 3), (N, SEQ, VOCAB - 3)), rtol=1e-4)
    # The same reconstruction as a direct call on one token.
    one = reconstruct_top_k(np.take_along_axis(full, top, -1)[:1, :1], top[:1, :1],
                            np.log(np.exp(full[:1, :1]).sum(-1)), VOCAB)
    np.testing.assert_allclose(one.numpy(), got[:1, :1], rtol=1e-5, atol=1e-5)


def test_variable_length_teacher_outputs_are_refused_by_the_cache(tmp_path):
    teacher = keras.Sequential([keras.layers.Embedding(VOCAB, 4), keras.layers.Dense(VOCAB)])
    # Two batches of different sequence lengths (unpadded to one length).
    dataset = tf.data.Dataset.range(2).map(
        lambda i: tf.ones((3 + 2 * tf.cast(i, tf.int32),), tf.int32)).batch(1)
    with pytest.raises(ValueError, match="one logits shape per example.*pad every sequence"):
        keras_kd.TeacherCache(teacher, tmp_path).attach(dataset)


def test_dkd_and_several_teachers_per_token_equal_the_flattened_classifier_loss():
    x, y, weights = token_data(seed=4)
    teachers = [token_model(16, 0), token_model(12, 5)]
    student = token_model(6, 1)
    flat = lambda a: np.asarray(a).reshape(-1, VOCAB)  # noqa: E731
    for kwargs in ({"distillation_loss": "dkd", "teacher": teachers[0]},
                   {"teacher": teachers, "teacher_weights": [0.3, 0.7]},
                   {"teacher": teachers, "teacher_weights": "entropy"},
                   {"teacher": teachers, "teacher_combination": "sum", "teacher_weights": [2, 1]}):
        teacher = kwargs.pop("teacher")
        distiller = keras_kd.Distiller(student, teacher, temperature=2.0, alpha=1.0, **kwargs)
        rows = distiller.teacher_logits(x)
        per_token = distiller.soft_term(
            distiller.view.split(tf.constant(rows))[: len(distiller.teachers)],
            student(x), tf.constant(y), 2.0,
        ).numpy()
        flat_rows = [flat(part) for part in distiller.view.split(rows)[: len(distiller.teachers)]]
        per_row = distiller.soft_term(flat_rows, flat(student(x)), tf.constant(y.reshape(-1)), 2.0)
        np.testing.assert_allclose(per_token.reshape(-1), per_row.numpy(), rtol=1e-5, atol=1e-7)
        distiller.compile(keras.optimizers.SGD(0.1))
        distiller.fit(x, y, sample_weight=weights, batch_size=8, epochs=1, verbose=0)


def test_per_pixel_segmentation_logits_distill_and_match_float64():
    def fcn(width, seed):
        keras.utils.set_random_seed(seed)
        inputs = keras.Input((6, 6, 3))
        h = keras.layers.Conv2D(width, 3, padding="same", activation="relu")(inputs)
        return keras.Model(inputs, keras.layers.Conv2D(4, 1)(h))

    rng = np.random.default_rng(5)
    x = rng.normal(size=(10, 6, 6, 3)).astype("float32")
    y = rng.integers(0, 4, size=(10, 6, 6)).astype("int32")
    weights = (rng.random((10, 6, 6)) > 0.2).astype("float32")  # "ignore" pixels
    distiller = compiled(keras_kd.Distiller(fcn(3, 1), fcn(12, 0), temperature=2.0, alpha=0.6))
    t, s = np.asarray(distiller.teacher(x)), np.asarray(distiller.student(x))
    want = (0.6 * (weights * kl64(t, s, 2.0)).sum() + 0.4 * (weights * ce64(s, y)).sum()) / weights.size
    history = distiller.fit(x, y, sample_weight=weights, batch_size=10, epochs=1, verbose=0)
    np.testing.assert_allclose(history.history["loss"][0], want, rtol=1e-5)


def test_token_level_under_mirrored_strategy_matches_one_device():
    x, y, weights = token_data(seed=6)

    def train(strategy):
        with strategy.scope():
            distiller = keras_kd.Distiller(token_model(6, 1), token_model(16, 0),
                                           temperature=2.0, alpha=0.6, distillation_loss="jsd")
            distiller.compile(keras.optimizers.SGD(0.5))
        history = distiller.fit(x, y, sample_weight=weights, batch_size=12, epochs=2,
                                shuffle=False, verbose=0)
        return distiller.student.get_weights(), history.history["loss"]

    one, loss_one = train(tf.distribute.OneDeviceStrategy("/cpu:0"))
    two, loss_two = train(mirrored())
    start = token_model(6, 1).get_weights()
    assert max(np.abs(a - b).max() for a, b in zip(one, start)) > 1e-3
    for a, b in zip(one, two):
        np.testing.assert_allclose(a, b, atol=1e-5)
    np.testing.assert_allclose(loss_one, loss_two, rtol=1e-5)


# --- the sampled-logit cache -------------------------------------------------------


def kl_gradient64(target_logits, s, T):
    """d/ds of T^2 KL(softmax(t / T) || softmax(s / T)) = T (q - p), in float64."""
    p, q = np.exp(log_softmax64(np.asarray(target_logits) / T)), np.exp(log_softmax64(s / T))
    return T * (q - p)


def test_sampled_cache_gives_the_full_kl_gradient_on_average_and_top_k_does_not(tmp_path):
    T, K, copies = 2.0, 8, 4000
    inputs = keras.Input((SEQ,), dtype="int32")  # a confident teacher: a long, uneven tail
    teacher = keras.Model(inputs, keras.layers.Rescaling(6.0)(token_model(16, 0)(inputs)))
    x = np.repeat(token_data(seed=7)[0][:1], copies, axis=0)  # one sequence, many draws
    dataset = tf.data.Dataset.from_tensor_slices(x).batch(500)

    def cached(**kwargs):
        cache = keras_kd.TeacherCache(teacher, tmp_path / str(kwargs), **kwargs)
        return np.concatenate([t[targets.TEACHER_LOGITS].numpy() for _, t in cache.attach(dataset)])

    sampled, top = cached(samples=K, temperature=T), cached(top_k=2)
    full = np.asarray(teacher(x[:1]), np.float64)[0]  # (SEQ, VOCAB)
    s = np.random.default_rng(8).normal(size=full.shape)
    want = kl_gradient64(full, s, T)
    draws = kl_gradient64(sampled, s[None], T)  # one gradient per draw of K ids
    mean = draws.mean(0)
    # The draws are independent: the mean's standard error, from the draws themselves.
    error = draws.std(0, ddof=1) / np.sqrt(copies)
    assert np.all(np.abs(mean - want) <= 5 * error + 1e-7)
    # A single draw is far from the full gradient: the average is what matches.
    assert np.abs(draws[0] - want).max() > 20 * error.max()
    # Top-k's truncated tail is deterministic and biased: it fails the same test.
    bias = np.abs(kl_gradient64(top[0], s, T) - want)
    assert np.any(bias > 5 * error + 1e-7) and bias.max() > 5 * error.max()
    # Each empirical distribution puts multiples of 1/K on the drawn ids.
    p_hat = np.exp(log_softmax64(sampled[0] / T))
    np.testing.assert_allclose(np.sort(p_hat, -1)[..., -1] * K % 1, 0, atol=1e-5)


def test_sampled_cache_stores_k_ids_per_token_and_trains_only_where_unbiased(tmp_path):
    x, y, weights = token_data(seed=9)
    teacher, student = token_model(16, 0), token_model(6, 1)
    dataset = tf.data.Dataset.from_tensor_slices((x, y, weights)).batch(8)
    cache = keras_kd.TeacherCache(teacher, tmp_path, samples=5, temperature=2.0)
    list(cache.attach(dataset))
    (entry,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    assert (entry / "logits.bin").stat().st_size == N * SEQ * 5 * 4  # 5 int32 ids per token
    distiller = keras_kd.Distiller(student, teacher, temperature=2.0, alpha=0.5)
    distiller.compile(keras.optimizers.SGD(0.1))
    history = distiller.fit(dataset, epochs=2, verbose=0, cache_teacher=cache)
    assert np.all(np.isfinite(history.history["loss"]))
    with pytest.raises(ValueError, match="drew its samples at T=2.0.*temperature=3.0"):
        distiller.temperature = 3.0
        distiller.fit(dataset, epochs=2, verbose=0, cache_teacher=cache)
    distiller.temperature = 2.0
    jsd = keras_kd.Distiller(student, teacher, temperature=2.0, distillation_loss="jsd")
    jsd.compile("sgd")
    with pytest.raises(ValueError, match="forward KL's gradient without bias"):
        jsd.fit(dataset, epochs=2, verbose=0, cache_teacher=cache)
    standardized = keras_kd.Distiller(student, teacher, temperature=2.0, standardize_logits=True)
    standardized.compile("sgd")
    with pytest.raises(ValueError, match="standardize_logits=True needs every logit"):
        standardized.fit(dataset, epochs=2, verbose=0, cache_teacher=cache)
    with pytest.raises(ValueError, match="`top_k` or `samples`, not both"):
        keras_kd.TeacherCache(teacher, tmp_path, top_k=2, samples=4)


def hint64(distiller, x, kind):
    """Per-token hint values in float64: the teacher's hidden state against the projected student's."""
    hidden = lambda model: keras.Model(model.input, model.layers[2].output)  # noqa: E731
    t = np.asarray(hidden(distiller.teacher)(x), np.float64)
    kernel, bias = (np.asarray(w, np.float64) for w in distiller.hint_projections[0].get_weights())
    s = np.asarray(hidden(distiller.student)(x), np.float64) @ kernel + bias
    if kind == "mse":
        return ((t - s) ** 2).mean(-1)
    cosine = (t * s).sum(-1) / np.sqrt((t**2).sum(-1) * (s**2).sum(-1))
    return 1.0 - cosine


@pytest.mark.parametrize("kind, keras_mask", [("cosine", True), ("mse", False)])
def test_feature_hints_on_token_models_compare_each_unpadded_token(kind, keras_mask):
    """Hidden states `(batch, steps, width)`, compared per token (DistilBERT's cosine loss) and
    averaged over the unpadded tokens as the label loss is: a Keras mask, or a sample_weight."""
    x, y, weights = token_data(seed=3)
    teacher, student = token_model(16, 0, keras_mask), token_model(6, 1, keras_mask)
    hint = keras_kd.FeatureHint(student.layers[2].name, teacher.layers[2].name, loss=kind,
                                weight=0.5)
    distiller = compiled(keras_kd.Distiller(student, teacher, temperature=2.0, alpha=0.6,
                                            hints=[hint]))
    values = hint64(distiller, x, kind)
    denominator = weights.sum() if keras_mask else weights.size
    want = reference(distiller, x, y, weights, keras_mask=keras_mask) + 0.5 * (
        weights * values).sum() / denominator
    # Padded tokens differ from the rest: averaging them in would change the loss.
    assert abs((weights * values).sum() / denominator - values.mean()) > 0.1 * values.mean()
    sample_weight = None if keras_mask else weights
    got = distiller.evaluate(x, y, sample_weight=sample_weight, batch_size=N, verbose=0,
                             return_dict=True)
    np.testing.assert_allclose(got["loss"], want, rtol=1e-5)
    np.testing.assert_allclose(got["hint_loss"], want - reference(
        distiller, x, y, weights, keras_mask=keras_mask), rtol=1e-4)
    for cache in (True, False):  # the teachers' list of outputs kept in memory, or per batch
        history = distiller.fit(x, y, sample_weight=sample_weight, batch_size=N, epochs=1,
                                verbose=0, cache_teacher=cache, shuffle=False)
        np.testing.assert_allclose(history.history["loss"][0], want, rtol=1e-5)


def test_feature_hints_on_sequences_train_and_refuse_a_flat_cache(tmp_path):
    x, y, weights = token_data(seed=4)
    teacher, student = token_model(16, 0, True), token_model(6, 1, True)
    hint = keras_kd.FeatureHint(student.layers[2].name, teacher.layers[2].name, loss="cosine")
    distiller = keras_kd.Distiller(student, teacher, temperature=2.0, alpha=0.6, hints=[hint])
    distiller.compile(keras.optimizers.Adam(1e-2))
    before = [w.copy() for w in teacher.get_weights()]
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(8)
    history = distiller.fit(dataset, epochs=5, verbose=0).history  # teachers per batch
    assert history["hint_loss"][-1] < 0.8 * history["hint_loss"][0]
    assert all(np.array_equal(a, b) for a, b in zip(before, teacher.get_weights()))
    with pytest.raises(ValueError, match=r"TeacherCache stores one flat row.*cache_teacher=True"):
        distiller.fit(dataset, epochs=2, verbose=0, cache_teacher=str(tmp_path / "cache"))
    with pytest.raises(ValueError, match=r"drop augmented_epochs"):
        distiller.fit(dataset, epochs=2, verbose=0, augmented_epochs=2)
    # A search caches one flat row per example: refused before any trial, with the fix.
    from keras_kd import tuning

    with pytest.raises(ValueError, match=r"Search without `hints`"):
        tuning.DistillerHyperModel(lambda: student, teacher,
                                   distiller_kwargs={"hints": [hint]})
