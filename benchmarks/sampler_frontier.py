"""The sampler's quality/speed frontier on one checkpoint: every quality mode and every knob tried.

    python benchmarks/sampler_frontier.py [--checkpoint CKPT] [--n 1000] [--seed 123] [--pb 200]
                                          [--group-n 200] [--only LABEL ...]

Rows (unconditional, ``--n`` molecules each, seed 123; the modes were chosen on seed 7, so no row
scores the seed that picked it):
* ``mode``: ``python -m inertialar sample --mode M`` as a whole process (start-up, checkpoint load,
  sampling, writing), its molecules read back from the XYZ file and scored.
* ``knob``: one setting changed from ``fast`` (or from ``raw`` where the row says so), sampled in
  this process; molecules/s adds the start-up time of a whole process measured once (``sample
  --n 1``), so the rows compare.
* ``select``: best of k by each ranking score, from one pool of k·n draws at ``fast`` settings;
  draw j·k + i is exactly what ``--oversample k`` samples, so each row costs the whole pool.
  Knob and select rows measure the autoregressive sampler itself: unpolished.
* ``stage``: the learned polisher and critic (``sampling.polish``, ``sampling.critic``) alone and
  together, and GFN2-xTB relaxation of ``fast`` as a physics reference (``--xtb-n`` molecules).
  Columns for them: the share of molecules whose covalent-radius connectivity the polish (or
  relaxation) changed, its median heavy-atom RMSD, and the W1 of bond lengths against the test
  split (per bond type, weighted by the generated counts; Å).
Every drawn molecule counts in the cost, every kept one in the metrics. Columns: EDM atom and
molecule stability, validity, uniqueness, V×U, novelty (vs the training split), W1 of the atom
count against the QM9 test split (atoms), PoseBusters all-pass on the first ``--pb`` molecules,
molecules/s; per mode, the hit rate of ether, nitrile and ketone at CFG scale 2 (``--group-n``
molecules each: valid and containing the group, over all generated).
Writes benchmarks/results/sampler_frontier.{csv,md} and plots/sampler_frontier.png; ``--only``
re-measures some rows and keeps the others.
"""

from __future__ import annotations

import argparse
import csv
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from inertialar import runtime
from inertialar.chem.groups import hit_rate
from inertialar.chem.metrics import bond_lengths, edm_smiles, evaluate, wasserstein_1d
from inertialar.chem.molecule import read_molecules
from inertialar.chem.plausibility import all_pass, check_molecules
from inertialar.chem.refine import RefineSettings, compare_geometry, refine_all
from inertialar.data.tokenset import load_split, train_smiles
from inertialar.files import results_dir
from inertialar.nn.checkpoint import DEFAULT_POLISHERS, load_checkpoint, load_polisher
from inertialar.sampling.modes import MODES, describe_settings, mode_settings
from inertialar.sampling.ranking import SCORES
from inertialar.sampling.sampler import sample, sample_draws, to_result

ROOT = Path(__file__).resolve().parent.parent

RESULTS = results_dir()
GROUPS = ("ether", "nitrile", "ketone")
SELECT_K = 10
KNOBS: list[tuple[str, str, dict]] = [  # (label, base mode, changed settings)
    ("coord: start-noise T 1.0", "fast", dict(coord_temperature=1.0)),
    ("coord: start-noise T 0.5", "fast", dict(coord_temperature=0.5)),
    ("coord: start-noise T 0.3", "fast", dict(coord_temperature=0.3)),
    ("coord: start-noise T 0.1", "fast", dict(coord_temperature=0.1)),
    ("coord: SDE churn 5, τ 0.5", "fast", dict(coord_temperature=1.0, churn=5.0, churn_temperature=0.5)),
    ("coord: SDE churn 10, τ 0.3", "fast", dict(coord_temperature=1.0, churn=10.0, churn_temperature=0.3)),
    ("coord: SDE churn 5, τ 0.5, start T 0.2", "fast", dict(churn=5.0, churn_temperature=0.5)),
    ("schedule: 10 steps", "fast", dict(steps=10)),
    ("schedule: 18 steps", "fast", dict(steps=18)),
    ("schedule: 40 steps", "fast", dict(steps=40)),
    ("schedule: σ_max 80, 30 steps", "fast", dict(sigma_max=80.0, steps=30)),
    ("schedule: σ_max 80, 110 steps (official)", "fast", dict(sigma_max=80.0, steps=110)),
    ("types: T 1.0", "fast", dict(temperature=1.0, top_p=1.0)),
    ("types: T 0.7 (the old default)", "fast", dict(temperature=0.7, top_p=1.0)),
    ("types: T 0.5, no nucleus", "fast", dict(top_p=1.0)),
    ("types: T 0.3", "fast", dict(temperature=0.3)),
    ("types: greedy (top-p 0)", "fast", dict(top_p=0.0)),
    ("types: greedy, raw coordinates", "raw", dict(top_p=0.0)),
    ("geometry: redraws 3", "fast", dict(redraws=3)),
    ("coord candidates: 2 per atom", "fast", dict(coord_draws=2)),
    ("coord candidates: 4 per atom", "fast", dict(coord_draws=4)),
    ("coord candidates: 4 per atom, raw", "raw", dict(coord_draws=4)),
]


def startup_seconds(checkpoint: str | None) -> float:
    """Wall time of a whole ``sample --n 1`` process (imports, checkpoint load, one molecule)."""
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        _cli(["--n", "1", "--steps", "1", "--out", str(Path(tmp) / "one.xyz")], checkpoint)
        return time.perf_counter() - t0


def _cli(args: list[str], checkpoint: str | None) -> None:
    cmd = [sys.executable, "-m", "inertialar", "sample", *args] + (["--checkpoint", checkpoint] if checkpoint else [])
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr.strip().splitlines()[-1])


def bond_w1(molecules, reference: dict[str, list[float]]) -> float:
    """W1 (Å) of bond lengths per bond type against ``reference``, weighted by the generated counts."""
    got = bond_lengths(molecules)
    pairs = [(len(v), wasserstein_1d(v, reference[k])) for k, v in got.items() if k in reference and v]
    return float(sum(n * w for n, w in pairs) / sum(n for n, _ in pairs)) if pairs else float("nan")


def movement(raw, final) -> dict:
    """Share of molecules whose connectivity changed from ``raw`` to ``final``, and the median heavy-atom RMSD."""
    if raw is None:
        return {"connectivity_changed": None, "move_rmsd": None}
    out = [compare_geometry(r, m.coords)[1:] for r, m in zip(raw, final, strict=True)]
    return {"connectivity_changed": float(np.mean([not kept for _, kept in out])),
            "move_rmsd": float(np.median([rmsd for rmsd, _ in out]))}


def score(molecules, seconds: float, known, test_lengths, pb: int, raw=None, ref_bonds=None) -> dict:
    """Every metric of the frontier for one set of kept molecules sampled in ``seconds``."""
    smiles = [edm_smiles(m) for m in molecules]
    m = evaluate(molecules, known, smiles)
    counts = np.array([len(x) for x in molecules])
    rows = check_molecules(molecules[:pb]) if pb else []
    return {"n": len(molecules), "atom_stability": m["atom_stability"], "mol_stability": m["mol_stability"],
            "validity": m["validity"], "uniqueness": m["uniqueness"], "valid_x_unique": m["valid_x_unique"],
            "novelty": m["novelty"], "mean_atoms": float(counts.mean()),
            "atoms_w1": wasserstein_1d(counts, test_lengths),
            "posebusters_all_pass": float(np.mean([all_pass(r) for r in rows])) if rows else None,
            "pb_n": len(rows), "seconds": round(seconds, 1), "molecules_per_s": len(molecules) / seconds,
            "bond_w1": bond_w1(molecules, ref_bonds) if ref_bonds else None, **movement(raw, molecules)}


def mode_row(mode: str, args, ctx: dict) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out, raw_out = Path(tmp) / "mode.xyz", Path(tmp) / "raw.xyz"
        t0 = time.perf_counter()
        _cli(["--mode", mode, "--n", str(args.n), "--seed", str(args.seed), "--out", str(out), "--raw-out", str(raw_out)],
             args.checkpoint)
        seconds = time.perf_counter() - t0
        molecules, raw = read_molecules(out), read_molecules(raw_out)
    polished = mode_settings(mode).polish
    row = {"kind": "mode", "label": mode, "settings": describe_settings(mode_settings(mode)),
           **score(molecules, seconds, ctx["known"], ctx["test_lengths"], args.pb, raw if polished else None,
                   ctx["ref_bonds"])}
    for group in GROUPS:  # conditional generation at CFG scale 2, per mode
        res = sample(ctx["model"], mode_settings(mode, n=args.group_n, seed=args.seed, present=(group,), cfg_scale=2.0),
                     polisher=ctx["polisher"])
        row[f"hit_{group}"] = hit_rate([edm_smiles(x) for x in res.molecules], group)
    return row


def knob_row(label: str, base: str, changed: dict, args, ctx: dict) -> dict:
    settings = mode_settings(base, n=args.n, seed=args.seed, **{"polish": False, **changed})
    t0 = time.perf_counter()
    res = sample(ctx["model"], settings, polisher=ctx["polisher"])
    seconds = time.perf_counter() - t0 + ctx["startup"]
    return {"kind": "knob", "label": label, "settings": describe_settings(settings),
            **score(res.molecules, seconds, ctx["known"], ctx["test_lengths"], args.pb, res.raw_molecules,
                    ctx["ref_bonds"])}


STAGES: list[tuple[str, str, dict]] = [  # (label, base mode, changed settings): the polisher and critic alone and together
    ("stage: fast without polish", "fast", dict(polish=False)),
    ("stage: raw + polish", "raw", dict(polish=True)),
    ("stage: best by likelihood (no critic) + polish", "best", dict(rank="type_mean_probe", polish=True)),
    ("stage: best by critic, unpolished output", "best", dict(rank="critic", polish=False)),
    ("stage: best, start-noise T 0.5, critic on the 5 likeliest", "best", dict(coord_temperature=0.5, shortlist=5)),
]


def stage_rows(args, ctx: dict) -> list[dict]:
    rows = []
    for label, base, changed in STAGES:
        if args.only is not None and label not in args.only:
            continue
        rows.append(knob_row(label, base, changed, args, ctx) | {"kind": "stage"})
        print(rows[-1], flush=True)
    label = "stage: xTB relaxation of fast without polish (reference)"
    if args.xtb_n and (args.only is None or label in args.only):
        s = mode_settings("fast", n=args.xtb_n, seed=args.seed, polish=False)
        t0 = time.perf_counter()
        raw = sample(ctx["model"], s).molecules
        done = refine_all(raw, RefineSettings("xtb"))
        seconds = time.perf_counter() - t0 + ctx["startup"]
        rows.append({"kind": "stage", "label": label, "settings": f"fast, no polish, then GFN2-xTB ({args.xtb_n} molecules)",
                     **score([r.molecule for r in done], seconds, ctx["known"], ctx["test_lengths"], args.pb, raw,
                             ctx["ref_bonds"])})
        print(rows[-1], flush=True)
    return rows


def select_rows(args, ctx: dict) -> list[dict]:
    pool = mode_settings("fast", n=args.n, seed=args.seed, oversample=SELECT_K, rank="probe")
    t0 = time.perf_counter()
    draws = sample_draws(ctx["model"], pool)  # all k·n draws, with the probe error recorded
    seconds = time.perf_counter() - t0 + ctx["startup"]
    rows = []
    for rank in SCORES:
        kept = to_result(replace(pool, rank=rank), draws)
        rows.append({"kind": "select", "label": f"select: best of {SELECT_K} by {rank}",
                     "settings": f"fast + oversample {SELECT_K}, rank {rank}",
                     **score(kept.molecules, seconds, ctx["known"], ctx["test_lengths"], args.pb)})
    return rows


FIELDS = ["kind", "label", "settings", "n", "atom_stability", "mol_stability", "validity", "uniqueness",
          "valid_x_unique", "novelty", "mean_atoms", "atoms_w1", "posebusters_all_pass", "pb_n", "seconds",
          "molecules_per_s"] + [f"hit_{g}" for g in GROUPS] + ["bond_w1", "connectivity_changed", "move_rmsd"]


def write(rows: list[dict], args, meta: dict, startup: float) -> None:
    with (RESULTS / "sampler_frontier.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=FIELDS, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)

    def pct(x) -> str:
        return "–" if x in (None, "") else f"{100 * float(x):.1f}"

    def num(x, fmt: str) -> str:
        return "–" if x in (None, "") or x != x else format(float(x), fmt)

    lines = ["# Sampler frontier", "",
             f"Command: `python benchmarks/sampler_frontier.py --n {args.n} --seed {args.seed} --pb {args.pb} "
             f"--group-n {args.group_n}` on {platform.machine()} × {runtime.threads()} threads "
             f"({meta.get('epochs', 0):.1f}-epoch checkpoint). Unconditional, {args.n} molecules per row, every "
             f"drawn molecule counted in molecules/s (whole process: start-up {startup:.1f} s included).",
             *([f"Rows re-measured by this run (`--only {' '.join(args.only)}`); the others come from the run "
                "before it, same command."] if args.only else []),
             "Modes: " + "; ".join(f"**{m.name}**: {m.summary}" for m in MODES.values()) + ".", "",
             "| kind | row | atom | mol | valid | unique | V×U | novel | mean atoms | W1 atoms | PB all-pass | mol/s "
             "| ether | nitrile | ketone | W1 bonds (Å) | connectivity changed | move RMSD (Å) |", "|" + "---|" * 18]
    for r in rows:
        lines.append(f"| {r['kind']} | {r['label']} | {pct(r['atom_stability'])} | {pct(r['mol_stability'])} | "
                     f"{pct(r['validity'])} | {pct(r['uniqueness'])} | {pct(r['valid_x_unique'])} | "
                     f"{pct(r['novelty'])} | {float(r['mean_atoms']):.1f} | {float(r['atoms_w1']):.2f} | "
                     f"{pct(r['posebusters_all_pass'])} | {float(r['molecules_per_s']):.1f} | "
                     + " | ".join(pct(r.get(f"hit_{g}")) for g in GROUPS) + " | "
                     + f"{num(r.get('bond_w1'), '.3f')} | {pct(r.get('connectivity_changed'))} | "
                     + f"{num(r.get('move_rmsd'), '.3f')} |")
    lines += ["", "Settings per row:", ""] + [f"- {r['label']}: {r['settings']}" for r in rows]
    (RESULTS / "sampler_frontier.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def load_rows() -> list[dict]:
    path = RESULTS / "sampler_frontier.csv"
    return list(csv.DictReader(path.open())) if path.exists() else []


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", default=None)
    p.add_argument("--n", type=int, default=1000)
    p.add_argument("--seed", type=int, default=123)
    p.add_argument("--pb", type=int, default=200, help="PoseBusters on the first PB molecules of each row (0: off)")
    p.add_argument("--group-n", type=int, default=200)
    p.add_argument("--only", nargs="*", default=None, help="labels (or mode names) of rows to re-measure")
    p.add_argument("--xtb-n", type=int, default=300, help="molecules of the xTB reference row (0: skip it)")
    args = p.parse_args()
    runtime.configure()
    model, meta = load_checkpoint(args.checkpoint)
    test = load_split("test", model.cfg.dataset)
    polisher_path = DEFAULT_POLISHERS.get(model.cfg.dataset)
    ctx = {"model": model, "known": train_smiles(model.cfg.dataset), "test_lengths": test.lengths,
           "startup": startup_seconds(args.checkpoint),
           "polisher": load_polisher(polisher_path)[0] if polisher_path and polisher_path.exists() else None,
           "ref_bonds": bond_lengths([test.molecule(k) for k in range(0, len(test), 5)])}
    old = {r["label"]: r for r in load_rows()} if args.only is not None else {}
    wanted = (lambda label: True) if args.only is None else (lambda label: label in args.only)
    rows = []
    for mode in MODES:
        rows.append(mode_row(mode, args, ctx) if wanted(mode) else old[mode])
        print(rows[-1], flush=True)
    for label, base, changed in KNOBS:
        rows.append(knob_row(label, base, changed, args, ctx) if wanted(label) else old[label])
        print(rows[-1], flush=True)
    stages = stage_rows(args, ctx)
    stage_labels = {r["label"] for r in stages}
    rows += stages + [r for r in old.values() if r["kind"] == "stage" and r["label"] not in stage_labels]
    selects = [r for r in old.values() if r["kind"] == "select"]
    if args.only is None or any(lbl.startswith("select") for lbl in args.only) or not selects:
        selects = select_rows(args, ctx)
    rows += selects
    write(rows, args, meta, ctx["startup"])
    import pandas as pd
    from plots import sampler_frontier  # benchmarks/plots.py: the one home of the plots

    (RESULTS / "plots").mkdir(exist_ok=True)
    sampler_frontier(pd.read_csv(RESULTS / "sampler_frontier.csv"), RESULTS / "plots" / "sampler_frontier.png")


if __name__ == "__main__":
    main()
