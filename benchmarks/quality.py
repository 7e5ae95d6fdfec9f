"""Quality benchmark of a checkpoint: EDM metrics, functional-group control per CFG scale, distributions.

    python benchmarks/quality.py [--checkpoint assets/inertialar_qm9.pt] [--n 1000] [--per-cell 100]

1. ``--n`` molecules with the CLI's default settings (seed 0), sampled and scored by the CLI itself
   (``python -m inertialar sample`` then ``python -m inertialar evaluate --json``): every sample counts.
2. For every functional group and CFG scale (0, 1, 2, 3): ``--per-cell`` molecules asked to contain
   the group (seed 1); hit rate = valid molecules containing the group / all generated. Scale 0 is
   the unconditional model, so one scale-0 batch serves every group.
3. Generated vs QM9 test-split distributions: atom counts, element frequencies, bond lengths per
   bond type (EDM bonds) with the 1-D Wasserstein distance in Å.
Writes benchmarks/results/{quality.json, quality_cfg.csv, distributions.csv, quality.md}. PoseBusters
plausibility and refinement (raw vs MMFF94 vs GFN2-xTB) have their own table: benchmarks/plausibility.py.
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np
from tqdm import tqdm

from inertialar.chem.groups import GROUP_NAMES, hit_rate
from inertialar.chem.metrics import bond_lengths, edm_smiles, stability, wasserstein_1d
from inertialar.chem.molecule import Molecule, read_molecules
from inertialar.data.qm9 import load_qm9_raw, split_rows
from inertialar.data.specs import QM9_ELEMENTS as ELEMENTS
from inertialar.files import results_dir
from inertialar.nn.checkpoint import load_checkpoint
from inertialar.sampling.sampler import sample
from inertialar.sampling.settings import SampleSettings

ROOT = Path(__file__).resolve().parent.parent

RESULTS = results_dir()


def cli_default_metrics(n: int, checkpoint: str | None, out_xyz: Path) -> dict:
    cmd = [sys.executable, "-m", "inertialar", "sample", "--n", str(n), "--seed", "0", "--out", str(out_xyz)]
    if checkpoint:
        cmd += ["--checkpoint", checkpoint]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, cwd=ROOT)
    seconds = time.perf_counter() - t0
    proc = subprocess.run([sys.executable, "-m", "inertialar", "evaluate", str(out_xyz), "--json"], check=True,
                          capture_output=True, text=True, cwd=ROOT)
    shown = f"python -m inertialar sample --n {n} --seed 0 --out samples.xyz; python -m inertialar evaluate samples.xyz"
    return {**json.loads(proc.stdout), "sample_seconds": round(seconds, 1), "command": shown}


def cell_metrics(molecules: list[Molecule], group: str | None) -> dict:
    smiles = [edm_smiles(m) for m in molecules]
    stab = [stability(m) for m in molecules]
    return {"hit_rate": hit_rate(smiles, group) if group else float("nan"),
            "atom_stability": sum(s[0] for s in stab) / sum(s[1] for s in stab),
            "mol_stability": float(np.mean([s[2] for s in stab])),
            "validity": float(np.mean([s is not None for s in smiles])), "n": len(molecules)}


def group_sweep(model, per_cell: int, scales: list[float]) -> list[dict]:
    rows = []
    uncond = None
    cells = [(g, s) for g in GROUP_NAMES for s in scales]
    for group, scale in tqdm(cells, desc="groups × CFG scales", unit="cell"):
        if scale == 0 and uncond is not None:
            mols = uncond
        else:
            mols = sample(model, SampleSettings(n=per_cell, seed=1, present=(group,), cfg_scale=scale)).molecules
            if scale == 0:
                uncond = mols
        rows.append({"cfg_scale": scale, "group": group, **cell_metrics(mols, group)})
    return rows


def distributions(generated: list[Molecule], reference: list[Molecule]) -> tuple[list[dict], list[dict]]:
    rows, w_rows = [], []
    for source, mols in (("generated", generated), ("qm9_test", reference)):
        counts = Counter(len(m) for m in mols)
        rows += [{"kind": "atom_count", "key": k, "source": source, "value": v / len(mols)}
                 for k, v in sorted(counts.items())]
        elements = Counter(e for m in mols for e in m.elements)
        total = sum(elements.values())
        rows += [{"kind": "element", "key": e, "source": source, "value": elements.get(e, 0) / total} for e in ELEMENTS]
    gen_b, ref_b = bond_lengths(generated), bond_lengths(reference)
    edges = np.arange(0.9, 1.81, 0.01)
    for key in sorted(ref_b, key=lambda k: -len(ref_b[k])):
        for source, data in (("generated", gen_b.get(key, [])), ("qm9_test", ref_b[key])):
            hist = np.histogram(data, bins=edges)[0] / max(1, len(data))
            rows += [{"kind": f"bond_length {key}", "key": round(float(x), 3), "source": source, "value": float(v)}
                     for x, v in zip(edges[:-1], hist)]
        gen = gen_b.get(key, [])
        w_rows.append({"bond": key, "n_generated": len(gen), "n_qm9": len(ref_b[key]),
                       "wasserstein_angstrom": wasserstein_1d(gen, ref_b[key]) if gen else float("nan")})
    return rows, w_rows


def write_csv(path: Path, rows: list[dict]) -> None:
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default=None)
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--per-cell", type=int, default=100)
    parser.add_argument("--scales", type=float, nargs="+", default=[0.0, 1.0, 2.0, 3.0])
    args = parser.parse_args()
    RESULTS.mkdir(exist_ok=True)
    model, meta = load_checkpoint(args.checkpoint)
    with tempfile.TemporaryDirectory() as tmp:
        xyz = Path(tmp) / "default.xyz"
        default = cli_default_metrics(args.n, args.checkpoint, xyz)
        generated = read_molecules(xyz)
    default.update({"checkpoint_steps": meta.get("steps"), "checkpoint_epochs": meta.get("epochs")})
    (RESULTS / "quality.json").write_text(json.dumps(default, indent=2) + "\n")
    sweep = group_sweep(model, args.per_cell, args.scales)
    write_csv(RESULTS / "quality_cfg.csv", sweep)
    reference = load_qm9_raw(split_rows("test")[: args.n]).molecules
    dist_rows, w_rows = distributions(generated, reference)
    write_csv(RESULTS / "distributions.csv", dist_rows)
    write_csv(RESULTS / "bond_wasserstein.csv", w_rows)

    lines = ["# Sample quality", "", f"Command: `python benchmarks/quality.py --n {args.n} --per-cell {args.per_cell}` "
             f"(checkpoint: {args.checkpoint or 'assets/inertialar_qm9.pt'}, {meta.get('epochs', 0):.2f} epochs).", "",
             f"## {args.n} molecules, CLI defaults (`{default['command']}`), every sample counted", "",
             "| atom stab. | mol. stab. | validity | uniqueness | valid×unique | novelty |", "|---|---|---|---|---|---|",
             "| " + " | ".join(f"{100 * default[k]:.1f}%" if default[k] is not None else "n/a" for k in
                               ("atom_stability", "mol_stability", "validity", "uniqueness", "valid_x_unique",
                                "novelty")) + " |", "",
             f"## Functional-group control: hit rate (valid and containing the group / all {args.per_cell} generated)",
             "", "| group | " + " | ".join(f"s={s:g}" for s in args.scales) + " | mol. stab. at each scale |",
             "|---|" + "---|" * (len(args.scales) + 1)]
    for g in GROUP_NAMES:
        cells = [r for r in sweep if r["group"] == g]
        lines.append(f"| {g} | " + " | ".join(f"{100 * r['hit_rate']:.0f}%" for r in cells) + " | "
                     + " / ".join(f"{100 * r['mol_stability']:.0f}%" for r in cells) + " |")
    lines += ["", "## Bond lengths: generated vs QM9 test (1-D Wasserstein, Å)", "",
              "| bond | generated | QM9 | W1 (Å) |", "|---|---|---|---|"]
    lines += [f"| {r['bond']} | {r['n_generated']} | {r['n_qm9']} | {r['wasserstein_angstrom']:.3f} |" for r in w_rows]
    lines += ["", "Chemist-grade plausibility (PoseBusters on RDKit-perceived bonds; generated vs QM9 with the same "
              "perceiver; raw vs MMFF94 vs GFN2-xTB refined; xTB energy drop and RMSD): `python benchmarks/plausibility.py` "
              "→ plausibility.md."]
    (RESULTS / "quality.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
