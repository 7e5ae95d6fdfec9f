"""The drug-like dataset end to end: a 50-molecule MOSES build (conformers, tokens, cache, report),
resuming, bad SMILES files, then a tiny model trained and sampled on it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import tiny_config
from inertialar.chem.frames import canonicalize, same_sequence
from inertialar.chem.groups import DRUG_GROUP_NAMES
from inertialar.chem.metrics import evaluate
from inertialar.data import moses as moses_data
from inertialar.data.specs import DRUG_ELEMENTS, MOSES
from inertialar.data.tokenizer import tokenize
from inertialar.data.tokenset import cache_path, load_split, longest_molecule, sequence_length
from inertialar.nn.checkpoint import load_checkpoint
from inertialar.nn.model import InertialAR
from inertialar.sampling.sampler import sample
from inertialar.sampling.settings import SampleSettings
from inertialar.training.config import TrainConfig
from inertialar.training.loop import train

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def moses_cache(tmp_path_factory) -> Path:
    """A cache holding a 50 / 5 / 5 MOSES build, made with the real pipeline (one worker)."""
    root = tmp_path_factory.mktemp("moses_cache")
    old = os.environ.get("INERTIALAR_CACHE")
    os.environ["INERTIALAR_CACHE"] = str(root)
    moses_data.prepare(workers=1, progress=False, n=50)
    yield root
    if old is None:
        os.environ.pop("INERTIALAR_CACHE", None)
    else:
        os.environ["INERTIALAR_CACHE"] = old


def test_a_fifty_molecule_build_gives_token_caches_and_a_full_report(moses_cache):
    report = json.loads((moses_cache / moses_data.REPORT_NAME).read_text())
    assert report["dataset"] == "drug-like (MOSES, MMFF94 conformers)" and report["seed"] == moses_data.SEED
    for split, requested in (("train", 50), ("valid", 5), ("test", 5)):
        row = report["splits"][split]
        ts = load_split(split, "moses")
        assert row["requested"] == requested and row["built"] + row["failed"] == requested == len(ts) + row["failed"]
        assert ts.elements == DRUG_ELEMENTS and ts.dataset == "moses" and ts.groups.shape == (len(ts), 30)
        assert ts.lengths.max() <= MOSES.max_atoms and ts.lengths.min() >= 8
    train_ts = load_split("train", "moses")
    assert (train_ts.smiles != "").mean() > 0.8  # MMFF conformers mostly pass EDM's bond rule
    assert {"S", "Cl"} & {train_ts.elements[t] for t in np.unique(train_ts.types)}


def test_the_subset_is_deterministic_and_valid_never_overlaps_train():
    a, b = moses_data.select(50), moses_data.select(50)
    assert all(np.array_equal(a[s][0], b[s][0]) and a[s][1] == b[s][1] for s in a)
    assert not set(a["train"][0]) & set(a["valid"][0])


def test_cached_tokens_are_canonical(moses_cache):
    ts = load_split("test", "moses")
    for k in range(len(ts)):
        mol = ts.molecule(k)
        types, coords = tokenize(mol.permuted(np.random.default_rng(k).permutation(len(mol))), DRUG_ELEMENTS)
        assert np.array_equal(types, ts.types[ts.offsets[k]:ts.offsets[k + 1]])
        assert same_sequence(canonicalize(mol).molecule, ts.molecule(k), tol=1e-3)


def test_an_interrupted_build_resumes_at_the_missing_shard(moses_cache):
    before = {s: load_split(s, "moses") for s in MOSES.splits}
    shards = sorted((moses_cache / "moses_build").glob("*/*.npz"))
    kept = {p: p.stat().st_mtime_ns for p in shards if not p.name.startswith("valid")}
    next(p for p in shards if p.name.startswith("valid")).unlink()  # as if stopped mid-build
    cache_path("moses", "valid").unlink()
    moses_data.prepare(workers=1, progress=False, n=50)
    assert all(p.stat().st_mtime_ns == t for p, t in kept.items())  # finished shards are not redone
    for s in MOSES.splits:
        np.testing.assert_array_equal(load_split(s, "moses").coords, before[s].coords)


def test_bad_smiles_file_lines_are_counted_by_reason_and_the_cache_stays_clean(tmp_path):
    good = ["CC(=O)Oc1ccccc1C(=O)O", "CC(=O)Nc1ccc(O)cc1", "Cn1cnc2c1c(=O)n(C)c(=O)n2C", "CCS(=O)(=O)N"] * 12
    bad = ["C1CC(", "not_a_smiles", "[Si](C)(C)C", "CC[Se]C", "C1=C=C=C=1", "C" * 40]
    path = tmp_path / "mols.smi"
    path.write_text("# a comment\n" + "\n".join(good + bad) + "\n\n")
    env = {**os.environ, "INERTIALAR_CACHE": str(tmp_path / "cache"), "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-m", "inertialar", "data", "prepare", "--dataset", "moses", "--smiles",
                           str(path), "--workers", "1"], capture_output=True, text=True, env=env, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    report = json.loads((tmp_path / "cache" / moses_data.REPORT_NAME).read_text())
    failures = sum((Counter(row["failures"]) for row in report["splits"].values()), start=Counter())
    assert failures == {"unparsable": 2, "outside vocabulary": 2, "embedding failed": 1, "too large": 1}
    assert sum(r["requested"] for r in report["splits"].values()) == len(good) + len(bad)
    assert "failed (" in proc.stdout and "unparsable 2" in proc.stdout.replace(":", "")
    leftovers = [p.name for p in (tmp_path / "cache").rglob("*") if ".partial" in p.name]
    assert leftovers == []


def test_a_smiles_file_with_no_usable_molecule_is_refused_and_writes_no_cache(tmp_path):
    path = tmp_path / "bad.smi"
    path.write_text("C1CC(\nCC[Se]C\nnot_a_smiles\n[Si](C)(C)C\n")
    env = {**os.environ, "INERTIALAR_CACHE": str(tmp_path / "cache"), "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-m", "inertialar", "data", "prepare", "--dataset", "moses", "--smiles",
                           str(path), "--workers", "1"], capture_output=True, text=True, env=env, cwd=ROOT)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "no molecule of the" in proc.stderr and "no cache was written" in proc.stderr
    assert [line for line in proc.stderr.splitlines() if "error" in line] == proc.stderr.strip().splitlines()[-1:]
    assert not list((tmp_path / "cache").glob("moses_*.npz")) and not (tmp_path / "cache" / moses_data.REPORT_NAME).exists()


@pytest.mark.parametrize("args, message", [
    (["--dataset", "moses", "--smiles", "/nonexistent.smi"], "no SMILES file"),
    (["--dataset", "qm9", "--n", "5"], "apply to --dataset moses only"),
    (["--dataset", "moses", "--n", "0"], "must be at least 1"),
    (["--dataset", "moses", "--n", "10", "--smiles", "x.smi"], "give one of them"),
])
def test_bad_prepare_requests_exit_2_with_one_line(tmp_path, args, message):
    env = {**os.environ, "INERTIALAR_CACHE": str(tmp_path), "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-m", "inertialar", "data", "prepare", *args], capture_output=True,
                          text=True, env=env, cwd=ROOT)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and message in proc.stderr
    assert len(proc.stderr.strip().splitlines()) <= 2


def test_a_tiny_model_trains_and_samples_drug_like_molecules(moses_cache, tmp_path):
    cfg = tiny_config("moses")
    assert sequence_length(longest_molecule("moses")) - 1 <= cfg.max_atoms
    run = tmp_path / "run"
    record = train(TrainConfig(model=cfg, run_dir=str(run), epochs=2, batch_tokens=1024, lr=3e-3, warmup_steps=2,
                               eval_samples=0, eval_every_minutes=1e9, save_every_minutes=1e9), progress=False)
    assert np.isfinite(record["val_loss"])
    model, meta = load_checkpoint(run / "ema.pt")
    assert model.cfg.dataset == "moses" and model.cfg.elements == DRUG_ELEMENTS and meta["dataset"] == "moses"
    assert tuple(model.cfg.groups) == DRUG_GROUP_NAMES and meta["split_hash"] == moses_data.split_hash()
    res = sample(model, SampleSettings(n=3, seed=1, steps=2, present=("sulfonamide",)))
    assert len(res.molecules) == 3 and all(set(m.elements) <= set(DRUG_ELEMENTS) for m in res.molecules)
    assert evaluate(res.molecules)["n"] == 3


def test_a_qm9_model_refuses_moses_data_with_one_line(moses_cache, tmp_path):
    cfg = TrainConfig(model=tiny_config("qm9"), run_dir=str(tmp_path), epochs=1)
    cfg.model.dataset = "moses"  # a QM9 vocabulary pointed at drug-like data
    with pytest.raises(ValueError, match="does not match the model's vocabulary"):
        train(cfg, progress=False)


def test_a_model_with_the_drug_vocabulary_places_sulfur_and_halogens():
    torch.manual_seed(0)
    model = InertialAR(tiny_config("moses")).eval()
    assert model.type_head.out_features == len(DRUG_ELEMENTS) + 1
    res = sample(model, SampleSettings(n=8, seed=0, steps=2, temperature=2.0, top_p=1.0))
    assert {e for m in res.molecules for e in m.elements} - {"H", "C", "N", "O", "F"}


def test_the_gpu_window_recipe_packs_and_trains_the_drug_like_set(moses_cache, tmp_path):
    """``data pack --dataset moses`` then ``window --dataset moses`` reading only the packed copy,
    calibrating tiny candidates (the CPU rehearsal of the drug-like run of benchmarks/gpu/window.sh)."""
    packed, out = tmp_path / "packed", tmp_path / "out"
    env = {**os.environ, "INERTIALAR_CACHE": str(moses_cache), "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    base = [sys.executable, "-m", "inertialar"]
    proc = subprocess.run(base + ["data", "pack", "--dataset", "moses", "--dest", str(packed)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert sorted(p.name for p in packed.iterdir()) == ["moses_train_v3.npz", "moses_valid_v3.npz"]
    env["INERTIALAR_CACHE"] = str(tmp_path / "empty")
    proc = subprocess.run(base + ["window", "--dataset", "moses", "--data", str(packed), "--minutes", "0.2",
                                  "--out", str(out), "--calibrate", "3", "--candidates", "32x1@1024,48x1@2048",
                                  "--width", "32", "--depth", "1", "--heads", "2", "--warmup-steps", "2",
                                  "--distance-kernel", "exact"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-2000:]
    model, meta = load_checkpoint(out / "ema_fp16.pt")
    assert model.cfg.dataset == "moses" and model.cfg.max_atoms >= longest_molecule("moses", packed)
    assert meta["split_hash"] == moses_data.split_hash(packed)


def test_window_defaults_to_larger_batches_for_drug_like_data():
    from inertialar.training.window import CANDIDATES, DRUG_CANDIDATES

    assert min(c["batch_tokens"] for c in DRUG_CANDIDATES) > min(c["batch_tokens"] for c in CANDIDATES)



def test_the_shipped_qm9_checkpoint_predates_the_vocabulary_fields_and_still_loads_as_qm9():
    from inertialar.data.specs import QM9_ELEMENTS
    from inertialar.nn.checkpoint import DEFAULT_CHECKPOINT, read_payload

    assert "elements" not in read_payload(DEFAULT_CHECKPOINT)["config"]  # written before datasets existed
    model, _ = load_checkpoint(DEFAULT_CHECKPOINT)
    assert model.cfg.dataset == "qm9" and model.cfg.elements == QM9_ELEMENTS and model.cfg.eos == 5
    assert len(model.cfg.groups) == 19 and model.cfg.spec.max_heavy == 9


def test_a_checkpoint_written_before_the_dataset_fields_loads_as_qm9_and_samples_the_same(tmp_path):
    from inertialar.nn.checkpoint import save_checkpoint

    torch.manual_seed(0)
    model = InertialAR(tiny_config()).eval()
    save_checkpoint(tmp_path / "new.pt", model, {})
    payload = torch.load(tmp_path / "new.pt", weights_only=True)
    for key in ("dataset", "elements"):  # what an older checkpoint's config lacks
        payload["config"].pop(key)
    torch.save(payload, tmp_path / "old.pt")
    old, _ = load_checkpoint(tmp_path / "old.pt")
    assert old.cfg.dataset == "qm9" and old.cfg.to_dict() == model.cfg.to_dict()
    settings = SampleSettings(n=3, seed=5)
    a, b = sample(model, settings), sample(old, settings)
    assert [m.elements for m in a.molecules] == [m.elements for m in b.molecules]
    assert all(np.allclose(x.coords, y.coords) for x, y in zip(a.molecules, b.molecules, strict=True))


@pytest.mark.parametrize("key, value, message", [("dataset", "geom", "geom"), ("elements", ["H", "C", "Xx"], "Xx")])
def test_a_checkpoint_with_an_unknown_dataset_or_element_is_refused_in_one_line(tmp_path, key, value, message):
    from inertialar.nn.checkpoint import CheckpointError, save_checkpoint

    save_checkpoint(tmp_path / "m.pt", InertialAR(tiny_config()).eval(), {})
    payload = torch.load(tmp_path / "m.pt", weights_only=True)
    payload["config"][key] = value
    torch.save(payload, tmp_path / "bad.pt")
    with pytest.raises(CheckpointError, match=message) as err:
        load_checkpoint(tmp_path / "bad.pt")
    assert "\n" not in str(err.value)


def test_evaluate_takes_novelty_from_the_drug_like_set_when_drug_elements_occur(moses_cache, tmp_path):
    from inertialar.chem.molecule import to_xyz
    from inertialar.data.specs import QM9_ELEMENTS

    train_ts = load_split("train", MOSES)
    drugs = [m for m in (train_ts.molecule(k) for k in range(len(train_ts))) if set(m.elements) - set(QM9_ELEMENTS)]
    assert drugs, "the 50-molecule build holds no S, Cl or Br"
    (tmp_path / "drugs.xyz").write_text(to_xyz(drugs))
    out = subprocess.run([sys.executable, "-m", "inertialar", "evaluate", str(tmp_path / "drugs.xyz"), "--json"],
                         capture_output=True, text=True, cwd=ROOT, env={**os.environ, "INERTIALAR_CACHE": str(moses_cache)})
    assert out.returncode == 0, out.stderr
    assert "novelty needs" not in out.stderr  # found the moses cache, not the (absent) QM9 one
    assert json.loads(out.stdout)["novelty"] is not None
