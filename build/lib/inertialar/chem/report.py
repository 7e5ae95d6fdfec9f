"""Per-molecule reports for people: what the app's pages and tables show about each molecule.

* ``noise_robustness``: how often a molecule's canonical tokens change under coordinate noise.
* ``molecule_report`` / ``failure_rows``: per-molecule SMILES, stability, radical electrons,
  groups and failure reasons from ``inertialar.chem.metrics`` and ``inertialar.chem.groups``, flattened for
  tables. Atoms are named element + 1-based canonical position (``C11``) everywhere, RDKit's
  messages included (``atom_name``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from inertialar.chem.frames import JUMP_BASE, JUMP_SIGMAS, noise_change_rate
from inertialar.chem.groups import detect_groups
from inertialar.chem.metrics import (
    VALENCES,
    allowed_valences,
    atom_valence_sums,
    bond_orders,
    diagnose,
    edm_smiles,
    stability,
)
from inertialar.chem.molecule import Molecule

NOISE_LEVELS = (0.0, 0.005, 0.01, 0.02, 0.05)  # Å, standard deviation per coordinate
NOISE_DEFINITION = (
    "Each trial adds Gaussian noise of standard deviation σ (Å, independently to every coordinate "
    "of the input pose), applies a random rotation + atom shuffle, and canonicalizes again. A trial "
    "counts as **changed** when the canonical tokens differ from the noise-free ones: the element "
    f"sequence differs, or some token moved by more than {JUMP_BASE} Å + {JUMP_SIGMAS:g}σ. The σ-term "
    "keeps the noise itself from counting; what remains are discrete jumps: an axis sign flip, a swap "
    "of near-degenerate axes, or two atoms trading places in the order (symmetry-equivalent ones, "
    "such as the H of a methyl, included). Same rule as benchmarks/canonicalization.py "
    "(`inertialar.chem.frames.tokens_changed`)."
)


def noise_robustness(mol: Molecule, levels: tuple[float, ...] = NOISE_LEVELS, trials: int = 30,
                     seed: int = 0) -> pd.DataFrame:
    """Per noise level σ (Å): changed_fraction of ``trials`` noisy copies, and n = trials."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame([{"noise_angstrom": sigma, "changed_fraction": noise_change_rate(mol, sigma, trials, rng),
                          "n": trials} for sigma in levels])


DEFINITIONS = (
    "**Stable**: every atom's bond-order sum (bonds inferred from interatomic distances, EDM's rule) equals "
    f"its valence (EDM's table: {', '.join(f'{e} {VALENCES[e][0]}' for e in ('H', 'C', 'N', 'O', 'F', 'S', 'Cl', 'Br'))}). "
    "**Valid**: RDKit sanitizes the "
    "molecule built from those bonds, "
    "adding implicit hydrogens to under-bonded atoms — so a valid molecule may be a radical; "
    "**radical e⁻** counts those missing hydrogens (what RDKit reports when it reads the downloaded SDF).")
VALID_UNSTABLE = ("valid but unstable: RDKit accepts it only by adding implicit hydrogens to the under-bonded "
                  "atoms (as written, with explicit atoms only, it is a radical); EDM stability needs every "
                  "valence exact")
_RDKIT_ATOM = re.compile(r"atom # ?(\d+) ([A-Z][a-z]?)")


def atom_name(element: str, index: int) -> str:
    """The one way the app names an atom: element + 1-based canonical position (= sampling step)."""
    return f"{element}{index + 1}"


def rdkit_message(message: str) -> str:
    """RDKit's text with its 0-based "atom # 10 C" rewritten as the app's ``C11``."""
    return _RDKIT_ATOM.sub(lambda m: atom_name(m.group(2), int(m.group(1))), message)


@dataclass(frozen=True)
class Report:
    """What the pages show per molecule."""

    smiles: str | None
    stable_atoms: int
    n_atoms: int
    stable: bool
    groups: frozenset[str]
    reasons: tuple[dict, ...]
    bonds: np.ndarray  # (N, N) EDM bond orders
    radicals: tuple[int, ...] = ()  # per atom: hydrogens missing for its valence (radical electrons)

    @property
    def valid(self) -> bool:
        return self.smiles is not None

    @property
    def radical_electrons(self) -> int:
        return int(sum(self.radicals))


def missing_hydrogens(mol: Molecule, bonds: np.ndarray) -> tuple[int, ...]:
    """(N,) per atom: valence − bond-order sum where positive (the implicit hydrogens RDKit adds,
    i.e. the radical electrons of the molecule as written)."""
    return tuple(int(v) for v in np.maximum(allowed_valences(mol) - atom_valence_sums(mol, bonds), 0))


def radical_summary(mol: Molecule, rep: Report) -> str:
    """'0' or e.g. '3 (C5 ×2, N7)': radical electrons and the atoms that carry them."""
    parts = [atom_name(mol.elements[i], i) + (f" ×{r}" if r > 1 else "") for i, r in enumerate(rep.radicals) if r]
    return f"{rep.radical_electrons} ({', '.join(parts)})" if parts else "0"


def molecule_report(mol: Molecule, with_reasons: bool = False) -> Report:
    """SMILES, stability, groups (and with_reasons: failure reasons) of one molecule."""
    from rdkit.rdBase import BlockLogs

    bonds = bond_orders(mol)
    with BlockLogs():  # RDKit's warnings about odd generated molecules are results, not log lines
        smiles = edm_smiles(mol, bonds)
        reasons = tuple(diagnose(mol)) if with_reasons else ()
    n_stable, n, ok = stability(mol, bonds)
    return Report(smiles, n_stable, n, ok, detect_groups(smiles), reasons, bonds, missing_hydrogens(mol, bonds))


def describe_reason(r: dict, mol: Molecule) -> str:
    """One short human-readable line per ``metrics.diagnose`` entry (atom numbers = steps, 1-based)."""
    if r["kind"] == "valence":
        return f"valence: {atom_name(r['element'], r['atom'])} has bond sum {r['bond_sum']}, allowed {r['allowed']}"
    if r["kind"] == "fragments":
        return f"fragments: {r['count']} pieces; {len(r['atoms'])} atom(s) outside the largest"
    if r["kind"] == "clash":
        i, j = r["atoms"]
        return f"clash: {atom_name(mol.elements[i], i)}–{atom_name(mol.elements[j], j)} at {r['distance']:.2f} Å"
    return f"sanitize (RDKit): {rdkit_message(r.get('message', ''))}"


def offending_atoms(reasons: tuple[dict, ...]) -> dict[str, tuple[int, ...]]:
    """Atom indices per failure kind (valence, fragments, clash)."""
    out: dict[str, list[int]] = {"valence": [], "fragments": [], "clash": []}
    for r in reasons:
        if r["kind"] == "valence":
            out["valence"].append(r["atom"])
        elif r["kind"] == "fragments":
            out["fragments"] += r["atoms"]
        elif r["kind"] == "clash":
            out["clash"] += r["atoms"]
    return {k: tuple(sorted(set(v))) for k, v in out.items()}


def failure_rows(molecules: list[Molecule], reports: list[Report]) -> pd.DataFrame:
    """One row per molecule (index = position in ``molecules``): # (1-based), atoms, SMILES, stable,
    valid, radical e⁻, reasons (kinds, or 'ok'), details (valid-but-unstable rows say why first)."""
    rows = []
    for k, (mol, rep) in enumerate(zip(molecules, reports)):
        kinds = list(dict.fromkeys(r["kind"] for r in rep.reasons))
        details = "; ".join(describe_reason(r, mol) for r in rep.reasons[:6]) + (" …" if len(rep.reasons) > 6 else "")
        if rep.valid and not rep.stable:
            details = f"{VALID_UNSTABLE}. {details}"
        rows.append({"#": k + 1, "atoms": len(mol), "SMILES": rep.smiles or "", "stable": rep.stable,
                     "valid": rep.valid, "radical e⁻": rep.radical_electrons, "reasons": ", ".join(kinds) or "ok",
                     "details": details})
    return pd.DataFrame(rows)


ATOMIC_NUMBERS = {"H": 1, "C": 6, "N": 7, "O": 8, "F": 9, "S": 16, "Cl": 17, "Br": 35}


def odd_electrons(mol: Molecule) -> bool:
    """Whether the neutral molecule has an odd electron count: no closed-shell structure exists on
    these atoms (a missing or extra hydrogen), whatever the geometry. An analysis of failures; the
    sampler never selects by it."""
    from rdkit import Chem

    table = Chem.GetPeriodicTable()
    return sum(ATOMIC_NUMBERS.get(e) or table.GetAtomicNumber(e) for e in mol.elements) % 2 == 1


def polish_outcome(raw_stable: bool, stable: bool) -> str:
    """What the polish did to one molecule's EDM stability, in words."""
    return {(False, True): "fixed", (False, False): "still failing", (True, False): "broken", (True, True): "kept"}[
        (raw_stable, stable)]
