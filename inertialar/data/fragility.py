"""Where the canonical frame is fragile, and the two ways coordinate noise can meet it (method questions).

* ``fragile_flags(frame)``: near-degenerate inertia (a relative eigenvalue gap below
  ``frames.DEGENERACY_GAP``), an exact symmetry (several frame candidates give the same
  sequence) or a sign/anchor margin below ``MARGIN`` Å. ``fragile(ts)`` selects those molecules of a
  split; ``matched_control`` draws as many others with the same atom counts (seeded).
* ``noisy_tokens(clean, noise, …, before)``: the same Gaussian noise added to a molecule's canonical
  tokens either *before* canonicalization (the noisy molecule is canonicalized again, so its frame
  and order may change) or *after* it (the canonical tokens keep their frame and order).
"""

from __future__ import annotations

import numpy as np

from inertialar.chem.frames import DEGENERACY_GAP, Frame, canonicalize
from inertialar.chem.molecule import Molecule
from inertialar.data.specs import DatasetSpec
from inertialar.data.tokenset import TokenSet, process_molecule

MARGIN = 0.01  # Å: a sign or anchor decided by less than this is fragile
KINDS = ("near-degenerate inertia", "exact symmetry", f"margin < {MARGIN} Å")


def fragile_flags(frame: Frame) -> tuple[bool, bool, bool]:
    """(near-degenerate inertia, exact symmetry, small margin) of a canonical frame."""
    return (bool(min(frame.gaps) < DEGENERACY_GAP), frame.n_equivalent > 1 or not np.isfinite(frame.margin),
            bool(np.isfinite(frame.margin) and frame.margin < MARGIN))


def fragile(ts: TokenSet) -> tuple[np.ndarray, dict[str, int]]:
    """Indices of the molecules of ``ts`` with any fragile flag, and how many have each kind."""
    kinds = dict.fromkeys(KINDS, 0)
    out = []
    for k in range(len(ts)):
        flags = fragile_flags(canonicalize(ts.molecule(k)).frame)
        for name, flag in zip(KINDS, flags, strict=True):
            kinds[name] += flag
        if any(flags):
            out.append(k)
    return np.array(out, dtype=np.int64), kinds


def matched_control(lengths: np.ndarray, subset: np.ndarray, seed: int) -> np.ndarray:
    """As many indices outside ``subset``, each with the atom count of one subset molecule (seeded).
    KeyError if some atom count has too few molecules outside the subset."""
    rng = np.random.default_rng(seed)
    taken = set(subset.tolist())
    pool: dict[int, list[int]] = {}
    for k in rng.permutation(len(lengths)):
        if int(k) not in taken:
            pool.setdefault(int(lengths[k]), []).append(int(k))
    return np.array([pool[int(lengths[k])].pop() for k in subset], dtype=np.int64)


def noisy_tokens(clean: tuple, noise: np.ndarray, smiles: str, spec: DatasetSpec, before: bool) -> tuple:
    """``process_molecule``-style tokens of canonical tokens ``clean`` (types (N,), coords (N, 3) Å,
    smiles, groups) with ``noise`` (N, 3) Å added before canonicalization (frame may change) or after it."""
    types, coords, clean_smiles, groups = clean
    if not before:
        return types, (coords + noise).astype(np.float32), clean_smiles, groups
    mol = Molecule(tuple(spec.elements[t] for t in types), coords + noise)
    return process_molecule(mol, clean_smiles or smiles, spec)
