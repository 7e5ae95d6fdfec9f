"""Molecule ⇄ canonical atom tokens.

A token is (type, x, y, z): type indexes ``VOCAB`` = the elements H C N O F plus ``EOS``;
coordinates are Å in the molecule's canonical inertial frame (see ``frames``). The model's
sequence is ``[condition, atom_1 … atom_N, EOS]``; the condition token lives in ``model``.
"""

from __future__ import annotations

import numpy as np

from inertialar.frames import canonicalize
from inertialar.molecule import ELEMENTS, Molecule, MoleculeError

VOCAB: tuple[str, ...] = ELEMENTS + ("EOS",)
EOS = len(ELEMENTS)


def tokenize(mol: Molecule) -> tuple[np.ndarray, np.ndarray]:
    """Canonical tokens of any molecule: types (N,) int64, coords (N, 3) float64 Å."""
    return molecule_to_tokens(canonicalize(mol).molecule)


def molecule_to_tokens(mol: Molecule) -> tuple[np.ndarray, np.ndarray]:
    """Tokens of a molecule already in canonical order and frame (no reordering)."""
    types = np.array([ELEMENTS.index(e) for e in mol.elements], dtype=np.int64)
    return types, mol.coords.copy()


def tokens_to_molecule(types: np.ndarray, coords: np.ndarray, title: str = "") -> Molecule:
    """The molecule spelled by tokens (N,), (N, 3); reading stops at the first EOS."""
    types = np.asarray(types).reshape(-1)
    coords = np.asarray(coords, dtype=np.float64).reshape(-1, 3)
    stop = np.flatnonzero(types == EOS)
    n = int(stop[0]) if stop.size else len(types)
    if n == 0:
        raise MoleculeError("token sequence holds no atoms")
    if (types[:n] < 0).any() or (types[:n] > EOS).any():
        raise MoleculeError("token type outside the vocabulary")
    return Molecule(tuple(ELEMENTS[t] for t in types[:n]), coords[:n], title)
