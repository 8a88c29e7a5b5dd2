"""Local multi-worker runs: N processes on 127.0.0.1, each with its `TF_CONFIG`."""

import json
import os
import socket
import subprocess
import sys
import threading


def free_ports(count):
    """`count` TCP ports on 127.0.0.1 that were free a moment ago."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def tf_config(ports, index):
    """The `TF_CONFIG` of worker `index` in a cluster of local `ports`.

    On real machines use their host names instead of 127.0.0.1: every worker
    gets the same `cluster` and its own `task.index`, 0 being the chief.
    """
    return json.dumps(
        {
            "cluster": {"worker": [f"127.0.0.1:{port}" for port in ports]},
            "task": {"type": "worker", "index": index},
        }
    )


def start_workers(command, workers, ports=None, env=None):
    """Starts `workers` processes of `command`, each with its `TF_CONFIG`.

    Args:
        command: List of strings, the program and its arguments.
        workers: Integer, the number of workers.
        ports: List of integers or None for free ones.
        env: Dict of extra environment variables.

    Returns:
        `(processes, ports)`.
    """
    ports = ports or free_ports(workers)
    processes = []
    for index in range(workers):
        worker_env = dict(os.environ, **(env or {}), TF_CONFIG=tf_config(ports, index))
        processes.append(
            subprocess.Popen(
                command, env=worker_env, stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT, text=True, bufsize=1,
            )
        )
    return processes, ports


def run_workers(command, workers, env=None, output=None, timeout=None):
    """Runs `command` as `workers` local workers until all end or one fails.

    Each line a worker prints is streamed with a `[worker i]` prefix. When a
    worker exits with an error the others are stopped, since the collective
    operations of the rest would otherwise wait for it.

    Args:
        command: List of strings, the program and its arguments.
        workers: Integer, at least 1.
        env: Dict of extra environment variables.
        output: File to stream to; defaults to `sys.stdout`.
        timeout: Seconds, or None. Workers still running then are stopped.

    Returns:
        List of exit codes, one per worker.

    Example:

    ```python
    codes = run_workers([sys.executable, "train.py"], workers=2)
    ```
    """
    if workers < 1:
        raise ValueError(f"`workers` must be at least 1, got {workers}.")
    output = output or sys.stdout
    processes, _ = start_workers(command, workers, env=env)
    lock = threading.Lock()
    failed = threading.Event()

    def pump(index, process):
        for line in process.stdout:
            with lock:
                output.write(f"[worker {index}] {line}")
                output.flush()
        if process.wait() != 0:
            failed.set()

    threads = [
        threading.Thread(target=pump, args=(i, p), daemon=True) for i, p in enumerate(processes)
    ]
    for thread in threads:
        thread.start()
    deadline = None if timeout is None else _now() + timeout
    while any(p.poll() is None for p in processes):
        if failed.wait(0.2) or (deadline is not None and _now() > deadline):
            for process in processes:
                if process.poll() is None:
                    process.kill()
            break
    for thread in threads:
        thread.join(timeout=5)
    return [p.wait() for p in processes]


def _now():
    import time

    return time.monotonic()
