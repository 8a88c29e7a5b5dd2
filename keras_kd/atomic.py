"""Write a file or folder under a temporary name, then move it into place."""

import contextlib
import os
import shutil
import socket
import tempfile
import zlib

# Temporary siblings are named ".<name>.tmp-<pid>.<host>-<random>", so that a
# later writer can tell one left by a killed process on this machine.
_HOST = format(zlib.crc32(socket.gethostname().encode()), "08x")


@contextlib.contextmanager
def atomic_path(path):
    """Yields a temporary path beside `path` and moves it to `path` on success.

    A failure (an exception, a killed process) leaves `path` as it was: either
    absent or the previous complete version. The temporary sibling is removed
    on an exception. One left by a killed process is hidden (its name starts
    with `.` and holds `.tmp-`), is never mistaken for the result, and is
    removed by the next write to `path` on the same machine.

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
    parent, name = os.path.split(path)
    os.makedirs(parent, exist_ok=True)
    remove_abandoned(parent, name)
    workdir = tempfile.mkdtemp(prefix=f".{name}.tmp-{os.getpid()}.{_HOST}-", dir=parent)
    tmp = os.path.join(workdir, name)
    try:
        yield tmp
        if not os.path.exists(tmp):
            raise FileNotFoundError(f"Nothing was written to {tmp}.")
        _replace(tmp, path, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def remove_abandoned(parent, name):
    """Deletes temporary siblings of `parent/name` whose writer has died.

    Only writers on this machine are judged; one that is still running (or
    another machine's, on a shared file system) is left alone.

    Args:
        parent: String, the folder.
        name: String, the final file or folder name.

    Returns:
        List of the removed paths.
    """
    prefix = f".{name}.tmp-"
    removed = []
    for entry in os.listdir(parent):
        if not entry.startswith(prefix):
            continue
        owner = entry[len(prefix):].split("-", 1)[0]
        pid, _, host = owner.partition(".")
        if host != _HOST or not pid.isdigit() or _alive(int(pid)):
            continue
        shutil.rmtree(os.path.join(parent, entry), ignore_errors=True)
        removed.append(os.path.join(parent, entry))
    return removed


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # Someone else's process.
        return True
    return True


def _replace(tmp, path, workdir):
    if os.path.isdir(path) and not os.path.islink(path):
        # A folder cannot be replaced in one rename: move the old one aside
        # first so that `path` is complete at every moment but one rename.
        old = os.path.join(workdir, "old")
        os.rename(path, old)
        os.rename(tmp, path)
    else:
        os.replace(tmp, path)
