"""Training: AdamW + warm-up/cosine, EMA, clipping, length-bucketed batches, resumable, DDP-aware.

``train(cfg)`` runs in one process or under ``torchrun --nproc_per_node=K`` unchanged (gloo on
CPU, nccl on CUDA; each rank takes every K-th batch of one shared shuffled list). State lives in
``cfg.run_dir`` (outside git): ``state.pt`` (weights, EMA, optimizer, model config, step,
epoch position, generator state — resumable),
``ema.pt`` (an EMA checkpoint in the one checkpoint format) and ``log.jsonl`` (train and eval
records). bf16 autocast is used on CUDA only (on these CPUs it is >15× slower); the model keeps
its geometry in fp32 under autocast, and ``validation.precision_check`` measures that fp32 and bf16 agree.

The EMA warms up: its decay at step t is min(ema, (1 + t) / (10 + t)), so a short run's EMA is
not a blend with its random initialisation. With ``schedule_minutes`` the cosine follows wall
time instead of steps, so it ends on time (the GPU-window recipe, ``inertialar.training.window``).
"""

from __future__ import annotations

import copy
import gc
import json
import math
import os
import signal
import sys
import threading
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from inertialar.data.batching import bucketed_batches, collate
from inertialar.data.builders import split_hash
from inertialar.data.tokenset import check_fits, load_split
from inertialar.files import atomic_path
from inertialar.nn.checkpoint import load_checkpoint, save_checkpoint
from inertialar.nn.model import ABSENT, PRESENT, UNSPECIFIED, InertialAR, ModelConfig, count_parameters
from inertialar.training.config import TrainConfig
from inertialar.training.evaluation import evaluation_record


def condition_states(labels: torch.Tensor, p_group: float, p_all: float, gen: torch.Generator) -> torch.Tensor:
    """Group labels (B, G) bool → states with random drops to UNSPECIFIED (for CFG)."""
    states = torch.where(labels, PRESENT, ABSENT)
    drop = torch.rand(labels.shape, generator=gen, device=labels.device) < p_group
    drop |= (torch.rand(len(labels), 1, generator=gen, device=labels.device) < p_all)
    return torch.where(drop, torch.full_like(states, UNSPECIFIED), states)


def augment(coords: torch.Tensor, cfg: TrainConfig, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Targets and context coordinates (B, N, 3) Å after the configured augmentations.

    With probability ``flip_prob`` a molecule's axes get random signs (a different, equally valid
    frame for targets and context alike); ``jitter`` adds noise to the context only."""
    if cfg.flip_prob > 0:
        B = len(coords)
        signs = torch.randint(0, 2, (B, 1, 3), generator=gen, device=coords.device).float() * 2 - 1
        flip = torch.rand(B, 1, 1, generator=gen, device=coords.device) < cfg.flip_prob
        coords = coords * torch.where(flip, signs, torch.ones_like(signs))
    if cfg.jitter <= 0:
        return coords, None
    noise = torch.randn(coords.shape, generator=gen, device=coords.device) * cfg.jitter
    return coords, coords + noise


def train_step(net, model: InertialAR, ema: InertialAR, opt: torch.optim.Optimizer, b: dict, cfg: TrainConfig,
               gen: torch.Generator, step: int) -> dict[str, torch.Tensor]:
    """One optimiser step on a collated batch ``b`` (the one home of the step, shared by training,
    ``bench train`` and the GPU window's calibration): condition dropout, augmentation, forward
    (bf16 autocast on CUDA; ``net`` may be a DDP or compiled wrapper of ``model``), clipping, AdamW,
    and the warm-up EMA update. Returns the losses."""
    states = condition_states(b["labels"], cfg.p_drop_group, cfg.p_drop_all, gen)
    with torch.autocast("cuda", dtype=torch.bfloat16, enabled=b["types"].device.type == "cuda"):
        coords, context = augment(b["coords"], cfg, gen)
        out = net(b["types"], coords, b["lengths"], states, gen, context)
    opt.zero_grad(set_to_none=True)
    out["loss"].backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.clip)
    opt.step()
    with torch.no_grad():
        decay = ema_decay(step, cfg.ema)
        for pe, pm in zip(ema.parameters(), model.parameters()):
            pe.lerp_(pm, 1 - decay)
    return out


def build_optimizer(model: InertialAR, cfg: TrainConfig) -> torch.optim.AdamW:
    """AdamW with weight decay on matrices only (not biases, norms, embeddings' α weights)."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (decay if p.dim() >= 2 and "alpha" not in name else no_decay).append(p)
    return torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                              {"params": no_decay, "weight_decay": 0.0}], lr=cfg.peak_lr, betas=cfg.betas)


def compiled(model: InertialAR, enabled: bool):
    """``torch.compile(model)`` if asked and it works here, else the model itself (clean fallback)."""
    if not enabled:
        return model
    try:
        return torch.compile(model, dynamic=True)
    except Exception:  # noqa: BLE001 — no compiler here: eager is always correct
        return model


def lr_at(step: int, total: int, cfg: TrainConfig, time_frac: float | None = None) -> float:
    """Linear warm-up to cfg.peak_lr, then cosine decay to cfg.min_lr_frac·peak_lr at ``total`` steps
    (or, if ``time_frac`` is given, at time_frac = 1 of the scheduled wall time)."""
    if step < cfg.warmup_steps:
        return cfg.peak_lr * (step + 1) / cfg.warmup_steps
    if time_frac is not None:
        frac = min(1.0, time_frac)
    else:
        frac = min(1.0, (step - cfg.warmup_steps) / max(1, total - cfg.warmup_steps))
    return cfg.peak_lr * (cfg.min_lr_frac + (1 - cfg.min_lr_frac) * 0.5 * (1 + math.cos(math.pi * frac)))


class Logger:
    """Appends JSON records to the run's log.jsonl (rank 0 only)."""

    def __init__(self, path: Path, enabled: bool):
        self.path, self.enabled = path, enabled

    def write(self, record: dict) -> None:
        if self.enabled:
            with self.path.open("a") as f:
                f.write(json.dumps(record) + "\n")


def ema_decay(step: int, target: float) -> float:
    """EMA decay at ``step`` (0-based): warms up as (1 + t)/(10 + t), capped at ``target``."""
    return min(target, (1 + step) / (10 + step))


def _distributed() -> tuple[int, int]:
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        import torch.distributed as dist

        if not dist.is_initialized():
            dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _restore(state_path: Path, cfg: TrainConfig, model, ema, opt, gen, device) -> dict:
    """Load a resumable state into model/EMA/optimizer/generator; a one-line ValueError if it does not fit."""
    try:
        st = torch.load(state_path, map_location=device, weights_only=True)
    except Exception as err:  # corrupt or truncated file
        raise ValueError(f"cannot read training state {state_path}: {str(err).strip()[:120] or type(err).__name__}") from None
    saved = ModelConfig.from_dict(st["model_config"]).to_dict() if "model_config" in st else cfg.model.to_dict()
    if saved != cfg.model.to_dict():  # normalised: states written before the dataset fields resume as QM9
        raise ValueError(f"{state_path} was trained with another model config; resume with the same flags "
                         f"(saved: {st['model_config']['backbone']})")
    if st.get("world_size", 1) != int(os.environ.get("WORLD_SIZE", "1")):
        raise ValueError(f"{state_path} was written by {st.get('world_size')} processes; resume with as many")
    try:
        model.load_state_dict(st["model"])
        ema.load_state_dict(st["ema"])
        opt.load_state_dict(st["opt"])
    except (KeyError, RuntimeError) as err:
        raise ValueError(f"{state_path} does not fit this model: {str(err).splitlines()[0][:120]}") from None
    if "rng" in st:
        gen.set_state(st["rng"].cpu())  # generator states are CPU byte tensors
    return st


def _any_rank(flag: bool, world: int, device) -> bool:
    """True on every rank if it is true on any (so all ranks stop after the same step)."""
    if world == 1:
        return flag
    import torch.distributed as dist

    t = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item() > 0)


def train(cfg: TrainConfig, resume: bool = False, progress: bool = True) -> dict:
    """Train until ``cfg.epochs`` or ``cfg.max_minutes``; returns the last log record."""
    cfg.validate()
    rank, world = _distributed()
    device = torch.device(cfg.device)
    if device.type == "cuda" and world > 1:
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        torch.cuda.set_device(device)
    run = Path(cfg.run_dir)
    run.mkdir(parents=True, exist_ok=True)
    log = Logger(run / "log.jsonl", rank == 0)
    torch.manual_seed(cfg.seed)

    train_ts, valid_ts = (load_split(s, cfg.model.dataset, cfg.data_dir) for s in ("train", "valid"))
    check_fits(cfg.model, train_ts, valid_ts)
    lengths = train_ts.lengths if cfg.limit_train is None else train_ts.lengths[: cfg.limit_train]
    model = InertialAR(cfg.model).to(device)
    state_path = run / "state.pt"
    resuming = resume and state_path.exists()
    if cfg.init_from and not resuming:
        model.load_state_dict(load_checkpoint(cfg.init_from)[0].state_dict())
    ema = copy.deepcopy(model).eval()
    for p in ema.parameters():
        p.requires_grad_(False)
    opt = build_optimizer(model, cfg)
    gen = torch.Generator(device=device).manual_seed(cfg.seed * 1000 + rank)
    batches_per_epoch = len(bucketed_batches(lengths, cfg.batch_tokens, np.random.default_rng(0))) // world
    total_steps = int(cfg.epochs * batches_per_epoch)
    step, epoch, epoch_start, wall_s, tokens_seen = 0, 0, 0, 0.0, 0
    if resuming:
        st = _restore(state_path, cfg, model, ema, opt, gen, device)
        step, epoch, wall_s, tokens_seen = st["step"], st["epoch"], st["wall_s"], st["tokens"]
        epoch_start = st.get("epoch_start", epoch * batches_per_epoch)  # states written before epoch_start existed
    net = torch.nn.parallel.DistributedDataParallel(model) if world > 1 else compiled(model, cfg.compile)

    meta_base = {"dataset": cfg.model.dataset, "split_hash": split_hash(cfg.model.dataset, cfg.data_dir),
                 "train_config": {k: v for k, v in asdict(cfg).items() if k != "model"},
                 "parameters": count_parameters(model), "device": torch.cuda.get_device_name(device)
                 if device.type == "cuda" else "cpu", "world_size": world}

    def epoch_float() -> float:
        return step / max(1, batches_per_epoch)

    def save() -> None:
        if rank != 0:
            return
        with atomic_path(state_path) as tmp:
            torch.save({"model": model.state_dict(), "ema": ema.state_dict(), "opt": opt.state_dict(),
                        "model_config": cfg.model.to_dict(), "world_size": world, "rng": gen.get_state(),
                        "step": step, "epoch": epoch, "epoch_start": epoch_start, "wall_s": wall_s,
                        "tokens": tokens_seen}, tmp)
        save_checkpoint(run / "ema.pt", ema, {**meta_base, "steps": step, "epochs": epoch_float(),
                                               "wall_hours": wall_s / 3600})

    interrupted: list[int] = []  # SIGTERM / Ctrl-C: finish the step, save, stop
    old_handlers = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            old_handlers[sig] = signal.signal(sig, lambda signum, frame: interrupted.append(signum))
    t_start = time.time()
    wall0 = wall_s
    last_save = last_eval = time.time()
    record: dict = {}
    stop = False
    try:
        while not stop and step < total_steps:
            batches = bucketed_batches(lengths, cfg.batch_tokens, np.random.default_rng(cfg.seed + epoch))
            batches = batches[: len(batches) // world * world][rank::world]
            skip = max(0, step - epoch_start)  # resume mid-epoch
            bar = tqdm(batches[skip:], desc=f"epoch {epoch}", disable=not progress or rank != 0, unit="batch",
                       mininterval=1.0 if sys.stderr.isatty() else 60.0)
            t_tok, n_tok = time.time(), 0
            for idx in bar:
                model.train()
                time_frac = None if cfg.schedule_minutes is None else \
                    (wall0 + time.time() - t_start) / (cfg.schedule_minutes * 60)  # across resumes
                for g in opt.param_groups:
                    g["lr"] = lr_at(step, total_steps, cfg, time_frac)
                b = collate(train_ts, idx, device)
                try:
                    out = train_step(net, model, ema, opt, b, cfg, gen, step)
                except Exception:  # noqa: BLE001 — torch.compile builds lazily: fall back to eager once
                    if net is model or world > 1:
                        raise
                    net = model
                    log.write({"kind": "note", "step": step, "note": "torch.compile failed; training eagerly"})
                    out = train_step(net, model, ema, opt, b, cfg, gen, step)
                step += 1
                batch_tok = int(train_ts.lengths[idx].sum()) * world  # from numpy: no device sync
                n_tok += batch_tok
                tokens_seen += batch_tok
                wall_s = wall0 + time.time() - t_start
                if step % 25 == 0:
                    tok_s = n_tok / max(1e-9, time.time() - t_tok)
                    record = {"kind": "train", "step": step, "epoch": round(epoch_float(), 4),
                              "wall_hours": wall_s / 3600, "tokens": tokens_seen,
                              "loss": float(out["loss"].detach()), "ce": float(out["ce"]),
                              "diffusion": float(out["diffusion"]), "lr": opt.param_groups[0]["lr"],
                              "tokens_per_s": tok_s, "device": meta_base["device"]}
                    log.write(record)
                    bar.set_postfix(loss=f"{record['loss']:.3f}", ce=f"{record['ce']:.3f}", tok_s=f"{tok_s:.0f}")
                    t_tok, n_tok = time.time(), 0
                if time.time() - last_save > cfg.save_every_minutes * 60:
                    save()
                    last_save = time.time()
                if rank == 0 and time.time() - last_eval > cfg.eval_every_minutes * 60:
                    log.write(evaluation_record(ema, valid_ts, device, cfg, step, epoch_float(), wall_s, train_ts=train_ts)
                              | {"tokens": tokens_seen})
                    last_eval = time.time()
                timed_out = (cfg.max_minutes is not None and time.time() - t_start > cfg.max_minutes * 60) or \
                    (time_frac is not None and time_frac >= 1)
                if _any_rank(bool(interrupted) or timed_out, world, device):
                    stop = True
                    break
                if step >= total_steps:
                    break
            else:
                epoch += 1
                epoch_start = step
    finally:
        for sig, handler in old_handlers.items():
            signal.signal(sig, handler)
    save()
    if rank == 0:
        final = evaluation_record(ema, valid_ts, device, cfg, step, epoch_float(), wall_s, samples=False,
                                  train_ts=train_ts) | {"tokens": tokens_seen}  # atom tokens trained on
        log.write(final)
        record = {**record, **final}
    if world > 1:  # leave together: a rank that exits while its peer still talks to it can abort in gloo
        import torch.distributed as dist

        # DDP's reducer sits in reference cycles holding gloo work objects; left to the collector at
        # interpreter exit, their teardown needs the GIL of a dying interpreter and aborts (SIGABRT).
        del net
        gc.collect()
        dist.barrier()
        dist.destroy_process_group()
    return record
