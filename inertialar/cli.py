"""Command line: ``python -m inertialar {canonicalize,evaluate,groups,data,train,window,sample,export,bench}``.

What each command does; what it accepts is ``inertialar.cli_args``.

Bad input of any kind ends with exit code 2 and one line on stderr, never a traceback; outputs
are written atomically, so a failed command leaves nothing half-written.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from inertialar.cli_args import UsageError, build_parser

EXIT_BAD_INPUT = 2


def cmd_canonicalize(args) -> int:
    from inertialar.frames import canonicalize
    from inertialar.molecule import read_molecules, to_xyz, write_molecules

    mols = read_molecules(args.input)
    out = [canonicalize(m).molecule for m in mols]
    if args.out is None:
        sys.stdout.write(to_xyz(out))
        return 0
    write_molecules(args.out, out)
    print(f"wrote {len(out)} canonical molecule(s) to {args.out}", file=sys.stderr)
    return 0


def cmd_evaluate(args) -> int:
    from inertialar.data import train_smiles
    from inertialar.datasets import QM9_ELEMENTS
    from inertialar.metrics import evaluate
    from inertialar.molecule import read_molecules

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
        from inertialar.metrics import RELAXED_VALENCES

        relaxed = evaluate(mols, smiles=[None] * len(mols), valences=RELAXED_VALENCES)
        result["atom_stability_s246"] = relaxed["atom_stability"]
        result["mol_stability_s246"] = relaxed["mol_stability"]
    if args.plausibility:
        from inertialar.plausibility import plausibility

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
    from inertialar.datasets import get_dataset
    from inertialar.groups import GROUP_SMARTS

    for name in get_dataset(args.dataset).groups:
        print(f"{name:18s} {GROUP_SMARTS[name]}")
    return 0


def cmd_data(args) -> int:
    from inertialar.data import pack, prepare

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
        from inertialar.datasets.moses import build_report

        report = build_report()
        for split, row in report["splits"].items():
            reasons = ", ".join(f"{k} {v}" for k, v in row["failures"].items()) or "none"
            print(f"{split:6s} {row['built']:,} of {row['requested']:,} built; {row['failed']:,} failed ({reasons}); "
                  f"largest {row['max_atoms']} atoms")
        print(f"wall time this run {report['wall_s_this_run']:.0f} s ({report['workers']} workers)")
    return 0


def _train_config(args):
    """TrainConfig from the flags shared by ``train`` and ``window`` (model size from --init if given)."""
    from inertialar.data import longest_molecule, sequence_length
    from inertialar.datasets import get_dataset
    from inertialar.model import ModelConfig
    from inertialar.train import TrainConfig, scaled_lr
    from inertialar.transformer import BackboneConfig

    if args.device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise UsageError(f"--device {args.device} asked for, but CUDA is not available")
    if args.init:
        from inertialar.checkpoint import read_payload

        model = ModelConfig.from_dict(read_payload(args.init)["config"])
        if args.dataset not in (None, model.dataset):
            raise UsageError(f"--init {args.init} was trained on {model.dataset}, not --dataset {args.dataset}")
    else:
        head_dim = args.width // args.heads
        rope_heads = args.heads // 2 if args.rope_heads is None else args.rope_heads
        if not 0 <= rope_heads <= args.heads:
            raise UsageError(f"--rope-heads must be between 0 and --heads ({args.heads})")
        spec = get_dataset(args.dataset or "qm9")
        try:
            max_atoms = sequence_length(longest_molecule(spec, args.data)) - 1
        except FileNotFoundError as err:
            raise UsageError(str(err)) from None
        model = ModelConfig.for_dataset(
            spec, max_atoms, backbone=BackboneConfig(width=args.width, depth=args.depth, heads=args.heads,
                                                     rope_heads=rope_heads, distance_kernel=args.distance_kernel,
                                                     rope_pairs_per_axis=min(5, head_dim // 6)))
        model.diffusion.width, model.diffusion.depth = args.head_width, args.head_depth
    cfg = TrainConfig(model=model, epochs=args.epochs, max_minutes=args.max_minutes, batch_tokens=args.batch_tokens,
                      device=args.device, seed=args.seed, init_from=args.init, eval_every_minutes=args.eval_every,
                      limit_train=args.limit_train, data_dir=args.data, weight_decay=args.weight_decay,
                      p_drop_group=args.p_drop_group, flip_prob=args.flip_prob, jitter=args.jitter)
    cfg.lr = args.lr if args.lr is not None else scaled_lr(args.batch_tokens)
    try:
        cfg.validate()
    except ValueError as err:
        raise UsageError(str(err)) from None
    if args.run_dir:
        cfg.run_dir = args.run_dir
    return cfg


def cmd_train(args) -> int:
    from inertialar.train import train

    cfg = _train_config(args)
    cfg.schedule_minutes = args.schedule_minutes
    record = train(cfg, resume=args.resume)
    print(json.dumps(record))
    return 0


def cmd_window(args) -> int:
    from inertialar.window import CANDIDATES, DRUG_CANDIDATES, parse_candidates, run_window

    cfg = _train_config(args)
    cfg.warmup_steps = args.warmup_steps
    if not args.run_dir:
        cfg.run_dir = str(Path(args.out) / "state")
    summary = run_window(cfg, args.minutes, args.out, max_file_mb=args.max_file_mb, calibrate_s=args.calibrate,
                         scale_lr=args.lr is None,
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


def cmd_sample(args) -> int:
    from tqdm import tqdm

    from inertialar.bonds import chemist_sdf
    from inertialar.checkpoint import load_checkpoint
    from inertialar.modes import mode_settings
    from inertialar.molecule import Molecule, to_xyz, write_text
    from inertialar.refine import RefineSettings, refine_all, summarize, summary_line
    from inertialar.sampler import sample

    out = Path(args.out)
    if out.suffix.lower() not in (".xyz", ".sdf"):
        raise UsageError(f"--out must end in .xyz or .sdf, got {out.name!r}")
    if not out.parent.exists():
        raise UsageError(f"output folder {out.parent} does not exist")
    settings = mode_settings(args.mode, n=args.n, seed=args.seed, present=tuple(args.group),
                             absent=tuple(args.no_group), cfg_scale=args.cfg_scale, temperature=args.temperature,
                             top_p=args.top_p, coord_temperature=args.coord_temperature, churn=args.churn,
                             churn_temperature=args.churn_temperature, sigma_max=args.sigma_max, steps=args.steps,
                             coord_draws=args.coord_draws, redraws=args.redraws, oversample=args.oversample, rank=args.rank,
                             batch_size=args.batch_size, device=args.device)
    refine_settings = RefineSettings(method=args.refine, max_steps=args.refine_steps, max_seconds=args.refine_seconds)
    refine_settings.validate()
    if args.device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise UsageError("--device cuda asked for, but CUDA is not available")
    model, _ = load_checkpoint(args.checkpoint, device=args.device)
    settings.validate(model.cfg.max_atoms, model.cfg.groups, model.cfg.elements)
    with tqdm(total=100, desc="sampling", unit="%", file=sys.stderr) as bar:
        def progress(frac: float) -> None:
            bar.update(round(frac * 100) - bar.n)

        result = sample(model, settings, progress)
    molecules, properties = result.molecules, [{} for _ in result.molecules]
    if refine_settings.method != "none":
        with tqdm(total=len(molecules), desc=f"refining ({refine_settings.method})", unit="mol", file=sys.stderr) as bar:
            done = refine_all(molecules, refine_settings, lambda f: bar.update(round(f * len(molecules)) - bar.n))
        molecules, properties = [r.molecule for r in done], [r.properties() for r in done]
    if out.suffix.lower() == ".sdf":
        text = chemist_sdf(molecules, properties)
    else:  # XYZ has no data items: the refinement outcome goes in each title line
        text = to_xyz([Molecule(m.elements, m.coords, " ".join(f"{k}={v}" for k, v in p.items()) or m.title)
                       for m, p in zip(molecules, properties)])
    write_text(out, text)
    drawn = f" (best of {settings.oversample} draws each, {result.drawn} drawn)" if settings.oversample > 1 else ""
    print(f"wrote {len(molecules)} molecules to {out}; mode {settings.mode}{drawn}", file=sys.stderr)
    if refine_settings.method != "none":
        for k, r in enumerate(done):  # reported per molecule, never fatal: the raw pose was written
            if not r.refined:
                print(f"molecule {k + 1}: not refined ({r.reason}); written unrefined", file=sys.stderr)
        print(summary_line(summarize(done)))
    return 0


def cmd_export(args) -> int:
    from inertialar.checkpoint import load_checkpoint, save_checkpoint

    model, meta = load_checkpoint(args.checkpoint)
    if args.metrics:
        try:
            meta["metrics"] = json.loads(Path(args.metrics).read_text())
        except (OSError, ValueError) as err:
            raise UsageError(f"cannot read metrics JSON {args.metrics}: {str(err).splitlines()[0]}") from None
    save_checkpoint(args.out, model, meta, half=not args.fp32)
    print(f"wrote {args.out} ({Path(args.out).stat().st_size / 1e6:.1f} MB)", file=sys.stderr)
    return 0


def cmd_bench(args) -> int:
    from inertialar import bench

    return bench.main(args)


COMMANDS = {"canonicalize": cmd_canonicalize, "evaluate": cmd_evaluate, "groups": cmd_groups, "data": cmd_data,
            "train": cmd_train, "window": cmd_window, "sample": cmd_sample, "export": cmd_export, "bench": cmd_bench}


def main(argv: list[str] | None = None) -> int:
    from inertialar import runtime

    runtime.choose_wait_policy()  # before anything imports torch (see inertialar.runtime)
    from inertialar.checkpoint import CheckpointError
    from inertialar.molecule import MoleculeError

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
