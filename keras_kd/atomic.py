"""Write a file or folder under a temporary name, then move it into place."""

import contextlib
import os
import shutil
import tempfile


@contextlib.contextmanager
def atomic_path(path):
    """Yields a temporary path beside `path` and moves it to `path` on success.

    A failure (an exception, a killed process) leaves `path` as it was: either
    absent or the previous complete version. The temporary sibling is removed
    on an exception; one left by a killed process starts with `.` and
    `.tmp-`, and is never mistaken for the result.

    Args:
        path: String or path-like, the final file or folder.

    Yields:
        String, a path in the same folder that does not exist yet.

    Example:

    ```python
    with atomic_path("saved_models/student") as tmp:
        model.export(tmp)
    ```
    """
    path = os.path.abspath(os.fspath(path))
    parent = os.path.dirname(path)
    os.makedirs(parent, exist_ok=True)
    workdir = tempfile.mkdtemp(prefix=f".{os.path.basename(path)}.tmp-", dir=parent)
    tmp = os.path.join(workdir, os.path.basename(path))
    try:
        yield tmp
        if not os.path.exists(tmp):
            raise FileNotFoundError(f"Nothing was written to {tmp}.")
        _replace(tmp, path, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _replace(tmp, path, workdir):
    if os.path.isdir(path) and not os.path.islink(path):
        # A folder cannot be replaced in one rename: move the old one aside
        # first so that `path` is complete at every moment but one rename.
        old = os.path.join(workdir, "old")
        os.rename(path, old)
        os.rename(tmp, path)
    else:
        os.replace(tmp, path)
