"""Chemist-grade plausibility: generated vs QM9 test molecules, raw vs refined (MMFF94, GFN2-xTB).

    python benchmarks/plausibility.py [--checkpoint assets/inertialar_qm9.pt] [--n 100] [--n-qm9 300]

1. QM9 test split (first ``--n-qm9`` molecules, B3LYP geometries): ``python -m inertialar evaluate
   qm9.xyz --json --plausibility`` (the CLI itself: EDM metrics + PoseBusters ``mol`` config).
2. ``--n`` generated molecules at CLI defaults (``python -m inertialar sample --n N --seed 0``), the
   same evaluation; then the same molecules refined with MMFF94 and with GFN2-xTB
   (``inertialar.chem.refine`` defaults) and evaluated again: refined rows are always labelled so.
3. GFN2-xTB energy drop and heavy-atom RMSD for generated and for QM9 molecules (the method floor).

Every molecule counts everywhere: a molecule that cannot be refined stays in its refined set
unrefined. EDM metrics use EDM's distance table; PoseBusters uses bonds perceived by RDKit
(``inertialar.chem.bonds``), the same perceiver for every set.
Writes benchmarks/results/{plausibility.json, plausibility.md}; ``--update mmff`` re-measures one
method's refined rows only (the full run takes ≈ 45 min on 2 busy cores, mostly PoseBusters' energy check).
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from inertialar.chem.molecule import read_molecules, to_xyz, write_text
from inertialar.chem.plausibility import CHECKS
from inertialar.chem.refine import RefineSettings, refine_all, summarize
from inertialar.data.qm9 import load_qm9_raw, split_rows
from inertialar.files import results_dir

ROOT = Path(__file__).resolve().parent.parent

RESULTS = results_dir()


def evaluate_cli(path: Path) -> dict:
    proc = subprocess.run([sys.executable, "-m", "inertialar", "evaluate", str(path), "--json", "--plausibility"],
                          check=True, capture_output=True, text=True, cwd=ROOT)
    return json.loads(proc.stdout)


def refined_set(molecules, method: str, folder: Path, evaluate: bool = True) -> tuple[dict | None, dict]:
    """(evaluation of the refined set or None, refinement summary with seconds)."""
    t0 = time.perf_counter()
    done = refine_all(molecules, RefineSettings(method))
    seconds = time.perf_counter() - t0
    path = folder / f"{method}.xyz"
    write_text(path, to_xyz([r.molecule for r in done]))
    return evaluate_cli(path) if evaluate else None, {**summarize(done), "seconds": round(seconds, 1)}


def pct(value) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def num(value, fmt: str) -> str:
    return "n/a" if value is None else format(value, fmt)


def generate(n: int, checkpoint: str | None, folder: Path):
    cmd = [sys.executable, "-m", "inertialar", "sample", "--n", str(n), "--seed", "0",
           "--out", str(folder / "gen.xyz")] + (["--checkpoint", checkpoint] if checkpoint else [])
    subprocess.run(cmd, check=True, cwd=ROOT, capture_output=True)
    return read_molecules(folder / "gen.xyz")


def measure(args, folder: Path) -> dict:
    rows: dict[str, dict] = {}
    refine: dict[str, dict] = {}
    qm9 = load_qm9_raw(split_rows("test")[: args.n_qm9]).molecules
    write_text(folder / "qm9.xyz", to_xyz(qm9))
    rows["QM9 test (raw B3LYP)"] = evaluate_cli(folder / "qm9.xyz")
    generated = generate(args.n, args.checkpoint, folder)
    rows["generated (raw)"] = evaluate_cli(folder / "gen.xyz")
    for method in ("mmff", "xtb"):
        rows[f"generated, refined {method}"], refine[f"generated, {method}"] = refined_set(generated, method, folder)
    _, refine["QM9 test, xtb"] = refined_set(qm9[: args.n], "xtb", folder, evaluate=False)
    machine = f"{platform.machine()}, {platform.processor() or 'cpu'}; 2 shared cores"
    return {"sets": rows, "refinement": refine, "machine": machine, "n_generated": args.n, "n_qm9": args.n_qm9}


def report(data: dict, checkpoint: str | None) -> str:
    rows, refine = data["sets"], data["refinement"]
    lines = ["# Plausibility: generated vs QM9, raw vs refined", "",
             f"Command: `python benchmarks/plausibility.py --n {data['n_generated']} --n-qm9 {data['n_qm9']}` "
             f"(checkpoint: {checkpoint or 'assets/inertialar_qm9.pt'}; CLI defaults, seed 0)"
             + (f"; rows of {', '.join(data['updated'])} refreshed with `--update`." if data.get("updated") else "."), "",
             "EDM columns: EDM's distance-table bonds. PoseBusters columns (`mol` config, 0.6.5): bonds perceived "
             "from the coordinates by RDKit `DetermineBonds` (Hückel fallback, EDM table last), the same perceiver "
             "for every row. Every molecule counts. **Raw rows are the headline; refined rows are post-processed.**", "",
             "| set | n | EDM mol. stab. | EDM validity | PoseBusters all pass |", "|---|---|---|---|---|"]
    lines += [f"| {name} | {r['n']} | {pct(r['mol_stability'])} | {pct(r['validity'])} | {pct(r['posebusters_all_pass'])} |"
              for name, r in rows.items()]
    lines += ["", "## PoseBusters pass rate per check", "", "| check | " + " | ".join(rows) + " |",
              "|---|" + "---|" * len(rows)]
    lines += [f"| {c} | " + " | ".join(pct(r["posebusters_checks"][c]) for r in rows.values()) + " |" for c in CHECKS]
    lines += ["", "## Refinement (per-molecule caps: 2,000 MMFF iterations or 300 xTB steps, 10 s)", "",
              "| set, method | refined | not refined | median energy drop (kcal/mol) | median heavy-atom RMSD (Å) | "
              "connectivity kept | seconds |", "|---|---|---|---|---|---|---|"]
    lines += [f"| {name} | {s['refined']} | {s['failed']} | {num(s['median_energy_drop_kcal_mol'], '.1f')} | "
              f"{num(s['median_rmsd_heavy_A'], '.3f')} | {pct(s['connectivity_kept'])} | {s['seconds']} |"
              for name, s in refine.items()]
    lines += ["", f"Machine: {data['machine']}."]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default=None)
    parser.add_argument("--n", type=int, default=100, help="generated molecules")
    parser.add_argument("--n-qm9", type=int, default=300, help="QM9 test molecules")
    parser.add_argument("--update", choices=["mmff", "xtb"], default=None,
                        help="re-measure only this method's refined rows of the committed plausibility.json")
    args = parser.parse_args()
    RESULTS.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        if args.update:
            data = json.loads((RESULTS / "plausibility.json").read_text())
            args.n = data["n_generated"]
            generated = generate(args.n, args.checkpoint, folder)
            data["sets"][f"generated, refined {args.update}"], data["refinement"][f"generated, {args.update}"] = \
                refined_set(generated, args.update, folder)
            data["updated"] = sorted(set(data.get("updated", [])) | {args.update})
        else:
            data = measure(args, folder)
    (RESULTS / "plausibility.json").write_text(json.dumps(data, indent=2) + "\n")
    text = report(data, args.checkpoint)
    (RESULTS / "plausibility.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
