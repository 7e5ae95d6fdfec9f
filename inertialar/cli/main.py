"""Command line: ``python -m inertialar {canonicalize,evaluate,groups,data,train,window,sample,export,bench,
                                      polish,score,train-polisher,train-peer}`` (polish, score and
train-polisher: ``cli.polishing``; the equivariant peer's sampling and train-peer: ``cli.peer``).

What each command does; what it accepts is ``inertialar.cli.args``.

Bad input of any kind ends with exit code 2 and one line on stderr, never a traceback; outputs
are written atomically, so a failed command leaves nothing half-written.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from inertialar.cli import polishing
from inertialar.cli.args import UsageError, build_parser

EXIT_BAD_INPUT = 2


def cmd_canonicalize(args) -> int:
    from inertialar.chem.frames import canonicalize
    from inertialar.chem.molecule import read_molecules, to_xyz, write_molecules

    mols = read_molecules(args.input)
    out = [canonicalize(m).molecule for m in mols]
    if args.out is None:
        sys.stdout.write(to_xyz(out))
        return 0
    write_molecules(args.out, out)
    print(f"wrote {len(out)} canonical molecule(s) to {args.out}", file=sys.stderr)
    return 0


def cmd_evaluate(args) -> int:
    from inertialar.chem.metrics import evaluate
    from inertialar.chem.molecule import read_molecules
    from inertialar.data.specs import QM9_ELEMENTS
    from inertialar.data.tokenset import train_smiles

    mols = read_molecules(args.file)
    if args.dataset is None:  # novelty against the set these elements come from
        args.dataset = "qm9" if all(set(m.elements) <= set(QM9_ELEMENTS) for m in mols) else "moses"
    try:
        known = train_smiles(args.dataset)
    except FileNotFoundError:
        known = None
        print(f"note: novelty needs the {args.dataset} data cache (python -m inertialar data prepare "
              f"--dataset {args.dataset})", file=sys.stderr)
    result = {**evaluate(mols, known), "edm_bonds": "EDM distance table (bond_analyze.py)"}
    if any("S" in m.elements for m in mols):  # a labelled variant: later work allows S 2, 4 or 6
        from inertialar.chem.metrics import relaxed_stability

        result.update(relaxed_stability(mols))
    if args.plausibility:
        from inertialar.chem.plausibility import plausibility

        result.update(plausibility(mols))
    if args.json:
        print(json.dumps(result))
        return 0
    print("EDM metrics (bonds from EDM's distance table)")
    for key, value in result.items():
        if key.startswith("posebusters") or key == "edm_bonds":
            continue
        shown = "n/a" if value is None else (f"{value:.4f}" if isinstance(value, float) else value)
        print(f"{key:16s} {shown}")
    if args.plausibility:
        print(f"PoseBusters ({result['posebusters_config']}; bonds: {result['posebusters_bonds']})")
        for key, value in result["posebusters_checks"].items():
            print(f"{key:32s} {value:.4f}")
        print(f"{'all checks pass':32s} {result['posebusters_all_pass']:.4f}")
    return 0


def cmd_groups(args) -> int:
    from inertialar.chem.groups import GROUP_SMARTS
    from inertialar.data.specs import get_dataset

    for name in get_dataset(args.dataset).groups:
        print(f"{name:18s} {GROUP_SMARTS[name]}")
    return 0


def cmd_data(args) -> int:
    from inertialar.data.builders import prepare
    from inertialar.data.tokenset import pack

    dataset = args.dataset or "qm9"
    if args.action == "pack":
        if not args.dest:
            raise UsageError("data pack needs --dest FOLDER")
        try:
            for path in pack(args.dest, dataset):
                print(f"{path} ({path.stat().st_size / 1e6:.1f} MB)")
        except FileNotFoundError as err:
            raise UsageError(str(err)) from None
        return 0
    if dataset == "qm9" and (args.n is not None or args.smiles is not None):
        raise UsageError("--n and --smiles apply to --dataset moses only")
    if args.n is not None and args.smiles is not None:
        raise UsageError("--n sizes the MOSES subset; a --smiles file is split 90/5/5 as it is: give one of them")
    options = {} if dataset == "qm9" else {"n": args.n, "smiles_file": args.smiles}
    try:
        paths = prepare(dataset, workers=args.workers, force=args.force, **options)
    except (FileNotFoundError, ValueError) as err:
        raise UsageError(str(err)) from None
    for split, path in paths.items():
        print(f"{split:6s} {path}")
    if dataset == "moses":
        from inertialar.data.moses import build_report

        report = build_report()
        for split, row in report["splits"].items():
            reasons = ", ".join(f"{k} {v}" for k, v in row["failures"].items()) or "none"
            print(f"{split:6s} {row['built']:,} of {row['requested']:,} built; {row['failed']:,} failed ({reasons}); "
                  f"largest {row['max_atoms']} atoms")
        print(f"wall time this run {report['wall_s_this_run']:.0f} s ({report['workers']} workers)")
    return 0


def _train_config(args):
    """TrainConfig from the flags shared by ``train`` and ``window`` (model size from --init if given)."""
    from inertialar.data.specs import get_dataset
    from inertialar.data.tokenset import longest_molecule, sequence_length
    from inertialar.nn.model import ModelConfig
    from inertialar.training.config import TrainConfig

    if args.device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise UsageError(f"--device {args.device} asked for, but CUDA is not available")
    if args.init:
        from inertialar.nn.checkpoint import read_payload

        model = ModelConfig.from_dict(read_payload(args.init)["config"])
        if args.dataset not in (None, model.dataset):
            raise UsageError(f"--init {args.init} was trained on {model.dataset}, not --dataset {args.dataset}")
    else:
        spec = get_dataset(args.dataset or "qm9")
        try:
            max_atoms = sequence_length(longest_molecule(spec, args.data)) - 1
        except FileNotFoundError as err:
            raise UsageError(str(err)) from None
        try:
            model = ModelConfig.sized(spec, max_atoms, args.width, args.depth, args.heads, args.rope_heads,
                                      args.distance_kernel, args.head_width, args.head_depth)
        except ValueError as err:
            raise UsageError(str(err)) from None
    cfg = TrainConfig(model=model, epochs=args.epochs, max_minutes=args.max_minutes, batch_tokens=args.batch_tokens,
                      device=args.device, seed=args.seed, init_from=args.init, eval_every_minutes=args.eval_every,
                      limit_train=args.limit_train, data_dir=args.data, weight_decay=args.weight_decay,
                      p_drop_group=args.p_drop_group, flip_prob=args.flip_prob, jitter=args.jitter)
    cfg.lr = args.lr  # None: the law for the batch size (TrainConfig.peak_lr)
    try:
        cfg.validate()
    except ValueError as err:
        raise UsageError(str(err)) from None
    if args.run_dir:
        cfg.run_dir = args.run_dir
    return cfg


def cmd_train(args) -> int:
    from inertialar.training.loop import train

    cfg = _train_config(args)
    cfg.schedule_minutes = args.schedule_minutes
    record = train(cfg, resume=args.resume)
    print(json.dumps(record))
    return 0


def cmd_window(args) -> int:
    from inertialar.training.window import CANDIDATES, DRUG_CANDIDATES, parse_candidates, run_window

    cfg = _train_config(args)
    cfg.warmup_steps = args.warmup_steps
    if not args.run_dir:
        cfg.run_dir = str(Path(args.out) / "state")
    summary = run_window(cfg, args.minutes, args.out, max_file_mb=args.max_file_mb, calibrate_s=args.calibrate,
                         candidates=(DRUG_CANDIDATES if cfg.model.dataset == "moses" else CANDIDATES)
                         if args.candidates is None else parse_candidates(args.candidates))
    if summary.get("calibration"):
        chosen = summary["calibration"]["chosen"]
        print(f"calibration: chose head {chosen['head_width']}×{chosen['head_depth']}, {chosen['batch_tokens']} tokens, "
              f"compile {chosen['compile']} at {chosen['tokens_per_s']:.0f} tokens/s", file=sys.stderr)
    check = summary["precision_check"]
    print(f"precision check: fp32 {check['loss_fp32']:.4f} / bf16 {check['loss_bf16']:.4f}; "
          f"val loss {summary['final'].get('val_loss', float('nan')):.4f}; wrote {', '.join(summary['files'])}",
          file=sys.stderr)
    return 0


def progress_bar(total: int, desc: str, unit: str, quiet: bool = False):
    """A tqdm bar on stderr that suits where it runs: live in a terminal; outside one (CI, a pipe, a
    notebook's captured output) a plain line at most every 5 s; nothing with ``quiet``."""
    from tqdm import tqdm

    tty = sys.stderr.isatty()
    return tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, disable=quiet,
                mininterval=0.1 if tty else 5.0, ascii=not tty, dynamic_ncols=tty,
                bar_format=None if tty else "{desc}: {percentage:3.0f}% ({n_fmt}/{total_fmt} {unit}, {elapsed})\n")


def polisher_for(args, model_cfg):
    """The polisher: ``--polisher`` if given (must load), else the shipped one for the model's
    dataset if it exists; None where there is none (no polish; ``best`` then chooses by likelihood)."""
    from inertialar.nn.checkpoint import DEFAULT_POLISHERS, load_polisher

    path = args.polisher or DEFAULT_POLISHERS.get(model_cfg.dataset)
    if args.polisher is None and (path is None or not Path(path).exists()):
        return None
    polisher, _ = load_polisher(path)
    if tuple(polisher.cfg.elements) != tuple(model_cfg.elements):
        raise UsageError(f"the polisher's vocabulary ({' '.join(polisher.cfg.elements)}) is not the model's "
                         f"({' '.join(model_cfg.elements)})")
    return polisher


def cmd_sample(args) -> int:
    from inertialar.chem.molecule import write_text
    from inertialar.chem.output import records_text, refine_records, stage_properties
    from inertialar.chem.refine import RefineSettings, summarize, summary_line
    from inertialar.cli.peer import sample_with_peer, wants_peer
    from inertialar.nn.checkpoint import load_checkpoint
    from inertialar.sampling.modes import DEFAULT_MODE, mode_settings
    from inertialar.sampling.sampler import sample

    out = Path(args.out)
    for path in [out] + ([Path(args.raw_out)] if args.raw_out else []):
        if path.suffix.lower() not in (".xyz", ".sdf"):
            raise UsageError(f"--out and --raw-out must end in .xyz or .sdf, got {path.name!r}")
        if not path.parent.exists():
            raise UsageError(f"output folder {path.parent} does not exist")
    if wants_peer(args):
        return sample_with_peer(args, out)
    settings = mode_settings(args.mode or DEFAULT_MODE, n=args.n, seed=args.seed, present=tuple(args.group),
                             absent=tuple(args.no_group), cfg_scale=args.cfg_scale, temperature=args.temperature,
                             top_p=args.top_p, coord_temperature=args.coord_temperature, churn=args.churn,
                             churn_temperature=args.churn_temperature, sigma_max=args.sigma_max, steps=args.steps,
                             coord_draws=args.coord_draws, redraws=args.redraws, oversample=args.oversample, rank=args.rank,
                             shortlist=args.shortlist,
                             batch_size=args.batch_size, device=args.device, polish=False if args.no_polish else None,
                             polish_sigma=args.polish_sigma, polish_steps=args.polish_steps)
    refine_settings = RefineSettings(method=args.refine, max_steps=args.refine_steps, max_seconds=args.refine_seconds)
    refine_settings.validate()
    if args.device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise UsageError("--device cuda asked for, but CUDA is not available")
    model, _ = load_checkpoint(args.checkpoint, device=args.device)
    if args.prefix:
        settings = prefixed(args, settings, model.cfg)
    settings.check(model.cfg)
    critic = settings.oversample > 1 and settings.rank == "critic"
    polisher = polisher_for(args, model.cfg) if (settings.polish or critic) else None
    with progress_bar(settings.draws, "sampling", "molecules", args.quiet) as bar:
        result = sample(model, settings, lambda frac: bar.update(round(frac * settings.draws) - bar.n), polisher)
    stage = "polished" if result.polished else "raw"
    molecules, properties, done = refine_records(result.molecules, stage_properties(len(result.molecules), stage),
                                                 refine_settings)
    write_text(out, records_text(molecules, properties, out.suffix.lower()[1:]))
    if args.raw_out:
        raw = result.raw_molecules if result.polished else result.molecules
        raw_out = Path(args.raw_out)
        write_text(raw_out, records_text(raw, stage_properties(len(raw), "raw"), raw_out.suffix.lower()[1:]))
    drawn = (f" (best of {settings.oversample} draws each by {result.settings.rank}, {result.drawn} drawn)"
             if settings.oversample > 1 else "")
    polish_note = "polished" if result.polished else ("not polished: no polisher for this dataset" if settings.polish
                                                      else "not polished")
    print(f"wrote {len(molecules)} molecules to {out}; mode {settings.mode}{drawn}; {polish_note}", file=sys.stderr)
    if done is not None:
        for k, r in enumerate(done):  # reported per molecule, never fatal: the raw pose was written
            if not r.refined:
                print(f"molecule {k + 1}: not refined ({r.reason}); written unrefined", file=sys.stderr)
        print(summary_line(summarize(done)))
    return 0


def prefixed(args, settings, model_cfg):
    """``settings`` with the canonical prefix of ``--prefix FILE`` (its first ``--prefix-atoms`` atoms)."""
    from dataclasses import replace

    from inertialar.chem.molecule import read_molecules
    from inertialar.data.tokenizer import canonical_prefix

    mol = read_molecules(args.prefix)[0]
    k = args.prefix_atoms if args.prefix_atoms is not None else min(4, len(mol))
    prefix = canonical_prefix(mol, k, model_cfg.elements, model_cfg.max_atoms)
    return replace(settings, prefix=prefix)


def cmd_export(args) -> int:
    from inertialar.nn.checkpoint import load_checkpoint, save_checkpoint

    model, meta = load_checkpoint(args.checkpoint)
    if args.metrics:
        try:
            meta["metrics"] = json.loads(Path(args.metrics).read_text())
        except (OSError, ValueError) as err:
            raise UsageError(f"cannot read metrics JSON {args.metrics}: {str(err).splitlines()[0]}") from None
    save_checkpoint(args.out, model, meta, half=not args.fp32)
    print(f"wrote {args.out} ({Path(args.out).stat().st_size / 1e6:.1f} MB)", file=sys.stderr)
    return 0


def cmd_train_peer(args) -> int:
    from inertialar.cli.peer import cmd_train_peer as train_peer

    return train_peer(args)


def cmd_bench(args) -> int:
    from inertialar.training import speed as bench

    return bench.main(args)


COMMANDS = {"canonicalize": cmd_canonicalize, "evaluate": cmd_evaluate, "groups": cmd_groups, "data": cmd_data,
            "train": cmd_train, "window": cmd_window, "sample": cmd_sample, "export": cmd_export, "bench": cmd_bench,
            "polish": polishing.cmd_polish, "score": polishing.cmd_score, "train-polisher": polishing.cmd_train_polisher,
            "train-peer": cmd_train_peer}


def main(argv: list[str] | None = None) -> int:
    from inertialar import runtime

    runtime.choose_wait_policy()  # before anything imports torch (see inertialar.runtime)
    from inertialar.chem.molecule import MoleculeError
    from inertialar.nn.checkpoint import CheckpointError

    try:
        args = build_parser().parse_args(argv)
        runtime.configure()
        return COMMANDS[args.command](args)
    except (UsageError, MoleculeError, CheckpointError, OSError) as err:
        print(f"error: {str(err).splitlines()[0] if str(err) else type(err).__name__}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except ValueError as err:  # settings validation and similar one-line messages
        print(f"error: {str(err).splitlines()[0]}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
