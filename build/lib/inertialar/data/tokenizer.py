"""Molecule ⇄ canonical atom tokens.

A token is (type, x, y, z): type indexes a vocabulary = the dataset's elements (``ModelConfig.
elements``, QM9: H C N O F) plus EOS at index ``len(elements)``; coordinates are Å in the
molecule's canonical inertial frame (see ``frames``). The model's sequence is
``[condition, atom_1 … atom_N, EOS]``; the condition token lives in ``model``.
"""

from __future__ import annotations

import numpy as np

from inertialar.chem.frames import canonicalize
from inertialar.chem.molecule import Molecule, MoleculeError
from inertialar.data.specs import QM9_ELEMENTS


def vocabulary(elements: tuple[str, ...]) -> tuple[str, ...]:
    """Token type names: the elements, then ``EOS`` (index ``len(elements)``)."""
    return tuple(elements) + ("EOS",)


def tokenize(mol: Molecule, elements: tuple[str, ...] = QM9_ELEMENTS) -> tuple[np.ndarray, np.ndarray]:
    """Canonical tokens of any molecule: types (N,) int64, coords (N, 3) float64 Å."""
    return molecule_to_tokens(canonicalize(mol).molecule, elements)


def molecule_to_tokens(mol: Molecule, elements: tuple[str, ...] = QM9_ELEMENTS) -> tuple[np.ndarray, np.ndarray]:
    """Tokens of a molecule already in canonical order and frame (no reordering); a MoleculeError
    names the first element outside ``elements``."""
    index = {e: k for k, e in enumerate(elements)}
    outside = sorted({e for e in mol.elements if e not in index})
    if outside:
        raise MoleculeError(f"element {outside[0]!r} is outside the vocabulary ({' '.join(elements)})")
    types = np.array([index[e] for e in mol.elements], dtype=np.int64)
    return types, mol.coords.copy()


def tokens_to_molecule(types: np.ndarray, coords: np.ndarray, title: str = "",
                       elements: tuple[str, ...] = QM9_ELEMENTS) -> Molecule:
    """The molecule spelled by tokens (N,), (N, 3); reading stops at the first EOS."""
    eos = len(elements)
    types = np.asarray(types).reshape(-1)
    coords = np.asarray(coords, dtype=np.float64).reshape(-1, 3)
    stop = np.flatnonzero(types == eos)
    n = int(stop[0]) if stop.size else len(types)
    if n == 0:
        raise MoleculeError("token sequence holds no atoms")
    if (types[:n] < 0).any() or (types[:n] > eos).any():
        raise MoleculeError("token type outside the vocabulary")
    return Molecule(tuple(elements[t] for t in types[:n]), coords[:n], title)


def canonical_prefix(mol: Molecule, k: int, elements: tuple[str, ...], max_atoms: int) -> Molecule:
    """The first ``k`` atoms of ``mol``'s canonical sequence (order and inertial frame), a fragment
    for the sampler to complete; one-line MoleculeError for an element outside ``elements`` or a
    ``k`` outside 1 … min(atoms, max_atoms − 1). The app's fragment completion and ``sample --prefix``
    both use it."""
    outside = sorted(set(mol.elements) - set(elements))
    if outside:
        raise MoleculeError(f"prefix element {outside[0]!r} is outside the model's vocabulary ({' '.join(elements)})")
    top = min(len(mol), max_atoms - 1)
    if not 1 <= k <= top:
        raise MoleculeError(f"prefix atoms must be 1..{top} for this {len(mol)}-atom molecule, got {k}")
    canon = canonicalize(mol).molecule
    return Molecule(canon.elements[:k], canon.coords[:k], f"first {k} atoms")
