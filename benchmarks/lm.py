"""Token-level distillation of a byte-level language model, on text every machine has.

Corpus: the `.py` files of Python's own standard library (sorted paths,
concatenated, the first `--corpus-bytes` bytes); the last 10% of those bytes
(other files) is the held-out split. A transformer teacher is trained on the
rest; then a smaller student is trained from scratch and by distillation
(forward KL, reverse KL, JSD, and forward KL from top-k and sampled caches of
equal bytes), with the same steps, cosine schedule, initial weights and data
order, over several seeds. Reported: held-out bits per byte, the share of
the teacher-vs-scratch gap closed, bytes per token stored, and a generated
sample from each model.

    python benchmarks/lm.py             # the measured configuration (under 30 min on 2 cores)
    python benchmarks/lm.py --quick     # a smoke run (about 2.5 min)
    python benchmarks/lm.py --methods kl --teacher-weights t.weights.h5   # scratch and forward KL only;
                                        # the teacher is trained once, then loaded by later runs

Defaults (chosen from the runs in benchmarks/RESULTS.md): a 2-layer, width-64
student (4.9x smaller than the teacher), 1,500 steps of 16 windows, T = 1,
alpha = 1 (the teacher's distribution alone).
"""

import argparse
import glob
import json
import math
import os
import sys
import sysconfig
import tempfile
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
import keras_kd  # noqa: E402

VOCAB = 256
# The students' short names for --methods, in the table's order.
METHODS = ("scratch", "kl", "reverse_kl", "jsd", "top_k", "sampled")


def corpus(size):
    """The first `size` bytes of the standard library's sources, and where they come from."""
    root = sysconfig.get_paths()["stdlib"]
    files = sorted(p for p in glob.glob(os.path.join(root, "**", "*.py"), recursive=True)
                   if "site-packages" not in p)
    chunks, total = [], 0
    for path in files:
        with open(path, "rb") as f:
            data = f.read()
        chunks.append(data)
        total += len(data)
        if total >= size:
            break
    text = b"".join(chunks)[:size]
    return np.frombuffer(text, np.uint8), {"root": root, "files": len(chunks), "bytes": len(text),
                                          "python": sys.version.split()[0]}


def windows(data, seq):
    """Non-overlapping windows: inputs `data[i:i+seq]`, targets the next bytes."""
    count = (len(data) - 1) // seq
    x = data[: count * seq].reshape(count, seq).astype("int32")
    y = data[1 : count * seq + 1].reshape(count, seq).astype("int32")
    return x, y


class PositionEmbedding(keras.layers.Layer):
    """Adds a learned vector per position."""

    def build(self, input_shape):
        self.table = self.add_weight(shape=tuple(input_shape[1:]), initializer="random_normal")

    def call(self, h):
        return h + self.table[None]


def transformer(seq, width, layers, heads, seed, name):
    """A pre-norm causal transformer over bytes: (batch, seq) ids -> (batch, seq, 256) logits."""
    keras.utils.set_random_seed(seed)
    tokens = keras.Input((seq,), dtype="int32")
    h = PositionEmbedding()(keras.layers.Embedding(VOCAB, width)(tokens))
    for _ in range(layers):
        a = keras.layers.LayerNormalization()(h)
        a = keras.layers.MultiHeadAttention(heads, width // heads)(a, a, use_causal_mask=True)
        h = h + a
        f = keras.layers.LayerNormalization()(h)
        f = keras.layers.Dense(4 * width, activation="gelu")(f)
        h = h + keras.layers.Dense(width)(f)
    h = keras.layers.LayerNormalization()(h)
    return keras.Model(tokens, keras.layers.Dense(VOCAB)(h), name=name)


def bits_per_byte(model, x, y, batch=256):
    total = 0.0
    for i in range(0, len(x), batch):
        logits = model(x[i : i + batch], training=False)
        nll = keras.losses.sparse_categorical_crossentropy(y[i : i + batch], logits, from_logits=True)
        total += float(tf.reduce_sum(nll))
    return total / (y.size * math.log(2))


def pipeline(x, y, batch):
    return tf.data.Dataset.from_tensor_slices((x, y)).batch(batch)


def generate(model, prompt, seq, length, seed):
    """`length` bytes sampled at temperature 0.8 after `prompt`, one position at a time."""
    rng = np.random.default_rng(seed)
    out = list(prompt)
    for _ in range(length):
        window = np.zeros((1, seq), "int32")
        context = out[-seq:]
        window[0, : len(context)] = context
        logits = np.asarray(model(window, training=False))[0, len(context) - 1] / 0.8
        p = np.exp(logits - logits.max())
        out.append(int(rng.choice(VOCAB, p=p / p.sum())))
    return bytes(out[len(prompt):]).decode("utf-8", errors="replace")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--corpus-bytes", type=int, default=600_000)
    parser.add_argument("--seq", type=int, default=64)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--teacher-steps", type=int, default=2000)
    parser.add_argument("--student-steps", type=int, default=1500)
    parser.add_argument("--alpha", type=float, default=1.0)
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--student-width", type=int, default=64)
    parser.add_argument("--student-layers", type=int, default=2)
    parser.add_argument("--teacher-weights", metavar="PATH.weights.h5",
                        help="load the teacher from here if the file exists, else train it and save it here "
                             "(for comparing students against one teacher across runs)")
    parser.add_argument("--batch-size", type=int, default=16, help="the students' (the teacher's is 32)")
    parser.add_argument("--methods", default=",".join(METHODS),
                        help=f"comma-separated subset of {','.join(METHODS)} (scratch is always run)")
    args = parser.parse_args()
    chosen = {m.strip() for m in args.methods.split(",")} | {"scratch"}
    unknown = chosen - set(METHODS)
    if unknown:
        parser.error(f"unknown --methods {sorted(unknown)}; choose from {','.join(METHODS)}")
    if args.quick:
        args.corpus_bytes, args.teacher_steps, args.student_steps, args.seeds = 60_000, 60, 30, 2
    start = time.perf_counter()
    data, source = corpus(args.corpus_bytes)
    split = int(0.9 * len(data))
    x_train, y_train = windows(data[:split], args.seq)
    x_test, y_test = windows(data[split:], args.seq)
    batch = args.batch_size
    print(f"corpus: {source['files']} files of {source['root']} (Python {source['python']}), "
          f"{source['bytes']:,} bytes; train {split:,} bytes ({len(x_train)} windows of "
          f"{args.seq}), held out {len(data) - split:,} bytes (the last files)", flush=True)

    teacher = transformer(args.seq, 128, 3, 4, seed=0, name="teacher")
    if args.teacher_weights and os.path.exists(args.teacher_weights):
        teacher.load_weights(args.teacher_weights)
        print(f"teacher: loaded from {args.teacher_weights}", flush=True)
    else:
        # XLA halves the teacher's time on CPU (measured: 20 s against 41 s per
        # 200 steps); the students' steps gain about 5%, less than XLA's compile.
        teacher.compile(keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(
            2e-3, args.teacher_steps, warmup_target=None)),
            keras.losses.SparseCategoricalCrossentropy(from_logits=True), jit_compile=True,
            steps_per_execution=50)
        epochs = math.ceil(args.teacher_steps * 32 / len(x_train))
        teacher.fit(pipeline(x_train, y_train, 32).shuffle(512, seed=0).repeat(),
                    steps_per_epoch=math.ceil(args.teacher_steps / epochs), epochs=epochs, verbose=0)
        if args.teacher_weights:
            teacher.save_weights(args.teacher_weights)
    teacher.trainable = False
    teacher_bpb = bits_per_byte(teacher, x_test, y_test)
    print(f"teacher: {teacher.count_params():,} parameters, held-out {teacher_bpb:.3f} bits/byte "
          f"({time.perf_counter() - start:.0f} s)", flush=True)

    student_shape = dict(width=args.student_width, layers=args.student_layers, heads=2)
    configs = {
        "scratch": dict(alpha=0.0, loss="kl", cache={}),
        "forward KL": dict(loss="kl", cache={}),
        "reverse KL": dict(loss="reverse_kl", cache={}),
        "JSD (beta 0.5)": dict(loss="jsd", cache={}),
        "forward KL, top-8 cache": dict(loss="kl", cache={"top_k": 8, "dtype": "float16"}),
        "forward KL, sampled cache (13 ids)": dict(loss="kl", cache={"samples": 13, "temperature": args.temperature}),
    }
    configs = {name: c for (name, c), key in zip(configs.items(), METHODS) if key in chosen}
    results, stored = {}, {}
    with tempfile.TemporaryDirectory() as folder:
        for name, config in configs.items():
            kind = "-".join(f"{k}{v}" for k, v in sorted(config["cache"].items())) or "full"
            cache = keras_kd.TeacherCache(teacher, os.path.join(folder, kind), **config["cache"])
            attached = cache.attach(pipeline(x_train, y_train, batch))
            entry = [os.path.join(cache.directory, e) for e in os.listdir(cache.directory)][0]
            with open(os.path.join(entry, "meta.json")) as f:
                stored[name] = json.load(f)["record_bytes"] / args.seq
            scores = []
            for seed in range(args.seeds):
                student = transformer(args.seq, **student_shape, seed=100 + seed, name="student")
                distiller = keras_kd.Distiller(
                    student, teacher, temperature=args.temperature,
                    alpha=config.get("alpha", args.alpha), distillation_loss=config["loss"],
                )
                # 50 steps per call into TensorFlow: the same steps, less Python between them.
                distiller.compile(keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(
                    3e-3, args.student_steps)), steps_per_execution=50)
                keras.utils.set_random_seed(seed)
                epochs = math.ceil(args.student_steps * batch / len(x_train))
                distiller.fit(attached.shuffle(512, seed=seed).repeat(), epochs=epochs,
                              steps_per_epoch=math.ceil(args.student_steps / epochs), verbose=0,
                              cache_teacher=False)
                scores.append(bits_per_byte(student, x_test, y_test))
            results[name] = (scores, student)
            print(f"{name}: {np.mean(scores):.4f} +- {np.std(scores, ddof=1):.4f} bits/byte "
                  f"({time.perf_counter() - start:.0f} s)", flush=True)

    scratch = np.mean(results["scratch"][0])
    print(f"\nstudent: {results['scratch'][1].count_params():,} parameters; teacher "
          f"{teacher.count_params():,}. {args.seeds} seeds, {args.student_steps} steps of {batch} "
          f"windows, T={args.temperature}, alpha={args.alpha}.\n")
    print("| student | held-out bits/byte (mean ± SD) | gap closed | margin / larger SD | bytes stored per token |")
    print("|---|---|---|---|---|")
    print(f"| teacher | {teacher_bpb:.4f} | | | |")
    for name, (scores, _) in results.items():
        mean, sd = np.mean(scores), np.std(scores, ddof=1)
        gap = (scratch - mean) / (scratch - teacher_bpb) if name != "scratch" else float("nan")
        margin = (scratch - mean) / max(sd, np.std(results["scratch"][0], ddof=1))
        print(f"| {name} | {mean:.4f} ± {sd:.4f} | {'' if name == 'scratch' else f'{100 * gap:.1f}%'} "
              f"| {'' if name == 'scratch' else f'{margin:.1f}'} | {stored[name]:.0f} |")
    prompt = b"def "
    print(f"\nSamples after {prompt.decode()!r} (temperature 0.8, seed 0):\n")
    best = min((n for n in results if n != "scratch"), key=lambda n: np.mean(results[n][0]))
    for name, model in (("teacher", teacher), ("scratch student", results["scratch"][1]),
                        (f"best distilled ({best})", results[best][1])):
        print(f"{name}:\n```\n{prompt.decode()}{generate(model, prompt, args.seq, 160, 0)}\n```")
    print(f"\ntotal {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
