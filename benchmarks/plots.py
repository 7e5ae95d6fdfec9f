"""Plots of the committed benchmark tables (PNG), for people who would rather look than read.

    python benchmarks/plots.py [--out benchmarks/results/plots]

Reads only files that other benchmark commands wrote: assets/learning_curve.csv
(model_card.py), benchmarks/results/quality_cfg.csv and distributions.csv (quality.py),
canonicalization_noise.csv (canonicalization.py), sampler_sweep.csv (sampler_sweep.py) and
sampler_frontier.csv (sampler_frontier.py). A missing table skips its plot with a note. Writes
learning_curve.png, cfg_hit_rates.png, distributions.png, canonicalization_noise.png,
sampler_sweep.png, sampler_frontier.png.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt
import pandas as pd

from inertialar.files import results_dir

ROOT = Path(__file__).resolve().parent.parent
RESULTS = results_dir()
CURVE = ROOT / "assets" / "learning_curve.csv"
METRICS = {"atom_stability": "atom stability", "mol_stability": "molecule stability",
           "validity": "validity", "valid_x_unique": "valid × unique"}
MAIN_BONDS = ["H-C single", "C-C single", "C-O single", "C-N single", "C-C double", "C-O double",
              "C-N double", "C-C triple", "C-N triple"]


def learning_curve(df: pd.DataFrame, path: Path) -> None:
    """Validation losses (one series per hardware and condition mode) and sampled metrics against hours."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    condition = df["val_condition"] if "val_condition" in df else pd.Series("", index=df.index)
    for (hardware, cond), part in df.assign(val_condition=condition.fillna("")).groupby(["hardware", "val_condition"]):
        tag = f"{hardware}, {cond}" if cond else hardware
        for key, style in (("val_loss", "-"), ("val_ce", "--"), ("val_diffusion", ":")):
            left.plot(part["wall_hours"], part[key], style, marker="o", ms=3, label=f"{key} ({tag})")
    for hardware, part in df.groupby("hardware"):
        sampled = part.dropna(subset=["atom_stability"])
        for key, label in METRICS.items():
            right.plot(sampled["wall_hours"], 100 * sampled[key], marker="o", ms=3, label=f"{label} ({hardware})")
    left.set(xlabel="training hours (log scale: GPU minutes and CPU hours)", ylabel="validation loss", xscale="log",
             title="Validation loss (first 2,000 validation molecules)")
    right.set(xlabel="training hours", ylabel="%", ylim=(0, 100), title="Samples during training (200, seed 0)")
    for ax in (left, right):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    _save(fig, path)


def cfg_hit_rates(df: pd.DataFrame, path: Path) -> None:
    """Hit rate per functional group, one bar per CFG scale."""
    table = df.pivot(index="group", columns="cfg_scale", values="hit_rate").reindex(df["group"].unique())
    fig, ax = plt.subplots(figsize=(12, 4))
    width = 0.8 / len(table.columns)
    for k, scale in enumerate(table.columns):
        xs = [i + (k - (len(table.columns) - 1) / 2) * width for i in range(len(table))]
        ax.bar(xs, 100 * table[scale], width, label=f"s = {scale:g}")
    ax.set_xticks(range(len(table)), table.index, rotation=45, ha="right", fontsize=8)
    ax.set(ylabel="hit rate (%)", title="Functional-group control: valid molecules containing the group / all generated")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(title="CFG scale", fontsize=8)
    _save(fig, path)


def distributions(df: pd.DataFrame, path: Path) -> None:
    """Generated vs QM9 test: atom counts, element frequencies, main bond-length histograms."""
    fig, axes = plt.subplots(3, 4, figsize=(14, 9))
    panels = [("atom_count", "atoms per molecule"), ("element", "element frequency")]
    panels += [(f"bond_length {b}", f"{b} bond length (Å)") for b in MAIN_BONDS]
    styles = {"generated": dict(color="tab:orange"), "qm9_test": dict(color="tab:blue")}
    for ax, (kind, title) in zip(axes.flat, panels):
        part = df[df["kind"] == kind]
        for source, rows in part.groupby("source"):
            if kind == "element":
                ax.bar(rows["key"] + (" " if source == "generated" else ""), rows["value"], alpha=0.7,
                       label=source, **styles.get(source, {}))
            else:
                ax.plot(rows["key"].astype(float), rows["value"], drawstyle="steps-mid", label=source,
                        **styles.get(source, {}))
        ax.set_title(title, fontsize=9)
        ax.tick_params(labelsize=7)
        ax.legend(fontsize=7)
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    fig.suptitle("Generated molecules vs the QM9 test split")
    _save(fig, path)


def canonicalization_noise(df: pd.DataFrame, path: Path) -> None:
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.plot(df["noise_angstrom"], 100 * df["changed_fraction"], marker="o")
    ax.set(xlabel="Gaussian noise σ (Å)", ylabel="molecules whose tokens change (%)",
           title="Canonicalization under coordinate noise")
    ax.grid(alpha=0.3)
    _save(fig, path)


def sampler_sweep(df: pd.DataFrame, path: Path) -> None:
    labels = [f"{s} / {t:g} / {c:g}" for s, t, c in zip(df["steps"], df["temperature"], df["coord_temperature"])]
    fig, ax = plt.subplots(figsize=(12, 4))
    width = 0.8 / len(METRICS)
    for k, (key, label) in enumerate(METRICS.items()):
        ax.bar([i + (k - 1.5) * width for i in range(len(df))], 100 * df[key], width, label=label)
    ax.set_xticks(range(len(df)), labels, rotation=45, ha="right", fontsize=8)
    ax.set(xlabel="Heun steps / type temperature / coordinate temperature", ylabel="%",
           title="Sampler settings (unconditional samples)")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8)
    _save(fig, path)


def sampler_frontier(df: pd.DataFrame, path: Path) -> None:
    """Molecule stability and V×U against molecules/s (log), one point per mode, knob and selection."""
    fig, axes = plt.subplots(1, 2, figsize=(13, 5))
    styles = {"mode": ("*", 220), "knob": ("o", 40), "select": ("s", 50)}
    for ax, key, label in zip(axes, ("mol_stability", "valid_x_unique"), ("molecule stability", "valid × unique")):
        for kind, part in df.groupby("kind"):
            marker, size = styles.get(kind, ("o", 40))
            ax.scatter(part["molecules_per_s"], 100 * part[key], marker=marker, s=size, label=kind)
            for _, r in part.iterrows():
                ax.annotate(str(r["label"]).split(": ")[-1], (r["molecules_per_s"], 100 * r[key]), fontsize=6,
                            xytext=(3, 3), textcoords="offset points")
        ax.set(xscale="log", xlabel="kept molecules per second (whole process, 2-core CPU)", ylabel="%",
               title=f"{label}: quality vs speed")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    _save(fig, path)


def _save(fig, path: Path) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    print(f"wrote {_shown(path)}")


def _shown(path: Path) -> Path:
    return path.relative_to(ROOT) if path.is_relative_to(ROOT) else path


PLOTS = [(CURVE, learning_curve, "learning_curve.png"),
         (RESULTS / "quality_cfg.csv", cfg_hit_rates, "cfg_hit_rates.png"),
         (RESULTS / "distributions.csv", distributions, "distributions.png"),
         (RESULTS / "canonicalization_noise.csv", canonicalization_noise, "canonicalization_noise.png"),
         (RESULTS / "sampler_sweep.csv", sampler_sweep, "sampler_sweep.png"),
         (RESULTS / "sampler_frontier.csv", sampler_frontier, "sampler_frontier.png")]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=RESULTS / "plots")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for table, plot, name in PLOTS:
        if not table.exists():
            print(f"skipped {name}: {_shown(table)} not found (run its benchmark first)", file=sys.stderr)
            continue
        plot(pd.read_csv(table), args.out / name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
