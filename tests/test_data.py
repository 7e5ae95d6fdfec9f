"""QM9 loading, EDM split, token sets and batching."""

from __future__ import annotations

import numpy as np

from inertialar.chem.frames import canonicalize, same_sequence
from inertialar.chem.metrics import evaluate
from inertialar.data.batching import bucketed_batches
from inertialar.data.qm9 import N_QM9, SPLITS, edm_permutation, load_qm9_raw, split_rows
from inertialar.data.tokenset import TokenSet, build_tokenset, load_tokenset, save_tokenset


def test_edm_split_sizes_and_disjointness():
    sizes = {s: len(split_rows(s)) for s in SPLITS}
    assert sizes == {"train": 100_000, "valid": 17_748, "test": 13_083}
    rows = np.concatenate([split_rows(s) for s in SPLITS])
    assert len(np.unique(rows)) == N_QM9


def test_edm_split_is_the_global_seed_zero_permutation_and_leaves_numpy_rng_alone():
    np.random.seed(123)
    before = np.random.rand()
    np.random.seed(123)
    perm = edm_permutation()
    assert np.random.rand() == before
    np.random.seed(0)
    assert np.array_equal(perm, np.random.permutation(N_QM9))


def test_qm9_rows_parse_into_real_molecules():
    raw = load_qm9_raw(np.array([0, 1, 2]))
    assert [len(m) for m in raw.molecules] == [5, 4, 3]  # methane, ammonia, water
    assert raw.molecules[2].elements == ("O", "H", "H")
    assert raw.smiles[0] == "C"


def test_qm9_test_split_reproduces_published_data_metrics():
    raw = load_qm9_raw(split_rows("test"))
    result = evaluate(raw.molecules)
    assert 0.990 <= result["atom_stability"] <= 0.994
    assert 0.94 <= result["mol_stability"] <= 0.96
    assert 0.970 <= result["validity"] <= 0.980


def test_tokenset_round_trip_through_cache_file(tmp_path):
    raw = load_qm9_raw(split_rows("test")[:40])
    ts = build_tokenset(raw.molecules, raw.smiles, raw.index, workers=1, progress=False)
    assert len(ts) == 40 and ts.groups.shape == (40, 19)
    save_tokenset(ts, tmp_path / "ts.npz")
    back = load_tokenset(tmp_path / "ts.npz")
    assert isinstance(back, TokenSet)
    for k in (0, 17, 39):
        canon = canonicalize(raw.molecules[k]).molecule
        assert same_sequence(back.molecule(k), canon, tol=1e-5)  # float32 storage
    assert list(back.smiles) == list(ts.smiles)


def test_bucketed_batches_cover_every_molecule_once_within_budget():
    lengths = np.random.default_rng(0).integers(3, 30, size=5000)
    batches = bucketed_batches(lengths, 2560, np.random.default_rng(1))
    flat = np.concatenate(batches)
    assert np.array_equal(np.sort(flat), np.arange(5000))
    assert all(len(b) * (lengths[b].max() + 2) <= 2560 for b in batches)
    padding = sum(len(b) * lengths[b].max() - lengths[b].sum() for b in batches) / lengths.sum()
    assert padding < 0.1
