"""Test set-up: two logical CPU devices, seeded runs, a fresh Keras session per test."""

import gc
import os
import sys

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
# TensorFlow imports JAX whenever it is installed (tf.lite's JAX converter),
# and the test extra installs it for tests/test_backends.py, which runs JAX in
# subprocesses. Keep it out of these TensorFlow processes: it costs 0.5 s per
# start, and two runtimes in one process is one more thing that can crash.
sys.modules.setdefault("jax", None)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# Latency tables in the CLI tests: 2 timed calls instead of about 0.5 s each.
os.environ.setdefault("KERAS_KD_LATENCY_REPEATS", "2")

import pytest  # noqa: E402


@pytest.hookimpl(trylast=True)  # after pytest-xdist's, which registers its scheduler
def pytest_configure(config):
    # pytest-xdist's controller only schedules and reports: its workers import
    # TensorFlow and collect. Importing TensorFlow there too held every worker
    # back by one import (about 7 CPU s) at the start of each run.
    if not config.pluginmanager.has_plugin("dsession"):
        _set_up_tensorflow()


def _set_up_tensorflow():
    import tensorflow as tf

    from helpers import without_graph_optimizer

    # Split the CPU into two logical devices before TensorFlow initializes them,
    # so that MirroredStrategy tests run without GPUs (as Keras's own tests do).
    devices = tf.config.list_physical_devices("CPU")
    tf.config.set_logical_device_configuration(
        devices[0], [tf.config.LogicalDeviceConfiguration()] * 2
    )
    without_graph_optimizer()


@pytest.fixture(autouse=True)
def _fresh_session():
    import keras

    keras.backend.clear_session(free_memory=False)
    keras.mixed_precision.set_global_policy("float32")
    keras.utils.set_random_seed(0)
    yield
    keras.mixed_precision.set_global_policy("float32")
    # Free this test's garbage, then hide what survives it (fixtures, caches)
    # from later collections. A full collection scans every tracked object:
    # unfrozen, the suite's leftovers made each one (clear_session's, Keras
    # Tuner's per trial) cost about 1 s by the end of the run.
    keras.backend.clear_session(free_memory=False)
    gc.collect()
    gc.freeze()


@pytest.fixture(scope="session")
def digits():
    from keras_kd.recipes.data import load_digits

    return load_digits()


@pytest.fixture(scope="session")
def digits_teacher(digits, tmp_path_factory):
    """A 2x256 MLP with dropout trained on the digits (about 97% test accuracy).

    Trained once per run: under pytest-xdist the first worker to need it saves
    it to the run's shared temporary folder and the others load that file.
    """
    import contextlib
    import fcntl

    import keras

    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # this run's folder, shared by its workers
    path = root / "digits_teacher.keras"
    with open(root / "digits_teacher.lock", "w") as lock, contextlib.ExitStack() as unlock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        unlock.callback(fcntl.flock, lock, fcntl.LOCK_UN)
        if path.exists():
            return keras.saving.load_model(path)
        teacher = _train_digits_teacher(digits)
        teacher.save(root / "digits_teacher.tmp.keras")
        os.replace(root / "digits_teacher.tmp.keras", path)
        return teacher


def _train_digits_teacher(digits):
    import keras

    keras.utils.set_random_seed(123)
    teacher = keras.Sequential(
        [
            keras.Input((64,)),
            keras.layers.Dense(256, activation="relu"),
            keras.layers.Dropout(0.3),
            keras.layers.Dense(256, activation="relu"),
            keras.layers.Dropout(0.3),
            keras.layers.Dense(10),
        ],
        name="digits_teacher",
    )
    teacher.compile(
        keras.optimizers.Adam(1e-3),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    teacher.fit(digits.x_train, digits.y_train, epochs=40, batch_size=64, verbose=0)
    accuracy = teacher.evaluate(digits.x_test, digits.y_test, verbose=0)[1]
    assert accuracy > 0.95, accuracy
    return teacher


def pytest_collection_finish(session):
    # Everything imported so far (TensorFlow, Keras, the test modules) lives
    # until the end: move it out of the garbage collector's sight, so that its
    # automatic full collections scan only what the tests create.
    gc.collect()
    gc.freeze()
    # An empty run proves nothing: fail it loudly instead of pytest's exit 5.
    if not session.items and not os.environ.get("PYTEST_XDIST_WORKER"):
        raise pytest.UsageError(_EMPTY_RUN)


_EMPTY_RUN = ("No tests were collected or selected. The suite must run at least one "
              "test; check the test paths, -k and -m options.")


def pytest_sessionfinish(session, exitstatus):
    # Under pytest-xdist the workers collect, so the controller sees the empty
    # run only here.
    if exitstatus == pytest.ExitCode.NO_TESTS_COLLECTED:
        sys.stderr.write(f"ERROR: {_EMPTY_RUN}\n")
        session.exitstatus = pytest.ExitCode.USAGE_ERROR


# --- How many workers `-n auto` starts --------------------------------------
#
# pytest-xdist asks psutil (which tensorflow-datasets installs) for the
# machine's physical cores. That is 1 on a 2-vCPU VM whose vCPUs are one
# core's two hyperthreads, the whole host inside a container limited to 2
# CPUs, and never the CPUs this process may run on. We count the usable CPUs
# (the affinity mask, capped by the cgroup's CPU quota) and start one worker
# more: a fifth to a third of the suite's CPU time is in processes that tests
# start, and while a test waits for its processes to start and meet, its CPU
# would idle. On 2 CPUs, 3 workers kept them busy 1.82-1.84 of the time
# instead of 1.71-1.72 and ran the suite about 10% faster; still 5-12% faster
# once the slowest multi-process checks moved to `-m slow` (benchmarks/RESULTS.md).


def pytest_xdist_auto_num_workers(config):
    if os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS"):
        return None  # xdist's own hook reads it
    import cpus

    return cpus.usable_cpus() + 1


def pytest_report_header(config):
    import cpus

    workers = getattr(config.option, "numprocesses", None)
    return f"keras_kd: {cpus.usable_cpus()} usable CPU(s), {workers} xdist worker(s)"


# --- A worker that crashes (a segmentation fault inside TensorFlow) ----------
#
# TensorFlow 2.21 has segfaulted, rarely, while Keras drops a tf.distribute
# input iterator at the start of a validation pass (seen twice in about ten
# full runs, in tests/test_mirrored.py, and once on CI in a worker process of
# examples/multi_worker.py). The iterator was the one the build had read a
# batch from; a built Distiller no longer reads one there (OneReplicaBuild in
# keras_kd/internals.py). What stays in place if a worker still crashes:
# pytest-xdist replaces the worker and runs the rest of the crashed test's
# group again. Two things make that safe:
#
# 1. xdist 3.8's loadgroup scheduler gives the replacement worker a single
#    test and waits for it forever, while the worker waits for a second test
#    before running the first: the run hangs. `_CrashSafeGroups` keeps giving
#    a worker work until it holds two tests or the queue is empty.
# 2. The first crash of a test is reported as a rerun (R, and a line in the
#    summary naming it); the test runs again on the new worker and its own
#    outcome counts. A second crash of the same test fails the run.


def pytest_xdist_make_scheduler(config, log):
    from xdist.scheduler import LoadGroupScheduling

    class _CrashSafeGroups(LoadGroupScheduling):
        def _reschedule(self, node):
            if node.shutting_down:
                return
            while self.workqueue and self._pending_of(self.assigned_work[node]) < 2:
                self._assign_work_unit(node)
            if not self.workqueue:
                node.shutdown()

    if config.getvalue("dist") == "loadgroup":
        return _CrashSafeGroups(config, log)
    return None


_crashed = []


def pytest_handlecrashitem(crashitem, report, sched):
    if crashitem not in _crashed:
        _crashed.append(crashitem)
        report.outcome = "rerun"  # the scheduler has queued it again


def pytest_report_teststatus(report, config):
    if report.outcome == "rerun":
        return "rerun", "R", ("RERUN", {"yellow": True})
    return None


def pytest_terminal_summary(terminalreporter):
    for nodeid in _crashed:
        terminalreporter.write_line(
            f"RERUN after its worker crashed: {nodeid} (see the note in tests/conftest.py)",
            yellow=True,
        )
