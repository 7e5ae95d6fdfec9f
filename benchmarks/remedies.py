"""Overfitting remedies on a small CPU test bed: the unconditional train/validation gap per remedy.

    python benchmarks/remedies.py [--limit-train 500] [--epochs 150]

Each run trains a small model (width 128, 4 layers, head 128×2) on the first ``--limit-train``
training molecules with ``python -m inertialar train`` and the same seed, then reads the final
record of its log: unconditional loss on its (first ≤ 2,000) training molecules and on
2,000 validation molecules. Two runs go side by side (one thread each) on the 2-core CPU.
Writes benchmarks/results/remedies.{csv,md}.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from inertialar.files import results_dir

ROOT = Path(__file__).resolve().parent.parent
RESULTS = results_dir()
REMEDIES = {  # name → extra train flags
    "baseline": [],
    "axis-sign flips p=0.5": ["--flip-prob", "0.5"],
    "context jitter 0.05 Å": ["--jitter", "0.05"],
    "weight decay 0.05": ["--weight-decay", "0.05"],
    "fewer labels (drop 0.8)": ["--p-drop-group", "0.8"],
}
SMALL = ["--width", "128", "--depth", "4", "--heads", "4", "--head-width", "128", "--head-depth", "2",
         "--batch-tokens", "2560", "--lr", "1e-3", "--eval-every", "1e9"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit-train", type=int, default=500)
    parser.add_argument("--epochs", type=float, default=150)
    args = parser.parse_args()
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        names = list(REMEDIES)
        for lo in range(0, len(names), 2):  # two at a time, one thread each
            procs = {}
            for name in names[lo:lo + 2]:
                run = Path(tmp) / name.replace(" ", "_")
                cmd = [sys.executable, "-m", "inertialar", "train", "--run-dir", str(run), "--epochs", str(args.epochs),
                       "--limit-train", str(args.limit_train), *SMALL, *REMEDIES[name]]
                procs[name] = (run, subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                                                     stderr=subprocess.PIPE, text=True))
            for name, (run, proc) in procs.items():
                _, err = proc.communicate()
                if proc.returncode:
                    raise SystemExit(f"{name}: train failed: {err.strip().splitlines()[-1]}")
                final = [json.loads(x) for x in (run / "log.jsonl").read_text().splitlines()][-1]
                rows.append({"remedy": name, "flags": " ".join(REMEDIES[name]), "steps": final["step"],
                             "train_loss": final["train_loss"], "val_loss": final["val_loss"], "gap": final["gap"],
                             "val_ce": final["val_ce"], "val_diffusion": final["val_diffusion"]})
                print(rows[-1], flush=True)
    with (RESULTS / "remedies.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    lines = ["# Overfitting remedies (CPU test bed)", "",
             f"Command: `python benchmarks/remedies.py --limit-train {args.limit_train} --epochs {args.epochs:g}` "
             "(width 128, 4 layers, head 128×2; unconditional losses, 2,000 molecules each).", "",
             "| remedy | flags | steps | train loss | val loss | gap | val CE | val diffusion |",
             "|---|---|---|---|---|---|---|---|"]
    lines += [f"| {r['remedy']} | `{r['flags'] or '–'}` | {r['steps']} | {r['train_loss']:.4f} | {r['val_loss']:.4f} | "
              f"{r['gap']:.4f} | {r['val_ce']:.4f} | {r['val_diffusion']:.4f} |" for r in rows]
    (RESULTS / "remedies.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
