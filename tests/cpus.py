"""How many CPUs the tests may use (no TensorFlow here: pytest-xdist's controller imports it)."""

import math
import os


def usable_cpus(affinity=None, cgroup="/sys/fs/cgroup"):
    """CPUs this process may use: its affinity mask, capped by a cgroup v2 or v1 CPU quota.

    Args:
        affinity: Number of CPUs in the affinity mask, or None to ask the OS.
        cgroup: The cgroup file system's mount point.
    """
    if affinity is None:
        affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    for files in (("cpu.max",), ("cpu/cpu.cfs_quota_us", "cpu/cpu.cfs_period_us")):
        try:
            fields = []
            for name in files:
                with open(os.path.join(cgroup, name)) as f:
                    fields += f.read().split()
            quota, period = fields[0], fields[1]
        except (OSError, IndexError):
            continue
        if quota not in ("max", "-1"):
            affinity = min(affinity, math.ceil(int(quota) / int(period)))
        break
    return max(1, affinity)
