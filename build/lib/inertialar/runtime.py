"""CPU threading policy: how many intra-op threads torch uses, and how its OpenMP threads wait.

The machines this runs on are shared (a chemist's laptop, a classroom server, a job beside a
benchmark). Torch's OpenMP threads spin while they wait for work, so beside one other busy
process a 2-thread sampler fights it for both cores. Measured here (``sample --n 1000 --steps
10``, 2 cores, seconds; beside = one busy single-threaded Python loop):

| policy | quiet | beside a busy process |
|---|---|---|
| default / ACTIVE (spinning), 2 threads | 17.2 | 52.0 (3.0×) |
| PASSIVE (idle threads sleep), 2 threads | 28.5 | 32.2 |
| GOMP_SPINCOUNT 10k, 2 threads | 18.7 | 71.5 |
| 1 thread | 30.2 | 45.1 |

No one policy is best in both columns, so the choice is made on purpose, once, at start-up:
``choose_wait_policy`` reads /proc/stat for ``PROBE_S`` and, if other processes keep at least
``BUSY_CORES`` cores busy, asks for PASSIVE waiting (beside a busy process: 32.2 s = 1.9× the
quiet 17.2 s); on a quiet machine it keeps OpenMP's default (spin briefly, then sleep). The
policy must be in the environment before the OpenMP runtime loads, i.e. before torch is
imported: the CLI calls it first thing. A user's own ``OMP_WAIT_POLICY`` always wins.
``configure`` sets the thread count (all cores; ``$INERTIALAR_TORCH_THREADS`` overrides). The
app's sampling service runs one thread (``inertialar.sampling.service``). Re-measure with
``benchmarks/thread_policy.py`` (→ ``benchmarks/results/thread_policy.md``).
"""

from __future__ import annotations

import os
import time

THREADS_ENV = "INERTIALAR_TORCH_THREADS"
PROBE_S = 0.15  # s of /proc/stat sampling at start-up
BUSY_CORES = 0.5  # cores kept busy by others above which OpenMP threads should sleep, not spin


def _cpu_times() -> tuple[float, float] | None:
    """(busy, total) jiffies of all cores from /proc/stat, or None where there is none."""
    try:
        fields = [float(x) for x in open("/proc/stat").readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0.0)  # idle + iowait
    return sum(fields) - idle, sum(fields)


def busy_cores(seconds: float = PROBE_S) -> float | None:
    """How many cores other processes keep busy, sampled over ``seconds`` (None: unknown)."""
    a = _cpu_times()
    time.sleep(seconds)
    b = _cpu_times()
    if a is None or b is None or b[1] <= a[1]:
        return None
    return (b[0] - a[0]) / (b[1] - a[1]) * (os.cpu_count() or 1)


def choose_wait_policy() -> str:
    """Set ``OMP_WAIT_POLICY`` to PASSIVE when the machine is busy (call before importing torch);
    returns the policy in force ("default" when OpenMP's own is kept)."""
    if os.environ.get("OMP_WAIT_POLICY"):
        return os.environ["OMP_WAIT_POLICY"]
    busy = busy_cores()
    if busy is not None and busy >= BUSY_CORES:
        os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
        return "PASSIVE"
    return "default"


def threads(default: int | None = None) -> int:
    """The intra-op thread count: ``$INERTIALAR_TORCH_THREADS``, else ``default``, else all cores."""
    env = os.environ.get(THREADS_ENV, "")
    if env.strip():
        try:
            n = int(env)
        except ValueError:
            raise ValueError(f"{THREADS_ENV} must be a positive integer, got {env!r}") from None
        if n < 1:
            raise ValueError(f"{THREADS_ENV} must be a positive integer, got {env!r}")
        return n
    return default or os.cpu_count() or 1


def configure(default: int | None = None) -> int:
    """Set torch's intra-op threads by ``threads(default)``; returns the count."""
    import torch

    n = threads(default)
    torch.set_num_threads(n)
    return n
