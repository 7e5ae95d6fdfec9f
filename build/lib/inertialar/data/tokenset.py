"""The data interface shared by every dataset: the token cache and ``TokenSet`` (batches: ``batching``).

A dataset is a ``TokenSet`` per split: canonical atom tokens of many molecules stored flat
(types, coordinates in Å, offsets) plus per-molecule SMILES (EDM pipeline), functional-group
labels and source ids. Which molecules, and where they come from, is the dataset module's job
(``inertialar.data.qm9``, ``inertialar.data.moses``); they all build their caches with
``build_tokenset`` / ``save_tokenset`` here and are read back with ``load_split``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from multiprocessing import Pool
from pathlib import Path

import numpy as np

from inertialar.chem.frames import canonicalize
from inertialar.chem.groups import group_vector
from inertialar.chem.metrics import edm_smiles
from inertialar.chem.molecule import Molecule
from inertialar.data.specs import QM9, QM9_ELEMENTS, DatasetSpec, get_dataset
from inertialar.data.tokenizer import molecule_to_tokens
from inertialar.files import atomic_path

CACHE_VERSION = 3


def cache_dir() -> Path:
    """Where processed data and runs live: $INERTIALAR_CACHE or ~/.cache/inertialar."""
    return Path(os.environ.get("INERTIALAR_CACHE", Path.home() / ".cache" / "inertialar"))


def _spec(dataset: str | DatasetSpec) -> DatasetSpec:
    return dataset if isinstance(dataset, DatasetSpec) else get_dataset(dataset)


@dataclass
class TokenSet:
    """Canonical tokens of a set of molecules, flat.

    types (A,) int8 indices into ``elements``; coords (A, 3) float32 Å in each molecule's
    inertial frame; offsets (M+1,) int64; smiles (M,) EDM-pipeline SMILES ('' when invalid);
    groups (M, G) bool functional-group labels (the dataset's group list); index (M,) source ids
    (QM9 ids, MOSES row numbers); ``dataset`` the spec name.
    """

    types: np.ndarray
    coords: np.ndarray
    offsets: np.ndarray
    smiles: np.ndarray
    groups: np.ndarray
    index: np.ndarray
    elements: tuple[str, ...] = QM9_ELEMENTS
    dataset: str = field(default="qm9")  # caches written before datasets were named are QM9's

    def __len__(self) -> int:
        return len(self.offsets) - 1

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def molecule(self, k: int) -> Molecule:
        lo, hi = self.offsets[k], self.offsets[k + 1]
        elements = tuple(self.elements[t] for t in self.types[lo:hi])
        name = get_dataset(self.dataset).name.upper()
        return Molecule(elements, self.coords[lo:hi].astype(np.float64), f"{name} {int(self.index[k])}")


def process_molecule(mol: Molecule, source_smiles: str, spec: DatasetSpec):
    """Canonical tokens (types (N,) int8, coords (N, 3) float32 Å), EDM SMILES ('' if invalid) and
    group labels (G,) of one molecule; groups come from the EDM SMILES, else the source SMILES."""

    canon = canonicalize(mol).molecule
    smiles = edm_smiles(canon)
    types, coords = molecule_to_tokens(canon, spec.elements)
    return (types.astype(np.int8), coords.astype(np.float32), smiles or "",
            group_vector(smiles or source_smiles, spec.groups))


def _process(args: tuple[Molecule, str, str]):
    mol, source_smiles, name = args
    return process_molecule(mol, source_smiles, get_dataset(name))


def assemble(results: list[tuple], index: np.ndarray, spec: DatasetSpec) -> TokenSet:
    """A TokenSet from per-molecule ``process_molecule`` results (in order) and their ids."""
    lengths = np.array([len(r[0]) for r in results], dtype=np.int64)
    n_groups = len(spec.groups)
    return TokenSet(
        types=np.concatenate([r[0] for r in results]) if results else np.zeros(0, np.int8),
        coords=np.concatenate([r[1] for r in results]) if results else np.zeros((0, 3), np.float32),
        offsets=np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
        smiles=np.array([r[2] for r in results], dtype=object),
        groups=np.stack([r[3] for r in results]) if results else np.zeros((0, n_groups), bool),
        index=np.asarray(index, dtype=np.int64),
        elements=spec.elements, dataset=spec.name,
    )


def build_tokenset(molecules: list[Molecule], source_smiles: list[str], index: np.ndarray,
                   spec: DatasetSpec = QM9, workers: int = 2, progress: bool = True, desc: str = "") -> TokenSet:
    """Canonicalize molecules (in parallel) into a TokenSet."""
    from tqdm import tqdm

    jobs = [(m, s, spec.name) for m, s in zip(molecules, source_smiles, strict=True)]
    if workers > 1:
        with Pool(workers) as pool:
            results = list(tqdm(pool.imap(_process, jobs, chunksize=256), total=len(jobs), desc=desc,
                                disable=not progress, unit="mol"))
    else:
        results = [_process(j) for j in tqdm(jobs, desc=desc, disable=not progress, unit="mol")]
    return assemble(results, index, spec)


def cache_path(dataset: str | DatasetSpec, split: str) -> Path:
    """The cache file of one split: ``{dataset}_{split}_v{CACHE_VERSION}.npz`` in ``cache_dir()``."""
    return cache_dir() / f"{_spec(dataset).name}_{split}_v{CACHE_VERSION}.npz"


def tokenset_arrays(ts: TokenSet) -> dict[str, np.ndarray]:
    return {"types": ts.types, "coords": ts.coords, "offsets": ts.offsets, "smiles": ts.smiles.astype(str),
            "groups": ts.groups, "index": ts.index, "elements": np.array(ts.elements, dtype=str),
            "dataset": np.array(ts.dataset)}


def save_tokenset(ts: TokenSet, path: Path, compressed: bool = False) -> None:
    """Write a TokenSet atomically (an interrupted write leaves no file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        (np.savez_compressed if compressed else np.savez)(tmp, **tokenset_arrays(ts))


def pack(dest: str | Path, dataset: str, splits: tuple[str, ...] = ("train", "valid")) -> list[Path]:
    """Compressed copies of cached splits in ``dest`` (QM9 ≈ 25 MB for train + valid), to travel with
    the code to a machine without RDKit; ``load_split(split, dataset, root=dest)`` reads them."""
    dest = Path(dest)
    out = []
    for split in splits:
        path = dest / cache_path(dataset, split).name
        save_tokenset(load_split(split, dataset), path, compressed=True)
        out.append(path)
    return out


def load_tokenset(path: Path) -> TokenSet:
    """A TokenSet file (caches written before the vocabulary was stored are QM9's)."""
    with np.load(path, allow_pickle=False) as z:
        extra = {}
        if "elements" in z.files:
            extra = {"elements": tuple(str(e) for e in z["elements"]), "dataset": str(z["dataset"])}
        return TokenSet(z["types"], z["coords"], z["offsets"], z["smiles"].astype(object), z["groups"], z["index"],
                        **extra)


def load_split(split: str, dataset: str | DatasetSpec, root: str | Path | None = None) -> TokenSet:
    """The cached TokenSet of a split (from ``root`` if given, e.g. a packed copy); a clear error if missing."""
    spec = _spec(dataset)
    if split not in spec.splits:
        raise ValueError(f"unknown split {split!r}; choose from {', '.join(spec.splits)}")
    path = cache_path(spec, split) if root is None else Path(root) / cache_path(spec, split).name
    if not path.exists():
        raise FileNotFoundError(f"no processed {spec.name} cache at {path}; "
                                f"run: python -m inertialar data prepare --dataset {spec.name}")
    return load_tokenset(path)


def check_fits(model, *sets: TokenSet) -> None:
    """ValueError (one line) unless the sets' vocabulary, groups and lengths fit ``model`` (a ModelConfig)."""
    for ts in sets:
        if tuple(ts.elements) != tuple(model.elements) or ts.groups.shape[1] != len(model.groups):
            raise ValueError(f"the {ts.dataset} data ({' '.join(ts.elements)}, {ts.groups.shape[1]} groups) does not "
                             f"match the model's vocabulary ({' '.join(model.elements)}, {len(model.groups)} groups)")
        if len(ts) and int(ts.lengths.max()) > model.max_atoms:
            raise ValueError(f"the {ts.dataset} data holds molecules of {int(ts.lengths.max())} atoms; "
                             f"the model places at most {model.max_atoms}")


def longest_molecule(dataset: str | DatasetSpec, root: str | Path | None = None) -> int:
    """Atoms (with H) of the largest molecule in the train and valid caches."""
    return max(int(load_split(s, dataset, root).lengths.max()) for s in ("train", "valid"))


def sequence_length(max_atoms: int) -> int:
    """The model's ``max_len`` for molecules of up to ``max_atoms`` atoms: atoms + the condition
    token, rounded up to a multiple of 8 (QM9: 29 → 32; drug-like ≈ 60–72)."""
    return -(-(max_atoms + 1) // 8) * 8


def train_smiles(dataset: str) -> set[str]:
    """EDM-pipeline SMILES of the training split (for novelty)."""
    return {s for s in load_split("train", dataset).smiles if s}
