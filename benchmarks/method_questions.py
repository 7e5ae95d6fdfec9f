"""Two of the method's open questions, measured on the shipped QM9 model (issue: method questions).

    python benchmarks/method_questions.py [--noise-n 2000] [--control-seed 0] [--boot 2000]

1. **Symmetric molecules.** The QM9 test molecules whose inertial frame is fragile: near-degenerate
   inertia (a relative eigenvalue gap < ``frames.DEGENERACY_GAP``), an exact symmetry (several frame
   candidates give the same sequence), or a sign/anchor margin below 0.01 Å. Control: as many other
   test molecules, matched by atom count (seeded). On both, with the shipped model: the per-molecule
   losses (type cross-entropy and the diffusion loss at fixed noise draws, unconditional) and prefix
   completion (the first half of each molecule's canonical sequence, completed 4 times in ``fast``;
   share of EDM-stable completions). Differences subset − control with a bootstrap 95% interval.
2. **Frame noise.** The first ``--noise-n`` test molecules with Gaussian noise σ per coordinate,
   added before canonicalization (the frame and order may change) or after it (the same noise on the
   canonical tokens: frame fixed); the model's unconditional losses for each. The gap between the
   two ways is the frame's own cost; "changed" is the share whose canonical sequence changed.

Writes ``method_questions.csv``, ``symmetric_molecules.md`` and ``frame_noise.md`` in the results folder (2-core CPU).
"""

from __future__ import annotations

import argparse
import csv
from dataclasses import replace

import numpy as np
import torch

from inertialar.chem.frames import tokens_changed
from inertialar.chem.metrics import stability
from inertialar.chem.molecule import Molecule
from inertialar.data.fragility import fragile, matched_control, noisy_tokens
from inertialar.data.specs import QM9
from inertialar.data.tokenset import TokenSet, assemble, load_split, process_molecule
from inertialar.files import results_dir
from inertialar.nn.checkpoint import DEFAULT_POLISHERS, load_checkpoint, load_polisher
from inertialar.sampling.modes import mode_settings
from inertialar.sampling.sampler import sample_parts, to_result
from inertialar.sampling.settings import Part
from inertialar.training.evaluation import validation_loss

NOISE = (0.0, 0.005, 0.01, 0.02, 0.05)  # Å
COMPLETIONS = 4


def per_molecule_losses(model, ts: TokenSet, idx: np.ndarray) -> np.ndarray:
    """(M, 2) type cross-entropy and diffusion loss of each molecule (unconditional, fixed noise draws)."""
    out = []
    for k in idx:
        one = TokenSet(*(a for a in _slice(ts, int(k))), elements=ts.elements, dataset=ts.dataset)
        v = validation_loss(model, one, torch.device("cpu"), n=1)
        out.append((v["val_ce"], v["val_diffusion"]))
    return np.array(out)


def _slice(ts: TokenSet, k: int):
    lo, hi = ts.offsets[k], ts.offsets[k + 1]
    return (ts.types[lo:hi], ts.coords[lo:hi], np.array([0, hi - lo]), ts.smiles[k:k + 1], ts.groups[k:k + 1],
            ts.index[k:k + 1])


def completions(model, polisher, ts: TokenSet, idx: np.ndarray) -> np.ndarray:
    """(M,) share of EDM-stable completions of each molecule's first half (``fast``, 4 each)."""
    base = mode_settings("fast", n=COMPLETIONS, seed=2024)
    out = []
    for lo in range(0, len(idx), 50):
        parts = []
        for k in idx[lo:lo + 50]:
            mol = ts.molecule(int(k))
            half = Molecule(mol.elements[: len(mol) // 2], mol.coords[: len(mol) // 2])
            parts.append(Part(replace(base, prefix=half, seed=2024 + int(k)), 0, COMPLETIONS))
        for part, trajs in zip(parts, sample_parts(model, parts, "cpu"), strict=True):
            mols = to_result(part.settings, trajs, polisher).molecules
            out.append(np.mean([stability(m)[2] for m in mols]))
    return np.array(out)


def bootstrap(a: np.ndarray, b: np.ndarray, n: int, seed: int = 0) -> tuple[float, float, float]:
    """Mean of a − mean of b, with a percentile bootstrap 95% interval (a and b resampled apart)."""
    rng = np.random.default_rng(seed)
    d = [a[rng.integers(0, len(a), len(a))].mean() - b[rng.integers(0, len(b), len(b))].mean() for _ in range(n)]
    return float(a.mean() - b.mean()), float(np.percentile(d, 2.5)), float(np.percentile(d, 97.5))


def frame_noise(model, ts: TokenSet, n: int, boot: int) -> list[dict]:
    """Per σ and noise placement: mean per-molecule losses, the share whose sequence changed, and
    the paired gap before − after (per-molecule loss, the same noise and diffusion draws) with a
    bootstrap 95% interval over molecules."""
    rows = []
    clean = [process_molecule(ts.molecule(k), str(ts.smiles[k]), QM9) for k in range(n)]  # canonical tokens
    weights = np.array([model.cfg.ce_weight, model.cfg.diffusion_weight])
    for sigma in NOISE:
        rng = np.random.default_rng(7)
        before, after, changed = [], [], 0
        for k in range(n):
            types, coords = clean[k][:2]
            ref = Molecule(tuple(QM9.elements[t] for t in types), coords)
            noise = rng.normal(0.0, sigma, coords.shape)
            res = noisy_tokens(clean[k], noise, str(ts.smiles[k]), QM9, before=True)
            before.append(res)
            after.append(noisy_tokens(clean[k], noise, str(ts.smiles[k]), QM9, before=False))
            changed += tokens_changed(ref, Molecule(tuple(QM9.elements[t] for t in res[0]), res[1]), sigma)
        losses = {}
        for way, results in (("before canonicalization (frame may change)", before),
                             ("after canonicalization (frame fixed)", after)):
            per = per_molecule_losses(model, assemble(results, ts.index[:n], QM9), np.arange(n))  # (n, 2)
            losses[way] = per @ weights
            rows.append({"sigma_A": sigma, "noise": way, "changed": changed / n, "ce": float(per[:, 0].mean()),
                         "diffusion": float(per[:, 1].mean()), "loss": float(losses[way].mean()), "n": n})
        gap = losses["before canonicalization (frame may change)"] - losses["after canonicalization (frame fixed)"]
        rows[-1] |= dict(zip(("gap", "gap_low", "gap_high"), paired_bootstrap(gap, boot), strict=True))
        print(rows[-2], rows[-1], flush=True)
    return rows


def paired_bootstrap(d: np.ndarray, n: int, seed: int = 0) -> tuple[float, float, float]:
    """Mean of paired differences d with a percentile bootstrap 95% interval."""
    rng = np.random.default_rng(seed)
    means = [d[rng.integers(0, len(d), len(d))].mean() for _ in range(n)]
    return float(d.mean()), float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


PRECISION = 1e-4  # loss differences below this are float32 rounding of re-canonicalized coordinates


def verdict(low: float, high: float) -> str:
    if low <= 0 <= high or max(abs(low), abs(high)) < PRECISION:
        return "no difference"
    return "higher" if low > 0 else "lower"


def symmetric_rows(model, polisher, ts: TokenSet, subset: np.ndarray, control: np.ndarray, args) -> list[dict]:
    """Fragile frames against their matched control: losses and stable completions, bootstrap intervals."""
    loss_s, loss_c = per_molecule_losses(model, ts, subset), per_molecule_losses(model, ts, control)
    comp_s, comp_c = completions(model, polisher, ts, subset), completions(model, polisher, ts, control)
    sym = [("type cross-entropy (per molecule)", loss_s[:, 0], loss_c[:, 0]),
           ("diffusion loss (per molecule, fixed noise)", loss_s[:, 1], loss_c[:, 1]),
           ("stable completions of the first half (fast)", comp_s, comp_c)]
    return [{"measure": name, "subset": float(a.mean()), "control": float(b.mean()),
             **dict(zip(("difference", "ci_low", "ci_high"), bootstrap(a, b, args.boot), strict=True))}
            for name, a, b in sym]


def read_symmetric() -> list[dict]:
    """The symmetric rows of the committed ``method_questions.csv`` (for ``--noise-only``)."""
    with (results_dir() / "method_questions.csv").open() as f:
        return [{"measure": r["key"], "subset": float(r["value_a"]), "control": float(r["value_b"]),
                 "difference": float(r["difference"]), "ci_low": float(r["ci_low"]), "ci_high": float(r["ci_high"])}
                for r in csv.DictReader(f) if r["part"] == "symmetric"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--noise-n", type=int, default=2000)
    ap.add_argument("--control-seed", type=int, default=0)
    ap.add_argument("--boot", type=int, default=2000)
    ap.add_argument("--noise-only", action="store_true",
                    help="re-measure the frame-noise part only (the symmetric rows are read from method_questions.csv)")
    args = ap.parse_args()
    model, _ = load_checkpoint()
    polisher = load_polisher(DEFAULT_POLISHERS["qm9"])[0] if DEFAULT_POLISHERS["qm9"].exists() else None
    ts = load_split("test", "qm9")
    subset, kinds = fragile(ts)
    control = matched_control(ts.lengths, subset, args.control_seed)
    print(f"fragile frames: {len(subset)} of {len(ts)} ({kinds})", flush=True)
    sym_rows = symmetric_rows(model, polisher, ts, subset, control, args) if not args.noise_only else read_symmetric()
    noise_rows = frame_noise(model, ts, args.noise_n, args.boot)
    out = results_dir()
    with (out / "method_questions.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["part", "key", "value_a", "value_b", "difference", "ci_low", "ci_high", "extra"])
        for r in sym_rows:
            w.writerow(["symmetric", r["measure"], r["subset"], r["control"], r["difference"], r["ci_low"], r["ci_high"],
                        len(subset)])
        for r in noise_rows:
            w.writerow(["frame_noise", f"{r['sigma_A']} {r['noise']}", r["ce"], r["diffusion"], r["loss"],
                        r.get("gap_low", ""), r.get("gap_high", ""), r["changed"]])
    polished = "polished" if polisher is not None else "unpolished"
    command = [f"Command: `python benchmarks/method_questions.py --noise-n {args.noise_n} --boot {args.boot}"
             f"{' --noise-only' if args.noise_only else ''}` on the 2-core CPU, shipped QM9 checkpoint"
             + (" (the symmetric rows come from the last full run, without --noise-only, read from "
                "method_questions.csv)." if args.noise_only else "."), ""]
    lines = [f"# Symmetric molecules ({len(subset)} of {len(ts):,} test molecules have a fragile frame: "
             + ", ".join(f"{k} {v}" for k, v in kinds.items()) + f"; control: {len(control)} others matched by atom "
             f"count, seed {args.control_seed})", "",
             "| measure | fragile frames | control | difference | bootstrap 95% CI |", "|---|---|---|---|---|"]
    lines += [f"| {r['measure']} | {r['subset']:.4f} | {r['control']:.4f} | {r['difference']:+.4f} | "
              f"[{r['ci_low']:+.4f}, {r['ci_high']:+.4f}] |" for r in sym_rows]
    lines += ["", f"Completions: {COMPLETIONS} per molecule in `fast` ({polished}), the prefix kept as given; "
              "stability by EDM's rule. A difference whose interval excludes 0 is a real one at this size."]
    (out / "symmetric_molecules.md").write_text("\n".join(lines[:1] + [""] + command + lines[1:]) + "\n")
    lines = [f"# Frame noise ({args.noise_n} test molecules, the same noise both ways)", "", *command,
             "| σ (Å) | noise added | sequence changed | type CE | diffusion | loss | gap before − after "
             "(95% CI) |", "|---|---|---|---|---|---|---|"]
    lines += [f"| {r['sigma_A']:g} | {r['noise']} | {r['changed']:.1%} | {r['ce']:.4f} | {r['diffusion']:.4f} | "
              f"{r['loss']:.4f} | " + (f"{r['gap']:+.4f} [{r['gap_low']:+.4f}, {r['gap_high']:+.4f}]: "
                                       f"{verdict(r['gap_low'], r['gap_high'])}" if "gap" in r else "") + " |"
              for r in noise_rows]
    lines += ["", "Losses are means over molecules of each molecule's loss (unconditional; the same noise and the "
              "same diffusion draws in both placements). The gap between the two rows of one σ is what the frame's "
              "own jumps (sign flips, axis swaps, reordering) cost the model beyond the noise itself; its interval is "
              f"a paired percentile bootstrap over the molecules ({args.boot} resamples). An interval that holds 0 "
              f"(or lies within ±{PRECISION:g}, float32 rounding) is no difference."]
    (out / "frame_noise.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
