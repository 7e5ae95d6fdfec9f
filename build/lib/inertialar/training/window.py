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

**Calibration** (``calibrate_s`` > 0, about 45 s of the window): on a GPU the default model is
launch-bound, so a wider diffusion head (the lever in Quetzal's ablation) costs little wall time.
``calibrate`` measures training tokens/s of each of ``CANDIDATES`` (head width × depth, batch
tokens, ``torch.compile`` on/off; a failing compile falls back to eager) with the real step, and
``pick`` takes the candidate with the most head parameters whose fp16 checkpoint stays under
``MAX_PARAMS`` (45 MB) and that still reaches ``MIN_EPOCHS`` epochs in the remaining time; if none
does, the fastest. The cosine schedule then runs over the remaining minutes.
"""

from __future__ import annotations

import copy
import json
import shutil
import time
from dataclasses import asdict
from pathlib import Path

import torch

from inertialar.data.tokenset import load_split
from inertialar.nn.checkpoint import load_checkpoint, save_checkpoint
from inertialar.nn.model import InertialAR, count_parameters
from inertialar.training.config import TrainConfig
from inertialar.training.evaluation import precision_check
from inertialar.training.loop import train
from inertialar.training.speed import measure_tokens_per_s

CANDIDATES: tuple[dict, ...] = (  # the diffusion head and batch candidates of a GPU window (CLI default too)
    dict(head_width=1024, head_depth=6, batch_tokens=65536, compile=True),
    dict(head_width=1024, head_depth=4, batch_tokens=32768, compile=False),
    dict(head_width=640, head_depth=4, batch_tokens=32768, compile=False),
)
# Drug-like sequences are ≈ 2.3× longer (mean 40 atoms vs 18): larger token batches keep the number of
# molecules per step close to QM9's, and the widest head is dropped (attention cost grows with length).
DRUG_CANDIDATES: tuple[dict, ...] = (
    dict(head_width=1024, head_depth=4, batch_tokens=65536, compile=True),
    dict(head_width=640, head_depth=4, batch_tokens=65536, compile=False),
)
MAX_PARAMS = 22_000_000  # fp16 checkpoint ≤ 45 MB
MIN_EPOCHS = 100.0  # a model that sees its data fewer times than this in the window is too slow to pick


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


def parse_candidates(text: str) -> tuple[dict, ...]:
    """``"1024x6@65536+compile,640x4@32768"`` → candidates (head width × depth @ batch tokens,
    ``+compile`` for torch.compile); ValueError with a one-line message for a malformed entry."""
    out = []
    for item in filter(None, (x.strip() for x in text.split(","))):
        try:
            spec, _, flag = item.partition("+")
            size, _, batch = spec.partition("@")
            width, _, depth = size.partition("x")
            cand = dict(head_width=int(width), head_depth=int(depth), batch_tokens=int(batch), compile=flag == "compile")
        except ValueError:
            raise ValueError(f"candidate {item!r} is not WIDTHxDEPTH@BATCH[+compile]") from None
        if flag not in ("", "compile") or min(cand["head_width"], cand["head_depth"], cand["batch_tokens"]) < 1:
            raise ValueError(f"candidate {item!r} is not WIDTHxDEPTH@BATCH[+compile]")
        out.append(cand)
    if not out:
        raise ValueError("no calibration candidates given")
    return tuple(out)


def with_candidate(cfg: TrainConfig, cand: dict) -> TrainConfig:
    """A copy of ``cfg`` with a candidate's head size, batch tokens and compile flag."""
    new = copy.deepcopy(cfg)
    new.model.diffusion.width, new.model.diffusion.depth = cand["head_width"], cand["head_depth"]
    new.batch_tokens, new.compile = cand["batch_tokens"], cand["compile"]
    return new


def calibrate(cfg: TrainConfig, seconds_each: float, candidates: tuple[dict, ...] = CANDIDATES) -> list[dict]:
    """Training tokens/s of each candidate on the training split (``bench.measure_tokens_per_s``)."""

    ts = load_split("train", cfg.model.dataset, cfg.data_dir)
    rows = []
    for cand in candidates:
        t0 = time.time()
        speed = measure_tokens_per_s(with_candidate(cfg, cand), ts, seconds_each)
        rows.append({**cand, **speed, "wall_s": round(time.time() - t0, 1)})
    return rows


def pick(rows: list[dict], train_seconds: float, tokens_per_epoch: int) -> dict:
    """The candidate to train (rule in the module docstring)."""
    for r in rows:
        r["expected_epochs"] = r["tokens_per_s"] * train_seconds / max(1, tokens_per_epoch)
        r["head_size"] = r["head_width"] ** 2 * r["head_depth"]
    ok = [r for r in rows if r["parameters"] <= MAX_PARAMS and r["expected_epochs"] >= MIN_EPOCHS]
    if not ok:
        return max(rows, key=lambda r: r["tokens_per_s"])
    return max(ok, key=lambda r: (r["head_size"], r["tokens_per_s"]))


def starting_model(cfg: TrainConfig, device) -> InertialAR:
    """The weights training starts from: ``init_from`` or a fresh model (seeded)."""
    torch.manual_seed(cfg.seed)
    if cfg.init_from:
        return load_checkpoint(cfg.init_from, device=str(device))[0]
    return InertialAR(cfg.model).to(device)


def run_window(cfg: TrainConfig, minutes: float, out_dir: str | Path, max_file_mb: float = 15.0,
               max_rel_diff: float = 0.02, progress: bool = True, calibrate_s: float = 0.0,
               candidates: tuple[dict, ...] = CANDIDATES) -> dict:
    """Train for ``minutes`` of wall time on ``cfg.device`` (calibrating first for ``calibrate_s``
    of them, then training the chosen candidate: with ``cfg.lr`` None the learning-rate law applies to
    its batch); write the fp16 EMA, log and summary to out_dir."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    t_window = time.time()
    calibration = None
    if calibrate_s > 0 and not cfg.init_from:
        rows = calibrate(cfg, calibrate_s / len(candidates), candidates)
        train_ts = load_split("train", cfg.model.dataset, cfg.data_dir)
        n = len(train_ts) if cfg.limit_train is None else min(cfg.limit_train, len(train_ts))
        left = minutes * 60 - (time.time() - t_window)
        chosen = pick(rows, left, int(train_ts.lengths[:n].sum()))
        cfg = with_candidate(cfg, chosen)  # lr None: the law applies to the chosen batch (TrainConfig.peak_lr)
        calibration = {"candidates": rows, "chosen": chosen}
        minutes = max(0.05, left / 60)
    device = torch.device(cfg.device)
    valid = load_split("valid", cfg.model.dataset, cfg.data_dir)
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
    summary = {"minutes": minutes, "wall_s": time.time() - t0, "precision_check": check, "calibration": calibration,
               "parameters": count_parameters(ema), "device": meta.get("device"), "final": record,
               "train_config": {k: v for k, v in asdict(cfg).items() if k != "model"},
               "model_config": cfg.model.to_dict()}
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    for name in ("ema_fp16.pt", "log.jsonl", "summary.json"):
        files += split_file(out / name, int(max_file_mb * 1e6))
    summary["files"] = [str(p) for p in files]
    return summary
