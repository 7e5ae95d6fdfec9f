"""Command line: ``python -m inertialar {canonicalize,evaluate,groups,data,train,sample,export,bench}``.

Bad input of any kind ends with exit code 2 and one line on stderr, never a traceback; outputs
are written atomically, so a failed command leaves nothing half-written.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

EXIT_BAD_INPUT = 2


class UsageError(Exception):
    """A user mistake; printed as one line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse's own errors: one line, exit 2
        raise UsageError(message)


def _finite(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be at least 1")
    return value


def _positive_float(text: str) -> float:
    value = _finite(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{value:g} must be positive")
    return value


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
    from inertialar.metrics import evaluate
    from inertialar.molecule import read_molecules

    mols = read_molecules(args.file)
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
    for name, value, lo, hi in (("--flip-prob", args.flip_prob, 0, 1), ("--p-drop-group", args.p_drop_group, 0, 1),
                                ("--jitter", args.jitter, 0, 1), ("--weight-decay", args.weight_decay, 0, 1)):
        if not lo <= value <= hi:
            raise UsageError(f"{name} must be between {lo} and {hi}, got {value:g}")
    cfg.lr = args.lr if args.lr is not None else scaled_lr(args.batch_tokens)
    if args.run_dir:
        cfg.run_dir = args.run_dir
    return cfg


def cmd_train(args) -> int:
    from inertialar.train import train

    record = train(_train_config(args), resume=args.resume)
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


def _training_flags(t: argparse.ArgumentParser, batch_tokens: int) -> None:
    """Model, data and optimiser flags shared by ``train`` and ``window``."""
    from inertialar.transformer import DISTANCE_KERNELS

    t.add_argument("--run-dir", default=None, help="state, logs and EMA checkpoint (default ~/.cache/inertialar/runs/default)")
    t.add_argument("--init", default=None, help="warm-start weights (and model size) from this checkpoint")
    t.add_argument("--lr", type=_finite, default=None, help="peak learning rate (default 4e-4·√(batch/2560))")
    t.add_argument("--batch-tokens", type=_positive_int, default=batch_tokens)
    t.add_argument("--width", type=_positive_int, default=192)
    t.add_argument("--depth", type=_positive_int, default=6)
    t.add_argument("--heads", type=_positive_int, default=6)
    t.add_argument("--rope-heads", type=int, default=None, help="heads with RoPE-3D (default half; 0 = none)")
    t.add_argument("--distance-kernel", choices=DISTANCE_KERNELS, default="nystrom",
                   help="distance bias: Nyström features, the exact Gaussian kernel, or none")
    t.add_argument("--head-width", type=_positive_int, default=256)
    t.add_argument("--head-depth", type=_positive_int, default=3)
    t.add_argument("--eval-every", type=_finite, default=30.0, help="minutes between evaluations")
    t.add_argument("--weight-decay", type=_finite, default=1e-4)
    t.add_argument("--p-drop-group", type=_finite, default=0.5, help="chance that each group label is hidden")
    t.add_argument("--flip-prob", type=_finite, default=0.0, help="augmentation: random axis signs, per molecule")
    t.add_argument("--jitter", type=_finite, default=0.0, help="augmentation: noise (Å) on context coordinates")
    t.add_argument("--limit-train", type=_positive_int, default=None)
    t.add_argument("--data", default=None, help="read split caches from this folder (from data pack)")
    t.add_argument("--dataset", choices=["qm9", "moses"], default=None,
                   help="training data (default qm9, or --init's dataset)")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--device", default="cpu")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m inertialar", description="InertialAR: autoregressive 3-D molecules in inertial frames")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    c = sub.add_parser("canonicalize", help="canonical order and inertial frame for every molecule of a file")
    c.add_argument("input", help=".xyz or .sdf file (one or more molecules)")
    c.add_argument("--out", help="output .xyz (or .sdf); without it, XYZ goes to standard output")
    c.set_defaults(func=cmd_canonicalize)

    e = sub.add_parser("evaluate", help="EDM metrics of the molecules in a file")
    e.add_argument("file")
    e.add_argument("--json", action="store_true", help="one JSON object")
    e.add_argument("--plausibility", action="store_true",
                   help="add PoseBusters (mol config) pass rates per check and posebusters_all_pass; bonds are "
                        "perceived from the coordinates by RDKit (EDM metrics keep EDM's distance table)")
    e.add_argument("--dataset", choices=["qm9", "moses"], default="qm9", help="training set for novelty")
    e.set_defaults(func=cmd_evaluate)

    g = sub.add_parser("groups", help="functional-group names and SMARTS")
    g.add_argument("--dataset", choices=["qm9", "moses"], default="qm9", help="whose group list (moses adds 11)")
    g.set_defaults(func=cmd_groups)

    d = sub.add_parser("data", help="datasets: QM9, drug-like (MOSES, MMFF94 conformers)")
    d.add_argument("action", choices=["prepare", "pack"], help="prepare: build the cache; pack: compressed "
                   "train + valid copies in --dest (to travel to a GPU machine)")
    d.add_argument("--dataset", choices=["qm9", "moses"], default=None, help="default qm9")
    d.add_argument("--n", type=_positive_int, default=None,
                   help="moses: training molecules (valid and test get n/10 each; default 50,000)")
    d.add_argument("--smiles", default=None, help="moses: build from this SMILES file (one per line) instead")
    d.add_argument("--dest", default=None, help="folder for data pack")
    d.add_argument("--workers", type=_positive_int, default=2)
    d.add_argument("--force", action="store_true", help="rebuild even if cached")
    d.set_defaults(func=cmd_data)

    t = sub.add_parser("train", help="train (resumable; works under torchrun)")
    t.add_argument("--resume", action="store_true")
    t.add_argument("--epochs", type=_finite, default=200.0)
    t.add_argument("--max-minutes", type=_finite, default=None)
    _training_flags(t, batch_tokens=2560)
    t.set_defaults(func=cmd_train)

    w = sub.add_parser("window", help="the GPU-window recipe: train for --minutes, write the fp16 EMA + log to --out")
    w.add_argument("--minutes", type=_positive_float, required=True, help="wall time of training (the schedule ends then)")
    w.add_argument("--out", required=True, help="folder for ema_fp16.pt, log.jsonl, summary.json")
    w.add_argument("--warmup-steps", type=_positive_int, default=300)
    w.add_argument("--max-file-mb", type=_positive_float, default=15.0, help="split output files above this size")
    w.add_argument("--calibrate", type=float, default=0.0,
                   help="seconds (of --minutes) spent measuring the candidate head/batch/compile configurations "
                        "before training the chosen one; 0 = train the flags' model")
    w.add_argument("--candidates", default=None,
                   help="calibration candidates: head WIDTHxDEPTH@BATCH_TOKENS[+compile], comma-separated "
                        "(default: inertialar.window.CANDIDATES, 1024x6@65536+compile,1024x4@32768,640x4@32768)")
    _training_flags(w, batch_tokens=16384)
    w.set_defaults(func=cmd_window, epochs=1e6, max_minutes=None, resume=False)

    from inertialar.modes import DEFAULT_MODE, MODES
    from inertialar.ranking import SCORES
    from inertialar.refine import METHODS, RefineSettings
    from inertialar.sampler import SampleSettings

    d = SampleSettings()  # the one home of sampler defaults (modes override them)
    s = sub.add_parser("sample", help="sample molecules to .xyz or .sdf (SDF bonds: RDKit, EDM table as fallback)")
    s.add_argument("--n", type=_positive_int, default=100)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--out", required=True)
    s.add_argument("--checkpoint", default=None, help="default: the shipped assets/inertialar_qm9.pt")
    s.add_argument("--mode", choices=list(MODES), default=DEFAULT_MODE,
                   help="quality preset: " + "; ".join(f"{m.name}: {m.summary}" for m in MODES.values())
                        + ". The flags below override the mode's values.")
    s.add_argument("--group", action="append", default=[], help="require a functional group (repeatable)")
    s.add_argument("--no-group", action="append", default=[], help="forbid a functional group (repeatable)")
    s.add_argument("--cfg-scale", type=_finite, default=d.cfg_scale, help="guidance scale when groups are given")
    s.add_argument("--temperature", type=_finite, default=None, help="atom-type temperature")
    s.add_argument("--top-p", type=_finite, default=None, help="nucleus of the type distribution (0 = greedy)")
    s.add_argument("--coord-temperature", type=_finite, default=None, help="scales the diffusion start noise")
    s.add_argument("--churn", type=_finite, default=None,
                   help="EDM S_churn (> 0: stochastic coordinate sampler)")
    s.add_argument("--churn-temperature", type=_finite, default=None,
                   help="scales the noise injected at every stochastic step (S_noise)")
    s.add_argument("--sigma-max", type=_finite, default=None, help="start of the noise schedule (Å)")
    s.add_argument("--steps", type=_positive_int, default=None, help="Heun steps per atom")
    s.add_argument("--coord-draws", type=_positive_int, default=None,
                   help="coordinate candidates per atom; the denoiser's probe keeps the most typical")
    s.add_argument("--redraws", type=int, default=None,
                   help="redraw an atom closer than 0.7 Å to, or out of reach (2 Å) of, earlier atoms (max times)")
    s.add_argument("--oversample", type=_positive_int, default=None,
                   help="draws per kept molecule (best by --rank; every draw counts in the time)")
    s.add_argument("--rank", choices=list(SCORES), default=None, help="likelihood score for --oversample")
    s.add_argument("--batch-size", type=_positive_int, default=d.batch_size,
                   help="molecules per batch (does not change the molecules)")
    s.add_argument("--device", default="cpu")
    r = RefineSettings()
    s.add_argument("--refine", choices=METHODS, default="none",
                   help="geometry refinement after sampling: none (raw output), mmff (RDKit MMFF94) or xtb "
                        "(GFN2-xTB via tblite); a molecule that cannot be refined is written unrefined with the reason")
    s.add_argument("--refine-steps", type=_positive_int, default=None,
                   help="optimizer step cap per molecule (default: 2,000 MMFF iterations, 300 xTB steps)")
    s.add_argument("--refine-seconds", type=_positive_float, default=r.max_seconds, help="time cap per molecule (s)")
    s.set_defaults(func=cmd_sample)

    x = sub.add_parser("export", help="copy a checkpoint for shipping (fp16 weights, same metadata)")
    x.add_argument("checkpoint")
    x.add_argument("out")
    x.add_argument("--fp32", action="store_true", help="keep fp32 weights")
    x.add_argument("--metrics", default=None, help="a JSON file of measured metrics to store in the metadata")
    x.set_defaults(func=cmd_export)

    b = sub.add_parser("bench", help="benchmarks (timings, not tests)")
    b.add_argument("what", choices=["train", "sample"])
    b.add_argument("--checkpoint", default=None)
    b.add_argument("--n", type=_positive_int, default=1000)
    b.add_argument("--seconds", type=_finite, default=60.0)
    b.add_argument("--device", default="cpu")
    b.set_defaults(func=cmd_bench)
    return p


def main(argv: list[str] | None = None) -> int:
    from inertialar import runtime

    runtime.choose_wait_policy()  # before anything imports torch (see inertialar.runtime)
    from inertialar.checkpoint import CheckpointError
    from inertialar.molecule import MoleculeError

    try:
        args = build_parser().parse_args(argv)
        runtime.configure()
        return args.func(args)
    except (UsageError, MoleculeError, CheckpointError, OSError) as err:
        print(f"error: {str(err).splitlines()[0] if str(err) else type(err).__name__}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except ValueError as err:  # settings validation and similar one-line messages
        print(f"error: {str(err).splitlines()[0]}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
