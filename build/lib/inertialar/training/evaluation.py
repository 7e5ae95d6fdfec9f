"""Checks of a model's fit, during training and after: validation loss, fp32/bf16 agreement,
sample metrics, and the evaluation record a training run logs.

Losses are unconditional (every group unspecified) with fixed noise, so two checkpoints, or two
points of one run, are compared on the same draws.
"""

from __future__ import annotations

import numpy as np
import torch

from inertialar.chem.metrics import evaluate
from inertialar.data.batching import collate
from inertialar.data.tokenset import TokenSet
from inertialar.nn.model import UNSPECIFIED, InertialAR
from inertialar.sampling.sampler import sample
from inertialar.sampling.settings import SampleSettings
from inertialar.training.config import TrainConfig


@torch.no_grad()
def validation_loss(model: InertialAR, ts: TokenSet, device, n: int = 2000, prefix: str = "val") -> dict[str, float]:
    """Mean unconditional losses (every group unspecified) on the first n molecules, fixed noise.

    Unconditional, because training drops each label with p = 0.5: a fully specified condition
    (all 19 labels) almost never occurs in training and would measure something else."""
    gen = torch.Generator(device=device).manual_seed(1234)
    model.eval()
    totals, count = {"loss": 0.0, "ce": 0.0, "diffusion": 0.0}, 0
    idx = np.arange(min(n, len(ts)))
    for lo in range(0, len(idx), 256):
        b = collate(ts, idx[lo:lo + 256], device)
        states = torch.full_like(b["labels"], UNSPECIFIED, dtype=torch.long)
        out = model(b["types"], b["coords"], b["lengths"], states, gen)
        for k in totals:
            totals[k] += float(out[k]) * len(b["types"])
        count += len(b["types"])
    return {f"{prefix}_{k}": v / count for k, v in totals.items()} | {f"{prefix}_condition": "unconditional"}


@torch.no_grad()
def precision_check(model: InertialAR, ts: TokenSet, device, n: int = 128) -> dict[str, float]:
    """Unconditional loss of the first n molecules in fp32 and under bf16 autocast (same noise).

    Returns both losses and their relative difference; the geometry must stay fp32 under
    autocast for these to agree (a bf16 Nyström Gram once turned 0.19 into 3.2)."""
    device = torch.device(device)
    model.eval()
    b = collate(ts, np.arange(min(n, len(ts))), device)
    states = torch.full_like(b["labels"], UNSPECIFIED, dtype=torch.long)
    losses = {}
    for name, on in (("fp32", False), ("bf16", True)):
        gen = torch.Generator(device=device).manual_seed(4321)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=on):
            losses[name] = float(model(b["types"], b["coords"], b["lengths"], states, gen)["loss"])
    return {"loss_fp32": losses["fp32"], "loss_bf16": losses["bf16"],
            "rel_diff": abs(losses["bf16"] - losses["fp32"]) / max(abs(losses["fp32"]), 1e-12)}


def sample_check(model: InertialAR, n: int, device) -> dict[str, float]:
    """EDM metrics of n unconditional samples (default sampler settings, seed 0)."""

    result = sample(model, SampleSettings(n=n, seed=0, device=str(device)))
    return {k: v for k, v in evaluate(result.molecules).items() if k != "novelty"}


def evaluation_record(ema, valid_ts, device, cfg: TrainConfig, step, epoch, wall_s, samples: bool = True,
                      train_ts: TokenSet | None = None) -> dict:
    """Unconditional losses on 2,000 validation and (up to) 2,000 of the training molecules (their
    gap shows overfitting), plus sample metrics if ``samples``."""
    rec = {"kind": "eval", "step": step, "epoch": round(epoch, 4), "wall_hours": wall_s / 3600,
           **validation_loss(ema, valid_ts, device)}
    if train_ts is not None:
        n_train = min(2000, cfg.limit_train or 2000)  # molecules it actually trained on
        rec.update({k: v for k, v in validation_loss(ema, train_ts, device, n_train, prefix="train").items()
                    if k != "train_condition"})
        rec["gap"] = rec["val_loss"] - rec["train_loss"]
    if samples and cfg.eval_samples:
        rec.update(sample_check(ema, cfg.eval_samples, device))
    return rec
