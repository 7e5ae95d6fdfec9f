"""Canonicalization benchmark: invariance and noise robustness on a test split (QM9 or drug-like).

    python benchmarks/canonicalization.py [--n-noise 2000]
    python benchmarks/canonicalization.py --dataset moses   # after: python -m inertialar data prepare --dataset moses

Invariance: every test molecule gets one random rotation + translation + atom permutation; the
canonical sequence must be identical within 1e-3 Å. Each exception is listed with its frame
figures (an exception whose frame had equivalent candidates, ``n_equivalent > 1``, or a margin
under 1e-3 Å is a (near-)exact symmetry). Noise: Gaussian noise of σ Å per coordinate plus a
random pose; a molecule "changes" when the element sequence differs or any token moves by more
than 0.1 Å + 5σ (more than the noise itself explains).
Writes benchmarks/results/canonicalization.md and canonicalization_noise.csv (QM9: from qm9pack's
B3LYP geometries), or canonicalization_moses.md and canonicalization_noise_moses.csv (the MOSES
test subset's MMFF94 conformers, from the token cache; its molecules are posed at random anyway).
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from inertialar.chem.frames import canonicalize, random_pose, same_sequence, tokens_changed
from inertialar.chem.molecule import Molecule
from inertialar.data.qm9 import load_qm9_raw, split_rows
from inertialar.data.specs import get_dataset
from inertialar.data.tokenset import load_split

RESULTS = Path(__file__).resolve().parent / "results"
NOISE_LEVELS = (0.0, 0.005, 0.01, 0.02, 0.05)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-noise", type=int, default=2000, help="test molecules used for the noise study")
    parser.add_argument("--dataset", choices=["qm9", "moses"], default="qm9")
    args = parser.parse_args()
    spec = get_dataset(args.dataset)
    if args.dataset == "qm9":
        raw = load_qm9_raw(split_rows("test"))
        molecules, smiles = raw.molecules, raw.smiles
    else:
        ts = load_split("test", "moses")
        molecules, smiles = [ts.molecule(k) for k in range(len(ts))], list(ts.smiles)
    suffix = "" if args.dataset == "qm9" else f"_{args.dataset}"
    built = ""
    if args.dataset == "moses":
        from inertialar.data.moses import build_report

        row = build_report().get("splits", {}).get("test", {})
        built = f" built: {row.get('built')} of {row.get('requested')} SMILES, {row.get('failed')} failed to embed"
    rng = np.random.default_rng(0)
    t0 = time.perf_counter()
    canon = [canonicalize(m) for m in tqdm(molecules, desc="canonical", unit="mol")]
    per_mol = (time.perf_counter() - t0) / len(canon)
    failures = []
    for k, (m, c) in enumerate(zip(tqdm(molecules, desc="invariance", unit="mol"), canon)):
        if not same_sequence(c.molecule, canonicalize(random_pose(m, rng)).molecule):
            failures.append((m.title, smiles[k], c.frame))
    n = len(molecules)
    rate = 1 - len(failures) / n

    noise_rows = []
    subset = molecules[: args.n_noise]
    for sigma in NOISE_LEVELS:
        n_changed = 0
        for m, c in zip(tqdm(subset, desc=f"noise {sigma} Å", unit="mol"), canon):
            noisy = Molecule(m.elements, m.coords + rng.normal(scale=sigma, size=m.coords.shape))
            n_changed += tokens_changed(c.molecule, canonicalize(random_pose(noisy, rng)).molecule, sigma)
        noise_rows.append({"noise_angstrom": sigma, "changed_fraction": n_changed / len(subset), "n": len(subset)})

    RESULTS.mkdir(exist_ok=True)
    with (RESULTS / f"canonicalization_noise{suffix}.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(noise_rows[0]))
        writer.writeheader()
        writer.writerows(noise_rows)
    gaps = np.array([c.frame.gaps.min() for c in canon])
    margins = np.array([c.frame.margin for c in canon])
    lines = [
        f"# Canonicalization on the {spec.label} test split",
        "",
        f"Command: `python benchmarks/canonicalization.py{'' if not suffix else ' --dataset ' + args.dataset}` "
        "(CPU, 2 cores).",
        "",
        f"- Atoms per molecule (with H): mean {np.mean([len(m) for m in molecules]):.1f}, "
        f"max {max(len(m) for m in molecules)}",
        f"- Molecules: {n} (every test molecule{built}; none dropped here: planar, linear, < 4 atoms all kept)",
        f"- Identical canonical sequence (≤ 1e-3 Å) after random rotation + translation + permutation: "
        f"**{100 * rate:.2f}%** ({n - len(failures)} / {n})",
        f"- Canonicalization time: {1000 * per_mol:.2f} ms per molecule",
        f"- Near-degenerate inertia (min relative gap < 1e-2): {100 * np.mean(gaps < 1e-2):.2f}% "
        f"(< 1e-3: {100 * np.mean(gaps < 1e-3):.2f}%)",
        f"- Frames with an exact symmetry (several candidate frames give the same sequence): "
        f"{100 * np.mean([c.frame.n_equivalent > 1 for c in canon]):.2f}%",
        f"- Sign/anchor margin below 0.01 Å (fragile under noise): {100 * np.mean(margins < 0.01):.2f}%",
        "",
        "## Exceptions",
        "",
        "| molecule | SMILES | n_equivalent | margin (Å) | min gap |",
        "|---|---|---|---|---|",
    ]
    lines += [f"| {t} | `{smi}` | {fr.n_equivalent} | {fr.margin:.2e} | {fr.gaps.min():.2e} |"
              for t, smi, fr in failures]
    if not failures:
        lines.append("| none | | | | |")
    lines += ["", f"## Noise robustness ({len(subset)} test molecules, random pose each)", "",
              "A molecule changes when its element sequence differs or a token moves by > 0.1 Å + 5σ.", "",
              "| noise σ (Å) | changed |", "|---|---|"]
    lines += [f"| {r['noise_angstrom']} | {100 * r['changed_fraction']:.1f}% |" for r in noise_rows]
    (RESULTS / f"canonicalization{suffix}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
