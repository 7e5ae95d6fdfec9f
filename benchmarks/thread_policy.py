"""Quiet vs loaded: ``sample --n 1000`` at the defaults, alone and beside one busy process.

    python benchmarks/thread_policy.py [--n 1000] [--policies auto,ACTIVE,PASSIVE,threads1]

"Beside one busy process" is a single-threaded Python busy loop started just before the command
(the situation of a laptop with one other job, or a job beside a benchmark). ``auto`` is what the
CLI does by itself (``inertialar.runtime``: PASSIVE waiting when the machine is busy at start-up,
OpenMP's default otherwise); the others force one setting for comparison. Each row: whole-process
seconds, quiet and loaded, and loaded / quiet. Writes benchmarks/results/thread_policy.{csv,md}.
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from inertialar.files import results_dir

ROOT = Path(__file__).resolve().parent.parent
RESULTS = results_dir()
POLICIES = {"auto": {}, "ACTIVE": {"OMP_WAIT_POLICY": "ACTIVE"}, "PASSIVE": {"OMP_WAIT_POLICY": "PASSIVE"},
            "threads1": {"INERTIALAR_TORCH_THREADS": "1"}}


def run(n: int, env_extra: dict, busy: bool) -> float:
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "INERTIALAR_TORCH_THREADS")}
    env.update(env_extra)
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if busy else None
    try:
        if hog is not None:
            time.sleep(1.0)  # the other process is running before the command starts
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-m", "inertialar", "sample", "--n", str(n), "--out",
                            str(Path(tmp) / "s.xyz")], check=True, capture_output=True, cwd=ROOT, env=env)
            return time.perf_counter() - t0
    finally:
        if hog is not None:
            hog.kill()
            hog.wait()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=1000)
    p.add_argument("--policies", default="auto,ACTIVE,PASSIVE,threads1")
    args = p.parse_args()
    rows = []
    for name in args.policies.split(","):
        quiet, loaded = run(args.n, POLICIES[name], False), run(args.n, POLICIES[name], True)
        rows.append({"policy": name, "n": args.n, "quiet_s": round(quiet, 1), "loaded_s": round(loaded, 1),
                     "loaded_over_quiet": round(loaded / quiet, 2)})
        print(rows[-1], flush=True)
    with (RESULTS / "thread_policy.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    best_quiet = min(r["quiet_s"] for r in rows)
    lines = ["# CPU thread policy: quiet vs beside one busy process", "",
             f"Command: `python benchmarks/thread_policy.py --n {args.n}` on {platform.machine()} × {os.cpu_count()} "
             "cores; `python -m inertialar sample --n N` at the defaults (the fast mode), whole process.", "",
             "| policy | quiet (s) | beside a busy process (s) | loaded / its quiet | loaded / best quiet |",
             "|---|---|---|---|---|"]
    lines += [f"| {r['policy']} | {r['quiet_s']} | {r['loaded_s']} | {r['loaded_over_quiet']}× | "
              f"{r['loaded_s'] / best_quiet:.2f}× |" for r in rows]
    lines += ["", "auto = what the CLI does (inertialar/runtime.py); the others force OMP_WAIT_POLICY or one thread."]
    (RESULTS / "thread_policy.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
