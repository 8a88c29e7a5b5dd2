"""KerasHub task models distil through `fit()`: a causal LM, a text classifier, a masked LM.

Every model is built from a small configuration with random weights (presets
cannot be downloaded here); the text is Python's own standard library source.
"""

import inspect
import json

import keras
import numpy as np
import pytest

import keras_kd
from keras_kd.caching import targets
from keras_kd.models import hub
from references64 import kl64, softmax64

keras_hub = pytest.importorskip(
    "keras_hub", reason="KerasHub is optional: pip install -e '.[hub]' to run these tests"
)

SEQUENCE = 24
T, ALPHA = 2.0, 0.6


def lines(count, offset=0):
    """Non-empty source lines of the json package: text every machine has."""
    source = [line.strip() for line in inspect.getsource(json).splitlines() if line.strip()]
    return source[offset : offset + count]


def byte_preprocessor():
    tokenizer = keras_hub.tokenizers.ByteTokenizer(lowercase=False)
    # Byte values 0, 2 and 3 never occur in source text: padding, start, end.
    tokenizer.pad_token_id, tokenizer.start_token_id, tokenizer.end_token_id = 0, 2, 3
    return keras_hub.models.CausalLMPreprocessor(tokenizer, sequence_length=SEQUENCE)


def causal_lm(layers, width, seed, preprocessor):
    keras.utils.set_random_seed(seed)
    backbone = keras_hub.models.GPT2Backbone(
        vocabulary_size=256, num_layers=layers, num_heads=2, hidden_dim=width,
        intermediate_dim=2 * width, max_sequence_length=SEQUENCE, dropout=0.0,
    )
    return keras_hub.models.GPT2CausalLM(backbone=backbone, preprocessor=preprocessor)


def reference(teacher_logits, student_logits, labels, weights, alpha=ALPHA):
    """The masked token loss in float64, reduced as Keras reduces a per-token sample_weight."""
    t, s = (np.asarray(a, "float64") for a in (teacher_logits, student_logits))
    soft = T**2 * kl64(softmax64(t, T), softmax64(s, T))
    labels = np.asarray(labels)[..., None]
    hard = -np.log(np.take_along_axis(softmax64(s), labels, -1))[..., 0]
    return float((alpha * weights * soft + (1 - alpha) * weights * hard).sum() / weights.size)


def test_a_backbone_or_a_model_with_several_outputs_is_refused_with_the_fix():
    backbone = causal_lm(1, 16, 0, None).backbone
    teacher = causal_lm(1, 16, 1, None)
    with pytest.raises(ValueError, match=r"GPT2Backbone.*hidden states.*GPT2CausalLM"):
        keras_kd.Distiller(backbone, teacher)
    inputs = keras.Input((4,))
    two = keras.Model(inputs, [keras.layers.Dense(3)(inputs), keras.layers.Dense(3)(inputs)])
    one = keras.Model(inputs, keras.layers.Dense(3)(inputs))
    with pytest.raises(ValueError, match=r"has 2 outputs.*returns only its logits"):
        keras_kd.Distiller(one, two)


def test_a_causal_lm_distils_from_raw_text():
    preprocessor = byte_preprocessor()
    teacher = causal_lm(2, 32, 1, preprocessor)
    student = causal_lm(1, 16, 2, preprocessor)
    texts = lines(48)
    teacher.compile(keras.optimizers.Adam(1e-2), weighted_metrics=[])
    teacher.fit(texts, epochs=6, batch_size=16, verbose=0)  # KerasHub's own fit
    x, y, weights = hub.preprocess(preprocessor, texts)  # token ids, next tokens, padding
    assert x["token_ids"].shape == y.shape == weights.shape == (48, SEQUENCE)
    assert 0 < weights.mean() < 1  # some lines are padded

    # The loss on one batch of raw text, against float64 over the real tokens.
    distiller = keras_kd.Distiller(student, teacher, temperature=T, alpha=ALPHA)
    distiller.compile(keras.optimizers.SGD(0.0))
    t, s = np.asarray(teacher(x)), np.asarray(student(x))
    want = reference(t, s, y, weights)
    got = distiller.evaluate(texts, batch_size=48, verbose=0, return_dict=True)
    np.testing.assert_allclose(got["loss"], want, rtol=1e-5)
    # Padded tokens count nothing: other teacher outputs there change nothing.
    elsewhere = np.where(weights[..., None] > 0, t, 40.0 * np.sin(np.arange(256))).astype("float32")
    got = distiller.compute_loss(x, targets.pack(y, elsewhere), student(x), sample_weight=weights)
    np.testing.assert_allclose(float(got), want, rtol=1e-5)
    # With alpha = 0 it is the student's own KerasHub loss, reduced by Keras.
    student.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    own = student.evaluate(texts, batch_size=48, verbose=0, return_dict=True)["loss"]
    labels_only = keras_kd.Distiller(student, teacher, temperature=T, alpha=0.0)
    labels_only.compile(keras.optimizers.SGD(0.0))
    got = labels_only.evaluate(texts, batch_size=48, verbose=0, return_dict=True)["loss"]
    np.testing.assert_allclose(got, own, rtol=1e-5)
    np.testing.assert_allclose(own, reference(t, s, y, weights, alpha=0.0), rtol=1e-5)

    # Training: the teacher (trained by KerasHub's own fit) stays bit-identical, and the student is still a causal LM that generates.
    before = [w.copy() for w in teacher.get_weights()]
    distiller.compile(keras.optimizers.Adam(1e-2))
    history = distiller.fit(texts, epochs=4, batch_size=16, verbose=0,
                            validation_data=lines(16, offset=48)).history
    assert all(np.array_equal(a, b) for a, b in zip(before, teacher.get_weights()))
    assert history["distillation_loss"][-1] < 0.7 * history["distillation_loss"][0]
    assert history["val_student_loss"][-1] < 0.9 * history["val_student_loss"][0]
    assert distiller.predict(texts[:3], verbose=0).shape == (3, SEQUENCE, 256)
    assert isinstance(student.generate("import", max_length=12), str)


def word_piece(texts):
    # A whole-word vocabulary of the texts (no subwords needed for a test).
    import re

    words = sorted({w for text in texts for w in re.findall(r"\w+|[^\w\s]", text.lower())})
    vocabulary = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + words
    return keras_hub.models.BertTokenizer(vocabulary=vocabulary, lowercase=True)


def bert_backbone(tokenizer, layers, width, seed):
    keras.utils.set_random_seed(seed)
    return keras_hub.models.BertBackbone(
        vocabulary_size=tokenizer.vocabulary_size(), num_layers=layers, num_heads=2,
        hidden_dim=width, intermediate_dim=2 * width, max_sequence_length=16, dropout=0.0,
    )


def test_a_text_classifier_distils_with_its_preprocessor(tmp_path):
    texts = lines(64)
    labels = np.array([int("def " in t or "return" in t) for t in texts])
    tokenizer = word_piece(texts)
    preprocessor = keras_hub.models.BertTextClassifierPreprocessor(tokenizer, sequence_length=16)

    def classifier(layers, width, seed):
        return keras_hub.models.BertTextClassifier(
            bert_backbone(tokenizer, layers, width, seed), num_classes=2,
            preprocessor=preprocessor, dropout=0.0,
        )

    teacher, student = classifier(2, 32, 1), classifier(1, 16, 2)
    x, y, _ = hub.preprocess(preprocessor, texts, labels)
    assert set(x) == {"token_ids", "segment_ids", "padding_mask"} and np.array_equal(y, labels)
    distiller = keras_kd.Distiller(student, teacher, temperature=T, alpha=ALPHA)
    distiller.compile(keras.optimizers.SGD(0.0))
    want = reference(teacher(x), student(x), labels, np.ones(len(labels)))
    got = distiller.evaluate(texts, labels, batch_size=64, verbose=0, return_dict=True)
    np.testing.assert_allclose(got["loss"], want, rtol=1e-5)

    before = [w.copy() for w in teacher.get_weights()]
    distiller.compile(keras.optimizers.Adam(3e-3), metrics=["accuracy"])
    history = distiller.fit(texts, labels, epochs=3, batch_size=16, verbose=0,
                            validation_data=(texts[:16], labels[:16]))
    assert all(np.array_equal(a, b) for a, b in zip(before, teacher.get_weights()))
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert "val_accuracy" in history.history
    assert distiller.predict(texts[:5], verbose=0).shape == (5, 2)

    # A teacher that tokenizes differently cannot share the student's inputs.
    other = keras_hub.models.BertTextClassifier(
        bert_backbone(tokenizer, 1, 16, 3), num_classes=2, dropout=0.0,
        preprocessor=keras_hub.models.BertTextClassifierPreprocessor(tokenizer, sequence_length=8),
    )
    with pytest.raises(ValueError, match=r"preprocessor differs.*sequence length"):
        keras_kd.Distiller(student, other)
    # A teacher saved and loaded (its vocabulary now an asset) still matches.
    teacher.save(tmp_path / "teacher.keras")
    keras_kd.Distiller(student, keras.saving.load_model(tmp_path / "teacher.keras"))


def test_a_masked_lm_draws_new_masks_each_epoch_and_distils_the_masked_tokens():
    texts = lines(32)
    tokenizer = word_piece(texts)
    preprocessor = keras_hub.models.BertMaskedLMPreprocessor(
        tokenizer, sequence_length=16, mask_selection_rate=0.25, mask_selection_length=4,
    )

    def masked_lm(layers, width, seed):
        return keras_hub.models.BertMaskedLM(bert_backbone(tokenizer, layers, width, seed),
                                            preprocessor=preprocessor)

    teacher, student = masked_lm(2, 32, 1), masked_lm(1, 16, 2)
    # Random masks: the data stays a pipeline, so each epoch masks anew and
    # the teacher reads the same masked tokens as the student.
    dataset, y, weights = hub.preprocess(preprocessor, texts, batch_size=8)
    assert y is None and weights is None
    # Two epochs as fit reads them, from one iterator (a random pipeline's epochs under a
    # global seed: tests/test_teacher_cache.py); two iterators can repeat the masks.
    epochs = iter(dataset.repeat())
    batches = len(dataset)
    first, second = ([np.asarray(next(epochs)[0]["mask_positions"]) for _ in range(batches)]
                     for _ in range(2))
    assert any(not np.array_equal(a, b) for a, b in zip(first, second))
    distiller = keras_kd.Distiller(student, teacher, temperature=T, alpha=ALPHA)
    distiller.compile(keras.optimizers.SGD(0.0))
    x, y, weights = next(iter(dataset))  # one batch: (batch, masks, vocab) logits
    want = reference(teacher(x), student(x), np.asarray(y), np.asarray(weights))
    got = distiller.compute_loss(x, y, student(x), sample_weight=weights)
    np.testing.assert_allclose(float(got), want, rtol=1e-5)
    before = [w.copy() for w in teacher.get_weights()]
    distiller.compile(keras.optimizers.Adam(3e-3))
    with pytest.warns(UserWarning, match="teacher"):  # a random pipeline: no cache
        history = distiller.fit(texts, epochs=2, batch_size=8, verbose=0)
    assert all(np.array_equal(a, b) for a, b in zip(before, teacher.get_weights()))
    assert np.isfinite(history.history["loss"]).all()


def test_distilberts_cosine_hint_reaches_the_hidden_states_inside_the_backbones():
    """Soft masked-token targets + the masked-LM loss + a cosine loss between the last hidden
    states (per unpadded token), on a student initialised from every other teacher layer."""
    texts = lines(32)
    tokenizer = word_piece(texts)
    preprocessor = keras_hub.models.BertMaskedLMPreprocessor(
        tokenizer, sequence_length=16, mask_selection_rate=0.25, mask_selection_length=4,
    )
    teacher, student = (keras_hub.models.BertMaskedLM(bert_backbone(tokenizer, layers, 16, seed),
                                                      preprocessor=preprocessor)
                        for layers, seed in ((2, 1), (1, 2)))
    dataset = hub.preprocess(preprocessor, texts, batch_size=8)[0]
    x, y, weights = next(iter(dataset))
    student(x)
    copied = keras_kd.copy_teacher_layers(student, teacher, {
        "transformer_layer_0": "transformer_layer_1"})
    assert ("transformer_layer_0", "transformer_layer_1") in copied
    hint = keras_kd.FeatureHint("backbone/transformer_layer_0",
                                "backbone/transformer_layer_1", loss="cosine",
                                projection=False, weight=0.5)
    distiller = keras_kd.Distiller(student, teacher, temperature=T, alpha=ALPHA, hints=[hint])
    distiller.compile(keras.optimizers.SGD(0.0))

    tokens = {k: x[k] for k in ("token_ids", "segment_ids", "padding_mask")}

    def last_hidden(model):
        return np.asarray(model.backbone(tokens)["sequence_output"], "float64")

    t_h, s_h = last_hidden(teacher), last_hidden(student)
    cosine = 1 - (t_h * s_h).sum(-1) / np.sqrt((t_h**2).sum(-1) * (s_h**2).sum(-1))
    padding = np.asarray(x["padding_mask"], bool)
    assert not padding.all()  # padded tokens exist, and count nothing
    want = reference(teacher(x), student(x), np.asarray(y), np.asarray(weights)) + 0.5 * cosine[
        padding].mean()
    got = distiller.compute_loss(x, y, student(x), sample_weight=weights)
    np.testing.assert_allclose(float(got), want, rtol=1e-5)
    # The last layer's hidden state is read from the backbone's own output:
    # the student runs its transformer layer once per step, not twice.
    features = distiller.view.student_features
    assert sum(isinstance(l, keras_hub.models.BertBackbone) for l in features.layers) == 1
    assert not any(l.name.startswith("transformer_layer") for l in features.layers)

    # Trained with and without the hint from the same weights, data and masks: the
    # hint keeps the student's hidden states closer to the teacher's.
    before, start = [w.copy() for w in teacher.get_weights()], student.get_weights()
    distances = {}
    for name, hints in (("with", [hint]), ("without", [])):
        student.set_weights(start)
        trained = keras_kd.Distiller(student, teacher, temperature=T, alpha=ALPHA, hints=hints)
        trained.compile(keras.optimizers.Adam(3e-3))
        keras.utils.set_random_seed(0)
        history = trained.fit(texts, epochs=3, batch_size=8, verbose=0).history  # teacher per batch
        assert np.isfinite(history["loss"]).all()
        s_h = last_hidden(student)
        cosine = 1 - (t_h * s_h).sum(-1) / np.sqrt((t_h**2).sum(-1) * (s_h**2).sum(-1))
        distances[name] = cosine[padding].mean()
    assert all(np.array_equal(a, b) for a, b in zip(before, teacher.get_weights()))
    assert distances["with"] < 0.7 * distances["without"], distances
    # A layer that is not the backbone's output is read too (by a second pass through it).
    inner = keras_kd.Distiller(student, teacher, hints=[keras_kd.FeatureHint(
        "backbone/transformer_layer_0", "backbone/transformer_layer_0", loss="cosine")])
    backbone = teacher.backbone
    first_layer = keras.Model(backbone.input, backbone.get_layer("transformer_layer_0").output)
    logits, hidden = (np.asarray(v) for v in inner.view.model(x))
    np.testing.assert_allclose(logits, np.asarray(teacher(x)), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(hidden, np.asarray(first_layer(tokens)), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match=r"has no layer named 'transformer_layer_9'"):
        keras_kd.Distiller(student, teacher, hints=[("backbone/transformer_layer_9",
                                                     "backbone/transformer_layer_1")])


def test_a_teacher_with_another_vocabulary_of_the_same_size_is_refused():
    tokenizer = word_piece(lines(64))
    words = tokenizer.get_vocabulary()
    shuffled = keras_hub.models.BertTokenizer(vocabulary=words[:5] + words[5:][::-1], lowercase=True)

    def classifier(tokens, seed):
        return keras_hub.models.BertTextClassifier(
            bert_backbone(tokenizer, 1, 16, seed), num_classes=2, dropout=0.0,
            preprocessor=keras_hub.models.BertTextClassifierPreprocessor(tokens, sequence_length=16),
        )

    same = keras_hub.models.BertTokenizer(vocabulary=list(words), lowercase=True)
    keras_kd.Distiller(classifier(tokenizer, 1), classifier(same, 2))  # built apart, the same: accepted
    with pytest.raises(ValueError, match=r"preprocessor differs.*vocabulary"):
        keras_kd.Distiller(classifier(tokenizer, 1), classifier(shuffled, 2))
