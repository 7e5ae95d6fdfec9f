"""Datasets: one spec per dataset (vocabulary, size limits, groups, examples) and one data interface.

A ``DatasetSpec`` is everything the library and the app need to know about a dataset, so nothing
else hard-codes QM9: the model's type vocabulary and maximum length (``ModelConfig`` stores the
dataset's name and elements, so a checkpoint describes itself, as nanoGPT stores ``vocab_size``),
the functional groups it is conditioned on, the sizes the Generate page warns about, and the
molecules the pages offer as examples. Bond tables and valences are not per dataset: EDM uses one
table and one ``allowed_bonds`` for QM9 and GEOM alike (see ``inertialar.chem.metrics``).

Every dataset module (``qm9``, ``moses``) implements the same interface::

    prepare(workers, progress, force, **options) -> dict[split, Path]   # builds the token cache
    split_hash(root=None) -> str                                        # fingerprint of the split

and the cache it writes is a ``data.TokenSet`` per split, read by ``data.load_split``.
"""

from __future__ import annotations

from dataclasses import dataclass

from inertialar.chem.groups import DRUG_GROUP_NAMES, GROUP_NAMES

QM9_ELEMENTS: tuple[str, ...] = ("H", "C", "N", "O", "F")  # token order of every QM9 checkpoint
DRUG_ELEMENTS: tuple[str, ...] = QM9_ELEMENTS + ("S", "Cl", "Br")


@dataclass(frozen=True)
class DatasetSpec:
    """What a dataset is: ``elements`` in token order; ``max_atoms`` (with H) and ``max_heavy`` the
    largest molecules it holds (longer molecules are rejected when the data is built);
    ``fragment_default`` the Generate page's fragment SMILES; ``examples`` (name, SMILES) pairs."""

    name: str
    label: str
    elements: tuple[str, ...]
    max_atoms: int
    max_heavy: int
    groups: tuple[str, ...]
    splits: tuple[str, ...]
    fragment_default: str
    examples: tuple[tuple[str, str], ...]
    module: str  # its builder in ``data.builders.BUILDERS``



QM9 = DatasetSpec(
    name="qm9", label="QM9 (B3LYP geometries, EDM split)", elements=QM9_ELEMENTS, max_atoms=29, max_heavy=9,
    groups=GROUP_NAMES, splits=("train", "valid", "test"),
    fragment_default="CC(O)C#N",  # lactonitrile: 5 heavy atoms, QM9-sized
    examples=(("acetonitrile", "CC#N"), ("acetone", "CC(=O)C"), ("benzene", "c1ccccc1"),
              ("glycine", "NCC(=O)O"), ("pyridine", "c1ccncc1")),
    module="qm9",
)
MOSES = DatasetSpec(
    name="moses", label="drug-like (MOSES, MMFF94 conformers)", elements=DRUG_ELEMENTS, max_atoms=72,
    max_heavy=27, groups=DRUG_GROUP_NAMES, splits=("train", "valid", "test"),
    fragment_default="CC(=O)Nc1ccccc1",  # acetanilide, the core of paracetamol
    examples=(("aspirin", "CC(=O)Oc1ccccc1C(=O)O"), ("caffeine", "Cn1cnc2c1c(=O)n(C)c(=O)n2C"),
              ("ibuprofen", "CC(C)Cc1ccc(cc1)C(C)C(=O)O"), ("paracetamol", "CC(=O)Nc1ccc(O)cc1")),
    module="moses",
)
DATASETS: dict[str, DatasetSpec] = {s.name: s for s in (QM9, MOSES)}


def get_dataset(name: str) -> DatasetSpec:
    """The spec named ``name``; ValueError listing the known ones otherwise."""
    try:
        return DATASETS[name]
    except KeyError:
        raise ValueError(f"unknown dataset {name!r}; choose from {', '.join(DATASETS)}") from None
