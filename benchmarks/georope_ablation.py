"""GeoRoPE ablation at equal training tokens, fp32, on the CPU (issue: method questions, 1).

    python benchmarks/georope_ablation.py [--steps 600] [--batch-tokens 4096] [--n 1000] [--threads 2]
    python benchmarks/georope_ablation.py --device cuda --data .gpu_data --train-only ...   # a GPU window

Five variants of one small model (width 128, 4 layers, 4 heads, a 128-wide 2-block diffusion head;
about 1.05M parameters), each trained from the same seed on the same batches in the same order for
the same number of steps (so the same training tokens), fp32 on this CPU:

* RoPE-3D + Nyström (the default), RoPE-3D only, Nyström only, RoPE-3D + the exact distance kernel,
  and neither (atoms still read their own coordinates as inputs; attention sees no geometry).
* Two more seeds of the default (other initialisation and batch order) give the noise band:
  mean ± 2 standard deviations of the three default runs. A variant outside it differs; one
  inside it is reported as "no difference".

Each run: the validation loss (unconditional, fixed noise, 2,000 validation molecules: type
cross-entropy and diffusion loss) every ``--eval-every`` minutes and at the end; then ``--n``
molecules in ``fast`` mode (seed 123) scored with the EDM metrics, before and after the shipped
polisher. Runs live in ``~/.cache/inertialar/runs/georope/`` and resume: re-running the command
continues where it stopped and re-scores nothing that is done.

Writes ``georope_ablation.csv`` (one row per run), ``georope_curves.csv`` (validation loss vs
training tokens) and ``georope_ablation.md`` in the results folder (``--tag _gpu``: ``georope_ablation_gpu.md``
and so on, beside the CPU answer).

On a GPU (``--device cuda``, data packed by ``python -m inertialar data pack --dest .gpu_data``;
``benchmarks/gpu/georope.sh`` is the window's script) the runs train under the loop's bf16 autocast
(geometry kept in fp32) and ``--train-only`` skips the scoring, which needs RDKit: bring back each
run's ``ema.pt`` and ``log.jsonl`` and score them here with the same ``--steps --batch-tokens --runs-dir``.
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from pathlib import Path

import numpy as np
import torch

from inertialar.chem.metrics import evaluate
from inertialar.data.batching import bucketed_batches
from inertialar.data.specs import QM9
from inertialar.data.tokenset import cache_dir, load_split
from inertialar.files import results_dir
from inertialar.nn.checkpoint import DEFAULT_POLISHERS, load_checkpoint, load_polisher
from inertialar.nn.model import ModelConfig
from inertialar.sampling.modes import mode_settings
from inertialar.sampling.sampler import sample
from inertialar.training.config import TrainConfig
from inertialar.training.loop import train

VARIANTS = {  # name: (label, RoPE-3D heads (None = half), distance kernel)
    "default": ("RoPE-3D + Nyström (default)", None, "nystrom"),
    "rope_only": ("RoPE-3D only", None, "none"),
    "nystrom_only": ("Nyström only", 0, "nystrom"),
    "exact": ("RoPE-3D + exact kernel", None, "exact"),
    "neither": ("neither", 0, "none"),
}
SEEDS = (0, 1, 2)  # the default's seeds; the other variants use the first
SIZE = dict(width=128, depth=4, heads=4, head_width=128, head_depth=2)
METRICS = ("val_loss", "val_ce", "val_diffusion", "atom_stability", "mol_stability", "validity", "valid_x_unique",
           "raw_mol_stability", "raw_validity")
RUNS_DIR = cache_dir() / "runs" / "georope"


def runs() -> list[tuple[str, int]]:
    return [(name, SEEDS[0]) for name in VARIANTS] + [("default", s) for s in SEEDS[1:]]


def train_config(name: str, seed: int, steps: int, batch_tokens: int, eval_every: float,
                 runs_dir: Path = RUNS_DIR, device: str = "cpu", data: str | None = None) -> TrainConfig:
    _, rope_heads, kernel = VARIANTS[name]
    model = ModelConfig.sized(QM9, QM9.max_atoms, rope_heads=rope_heads, distance_kernel=kernel, **SIZE)
    lengths = load_split("train", QM9.name, data).lengths
    per_epoch = len(bucketed_batches(lengths, batch_tokens, np.random.default_rng(0)))
    return TrainConfig(model=model, run_dir=str(runs_dir / f"{name}_s{seed}"), epochs=(steps + 0.5) / per_epoch,
                       batch_tokens=batch_tokens, warmup_steps=min(500, steps // 10), seed=seed, device=device,
                       data_dir=data, eval_every_minutes=eval_every, eval_samples=0, save_every_minutes=2.0)


def log_records(run: Path) -> list[dict]:
    path = run / "log.jsonl"
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


def finished(run: Path, steps: int) -> dict | None:
    """The final evaluation record of a run that reached ``steps`` (None if it has not)."""
    evals = [r for r in log_records(run) if r.get("kind") == "eval" and r["step"] >= steps]
    return evals[-1] if evals else None


def score(run: Path, n: int, polisher) -> dict:
    """``fast``-mode metrics of n molecules (seed 123), polished and as placed; cached in the run folder."""
    path = run / f"fast_{n}.json"
    if path.exists():
        return json.loads(path.read_text())
    model, meta = load_checkpoint(run / "ema.pt")
    t0 = time.perf_counter()
    result = sample(model, mode_settings("fast", n=n, seed=123), polisher=polisher)
    seconds = time.perf_counter() - t0
    polished = evaluate(result.molecules)
    raw = evaluate(result.raw_molecules)
    out = {k: polished[k] for k in ("atom_stability", "mol_stability", "validity", "valid_x_unique")}
    out |= {"raw_mol_stability": raw["mol_stability"], "raw_validity": raw["validity"],
            "mol_per_s": n / seconds, "parameters": meta.get("parameters"), "wall_hours": meta.get("wall_hours")}
    path.write_text(json.dumps(out))
    return out


def trained_on(run: Path) -> str:
    """Where a run trained: "cpu" or the GPU's name (its checkpoint's metadata)."""
    return torch.load(run / "ema.pt", weights_only=True)["meta"].get("device", "cpu")


def kernel_weight(run: Path) -> float | None:
    """Mean |α| of the distance-kernel weights over layers, heads and σ (None without a kernel)."""
    state = torch.load(run / "ema.pt", weights_only=True)["state_dict"]
    alphas = [v.float().abs().mean() for k, v in state.items() if k.endswith("attn.alpha")]
    return float(torch.stack(alphas).mean()) if alphas else None


def band(values: list[float]) -> tuple[float, float, float]:
    """Mean and the noise band mean ± 2 sd (ddof 1) of the default's seeds."""
    v = np.asarray(values, dtype=float)
    sd = float(v.std(ddof=1)) if len(v) > 1 else 0.0
    return float(v.mean()), float(v.mean() - 2 * sd), float(v.mean() + 2 * sd)


def verdict(value: float, lo: float, hi: float, lower_is_better: bool) -> str:
    if lo <= value <= hi:
        return "no difference"
    better = (value < lo) if lower_is_better else (value > hi)
    return "better" if better else "worse"


def write(rows: list[dict], curves: list[dict], args) -> None:
    out = results_dir()
    for name, data in ((f"georope_ablation{args.tag}.csv", rows), (f"georope_curves{args.tag}.csv", curves)):
        with (out / name).open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(data[0]))
            writer.writeheader()
            writer.writerows(data)
    defaults = [r for r in rows if r["variant"] == "default"]
    bands = {m: band([r[m] for r in defaults]) for m in METRICS if all(m in r for r in defaults)}
    tokens = rows[0]["tokens"]
    devices = sorted({r["trained_on"] for r in rows})
    where = "fp32, CPU" if devices == ["cpu"] else f"bf16 autocast with fp32 geometry, {', '.join(devices)}"
    trained = "on the 2-core CPU in fp32" if devices == ["cpu"] else f"on {', '.join(devices)} (bf16 autocast, the " \
        "geometry in fp32; the commands in `benchmarks/gpu/georope.sh`)"
    lines = [
        f"# GeoRoPE ablation at equal training tokens ({where})", "",
        f"`python benchmarks/georope_ablation.py --steps {args.steps} --batch-tokens {args.batch_tokens} --n {args.n}"
        f"{' --tag ' + args.tag if args.tag else ''}`: trained {trained}; scored on the 2-core CPU "
        f"({args.threads} threads). One small model (width 128, 4 layers, 4 heads, "
        f"128-wide 2-block diffusion head; {rows[0]['parameters']:,} parameters with the default encoding), "
        f"{args.steps} steps of {args.batch_tokens:,}-token batches for every run: {tokens:,} training atom tokens "
        f"({rows[0]['epochs']:.2f} epochs of QM9's training split), the same batches in the same order for every "
        "variant at seed 0. "
        "Validation loss: unconditional, fixed noise, 2,000 validation molecules. Samples: "
        f"{args.n} molecules in `fast` mode, seed 123, after the shipped polisher (\"as placed\": before it).", "",
        "Noise band: the default trained from seeds 0, 1 and 2 (other initialisation and batch order); band = "
        "mean ± 2 sd of those three. A variant outside the band is called better or worse; inside it, "
        "**no difference**. Mean |α|: the size of the learned distance-kernel weights (attention-logit units per "
        "unit of kernel value; they start at 0).", "",
        "| variant | seed | val loss | val CE | val diffusion | atom stab. | mol. stab. | validity | V×U "
        "| mol. stab. as placed | validity as placed | mean \\|α\\| | train minutes | mol/s |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        pct = " | ".join(f"{100 * r[k]:.1f}%" for k in ("atom_stability", "mol_stability", "validity", "valid_x_unique",
                                                       "raw_mol_stability", "raw_validity"))
        lines.append(f"| {r['label']} | {r['seed']} | {r['val_loss']:.4f} | {r['val_ce']:.4f} | {r['val_diffusion']:.4f} "
                     f"| {pct} | {'–' if r['kernel_alpha'] is None else format(r['kernel_alpha'], '.3f')} | {r['minutes']:.1f} "
                     f"| {r['mol_per_s']:.1f} |")
    if args.note:
        lines += ["", args.note]
    lines += ["", "Against the band (default mean, band, then each variant at seed 0):", "",
              "| measure | default mean | band | " + " | ".join(VARIANTS[v][0] for v in VARIANTS if v != "default") + " |",
              "|---|---|---|" + "---|" * (len(VARIANTS) - 1)]
    for m, (mean, lo, hi) in bands.items():
        pct = m not in ("val_loss", "val_ce", "val_diffusion")
        f = (lambda x: f"{100 * x:.1f}%") if pct else (lambda x: f"{x:.4f}")
        cells = []
        for v in VARIANTS:
            if v == "default":
                continue
            r = next(r for r in rows if r["variant"] == v)
            cells.append(f"{f(r[m])} ({verdict(r[m], lo, hi, lower_is_better=not pct)})")
        lines.append(f"| {m.replace('_', ' ')} | {f(mean)} | {f(lo)} … {f(hi)} | " + " | ".join(cells) + " |")
    (out / f"georope_ablation{args.tag}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=600, help="training steps per run (equal for all)")
    parser.add_argument("--batch-tokens", type=int, default=4096)
    parser.add_argument("--n", type=int, default=1000, help="fast-mode molecules scored per run")
    parser.add_argument("--eval-every", type=float, default=3.0, help="minutes between validation losses")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs-dir", type=Path, default=RUNS_DIR, help="where the runs live (resumable)")
    parser.add_argument("--note", default="", help="a remark printed under the table (e.g. on a resumed run)")
    parser.add_argument("--train-only", action="store_true", help="train every run, score none")
    parser.add_argument("--device", default="cpu", help="cuda: train on a GPU (bf16 autocast, fp32 geometry)")
    parser.add_argument("--data", default=None, help="split caches from here (a packed copy, e.g. .gpu_data)")
    parser.add_argument("--tag", default="", help="suffix of the results files (e.g. _gpu)")
    parser.add_argument("--only", default=None,
                        help="train just this run, e.g. default_s1, and score nothing (parallel runs on a GPU)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    polisher = None if args.train_only or args.only else load_polisher(DEFAULT_POLISHERS[QM9.name])[0]
    rows, curves = [], []
    todo = [(name, seed) for name, seed in runs() if args.only in (None, f"{name}_s{seed}")]
    if not todo:
        raise SystemExit(f"--only {args.only}: no such run (one of {', '.join(f'{n}_s{s}' for n, s in runs())})")
    for name, seed in todo:
        cfg = train_config(name, seed, args.steps, args.batch_tokens, args.eval_every, args.runs_dir, args.device,
                           args.data)
        run = Path(cfg.run_dir)
        if finished(run, args.steps) is None:
            if (run / "ema.pt").exists() and not (run / "state.pt").exists():  # brought back from a GPU, unfinished
                raise SystemExit(f"{run} stopped before step {args.steps} and has no state to resume from")
            print(f"training {name} seed {seed} → {run}", flush=True)
            train(cfg, resume=True, progress=False)
        final = finished(run, args.steps)
        if final is None:
            raise SystemExit(f"{run} stopped before step {args.steps}; run the command again to resume it")
        if args.train_only or args.only:
            continue
        records = log_records(run)
        tokens = int(final["tokens"]) if "tokens" in final else \
            int(torch.load(run / "state.pt", weights_only=True)["tokens"])  # logs written before records had tokens
        row = {"variant": name, "label": VARIANTS[name][0], "seed": seed, "steps": final["step"], "tokens": tokens,
               "epochs": final["epoch"],
               "minutes": 60 * final["wall_hours"], **{k: final[k] for k in ("val_loss", "val_ce", "val_diffusion")}}
        row |= score(run, args.n, polisher) | {"kernel_alpha": kernel_weight(run), "trained_on": trained_on(run)}
        rows.append(row)
        print(row, flush=True)
        per_step = tokens / final["step"]
        curves += [{"variant": name, "seed": seed, "step": r["step"], "tokens": r.get("tokens", int(r["step"] * per_step)),
                    "val_loss": r["val_loss"], "val_ce": r["val_ce"], "val_diffusion": r["val_diffusion"]}
                   for r in records if r.get("kind") == "eval"]
    if rows:
        write(rows, curves, args)


if __name__ == "__main__":
    main()
