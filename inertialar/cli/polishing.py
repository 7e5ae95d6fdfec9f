"""The polisher's commands: ``polish`` (any molecules), ``score`` (the critic) and ``train-polisher``.

Their grammar is in ``cli.args``; like every command, bad input ends with one line and exit code 2.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from inertialar.cli.args import UsageError


def _polisher(path: str | None, molecules):
    """The polisher at ``path``, or the shipped one whose vocabulary covers the molecules."""
    from inertialar.nn.checkpoint import DEFAULT_POLISHERS, load_polisher

    if path is not None:
        return load_polisher(path)[0]
    elements = {e for m in molecules for e in m.elements}
    for default in DEFAULT_POLISHERS.values():
        if default.exists():
            polisher, _ = load_polisher(default)
            if elements <= set(polisher.cfg.elements):
                return polisher
    raise UsageError(f"no shipped polisher covers the elements {' '.join(sorted(elements))}; give one with --polisher")


def cmd_polish(args) -> int:
    """Polish every molecule of a file; per molecule: heavy-atom RMSD moved and whether the
    covalent-radius connectivity changed."""
    from inertialar.chem.molecule import read_molecules, write_text
    from inertialar.chem.output import records_text
    from inertialar.chem.refine import compare_geometry
    from inertialar.sampling.polish import POLISH_SIGMA, POLISH_STEPS, polish

    out = Path(args.out)
    if out.suffix.lower() not in (".xyz", ".sdf"):
        raise UsageError(f"--out must end in .xyz or .sdf, got {out.name!r}")
    if not out.parent.exists():
        raise UsageError(f"output folder {out.parent} does not exist")
    molecules = read_molecules(args.input)
    polisher = _polisher(args.polisher, molecules)
    sigma = POLISH_SIGMA if args.sigma is None else args.sigma
    steps = POLISH_STEPS if args.steps is None else args.steps
    done = polish(polisher, molecules, sigma, steps).molecules
    rows, props = [], []
    for k, (raw, new) in enumerate(zip(molecules, done, strict=True)):
        _, rmsd, kept = compare_geometry(raw, new.coords)
        rows.append({"index": k + 1, "title": raw.title, "atoms": len(raw), "rmsd_heavy_A": round(rmsd, 4),
                     "connectivity_changed": not kept})
        props.append({"stage": "polished", "rmsd_heavy_A": f"{rmsd:.4f}", "connectivity_kept": str(kept).lower()})
    write_text(out, records_text(done, props, out.suffix.lower()[1:]))
    if args.json:
        print(json.dumps(rows, indent=1))
    else:
        for r in rows:
            print(f"{r['index']}\t{r['atoms']} atoms\tRMSD(heavy) {r['rmsd_heavy_A']:.3f} Å\t"
                  f"connectivity {'changed' if r['connectivity_changed'] else 'kept'}")
    changed = sum(r["connectivity_changed"] for r in rows)
    print(f"polished {len(rows)} molecules (σ₀ {sigma:g} Å, {steps} steps) → {out}; connectivity changed for "
          f"{changed} ({changed / len(rows):.1%})", file=sys.stderr)
    return 0


def cmd_score(args) -> int:
    """The critic's score of every molecule of a file (higher = more like the training data)."""
    from inertialar.chem.molecule import read_molecules
    from inertialar.sampling.critic import critic_scores

    molecules = read_molecules(args.input)
    scores = critic_scores(_polisher(args.polisher, molecules), molecules)
    rows = [{"index": k + 1, "title": m.title, "atoms": len(m), "score": round(float(s), 4)}
            for k, (m, s) in enumerate(zip(molecules, scores, strict=True))]
    if args.json:
        print(json.dumps(rows, indent=1))
    else:
        for r in rows:
            print(f"{r['index']}\t{r['atoms']} atoms\t{r['score']:.4f}\t{r['title']}")
    return 0


def cmd_train_polisher(args) -> int:
    """Train (or resume) a polisher on a dataset's training split; optionally copy it to ``--export``."""
    from inertialar.data.specs import get_dataset
    from inertialar.nn.polisher import PolisherConfig

    spec = get_dataset(args.dataset)
    return train_denoiser(args, "polisher", PolisherConfig(elements=spec.elements, dataset=spec.name, width=args.width,
                                                           layers=args.layers, sigma_min=args.sigma_min,
                                                           sigma_max=args.sigma_max))


def train_denoiser(args, name: str, model) -> int:
    """Train (or resume) an EGNN denoiser (``model``: a PolisherConfig or a PeerConfig) with the shared
    flags; its file ``RUN/NAME.pt`` is copied to ``--export`` when given."""
    import shutil

    from inertialar.data.tokenset import cache_dir
    from inertialar.training.polisher import PolisherTrainConfig, train_polisher

    run_dir = args.run_dir or str(cache_dir() / "runs" / f"{name}_{model.dataset}")
    cfg = PolisherTrainConfig(model=model, run_dir=run_dir, schedule_minutes=args.minutes, max_minutes=args.max_minutes,
                              batch_atoms=args.batch_atoms, lr=args.lr, seed=args.seed, limit_train=args.limit_train,
                              eval_every_minutes=args.eval_every, threads=args.threads)
    record = train_polisher(cfg, progress=not args.quiet)
    print(f"{name}: step {record['step']}, epoch {record['epoch']:.2f}, {record['minutes']:.1f} min; "
          f"state in {run_dir}", file=sys.stderr)
    if args.export:
        shutil.copyfile(Path(run_dir) / f"{name}.pt", args.export)
        print(f"wrote {args.export}", file=sys.stderr)
    return 0
