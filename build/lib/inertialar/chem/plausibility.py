"""Physical plausibility of molecules with PoseBusters (``mol`` config), next to EDM's metrics.

EDM's stability and validity (``inertialar.chem.metrics``) judge bonds read from a distance table;
PoseBusters judges a chemist's structure: bonds are perceived from the coordinates by
``inertialar.chem.bonds.perceive`` (RDKit ``DetermineBonds``, Hückel fallback, EDM table last), then
PoseBusters 0.6.5 runs its ``mol`` checks (sanitization, InChI, connectedness, radicals,
distance-geometry bond lengths/angles/clashes, ring and double-bond flatness, internal energy).

Every molecule counts: a check that cannot be computed (NaN) or a molecule PoseBusters cannot
load fails. ``posebusters`` is imported only when a check runs (it is slow to import).
"""

from __future__ import annotations

import numpy as np

from inertialar.chem.bonds import PERCEIVER, perceive, quiet_stderr
from inertialar.chem.molecule import Molecule

# PoseBusters' column names (config "mol") in report order, with one-line explanations for the app.
CHECKS: dict[str, str] = {
    "mol_pred_loaded": "RDKit could load the molecule at all.",
    "sanitization": "RDKit sanitization passes: valences, aromaticity and charges are chemically consistent.",
    "inchi_convertible": "An InChI identifier can be written (no structure the InChI library rejects).",
    "all_atoms_connected": "The molecule is one piece: no disconnected fragments or stray atoms.",
    "no_radicals": "No atom has unpaired electrons (every valence is filled by bonds, charges or hydrogens).",
    "bond_lengths": "Every bond length lies within RDKit's distance-geometry bounds (widened by 25%).",
    "bond_angles": "Every bond angle (1–3 distance) lies within the distance-geometry bounds (widened by 25%).",
    "internal_steric_clash": "No two non-bonded heavy atoms are closer than the bounds allow (30% tolerance).",
    "aromatic_ring_flatness": "Aromatic 5- and 6-membered rings are flat (within 0.25 Å of a plane).",
    "non-aromatic_ring_non-flatness": "Saturated 6-membered rings are puckered, not flat (≥ 0.05 Å off a plane).",
    "double_bond_flatness": "Atoms around each C=C double bond lie in a plane (within 0.25 Å).",
    "internal_energy": "The pose's UFF energy is at most 100× the mean of 50 RDKit conformers of the same molecule "
                       "(fails for tiny molecules such as water, whose conformers have energy 0).",
}
EDM_TERMS: dict[str, str] = {
    "stable": "EDM stability: with bonds from EDM's distance table, every atom's bond orders sum to its valence "
              "(H 1, C 4, N 3, O 2, F 1).",
    "valid": "EDM validity: with those same table bonds, RDKit sanitizes the whole molecule (its largest fragment "
             "gives the SMILES).",
}


def check_molecules(molecules: list[Molecule]) -> list[dict[str, bool]]:
    """Per molecule, every PoseBusters ``mol`` check (keys of CHECKS) → passed; NaN or errors fail."""
    import warnings

    from rdkit.rdBase import BlockLogs


    rdmols = [perceive(m).to_rdkit(m) for m in molecules]
    with warnings.catch_warnings(), BlockLogs(), quiet_stderr():
        warnings.simplefilter("ignore")
        from posebusters import PoseBusters

        table = PoseBusters(config="mol").bust(rdmols, None, None, full_report=False)
    if len(table) != len(molecules):  # PoseBusters reports one row per molecule; anything else is a bug
        raise RuntimeError(f"PoseBusters returned {len(table)} rows for {len(molecules)} molecules")
    rows = []
    for k in range(len(molecules)):
        row = table.iloc[k]
        rows.append({name: bool(row[name]) if name in row.index and _is_true(row[name]) else False for name in CHECKS})
    return rows


def _is_true(value) -> bool:
    try:
        return bool(value) and not (isinstance(value, float) and np.isnan(value))
    except (TypeError, ValueError):
        return False


def all_pass(row: dict[str, bool]) -> bool:
    return all(row[name] for name in CHECKS)


def plausibility(molecules: list[Molecule], rows: list[dict[str, bool]] | None = None) -> dict:
    """Pass rate (0..1, over all molecules) per check and ``posebusters_all_pass``, with the bond convention."""

    rows = check_molecules(molecules) if rows is None else rows
    n = len(rows)
    return {"posebusters_all_pass": sum(all_pass(r) for r in rows) / n if n else 0.0,
            "posebusters_checks": {name: sum(r[name] for r in rows) / n if n else 0.0 for name in CHECKS},
            "posebusters_n": n, "posebusters_config": "mol (PoseBusters 0.6.5)", "posebusters_bonds": PERCEIVER}
