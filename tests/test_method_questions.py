"""The method questions' parts: fragile-frame selection, the two noise placements, the equivariant peer."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from inertialar.chem.frames import canonicalize
from inertialar.chem.molecule import Molecule, read_molecules
from inertialar.data.fragility import fragile, fragile_flags, matched_control, noisy_tokens
from inertialar.data.specs import QM9, QM9_ELEMENTS
from inertialar.data.tokenset import assemble, process_molecule
from inertialar.nn.checkpoint import CheckpointError, is_peer, load_peer, save_polisher
from inertialar.nn.peer import Peer, PeerConfig
from inertialar.sampling.peer import atom_counts, karras_sigmas, sample_peer
from inertialar.training.polisher import PolisherTrainConfig, train_polisher, validation_loss

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def asymmetric(ethanol) -> Molecule:
    """Ethanol with fixed 0.1 Å noise: no symmetry, clear inertia gaps and margins."""
    return Molecule(ethanol.elements, ethanol.coords + np.random.default_rng(0).normal(0, 0.1, ethanol.coords.shape))


def test_symmetric_molecules_are_flagged_and_asymmetric_ones_are_not(methane, asymmetric):
    near_degenerate, symmetric, small_margin = fragile_flags(canonicalize(methane).frame)
    assert near_degenerate and symmetric
    assert fragile_flags(canonicalize(asymmetric).frame) == (False, False, False)


def test_fragile_selects_the_flagged_molecules_and_the_control_matches_atom_counts(methane, benzene, asymmetric):
    molecules = [asymmetric, methane, asymmetric, benzene, asymmetric, methane, asymmetric]
    ts = assemble([process_molecule(m, "", QM9) for m in molecules], np.arange(len(molecules)), QM9)
    subset, kinds = fragile(ts)
    assert subset.tolist() == [1, 3, 5] and kinds["exact symmetry"] == 3
    lengths = np.array([5, 5, 9, 5, 9, 12, 5, 9])
    control = matched_control(lengths, np.array([0, 2]), seed=3)
    assert [lengths[k] for k in control] == [5, 9] and not set(control) & {0, 2}
    assert control.tolist() == matched_control(lengths, np.array([0, 2]), seed=3).tolist()


def test_noise_after_canonicalization_keeps_the_frame_and_noise_before_recanonicalizes(asymmetric, methane):
    for mol in (asymmetric, methane):
        clean = process_molecule(mol, "", QM9)
        noise = np.random.default_rng(1).normal(0, 0.05, clean[1].shape)
        after = noisy_tokens(clean, noise, "", QM9, before=False)
        assert np.array_equal(after[0], clean[0]) and np.allclose(after[1], clean[1] + noise, atol=1e-6)
        before = noisy_tokens(clean, noise, "", QM9, before=True)
        noisy = Molecule(tuple(QM9.elements[t] for t in clean[0]), clean[1] + noise)
        expected = process_molecule(noisy, "", QM9)
        assert np.array_equal(before[0], expected[0]) and np.allclose(before[1], expected[1])
        again = canonicalize(Molecule(tuple(QM9.elements[t] for t in before[0]), before[1])).molecule
        assert np.allclose(again.coords, before[1], atol=1e-4)  # canonical already: its own frame
        for way in (True, False):  # zero noise: both ways give the clean tokens
            zero = noisy_tokens(clean, np.zeros_like(clean[1]), "", QM9, before=way)
            assert np.array_equal(zero[0], clean[0]) and np.allclose(zero[1], clean[1], atol=1e-5)


@pytest.fixture
def tiny_peer() -> Peer:
    torch.manual_seed(0)
    peer = Peer(PeerConfig(QM9_ELEMENTS, "qm9", atom_counts=(0, 0, 0, 4, 2, 0, 1), width=24, layers=2, rbf=8))
    with torch.no_grad():  # away from the zero-initialised coordinate heads, so the test sees a real map
        for p in peer.parameters():
            p.normal_(0, 0.2)
    return peer.eval()


def test_the_peer_is_equivariant_and_permutation_equivariant(tiny_peer):
    gen = torch.Generator().manual_seed(0)
    x, h = torch.randn(2, 6, 3, generator=gen), 0.25 * torch.randn(2, 6, 5, generator=gen)
    mask = torch.tensor([[1, 1, 1, 1, 1, 0], [1, 1, 1, 1, 1, 1]], dtype=torch.bool)
    sigma = torch.tensor([0.3, 2.0])
    q, _ = torch.linalg.qr(torch.randn(3, 3, generator=gen))
    with torch.no_grad():
        dx, dh = tiny_peer(x, h, mask, sigma)
        dx2, dh2 = tiny_peer(x @ q.T + torch.tensor([1.0, -2.0, 0.5]), h, mask, sigma)
        assert torch.allclose(dx @ q.T, dx2, atol=1e-5) and torch.allclose(dh, dh2, atol=1e-5)
        perm = torch.tensor([5, 2, 0, 4, 1, 3])
        dx3, dh3 = tiny_peer(x[1:, perm], h[1:, perm], mask[1:], sigma[1:])
        assert torch.allclose(dx[1:, perm], dx3, atol=1e-5) and torch.allclose(dh[1:, perm], dh3, atol=1e-5)
        assert dx[0, 5].abs().max() == 0 and dh[0, 5].abs().max() == 0  # padding stays zero


def test_peer_samples_are_reproducible_batch_independent_and_sized_by_the_histogram(tiny_peer, monkeypatch):
    sigmas = karras_sigmas(10.0, 0.002, 6)
    assert sigmas[0] == 10.0 and torch.isclose(sigmas[-2], torch.tensor(0.002)) and sigmas[-1] == 0
    assert torch.all(sigmas[1:] < sigmas[:-1])
    mols = sample_peer(tiny_peer, 12, seed=4, steps=4)
    assert {len(m) for m in mols} <= {3, 4, 6} and all(set(m.elements) <= set(QM9_ELEMENTS) for m in mols)
    assert [len(m) for m in mols] == atom_counts(tiny_peer, 12, 4).tolist()
    import inertialar.sampling.peer as peer_sampling

    monkeypatch.setattr(peer_sampling, "BATCH_PAIRS", 20)  # one molecule per network call
    again = sample_peer(tiny_peer, 12, seed=4, steps=4)
    assert all(np.allclose(a.coords, b.coords, atol=1e-5) and a.elements == b.elements
               for a, b in zip(mols, again, strict=True))
    other = sample_peer(tiny_peer, 12, seed=5, steps=4)
    assert any(len(a) != len(b) or not np.allclose(a.coords, b.coords) for a, b in zip(mols, other, strict=True))


def test_peer_checkpoint_round_trip_and_refusals(tiny_peer, tmp_path):
    save_polisher(tmp_path / "peer.pt", tiny_peer, {"dataset": "qm9"})
    loaded, meta = load_peer(tmp_path / "peer.pt")
    assert is_peer(tmp_path / "peer.pt") and meta == {"dataset": "qm9"}
    assert all(torch.equal(a, b) for a, b in zip(loaded.state_dict().values(), tiny_peer.state_dict().values()))
    assert not is_peer(ROOT / "assets" / "polisher_qm9.pt") and not is_peer(tmp_path / "missing.pt")
    with pytest.raises(CheckpointError, match="not an equivariant peer"):
        load_peer(ROOT / "assets" / "polisher_qm9.pt")
    (tmp_path / "junk.pt").write_bytes(b"junk")
    with pytest.raises(CheckpointError):
        load_peer(tmp_path / "junk.pt")


def test_training_the_peer_lowers_its_validation_loss(small_cache, tmp_path):
    from inertialar.data.tokenset import load_split

    model = PeerConfig(QM9_ELEMENTS, "qm9", atom_counts=(0, 0, 0, 1, 1), width=24, layers=2, rbf=8)
    cfg = PolisherTrainConfig(model=model, run_dir=str(tmp_path / "run"), schedule_minutes=60, batch_atoms=600,
                              lr=3e-3, warmup_steps=5, max_steps=40, eval_molecules=50)
    valid = load_split("valid", "qm9")
    torch.manual_seed(0)
    before = validation_loss(Peer(model), valid, 50)
    assert train_polisher(cfg, progress=False)["step"] == 40
    trained, meta = load_peer(tmp_path / "run" / "peer.pt")
    after = validation_loss(trained, valid, 50)
    assert meta["steps"] == 40 and set(after) == {"val_loss_0.1", "val_loss_0.5", "val_loss_2"}
    assert after["val_loss_0.5"] < before["val_loss_0.5"]


def _cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "inertialar", *args], capture_output=True, text=True, cwd=cwd)


def test_sample_runs_a_peer_checkpoint_and_evaluate_scores_it(tiny_peer, tmp_path):
    save_polisher(tmp_path / "peer.pt", tiny_peer, {"dataset": "qm9"})
    proc = _cli("sample", "--checkpoint", str(tmp_path / "peer.pt"), "--n", "8", "--steps", "3", "--seed", "2",
                "--out", str(tmp_path / "p.sdf"), "--quiet")
    assert proc.returncode == 0, proc.stderr
    mols = read_molecules(tmp_path / "p.sdf")
    assert len(mols) == 8 and "equivariant peer" in proc.stderr
    scored = _cli("evaluate", str(tmp_path / "p.sdf"), "--json")
    assert scored.returncode == 0 and '"n": 8' in scored.stdout
    bad = _cli("sample", "--checkpoint", str(tmp_path / "peer.pt"), "--group", "ether", "--out", str(tmp_path / "q.sdf"))
    assert bad.returncode == 2 and "--group does not apply" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1


def test_train_peer_trains_exports_and_the_export_samples(small_cache, tmp_path):
    out = tmp_path / "mine.pt"
    proc = _cli("train-peer", "--run-dir", str(tmp_path / "run"), "--minutes", "1", "--max-minutes", "0.05",
                "--width", "16", "--layers", "1", "--batch-atoms", "400", "--eval-every", "1e9", "--export", str(out),
                "--quiet")
    assert proc.returncode == 0, proc.stderr
    peer, meta = load_peer(out)
    assert sum(peer.cfg.atom_counts) == 400 and peer.cfg.width == 16 and meta["steps"] > 0  # the split's histogram
    sampled = _cli("sample", "--checkpoint", str(out), "--n", "3", "--steps", "2", "--out", str(tmp_path / "p.xyz"),
                   "--quiet")
    assert sampled.returncode == 0, sampled.stderr
    assert len(read_molecules(tmp_path / "p.xyz")) == 3
    bad = _cli("train-peer", "--minutes", "0", "--run-dir", str(tmp_path / "bad"))
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1
    other = _cli("train-peer", "--run-dir", str(tmp_path / "run"), "--width", "24", "--layers", "1", "--quiet")
    assert other.returncode == 2 and "trained with another PeerConfig" in other.stderr  # not resumed into a misfit
    assert len(other.stderr.strip().splitlines()) == 1


def test_the_model_card_summarises_the_peer_as_the_mean_over_training_seeds(tmp_path, monkeypatch):
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_model_card", ROOT / "benchmarks" / "model_card.py")
    card = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(card)
    monkeypatch.setattr(card, "RESULTS", tmp_path)
    (tmp_path / "equivariant_peer.csv").write_text(
        "row,seed,label,mol_stability,validity,mol_per_s\n"
        "ar_fast,0,InertialAR fast,0.0,0.10,200\npeer,0,Peer,0.01,0.20,6\n"
        "ar_fast,1,InertialAR fast,0.02,0.14,210\npeer,1,Peer,0.03,0.30,5\n")
    line = next(x for x in card.method_summary() if "equivariant peer" in x)
    assert "mean of 2 training seeds" in line
    assert "InertialAR fast: molecule stability 1.0%, validity 12.0%, 205.0 mol/s" in line
    assert "Peer: molecule stability 2.0%, validity 25.0%, 5.5 mol/s" in line
