"""Drug-like quality (EDM's GEOM protocol) of the data's own conformers and of a MOSES checkpoint,
and the drug-like model card.

    python benchmarks/drug_quality.py [--checkpoint assets/inertialar_moses.pt] [--n 500] [--log RUN/log.jsonl]

Needs the MOSES cache (``python -m inertialar data prepare --dataset moses``). Rows, with one
evaluator (``inertialar.chem.metrics``: EDM's bond table incl. S Cl Br, allowed valences S 4):
the MOSES test subset's own MMFF94 conformers (the reference row), then ``--n`` unconditional
molecules from the checkpoint in the raw, fast and best modes (seed 123, every molecule counted;
best draws 10 per molecule and its molecules/s counts all of them).
Columns: atom stability, molecule stability, validity, uniqueness, valid×unique, novelty against
the training subset, and atom stability with S allowed 2/4/6 (labelled; never the reference).
Writes benchmarks/results/moses_quality.{csv,md} and assets/MODEL_CARD_moses.md.
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from pathlib import Path

from inertialar.chem.metrics import evaluate, relaxed_stability
from inertialar.data.moses import build_report
from inertialar.data.specs import MOSES
from inertialar.data.tokenset import load_split, train_smiles
from inertialar.files import results_dir
from inertialar.nn.checkpoint import DEFAULT_POLISHERS, MOSES_CHECKPOINT, load_checkpoint, load_polisher
from inertialar.nn.model import count_parameters
from inertialar.sampling.modes import mode_settings
from inertialar.sampling.sampler import sample

ROOT = Path(__file__).resolve().parent.parent

RESULTS = results_dir()
CARD = ROOT / "assets" / "MODEL_CARD_moses.md"
KEYS = ("atom_stability", "mol_stability", "validity", "uniqueness", "valid_x_unique", "novelty")


def row(label: str, molecules, known: set[str], seconds: float | None = None) -> dict:
    main = evaluate(molecules, known)
    out = {"set": label, "n": main["n"], **{k: main[k] for k in KEYS}, **relaxed_stability(molecules)}
    out["molecules_per_s"] = "" if seconds is None else round(main["n"] / seconds, 2)
    return out


def pct(v) -> str:
    return "–" if v in (None, "") else f"{100 * float(v):.1f}%"


def table(rows: list[dict]) -> list[str]:
    out = ["| set | n | atom stab. | mol. stab. | validity | uniqueness | valid×unique | novelty | "
           "atom stab. (S 2/4/6) | molecules/s |", "|" + "---|" * 10]
    for r in rows:
        out.append(f"| {r['set']} | {r['n']} | " + " | ".join(pct(r[k]) for k in KEYS)
                   + f" | {pct(r['atom_stability_s246'])} | {r['molecules_per_s'] or '–'} |")
    return out


def curve(log: Path | None) -> list[str]:
    if log is None or not log.exists():
        return []
    evals = [json.loads(x) for x in log.read_text().splitlines() if '"eval"' in x]
    if not evals:
        return []
    out = ["## Learning curve (validation, from the run log)", "", "| step | epoch | wall h | val loss | val CE | "
           "val diffusion |", "|---|---|---|---|---|---|"]
    out += [f"| {e['step']} | {e['epoch']:.2f} | {e['wall_hours']:.2f} | {e['val_loss']:.4f} | {e['val_ce']:.4f} | "
            f"{e['val_diffusion']:.4f} |" for e in evals]
    return out + [""]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", type=Path, default=MOSES_CHECKPOINT)
    ap.add_argument("--n", type=int, default=500, help="molecules sampled per mode")
    ap.add_argument("--log", type=Path, default=None, help="the training run's log.jsonl (learning curve)")
    ap.add_argument("--no-card", action="store_true",
                    help="leave the starter's model card alone (when the data cache is a smaller build than it saw)")
    args = ap.parse_args()
    known = train_smiles("moses")
    test = load_split("test", "moses")
    rows = [row("MOSES test subset, own MMFF94 conformers (reference)", [test.molecule(k) for k in range(len(test))],
                known)]
    model, meta = load_checkpoint(args.checkpoint)
    path = DEFAULT_POLISHERS["moses"]
    polisher = load_polisher(path)[0] if path.exists() else None
    runs = [("raw mode", "raw", {}), ("fast mode, no polish", "fast", {"polish": False}), ("fast mode", "fast", {}),
            ("best mode", "best", {})]
    if polisher is not None:
        runs.insert(3, ("best by likelihood, no critic", "best", {"rank": "type_mean_probe"}))
    for label, mode, changed in runs:
        t0 = time.perf_counter()
        res = sample(model, mode_settings(mode, n=args.n, seed=123, **changed), polisher=polisher)
        polished = " (polished)" if res.polished else ""
        rows.append(row(f"{args.checkpoint.name}, {label}{polished}", res.molecules, known, time.perf_counter() - t0))
        print(rows[-1], flush=True)
    RESULTS.mkdir(exist_ok=True)
    with (RESULTS / "moses_quality.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    report = build_report()
    build = [f"- {s}: {r['built']:,} of {r['requested']:,} built, {r['failed']:,} failed "
             f"({', '.join(f'{k} {v}' for k, v in r['failures'].items()) or 'none'}); mean {r['mean_atoms']} atoms, "
             f"largest {r['max_atoms']}" for s, r in report.get("splits", {}).items()]
    lines = ["# Drug-like quality (EDM's GEOM protocol)", "",
             f"Command: `python benchmarks/drug_quality.py --checkpoint {args.checkpoint.name} --n {args.n}` "
             "(2-core CPU; molecules/s is sampling, selection and polish in this process). Data cache: "
             + "; ".join(f"{s} {r['built']:,}" for s, r in build_report().get("splits", {}).items())
             + (f". Polisher: `{path.name}`." if polisher is not None else ". No polisher."), "", *table(rows), "",
             "Stability uses EDM's bond table and allowed valences (S 4 only); the S 2/4/6 column is a "
             "labelled variant. GEOM papers report atom stability and validity because molecule stability is "
             "near 0 even for the data (EDM: GEOM-Drugs' own conformers 86.5% atom stability).", ""]
    (RESULTS / "moses_quality.md").write_text("\n".join(lines))
    if args.no_card:
        print("\n".join(lines))
        return
    b, d, tc = model.cfg.backbone, model.cfg.diffusion, meta.get("train_config", {})
    card = [f"# Model card: {args.checkpoint.name} (drug-like starter)", "",
            f"Written by `python benchmarks/drug_quality.py`. Data: **{MOSES.label}**; elements "
            f"{' '.join(model.cfg.elements)}; up to {model.cfg.max_atoms} atoms; {len(model.cfg.groups)} "
            "functional groups for conditioning (the 19 QM9 groups plus drug-like ones). These are force-field "
            "conformers of ZINC molecules, not GEOM's CREST/GFN2-xTB geometries.", "",
            "## Data build (`python -m inertialar data prepare --dataset moses`)", "", *build,
            f"- seed {report.get('seed')}; source {report.get('source')}", "",
            "## Model", "",
            f"- trunk {b.depth} layers × {b.width}, {b.heads} heads; diffusion head {d.depth} × {d.width}; "
            f"{count_parameters(model):,} parameters",
            f"- trained on {meta.get('device', '?')}: {meta.get('steps', '?')} steps, "
            f"{float(meta.get('epochs', 0)):.2f} epochs, {float(meta.get('wall_hours', 0)):.2f} wall hours; "
            f"batch {tc.get('batch_tokens')} tokens, peak lr {tc.get('lr')}"
            + (f", cosine over {tc['schedule_minutes']:g} wall minutes (`train --schedule-minutes`)"
               if tc.get("schedule_minutes") else ""),
            f"- split hash {meta.get('split_hash')}", "",
            "## Quality, stated as it is", "", *table(rows), "",
            "A starter trained for hours on a 2-core CPU: expect mostly broken molecules. It exists so every page "
            "works on drug-like molecules; quality needs a GPU window (`benchmarks/gpu/window.sh` trains a larger "
            "drug-like model beside the QM9 one).", "",
            *curve(args.log)]
    CARD.write_text("\n".join(card) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
