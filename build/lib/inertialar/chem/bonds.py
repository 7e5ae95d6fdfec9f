"""Chemist bond orders for written molecules: RDKit's ``DetermineBonds``, EDM's table as the fallback.

The SDF files we write are read by other tools, so their bond table must be a chemist's bond
assignment, not a metric convention. Per molecule (total charge 0):

1. ``rdDetermineBonds.DetermineBonds(useHueckel=False)`` (van der Waals connectivity, then
   xyz2mol bond orders and formal charges);
2. where that fails, the same with extended-Hückel connectivity (``useHueckel=True``);
3. where both fail, EDM's distance table (``inertialar.chem.metrics.bond_orders``), no charges.

A perception from steps 1–2 must also pass ``SanitizeMol``; bonds are stored Kekulé (orders
1, 2, 3) with formal charges, so writing and re-reading the SDF gives the same structure. The
source is kept per molecule (``"rdkit"`` or ``"edm_table"``) and written as the SDF property
``bond_source``. EDM's metrics (``inertialar.chem.metrics``) do not use this module: they keep EDM's
table by definition.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from inertialar.chem.metrics import bond_orders
from inertialar.chem.molecule import Molecule, to_rdkit, to_sdf

BOND_SOURCES = ("rdkit", "edm_table")
PERCEIVER = ("RDKit DetermineBonds(charge=0) on the coordinates, Hückel connectivity where the plain one fails, "
             "EDM's distance table where RDKit cannot assign bonds")


@dataclass(frozen=True)
class Perception:
    """Bonds of one molecule: ``bonds`` (N, N) int orders 0..3 (Kekulé, symmetric), ``charges``
    (N,) int formal charges, ``source`` one of BOND_SOURCES."""

    bonds: np.ndarray
    charges: np.ndarray
    source: str

    def to_rdkit(self, mol: Molecule):
        """An RDKit Mol of ``mol`` with these bonds and charges (not sanitized)."""
        return to_rdkit(mol, self.bonds, charges=self.charges)


@contextmanager
def quiet_stderr() -> Iterator[None]:
    """Silence C-level stderr (the Hückel code prints '!!! Warning !!!' lines for short contacts)."""
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def _determine(mol: Molecule, use_hueckel: bool):
    """A sanitized, kekulized RDKit Mol from ``DetermineBonds``, or None where RDKit fails."""
    from rdkit import Chem
    from rdkit.Chem import rdDetermineBonds
    from rdkit.rdBase import BlockLogs

    rw = Chem.RWMol(to_rdkit(mol))
    try:
        with BlockLogs(), quiet_stderr():
            rdDetermineBonds.DetermineBonds(rw, charge=0, useHueckel=use_hueckel)
            Chem.SanitizeMol(rw)
            Chem.Kekulize(rw, clearAromaticFlags=True)
    except (ValueError, RuntimeError):  # MolSanitizeException is a ValueError
        return None
    return rw.GetMol()


def perceive(mol: Molecule) -> Perception:
    """Bond orders and formal charges of ``mol`` from its coordinates (see the module docstring)."""
    n = len(mol)
    for use_hueckel in (False, True):
        rd = _determine(mol, use_hueckel)
        if rd is None:
            continue
        bonds = np.zeros((n, n), dtype=np.int64)  # (N, N)
        for b in rd.GetBonds():
            i, j = b.GetBeginAtomIdx(), b.GetEndAtomIdx()
            bonds[i, j] = bonds[j, i] = int(b.GetBondTypeAsDouble())
        charges = np.array([a.GetFormalCharge() for a in rd.GetAtoms()], dtype=np.int64)  # (N,)
        return Perception(bonds, charges, "rdkit")
    return Perception(bond_orders(mol), np.zeros(n, dtype=np.int64), "edm_table")


def connectivity(mol: Molecule) -> np.ndarray:
    """(N, N) bool adjacency from RDKit's distance-based ``DetermineConnectivity`` (never fails)."""
    from rdkit import Chem
    from rdkit.Chem import rdDetermineBonds

    rw = Chem.RWMol(to_rdkit(mol))
    rdDetermineBonds.DetermineConnectivity(rw, useHueckel=False)
    return Chem.GetAdjacencyMatrix(rw).astype(bool)


def sanitized_rdkit(mol: Molecule, perception: Perception | None = None):
    """The sanitized RDKit Mol of ``mol`` with perceived bonds (explicit H), or None if it does not sanitize."""
    from rdkit import Chem
    from rdkit.rdBase import BlockLogs

    rd = (perception or perceive(mol)).to_rdkit(mol)
    try:
        with BlockLogs():
            Chem.SanitizeMol(rd)
    except ValueError:
        return None
    return rd


def chemist_sdf(molecules: list[Molecule], properties: list[dict] | None = None,
                perceptions: list[Perception] | None = None) -> str:
    """SDF text with perceived bonds and charges; every record carries ``bond_source`` plus ``properties``."""
    perceptions = perceptions if perceptions is not None else [perceive(m) for m in molecules]
    props = [{"bond_source": p.source, **(properties[k] if properties else {})} for k, p in enumerate(perceptions)]
    return to_sdf(molecules, [p.bonds for p in perceptions], properties=props,
                  charges=[p.charges for p in perceptions])
