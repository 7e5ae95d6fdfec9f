"""Training the EGNN denoisers: the polisher (``nn.polisher``) and the equivariant peer (``nn.peer``).

``train_polisher(cfg)`` fits the low-noise whole-molecule denoiser on a dataset's training split
(or, given a ``PeerConfig``, the peer on the full noise range; ``peer.pt`` instead of ``polisher.pt``):
AdamW, linear warm-up then a cosine over ``schedule_minutes`` of wall time (so a run ends when
planned, across resumes), EMA (decay warming up as in ``train``), gradient clipping, size-bucketed
batches of ``batch_atoms`` padded atoms. State lives in ``cfg.run_dir`` (outside git):
``state.pt`` (weights, EMA, optimiser, step, epoch position, generator states; read with
``weights_only``), ``polisher.pt`` (the EMA weights in the checkpoint format, ``nn.checkpoint``)
and ``log.jsonl`` (training and validation records: the validation loss at fixed σ on fixed
molecules and noise, so records compare across the run).
"""

from __future__ import annotations

import copy
import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from inertialar.data.batching import bucketed_batches, collate
from inertialar.data.builders import split_hash
from inertialar.data.tokenset import load_split
from inertialar.files import atomic_path
from inertialar.nn.checkpoint import save_polisher
from inertialar.nn.peer import Peer, PeerConfig
from inertialar.nn.polisher import Polisher, PolisherConfig


@dataclass
class PolisherTrainConfig:
    """A polisher training run; sizes in ``model``, budget in minutes of wall time."""

    model: PolisherConfig | PeerConfig  # a PeerConfig trains the equivariant peer (``nn.peer``) instead
    run_dir: str
    schedule_minutes: float = 90.0  # the cosine's length in wall time; training stops then
    max_minutes: float | None = None  # stop this process (and save) after this much wall time
    batch_atoms: int = 2048  # padded atoms per batch (≈ 110 QM9 molecules)
    lr: float = 1e-3
    min_lr_frac: float = 0.02
    warmup_steps: int = 200
    weight_decay: float = 1e-5
    clip: float = 1.0
    ema: float = 0.999
    seed: int = 0
    eval_molecules: int = 1000
    eval_every_minutes: float = 10.0
    limit_train: int | None = None  # first N training molecules only (tests)
    max_steps: int | None = None  # stop after this many optimiser steps in all (tests)
    threads: int | None = None
    extra: dict = field(default_factory=dict)

    def validate(self) -> None:
        """One-line ValueError for settings out of range."""
        if not (self.schedule_minutes > 0 and self.batch_atoms > 0 and self.lr > 0):
            raise ValueError("schedule minutes, batch atoms and learning rate must be positive")
        if not 0 < self.model.sigma_min < self.model.sigma_max:
            raise ValueError(f"need 0 < sigma-min < sigma-max, got {self.model.sigma_min:g}, {self.model.sigma_max:g}")


def validation_loss(model: Polisher | Peer, ts, n: int, seed: int = 1234) -> dict[str, float]:
    """Mean EDM-weighted loss at each of the model's ``EVAL_SIGMAS`` on the first n molecules of
    ``ts``, with noise fixed by ``seed`` (so values compare across a run)."""
    gen = torch.Generator().manual_seed(seed)
    idx = np.arange(min(n, len(ts)))
    out = {}
    model.eval()
    with torch.no_grad():
        for sigma in model.EVAL_SIGMAS:
            total, count = 0.0, 0
            for lo in range(0, len(idx), 256):
                b = collate(ts, idx[lo:lo + 256], "cpu")
                mask = torch.arange(b["types"].shape[1])[None] < b["lengths"][:, None]
                part, k = model.loss_at(b["types"], b["coords"], mask, torch.full((len(mask),), sigma), gen)
                total, count = total + float(part), count + k
            out[f"val_loss_{sigma:g}"] = total / count
    return out


def _lr(cfg: PolisherTrainConfig, step: int, minutes: float) -> float:
    warm = min(1.0, (step + 1) / cfg.warmup_steps)
    frac = min(1.0, minutes / cfg.schedule_minutes)
    return cfg.lr * warm * (cfg.min_lr_frac + (1 - cfg.min_lr_frac) * 0.5 * (1 + math.cos(math.pi * frac)))


def _save_state(path: Path, state: dict) -> None:
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def _restore(state_path: Path, cfg: PolisherTrainConfig, model, ema, opt, gen) -> dict:
    """Load a resumable state into model/EMA/optimizer/generator; a one-line ValueError if it does not fit."""
    try:
        state = torch.load(state_path, map_location="cpu", weights_only=True)
    except Exception as err:  # corrupt or truncated file
        raise ValueError(f"cannot read training state {state_path}: {str(err).strip()[:120] or type(err).__name__}") \
            from None
    saved = state.get("config")
    try:  # normalised through the dataclass, so states written before a field existed still resume
        same = saved is None or type(cfg.model).from_dict(saved).to_dict() == cfg.model.to_dict()
    except (TypeError, KeyError):  # a polisher's state in a peer's run folder, or the reverse
        same = False
    if not same:
        raise ValueError(f"{state_path} was trained with another {type(cfg.model).__name__}; resume with the same "
                         "flags or choose another --run-dir")
    try:
        model.load_state_dict(state["model"])
        ema.load_state_dict(state["ema"])
        opt.load_state_dict(state["opt"])
        gen.set_state(state["gen"])
    except (KeyError, RuntimeError, ValueError) as err:
        raise ValueError(f"{state_path} does not fit this model: {str(err).splitlines()[0][:120]}") from None
    return state


def train_polisher(cfg: PolisherTrainConfig, progress: bool = True) -> dict:
    """Train (or resume) until the schedule's wall time is spent; returns the last log record."""
    cfg.validate()
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    run = Path(cfg.run_dir)
    run.mkdir(parents=True, exist_ok=True)
    train_ts = load_split("train", cfg.model.dataset)
    valid_ts = load_split("valid", cfg.model.dataset)
    lengths = train_ts.lengths if cfg.limit_train is None else train_ts.lengths[: cfg.limit_train]
    torch.manual_seed(cfg.seed)
    model = Peer(cfg.model) if isinstance(cfg.model, PeerConfig) else Polisher(cfg.model)
    weights = "peer.pt" if isinstance(model, Peer) else "polisher.pt"
    ema = copy.deepcopy(model).requires_grad_(False)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    gen = torch.Generator().manual_seed(cfg.seed)
    step, epoch, position, minutes = 0, 0, 0, 0.0
    state_path = run / "state.pt"
    if state_path.exists():
        state = _restore(state_path, cfg, model, ema, opt, gen)
        step, epoch, position, minutes = state["step"], state["epoch"], state["position"], state["minutes"]
    n_params = sum(p.numel() for p in model.parameters())
    meta = {"dataset": cfg.model.dataset, "split_hash": split_hash(cfg.model.dataset), "parameters": n_params,
            "train_config": {k: v for k, v in asdict(cfg).items() if k != "model"}}
    log = (run / "log.jsonl").open("a")
    start, last_eval = time.time(), minutes
    record: dict = {}
    bar = tqdm(total=round(cfg.schedule_minutes), initial=round(minutes), unit="min", disable=not progress,
               desc="polisher")

    def elapsed() -> float:
        return minutes + (time.time() - start) / 60

    def checkpoint(final: bool = False) -> None:
        _save_state(state_path, {"model": model.state_dict(), "ema": ema.state_dict(), "opt": opt.state_dict(),
                                 "gen": gen.get_state(), "step": step, "epoch": epoch, "position": position,
                                 "minutes": elapsed(), "config": cfg.model.to_dict()})
        save_polisher(run / weights, ema, {**meta, "steps": step, "epochs": epoch + position / max(1, n_batches),
                                                  "wall_minutes": elapsed(), "final": final})

    n_batches = 1
    while elapsed() < cfg.schedule_minutes:
        batches = bucketed_batches(lengths, cfg.batch_atoms, np.random.default_rng(cfg.seed + epoch))
        n_batches = len(batches)
        model.train()
        while position < len(batches) and elapsed() < cfg.schedule_minutes:
            b = collate(train_ts, batches[position], "cpu")
            mask = torch.arange(b["types"].shape[1])[None] < b["lengths"][:, None]
            for g in opt.param_groups:
                g["lr"] = _lr(cfg, step, elapsed())
            loss = model.loss(b["types"], b["coords"], mask, gen)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.clip)
            opt.step()
            decay = min(cfg.ema, (1 + step) / (10 + step))
            with torch.no_grad():
                for pe, pm in zip(ema.parameters(), model.parameters()):
                    pe.lerp_(pm, 1 - decay)
            step += 1
            position += 1
            if step % 50 == 0:
                record = {"step": step, "epoch": round(epoch + position / len(batches), 4),
                          "minutes": round(elapsed(), 2), "loss": round(float(loss.detach()), 5), "lr": opt.param_groups[0]["lr"]}
                log.write(json.dumps(record) + "\n")
                log.flush()
                bar.n = round(elapsed())
                bar.set_postfix(loss=f"{float(loss.detach()):.4f}", epoch=f"{record['epoch']:.2f}")
            if elapsed() - last_eval >= cfg.eval_every_minutes:
                last_eval = elapsed()
                record = {"step": step, "epoch": round(epoch + position / len(batches), 4),
                          "minutes": round(elapsed(), 2), **validation_loss(ema, valid_ts, cfg.eval_molecules)}
                log.write(json.dumps(record) + "\n")
                log.flush()
                checkpoint()
                model.train()
            if (cfg.max_minutes is not None and (time.time() - start) / 60 >= cfg.max_minutes) or \
                    (cfg.max_steps is not None and step >= cfg.max_steps):
                checkpoint()
                return {"step": step, "epoch": round(epoch + position / len(batches), 4), "minutes": round(elapsed(), 2)}
        if position >= len(batches):
            epoch, position = epoch + 1, 0
    record = {"step": step, "epoch": epoch + position / max(1, n_batches), "minutes": round(elapsed(), 2),
              **validation_loss(ema, valid_ts, cfg.eval_molecules), "final": True}
    log.write(json.dumps(record) + "\n")
    log.close()
    checkpoint(final=True)
    return record
