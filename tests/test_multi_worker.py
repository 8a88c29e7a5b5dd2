"""MultiWorkerMirroredStrategy across two local processes matches one process, and survives kills."""

import json
import os
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_kd.distribute import launch
from keras_kd.models.export import export_saved_model

JOB = os.path.join(os.path.dirname(os.path.abspath(__file__)), "multi_worker_job.py")
ENV = {"TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": ""}
STEPS = 4  # per epoch: 64 examples in global batches of 16

pytestmark = pytest.mark.xdist_group("multi_worker")  # one pair of launches for the module


def load(path):
    with np.load(path) as saved:
        weights = [saved[f"arr_{i}"] for i in range(len(saved.files) - 2)]
        return weights, saved["loss"], int(saved["workers"])


def read_log(path):
    with open(path) as f:
        records = [json.loads(line) for line in f]
    steps = [(r["epoch"], r["step"]) for r in records if "step" in r]
    losses = {r["epoch"]: r["loss"] for r in records if "loss" in r}
    return steps, losses


@pytest.fixture(scope="module")
def killed_then_resumed(tmp_path_factory):
    """Two launches of the same two-worker job sharing a backup folder.

    The first: worker 1 is killed after its 6th step (epoch 2, step 2 of 4);
    its peer is stopped with it, as TF requires. The second resumes from the
    backup, finishes, and worker 0 is then killed halfway through writing the
    SavedModel of the student.
    """
    root = tmp_path_factory.mktemp("multi_worker")
    export = root / "saved_models" / "student"
    command = [sys.executable, "-c", _RUN_WITH_INDEX, JOB, str(root / "w"),
               "--backup", str(root / "backup"), "--export", str(export)]
    first = launch.run_workers(command + ["--crash-at-step", "6", "--log", str(root / "first")],
                               2, env=ENV, timeout=240)
    first_state = {
        "export_exists": export.exists(),
        "outputs": sorted(p.name for p in root.iterdir()),
        "logs": [read_log(root / f"first{i}.jsonl") for i in (0, 1)],
    }
    second = launch.run_workers(command + ["--crash-in-export", "--log", str(root / "second")],
                                2, env=ENV, timeout=240)
    return {"root": root, "export": export, "codes": (first, second), "first": first_state,
            "second_logs": [read_log(root / f"second{i}.jsonl") for i in (0, 1)]}


@pytest.fixture(scope="module")
def single_process():
    """The same job in one process, uninterrupted: initial and final weights, epoch losses."""
    sys.path.insert(0, os.path.dirname(JOB))
    import multi_worker_job as job

    keras.backend.clear_session()
    x, y = job.data()
    distiller = job.build()
    initial = distiller.student.get_weights()
    history = distiller.fit(x, y, batch_size=job.GLOBAL_BATCH, epochs=job.EPOCHS,
                            shuffle=False, verbose=0)
    return initial, distiller.student.get_weights(), history.history["loss"]


def test_two_workers_match_one_process(killed_then_resumed, single_process):
    run = killed_then_resumed
    (w0, _, workers), (w1, _, _) = load(run["root"] / "w0.npz"), load(run["root"] / "w1.npz")
    assert workers == 2
    for a, b in zip(w0, w1):
        np.testing.assert_array_equal(a, b)
    initial, reference, reference_loss = single_process
    assert max(np.abs(a - b).max() for a, b in zip(w0, initial)) > 1e-2  # it trained
    for a, b in zip(w0, reference):
        np.testing.assert_allclose(a, b, atol=1e-5)
    # Epoch 1 ran in the first launch, epochs 2 and 3 in the second; every
    # epoch's loss on every worker is the single process's.
    for worker in (0, 1):
        first_losses = run["first"]["logs"][worker][1]
        second_losses = run["second_logs"][worker][1]
        assert sorted(first_losses) == [0] and sorted(second_losses) == [1, 2]
        losses = [first_losses[0], second_losses[1], second_losses[2]]
        np.testing.assert_allclose(losses, reference_loss, rtol=1e-5)


def test_a_killed_worker_resumes_at_the_last_finished_epoch(killed_then_resumed):
    run = killed_then_resumed
    first, _ = run["codes"]
    assert first[1] == 17 and first[0] != 0
    assert not run["first"]["export_exists"]
    assert "w0.npz" not in run["first"]["outputs"] and "w1.npz" not in run["first"]["outputs"]
    steps_first = [run["first"]["logs"][w][0] for w in (0, 1)]
    epoch_one = [(0, s) for s in range(STEPS)]
    # Worker 1 died after epoch 1 and two steps of epoch 2; its peer got no further.
    assert steps_first[1] == epoch_one + [(1, 0), (1, 1)]
    assert steps_first[0][:STEPS] == epoch_one and len(steps_first[0]) <= STEPS + 2
    # The resumed run skips epoch 1 (backed up) and redoes epoch 2 from its
    # first step: exactly the remaining 2 epochs, on both workers.
    remaining = [(e, s) for e in (1, 2) for s in range(STEPS)]
    assert [run["second_logs"][w][0] for w in (0, 1)] == [remaining, remaining]


def test_a_kill_inside_export_leaves_no_half_written_student(killed_then_resumed, single_process):
    run = killed_then_resumed
    export = run["export"]
    assert run["codes"][1][0] == 18  # worker 0 died while writing saved_model.pb
    # The output folder holds no student, only the writer's hidden scratch
    # folder with the half-written graph in it.
    entries = os.listdir(export.parent)
    assert "student" not in entries
    (scratch,) = entries
    assert scratch.startswith(".student.tmp-")
    half = export.parent / scratch / "student" / "saved_model.pb"
    assert 0 < half.stat().st_size
    assert not tf.saved_model.contains_saved_model(str(export))
    # The next export to the same place removes the dead writer's leftovers.
    keras.backend.clear_session()
    sys.path.insert(0, os.path.dirname(JOB))
    import multi_worker_job as job

    student = job.build().student
    student.set_weights(load(run["root"] / "w0.npz")[0])
    export_saved_model(student, export)
    assert os.listdir(export.parent) == ["student"]
    x, _ = job.data()
    loaded = tf.saved_model.load(str(export))
    served = loaded.serve(tf.constant(x)).numpy()
    np.testing.assert_allclose(served, student.predict(x, verbose=0), rtol=1e-6, atol=1e-6)


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
