"""The public API: every name imports, and the 0.1 module paths still work for one release."""

import importlib
import os
import subprocess
import sys

import pytest

import keras_kd

# The names the README and the issue tracker promise (issue 16's list).
PROMISED = [
    "Distiller", "MutualDistiller", "self_distill", "TeacherCache", "FeatureHint",
    "DistillationSchedule", "ensemble", "strip_softmax", "load_model", "losses", "tuning",
    "recipes", "copy_teacher_layers",
]
LOSSES = [
    "distillation_loss", "DistillationLoss", "decoupled_distillation_loss", "combine_teachers",
    "entropy_weights", "hint_loss", "SOFT_LOSSES", "label_loss",
]
TUNING = ["search", "DistillerHyperModel", "SearchResult", "rank_rows", "check_space"]
RECIPES = ["Recipe", "RECIPES", "get", "train_teacher", "train_teachers", "train_student",
           "shift", "mix", "training_data", "recorded_views"]
# One name each old module held in 0.1, and where it lives now.
OLD_PATHS = {
    "distiller": ("Distiller", "keras_kd.distillers.distiller"),
    "trainer": ("DistillationTrainer", "keras_kd.distillers.trainer"),
    "mutual": ("MutualDistiller", "keras_kd.distillers.mutual"),
    "self_distillation": ("self_distill", "keras_kd.distillers.self_distillation"),
    "hints": ("FeatureHint", "keras_kd.distillers.hints"),
    "checks": ("check_alpha", "keras_kd.distillers.checks"),
    "targets": ("pack", "keras_kd.caching.targets"),
    "teacher_cache": ("TeacherCache", "keras_kd.caching.teacher_cache"),
    "augmented_cache": ("record_augmented_epochs", "keras_kd.caching.augmented_epochs"),
    "augmentation": ("pipeline_randomness", "keras_kd.caching.pipelines"),
    "replicas": ("mean_over_batch", "keras_kd.distribute.replicas"),
    "strategies": ("make_strategy", "keras_kd.distribute.strategies"),
    "launch": ("run_workers", "keras_kd.distribute.launch"),
    "export": ("export_saved_model", "keras_kd.models.export"),
    "tflite": ("convert", "keras_kd.models.tflite"),
    "architectures": ("build", "keras_kd.recipes.architectures"),
    "data": ("load_digits", "keras_kd.recipes.data"),
    "cli": ("main", "keras_kd.app.cli"),
    "report": ("markdown_table", "keras_kd.app.report"),
    "progress": ("EpochProgress", "keras_kd.callbacks.epoch_progress"),
    "workflow": ("distill", "keras_kd.app.distill"),
}


def test_every_public_name_imports():
    assert set(PROMISED) <= set(keras_kd.__all__)
    for name in keras_kd.__all__:
        assert getattr(keras_kd, name) is not None, name
    for package, names in (("losses", LOSSES), ("tuning", TUNING), ("recipes", RECIPES)):
        module = getattr(keras_kd, package)
        for name in names:
            assert getattr(module, name) is not None, f"keras_kd.{package}.{name}"
    assert keras_kd.Distiller.__module__ == "keras_kd.distillers.distiller"
    assert keras_kd.losses.distillation_loss is keras_kd.distillation_loss


def test_nothing_else_is_public():
    # The surface is what __init__ lists: the packages inside are internal.
    assert "distillers" not in keras_kd.__all__ and "app" not in keras_kd.__all__
    with pytest.raises(AttributeError, match="no attribute 'nonexistent'"):
        keras_kd.nonexistent  # noqa: B018


@pytest.mark.parametrize("old", sorted(OLD_PATHS))
def test_old_module_paths_still_import_with_a_warning(old):
    name, new = OLD_PATHS[old]
    sys.modules.pop(f"keras_kd.{old}", None)
    with pytest.warns(DeprecationWarning, match=f"keras_kd.{old} moved to {new}"):
        module = importlib.import_module(f"keras_kd.{old}")
    assert module is importlib.import_module(new)
    assert getattr(module, name) is getattr(importlib.import_module(new), name)


def test_old_paths_as_attributes():
    vars(keras_kd).pop("data", None)  # an earlier `import keras_kd.data` sets it
    with pytest.warns(DeprecationWarning, match="keras_kd.data moved to keras_kd.recipes.data"):
        assert keras_kd.data.load_digits is importlib.import_module("keras_kd.recipes.data").load_digits


def test_importing_the_package_and_the_losses_registry_starts_no_tensorflow():
    code = ("import sys, keras_kd, keras_kd.defaults, keras_kd.recipes\n"
            "from keras_kd.app import cli\ncli.build_parser()\n"
            "assert 'tensorflow' not in sys.modules, 'TensorFlow was imported'\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_the_core_installs_without_tensorflow():
    """`pip install keras-kd` brings Keras, not TensorFlow; the `tensorflow` extra brings the rest."""
    import importlib.metadata
    import re

    core, extras = set(), {}
    for requirement in importlib.metadata.requires("keras-kd"):
        name = re.match(r"[A-Za-z0-9_.\-]+", requirement).group(0).lower()
        extra = re.search(r'extra == "(\w+)"', requirement)
        if extra:
            extras.setdefault(extra.group(1), set()).add(name)
        else:
            core.add(name)
    assert core == {"keras", "numpy", "scikit-learn", "tqdm"}
    assert {"tensorflow", "tensorflow-cpu", "keras-tuner", "tensorflow-datasets"} <= extras[
        "tensorflow"]
    for extra in ("test", "hub", "gpu"):  # each brings TensorFlow's extra along
        assert "keras-kd" in extras[extra], extra


@pytest.mark.parametrize("backend", ["", "torch"])
def test_a_backend_that_is_not_installed_is_named_with_the_fix(backend, tmp_path):
    code = ("import sys\nsys.modules['tensorflow'] = sys.modules['torch'] = None\n"
            "import keras_kd\ntry:\n    keras_kd.Distiller\nexcept ImportError as e:\n"
            "    print(e)\nassert 'keras' not in sys.modules\n")
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    env["KERAS_HOME"] = str(tmp_path)  # no keras.json: Keras's default, TensorFlow
    if backend:
        env["KERAS_BACKEND"] = backend
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 1, result.stdout
    if backend:
        assert "backend is 'torch'" in lines[0] and "pip install torch" in lines[0]
    else:
        assert "TensorFlow is not installed: pip install 'keras-kd[tensorflow]'" in lines[0]
        assert "KERAS_BACKEND=jax" in lines[0]


def test_the_console_script_loads_the_new_cli_without_a_deprecation_warning():
    from importlib.metadata import entry_points

    (script,) = [e for e in entry_points(group="console_scripts") if e.name == "keras-kd"]
    assert script.value == "keras_kd.app.cli:main"  # not an old path (setup.cfg)
    sys.modules.pop("keras_kd.cli", None)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        main = script.load()
    assert main is importlib.import_module("keras_kd.app.cli").main


@pytest.mark.xdist_group("grouping_check")
def test_xdist_groups_reach_the_scheduler(request):
    """Tests sharing an expensive module fixture rely on `xdist_group` (pyproject.toml)."""
    if not getattr(request.config.option, "loadgroup", False):
        pytest.skip("not under pytest-xdist's loadgroup scheduler")
    assert request.node.nodeid.endswith("@grouping_check"), (
        f"pytest {pytest.__version__} and pytest-xdist ignore xdist_group here "
        f"({request.node.nodeid}); module fixtures would run on every worker"
    )


@pytest.mark.parametrize("files, affinity, want", [
    ({}, 2, 2),  # no cgroup limits: the affinity mask
    ({"cpu.max": "max 100000\n"}, 4, 4),  # cgroup v2 without a quota
    ({"cpu.max": "200000 100000\n"}, 16, 2),  # a container limited to 2 CPUs on a 16-CPU host
    ({"cpu.max": "150000 100000\n"}, 16, 2),  # 1.5 CPUs: two workers
    ({"cpu.max": "200000 100000\n"}, 1, 1),  # the affinity mask is smaller
    ({"cpu/cpu.cfs_quota_us": "300000\n", "cpu/cpu.cfs_period_us": "100000\n"}, 8, 3),  # v1
    ({"cpu/cpu.cfs_quota_us": "-1\n", "cpu/cpu.cfs_period_us": "100000\n"}, 8, 8),
])
def test_auto_counts_the_usable_cpus(tmp_path, files, affinity, want):
    """`-n auto` (pyproject.toml): pytest-xdist would ask psutil for physical cores, 1 on a
    2-vCPU VM made of one core's two hyperthreads and the host's count in a container."""
    from cpus import usable_cpus

    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    assert usable_cpus(affinity=affinity, cgroup=str(tmp_path)) == want


def test_auto_uses_the_usable_cpus_for_this_run(request):
    """The README's command (`-n auto` from pyproject.toml) runs one worker more than the
    usable CPUs."""
    from cpus import usable_cpus

    if not os.environ.get("PYTEST_XDIST_WORKER"):
        pytest.skip("not under pytest-xdist")
    given = list(request.config.invocation_params.args) + os.environ.get("PYTEST_ADDOPTS", "").split()
    if any(arg.startswith(("-n", "--numprocesses")) for arg in given):
        pytest.skip("the worker count was given (command line or PYTEST_ADDOPTS)")
    want = int(os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS") or usable_cpus() + 1)
    assert int(os.environ["PYTEST_XDIST_WORKER_COUNT"]) == want


def test_the_auto_hook_answers_before_xdists_own(request, monkeypatch):
    import cpus

    monkeypatch.delenv("PYTEST_XDIST_AUTO_NUM_WORKERS", raising=False)
    monkeypatch.setattr(cpus, "usable_cpus", lambda: 7)  # xdist's own hook would say 2 here
    assert request.config.hook.pytest_xdist_auto_num_workers(config=request.config) == 8


def test_the_xdist_controller_imports_no_tensorflow():
    """pytest-xdist's controller imports conftest.py and runs its worker-count and header
    hooks; TensorFlow there held every worker's start back by one import."""
    tests = os.path.dirname(os.path.abspath(__file__))
    code = (
        "import sys, types; sys.path.insert(0, sys.argv[1]); import conftest; "
        "config = types.SimpleNamespace(option=types.SimpleNamespace(numprocesses=3)); "
        "workers = conftest.pytest_xdist_auto_num_workers(config); "
        "conftest.pytest_report_header(config); "
        "print(workers, 'tensorflow' in sys.modules, 'keras' in sys.modules)"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_XDIST_AUTO_NUM_WORKERS"}
    result = subprocess.run([sys.executable, "-c", code, tests], capture_output=True, text=True,
                            env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    workers, tensorflow, keras_imported = result.stdout.split()
    assert int(workers) >= 2 and (tensorflow, keras_imported) == ("False", "False")
