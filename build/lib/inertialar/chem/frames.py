"""Canonical atom order and inertial frame: a molecule → a sequence independent of pose and atom order.

The rule (InertialAR, arXiv 2510.27497, made total where the reference code is not):

1. **Symmetry classes.** Bonds come from ``rdDetermineBonds.DetermineConnectivity`` (distance
   based; it never fails). RDKit's ``CanonicalRankAtoms(breakTies=False)`` on that graph gives
   each atom a class rank ``c_i`` that depends on neither pose nor input order. Bond *orders*
   are deliberately left out: ``DetermineBonds`` places resonance charges (nitro, carboxylate)
   by input index, which would make the classes, and so the order, depend on the input order.
2. **Inertial frame.** Centre = centroid (unit masses, as the reference), inertia tensor
   ``I = Σ |r|² 1 − r rᵀ``, eigenvalues ascending ``I1 ≤ I2 ≤ I3``; axis k is the eigenvector of
   ``Ik``. Two eigenvalues whose gap is below ``DEGENERACY_GAP`` (relative to I3) span a
   degenerate plane whose in-plane axes are not defined by the tensor.
3. **Candidate frames.** Non-degenerate axes are known up to sign: the four right-handed sign
   choices are candidates. In a degenerate plane (or space) the first axis points along the
   class-weighted first moment ``Σ (c_i − c̄) r_i`` projected into it when that is longer than
   ``MOMENT_TOL``; otherwise along each *anchor* atom: the farthest-out atoms of the lowest
   class with a projection beyond ``ANCHOR_MIN`` (methane's H, benzene's C). Every candidate is
   right-handed (the last axis is the cross product), so chirality is kept. Linear molecules
   and single atoms have all coordinates zero on the undefined axes, so any completion works.
4. **Choice.** Each candidate gives coordinates ``y_i``. Its key is, first, the negated
   class-weighted moments ``−Σ (c_i − c̄) y_i`` (prefer positive moments: a smooth, noise-robust
   statistic), then the coordinates of all atoms sorted by class and, within a class, by
   position (``_class_sorted``: along the class's clearly widest axis first, else x, y, z); keys are compared
   entry by entry, entries closer than the tolerance counting as equal. The smallest key
   wins. The candidate set and the key depend only on the molecule, so the result is
   invariant; candidates with equal keys are related by an exact symmetry and give the same
   sequence. ``Frame.margin`` is how far the winner is from the runner-up (Å): small means
   fragile under noise.
5. **Order.** Atoms are ranked by (hydrogen last, class, geometric order within the class in
   the chosen frame) — ties broken by geometry, never by input index — and listed in the
   depth-first order in which RDKit writes the SMILES of the molecule renumbered by that rank
   (``canonical=False``), so bonded atoms tend to follow each other, as in the reference.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from inertialar.chem.molecule import Molecule, to_rdkit

DEGENERACY_GAP = 1e-2  # relative eigenvalue gap (ΔI / I3) below which two axes are degenerate
MOMENT_TOL = 1e-3  # Å; weighted moments shorter than this decide nothing
ANCHOR_MIN = 0.05  # Å; an anchor atom must be this far from the fixed axis
TIE_TOL = 1e-3  # Å; coordinates closer than this compare equal


@dataclass(frozen=True)
class Frame:
    """The inertial frame of one molecule, in the input's coordinates.

    centre (3,) Å; axes (3, 3) rows e1, e2, e3 (right-handed); eigenvalues (3,) Å² with unit
    masses, ascending; gaps (2,) relative gaps (I2−I1)/I3, (I3−I2)/I3; anchors: input indices of
    the atoms that fixed a degenerate plane (empty when moments decided); margin (Å): distance
    of the chosen frame's key from the nearest different candidate (inf: every candidate gives
    the same sequence, an exact symmetry); n_candidates; n_equivalent: candidates that tie with
    the chosen one (symmetry images).
    """

    centre: np.ndarray
    axes: np.ndarray
    eigenvalues: np.ndarray
    gaps: np.ndarray
    anchors: tuple[int, ...]
    margin: float
    n_candidates: int
    n_equivalent: int

    @property
    def degenerate(self) -> tuple[bool, bool]:
        return bool(self.gaps[0] < DEGENERACY_GAP), bool(self.gaps[1] < DEGENERACY_GAP)

    def to_frame(self, coords: np.ndarray) -> np.ndarray:
        """Input coordinates (N, 3) Å → coordinates in this frame (N, 3) Å."""
        return (np.asarray(coords) - self.centre) @ self.axes.T


@dataclass(frozen=True)
class Canonical:
    """A canonicalized molecule: ``molecule`` in canonical order and frame coordinates;
    ``order`` (N,) gives, for each canonical position, the input atom index; ``frame``."""

    molecule: Molecule
    order: np.ndarray
    frame: Frame

    @property
    def anchors_canonical(self) -> tuple[int, ...]:
        """Anchor atoms as canonical positions."""
        where = {int(old): new for new, old in enumerate(self.order)}
        return tuple(where[a] for a in self.frame.anchors)


def symmetry_classes(mol: Molecule):
    """Class rank per atom (N,) int from the connectivity graph, and the RDKit graph itself."""
    from rdkit import Chem
    from rdkit.Chem import rdDetermineBonds

    rdmol = to_rdkit(mol)
    if len(mol) > 1:
        rdDetermineBonds.DetermineConnectivity(rdmol)
    ranks = np.array(list(Chem.CanonicalRankAtoms(rdmol, breakTies=False)), dtype=np.int64)
    return ranks, rdmol


def _first_difference(a: np.ndarray, b: np.ndarray, tol: float) -> float:
    """|first entry-wise difference larger than tol| of two keys; inf when they agree within tol."""
    big = np.flatnonzero(np.abs(a - b) > tol)
    return float("inf") if big.size == 0 else float(abs(a[big[0]] - b[big[0]]))


def _class_sorted(y: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """Atom indices sorted by class, then by geometry within the class.

    Within a class, atoms are ordered by ``tolerant_order`` of their coordinates, starting with the axis
    along which the class is clearly most spread out (variance ≥ 1.2× any other), else x, y, z.
    Mirror-image pairs (the two H of a CH2) thus split along the axis that tells them apart
    instead of on a near-tie, which keeps the order stable under small coordinate noise.
    """
    _, inv, counts = np.unique(classes, return_inverse=True, return_counts=True)
    sums = np.zeros((len(counts), 3))
    squares = np.zeros((len(counts), 3))
    np.add.at(sums, inv, y)
    np.add.at(squares, inv, y * y)
    var = squares / counts[:, None] - (sums / counts[:, None]) ** 2  # (K, 3) per-class spread, Å²
    ranked = np.sort(var, axis=1)
    top = var.argmax(axis=1)
    clear = (counts > 1) & (ranked[:, 2] > 1.2 * ranked[:, 1]) & (ranked[:, 2] > TIE_TOL**2)
    perms = np.array([[0, 1, 2], [1, 0, 2], [2, 0, 1]])[np.where(clear, top, 0)]  # (K, 3) axis order
    yp = np.take_along_axis(y, perms[inv], axis=1)  # (N, 3) coordinates in comparison order
    groups = np.split(np.argsort(inv, kind="stable"), np.cumsum(counts)[:-1])  # members per class, in class order
    return np.concatenate([g if len(g) == 1 else g[tolerant_order(yp[g])] for g in groups]).astype(np.int64)


def tolerant_order(rows: np.ndarray, tol: float = TIE_TOL) -> np.ndarray:
    """Row indices in lexicographic order where values closer than ``tol`` count as tied.

    Column by column, sorted values are split into clusters wherever a gap exceeds ``tol`` (chains
    of near-ties stay together), and each cluster is ordered by the next column. Unlike a tolerant
    pairwise comparison this order is transitive, so it never depends on the order of the rows.
    Rows tied in every column are ordered by their exact values (they differ by less than tol).
    """
    rows = np.asarray(rows, dtype=np.float64)

    def order(idx: np.ndarray, col: int) -> list[int]:
        if len(idx) <= 1:
            return idx.tolist()
        if len(idx) == 2:  # the common case, without numpy overhead: first column that differs decides
            a, b = rows[idx[0]], rows[idx[1]]
            for c in range(col, rows.shape[1]):
                if abs(a[c] - b[c]) > tol:
                    return idx.tolist() if a[c] < b[c] else idx[::-1].tolist()
            return idx[np.lexsort(rows[idx].T[::-1])].tolist()
        if col == rows.shape[1]:
            return idx[np.lexsort(rows[idx].T[::-1])].tolist()
        idx = idx[np.argsort(rows[idx, col], kind="stable")]
        breaks = np.flatnonzero(np.diff(rows[idx, col]) > tol) + 1
        return [i for group in np.split(idx, breaks) for i in order(group, col + 1)]

    return np.array(order(np.arange(len(rows)), 0), dtype=np.int64)


def _in_plane_directions(r: np.ndarray, w: np.ndarray, classes: np.ndarray, normal: np.ndarray | None):
    """Unit directions (with their anchor atoms) that may fix the first axis of a degenerate
    plane ⊥ ``normal`` (or of all space when normal is None)."""
    proj = r if normal is None else r - np.outer(r @ normal, normal)  # (N, 3) Å
    moment = w @ proj
    if np.linalg.norm(moment) > MOMENT_TOL:
        return [(moment / np.linalg.norm(moment), ())]
    norms = np.linalg.norm(proj, axis=1)
    eligible = np.flatnonzero(norms > ANCHOR_MIN)
    if eligible.size == 0:  # linear molecule or single atom: the undefined axes carry zeros
        seed = np.eye(3)[np.argmin(np.abs(normal))] if normal is not None else np.eye(3)[0]
        seed = seed if normal is None else seed - (seed @ normal) * normal
        return [(seed / np.linalg.norm(seed), ())]
    lowest = classes[eligible].min()
    members = eligible[classes[eligible] == lowest]
    far = members[norms[members] > norms[members].max() - TIE_TOL]
    return [(proj[a] / norms[a], (int(a),)) for a in far]


def _candidates(r: np.ndarray, w: np.ndarray, classes: np.ndarray, vec: np.ndarray, gaps: np.ndarray):
    """Right-handed candidate frames: list of ((3, 3) rows e1 e2 e3, anchor atoms)."""
    v0, v1, v2 = vec.T
    deg01, deg12 = gaps[0] < DEGENERACY_GAP, gaps[1] < DEGENERACY_GAP
    out = []
    if not deg01 and not deg12:
        for s0 in (1.0, -1.0):
            for s1 in (1.0, -1.0):
                e0, e1 = s0 * v0, s1 * v1
                out.append((np.stack([e0, e1, np.cross(e0, e1)]), ()))
    elif deg01 and deg12:
        for e0, a0 in _in_plane_directions(r, w, classes, None):
            for e1, a1 in _in_plane_directions(r, w, classes, e0):
                out.append((np.stack([e0, e1, np.cross(e0, e1)]), a0 + a1))
    elif deg01:  # e1, e2 span a plane; e3 is defined up to sign
        for s in (1.0, -1.0):
            e2 = s * v2
            for e0, a in _in_plane_directions(r, w, classes, e2):
                out.append((np.stack([e0, np.cross(e2, e0), e2]), a))
    else:  # e2, e3 span a plane; e1 is defined up to sign
        for s in (1.0, -1.0):
            e0 = s * v0
            for e1, a in _in_plane_directions(r, w, classes, e0):
                out.append((np.stack([e0, e1, np.cross(e0, e1)]), a))
    return out


def inertial_frame(coords: np.ndarray, classes: np.ndarray) -> Frame:
    """The canonical inertial frame of coordinates (N, 3) Å with symmetry classes (N,)."""
    coords = np.asarray(coords, dtype=np.float64)
    centre = coords.mean(axis=0)
    r = coords - centre  # (N, 3) Å
    inertia = (r * r).sum() * np.eye(3) - r.T @ r  # (3, 3) Å², unit masses
    lam, vec = np.linalg.eigh(inertia)  # ascending; columns are axes
    lam = np.clip(lam, 0.0, None)
    gaps = np.diff(lam) / max(lam[2], 1e-12)
    w = classes - classes.mean()
    w = w / max(np.abs(w).sum(), 1.0)  # class weights; moments are in Å
    keyed = []
    for axes, anchors in _candidates(r, w, classes, vec, gaps):
        y = r @ axes.T  # (N, 3) coordinates in the candidate frame, Å
        key = np.concatenate([-(w @ y), y[_class_sorted(y, classes)].ravel()])
        keyed.append((key, axes, anchors))
    best = int(tolerant_order(np.stack([key for key, _, _ in keyed]))[0])
    margins = [_first_difference(keyed[k][0], keyed[best][0], TIE_TOL) for k in range(len(keyed)) if k != best]
    n_equal = 1 + sum(m == float("inf") for m in margins)  # symmetry images of the winner
    _, axes, anchors = keyed[best]
    return Frame(centre, axes, lam, gaps, anchors, min(margins, default=float("inf")), len(keyed), n_equal)


def canonical_order(rdmol, classes: np.ndarray, y: np.ndarray, is_h: np.ndarray) -> np.ndarray:
    """Input indices in canonical (SMILES depth-first) order; ``y`` (N, 3) frame coordinates."""
    from rdkit import Chem

    within = np.empty(len(y), dtype=np.int64)
    within[_class_sorted(y, classes)] = np.arange(len(y))
    rank_order = np.lexsort((within, classes, is_h))  # hydrogens last, then class, then geometry
    renumbered = Chem.RenumberAtoms(rdmol, [int(i) for i in rank_order])
    Chem.MolToSmiles(renumbered, canonical=False)
    text = renumbered.GetProp("_smilesAtomOutputOrder")  # e.g. "[0,2,1,]"
    output = np.array([int(t) for t in text.strip("[]").split(",") if t], dtype=np.int64)
    return rank_order[output]


def canonicalize(mol: Molecule) -> Canonical:
    """Canonical order + inertial frame of ``mol`` (see the module docstring for the rule)."""
    classes, rdmol = symmetry_classes(mol)
    frame = inertial_frame(mol.coords, classes)
    y = frame.to_frame(mol.coords)
    is_h = np.array([e == "H" for e in mol.elements])
    order = canonical_order(rdmol, classes, y, is_h)
    out = Molecule(tuple(mol.elements[i] for i in order), y[order], mol.title)
    return Canonical(out, order, frame)


def random_pose(mol: Molecule, rng: np.random.Generator, shift: float = 5.0) -> Molecule:
    """A random proper rotation, translation (±shift Å) and atom permutation of ``mol``."""
    q = rng.normal(size=4)
    a, b, c, d = q / np.linalg.norm(q)
    rot = np.array(
        [
            [a * a + b * b - c * c - d * d, 2 * (b * c - a * d), 2 * (b * d + a * c)],
            [2 * (b * c + a * d), a * a - b * b + c * c - d * d, 2 * (c * d - a * b)],
            [2 * (b * d - a * c), 2 * (c * d + a * b), a * a - b * b - c * c + d * d],
        ]
    )
    perm = rng.permutation(len(mol))
    coords = mol.coords @ rot.T + rng.uniform(-shift, shift, size=3)
    return Molecule(tuple(mol.elements[i] for i in perm), coords[perm], mol.title)


def same_sequence(a: Molecule, b: Molecule, tol: float = 1e-3) -> bool:
    """True when two canonical molecules list the same elements and coordinates within tol Å."""
    return a.elements == b.elements and bool(np.abs(a.coords - b.coords).max() <= tol)


JUMP_BASE = 0.1  # Å; a token moving more than JUMP_BASE + JUMP_SIGMAS·σ under noise σ is a change
JUMP_SIGMAS = 5.0


def tokens_changed(ref: Molecule, other: Molecule, sigma: float) -> bool:
    """True when canonical ``other`` differs from ``ref`` by more than noise of size σ (Å) explains:
    the element sequence differs, or a token moved by more than 0.1 Å + 5σ (an axis flip, or two
    atoms trading places in the order, including symmetry-equivalent ones such as methyl H)."""
    if ref.elements != other.elements:
        return True
    return bool(np.abs(ref.coords - other.coords).max() > JUMP_BASE + JUMP_SIGMAS * sigma)


def noise_change_rate(mol: Molecule, sigma: float, trials: int, rng: np.random.Generator) -> float:
    """Fraction of ``trials`` copies with Gaussian noise σ (Å) + a random pose whose tokens change."""
    ref = canonicalize(mol).molecule
    changed = 0
    for _ in range(trials):
        noisy = Molecule(mol.elements, mol.coords + rng.normal(scale=sigma, size=mol.coords.shape))
        changed += tokens_changed(ref, canonicalize(random_pose(noisy, rng)).molecule, sigma)
    return changed / trials
