"""Write assets/MODEL_CARD.md and assets/learning_curve.csv from a checkpoint, its run log and the results.

    python benchmarks/model_card.py [--checkpoint assets/inertialar_qm9.pt] [--log RUN_DIR/log.jsonl]

Every number in the card is read from a file that a command in this repository wrote: the
checkpoint's metadata (``inertialar train``), the training log, and benchmarks/results/*.
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

from inertialar.files import results_dir
from inertialar.nn.checkpoint import DEFAULT_CHECKPOINT, load_checkpoint
from inertialar.nn.model import count_parameters
from inertialar.sampling.modes import MODES, describe_settings, mode_settings
from inertialar.sampling.settings import SampleSettings

ROOT = Path(__file__).resolve().parent.parent

RESULTS = results_dir()
CURVE_KEYS = ["step", "epoch", "wall_hours", "hardware", "val_condition", "val_loss", "val_ce", "val_diffusion",
              "train_loss", "gap",
              "atom_stability", "mol_stability", "validity", "valid_x_unique"]


def learning_curve(log: Path, hardware: str) -> list[dict]:
    rows = []
    for line in log.read_text().splitlines():
        rec = json.loads(line)
        if rec.get("kind") == "eval":
            rows.append({k: rec.get(k, "") for k in CURVE_KEYS} | {"hardware": hardware,
                        "val_condition": rec.get("val_condition", "not recorded")})
    return rows


def kernel_text(b) -> str:
    sigmas = ", ".join(f"{s:g}" for s in b.nystrom_sigmas)
    kind = getattr(b, "distance_kernel", "nystrom")
    if kind == "nystrom":
        return f"Nyström distance features σ = {sigmas} Å on {b.nystrom_grid ** 3} grid landmarks"
    if kind == "exact":
        return f"exact Gaussian distance kernels σ = {sigmas} Å (pairwise distances, a learned weight per head)"
    return "no distance kernel (RoPE-3D only)"


def command_text(tc: dict) -> str:
    if tc.get("schedule_minutes"):
        return (f"`python -m inertialar window --minutes {tc['schedule_minutes']:g} --batch-tokens "
                f"{tc.get('batch_tokens')} --lr {tc.get('lr'):.3g}` (the GPU-window recipe; cosine over wall time)")
    return f"`python -m inertialar train --epochs {tc.get('epochs')} --lr {tc.get('lr')}`"


def mode_quality() -> list[str]:
    """The modes' rows of the sampler frontier, raw first (the model's own numbers are the headline)."""
    path = RESULTS / "sampler_frontier.csv"
    if not path.exists():
        return ["_sampler_frontier.md not produced yet: `python benchmarks/sampler_frontier.py`._", ""]
    with path.open() as f:
        rows = {r["label"]: r for r in csv.DictReader(f) if r["kind"] == "mode"}
    out = ["## Sample quality by mode (`python benchmarks/sampler_frontier.py`: 1,000 unconditional molecules, "
           "seed 123, whole process on the 2-core CPU, every drawn molecule counted)", "",
           "| mode | atom stab. | mol. stab. | validity | uniqueness | valid×unique | novelty | W1 atoms | "
           "PoseBusters all-pass | molecules/s | ether / nitrile / ketone hit at CFG 2 |", "|" + "---|" * 11]
    for name in MODES:
        r = rows.get(name)
        if r is None:
            continue
        p = {k: f"{100 * float(r[k]):.1f}%" if r.get(k) not in (None, "") else "–"
             for k in ("atom_stability", "mol_stability", "validity", "uniqueness", "valid_x_unique", "novelty",
                       "posebusters_all_pass", "hit_ether", "hit_nitrile", "hit_ketone")}
        out.append(f"| {'**raw** (the model itself)' if name == 'raw' else name} | {p['atom_stability']} | "
                   f"{p['mol_stability']} | {p['validity']} | {p['uniqueness']} | {p['valid_x_unique']} | "
                   f"{p['novelty']} | {float(r['atoms_w1']):.2f} | {p['posebusters_all_pass']} | "
                   f"{float(r['molecules_per_s']):.1f} | {p['hit_ether']} / {p['hit_nitrile']} / {p['hit_ketone']} |")
    return out + ["", "Every knob tried is in the frontier table below (`sampler_frontier.md`).", ""]


def result_rows(name: str) -> list[dict]:
    """The rows of a results CSV (none if it is missing)."""
    path = RESULTS / name
    if not path.exists():
        return []
    with path.open() as f:
        return list(csv.DictReader(f))


def method_summary() -> list[str]:
    """The method questions in a few lines, read from their result tables (each names its command)."""
    lines = ["## Method questions (details: the results files named below, and the app's \"Method questions\" tab)"]
    rows = result_rows("georope_ablation.csv")
    if rows:
        base = [float(r["val_loss"]) for r in rows if r["variant"] == "default"]
        mean = sum(base) / len(base)
        sd = (sum((b - mean) ** 2 for b in base) / max(1, len(base) - 1)) ** 0.5
        others = ", ".join(f"{r['label']} {float(r['val_loss']):.4f}" for r in rows if r["variant"] != "default")
        lines.append(f"- GeoRoPE at equal tokens (`benchmarks/georope_ablation.py`, 1.05M-parameter model, "
                     f"{int(rows[0]['tokens']):,} tokens, fp32 CPU): validation loss of the default (RoPE-3D + Nyström) "
                     f"{mean:.4f} (band ± {2 * sd:.4f}, 3 seeds); {others}. See `georope_ablation.md` for which "
                     "differences leave the band.")
    rows = [r for r in result_rows("method_questions.csv") if r["part"] == "symmetric"]
    if rows:
        r = rows[-1]
        lines.append(f"- Fragile frames (`benchmarks/method_questions.py`, {r['extra']} QM9 test molecules vs a "
                     f"matched control): {r['key']} {100 * float(r['value_a']):.1f}% vs {100 * float(r['value_b']):.1f}% "
                     f"(95% CI of the difference {100 * float(r['ci_low']):+.1f} … {100 * float(r['ci_high']):+.1f} "
                     "points); frame noise: see `frame_noise.md`.")
    rows = result_rows("equivariant_peer.csv")
    if rows:
        labels = list(dict.fromkeys(r["label"] for r in rows))  # one entry per model row, the mean over seeds

        def mean(label: str, key: str) -> float:
            return sum(float(r[key]) for r in rows if r["label"] == label) / sum(r["label"] == label for r in rows)
        seeds = len({r.get("seed", "0") for r in rows})
        lines.append("- Equal compute against an EDM-style equivariant peer (`benchmarks/equivariant_peer.py`, "
                     + (f"mean of {seeds} training seeds): " if seeds > 1 else "1 training seed): ")
                     + "; ".join(f"{label}: molecule stability {100 * mean(label, 'mol_stability'):.1f}%, validity "
                                 f"{100 * mean(label, 'validity'):.1f}%, {mean(label, 'mol_per_s'):.1f} mol/s"
                                 for label in labels) + ".")
    return lines + [""] if len(lines) > 1 else []


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default=str(DEFAULT_CHECKPOINT))
    parser.add_argument("--log", default=None, help="the run's log.jsonl (learning curve)")
    parser.add_argument("--keep-curve", action="store_true",
                        help="keep the curve's rows from other hardware (e.g. the CPU run before a GPU run)")
    parser.add_argument("--note", default="", help="a remark on this run printed under the learning curve")
    args = parser.parse_args()
    model, meta = load_checkpoint(args.checkpoint)
    cfg = model.cfg
    hardware = meta.get("device", "cpu")
    hardware = "CPU (2 cores)" if hardware == "cpu" else f"GPU ({hardware})"
    curve_path = ROOT / "assets" / "learning_curve.csv"
    if args.log:
        rows = learning_curve(Path(args.log), hardware)
        if args.keep_curve and curve_path.exists():  # earlier runs on other hardware stay in the curve
            with curve_path.open() as f:
                rows = [r for r in csv.DictReader(f) if r["hardware"] != hardware] + rows
        with curve_path.open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=CURVE_KEYS)
            writer.writeheader()
            writer.writerows(rows)
    defaults = SampleSettings()
    tc = meta.get("train_config", {})
    lines = [
        f"# Model card: InertialAR on QM9 ({'CPU' if hardware.startswith('CPU') else 'GPU'}-trained)", "",
        "The default checkpoint `assets/inertialar_qm9.pt`, loaded by the CLI and the app.", "",
        "## Model",
        f"- {count_parameters(model) / 1e6:.2f}M parameters: causal transformer width {cfg.backbone.width}, "
        f"{cfg.backbone.depth} layers, {cfg.backbone.heads} heads ({cfg.backbone.rope_heads} with RoPE-3D, "
        f"{cfg.backbone.rope_pairs_per_axis} rotary pairs per axis, ω_max {cfg.backbone.rope_omega_max} rad/Å), "
        + kernel_text(cfg.backbone) + ";",
        f"- diffusion head: {cfg.diffusion.depth} adaLN residual blocks of width {cfg.diffusion.width}, EDM "
        f"preconditioning σ_data {cfg.diffusion.sigma_data} Å, ln σ ~ N({cfg.diffusion.p_mean}, {cfg.diffusion.p_std}²), "
        f"{cfg.diffusion.noise_draws} noise draws per token; loss {cfg.ce_weight}·CE + {cfg.diffusion_weight}·diffusion;",
        f"- conditioning: {len(cfg.groups)} QM9 functional groups (present/absent/unspecified), label drop "
        f"p = {tc.get('p_drop_group')}, whole-condition drop p = {tc.get('p_drop_all')} (classifier-free guidance).", "",
        "## Data and training",
        "- QM9 from the PyPI package qm9pack (130,831 molecules), EDM split (seed 0): trained on the 100,000 training "
        f"molecules only (split hash `{meta.get('split_hash')}`).",
        f"- Command: {command_text(tc)} "
        f"(AdamW β {tc.get('betas')}, weight decay {tc.get('weight_decay')}, {tc.get('warmup_steps')} warm-up "
        f"steps, cosine decay, clip {tc.get('clip')}, EMA {tc.get('ema')}, ≈ {tc.get('batch_tokens')} padded "
        "tokens per batch, length-bucketed).",
        f"- Trained {meta.get('steps')} steps = {meta.get('epochs', 0):.2f} epochs in {meta.get('wall_hours', 0):.2f} h "
        f"on {hardware}; GPU hours: {0 if hardware.startswith('CPU') else meta.get('wall_hours', 0):.2f}.",
        "- Weights: EMA, stored as fp16.", "",
        "## Sampler: quality modes (`python -m inertialar sample --mode {raw,fast,best}`)",
        *[f"- **{m.name}**: {m.summary}; "
          f"{describe_settings(mode_settings(m.name))}." for m in MODES.values()],
        f"- σ from {cfg.diffusion.sigma_max} to {cfg.diffusion.sigma_min} Å (ρ = {cfg.diffusion.rho}) unless a mode "
        f"says otherwise; CFG scale {defaults.cfg_scale} (used only when groups are given); batch {defaults.batch_size}.",
        "",
        *mode_quality(),
    ]
    speed = []
    for name, label, key, unit in (("train_speed.csv", "training", "tokens_per_s", "non-padding tokens/s"),
                                   ("sample_speed.csv", "sampling", "molecules_per_s", "molecules/s (1,000, whole process)")):
        path = RESULTS / name
        if path.exists():
            with path.open() as f:
                row = list(csv.DictReader(f))[-1]
            speed.append(f"- {label}: {float(row[key]):.1f} {unit} on {row['device']} "
                         f"(`python -m inertialar bench {'train' if label == 'training' else 'sample'}`)")
    if speed:
        lines += ["## Speed", *speed, ""]
    lines += method_summary()
    lines += ["Plots of the tables below: `python benchmarks/plots.py` → `benchmarks/results/plots/` "
              "(sampler_frontier.png, cfg_hit_rates.png, distributions.png, sampler_sweep.png, canonicalization_noise.png).", ""]
    for name in ("sampler_frontier.md", "quality.md", "sampler_sweep.md", "overfit.md", "ablation.md", "remedies.md",
                 "canonicalization.md"):
        path = RESULTS / name
        if name == "ablation.md" and path.exists():
            lines += ["_The next table is the old GPU ablation, measured under bf16 before the Nyström features were "
                      "kept in fp32: its Nyström variants trained on garbled kernel features, so it answers nothing; "
                      "the fp32 ablation at equal tokens (method questions, above) replaces it._", ""]
        if name == "quality.md" and path.exists():
            lines += ["_The next table (`benchmarks/quality.py`) was measured before the quality modes, with the "
                      "former CLI defaults (type T 0.7, start-noise T 0.2, 18 Heun steps); the modes' rows are "
                      "above._", ""]
        if path.exists():
            lines += [line.replace("# ", "## ", 1) if line.startswith("# ") else line
                      for line in path.read_text().splitlines()] + [""]
        else:
            lines += [f"_{name} not produced yet: see the README's benchmark commands._", ""]
    if curve_path.exists():
        lines += ["## Learning curve (`assets/learning_curve.csv`; unconditional losses on 2,000 molecules, "
                  "sample metrics where the run could score samples)", "",
                  "![learning curve](../benchmarks/results/plots/learning_curve.png)", "",
                  "| step | epoch | minutes | hardware | val loss | val CE | val diffusion | train−val gap | atom stab. "
                  "| mol. stab. | validity | valid×unique |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
        keys = ("atom_stability", "mol_stability", "validity", "valid_x_unique")
        with curve_path.open() as f:
            for r in csv.DictReader(f):
                pct = [f"{100 * float(r[k]):.1f}%" if r[k] else "–" for k in keys]
                losses = [f"{float(r[k]):.4f}" if r.get(k) else "–" for k in ("val_loss", "val_ce", "val_diffusion", "gap")]
                lines.append(f"| {r['step']} | {float(r['epoch']):.2f} | {60 * float(r['wall_hours']):.1f} | "
                             f"{r['hardware']} | " + " | ".join(losses + pct) + " |")
        lines += ["", args.note, ""] if args.note else [""]
    lines += ["## Limits", f"- Trained for {meta.get('epochs', 0):.0f} epochs ({meta.get('wall_hours', 0) * 60:.0f} minutes "
              f"on {hardware}): far from the paper's 2,000 GPU epochs and 415M parameters; see the numbers above "
              "before relying on samples.", ""]
    (ROOT / "assets" / "MODEL_CARD.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
