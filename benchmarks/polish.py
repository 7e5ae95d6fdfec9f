"""Choose and check the polish: σ₀ and Heun steps on a validation pool, then real molecules.

1. Validation pool (seed 77, never the frontier's 123): ``fast`` draws of the shipped model,
   unpolished, then polished at each (σ₀, steps) of a small grid: EDM metrics, the share of
   molecules whose covalent-radius connectivity changed, median heavy-atom RMSD, polish speed.
2. Real molecules: QM9 test molecules with Gaussian noise (0.1 Å per coordinate, seed 5),
   polished from σ₀ = 0.1 Å and at the chosen defaults: EDM stability and the median heavy-atom
   RMSD to the clean geometry; the clean molecules' own stability for reference.

    python benchmarks/polish.py [--polisher assets/polisher_qm9.pt] [--n 500] [--real 1000]

Writes ``polish.csv`` and ``polish.md`` in the results folder.
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

import numpy as np

from inertialar.chem.metrics import evaluate
from inertialar.chem.molecule import Molecule
from inertialar.chem.refine import compare_geometry
from inertialar.data.tokenset import load_split
from inertialar.files import results_dir
from inertialar.nn.checkpoint import DEFAULT_POLISHERS, load_checkpoint, load_polisher
from inertialar.sampling.modes import mode_settings
from inertialar.sampling.polish import POLISH_SIGMA, POLISH_STEPS, polish
from inertialar.sampling.sampler import sample

GRID = [(0.1, 2), (0.15, 2), (0.2, 2), (0.1, 3), (0.15, 3), (0.2, 3), (0.3, 3), (0.15, 4), (0.2, 4), (0.3, 4), (0.2, 6), (0.3, 6)]


def movement(raw: list[Molecule], moved: list[Molecule]) -> tuple[float, float]:
    """(share of molecules whose connectivity changed, median heavy-atom RMSD Å)."""
    out = [compare_geometry(r, m.coords)[1:] for r, m in zip(raw, moved, strict=True)]
    return float(np.mean([not kept for _, kept in out])), float(np.median([rmsd for rmsd, _ in out]))


def row(label: str, mols: list[Molecule], raw: list[Molecule] | None, seconds: float | None) -> dict:
    m = evaluate(mols)
    changed, rmsd = movement(raw, mols) if raw is not None else (float("nan"), float("nan"))
    return {"set": label, "n": m["n"], "atom_stability": m["atom_stability"], "mol_stability": m["mol_stability"],
            "validity": m["validity"], "uniqueness": m["uniqueness"], "valid_x_unique": m["valid_x_unique"],
            "connectivity_changed": changed, "median_rmsd_heavy_A": rmsd,
            "polish_molecules_per_s": (len(mols) / seconds) if seconds else float("nan")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--polisher", default=str(DEFAULT_POLISHERS["qm9"]))
    ap.add_argument("--n", type=int, default=500)
    ap.add_argument("--real", type=int, default=1000)
    args = ap.parse_args()
    model, _ = load_checkpoint()
    polisher, meta = load_polisher(args.polisher)
    rows = []
    pool = sample(model, mode_settings("fast", n=args.n, seed=77, polish=False)).molecules
    rows.append(row("validation pool, unpolished", pool, None, None))
    for sigma0, steps in GRID:
        t = time.perf_counter()
        done = polish(polisher, pool, sigma0, steps).molecules
        rows.append(row(f"validation pool, σ₀ {sigma0:g} Å, {steps} steps", done, pool, time.perf_counter() - t))
        print(rows[-1])
    test = load_split("test", "qm9")
    rng = np.random.default_rng(5)
    idx = rng.choice(len(test), size=min(args.real, len(test)), replace=False)
    clean = [test.molecule(int(k)) for k in idx]
    noisy = [Molecule(m.elements, m.coords + rng.normal(0, 0.1, m.coords.shape), m.title) for m in clean]
    rows.append(row("QM9 test, clean", clean, None, None))
    rows.append(row("QM9 test + 0.1 Å noise", noisy, clean, None))
    for sigma0, steps in ((0.1, 4), (POLISH_SIGMA, POLISH_STEPS)):
        t = time.perf_counter()
        done = polish(polisher, noisy, sigma0, steps).molecules
        rows.append(row(f"QM9 test + 0.1 Å noise, polished σ₀ {sigma0:g} Å, {steps} steps", done, clean,
                        time.perf_counter() - t))
        print(rows[-1])
    out = results_dir()
    with (out / "polish.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    lines = ["# Polish: σ₀ and steps on a validation pool, then real molecules\n",
             f"Polisher `{Path(args.polisher).name}` ({meta.get('parameters', '?')} parameters, "
             f"{meta.get('epochs', 0):.1f} epochs, "
             f"{meta.get('wall_minutes', 0):.0f} min on the CPU). Command: `python benchmarks/polish.py --n {args.n} "
             f"--real {args.real}` (2-core CPU). RMSD and connectivity: against the unpolished pool, or against the "
             "clean geometry for the noisy test molecules.\n",
             "| set | n | atom stab. | mol. stab. | valid | unique | V×U | connectivity changed "
             "| median RMSD heavy (Å) | polish mol/s |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['set']} | {r['n']} | {r['atom_stability']:.1%} | {r['mol_stability']:.1%} | {r['validity']:.1%} | "
                     f"{r['uniqueness']:.1%} | {r['valid_x_unique']:.1%} | {r['connectivity_changed']:.1%} | "
                     f"{r['median_rmsd_heavy_A']:.3f} | {r['polish_molecules_per_s']:.0f} |")
    (out / "polish.md").write_text("\n".join(lines).replace("| nan% |", "| – |").replace("| nan |", "| – |") + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
