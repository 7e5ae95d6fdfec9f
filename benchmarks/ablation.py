"""GeoRoPE ablation from a GPU window: validation loss per GPU-minute and sample quality per variant.

    python benchmarks/ablation.py --checkpoints DIR [--n 500]

Reads ``benchmarks/results/gpu_window/abl_*/{log.jsonl,summary.json}`` (written by
``benchmarks/gpu/window.sh``: four default-size runs sharing one GPU for the same minutes) and,
when ``DIR`` holds their checkpoints (``abl_<name>_ema_fp16.pt``), scores ``--n`` unconditional
samples of each at the sampler defaults (seed 0) on the CPU. Writes
benchmarks/results/ablation.{csv,md}.
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

from inertialar.chem.metrics import evaluate
from inertialar.files import results_dir
from inertialar.nn.checkpoint import load_checkpoint
from inertialar.sampling.sampler import sample
from inertialar.sampling.settings import SampleSettings

ROOT = Path(__file__).resolve().parent.parent

RESULTS = results_dir()
VARIANTS = {"both": "RoPE-3D + Nyström", "rope_only": "RoPE-3D only", "nystrom_only": "Nyström only",
            "exact": "RoPE-3D + exact kernel"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoints", default=None, help="folder with abl_<name>_ema_fp16.pt")
    parser.add_argument("--n", type=int, default=500)
    args = parser.parse_args()
    rows = []
    for name, label in VARIANTS.items():
        folder = RESULTS / "gpu_window" / f"abl_{name}"
        summary = json.loads((folder / "summary.json").read_text())
        evals = [json.loads(x) for x in (folder / "log.jsonl").read_text().splitlines() if '"eval"' in x]
        final = summary["final"]
        row = {"variant": label, "minutes": summary["minutes"], "steps": final["step"], "epochs": final["epoch"],
               "val_loss": final["val_loss"], "val_ce": final["val_ce"], "val_diffusion": final["val_diffusion"],
               "val_loss_per_minute": " ".join(f"{r['val_loss']:.3f}" for r in evals)}
        ckpt = Path(args.checkpoints) / f"abl_{name}_ema_fp16.pt" if args.checkpoints else None
        if ckpt and ckpt.exists():
            model, _ = load_checkpoint(ckpt)
            m = evaluate(sample(model, SampleSettings(n=args.n, seed=0)).molecules)
            row |= {k: m[k] for k in ("atom_stability", "mol_stability", "validity", "valid_x_unique")}
        rows.append(row)
        print(row, flush=True)
    keys = sorted({k for r in rows for k in r}, key=lambda k: list(rows[-1]).index(k) if k in rows[-1] else 99)
    with (RESULTS / "ablation.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=keys)
        writer.writeheader()
        writer.writerows(rows)
    device = json.loads((RESULTS / "gpu_window" / "abl_both" / "summary.json").read_text()).get("device")
    lines = ["# GeoRoPE ablation (one GPU window)", "",
             f"Four default-size models (3.95M) trained side by side on one {device} for the same wall time, "
             "8,192-token batches, `benchmarks/gpu/window.sh`; scored by `python benchmarks/ablation.py "
             f"--checkpoints DIR --n {args.n}` ({args.n} unconditional samples each, seed 0, CPU). Equal wall "
             "time, not equal steps: the variants ran at different speeds.", "",
             "| variant | steps | epochs | val loss | val CE | val diffusion | atom stab. | mol. stab. | validity "
             "| valid×unique | val loss at each minute |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        pct = [f"{100 * r[k]:.1f}%" if k in r else "–" for k in ("atom_stability", "mol_stability", "validity",
                                                                  "valid_x_unique")]
        lines.append(f"| {r['variant']} | {r['steps']} | {r['epochs']:.1f} | {r['val_loss']:.4f} | {r['val_ce']:.4f} | "
                     f"{r['val_diffusion']:.4f} | " + " | ".join(pct) + f" | {r['val_loss_per_minute']} |")
    (RESULTS / "ablation.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
