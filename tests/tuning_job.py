"""One process of the distributed-tuning test (KERASTUNER_* set by the test; not a test module).

    python tests/tuning_job.py TEACHER.keras DIRECTORY OUT.json [KILL_AT_TRIAL]

With KILL_AT_TRIAL the process kills itself as that trial starts.
"""

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.modules.setdefault("jax", None)  # as in conftest.py: TensorFlow would import the unused JAX

import keras  # noqa: E402

from keras_kd.recipes import architectures
from keras_kd.recipes import data
from keras_kd import tuning  # noqa: E402
from helpers import without_graph_optimizer  # noqa: E402

without_graph_optimizer()  # as in the test process (conftest.py)


def main():
    teacher_path, directory, out = sys.argv[1:4]
    kill_at = int(sys.argv[4]) if len(sys.argv) > 4 else None
    ran = []
    fit = tuning.DistillerHyperModel.fit

    def counting_fit(self, hp, model, *args, **kwargs):
        ran.append(dict(hp.values))
        if kill_at is not None and len(ran) == kill_at:
            os._exit(17)  # killed mid-search: no clean-up runs
        return fit(self, hp, model, *args, **kwargs)

    tuning.DistillerHyperModel.fit = counting_fit
    if os.environ.get("KERASTUNER_TUNER_ID") == "chief":
        # Keras Tuner's chief polls for departed workers every 20 s; poll
        # every 0.5 s instead so the test does not wait (nothing else changes).
        import time
        import types

        from keras_tuner.src.distribute import oracle_chief

        oracle_chief.time = types.SimpleNamespace(sleep=lambda s: time.sleep(min(s, 0.5)))
    report = search(keras.saving.load_model(teacher_path, compile=False), directory)
    report.update(tuner_id=os.environ.get("KERASTUNER_TUNER_ID"), ran=ran)
    with open(out + ".tmp", "w") as f:
        json.dump(report, f)
    os.replace(out + ".tmp", out)


def search(teacher, directory):
    """The search every process of the test runs; its result as a JSON-ready dict."""
    digits = data.load_digits()
    result = tuning.search(
        lambda: architectures.build("mlp-tiny", (64,), 10), teacher,
        (digits.x_train, digits.y_train), (digits.x_test, digits.y_test), tuner="random",
        max_trials=3, epochs=2, directory=directory, project_name="dist", learning_rate=3e-3,
    )
    if result is None:  # a worker of a distributed search: the chief reports
        return {}
    return dict(best=result.best_hyperparameters, best_score=result.best_score,
                table=result.table)


if __name__ == "__main__":
    main()
