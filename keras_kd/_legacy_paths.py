"""The module paths of keras_kd 0.1's flat layout, kept working for one release.

`import keras_kd.distiller` (or `keras_kd.distiller` as an attribute) gives
the module that now holds that code, with a `DeprecationWarning` naming the
new path. Remove this file, and its import in `__init__`, in 0.3.
"""

import importlib
import importlib.abc
import importlib.util
import sys
import warnings

# Old module -> the module that holds its code now.
MOVED = {
    "architectures": "recipes.architectures",
    "augmentation": "caching.pipelines",
    "augmented_cache": "caching.augmented_epochs",
    "checks": "distillers.checks",
    "cli": "app.cli",
    "data": "recipes.data",
    "distiller": "distillers.distiller",
    "export": "models.export",
    "hints": "distillers.hints",
    "launch": "distribute.launch",
    "mutual": "distillers.mutual",
    "progress": "callbacks.epoch_progress",
    "replicas": "distribute.replicas",
    "report": "app.report",
    "self_distillation": "distillers.self_distillation",
    "strategies": "distribute.strategies",
    "targets": "caching.targets",
    "teacher_cache": "caching.teacher_cache",
    "tflite": "models.tflite",
    "trainer": "distillers.trainer",
    "workflow": "app.distill",
}
# `keras_kd.atomic`, `keras_kd.callbacks` and `keras_kd.models` are still
# real: the last two are packages that re-export the old modules' names.


def load(old_name):
    """The module now at the new path of `old_name` ("keras_kd.distiller"), with a warning."""
    new_name = "keras_kd." + MOVED[old_name.split(".", 1)[1]]
    warnings.warn(
        f"{old_name} moved to {new_name}; the old path goes away in keras_kd 0.3.",
        DeprecationWarning, stacklevel=3,
    )
    return importlib.import_module(new_name)


class _Finder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, fullname, path, target=None):
        prefix, _, leaf = fullname.partition(".")
        if prefix != "keras_kd" or leaf not in MOVED:
            return None
        return importlib.util.spec_from_loader(fullname, self)

    def create_module(self, spec):
        return load(spec.name)

    def exec_module(self, module):
        pass  # the new module has run already


if not any(isinstance(f, _Finder) for f in sys.meta_path):
    sys.meta_path.insert(0, _Finder())
