"""The GPU-window recipe: train for a fixed number of minutes, then hand back small files.

A lent GPU comes for minutes, without network or RDKit, and files travel back only up to ~16 MB
each. ``run_window`` therefore

1. reads the split caches from a packed folder that travelled with the code (``data pack``),
2. checks that the loss of the starting weights agrees in fp32 and under bf16 autocast
   (within ``max_rel_diff``; else it refuses to train),
3. trains with the cosine schedule over wall time, so it ends on time (``schedule_minutes``),
4. writes ``ema_fp16.pt`` (the one checkpoint format), ``log.jsonl`` and ``summary.json`` to the
   output folder, splitting any file above ``max_file_mb`` into ``NAME.part00``, ``.part01``, …
   (join with ``cat NAME.part* > NAME``).

The resumable state stays in ``run_dir`` (outside the output folder).
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import asdict
from pathlib import Path

import torch

from inertialar.checkpoint import load_checkpoint, save_checkpoint
from inertialar.data import load_split
from inertialar.model import InertialAR, count_parameters
from inertialar.train import TrainConfig, precision_check, train


class PrecisionMismatch(ValueError):
    """fp32 and bf16 losses of the starting weights disagree; training would be wasted."""


def split_file(path: Path, max_bytes: int) -> list[Path]:
    """Split ``path`` into parts of at most max_bytes (removing it) if it is larger; the parts' paths."""
    size = path.stat().st_size
    if size <= max_bytes:
        return [path]
    parts = []
    with path.open("rb") as f:
        k = 0
        while chunk := f.read(max_bytes):
            part = path.with_name(f"{path.name}.part{k:02d}")
            part.write_bytes(chunk)
            parts.append(part)
            k += 1
    path.unlink()
    return parts


def starting_model(cfg: TrainConfig, device) -> InertialAR:
    """The weights training starts from: ``init_from`` or a fresh model (seeded)."""
    torch.manual_seed(cfg.seed)
    if cfg.init_from:
        return load_checkpoint(cfg.init_from, device=str(device))[0]
    return InertialAR(cfg.model).to(device)


def run_window(cfg: TrainConfig, minutes: float, out_dir: str | Path, max_file_mb: float = 15.0,
               max_rel_diff: float = 0.02, progress: bool = True) -> dict:
    """Train for ``minutes`` of wall time on ``cfg.device``; write the fp16 EMA, log and summary to out_dir."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    device = torch.device(cfg.device)
    valid = load_split("valid", cfg.data_dir)
    check = precision_check(starting_model(cfg, device), valid, device)
    if check["rel_diff"] > max_rel_diff:
        raise PrecisionMismatch(f"fp32 loss {check['loss_fp32']:.4f} vs bf16 {check['loss_bf16']:.4f} on the "
                                f"starting weights ({100 * check['rel_diff']:.1f}% apart); not training")
    cfg.schedule_minutes = cfg.max_minutes = minutes
    cfg.epochs = 1e6  # the clock ends the run, not the epoch count
    cfg.eval_samples = 0  # sampling metrics need RDKit; they are scored afterwards on the CPU
    t0 = time.time()
    record = train(cfg, resume=False, progress=progress)
    run = Path(cfg.run_dir)
    ema, meta = load_checkpoint(run / "ema.pt")
    meta["precision_check"] = check
    files = []
    save_checkpoint(out / "ema_fp16.pt", ema, meta, half=True)
    shutil.copy(run / "log.jsonl", out / "log.jsonl")
    summary = {"minutes": minutes, "wall_s": time.time() - t0, "precision_check": check,
               "parameters": count_parameters(ema), "device": meta.get("device"), "final": record,
               "train_config": {k: v for k, v in asdict(cfg).items() if k != "model"},
               "model_config": cfg.model.to_dict()}
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    for name in ("ema_fp16.pt", "log.jsonl", "summary.json"):
        files += split_file(out / name, int(max_file_mb * 1e6))
    summary["files"] = [str(p) for p in files]
    return summary
