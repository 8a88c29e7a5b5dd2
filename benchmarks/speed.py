"""Epoch time of distillation against training the student alone, side by side in one process.

    python benchmarks/speed.py                    # defaults: a few minutes on 2 CPU cores
    python benchmarks/speed.py --examples 5000 --epochs 3 --skip-keras

Runs, on the same synthetic data and the same initial weights: plain student
training; keras_kd.Distiller with the teacher run per batch ("online"), with
in-memory cached logits (arrays), and with logits streamed from a disk cache
(tf.data); and Keras 3's own keras.distillation.Distiller. Prints the median
epoch time over every round (each fit's first epoch is a warm-up and left out), examples per second, each one's ratio to
plain training, the cost of building the cache, and the loss both
distillers compute for identical weights.
"""

import argparse
import os
import statistics
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import keras_kd  # noqa: E402
from timing import EpochTimer, dense_flops, mlp  # noqa: E402


ROUNDS = 5  # of cache builds, each timed next to a teacher pass


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    widths = lambda text: tuple(int(w) for w in text.split(","))  # noqa: E731
    parser.add_argument("--teacher-hidden", type=widths, default=(2048, 2048))
    parser.add_argument("--student-hidden", type=widths, default=(256, 256))
    parser.add_argument("--input-dim", type=int, default=784)
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--examples", type=int, default=20_000)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--epochs", type=int, default=6, help="1 warm-up + the timed epochs")
    parser.add_argument("--rounds", type=int, default=2,
                        help="run every variant this many times, round-robin, against drift")
    parser.add_argument("--temperature", type=float, default=4.0)
    parser.add_argument("--alpha", type=float, default=0.9)
    parser.add_argument("--jit", action="store_true", help="compile(jit_compile=True)")
    parser.add_argument("--skip-keras", action="store_true", help="leave out keras.distillation")
    parser.add_argument("--build-only", action="store_true",
                        help="only time building the caches against one teacher pass")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(args.examples, args.input_dim)).astype("float32")
    y = rng.integers(0, args.classes, size=args.examples).astype("int32")
    keras.utils.set_random_seed(0)
    teacher = mlp(args.input_dim, args.teacher_hidden, args.classes, "teacher")
    student_init = mlp(args.input_dim, args.student_hidden, args.classes, "student").get_weights()

    def fresh_student():
        student = mlp(args.input_dim, args.student_hidden, args.classes, "student")
        student.set_weights(student_init)
        return student

    def loss_fn():
        return keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    def timed(fit):
        timer = EpochTimer()
        fit(timer)
        return timer.times[1:]

    notes = []

    def plain(timer):
        student = fresh_student()
        student.compile(keras.optimizers.Adam(1e-3), loss_fn(), jit_compile=args.jit)
        student.fit(x, y, batch_size=args.batch_size, epochs=args.epochs, callbacks=[timer], verbose=0)

    def ours(cache_teacher, data=None):
        def fit(timer):
            distiller = keras_kd.Distiller(fresh_student(), teacher, args.temperature, args.alpha)
            distiller.compile(keras.optimizers.Adam(1e-3), jit_compile=args.jit)
            if data is None:
                distiller.fit(x, y, batch_size=args.batch_size, epochs=args.epochs,
                              callbacks=[timer], verbose=0, cache_teacher=cache_teacher)
            else:
                distiller.fit(data, epochs=args.epochs, callbacks=[timer], verbose=0,
                              cache_teacher=cache_teacher)
        return fit

    def keras_distillation(student):
        # An explicit KLDivergence instance: Keras 3.15's default
        # loss="kl_divergence" resolves to a plain function, which skips the
        # softmax and computes KL on clipped raw logits (reported below).
        return keras.distillation.Distiller(
            teacher=teacher, student=student,
            distillation_losses=keras.distillation.LogitsDistillation(
                temperature=args.temperature, loss=keras.losses.KLDivergence()
            ),
            student_loss_weight=1.0 - args.alpha,
        )

    def keras_distiller(timer):
        distiller = keras_distillation(fresh_student())
        distiller.compile(keras.optimizers.Adam(1e-3), loss=loss_fn(), jit_compile=args.jit)
        distiller.fit(x, y, batch_size=args.batch_size, epochs=args.epochs, callbacks=[timer], verbose=0)

    # One teacher inference pass, the yardstick for building a cache, timed in
    # turn with the builds (5 rounds) so that drift in the machine's speed
    # hits both. Round 1's builds are the first in the process (tracing and
    # first use included); each build gets a fresh cache object and folder.
    infer = tf.function(lambda batch: teacher(batch, training=False), jit_compile=args.jit)
    batches = [x[i : i + args.batch_size] for i in range(0, len(x), args.batch_size)]
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(args.batch_size)

    def seconds(function):
        start = time.perf_counter()
        function()
        return time.perf_counter() - start

    def array_pass():
        for batch in batches:
            infer(batch).numpy()

    def dataset_pass():  # the same pass over the pipeline the disk cache reads
        for batch_x, _ in dataset:
            infer(batch_x).numpy()

    array_pass(), dataset_pass()  # trace `infer`
    folder = tempfile.TemporaryDirectory()
    build = {"memory": [], "disk": [], "array pass": [], "dataset pass": []}
    for round_ in range(ROUNDS):
        build["array pass"].append(seconds(array_pass))
        build["memory"].append(seconds(
            lambda: keras_kd.Distiller(fresh_student(), teacher).teacher_logits(x, args.batch_size)))
        build["dataset pass"].append(seconds(dataset_pass))
        cache = keras_kd.TeacherCache(teacher, os.path.join(folder.name, str(round_)))
        build["disk"].append(seconds(lambda: cache.attach(dataset)))

    def build_line():
        ratio = lambda kind, yardstick, i: build[kind][i] / build[yardstick][i]  # noqa: E731
        parts = []
        for kind, yardstick, what in (("memory", "array pass", "in memory"),
                                      ("disk", "dataset pass", "on disk (tf.data pipeline)")):
            ratios = [ratio(kind, yardstick, i) for i in range(ROUNDS)]
            parts.append(f"{what}: first build in the process {build[kind][0]:.3f} s against a "
                         f"teacher pass of {build[yardstick][0]:.3f} s ({ratios[0]:.2f}x), median "
                         f"of {ROUNDS} rounds {statistics.median(ratios):.2f}x "
                         f"({', '.join(f'{r:.2f}' for r in ratios)})")
        return "building the cache, " + "; ".join(parts)

    with folder:
        if args.build_only:
            print(build_line())
            return

        print(f"running: {args.examples} examples, batch {args.batch_size}, {args.epochs} epochs "
              f"(first is warm-up), TF {tf.__version__}, Keras {keras.__version__}, "
              f"{os.cpu_count()} CPUs, devices {[d.name for d in tf.config.list_logical_devices()]}",
              flush=True)
        variants = {
            "plain student fit": plain,
            "keras_kd online (teacher per batch)": ours(False),
            "keras_kd cached (arrays, in memory)": ours(True),
            "keras_kd cached (tf.data, disk)": ours(cache, dataset),
        }
        if not args.skip_keras:
            variants["keras.distillation.Distiller"] = keras_distiller
        epochs = {name: [] for name in variants}
        for _ in range(args.rounds):
            for name, fit in variants.items():
                epochs[name] += timed(fit)
        results = {name: (statistics.median(t), t) for name, t in epochs.items()}

    # The same loss for the same weights and data.
    ours_model = keras_kd.Distiller(fresh_student(), teacher, args.temperature, args.alpha)
    ours_model.compile(loss=loss_fn())
    ours_loss = ours_model.evaluate(x[:2048], y[:2048], batch_size=2048, verbose=0)
    if not args.skip_keras:
        theirs = keras_distillation(fresh_student())
        theirs.compile(loss=loss_fn())
        theirs_loss = theirs.evaluate(x[:2048], y[:2048], batch_size=2048, verbose=0)[0]
        default = keras.distillation.Distiller(
            teacher=teacher, student=fresh_student(),
            distillation_losses=keras.distillation.LogitsDistillation(temperature=args.temperature),
            student_loss_weight=1.0 - args.alpha,
        )
        default.compile(loss=loss_fn())
        default_loss = default.evaluate(x[:2048], y[:2048], batch_size=2048, verbose=0)[0]
        notes.append(
            f"loss at identical weights (2048 examples): keras_kd {ours_loss[0]:.6f}, "
            f"keras.distillation with KLDivergence() {theirs_loss:.6f} (relative difference "
            f"{abs(ours_loss[0] - theirs_loss) / abs(theirs_loss):.1e}), keras.distillation with "
            f"its default loss {default_loss:.6f}"
        )

    plain_time = results["plain student fit"][0]
    arithmetic = 1 + dense_flops(args.input_dim, args.teacher_hidden, args.classes) / (
        3 * dense_flops(args.input_dim, args.student_hidden, args.classes)
    )
    print()
    print("| run | median epoch (s) | min-max (s) | examples/s | x plain student |")
    print("|---|---|---|---|---|")
    for name, (median, times) in results.items():
        print(f"| {name} | {median:.3f} | {min(times):.3f}-{max(times):.3f} | "
              f"{args.examples / median:,.0f} | {median / plain_time:.2f} |")
    print()
    print(f"arithmetic ratio 1 + teacher forward / student training FLOPs: {arithmetic:.2f}")
    print(build_line())
    if not args.skip_keras:
        speedup = results["keras.distillation.Distiller"][0] / results["keras_kd cached (arrays, in memory)"][0]
        online = results["keras.distillation.Distiller"][0] / results["keras_kd online (teacher per batch)"][0]
        print(f"keras_kd cached is {speedup:.2f}x faster per epoch than keras.distillation "
              f"(online: {online:.2f}x)")
    for note in notes:
        print(note)


if __name__ == "__main__":
    sys.exit(main())
