"""MultiWorkerMirroredStrategy across two local processes matches one process, and survives a kill."""

import os
import sys

import keras
import numpy as np

from keras_kd import launch

JOB = os.path.join(os.path.dirname(os.path.abspath(__file__)), "multi_worker_job.py")
ENV = {"TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": ""}


def single_process_weights():
    sys.path.insert(0, os.path.dirname(JOB))
    import multi_worker_job as job

    x, y = job.data()
    distiller = job.build()
    history = distiller.fit(x, y, batch_size=job.GLOBAL_BATCH, epochs=job.EPOCHS,
                            shuffle=False, verbose=0)
    return distiller.student.get_weights(), history.history["loss"]


def job_initial_weights():
    import multi_worker_job as job

    return job.build().student.get_weights()


def load(path):
    with np.load(path) as saved:
        weights = [saved[f"arr_{i}"] for i in range(len(saved.files) - 2)]
        return weights, saved["loss"], int(saved["workers"])


def test_two_workers_match_one_process(tmp_path):
    codes = launch.run_workers(
        [sys.executable, "-c", _RUN_WITH_INDEX, JOB, str(tmp_path / "w")], 2, env=ENV, timeout=240
    )
    assert codes == [0, 0]
    (w0, loss0, n0), (w1, loss1, _) = load(tmp_path / "w0.npz"), load(tmp_path / "w1.npz")
    assert n0 == 2
    for a, b in zip(w0, w1):
        np.testing.assert_array_equal(a, b)
    keras.backend.clear_session()
    reference, reference_loss = single_process_weights()
    initial = job_initial_weights()
    assert max(np.abs(a - b).max() for a, b in zip(w0, initial)) > 1e-2  # it trained
    for a, b in zip(w0, reference):
        np.testing.assert_allclose(a, b, atol=1e-5)
    np.testing.assert_allclose(loss0, reference_loss, rtol=1e-5)
    np.testing.assert_allclose(loss1, reference_loss, rtol=1e-5)


def test_a_killed_worker_resumes_from_backup(tmp_path):
    backup = str(tmp_path / "backup")
    export = str(tmp_path / "saved_models" / "student")
    command = [sys.executable, "-c", _RUN_WITH_INDEX, JOB, str(tmp_path / "k"),
               "--backup", backup, "--export", export]
    # Worker 1 dies mid-epoch 2 (step 6 of 12); its peer is stopped with it,
    # as TF requires, and both restart from the backup.
    codes = launch.run_workers(command + ["--crash-at-step", "6"], 2, env=ENV, timeout=240)
    assert 17 in codes
    assert not os.path.exists(export)
    leftovers = [p for p in os.listdir(tmp_path) if p.startswith(".")]
    assert leftovers == [] and not os.path.exists(tmp_path / "saved_models" / "student")
    assert os.path.isdir(backup)
    codes = launch.run_workers(command, 2, env=ENV, timeout=240)
    assert codes == [0, 0]
    resumed, _, _ = load(tmp_path / "k0.npz")
    keras.backend.clear_session()
    reference, _ = single_process_weights()
    for a, b in zip(resumed, reference):
        np.testing.assert_allclose(a, b, atol=1e-5)
    import tensorflow as tf

    assert tf.saved_model.contains_saved_model(export)


# Appends this worker's TF_CONFIG index to the output prefix, then runs the job.
_RUN_WITH_INDEX = (
    "import json, os, runpy, sys; "
    "index = json.loads(os.environ['TF_CONFIG'])['task']['index']; "
    "job, prefix, *rest = sys.argv[1:]; "
    "sys.argv = [job, f'{prefix}{index}.npz', *rest]; "
    "runpy.run_path(job, run_name='__main__')"
)


def test_run_workers_stops_the_others_when_one_fails():
    import time

    # Worker 1 fails at once; worker 0 would sleep for 5 minutes.
    command = [sys.executable, "-c",
               "import json, os, sys, time; "
               "i = json.loads(os.environ['TF_CONFIG'])['task']['index']; "
               "sys.exit(3) if i == 1 else time.sleep(300)"]
    start = time.monotonic()
    codes = launch.run_workers(command, 2, output=open(os.devnull, "w"), timeout=120)
    assert time.monotonic() - start < 60
    assert codes[1] == 3 and codes[0] != 0
