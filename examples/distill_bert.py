"""DistilBERT's recipe on a small KerasHub BERT masked LM, on text every machine has.

The corpus is the docstrings of Python's standard library (offline). A 4-layer
BERT masked LM teacher trains on it (stopped at its best epoch on a validation tenth); a 2-layer
student starts from the teacher's embeddings, output head and layers 0 and 2 (Sanh et al. 2019), then
trains on the masked-LM labels alone or distilled (soft masked-token targets
at T=2 plus the masked-LM loss), from the same weights, on the same data and
steps, over several seeds. Held-out masked tokens (one fixed masking) give
accuracy and perplexity. Needs KerasHub (`pip install -e ".[hub]"`).

    python examples/distill_bert.py              # the benchmark row (about 10 min on 2 cores)
    python examples/distill_bert.py --quick      # tiny settings, for tests

The full recipe adds DistilBERT's cosine loss between the last hidden states
of teacher and student, per unpadded token (`FeatureHint("backbone/...",
loss="cosine")`), weighted as Sanh et al. weigh it (soft : masked LM : cosine
= 5 : 2 : 1, here alpha=0.7 and a hint weight of 1/7).
"""

import argparse
import ast
import pathlib
import sysconfig

import keras
import numpy as np

import keras_kd

MASK_RATE = 0.15


def stdlib_docstrings(limit):
    """Docstrings of the standard library's modules, classes and functions, one per line."""
    texts = []
    for path in sorted(pathlib.Path(sysconfig.get_paths()["stdlib"]).glob("*.py")):
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                doc = ast.get_docstring(node)
                if doc:
                    texts += [" ".join(p.split()) for p in doc.split("\n\n") if len(p.split()) >= 4]
        if len(texts) >= limit:
            break
    return texts[:limit]


def build_tokenizer(texts, vocabulary_size):
    import keras_hub

    reserved = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    import tensorflow as tf

    # A list of strings would be read as file names: pass the texts as a dataset.
    vocabulary = keras_hub.tokenizers.compute_word_piece_vocabulary(
        tf.data.Dataset.from_tensor_slices(texts), vocabulary_size, lowercase=True,
        reserved_tokens=reserved,
    )
    return keras_hub.models.BertTokenizer(vocabulary=vocabulary, lowercase=True)


def masked_lm(tokenizer, preprocessor, layers, width, sequence_length, seed):
    import keras_hub

    keras.utils.set_random_seed(seed)
    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=tokenizer.vocabulary_size(), num_layers=layers, num_heads=2,
        hidden_dim=width, intermediate_dim=2 * width, max_sequence_length=sequence_length,
        dropout=0.1,
    )
    return keras_hub.models.BertMaskedLM(backbone, preprocessor=preprocessor)


def fixed_masks(preprocessor, texts, seed):
    """The held-out texts masked once, as arrays: every model is scored on the same tokens."""
    keras.utils.set_random_seed(seed)
    from keras_kd.models import hub

    dataset = hub.preprocess(preprocessor, texts, batch_size=256)[0]  # random: a dataset
    return keras.tree.map_structure(lambda *parts: np.concatenate([np.asarray(a) for a in parts]),
                                    *list(dataset))


def score(model, held_out):
    """Masked-token accuracy and perplexity of `model` on the fixed held-out masks."""
    x, y, weights = held_out
    logits = _logits(model, x).astype("float64")
    logits -= logits.max(-1, keepdims=True)
    log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    nll = -np.take_along_axis(log_probs, y[..., None], -1)[..., 0]
    accuracy = ((logits.argmax(-1) == y) * weights).sum() / weights.sum()
    return float(accuracy), float(np.exp((nll * weights).sum() / weights.sum()))


def _logits(model, x):
    return np.concatenate([
        keras.ops.convert_to_numpy(model(keras.tree.map_structure(lambda a: a[i : i + 256], x)))
        for i in range(0, len(x["token_ids"]), 256)
    ])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny settings, for tests")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--output", default="saved_models/bert_mlm_student.keras")
    args = parser.parse_args(argv)
    import keras_hub

    quick = args.quick
    lines, vocabulary, sequence = (400, 300, 24) if quick else (12000, 2000, 32)
    width, teacher_epochs, student_epochs = (32, 1, 1) if quick else (128, 30, 4)
    seeds = 1 if quick else args.seeds
    texts = stdlib_docstrings(lines)
    held_out, train = texts[: len(texts) // 10], texts[len(texts) // 10 :]
    print(f"corpus: {len(texts)} stdlib docstring paragraphs, {sum(map(len, texts)):,} "
          f"characters; {len(train)} train, {len(held_out)} held out")
    tokenizer = build_tokenizer(train, vocabulary)
    preprocessor = keras_hub.models.BertMaskedLMPreprocessor(
        tokenizer, sequence_length=sequence, mask_selection_rate=MASK_RATE,
        mask_selection_length=max(1, round(MASK_RATE * sequence)),
    )
    held = fixed_masks(preprocessor, held_out, seed=1234)
    held = (held[0], np.asarray(held[1]), np.asarray(held[2], "float64"))

    # 1. The teacher: a 4-layer BERT masked LM, trained by KerasHub's own fit
    #    and stopped at its best epoch on a validation tenth of the training
    #    text (this corpus is small: trained on, a 4-layer BERT overfits).
    validation, fit_texts = train[: len(train) // 10], train[len(train) // 10 :]
    teacher = masked_lm(tokenizer, preprocessor, 4, width, sequence, seed=0)
    teacher.compile(keras.optimizers.AdamW(1e-3), weighted_metrics=["sparse_categorical_accuracy"])
    stop = keras.callbacks.EarlyStopping(patience=3, restore_best_weights=True)
    history = teacher.fit(fit_texts, validation_data=(validation,), epochs=teacher_epochs,
                          batch_size=64, verbose=0, callbacks=[stop])
    print(f"teacher: best validation loss at epoch {1 + int(np.argmin(history.history['val_loss']))}"
          f" of {len(history.history['val_loss'])}")
    rows = {"teacher (4 layers)": [score(teacher, held)]}

    # 2. The same half-depth student, from the same teacher layers, trained
    #    alone or distilled, for each seed.
    every_other = {f"transformer_layer_{i}": f"transformer_layer_{2 * i}" for i in range(2)}
    for seed in range(seeds):
        for kind in ("student alone (2 layers)", "student distilled (2 layers)",
                     "student distilled + cosine (2 layers)"):
            student = masked_lm(tokenizer, preprocessor, 2, width, sequence, seed=100 + seed)
            student(keras.tree.map_structure(lambda a: a[:2], held[0]))  # build
            keras_kd.copy_teacher_layers(student, teacher, every_other)
            keras.utils.set_random_seed(seed)  # the same data order and masks for both
            if kind.startswith("student alone"):
                student.compile(keras.optimizers.AdamW(1e-3), weighted_metrics=[])
                student.fit(fit_texts, epochs=student_epochs, batch_size=64, verbose=0)
            else:
                # DistilBERT's cosine loss: the student's last hidden states against the teacher's.
                cosine = [keras_kd.FeatureHint("backbone/transformer_layer_1",
                                               "backbone/transformer_layer_3", loss="cosine",
                                               projection=False, weight=1 / 7)]
                distiller = keras_kd.Distiller(student, teacher, temperature=2.0, alpha=0.7,
                                               hints=cosine if "cosine" in kind else None)
                distiller.compile(keras.optimizers.AdamW(1e-3))
                distiller.fit(fit_texts, epochs=student_epochs, batch_size=64, verbose=0)
            rows.setdefault(kind, []).append(score(student, held))
            print(f"seed {seed}: {kind}: masked-token accuracy {rows[kind][-1][0]:.2%}, "
                  f"perplexity {rows[kind][-1][1]:.1f}", flush=True)

    print("| model | masked-token accuracy (mean ± SD) | perplexity (mean ± SD) | seeds |")
    print("|---|---|---|---|")
    for name, scores in rows.items():
        accuracy, perplexity = np.array(scores).T
        sd = (lambda v: f" ± {np.std(v, ddof=1):.2f}" if len(v) > 1 else "")
        print(f"| {name} | {100 * accuracy.mean():.2f}%{sd(100 * accuracy)} | "
              f"{perplexity.mean():.1f}{sd(perplexity)} | {len(scores)} |")
    print("distilled student (last seed):", keras_kd.save_keras(student, args.output))


if __name__ == "__main__":
    main()
