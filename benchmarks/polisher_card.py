"""Write a polisher's model card and learning curve from its checkpoint, its run log and the results.

    python benchmarks/polisher_card.py --log RUN_DIR/log.jsonl [--polisher assets/polisher_qm9.pt]

Writes ``assets/MODEL_CARD_polisher_DATASET.md``, ``assets/polisher_DATASET_curve.csv`` and the plot
``plots/polisher_DATASET_curve.png`` in the results folder. Every number comes from a file that a
command of this repository wrote: the checkpoint's metadata (``train-polisher``), its log, and
``polish.md`` / ``critic.md`` / ``sampler_frontier.csv`` / ``moses_quality.md`` in the results folder.
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from inertialar.files import ASSETS, results_dir  # noqa: E402
from inertialar.nn.checkpoint import DEFAULT_POLISHERS, load_polisher  # noqa: E402
from inertialar.training.polisher import EVAL_SIGMAS  # noqa: E402

RESULTS = results_dir()


def curve(log: Path) -> list[dict]:
    rows = []
    for line in log.read_text().splitlines():
        rec = json.loads(line)
        if "val_loss_0.1" in rec:
            rows.append({"step": rec["step"], "epoch": rec["epoch"], "minutes": rec["minutes"],
                         **{f"val_loss_{s:g}": rec[f"val_loss_{s:g}"] for s in EVAL_SIGMAS}})
    return rows


def plot(rows: list[dict], out: Path, name: str) -> None:
    fig, ax = plt.subplots(figsize=(6, 3.6))
    for s in EVAL_SIGMAS:
        ax.plot([r["epoch"] for r in rows], [r[f"val_loss_{s:g}"] for r in rows], marker="o", label=f"σ = {s:g} Å")
    ax.set_xlabel("epochs of the training split")
    ax.set_ylabel("validation loss (EDM-weighted)")
    ax.set_title(f"Polisher ({name}) learning curve, fixed molecules and noise")
    ax.legend()
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)


def section(path: Path, title: str) -> list[str]:
    if not path.exists():
        return []
    body = [line for line in path.read_text().splitlines() if not line.startswith("# ")]
    return [f"## {title}", "", *body, ""]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--log", type=Path, required=True)
    ap.add_argument("--polisher", type=Path, default=None)
    args = ap.parse_args()
    model, meta = load_polisher(args.polisher or DEFAULT_POLISHERS["qm9"])
    cfg, name = model.cfg, model.cfg.dataset
    rows = curve(args.log)
    with (ASSETS / f"polisher_{name}_curve.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    plot(rows, RESULTS / "plots" / f"polisher_{name}_curve.png", name)
    tc = meta.get("train_config", {})
    lines = [f"# Model card: the polisher and critic ({name})", "",
             "A whole-molecule E(3)-equivariant denoiser at low noise (`inertialar/nn/polisher.py`): dense EGNN "
             f"({cfg.layers} layers, width {cfg.width}, {cfg.rbf} Gaussian distance features to {cfg.rbf_max:g} Å), "
             f"EDM preconditioning (σ_data {cfg.sigma_data:g} Å), trained at σ log-uniform on "
             f"[{cfg.sigma_min:g}, {cfg.sigma_max:g}] Å on the {name} training split. "
             f"{meta.get('parameters', 0):,} parameters.", "",
             "- **Polish** (`inertialar/sampling/polish.py`): a sampled molecule is taken as noisy at σ₀ and "
             "integrated to σ = 0 with Heun steps; elements, atom count and order never change. Used by `fast` "
             "and `best`, never by `raw`; `--no-polish` turns it off.",
             "- **Critic** (`inertialar/sampling/critic.py`): the polisher's own denoising error at σ 0.05 Å, "
             "mean plus half the worst atom; higher = more like the data. It learned from the training split "
             "only: no bond table, valence, RDKit or electron count.", "",
             "## Training", "",
             f"`python -m inertialar train-polisher --dataset {name} --minutes {tc.get('schedule_minutes', 0):g} "
             f"--width {cfg.width} --layers {cfg.layers} --batch-atoms {tc.get('batch_atoms')} --lr {tc.get('lr'):g}` "
             f"on the 2-core CPU (no GPU): {meta.get('epochs', 0):.2f} epochs, {meta.get('steps', 0):,} steps, "
             f"{meta.get('wall_minutes', 0):.0f} minutes of wall time (cosine over wall time, EMA 0.999, AdamW). "
             f"Split hash `{meta.get('split_hash')}`."
             + ("" if meta.get("final") else f" The run was stopped before its {tc.get('schedule_minutes', 0):g}-minute "
                f"schedule ended; this is the EMA checkpoint it wrote at minute {meta.get('wall_minutes', 0):.0f}."), "",
             "Validation loss on 1,000 fixed validation molecules with fixed noise "
             f"(`assets/polisher_{name}_curve.csv`, plot `benchmarks/results/plots/polisher_{name}_curve.png`):", "",
             "| epoch | minutes | " + " | ".join(f"σ {s:g} Å" for s in EVAL_SIGMAS) + " |",
             "|---|---|" + "---|" * len(EVAL_SIGMAS)]
    lines += [f"| {r['epoch']:.2f} | {r['minutes']:.0f} | " + " | ".join(f"{r[f'val_loss_{s:g}']:.4f}" for s in EVAL_SIGMAS)
              + " |" for r in rows]
    lines.append("")
    if name == "qm9":
        lines += section(RESULTS / "polish.md", "Polish: σ₀ and steps, real molecules")
        lines += section(RESULTS / "critic.md", "Critic")
    else:
        lines += section(RESULTS / "moses_quality.md", "Drug-like quality per mode")
    out = ASSETS / f"MODEL_CARD_polisher_{name}.md"
    out.write_text("\n".join(lines) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
