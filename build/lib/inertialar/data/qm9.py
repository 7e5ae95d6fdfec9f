"""QM9 from the PyPI package ``qm9pack`` (130,831 molecules, B3LYP geometries) and EDM's split.

Split (EDM, e3_diffusion_for_molecules): ``np.random.seed(0)``, a permutation of the 130,831
rows in file order, train = first 100,000, valid = next 17,748, test = last 13,083.
Implements the dataset interface of ``inertialar.data.specs``: ``prepare`` and ``split_hash``.
"""

from __future__ import annotations

import hashlib
import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from inertialar.chem.molecule import Molecule
from inertialar.data.specs import QM9
from inertialar.data.tokenset import build_tokenset, cache_path, save_tokenset

SPLITS = {"train": (0, 100_000), "valid": (100_000, 117_748), "test": (117_748, 130_831)}
N_QM9 = 130_831


def qm9_csv_paths() -> list[Path]:
    """The three QM9 CSVs inside the installed qm9pack (not imported: it needs pkg_resources)."""
    spec = importlib.util.find_spec("qm9pack")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the package qm9pack is not installed (pip install qm9pack)")
    root = Path(list(spec.submodule_search_locations)[0]) / "data"
    return [root / f"qm9_part{k}.csv" for k in (1, 2, 3)]


@dataclass
class RawQM9:
    """All QM9 rows in file order: index (M,), smiles (M,), molecules."""

    index: np.ndarray
    smiles: list[str]
    molecules: list[Molecule]


def load_qm9_raw(rows: np.ndarray | None = None) -> RawQM9:
    """Parse the qm9pack CSVs; ``rows`` selects row numbers (file order) to build molecules for."""
    import pandas as pd

    frames = [pd.read_csv(p, usecols=["Index", "SMILES", "Elements", "XYZ_Ang"]) for p in qm9_csv_paths()]
    table = pd.concat(frames, ignore_index=True)
    if len(table) != N_QM9:
        raise RuntimeError(f"qm9pack holds {len(table)} molecules, expected {N_QM9}")
    rows = np.arange(len(table)) if rows is None else np.asarray(rows)
    elements = table["Elements"].to_numpy()
    xyz = table["XYZ_Ang"].to_numpy()
    mols = []
    for r in rows:
        syms = tuple(s.strip(" '\"") for s in elements[r].strip("[]").split(","))
        coords = np.array(xyz[r].replace("[", "").replace("]", "").split(","), dtype=np.float64)
        mols.append(Molecule(syms, coords.reshape(-1, 3), f"QM9 {int(table['Index'].iat[r])}"))
    return RawQM9(table["Index"].to_numpy()[rows], list(table["SMILES"].to_numpy()[rows]), mols)


def edm_permutation() -> np.ndarray:
    """EDM's row permutation of QM9 (global-seeded exactly as EDM does, state restored)."""
    state = np.random.get_state()
    try:
        np.random.seed(0)
        return np.random.permutation(N_QM9)
    finally:
        np.random.set_state(state)


def split_rows(split: str) -> np.ndarray:
    """Row numbers (file order) of the EDM split ``train``, ``valid`` or ``test``."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose from {', '.join(SPLITS)}")
    lo, hi = SPLITS[split]
    return edm_permutation()[lo:hi]


def split_hash(root: str | Path | None = None) -> str:
    """A short fingerprint of the split (stored in checkpoints)."""
    return hashlib.sha256(edm_permutation().tobytes()).hexdigest()[:16]


def prepare(workers: int = 2, progress: bool = True, force: bool = False) -> dict[str, Path]:
    """Build the token cache for all three splits (skips splits already cached)."""

    paths = {s: cache_path(QM9, s) for s in SPLITS}
    todo = [s for s in SPLITS if force or not paths[s].exists()]
    if not todo:
        return paths
    raw = load_qm9_raw()
    for split in todo:
        rows = split_rows(split)
        ts = build_tokenset([raw.molecules[r] for r in rows], [raw.smiles[r] for r in rows], raw.index[rows],
                            QM9, workers=workers, progress=progress, desc=f"canonicalizing {split}")
        save_tokenset(ts, paths[split])
    return paths
