"""Sampler-settings sweep: quality and speed per (Heun steps, type temperature, coordinate temperature).

    python benchmarks/sampler_sweep.py [--checkpoint assets/inertialar_qm9.pt] [--n 300]

Unconditional samples, seed 1 (quality.py scores seed 0, so the defaults are not chosen on the
samples that measure them), every sample counted. Writes benchmarks/results/sampler_sweep.{csv,md};
the sampler defaults in ``inertialar.sampling.settings.SampleSettings`` are chosen from this table.
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

from inertialar.chem.metrics import evaluate
from inertialar.data.tokenset import train_smiles
from inertialar.files import results_dir
from inertialar.nn.checkpoint import load_checkpoint
from inertialar.sampling.sampler import sample
from inertialar.sampling.settings import SampleSettings

ROOT = Path(__file__).resolve().parent.parent

GRID = [  # (steps, type temperature, coordinate temperature)
    (18, 1.0, 1.0), (18, 1.0, 0.7), (18, 1.0, 0.5), (18, 1.0, 0.4), (18, 1.0, 0.3),
    (18, 0.8, 0.5), (18, 0.7, 0.5), (18, 0.7, 0.3), (18, 0.7, 0.2), (18, 0.5, 0.3),
    (10, 0.7, 0.3), (40, 0.7, 0.3), (18, 1.0, 0.2), (18, 0.5, 0.2), (18, 0.7, 0.1),
]


def pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default=None)
    parser.add_argument("--n", type=int, default=300)
    args = parser.parse_args()
    model, meta = load_checkpoint(args.checkpoint)
    try:
        known = train_smiles(model.cfg.dataset)
    except FileNotFoundError:
        known = None  # novelty needs the data cache (python -m inertialar data prepare)
    rows = []
    for steps, temp, coord_temp in GRID:
        t0 = time.perf_counter()
        res = sample(model, SampleSettings(n=args.n, seed=1, steps=steps, temperature=temp, coord_temperature=coord_temp))
        seconds = time.perf_counter() - t0
        m = evaluate(res.molecules, known)
        rows.append({"steps": steps, "temperature": temp, "coord_temperature": coord_temp, "n": args.n,
                     "atom_stability": m["atom_stability"], "mol_stability": m["mol_stability"],
                     "validity": m["validity"], "uniqueness": m["uniqueness"], "valid_x_unique": m["valid_x_unique"],
                     "novelty": m["novelty"],
                     "molecules_per_s": args.n / seconds})
        print(rows[-1], flush=True)
    out = results_dir()
    with (out / "sampler_sweep.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    lines = ["# Sampler sweep", "", f"Command: `python benchmarks/sampler_sweep.py --n {args.n}` "
             f"({meta.get('epochs', 0):.2f}-epoch checkpoint, unconditional, seed 1, CPU).", "",
             "| Heun steps | type T | coord. T | atom stab. | mol. stab. | validity | uniqueness | valid×unique "
             "| novelty | mol/s |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    lines += [f"| {r['steps']} | {r['temperature']} | {r['coord_temperature']} | {100 * r['atom_stability']:.1f}% | "
              f"{100 * r['mol_stability']:.1f}% | {100 * r['validity']:.1f}% | {100 * r['uniqueness']:.1f}% | "
              f"{100 * r['valid_x_unique']:.1f}% | {pct(r['novelty'])} | "
              f"{r['molecules_per_s']:.1f} |" for r in rows]
    (out / "sampler_sweep.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
