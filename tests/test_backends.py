"""The core on JAX, in a process where TensorFlow cannot be imported, against TF and float64."""

import os
import subprocess
import sys

import keras
import numpy as np
import pytest

import backend_job
from helpers import installed, run_together
import keras_kd
from references64 import ce64, dist64, dkd64, kl64, softmax64, standardize64

# Asked of the installed packages: conftest keeps JAX out of this TensorFlow process.
if not installed("jax"):
    pytest.skip("the JAX half needs jax (pip install 'jax[cpu]', in the test extra)",
                allow_module_level=True)

T, ALPHA = 3.0, 0.7


def forward64(data, name, x, hidden=False):
    w = [np.asarray(data[f"{name}_{i}"], "float64") for i in range(4)]
    h = np.maximum(x @ w[0] + w[1], 0)
    return h if hidden else h @ w[2] + w[3]


# The tests sharing the module fixture run in one xdist worker, so it runs once.
pytestmark = pytest.mark.xdist_group("backends")


# JAX always (the test extra installs it); PyTorch where it is installed: its
# PyPI wheel brings gigabytes of CUDA libraries, so CI does not.
BACKENDS = ["jax", pytest.param("torch", marks=pytest.mark.skipif(
    not installed("torch"), reason="PyTorch is not installed (kept out of CI: pip install torch)"))]


EXAMPLE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples",
                       "distill_digits.py")


def _run_job(backend, folder):
    """The TensorFlow half here, then the job on `backend`; on JAX the job also runs
    the data-parallel comparison and examples/distill_digits.py (one JAX start)."""
    rng = np.random.default_rng(0)
    data = {"x": rng.normal(size=(48, 6)).astype("float32"),
            "y": rng.integers(0, 3, 48).astype("int32"), "folder": np.array(str(folder))}
    for name, width, seed in (("teacher", 16, 1), ("other", 4, 2), ("student", 8, 3)):
        keras.utils.set_random_seed(seed)
        weights = backend_job_mlp(name, width).get_weights()
        data.update({f"{name}_{i}": w for i, w in enumerate(weights)})
    keras.utils.set_random_seed(4)
    projection = keras.layers.Dense(16)
    projection.build((None, 8))
    data.update({f"projection_{i}": w for i, w in enumerate(projection.get_weights())})
    dp = np.random.default_rng(1)
    data.update(dp_x=dp.normal(size=(64, 6)).astype("float32"), dp_y=dp.integers(0, 3, 64).astype("int32"))
    np.savez(folder / "in.npz", **data)
    tf_results = backend_job.run_scenarios(keras, keras_kd, __import__(
        "keras_kd.caching.targets", fromlist=["targets"]), dict(np.load(folder / "in.npz")))
    env = dict(os.environ, KERAS_BACKEND=backend, JAX_PLATFORMS="cpu")
    extra = []
    if backend == "jax":
        # Two host devices for the data-parallel check. XLA's CPU backend spends
        # more time compiling these tiny programs (240 of them) than running
        # them. Without its optimizations the job took 27 s instead of 35;
        # without its newer fusion emitters as well, 19 CPU s instead of 33. The
        # comparisons and tolerances are the same; its numbers move by < 3e-6.
        env["XLA_FLAGS"] = ("--xla_force_host_platform_device_count=2 "
                            "--xla_backend_optimization_level=0 "
                            "--xla_llvm_disable_expensive_passes=true "
                            "--xla_cpu_use_fusion_emitters=false")
        extra = ["--data-parallel", "--example", EXAMPLE, str(folder / "student")]
    job = os.path.join(os.path.dirname(os.path.abspath(__file__)), "backend_job.py")
    result = subprocess.run([sys.executable, job, str(folder / "in.npz"), str(folder / "out.npz"),
                             *extra], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    results = dict(np.load(folder / "out.npz"))
    assert str(results["backend"]) == backend
    return data, tf_results, results


@pytest.fixture(scope="module")
def jobs(tmp_path_factory):
    """backend -> (data, TensorFlow results, the job's results); each job runs once per module."""
    done = {}

    def get(backend):
        if backend not in done:
            done[backend] = _run_job(backend, tmp_path_factory.mktemp(backend))
        return done[backend]

    return get


@pytest.fixture(scope="module", params=BACKENDS)
def both_backends(request, jobs):
    return jobs(request.param)


def test_data_parallel_over_two_cpu_devices_matches_one_device(jobs):
    """keras.distribution.DataParallel on JAX: the loss sees the global batch (DIST's too)."""
    results = jobs("jax")[2]
    got = {key[3:]: value for key, value in results.items() if key.startswith("dp_")}
    assert int(got["devices"]) == 2
    np.testing.assert_array_equal(got["two_start"], got["one_start"])
    assert np.abs(got["one_0"] - got["one_start"]).max() > 1e-2  # the steps moved the weights
    for i in range(2):
        np.testing.assert_allclose(got[f"two_{i}"], got[f"one_{i}"], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(got["two_loss"], got["one_loss"], rtol=1e-5)


def backend_job_mlp(name, width):
    inputs = keras.Input((6,))
    h = keras.layers.Dense(width, activation="relu", name=f"{name}_hidden")(inputs)
    return keras.Model(inputs, keras.layers.Dense(3, name=f"{name}_logits")(h), name=name)


def test_the_losses_on_jax_and_torch_equal_float64_and_tensorflow(both_backends):
    data, tf_results, jax_results = both_backends
    x, y = data["x"].astype("float64"), data["y"]
    t, o, s = (forward64(data, n, x) for n in ("teacher", "other", "student"))
    ce = ce64(y, s).mean()
    want = {
        "kl": ALPHA * T**2 * kl64(softmax64(t, T), softmax64(s, T)).mean() + (1 - ALPHA) * ce,
        "dkd": ALPHA * dkd64(t, s, y, T, beta=4.0).mean() + (1 - ALPHA) * ce,
        "dist_ls": ALPHA * dist64(standardize64(t), standardize64(s), T, 1.0, 2.0)
        + (1 - ALPHA) * ce,
        "two_teachers": ALPHA * T**2 * kl64(0.25 * softmax64(t, T) + 0.75 * softmax64(o, T),
                                            softmax64(s, T)).mean() + (1 - ALPHA) * ce,
    }
    # A FitNets hint: the student's hidden layer, projected, against the teacher's (MSE).
    projected = forward64(data, "student", x, hidden=True) @ data["projection_0"] + data[
        "projection_1"]
    hint = ((forward64(data, "teacher", x, hidden=True) - projected) ** 2).mean()
    want["hint"] = want["kl"] + hint
    for kind, value in want.items():
        np.testing.assert_allclose(jax_results[f"loss_{kind}"], value, rtol=1e-5, err_msg=kind)
        np.testing.assert_allclose(tf_results[f"loss_{kind}"], value, rtol=1e-5, err_msg=kind)


def test_training_on_jax_and_torch_reaches_the_tensorflow_weights(both_backends):
    """Six SGD steps (rate 0.1) from the same weights and batches: float32 tolerance, 1e-5."""
    data, tf_results, jax_results = both_backends
    start = [data[f"student_{i}"] for i in range(4)]
    moved = max(np.abs(jax_results[f"distilled_{i}"] - w).max() for i, w in enumerate(start))
    assert moved > 1e-2
    for i in range(4):
        np.testing.assert_allclose(jax_results[f"distilled_{i}"], tf_results[f"distilled_{i}"],
                                   atol=1e-5)
    peer_start = [data[f"student_{i}"] for i in range(4)] + [data[f"other_{i}"] for i in range(4)]
    assert min(np.abs(jax_results[f"dml_{i}"] - w).max() for i, w in enumerate(peer_start)) > 1e-4
    for i in range(8):  # deep mutual learning: both peers
        np.testing.assert_allclose(jax_results[f"dml_{i}"], tf_results[f"dml_{i}"], atol=1e-5)
    for key in ("history_loss", "history_val_accuracy", "predict", "evaluate_loss", "dml_loss",
                "dml_peer_1_loss", "dml_val_peer_0_accuracy", "dml_val_loss", "dml_predict"):
        np.testing.assert_allclose(jax_results[key], tf_results[key], rtol=1e-5, atol=1e-6,
                                   err_msg=key)
    assert bool(jax_results["teacher_unchanged"]) and bool(tf_results["teacher_unchanged"])
    assert float(jax_results["alpha0_vs_plain"]) < 1e-6
    assert float(tf_results["alpha0_vs_plain"]) < 1e-6


def test_saving_and_what_needs_tensorflow_on_jax_and_torch(both_backends):
    _, _, jax_results = both_backends
    np.testing.assert_allclose(jax_results["reloaded_predict"], jax_results["predict"], rtol=1e-6)
    np.testing.assert_allclose(jax_results["student_file_predict"], jax_results["predict"],
                               rtol=1e-6)
    assert float(jax_results["temperature_after_schedule"]) == 2.0
    assert int(jax_results["ban_generations"]) == 2
    assert np.all((jax_results["ban_accuracy"] >= 0) & (jax_results["ban_accuracy"] <= 1))
    for key, feature in (("saved_model_error", "SavedModel export"),
                         ("cache_folder_error", "A TeacherCache"),
                         ("teacher_cache_error", "keras_kd.TeacherCache"),
                         ("import_error_keras_kd.caching.teacher_cache", "keras_kd.caching"),
                         ("import_error_keras_kd.distribute.strategies", "keras_kd.distribute"),
                         ("import_error_keras_kd.models.tflite", "keras_kd.models.tflite"),
                         ("import_error_keras_kd.tuning", "keras_kd.tuning.search"),
                         ("import_error_keras_kd.app.distill", "The keras-kd command line")):
        message = str(jax_results[key])
        assert message.startswith(feature) and "needs the TensorFlow backend" in message, message
        assert "pip install 'keras-kd[tensorflow]'" in message  # the job blocks TensorFlow
        assert f"runs '{jax_results['backend']}'" in message
        assert "KERAS_BACKEND=tensorflow" in message


def test_the_digits_example_runs_on_jax_without_tensorflow(jobs):
    """examples/distill_digits.py on JAX, run by the JAX job as `python examples/distill_digits.py
    --quick` would be; the student it saves, reloaded here, scores what it printed.

    (examples/distillation_methods.py, whose methods the JAX job above checks
    one by one, takes 31 s more on JAX: run in a scratch venv, see RESULTS.)
    """
    data, _, results = jobs("jax")
    output = str(data["folder"]) + "/student"
    stdout = str(results["example_stdout"])
    assert f"student .keras file: {output}.keras" in stdout, stdout
    printed = float(stdout.split("student:")[1].split("test accuracy")[1].split()[0])
    from keras_kd.recipes.data import load_digits

    digits = load_digits()
    student = keras.saving.load_model(output + ".keras")
    accuracy = np.mean(student.predict(digits.x_test, verbose=0).argmax(-1) == digits.y_test)
    assert abs(accuracy - printed) < 1e-4 and 0.3 < accuracy < 1.0, (accuracy, printed)


@pytest.mark.skipif(not installed("torch"),
                    reason="PyTorch is not installed (kept out of CI: pip install torch)")
def test_torch_ddp_over_two_processes_matches_one_process(tmp_path):
    """Keras has no keras.distribution for PyTorch; DDP in a custom loop around the
    Distiller's compute_loss (two CPU processes, gloo) gives the one-process weights."""
    from keras_kd.distribute import launch

    rng = np.random.default_rng(5)
    data = {"x": rng.normal(size=(64, 6)).astype("float32"),
            "y": rng.integers(0, 3, 64).astype("int32")}
    for name, width, seed in (("teacher", 16, 1), ("student", 8, 3)):
        keras.utils.set_random_seed(seed)
        data.update({f"{name}_{i}": w for i, w in enumerate(backend_job_mlp(name, width).get_weights())})
    np.savez(tmp_path / "in.npz", **data)
    job = os.path.join(os.path.dirname(os.path.abspath(__file__)), "torch_ddp_job.py")
    # One thread each: three processes share the machine's cores.
    env = dict(os.environ, KERAS_BACKEND="torch", CUDA_VISIBLE_DEVICES="", OMP_NUM_THREADS="1")
    one_port, two_port = launch.free_ports(2)
    # (output, rank, world size, port): one process alone, and a group of two; all at once.
    jobs = [("one.npz", 0, 1, one_port), ("two.npz", 0, 2, two_port), ("two.npz", 1, 2, two_port)]
    codes, logs = run_together(
        [[sys.executable, job, str(tmp_path / "in.npz"), str(tmp_path / out), str(rank),
          str(world), str(port)] for out, rank, world, port in jobs], [env] * 3, timeout=240)
    assert codes == [0, 0, 0], "\n".join(log[-2000:] for log in logs)
    one, two = dict(np.load(tmp_path / "one.npz")), dict(np.load(tmp_path / "two.npz"))
    assert bool(one["teacher_unchanged"]) and bool(two["teacher_unchanged"])
    assert max(np.abs(one[f"student_{i}"] - data[f"student_{i}"]).max() for i in range(4)) > 1e-2
    for i in range(4):
        np.testing.assert_allclose(two[f"student_{i}"], one[f"student_{i}"], rtol=1e-5, atol=1e-6)
    # Each process's loss is its half's mean; their average is the one-process loss.
    halves = [np.load(tmp_path / f"two.npz.losses{rank}.npy") for rank in (0, 1)]
    whole = np.load(tmp_path / "one.npz.losses0.npy")
    assert whole.shape == (4,) and abs(halves[0][0] - halves[1][0]) > 1e-4
    np.testing.assert_allclose((halves[0] + halves[1]) / 2, whole, rtol=1e-5)
