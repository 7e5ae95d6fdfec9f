"""The notebook API: load a model, sample molecules, get RDKit molecules, canonicalize.

    import inertialar
    model = inertialar.load()                                    # shipped QM9 checkpoint (+ its polisher)
    mols = inertialar.sample(model, 10, mode="best", present=("ether",), seed=0)
    rdmol = inertialar.to_rdkit(mols[0])                         # the chemist's bonds (as in SDF output)
    canon = inertialar.canonicalize(mols[0]).molecule            # canonical order + inertial frame

The top layer: it only composes what the layers below offer.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from inertialar.chem.bonds import perceive
from inertialar.chem.frames import canonicalize
from inertialar.chem.molecule import Molecule
from inertialar.nn.checkpoint import DEFAULT_POLISHERS, load_checkpoint, load_polisher
from inertialar.nn.model import InertialAR
from inertialar.nn.polisher import Polisher
from inertialar.sampling.modes import DEFAULT_MODE, mode_settings
from inertialar.sampling.sampler import sample as _sample

__all__ = ["Generator", "load", "sample", "to_rdkit", "canonicalize", "Molecule"]


@dataclass
class Generator:
    """A model and the polisher for its dataset (None where none is shipped), plus the checkpoint's metadata."""

    model: InertialAR
    polisher: Polisher | None
    meta: dict


def load(path: str | Path | None = None, polisher: str | Path | None = None, device: str = "cpu") -> Generator:
    """The model at ``path`` (default: the shipped QM9 checkpoint) and its polisher (default: the
    shipped one for the model's dataset, if there is one)."""
    model, meta = load_checkpoint(path, device=device)
    polish_path = polisher if polisher is not None else DEFAULT_POLISHERS.get(model.cfg.dataset)
    pol = load_polisher(polish_path)[0] if polish_path is not None and Path(polish_path).exists() else None
    return Generator(model, pol, meta)


def sample(generator: Generator, n: int = 10, mode: str = DEFAULT_MODE, seed: int = 0, **settings) -> list[Molecule]:
    """``n`` molecules in a quality mode (``raw`` | ``fast`` | ``best``); any ``SampleSettings``
    field overrides the mode (``present``, ``absent``, ``cfg_scale``, ``polish`` …)."""
    s = mode_settings(mode, n=n, seed=seed, **settings)
    s.check(generator.model.cfg)
    return _sample(generator.model, s, polisher=generator.polisher).molecules


def to_rdkit(mol: Molecule):
    """An RDKit molecule with the chemist's bonds and charges (``DetermineBonds``; EDM table last), 3-D conformer."""
    return perceive(mol).to_rdkit(mol)
