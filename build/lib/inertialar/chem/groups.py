"""Functional groups used for conditioning and for controllable-generation hit rates.

The 19 QM9 groups follow the InertialAR reference code's SMARTS (binary presence), matched on
molecules parsed from SMILES with implicit hydrogens. Drug-like datasets add groups common in
medicinal chemistry, with the standard SMARTS of Daylight's SMARTS examples (sulfonamide,
sulfone, thioether, halides, urea, carbamate) and ring SMILES (thiophene, piperidine,
piperazine, morpholine); ``DRUG_GROUP_NAMES`` is the QM9 list plus these, in that order. ``aromatic_ring`` has no SMARTS there:
it means an aromatic ring (every ring bond aromatic) other than a benzene ring (six aromatic
carbons), e.g. pyridine, furan, pyrrole, imidazole.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

import numpy as np

GROUP_NAMES: tuple[str, ...] = (
    "alcohol", "phenol", "benzene", "aromatic_ring", "alkene", "alkyne", "ether", "aldehyde",
    "ketone", "carboxylic_acid", "ester", "primary_amine", "secondary_amine", "tertiary_amine",
    "amide", "nitrile", "nitro", "fluoroalkyl", "fluoroaryl",
)
DRUG_EXTRA_GROUPS: tuple[str, ...] = (
    "sulfonamide", "sulfone", "thioether", "aryl_halide", "alkyl_halide", "urea", "carbamate",
    "thiophene", "piperidine", "piperazine", "morpholine",
)
DRUG_GROUP_NAMES: tuple[str, ...] = GROUP_NAMES + DRUG_EXTRA_GROUPS

# SMARTS per group; a group is present if any of its patterns matches.
_PATTERNS: dict[str, tuple[str, ...]] = {
    "alcohol": ("[OX2H][CX4]",),
    "phenol": ("[OX2H][c]",),
    "benzene": ("c1ccccc1",),
    "alkene": ("[C!a]=[C!a]",),
    "alkyne": ("C#C",),
    "ether": ("[C;!$(C=O)][OD2][C;!$(C=O)]",),
    "aldehyde": ("[CH1](=O)[#6]", "[CH2]=O"),
    "ketone": ("[#6]C(=O)[#6]",),
    "carboxylic_acid": ("C(=O)[OH1]",),
    "ester": ("[#6]C(=O)O[#6]",),
    "primary_amine": ("[NH2;!$(N-C=O)]",),
    "secondary_amine": ("[NH1;!$(N-C=O)]",),
    "tertiary_amine": ("[N;H0;X3;+0;!$(N-C=O)]",),
    "amide": ("C(=O)N",),
    "nitrile": ("C#N",),
    "nitro": ("[N+](=O)[O-]",),
    "fluoroalkyl": ("[F][CX4]",),
    "fluoroaryl": ("[F]c",),
    "sulfonamide": ("[SX4](=[OX1])(=[OX1])[NX3]",),
    "sulfone": ("[#6][SX4](=[OX1])(=[OX1])[#6]",),
    "thioether": ("[#6][SX2][#6]",),
    "aryl_halide": ("c[F,Cl,Br,I]",),
    "alkyl_halide": ("[CX4][Cl,Br,I]",),
    "urea": ("[NX3]C(=O)[NX3]",),
    "carbamate": ("[NX3]C(=O)O[#6]",),
    "thiophene": ("c1ccsc1",),
    "piperidine": ("C1CCNCC1",),
    "piperazine": ("C1CNCCN1",),
    "morpholine": ("C1COCCN1",),
}
_AROMATIC_RING_TEXT = "aromatic ring that is not a benzene ring (not six aromatic carbons)"

# Human-readable pattern per group, for listings (CLI, app).
GROUP_SMARTS: dict[str, str] = {
    name: _AROMATIC_RING_TEXT if name == "aromatic_ring" else " or ".join(_PATTERNS[name])
    for name in DRUG_GROUP_NAMES
}

_compiled: dict[str, tuple] | None = None  # name -> compiled RDKit query mols, built on first use


def _compiled_patterns() -> dict[str, tuple]:
    global _compiled
    if _compiled is None:
        from rdkit import Chem

        _compiled = {name: tuple(Chem.MolFromSmarts(s) for s in smarts) for name, smarts in _PATTERNS.items()}
    return _compiled


def _has_other_aromatic_ring(rdmol) -> bool:
    """True if some ring has only aromatic bonds and is not six carbons."""
    info = rdmol.GetRingInfo()
    for atoms, bonds in zip(info.AtomRings(), info.BondRings(), strict=True):
        if not all(rdmol.GetBondWithIdx(b).GetIsAromatic() for b in bonds):
            continue
        if len(atoms) == 6 and all(rdmol.GetAtomWithIdx(a).GetAtomicNum() == 6 for a in atoms):
            continue  # a benzene ring
        return True
    return False


@lru_cache(maxsize=65536)
def detect_groups(smiles: str | None) -> frozenset[str]:
    """The functional groups present in ``smiles``; empty for None, '' or unparsable SMILES."""
    if not smiles:
        return frozenset()
    from rdkit import Chem
    from rdkit.rdBase import BlockLogs

    with BlockLogs():  # a bad SMILES is an answer (no groups), not a log line
        rdmol = Chem.MolFromSmiles(smiles)
    if rdmol is None:
        return frozenset()
    found = {name for name, queries in _compiled_patterns().items()
             if any(rdmol.HasSubstructMatch(q) for q in queries)}
    if _has_other_aromatic_ring(rdmol):
        found.add("aromatic_ring")
    return frozenset(found)


def group_vector(smiles: str | None, names: tuple[str, ...] = GROUP_NAMES) -> np.ndarray:
    """(G,) bool presence of each group of ``names`` (default the 19 QM9 groups), in that order."""
    found = detect_groups(smiles)
    return np.array([name in found for name in names], dtype=bool)


def check_group_names(names: Iterable[str] | str, valid: tuple[str, ...] = DRUG_GROUP_NAMES) -> list[str]:
    """``names`` as a list, or ValueError naming the first group not in ``valid`` and the valid ones."""
    names = [names] if isinstance(names, str) else list(names)
    for name in names:
        if name not in valid:
            raise ValueError(f"unknown functional group {name!r}; valid groups: {', '.join(valid)}")
    return names


def hit_rate(smiles_list: list[str | None], group: str) -> float:
    """Fraction of all entries that are valid molecules containing ``group`` (None = invalid = miss)."""
    check_group_names([group])
    if not smiles_list:
        raise ValueError("hit_rate needs at least one entry")
    hits = sum(group in detect_groups(s) for s in smiles_list)
    return hits / len(smiles_list)
