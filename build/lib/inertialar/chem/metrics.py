"""EDM's evaluation (QM9 and GEOM protocols): bond orders from distances, stability, validity,
uniqueness, novelty.

Follows e3_diffusion_for_molecules (``qm9/bond_analyze.py``, ``qm9/analyze.py``,
``qm9/rdkit_functions.py``):

* Bond orders come from interatomic distances in pm against tables of typical lengths.
  A pair bonds if ``d < single + 10``; the bond is double if also ``d < double + 5``; triple if
  also ``d < triple + 3`` (strict ``<``; a step is only taken when the pair has an entry in
  that table, e.g. C–F never becomes double). EDM's GEOM evaluation (``geom_predictor``) is the
  same rule with pairs missing from the single-bond table never bonding, which is what the
  tables below do for every pair; for H C N O F molecules both protocols agree. EDM lists C=S
  (160 pm) under C only, so its result for a C–S pair depends on which atom comes first; here
  every table is symmetric, so the answer never depends on atom order.
* An atom is stable iff its bond orders sum to an allowed valence (EDM's ``allowed_bonds``:
  H 1, C 4, N 3, O 2, F 1, S 4, Cl 1, Br 1, P 3 or 5, …); a molecule is stable iff all its atoms
  are. Atom stability is pooled over all atoms. ``RELAXED_VALENCES`` (S 2, 4 or 6, as later
  work allows) is a second, labelled variant, never the reference.
* Validity: an RDKit molecule with these bonds must pass ``SanitizeMol`` as a whole; the
  SMILES of a valid molecule is that of its largest fragment (most atoms, H included).

As in EDM's code, RDKit may add implicit hydrogens to under-bonded atoms while sanitizing.
SMILES are written without explicit hydrogen
atoms (``Chem.RemoveHs`` before ``Chem.MolToSmiles``), e.g. ``"O"`` for water; uniqueness and
novelty counts are the same as with H-explicit SMILES.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from inertialar.chem.molecule import Molecule, to_rdkit

# Typical bond lengths in pm (EDM bond_analyze.py ``bonds1/2/3``); symmetric, each pair once.
SINGLE_PM: dict[tuple[str, str], float] = {
    ("H", "H"): 74, ("H", "C"): 109, ("H", "N"): 101, ("H", "O"): 96, ("H", "F"): 92, ("H", "B"): 119,
    ("H", "Si"): 148, ("H", "P"): 144, ("H", "As"): 152, ("H", "S"): 134, ("H", "Cl"): 127, ("H", "Br"): 141,
    ("H", "I"): 161,
    ("C", "C"): 154, ("C", "N"): 147, ("C", "O"): 143, ("C", "F"): 135, ("C", "Si"): 185, ("C", "P"): 184,
    ("C", "S"): 182, ("C", "Cl"): 177, ("C", "Br"): 194, ("C", "I"): 214,
    ("N", "N"): 145, ("N", "O"): 140, ("N", "F"): 136, ("N", "Cl"): 175, ("N", "Br"): 214, ("N", "S"): 168,
    ("N", "I"): 222, ("N", "P"): 177,
    ("O", "O"): 148, ("O", "F"): 142, ("O", "Br"): 172, ("O", "S"): 151, ("O", "P"): 163, ("O", "Si"): 163,
    ("O", "Cl"): 164, ("O", "I"): 194,
    ("F", "F"): 142, ("F", "S"): 158, ("F", "Si"): 160, ("F", "Cl"): 166, ("F", "Br"): 178, ("F", "P"): 156,
    ("F", "I"): 187,
    ("B", "Cl"): 175,
    ("Si", "Si"): 233, ("Si", "S"): 200, ("Si", "Cl"): 202, ("Si", "Br"): 215, ("Si", "I"): 243,
    ("Cl", "Cl"): 199, ("Cl", "P"): 203, ("Cl", "S"): 207, ("Cl", "Br"): 214,
    ("S", "S"): 204, ("S", "Br"): 225, ("S", "P"): 210, ("S", "I"): 234,
    ("Br", "Br"): 228, ("Br", "P"): 222,
    ("P", "P"): 221,
    ("I", "I"): 266,
}
DOUBLE_PM: dict[tuple[str, str], float] = {
    ("C", "C"): 134, ("C", "N"): 129, ("C", "O"): 120, ("C", "S"): 160, ("N", "N"): 125, ("N", "O"): 121,
    ("O", "O"): 121, ("O", "P"): 150, ("P", "S"): 186,
}
TRIPLE_PM: dict[tuple[str, str], float] = {("C", "C"): 120, ("C", "N"): 116, ("C", "O"): 113, ("N", "N"): 110}
MARGINS_PM: tuple[float, float, float] = (10.0, 5.0, 3.0)  # single, double, triple
# EDM's allowed_bonds (the reference for QM9 and GEOM); an atom is stable at any listed valence.
VALENCES: dict[str, tuple[int, ...]] = {
    "H": (1,), "C": (4,), "N": (3,), "O": (2,), "F": (1,), "B": (3,), "Al": (3,), "Si": (4,), "P": (3, 5),
    "S": (4,), "Cl": (1,), "As": (3,), "Br": (1,), "I": (1,), "Hg": (1, 2), "Bi": (3, 5),
}
RELAXED_VALENCES: dict[str, tuple[int, ...]] = {**VALENCES, "S": (2, 4, 6)}  # a labelled variant only
TABLE_ELEMENTS: tuple[str, ...] = tuple(dict.fromkeys(e for pair in SINGLE_PM for e in pair))
CLASH_DISTANCE = 0.9  # Å; closer pairs are reported by diagnose()


def _threshold_table(lengths: dict[tuple[str, str], float], margin: float) -> np.ndarray:
    """(E + 1, E + 1) thresholds in pm indexed like TABLE_ELEMENTS (last row/column: any element
    without an entry); -inf where the table has no entry."""
    size = len(TABLE_ELEMENTS) + 1
    table = np.full((size, size), -np.inf)
    for (a, b), length in lengths.items():
        i, j = TABLE_ELEMENTS.index(a), TABLE_ELEMENTS.index(b)
        table[i, j] = table[j, i] = length + margin
    return table


# (3, E + 1, E + 1): thresholds for order 1, 2, 3. "No entry" is -inf so that `d < thr` is never true.
_THRESHOLDS_PM = np.stack([
    _threshold_table(SINGLE_PM, MARGINS_PM[0]),
    _threshold_table(DOUBLE_PM, MARGINS_PM[1]),
    _threshold_table(TRIPLE_PM, MARGINS_PM[2]),
])
_TABLE_INDEX = {e: k for k, e in enumerate(TABLE_ELEMENTS)}


def _element_indices(mol: Molecule) -> np.ndarray:
    """(N,) rows of the threshold tables (elements without an entry share the last row)."""
    return np.array([_TABLE_INDEX.get(e, len(TABLE_ELEMENTS)) for e in mol.elements], dtype=np.int64)


def distances(mol: Molecule) -> np.ndarray:
    """(N, N) interatomic distances in Å."""
    diff = mol.coords[:, None, :] - mol.coords[None, :, :]  # (N, N, 3) Å
    return np.sqrt((diff * diff).sum(-1))


def bond_orders(mol: Molecule) -> np.ndarray:
    """(N, N) int bond orders 0..3 by EDM's distance rule; symmetric with a zero diagonal."""
    idx = _element_indices(mol)
    d_pm = 100.0 * distances(mol)  # (N, N) pm
    thresholds = _THRESHOLDS_PM[:, idx[:, None], idx[None, :]]  # (3, N, N) pm
    # Order k needs every lower step too: cumulative product over the three checks.
    passed = np.cumprod(d_pm[None] < thresholds, axis=0)  # (3, N, N) 0/1
    orders = passed.sum(0).astype(np.int64)  # (N, N)
    np.fill_diagonal(orders, 0)
    return orders


def atom_valence_sums(mol: Molecule, bonds: np.ndarray | None = None) -> np.ndarray:
    """(N,) sum of bond orders per atom."""
    bonds = bond_orders(mol) if bonds is None else bonds
    return bonds.sum(1)


@lru_cache(maxsize=64)
def _allowed_row(element: str, valences: tuple[tuple[str, tuple[int, ...]], ...]) -> tuple[int, ...]:
    return dict(valences).get(element, ())


def _allowed(mol: Molecule, valences: dict[str, tuple[int, ...]]) -> list[tuple[int, ...]]:
    key = tuple(sorted(valences.items()))
    return [_allowed_row(e, key) for e in mol.elements]


def allowed_valences(mol: Molecule, valences: dict[str, tuple[int, ...]] = VALENCES) -> np.ndarray:
    """(N,) the (lowest) valence each atom must reach to be stable; 0 for an element EDM lists none for."""
    return np.array([v[0] if v else 0 for v in _allowed(mol, valences)], dtype=np.int64)


def stable_atoms(mol: Molecule, bonds: np.ndarray | None = None,
                 valences: dict[str, tuple[int, ...]] = VALENCES) -> np.ndarray:
    """(N,) bool: the atom's bond-order sum is one of its allowed valences."""
    sums = atom_valence_sums(mol, bonds)
    return np.array([int(s) in v for s, v in zip(sums, _allowed(mol, valences), strict=True)], dtype=bool)


def stability(mol: Molecule, bonds: np.ndarray | None = None,
              valences: dict[str, tuple[int, ...]] = VALENCES) -> tuple[int, int, bool]:
    """(stable atoms, atoms, molecule stable) under EDM's bond rule and ``valences``."""
    stable = stable_atoms(mol, bonds, valences)  # (N,) bool
    n_stable = int(stable.sum())
    return n_stable, len(mol), n_stable == len(mol)


def _sanitized_rdkit(mol: Molecule, bonds: np.ndarray | None = None):
    """(sanitized RDKit mol, None) or (None, one-line RDKit error message)."""
    from rdkit import Chem
    from rdkit.rdBase import BlockLogs

    rdmol = to_rdkit(mol, bond_orders(mol) if bonds is None else bonds, implicit_hydrogens=True)
    try:
        with BlockLogs():  # RDKit would log every failure to stderr; the message is returned instead
            Chem.SanitizeMol(rdmol)
    except Chem.rdchem.MolSanitizeException as err:
        lines = str(err).strip().splitlines()
        return None, (lines[0] if lines else type(err).__name__)
    return rdmol, None


def sanitize_error(mol: Molecule, bonds: np.ndarray | None = None) -> str | None:
    """RDKit's one-line message if the molecule with EDM bonds fails ``SanitizeMol``, else None."""
    return _sanitized_rdkit(mol, bonds)[1]


def edm_smiles(mol: Molecule, bonds: np.ndarray | None = None) -> str | None:
    """Canonical SMILES of the largest fragment if the whole molecule sanitizes, else None."""
    from rdkit import Chem
    from rdkit.rdBase import BlockLogs

    rdmol, _ = _sanitized_rdkit(mol, bonds)
    if rdmol is None:
        return None
    with BlockLogs():  # RemoveHs warns about unusual hydrogens on generated molecules
        fragments = Chem.GetMolFrags(rdmol, asMols=True)
        largest = max(fragments, default=rdmol, key=lambda m: m.GetNumAtoms())  # first wins ties, as in EDM
        return Chem.MolToSmiles(Chem.RemoveHs(largest, sanitize=False))


def evaluate(
    molecules: list[Molecule],
    train_smiles: set[str] | None = None,
    smiles: list[str | None] | None = None,
    valences: dict[str, tuple[int, ...]] = VALENCES,
) -> dict:
    """EDM metrics of a set of (generated) molecules; every molecule counts.

    ``smiles`` (optional, one per molecule, None or '' = invalid) skips recomputing
    ``edm_smiles``. Returns fractions in 0..1: atom_stability (pooled over all atoms),
    mol_stability, validity, uniqueness (unique valid / valid), valid_x_unique
    (unique valid / n), novelty (unique valid not in ``train_smiles`` / unique valid; None
    without ``train_smiles``); and n. ``valences`` changes the stability rule only (e.g.
    ``RELAXED_VALENCES``, reported as a labelled variant, never the reference).
    """
    if not molecules:
        raise ValueError("evaluate needs at least one molecule")
    if smiles is not None and len(smiles) != len(molecules):
        raise ValueError(f"got {len(smiles)} SMILES for {len(molecules)} molecules")
    stable_atoms = total_atoms = stable_mols = 0
    all_smiles: list[str | None] = []
    for k, mol in enumerate(molecules):
        bonds = bond_orders(mol)
        n_stable, n_atoms, mol_stable = stability(mol, bonds, valences)
        stable_atoms += n_stable
        total_atoms += n_atoms
        stable_mols += mol_stable
        all_smiles.append(edm_smiles(mol, bonds) if smiles is None else smiles[k])
    valid = [s for s in all_smiles if s]
    unique = set(valid)
    n = len(molecules)
    novelty = None
    if train_smiles is not None:
        novelty = len(unique - set(train_smiles)) / len(unique) if unique else 0.0
    return {
        "n": n,
        "atom_stability": stable_atoms / total_atoms,
        "mol_stability": stable_mols / n,
        "validity": len(valid) / n,
        "uniqueness": len(unique) / len(valid) if valid else 0.0,
        "valid_x_unique": len(unique) / n,
        "novelty": novelty,
    }


def fragment_labels(bonds: np.ndarray) -> np.ndarray:
    """(N,) connected-component label per atom, numbered in order of each fragment's lowest index."""
    n = len(bonds)
    adjacent = (bonds > 0) | np.eye(n, dtype=bool)  # (N, N)
    labels = np.arange(n)
    while True:  # propagate the smallest index through each component (≤ diameter rounds)
        spread = np.where(adjacent, labels[None, :], n).min(1)  # (N,)
        if np.array_equal(spread, labels):
            break
        labels = spread
    return np.unique(labels, return_inverse=True)[1]


def diagnose(mol: Molecule) -> list[dict]:
    """Why a molecule fails EDM's checks; an empty list means no failure.

    Entries: ``valence`` (one per unstable atom: atom, element, bond_sum, allowed),
    ``fragments`` (count and the atoms outside the largest fragment), ``clash`` (one per pair
    closer than CLASH_DISTANCE Å: atoms, distance in Å), ``sanitize`` (RDKit's message).
    """
    bonds = bond_orders(mol)
    reasons: list[dict] = []
    sums, allowed = atom_valence_sums(mol, bonds), allowed_valences(mol)
    for i in np.flatnonzero(~stable_atoms(mol, bonds)):
        reasons.append({"kind": "valence", "atom": int(i), "element": mol.elements[i],
                        "bond_sum": int(sums[i]), "allowed": int(allowed[i])})
    labels = fragment_labels(bonds)
    sizes = np.bincount(labels)  # (fragments,)
    if len(sizes) > 1:
        largest = int(np.argmax(sizes))  # first of equal sizes, as in edm_smiles
        reasons.append({"kind": "fragments", "count": len(sizes),
                        "atoms": [int(i) for i in np.flatnonzero(labels != largest)]})
    dist = distances(mol)
    for i, j in zip(*np.nonzero(np.triu(dist < CLASH_DISTANCE, 1)), strict=True):
        reasons.append({"kind": "clash", "atoms": [int(i), int(j)], "distance": float(dist[i, j])})
    message = sanitize_error(mol, bonds)
    if message is not None:
        reasons.append({"kind": "sanitize", "message": message})
    return reasons


def failure_reasons(mol: Molecule) -> list[str]:
    """Distinct failure labels in order of first appearance: valence, fragments, clash, sanitize."""
    return list(dict.fromkeys(r["kind"] for r in diagnose(mol)))


def relaxed_stability(molecules: list[Molecule]) -> dict:
    """The labelled S 2/4/6 variant (later work; EDM allows S 4 only): atom and molecule stability
    under ``RELAXED_VALENCES``, as ``atom_stability_s246`` and ``mol_stability_s246``."""
    relaxed = evaluate(molecules, smiles=[None] * len(molecules), valences=RELAXED_VALENCES)
    return {"atom_stability_s246": relaxed["atom_stability"], "mol_stability_s246": relaxed["mol_stability"]}


def wasserstein_1d(a, b) -> float:
    """Earth mover's (W1) distance between two 1-D samples (atom counts, bond lengths in Å, …):
    the mean absolute difference of their quantile functions."""
    from scipy.stats import wasserstein_distance

    return float(wasserstein_distance(np.asarray(a, dtype=float), np.asarray(b, dtype=float)))


BOND_NAMES = {1: "single", 2: "double", 3: "triple"}


def bond_lengths(molecules: list[Molecule]) -> dict[str, list[float]]:
    """Lengths (Å) of EDM-table bonds by type, e.g. ``"C-H single"`` (elements in table order)."""
    out: dict[str, list[float]] = {}
    for m in molecules:
        bonds, dist = bond_orders(m), distances(m)
        for i, j in zip(*np.nonzero(np.triu(bonds, 1))):
            a, b = sorted((m.elements[i], m.elements[j]), key=TABLE_ELEMENTS.index)
            out.setdefault(f"{a}-{b} {BOND_NAMES[int(bonds[i, j])]}", []).append(float(dist[i, j]))
    return out
