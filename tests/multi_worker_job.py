"""One worker of the multi-worker tests (run with TF_CONFIG set; not a test module).

    python tests/multi_worker_job.py OUT.npz [--backup DIR] [--crash-at-step N]
        [--export DIR] [--crash-in-export] [--log FILE]

Distills with MultiWorkerMirroredStrategy on fixed data: worker i feeds its
half of every global batch of 16, so each step sees the same 16 examples as
a single-process run with batch 16. `--log` appends one JSON line per step
and per epoch this run executes; `--crash-in-export` kills worker 0 halfway
through writing the SavedModel.
"""

import argparse
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.modules.setdefault("jax", None)  # as in conftest.py: TensorFlow would import the unused JAX
# Keras imports scikit-learn (its wrappers) and pyplot (its visualization
# utilities) when they are installed; this job uses neither: 1.2 s per start.
sys.modules.setdefault("sklearn", None)
sys.modules.setdefault("matplotlib.pyplot", None)

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

GLOBAL_BATCH, EXAMPLES, EPOCHS = 16, 64, 3


def data():
    from helpers import tiny_data

    return tiny_data(n=EXAMPLES)


def build(strategy=None):
    import keras_kd
    from helpers import tiny_models

    scope = strategy.scope() if strategy else tf.distribute.get_strategy().scope()
    with scope:
        teacher, student = tiny_models(student_width=16, seed=7)
        distiller = keras_kd.Distiller(student, teacher, temperature=3.0, alpha=0.6)
        distiller.compile(keras.optimizers.SGD(0.5, momentum=0.5))
    return distiller


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--backup")
    parser.add_argument("--crash-at-step", type=int)
    parser.add_argument("--export")
    parser.add_argument("--crash-in-export", action="store_true")
    parser.add_argument("--log")
    args = parser.parse_args()
    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    from helpers import without_graph_optimizer

    without_graph_optimizer()  # as in the test process (conftest.py)
    index = json.loads(os.environ["TF_CONFIG"])["task"]["index"]
    workers = strategy.num_replicas_in_sync
    x, y = data()

    def dataset_fn(context):
        share = GLOBAL_BATCH // context.num_input_pipelines
        rows = [
            row
            for start in range(0, EXAMPLES, GLOBAL_BATCH)
            for row in range(start + context.input_pipeline_id * share,
                             start + (context.input_pipeline_id + 1) * share)
        ]
        return tf.data.Dataset.from_tensor_slices((x[rows], y[rows])).batch(share)

    distiller = build(strategy)
    callbacks = []
    if args.backup:
        # Keras 3's BackupAndRestore does not separate chief and workers;
        # workers sharing one folder race on it, so each gets its own.
        callbacks.append(keras.callbacks.BackupAndRestore(os.path.join(args.backup, f"worker{index}")))
    if args.log:
        callbacks.append(StepLog(f"{args.log}{index}.jsonl"))
    if args.crash_at_step is not None and index == 1:
        class Crash(keras.callbacks.Callback):
            steps = 0

            def on_train_batch_end(self, batch, logs=None):
                Crash.steps += 1
                if Crash.steps == args.crash_at_step:
                    os._exit(17)  # a killed process: no clean-up runs

        callbacks.append(Crash())
    history = distiller.fit(
        strategy.distribute_datasets_from_function(dataset_fn),
        epochs=EPOCHS, steps_per_epoch=EXAMPLES // GLOBAL_BATCH, verbose=0, callbacks=callbacks,
    )
    tmp = f"{args.out}.tmp.npz"
    np.savez(tmp, *distiller.student.get_weights(), loss=np.array(history.history["loss"]),
             workers=workers)
    os.replace(tmp, args.out)
    if args.export and index == 0:
        if args.crash_in_export:
            wait_for_peers(args.out, index, workers)
            crash_halfway_through_saving(distiller.student)
        distiller.export_student(args.export)
    print("done", index, flush=True)


class StepLog(keras.callbacks.Callback):
    """Appends {"epoch", "step"} per finished step and {"epoch", "loss"} per epoch."""

    def __init__(self, path):
        super().__init__()
        self.path = path

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        self._write({"epoch": self.epoch, "step": batch})

    def on_epoch_end(self, epoch, logs=None):
        self._write({"epoch": epoch, "loss": float(logs["loss"])})

    def _write(self, record):
        with open(self.path, "a") as f:
            f.write(json.dumps(record) + "\n")


def wait_for_peers(out, index, workers, timeout=120):
    """Waits until every worker has written its weights (OUT names differ by index)."""
    import time

    peers = [out.replace(f"{index}.npz", f"{i}.npz") for i in range(workers)]
    deadline = time.monotonic() + timeout
    while not all(os.path.exists(p) for p in peers) and time.monotonic() < deadline:
        time.sleep(0.1)


def crash_halfway_through_saving(model):
    """Makes `model.export` die, killed, with saved_model.pb half written."""
    export = model.export

    def export_then_die(filepath, *args, **kwargs):
        export(filepath, *args, **kwargs)
        graph = os.path.join(filepath, "saved_model.pb")
        with open(graph, "r+b") as f:
            f.truncate(os.path.getsize(graph) // 2)
        os._exit(18)  # killed mid-write: no clean-up runs

    model.export = export_then_die


if __name__ == "__main__":
    main()
