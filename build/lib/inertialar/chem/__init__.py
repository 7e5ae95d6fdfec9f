"""Chemistry: molecules and their files, the canonical inertial frame, functional groups, EDM's
metrics, chemist bonds, refinement (MMFF94, GFN2-xTB) and PoseBusters plausibility.

Depends only on the leaves (``files``); everything else builds on it."""

from inertialar.chem.frames import Canonical, canonicalize
from inertialar.chem.groups import DRUG_GROUP_NAMES, GROUP_NAMES, detect_groups
from inertialar.chem.metrics import evaluate
from inertialar.chem.molecule import Molecule, MoleculeError, from_smiles, read_molecules, write_molecules

__all__ = ["Canonical", "canonicalize", "DRUG_GROUP_NAMES", "GROUP_NAMES", "detect_groups", "evaluate", "Molecule",
           "MoleculeError", "from_smiles", "read_molecules", "write_molecules"]
