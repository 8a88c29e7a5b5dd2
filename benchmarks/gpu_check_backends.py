"""The GPU check on JAX and PyTorch (issue 19): device, loss and equivalence checks, speed.

Runs without TensorFlow (the lent GPU machine has none); one backend per run:

    KERAS_BACKEND=jax   python benchmarks/gpu_check_backends.py
    KERAS_BACKEND=torch python benchmarks/gpu_check_backends.py
    KERAS_BACKEND=jax   python benchmarks/gpu_check_backends.py --quick   # CPU, seconds

1. Prints the backend and the device the arrays land on.
2. Checks, in full float32 matmul precision (no TF32): the Distiller's loss on
   one batch equals float64 NumPy (KL and DKD); `alpha=0` reaches the weights
   of plain `fit` (SGD, same batches); the teacher stays bit-identical.
   Exits 1 when a check fails.
3. Times epochs, side by side in one process on the same data and initial
   weights, in the backend's default precision: the student trained alone,
   keras_kd with the teacher's logits cached (arrays), keras_kd running the
   teacher per batch, and `keras.distillation.Distiller`. Prints each one's
   median epoch time (each fit's first epoch is compile and warm-up, left
   out) and the ratios the issue's targets name.
"""

import argparse
import os
import statistics
import sys

sys.modules.setdefault("tensorflow", None)  # as on the GPU machine: nothing may need it

import keras  # noqa: E402
import numpy as np  # noqa: E402

import keras_kd  # noqa: E402
from timing import EpochTimer, dense_flops, mlp  # noqa: E402

# The float64 references the tests use (NumPy only; the checkout travels whole).
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
from references64 import ce64, dkd64, kl64, softmax64  # noqa: E402

T, ALPHA = 4.0, 0.9


def device_line():
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        return f"jax {jax.__version__}, keras {keras.__version__}: {jax.devices()}"
    if backend == "torch":
        import torch

        device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
        return f"torch {torch.__version__}, keras {keras.__version__}: {device}"
    raise SystemExit(f"Set KERAS_BACKEND to jax or torch (got {backend!r}).")


def full_float32(enabled):
    """Full float32 matmuls (True) or the backend's default, TF32 on recent GPUs (False)."""
    if keras.backend.backend() == "jax":
        import jax

        jax.config.update("jax_default_matmul_precision", "highest" if enabled else None)
    else:
        import torch

        torch.backends.cuda.matmul.allow_tf32 = not enabled
        torch.backends.cudnn.allow_tf32 = not enabled


def reference_loss(t, s, y, kind):
    """alpha * soft + (1 - alpha) * CE in float64, as the Distiller defines it (DKD: beta 8)."""
    if kind == "kl":
        soft = T**2 * kl64(softmax64(t, T), softmax64(s, T))
    else:
        soft = dkd64(t, s, y, T, alpha=1.0, beta=8.0)
    return float(ALPHA * soft.mean() + (1 - ALPHA) * ce64(y, s).mean())


def checks():
    """The loss and equivalence checks; returns a list of failure messages."""
    full_float32(True)
    failures = []
    rng = np.random.default_rng(0)
    x = rng.normal(size=(256, 20)).astype("float32")
    y = rng.integers(0, 5, 256).astype("int32")
    keras.utils.set_random_seed(1)
    teacher = mlp(20, [64], 5, "teacher")
    student_init = mlp(20, [16], 5, "student").get_weights()

    def student():
        model = mlp(20, [16], 5, "student")
        model.set_weights(student_init)
        return model

    t = np.asarray(keras.ops.convert_to_numpy(teacher(x)), "float64")
    for kind in ("kl", "dkd"):
        s_model = student()
        s = np.asarray(keras.ops.convert_to_numpy(s_model(x)), "float64")
        distiller = keras_kd.Distiller(s_model, teacher, T, ALPHA, distillation_loss=kind)
        distiller.compile(keras.optimizers.SGD(0.0))
        got = distiller.evaluate(x, y, batch_size=256, verbose=0, return_dict=True)["loss"]
        want = reference_loss(t, s, y, kind)
        error = abs(got - want) / abs(want)
        print(f"loss, {kind}: {got:.7f} against float64 {want:.7f} (relative error {error:.1e})")
        if error > 1e-5:
            failures.append(f"the {kind} loss is off by {error:.1e}")

    before = [w.copy() for w in teacher.get_weights()]
    plain = student()
    plain.compile(keras.optimizers.SGD(0.1), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    plain.fit(x, y, batch_size=64, epochs=3, shuffle=False, verbose=0)
    zero = student()
    distiller = keras_kd.Distiller(zero, teacher, T, alpha=0.0)
    distiller.compile(keras.optimizers.SGD(0.1))
    distiller.fit(x, y, batch_size=64, epochs=3, shuffle=False, verbose=0)
    gap = max(float(np.abs(a - b).max()) for a, b in zip(plain.get_weights(), zero.get_weights()))
    moved = max(float(np.abs(a - b).max()) for a, b in zip(plain.get_weights(), student_init))
    print(f"alpha = 0 against plain fit, 12 SGD steps: largest weight difference {gap:.1e} "
          f"(the steps moved the weights by {moved:.2f})")
    if not gap < 1e-5 or not moved > 1e-2:
        failures.append(f"alpha = 0 differs from plain fit by {gap:.1e}")
    same = all(np.array_equal(a, b) for a, b in zip(before, teacher.get_weights()))
    print(f"teacher bit-identical after distillation: {same}")
    if not same:
        failures.append("the teacher changed")
    return failures


def speed(args):
    full_float32(False)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(args.examples, args.input_dim)).astype("float32")
    y = rng.integers(0, 10, args.examples).astype("int32")
    keras.utils.set_random_seed(0)
    teacher = mlp(args.input_dim, args.teacher_hidden, 10, "teacher")
    student_init = mlp(args.input_dim, args.student_hidden, 10, "student").get_weights()
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    def student():
        model = mlp(args.input_dim, args.student_hidden, 10, "student")
        model.set_weights(student_init)
        return model

    def run(model, **fit_kwargs):
        timer = EpochTimer()
        model.fit(x, y, batch_size=args.batch_size, epochs=args.epochs, verbose=0,
                  callbacks=[timer], **fit_kwargs)
        return statistics.median(timer.times[1:])

    def plain():
        model = student()
        model.compile(keras.optimizers.Adam(1e-3), loss)
        return run(model)

    def ours(cache_teacher):
        distiller = keras_kd.Distiller(student(), teacher, T, ALPHA)
        distiller.compile(keras.optimizers.Adam(1e-3))
        return run(distiller, cache_teacher=cache_teacher)

    def theirs():
        distiller = keras.distillation.Distiller(
            teacher=teacher, student=student(), student_loss_weight=1.0 - ALPHA,
            # An explicit KLDivergence: Keras 3.15's default "kl_divergence"
            # resolves to a function that skips the softmax.
            distillation_losses=keras.distillation.LogitsDistillation(
                temperature=T, loss=keras.losses.KLDivergence()),
        )
        distiller.compile(keras.optimizers.Adam(1e-3), loss=loss)
        return run(distiller)

    times = {"student alone": plain(), "keras_kd, teacher cached": ours(True),
             "keras_kd, teacher per batch": ours(False), "keras.distillation": theirs()}
    base = times["student alone"]
    print(f"\n{args.examples:,} examples of {args.input_dim}, batch {args.batch_size}, teacher "
          f"MLP {args.teacher_hidden}, student MLP {args.student_hidden}; median epoch of "
          f"{args.epochs - 1}")
    print("| run | epoch (s) | examples/s | x student alone |")
    print("|---|---|---|---|")
    for name, seconds in times.items():
        print(f"| {name} | {seconds:.3f} | {args.examples / seconds:,.0f} | {seconds / base:.2f} |")
    teacher_flops = dense_flops(args.input_dim, args.teacher_hidden, 10)
    student_flops = 3 * dense_flops(args.input_dim, args.student_hidden, 10)
    arithmetic = 1 + teacher_flops / student_flops
    cached, online = times["keras_kd, teacher cached"], times["keras_kd, teacher per batch"]
    print(f"targets: cached / alone = {cached / base:.2f} (target <= 1.10); keras.distillation / "
          f"cached = {times['keras.distillation'] / cached:.2f} (target >= 3); per batch / alone "
          f"= {online / base:.2f} against the arithmetic 1 + teacher forward / student training "
          f"= {arithmetic:.2f}, ratio {online / base / arithmetic:.2f} (target <= 1.2)")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, for a CPU")
    args = parser.parse_args(argv)
    if args.quick:
        args.examples, args.input_dim, args.batch_size, args.epochs = 2048, 64, 256, 3
        args.teacher_hidden, args.student_hidden = [256, 256], [32]
    else:  # sized to load an H200: a 4x4096 teacher, batch 1024
        args.examples, args.input_dim, args.batch_size, args.epochs = 262144, 3072, 1024, 4
        args.teacher_hidden, args.student_hidden = [4096] * 4, [512, 512]
    print(f"backend {keras.backend.backend()}; {device_line()}")
    failures = checks()
    speed(args)
    if failures:
        print("FAILED:", "; ".join(failures))
        return 1
    print("checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
