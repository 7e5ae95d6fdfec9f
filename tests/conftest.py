"""Shared fixtures: a tiny model config and model, toy molecules, a seeded generator."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from inertialar.chem.molecule import Molecule
from inertialar.data.qm9 import load_qm9_raw, split_rows
from inertialar.data.specs import get_dataset
from inertialar.data.tokenset import build_tokenset, cache_path, save_tokenset
from inertialar.nn.diffusion import DiffusionConfig
from inertialar.nn.model import InertialAR, ModelConfig
from inertialar.nn.transformer import BackboneConfig


def tiny_config(dataset: str = "qm9") -> ModelConfig:
    """A model small enough to build and sample in milliseconds (QM9's or the drug-like vocabulary)."""
    spec = get_dataset(dataset)
    return ModelConfig.for_dataset(
        spec, 31 if dataset == "qm9" else 63,
        backbone=BackboneConfig(width=32, depth=2, heads=2, rope_heads=1, rope_pairs_per_axis=2, nystrom_grid=3),
        diffusion=DiffusionConfig(width=32, depth=1, noise_draws=2),
    )


@pytest.fixture
def tiny_model() -> InertialAR:
    torch.manual_seed(0)
    return InertialAR(tiny_config()).eval()


@pytest.fixture(scope="session")
def small_cache(tmp_path_factory) -> Path:
    """A cache dir holding 400 training and 100 validation molecules."""
    root = tmp_path_factory.mktemp("cache")
    old = os.environ.get("INERTIALAR_CACHE")
    os.environ["INERTIALAR_CACHE"] = str(root)
    for split, n in (("train", 400), ("valid", 100)):
        raw = load_qm9_raw(split_rows(split)[:n])
        save_tokenset(build_tokenset(raw.molecules, raw.smiles, raw.index, workers=1, progress=False),
                      cache_path("qm9", split))
    yield root
    if old is None:
        os.environ.pop("INERTIALAR_CACHE", None)
    else:
        os.environ["INERTIALAR_CACHE"] = old


@pytest.fixture
def generator() -> torch.Generator:
    return torch.Generator().manual_seed(0)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


def _mol(elements: str | list[str], coords) -> Molecule:
    return Molecule(tuple(elements), np.array(coords, dtype=float))


@pytest.fixture
def water() -> Molecule:
    return _mol("OHH", [[0.0, 0.0, 0.1173], [0.0, 0.7572, -0.4692], [0.0, -0.7572, -0.4692]])


@pytest.fixture
def co2() -> Molecule:
    return _mol("OCO", [[-1.16, 0.0, 0.0], [0.0, 0.0, 0.0], [1.16, 0.0, 0.0]])


@pytest.fixture
def hydrogen() -> Molecule:
    return _mol("HH", [[0.0, 0.0, 0.0], [0.74, 0.0, 0.0]])


@pytest.fixture
def methane() -> Molecule:
    d = 1.09 / np.sqrt(3)
    return _mol("CHHHH", [[0, 0, 0], [d, d, d], [-d, -d, d], [-d, d, -d], [d, -d, -d]])


@pytest.fixture
def benzene() -> Molecule:
    ang = np.arange(6) * np.pi / 3
    ring = np.stack([np.cos(ang), np.sin(ang), np.zeros(6)], 1)
    return _mol(["C"] * 6 + ["H"] * 6, np.concatenate([1.39 * ring, 2.47 * ring]))


@pytest.fixture
def ethanol() -> Molecule:
    return _mol("CCOHHHHHH", [
        [-1.1879, -0.3829, 0.0], [0.0, 0.5526, 0.0], [1.1867, -0.2472, 0.0], [-2.1434, 0.1513, 0.0],
        [-1.1458, -1.0226, 0.8840], [-1.1458, -1.0226, -0.8840], [0.0395, 1.2073, 0.8776],
        [0.0395, 1.2073, -0.8776], [1.9613, 0.3265, 0.0],
    ])
