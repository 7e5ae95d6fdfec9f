"""Overfitting check: unconditional loss on training vs validation molecules, per checkpoint.

    python benchmarks/overfit.py [CHECKPOINT ...] [--n 2000]

The same fixed-noise, fp32, all-groups-unspecified loss that training logs as ``val_*``, on the
first n molecules of the training and of the validation split. A gap (val − train) above 0.03
is the signal to test remedies (benchmarks/remedies.py). Appends rows to
benchmarks/results/overfit.csv and rewrites overfit.md from all its rows.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import torch

from inertialar.data.tokenset import load_split
from inertialar.files import results_dir
from inertialar.nn.checkpoint import load_checkpoint
from inertialar.training.evaluation import validation_loss

ROOT = Path(__file__).resolve().parent.parent

FIELDS = ["checkpoint", "steps", "epochs", "device", "n", "train_loss", "val_loss", "gap", "train_ce", "val_ce",
          "train_diffusion", "val_diffusion"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoints", nargs="*", help="none: only rewrite overfit.md from overfit.csv")
    parser.add_argument("--n", type=int, default=2000)
    args = parser.parse_args()
    out = results_dir() / "overfit.csv"
    new = not out.exists()
    with out.open("a", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=FIELDS)
        if new:
            writer.writeheader()
        for path in args.checkpoints:
            model, meta = load_checkpoint(path)
            train_ts, valid_ts = load_split("train", model.cfg.dataset), load_split("valid", model.cfg.dataset)
            cpu = torch.device("cpu")
            tr = validation_loss(model, train_ts, cpu, args.n, prefix="train")
            va = validation_loss(model, valid_ts, cpu, args.n)
            row = {"checkpoint": Path(path).name, "steps": meta.get("steps"), "epochs": round(meta.get("epochs", 0), 2),
                   "device": meta.get("device"), "n": args.n, "gap": round(va["val_loss"] - tr["train_loss"], 4),
                   **{k: round(v, 4) for k, v in (tr | va).items() if k in FIELDS}}
            writer.writerow(row)
            f.flush()  # a row per checkpoint survives an interrupted run
            print(row, flush=True)
    with out.open() as f:
        rows = list(csv.DictReader(f))
    lines = ["# Overfitting: unconditional loss, training vs validation molecules", "",
             f"Command: `python benchmarks/overfit.py CHECKPOINT … --n {args.n}` (fp32, fixed noise, CPU).", "",
             "| checkpoint | steps | epochs | trained on | train loss | val loss | gap | train CE | val CE "
             "| train diffusion | val diffusion |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    lines += [f"| {r['checkpoint']} | {r['steps']} | {r['epochs']} | {r['device']} | {r['train_loss']} | {r['val_loss']} "
              f"| {r['gap']} | {r['train_ce']} | {r['val_ce']} | {r['train_diffusion']} | {r['val_diffusion']} |"
              for r in rows]
    (out.parent / "overfit.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
