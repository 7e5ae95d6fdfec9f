"""Training: a smoke run whose loss falls, resuming, and a 2-process gloo DDP run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from conftest import tiny_config
from inertialar.data.tokenset import load_split
from inertialar.nn.checkpoint import load_checkpoint
from inertialar.nn.model import InertialAR
from inertialar.training.config import TrainConfig
from inertialar.training.evaluation import validation_loss
from inertialar.training.loop import train

ROOT = Path(__file__).resolve().parent.parent


def _cfg(run_dir: Path, epochs: float) -> TrainConfig:
    return TrainConfig(model=tiny_config(), run_dir=str(run_dir), epochs=epochs, batch_tokens=640, lr=3e-3,
                       warmup_steps=5, eval_samples=0, eval_every_minutes=1e9, save_every_minutes=1e9)


def test_training_smoke_run_lowers_validation_loss(small_cache, tmp_path):
    cfg = _cfg(tmp_path / "run", epochs=6)
    torch.manual_seed(cfg.seed)
    before = validation_loss(InertialAR(cfg.model), load_split("valid", "qm9"), torch.device("cpu"))["val_loss"]
    record = train(cfg, progress=False)
    assert record["val_loss"] < before - 0.1
    model, meta = load_checkpoint(tmp_path / "run" / "ema.pt")
    assert meta["steps"] == record["step"] and meta["split_hash"] and meta["parameters"] > 0
    lines = [json.loads(x) for x in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert {"train", "eval"} <= {x["kind"] for x in lines}
    state = torch.load(tmp_path / "run" / "state.pt", weights_only=True)
    assert lines[-1]["kind"] == "eval" and lines[-1]["tokens"] == state["tokens"] > 0  # atom tokens trained on


def test_training_resumes_where_it_stopped(small_cache, tmp_path):
    run = tmp_path / "run"
    first = train(_cfg(run, epochs=1), progress=False)
    state = torch.load(run / "state.pt", weights_only=True)
    assert state["step"] == first["step"] > 0
    second = train(_cfg(run, epochs=2), resume=True, progress=False)
    assert second["step"] == 2 * first["step"]


def test_two_process_gloo_ddp_run(small_cache, tmp_path):
    env = {**os.environ, "INERTIALAR_CACHE": str(small_cache), "OMP_NUM_THREADS": "1"}
    logs = tmp_path / "ranks"  # each rank's own stdout/stderr, so a failure names its cause, not only the agent's
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "--log-dir", str(logs),
           "--redirects", "3", "-m", "inertialar",
           "train", "--run-dir", str(tmp_path / "ddp"), "--epochs", "1", "--width", "32", "--depth", "2",
           "--heads", "2", "--head-width", "32", "--head-depth", "1", "--batch-tokens", "640", "--eval-every", "1e9"]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    ranks = "\n".join(f"--- {p.relative_to(logs)}:\n{p.read_text(errors='replace')[-1500:]}"
                      for p in sorted(logs.rglob("stderr.log")))
    assert proc.returncode == 0, proc.stderr[-1000:] + "\n" + ranks
    _, meta = load_checkpoint(tmp_path / "ddp" / "ema.pt")
    assert meta["world_size"] == 2 and meta["steps"] > 0


def test_a_state_written_before_the_dataset_fields_resumes_as_qm9(small_cache, tmp_path):
    run = tmp_path / "run"
    first = train(_cfg(run, epochs=0.5), progress=False)
    state = torch.load(run / "state.pt", weights_only=True)
    for key in ("dataset", "elements"):  # what an older run's saved config lacks
        state["model_config"].pop(key)
    torch.save(state, run / "state.pt")
    assert train(_cfg(run, epochs=1), resume=True, progress=False)["step"] > first["step"]


def test_the_wall_time_schedule_ends_the_run_on_time(small_cache, tmp_path):
    cfg = _cfg(tmp_path / "run", epochs=1000)
    cfg.schedule_minutes = 0.05  # 3 s of training, then the cosine is spent and the run stops
    t0 = time.time()
    record = train(cfg, progress=False)
    assert time.time() - t0 < 60 and record["step"] > 0
    assert load_checkpoint(tmp_path / "run" / "ema.pt")[1]["epochs"] < 1000


def test_resume_with_another_model_config_is_a_clear_error(small_cache, tmp_path):
    run = tmp_path / "run"
    train(_cfg(run, epochs=0.5), progress=False)
    other = _cfg(run, epochs=1)
    other.model.backbone.depth = 3
    with pytest.raises(ValueError, match="another model config"):
        train(other, resume=True, progress=False)


def test_ema_warms_up_so_a_short_run_is_not_a_blend_with_its_start():
    from inertialar.training.loop import ema_decay

    assert ema_decay(0, 0.999) == pytest.approx(0.1)
    assert ema_decay(10_000, 0.999) == 0.999
    weight_of_start = 1.0
    for step in range(300):
        weight_of_start *= ema_decay(step, 0.999)
    assert weight_of_start < 1e-6  # a plain 0.999 EMA would keep 0.999^300 ≈ 74% of the start


def test_window_recipe_dry_run_writes_small_files(small_cache, tmp_path):
    """The GPU-window command on the CPU, tiny data: packed data, precision check, timed schedule, outputs."""
    packed = tmp_path / "packed"
    env = {**os.environ, "INERTIALAR_CACHE": str(small_cache), "OMP_NUM_THREADS": "1"}
    base = [sys.executable, "-m", "inertialar"]
    proc = subprocess.run(base + ["data", "pack", "--dest", str(packed)], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    env["INERTIALAR_CACHE"] = str(tmp_path / "empty")  # the recipe must read the packed copy only
    out = tmp_path / "out"
    proc = subprocess.run(base + ["window", "--minutes", "0.15", "--out", str(out), "--data", str(packed),
                                  "--width", "32", "--depth", "2", "--heads", "2", "--head-width", "32",
                                  "--head-depth", "1", "--batch-tokens", "640", "--warmup-steps", "5",
                                  "--distance-kernel", "exact", "--max-file-mb", "0.05"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "precision check" in proc.stderr
    parts = sorted(out.glob("ema_fp16.pt.part*"))  # the checkpoint is > 0.05 MB: split
    assert len(parts) >= 2 and all(p.stat().st_size <= 50_000 for p in parts)
    joined = tmp_path / "ema.pt"
    joined.write_bytes(b"".join(p.read_bytes() for p in parts))
    model, meta = load_checkpoint(joined)
    assert model.cfg.backbone.distance_kernel == "exact" and meta["steps"] > 0
    assert meta["precision_check"]["rel_diff"] < 0.02
    summary = json.loads((out / "summary.json").read_text())
    lrs = [json.loads(x)["lr"] for x in (out / "log.jsonl").read_text().splitlines() if '"train"' in x]
    assert summary["final"]["val_loss"] > 0 and lrs and lrs[-1] < 0.5 * max(lrs)  # the schedule ran down on time


def test_augmentations_flip_whole_frames_and_jitter_only_the_context():
    from inertialar.training.loop import augment

    coords = torch.randn(64, 9, 3)
    gen = torch.Generator().manual_seed(0)
    same, ctx = augment(coords, TrainConfig(), gen)
    assert torch.equal(same, coords) and ctx is None  # off by default
    flipped, ctx = augment(coords, TrainConfig(flip_prob=1.0, jitter=0.1), gen)
    assert torch.allclose(flipped.abs(), coords.abs())  # signs only
    assert not torch.equal(flipped, coords)
    ratio = flipped / coords  # (B, N, 3): one sign per molecule and axis
    assert torch.allclose(ratio, ratio[:, :1].expand_as(ratio))
    assert 0.05 < (ctx - flipped).std() < 0.15  # context jittered by ~0.1 Å; targets clean


def test_window_calibrates_then_trains_the_chosen_candidate(small_cache, tmp_path):
    """The GPU window's calibration on the CPU (tiny data, seconds): every candidate measured with the
    real step, one chosen by the size/epoch rule, trained with flips, and the choice recorded."""
    out = tmp_path / "out"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "inertialar", "window", "--minutes", "0.25", "--out", str(out),
                           "--calibrate", "4", "--candidates", "32x1@640,48x2@1280", "--width", "32", "--depth", "2",
                           "--heads", "2", "--batch-tokens", "640", "--warmup-steps", "5", "--flip-prob", "0.5",
                           "--distance-kernel", "exact", "--limit-train", "200"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-2000:]
    summary = json.loads((out / "summary.json").read_text())
    cal = summary["calibration"]
    assert [c["head_width"] for c in cal["candidates"]] == [32, 48]
    assert all(c["tokens_per_s"] > 0 and c["steps"] > 0 for c in cal["candidates"])
    model, meta = load_checkpoint(out / "ema_fp16.pt")
    assert model.cfg.diffusion.width == cal["chosen"]["head_width"]
    assert summary["train_config"]["flip_prob"] == 0.5
    assert summary["train_config"]["batch_tokens"] == cal["chosen"]["batch_tokens"]


def test_window_pick_rule_prefers_the_widest_head_that_trains_enough():
    from inertialar.training.window import CANDIDATES, MIN_EPOCHS, parse_candidates, pick

    assert parse_candidates("1024x6@65536+compile,1024x4@32768,640x4@32768") == CANDIDATES  # the README's text

    rows = [dict(c, parameters=5e6, tokens_per_s=s) for c, s in
            zip(parse_candidates("1024x6@65536+compile,1024x4@32768,640x4@32768"), (1e6, 2e6, 3e6))]
    per_epoch = 1_800_000  # QM9's training split in tokens
    assert pick(rows, 540, per_epoch)["head_depth"] == 6  # 300 epochs: the widest head
    assert pick(rows, 120, per_epoch)["head_depth"] == 4  # 1024x6 would get 67 epochs, 1024x4 133
    slow = pick([dict(r, tokens_per_s=1.0) for r in rows], 540, per_epoch)
    assert slow["tokens_per_s"] == 1.0 and MIN_EPOCHS > 0  # none trains enough: the fastest
    too_big = pick([dict(r, parameters=5e7) for r in rows], 540, per_epoch)
    assert too_big is not None
    with pytest.raises(ValueError, match="WIDTHxDEPTH"):
        parse_candidates("wide")


def test_checkpoint_split_into_parts_loads_by_its_name(tmp_path, tiny_model):
    from inertialar.nn.checkpoint import save_checkpoint
    from inertialar.training.window import split_file

    path = tmp_path / "m.pt"
    save_checkpoint(path, tiny_model, {"steps": 1})
    parts = split_file(path, 20_000)
    assert len(parts) >= 2 and not path.exists()
    model, meta = load_checkpoint(path)
    assert meta["steps"] == 1
    torch.testing.assert_close(model.state_dict(), tiny_model.state_dict())


def test_train_from_python_refuses_out_of_range_settings_like_the_cli(tmp_path):
    with pytest.raises(ValueError, match="--flip-prob must be between 0 and 1"):
        train(TrainConfig(run_dir=str(tmp_path / "run"), flip_prob=1.5), progress=False)
    assert not (tmp_path / "run").exists()  # refused before anything was written


def test_python_and_the_cli_train_at_the_same_learning_rate():
    """One home for the learning-rate law: TrainConfig.lr None means scaled_lr(batch), whoever builds it."""
    from inertialar.cli.args import build_parser
    from inertialar.cli.main import _train_config
    from inertialar.training.config import TrainConfig, scaled_lr

    args = build_parser().parse_args(["train", "--batch-tokens", "16384", "--run-dir", "/tmp/unused"])
    from_cli = _train_config(args)
    from_python = TrainConfig(batch_tokens=16384)
    assert from_cli.peak_lr == from_python.peak_lr == pytest.approx(scaled_lr(16384)) == pytest.approx(1.0119e-3, rel=1e-3)
    assert TrainConfig(batch_tokens=16384, lr=2e-4).peak_lr == 2e-4
