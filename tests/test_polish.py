"""The polisher (nn.polisher), the polish stage, the critic, their trainer and commands."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from inertialar.chem.molecule import Molecule, MoleculeError, to_xyz
from inertialar.data.specs import QM9_ELEMENTS
from inertialar.nn.checkpoint import CheckpointError, load_polisher, save_polisher
from inertialar.nn.polisher import Polisher, PolisherConfig
from inertialar.sampling.critic import best_by_critic, critic_scores
from inertialar.sampling.modes import mode_settings
from inertialar.sampling.polish import POLISH_STEPS, polish, schedule
from inertialar.sampling.sampler import sample
from inertialar.training.polisher import PolisherTrainConfig, train_polisher, validation_loss

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def tiny_polisher() -> Polisher:
    """A small polisher whose coordinate layers are not zero (a fresh one starts by not moving atoms)."""
    torch.manual_seed(0)
    model = Polisher(PolisherConfig(elements=QM9_ELEMENTS, dataset="qm9", width=16, layers=2, rbf=8))
    for layer in model.layers:
        torch.nn.init.normal_(layer.coord.weight, std=0.5)
    return model.eval()


def _batch(mols: list[Molecule]):
    n = max(len(m) for m in mols)
    types = torch.zeros(len(mols), n, dtype=torch.long)
    x = torch.zeros(len(mols), n, 3)
    mask = torch.zeros(len(mols), n, dtype=torch.bool)
    for i, m in enumerate(mols):
        types[i, : len(m)] = torch.tensor([QM9_ELEMENTS.index(e) for e in m.elements])
        x[i, : len(m)] = torch.tensor(m.coords, dtype=torch.float32)
        mask[i, : len(m)] = True
    return types, x, mask


def test_rotating_and_translating_the_input_moves_the_output_alike(tiny_polisher, ethanol, water):
    types, x, mask = _batch([ethanol, water])
    q, _ = torch.linalg.qr(torch.randn(3, 3, generator=torch.Generator().manual_seed(1)))
    shift = torch.tensor([[[2.0, -1.0, 0.5]]])
    sigma = torch.tensor([0.1, 0.3])
    with torch.no_grad():
        out = tiny_polisher(types, x, mask, sigma)
        moved = tiny_polisher(types, x @ q.T + shift, mask, sigma)
    assert not torch.allclose(out, x, atol=1e-3)  # it does move atoms
    expected = (out @ q.T + shift) * mask[..., None]
    assert torch.allclose(moved, expected, atol=1e-4)


def test_permuting_the_atoms_permutes_the_output(tiny_polisher, ethanol):
    types, x, mask = _batch([ethanol])
    perm = torch.randperm(len(ethanol), generator=torch.Generator().manual_seed(3))
    sigma = torch.tensor([0.2])
    with torch.no_grad():
        out = tiny_polisher(types, x, mask, sigma)
        permuted = tiny_polisher(types[:, perm], x[:, perm], mask[:, perm], sigma)
    assert torch.allclose(permuted, out[:, perm], atol=1e-5)


def test_padding_does_not_change_a_molecule(tiny_polisher, water, ethanol):
    alone = polish(tiny_polisher, [water]).molecules[0]
    with_bigger = polish(tiny_polisher, [water, ethanol]).molecules[0]
    np.testing.assert_allclose(alone.coords, with_bigger.coords, atol=1e-5)


def test_polish_keeps_elements_order_and_centroid_and_is_deterministic(tiny_polisher, ethanol, benzene):
    a = polish(tiny_polisher, [ethanol, benzene], record=True)
    b = polish(tiny_polisher, [ethanol, benzene], record=True)
    for src, got, again, path in zip([ethanol, benzene], a.molecules, b.molecules, a.paths):
        assert got.elements == src.elements and got.title == src.title
        np.testing.assert_allclose(got.coords.mean(0), src.coords.mean(0), atol=1e-4)
        np.testing.assert_array_equal(got.coords, again.coords)
        assert path.shape == (POLISH_STEPS + 1, len(src), 3)
        np.testing.assert_allclose(path[0], src.coords, atol=1e-5)
        np.testing.assert_allclose(path[-1], got.coords, atol=1e-5)


def test_schedule_runs_from_sigma0_down_to_zero():
    s = schedule(0.2, 5, 0.005)
    assert s.shape == (6,) and float(s[0]) == pytest.approx(0.2) and float(s[-2]) == pytest.approx(0.005)
    assert float(s[-1]) == 0 and bool((s[:-1] > s[1:]).all())


def test_an_element_outside_the_vocabulary_is_a_one_line_error(tiny_polisher):
    with pytest.raises(MoleculeError, match="outside the polisher's vocabulary"):
        polish(tiny_polisher, [Molecule(("C", "S"), np.array([[0.0, 0, 0], [1.8, 0, 0]]))])


def test_the_critic_is_deterministic_and_batch_independent(tiny_polisher, ethanol, water, benzene):
    both = critic_scores(tiny_polisher, [ethanol, water, benzene])
    alone = critic_scores(tiny_polisher, [water])
    assert np.all(np.isfinite(both)) and both[1] == pytest.approx(alone[0], abs=1e-5)
    assert np.array_equal(best_by_critic(np.array([0.1, 0.5, -1.0, 2.0]), 2), np.array([1, 3]))


def test_sampling_with_a_polisher_polishes_and_keeps_the_raw_molecules(tiny_model, tiny_polisher):
    s = mode_settings("fast", n=4, seed=3)
    plain = sample(tiny_model, s)
    done = sample(tiny_model, s, polisher=tiny_polisher)
    assert not plain.polished and done.polished
    for raw, before, after, tr in zip(done.raw_molecules, plain.molecules, done.molecules, done.trajectories):
        np.testing.assert_array_equal(raw.coords, before.coords)  # the same draws, polished afterwards
        assert after.elements == raw.elements and tr.polish_path is not None
    unpolished = sample(tiny_model, mode_settings("fast", n=4, seed=3, polish=False), polisher=tiny_polisher)
    assert not unpolished.polished


def test_best_of_k_by_the_critic_counts_every_draw(tiny_model, tiny_polisher):
    s = mode_settings("best", n=2, seed=5, rank="critic", oversample=3)
    res = sample(tiny_model, s, polisher=tiny_polisher)
    assert res.drawn == 6 and len(res.molecules) == 2 and res.polished
    assert all(np.isfinite(tr.critic) for tr in res.trajectories)
    alone = sample(tiny_model, s)  # no polisher, no critic: the model's own likelihood chooses, and says so
    assert alone.settings.rank == "type_mean_probe" and not alone.polished and alone.drawn == 6


def test_polisher_checkpoint_round_trip_and_refusals(tiny_polisher, tmp_path):
    path = tmp_path / "polisher.pt"
    save_polisher(path, tiny_polisher, {"dataset": "qm9", "epochs": 0.0})
    loaded, meta = load_polisher(path)
    assert meta["dataset"] == "qm9"
    for a, b in zip(loaded.state_dict().values(), tiny_polisher.state_dict().values()):
        assert torch.equal(a, b)
    (tmp_path / "text.pt").write_text("not a checkpoint")
    with pytest.raises(CheckpointError, match="not a PyTorch file"):
        load_polisher(tmp_path / "text.pt")
    with pytest.raises(CheckpointError, match="no checkpoint file"):
        load_polisher(tmp_path / "missing.pt")


def test_training_lowers_the_validation_loss_and_resumes(small_cache, tmp_path):
    model = PolisherConfig(elements=QM9_ELEMENTS, dataset="qm9", width=24, layers=2, rbf=8)
    cfg = PolisherTrainConfig(model=model, run_dir=str(tmp_path / "run"), schedule_minutes=60, batch_atoms=600,
                              lr=3e-3, warmup_steps=5, max_steps=40, eval_molecules=50)
    from inertialar.data.tokenset import load_split

    valid = load_split("valid", "qm9")
    torch.manual_seed(0)
    before = validation_loss(Polisher(model), valid, 50)
    first = train_polisher(cfg, progress=False)
    trained, meta = load_polisher(tmp_path / "run" / "polisher.pt")
    after = validation_loss(trained, valid, 50)
    assert first["step"] == 40 and meta["steps"] == 40 and meta["parameters"] > 0 and meta["split_hash"]
    assert after["val_loss_0.1"] < before["val_loss_0.1"]
    cfg.max_steps = 50
    assert train_polisher(cfg, progress=False)["step"] == 50  # resumed at 40, not from 0


def _cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "inertialar", *args], capture_output=True, text=True, cwd=cwd)


def test_polish_and_score_commands(tiny_polisher, tmp_path, ethanol, water):
    save_polisher(tmp_path / "p.pt", tiny_polisher, {"dataset": "qm9"})
    (tmp_path / "in.xyz").write_text(to_xyz([ethanol, water]))
    proc = _cli("polish", str(tmp_path / "in.xyz"), "--out", str(tmp_path / "out.sdf"), "--polisher",
                str(tmp_path / "p.pt"), "--json")
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)
    assert [r["atoms"] for r in rows] == [9, 3] and all(r["rmsd_heavy_A"] >= 0 for r in rows)
    assert (tmp_path / "out.sdf").read_text().count("<stage>") == 2
    proc = _cli("score", str(tmp_path / "in.xyz"), "--polisher", str(tmp_path / "p.pt"), "--json")
    assert proc.returncode == 0 and len(json.loads(proc.stdout)) == 2


@pytest.mark.parametrize("argv, message", [
    (["polish", "missing.xyz", "--out", "x.xyz"], "missing.xyz"),
    (["polish", "IN", "--out", "x.pdb"], "--out must end in .xyz or .sdf"),
    (["polish", "IN", "--out", "x.xyz", "--sigma", "-1"], "must be positive"),
    (["score", "IN", "--polisher", "nowhere.pt"], "no checkpoint file"),
    (["train-polisher", "--minutes", "0"], "must be positive"),
])
def test_bad_input_to_the_polisher_commands_is_one_line(argv, message, tmp_path, water):
    (tmp_path / "in.xyz").write_text(to_xyz([water]))
    argv = [str(tmp_path / "in.xyz") if a == "IN" else a for a in argv]
    proc = _cli(*argv, cwd=tmp_path)
    assert proc.returncode == 2 and message in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_a_shortlist_polishes_and_judges_only_the_likeliest_draws(tiny_model, tiny_polisher):
    s = mode_settings("best", n=2, seed=5, rank="critic", oversample=4, shortlist=2)
    assert s.needs_probe  # the shortlist's likelihood score reads the probe
    res = sample(tiny_model, s, polisher=tiny_polisher)
    assert res.drawn == 8 and len(res.molecules) == 2 and res.polished
    from inertialar.sampling.ranking import SCORES, SHORTLIST_RANK
    from inertialar.sampling.sampler import sample_draws

    draws = sample_draws(tiny_model, s)
    for j, kept in enumerate(res.trajectories):
        group = sorted(draws[4 * j: 4 * j + 4], key=SCORES[SHORTLIST_RANK], reverse=True)[:2]
        assert any(np.array_equal(kept.types, g.types) and np.allclose(kept.coords, g.coords, equal_nan=True)
                   for g in group)
