"""Speed benchmarks (timings, never asserted in tests): ``python -m inertialar bench {train,sample}``.

* train: non-padding atom tokens per second of the default model on real QM9 batches
  (bucketed, condition dropout, AdamW, EMA: the real training step), after a short warm-up.
* sample: molecules per second of a whole ``python -m inertialar sample`` process (imports,
  checkpoint load, sampling, writing) for ``--n`` molecules at default settings.
Each run appends a row to ``benchmarks/results/{train,sample}_speed.csv``.
"""

from __future__ import annotations

import csv
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from inertialar.data.batching import bucketed_batches, collate
from inertialar.data.tokenset import load_split
from inertialar.files import results_dir
from inertialar.nn.model import InertialAR, count_parameters
from inertialar.sampling.settings import SampleSettings
from inertialar.training.config import TrainConfig
from inertialar.training.loop import build_optimizer, compiled, train_step


def _append(name: str, row: dict) -> None:
    results_dir().mkdir(parents=True, exist_ok=True)
    path = results_dir() / name
    new = not path.exists()
    with path.open("a", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(row))
        if new:
            writer.writeheader()
        writer.writerow(row)


def _machine(device: str) -> str:
    if device.startswith("cuda"):
        return torch.cuda.get_device_name(0)
    return f"{platform.processor() or platform.machine()} x{torch.get_num_threads()} threads"


def bench_train(seconds: float, device: str) -> dict:

    cfg = TrainConfig(device=device)
    ts = load_split("train", cfg.model.dataset)
    row = measure_tokens_per_s(cfg, ts, seconds)
    row = {"device": _machine(device), "parameters": row["parameters"], "steps": row["steps"],
           "seconds": row["seconds"], "tokens_per_s": row["tokens_per_s"]}
    _append("train_speed.csv", row)
    return row


def measure_tokens_per_s(cfg, ts, seconds: float, warmup: int = 3) -> dict:
    """Non-padding training tokens/s of ``cfg``'s model and batch size on TokenSet ``ts`` with the
    real step (``train.train_step``), after ``warmup`` untimed steps; also used by the GPU window's
    calibration. Returns parameters, timed steps, seconds, tokens_per_s."""

    device = torch.device(cfg.device)
    torch.manual_seed(cfg.seed)
    model = InertialAR(cfg.model).to(device).train()
    ema = InertialAR(cfg.model).to(device).eval()
    ema.load_state_dict(model.state_dict())
    net, opt = compiled(model, cfg.compile), build_optimizer(model, cfg)
    gen = torch.Generator(device=device).manual_seed(0)
    batches = bucketed_batches(ts.lengths, cfg.batch_tokens, np.random.default_rng(0))
    tokens, elapsed, k = 0, 0.0, 0
    while elapsed < seconds:
        b = collate(ts, batches[k % len(batches)], device)
        t0 = time.perf_counter()
        try:
            train_step(net, model, ema, opt, b, cfg, gen, k)
        except Exception:  # noqa: BLE001 — a compiled graph that fails to build: measure eager instead
            if net is model:
                raise
            net = model
            continue
        if device.type == "cuda":
            torch.cuda.synchronize()
        if k >= warmup:  # warm-up (and compile) steps are not timed
            elapsed += time.perf_counter() - t0
            tokens += int(b["lengths"].sum())
        k += 1
    return {"parameters": count_parameters(model), "steps": k - warmup, "seconds": round(elapsed, 2),
            "tokens_per_s": round(tokens / elapsed, 1), "compiled": net is not model}


def bench_sample(n: int, checkpoint: str | None, device: str) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "inertialar", "sample", "--n", str(n), "--seed", "0", "--device", device,
               "--out", str(Path(tmp) / "bench.xyz")]
        if checkpoint:
            cmd += ["--checkpoint", checkpoint]
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True)
        seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr.strip().splitlines()[-1])

    defaults = SampleSettings()
    row = {"device": _machine(device), "n": n, "batch_size": defaults.batch_size, "steps": defaults.steps,
           "seconds": round(seconds, 2),
           "molecules_per_s": round(n / seconds, 2)}
    _append("sample_speed.csv", row)
    return row


def main(args) -> int:
    if args.what == "train":
        row = bench_train(args.seconds, args.device)
        print(f"train: {row['tokens_per_s']:.0f} non-padding tokens/s on {row['device']} "
              f"({row['parameters'] / 1e6:.2f}M parameters, {row['steps']} steps)")
    else:
        row = bench_sample(args.n, args.checkpoint, args.device)
        print(f"sample: {row['molecules_per_s']:.1f} molecules/s for {row['n']} molecules, whole process "
              f"({row['seconds']:.1f} s) on {row['device']}")
    return 0
