"""Acceptance check of written SDF bonds: round trip through RDKit, and agreement with DetermineBonds.

    python -m inertialar sample --n 200 --out s.sdf
    python benchmarks/sdf_roundtrip.py s.sdf [--out benchmarks/results/sdf_roundtrip.md]

1. Every record is read back by RDKit (``SDMolSupplier(sanitize=False, removeHs=False)``) with the
   atoms, bond orders and charges it was written with; records with ``bond_source`` = rdkit also
   sanitize.
2. For every molecule EDM's ``evaluate`` calls valid: the record read back and sanitized gives the
   same canonical SMILES as RDKit's ``DetermineBonds(charge=0)`` run independently on the
   coordinates (XYZ block; Hückel connectivity where the plain one fails). Compared without H,
   with stereo (``AssignStereochemistryFrom3D`` on both sides) and without. Where ``DetermineBonds`` finds no
   closed-shell charge-0 structure (EDM validity lets RDKit add implicit hydrogens, so a valid
   molecule may lack H atoms), the record carries EDM's bonds and is counted apart.
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

import numpy as np

from inertialar.chem.bonds import quiet_stderr
from inertialar.chem.metrics import edm_smiles
from inertialar.chem.molecule import parse_sdf

ROOT = Path(__file__).resolve().parent.parent


def written_tables(block: str) -> tuple[np.ndarray, np.ndarray]:
    """(bonds (N, N), charges (N,)) as written in a V2000 block (bond lines, 'M  CHG' lines)."""
    lines = block.strip("\n").splitlines()
    counts = next(k for k, line in enumerate(lines) if "V2000" in line)
    n, m = int(lines[counts][:3]), int(lines[counts][3:6])
    bonds = np.zeros((n, n), dtype=int)
    for line in lines[counts + 1 + n: counts + 1 + n + m]:
        i, j, order = int(line[:3]) - 1, int(line[3:6]) - 1, int(line[6:9])
        bonds[i, j] = bonds[j, i] = order
    charges = np.zeros(n, dtype=int)
    for line in lines:
        if line.startswith("M  CHG"):
            parts = line.split()[3:]
            for a, c in zip(parts[::2], parts[1::2]):
                charges[int(a) - 1] = int(c)
    return bonds, charges


def rdkit_tables(mol) -> tuple[np.ndarray, np.ndarray]:
    n = mol.GetNumAtoms()
    bonds = np.zeros((n, n), dtype=int)
    for b in mol.GetBonds():
        i, j = b.GetBeginAtomIdx(), b.GetEndAtomIdx()
        bonds[i, j] = bonds[j, i] = int(b.GetBondTypeAsDouble())
    return bonds, np.array([a.GetFormalCharge() for a in mol.GetAtoms()], dtype=int)


def smiles_pair(mol) -> tuple[str, str]:
    from rdkit import Chem

    Chem.AssignStereochemistryFrom3D(mol)  # the SDF reader sets chiral centres from 3-D, not E/Z: both sides alike
    params = Chem.RemoveHsParameters()
    params.removeDefiningBondStereo = True  # an imine H is not kept just because the 3-D pose fixes E/Z
    heavy = Chem.RemoveHs(mol, params)
    return Chem.MolToSmiles(heavy), Chem.MolToSmiles(heavy, isomericSmiles=False)


def determine_bonds_smiles(xyz_block: str) -> tuple[str, str] | None:
    from rdkit import Chem
    from rdkit.Chem import rdDetermineBonds

    for hueckel in (False, True):
        mol = Chem.MolFromXYZBlock(xyz_block)
        try:
            with quiet_stderr():
                rdDetermineBonds.DetermineBonds(mol, charge=0, useHueckel=hueckel)
            Chem.SanitizeMol(mol)
            return smiles_pair(mol)
        except (ValueError, RuntimeError):
            continue
    return None


def main() -> None:
    from rdkit import Chem
    from rdkit.rdBase import BlockLogs

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sdf")
    parser.add_argument("--out", default=None, help="markdown summary (default: print only)")
    args = parser.parse_args()
    text = Path(args.sdf).read_text()
    blocks = [b for b in text.split("$$$$\n") if b.strip()]
    mols = parse_sdf(text)
    counts: Counter = Counter()
    mismatches = []
    with BlockLogs():
        raw = list(Chem.SDMolSupplier(args.sdf, sanitize=False, removeHs=False))
        for k, (block, mol, rd) in enumerate(zip(blocks, mols, raw, strict=True)):
            source = rd.GetProp("bond_source") if rd is not None and rd.HasProp("bond_source") else "?"
            counts[f"source {source}"] += 1
            bonds, charges = written_tables(block)
            rd_bonds, rd_charges = rdkit_tables(rd) if rd is not None else (None, None)
            same = rd is not None and rd.GetNumAtoms() == len(mol) and np.array_equal(bonds, rd_bonds) \
                and np.array_equal(charges, rd_charges)
            counts["round trip ok"] += same
            sanitized = Chem.Mol(rd)
            try:
                Chem.SanitizeMol(sanitized)
            except ValueError:
                sanitized = None
            counts[f"sanitizes ({source})"] += sanitized is not None
            if edm_smiles(mol) is None:
                continue
            counts["EDM valid"] += 1
            ref = determine_bonds_smiles(mol.to_xyz())
            if ref is None or sanitized is None:
                counts["EDM valid, DetermineBonds fails" if ref is None else "EDM valid, SDF does not sanitize"] += 1
                continue
            got = smiles_pair(sanitized)
            counts["same SMILES (stereo)"] += got[0] == ref[0]
            counts["same SMILES (no stereo)"] += got[1] == ref[1]
            if got != ref:
                mismatches.append((k + 1, got[0], ref[0]))
    lines = [f"# SDF bond round trip: `{Path(args.sdf).name}` ({len(blocks)} records)", "",
             "| check | count |", "|---|---|"] + [f"| {k} | {v} |" for k, v in sorted(counts.items())]
    if mismatches:
        lines += ["", "Mismatches (record, SDF, DetermineBonds): "
                  + "; ".join(f"{k}: {a} vs {b}" for k, a, b in mismatches[:10])]
    report = "\n".join(lines) + "\n"
    print(report)
    if args.out:
        Path(args.out).write_text(report)


if __name__ == "__main__":
    main()
