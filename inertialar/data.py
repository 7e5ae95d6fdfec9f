"""QM9 from the PyPI package ``qm9pack``, EDM's split, the processed token cache, and batching.

A dataset is a ``TokenSet``: canonical atom tokens of many molecules stored flat (types,
coordinates in Å, offsets) plus per-molecule SMILES (EDM pipeline) and functional-group labels.
Any other dataset (e.g. GEOM-Drugs) fits by producing the same arrays.

Split (EDM, e3_diffusion_for_molecules): ``np.random.seed(0)``, a permutation of the 130,831
rows in file order, train = first 100,000, valid = next 17,748, test = last 13,083.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
from dataclasses import dataclass
from multiprocessing import Pool
from pathlib import Path

import numpy as np

from inertialar.atomic import atomic_path
from inertialar.molecule import ELEMENTS, Molecule

SPLITS = {"train": (0, 100_000), "valid": (100_000, 117_748), "test": (117_748, 130_831)}
N_QM9 = 130_831
CACHE_VERSION = 3


def cache_dir() -> Path:
    """Where processed data and runs live: $INERTIALAR_CACHE or ~/.cache/inertialar."""
    return Path(os.environ.get("INERTIALAR_CACHE", Path.home() / ".cache" / "inertialar"))


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


def split_hash() -> str:
    """A short fingerprint of the split (stored in checkpoints)."""
    return hashlib.sha256(edm_permutation().tobytes()).hexdigest()[:16]


@dataclass
class TokenSet:
    """Canonical tokens of a set of molecules, flat.

    types (A,) int8 element indices into ELEMENTS; coords (A, 3) float32 Å in each molecule's
    inertial frame; offsets (M+1,) int64; smiles (M,) EDM-pipeline SMILES ('' when invalid);
    groups (M, G) bool functional-group labels; index (M,) QM9 ids.
    """

    types: np.ndarray
    coords: np.ndarray
    offsets: np.ndarray
    smiles: np.ndarray
    groups: np.ndarray
    index: np.ndarray

    def __len__(self) -> int:
        return len(self.offsets) - 1

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def molecule(self, k: int) -> Molecule:
        lo, hi = self.offsets[k], self.offsets[k + 1]
        elements = tuple(ELEMENTS[t] for t in self.types[lo:hi])
        return Molecule(elements, self.coords[lo:hi].astype(np.float64), f"QM9 {int(self.index[k])}")


def _process(args: tuple[Molecule, str]):
    """Worker: canonical tokens, EDM SMILES and group labels of one molecule."""
    from inertialar.frames import canonicalize
    from inertialar.groups import group_vector
    from inertialar.metrics import edm_smiles
    from inertialar.tokenizer import molecule_to_tokens

    mol, qm9_smiles = args
    canon = canonicalize(mol).molecule
    smiles = edm_smiles(canon)
    types, coords = molecule_to_tokens(canon)
    return types.astype(np.int8), coords.astype(np.float32), smiles or "", group_vector(smiles or qm9_smiles)


def build_tokenset(molecules: list[Molecule], qm9_smiles: list[str], index: np.ndarray, workers: int = 2,
                   progress: bool = True, desc: str = "") -> TokenSet:
    """Canonicalize molecules (in parallel) into a TokenSet."""
    from tqdm import tqdm

    jobs = list(zip(molecules, qm9_smiles))
    if workers > 1:
        with Pool(workers) as pool:
            results = list(tqdm(pool.imap(_process, jobs, chunksize=256), total=len(jobs), desc=desc,
                                disable=not progress, unit="mol"))
    else:
        results = [_process(j) for j in tqdm(jobs, desc=desc, disable=not progress, unit="mol")]
    lengths = np.array([len(r[0]) for r in results], dtype=np.int64)
    return TokenSet(
        types=np.concatenate([r[0] for r in results]),
        coords=np.concatenate([r[1] for r in results]),
        offsets=np.concatenate([[0], np.cumsum(lengths)]),
        smiles=np.array([r[2] for r in results], dtype=object),
        groups=np.stack([r[3] for r in results]),
        index=np.asarray(index, dtype=np.int64),
    )


def _cache_path(split: str) -> Path:
    return cache_dir() / f"qm9_{split}_v{CACHE_VERSION}.npz"


def save_tokenset(ts: TokenSet, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        np.savez(tmp, types=ts.types, coords=ts.coords, offsets=ts.offsets, smiles=ts.smiles.astype(str),
                 groups=ts.groups, index=ts.index)


def pack(dest: str | Path, splits: tuple[str, ...] = ("train", "valid")) -> list[Path]:
    """Compressed copies of cached splits in ``dest`` (≈ 25 MB for train + valid), to travel with the
    code to a machine without RDKit; ``load_split(split, root=dest)`` reads them."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    out = []
    for split in splits:
        ts = load_split(split)
        path = dest / _cache_path(split).name
        with atomic_path(path) as tmp:
            np.savez_compressed(tmp, types=ts.types, coords=ts.coords, offsets=ts.offsets,
                                smiles=ts.smiles.astype(str), groups=ts.groups, index=ts.index)
        out.append(path)
    return out


def load_tokenset(path: Path) -> TokenSet:
    with np.load(path, allow_pickle=False) as z:
        return TokenSet(z["types"], z["coords"], z["offsets"], z["smiles"].astype(object), z["groups"], z["index"])


def prepare(workers: int = 2, progress: bool = True, force: bool = False) -> dict[str, Path]:
    """Build the token cache for all three splits (skips splits already cached)."""
    paths = {s: _cache_path(s) for s in SPLITS}
    todo = [s for s in SPLITS if force or not paths[s].exists()]
    if not todo:
        return paths
    raw = load_qm9_raw()
    for split in todo:
        rows = split_rows(split)
        ts = build_tokenset([raw.molecules[r] for r in rows], [raw.smiles[r] for r in rows], raw.index[rows],
                            workers=workers, progress=progress, desc=f"canonicalizing {split}")
        save_tokenset(ts, paths[split])
    return paths


def load_split(split: str, root: str | Path | None = None) -> TokenSet:
    """The cached TokenSet of a split (from ``root`` if given, e.g. a packed copy); a clear error if missing."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose from {', '.join(SPLITS)}")
    path = _cache_path(split) if root is None else Path(root) / _cache_path(split).name
    if not path.exists():
        raise FileNotFoundError(f"no processed QM9 cache at {path}; run: python -m inertialar data prepare")
    return load_tokenset(path)


def train_smiles() -> set[str]:
    """EDM-pipeline SMILES of the training split (for novelty)."""
    return {s for s in load_split("train").smiles if s}


def bucketed_batches(lengths: np.ndarray, batch_tokens: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Molecule-index batches of similar length, each padded size ≤ batch_tokens, in random order.

    Molecules are shuffled, then sorted by length within chunks of a few thousand, so batches are
    both random and nearly padding-free; the batch order is shuffled again.
    """
    order = rng.permutation(len(lengths))
    batches: list[np.ndarray] = []
    for lo in range(0, len(order), 4096):
        part = order[lo:lo + 4096]
        part = part[np.argsort(lengths[part], kind="stable")]
        start = 0
        for k in range(len(part)):
            if (k + 1 - start) * (int(lengths[part[k]]) + 2) > batch_tokens and k > start:
                batches.append(part[start:k])
                start = k
        batches.append(part[start:])
    return [batches[i] for i in rng.permutation(len(batches))]
