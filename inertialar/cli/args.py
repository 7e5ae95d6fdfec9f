"""The command line's grammar: argparse types, the shared training flags and ``build_parser``.

``inertialar.cli.main`` holds what each command does; this module only what it accepts. Every parse
error is a ``UsageError`` (one line, exit code 2), never argparse's usage dump.
"""

from __future__ import annotations

import argparse
import math

from inertialar.data.specs import DATASETS


class UsageError(Exception):
    """A user mistake; printed as one line, exit code 2."""


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse's own errors: one line, exit 2
        raise UsageError(message)


def finite(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be at least 1")
    return value


def positive_float(text: str) -> float:
    value = finite(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{value:g} must be positive")
    return value


def training_flags(t: argparse.ArgumentParser, batch_tokens: int) -> None:
    """Model, data and optimiser flags shared by ``train`` and ``window``."""
    from inertialar.nn.diffusion import DiffusionConfig
    from inertialar.nn.transformer import DISTANCE_KERNELS, BackboneConfig
    from inertialar.training.config import TrainConfig

    bb, head, tc = BackboneConfig(), DiffusionConfig(), TrainConfig()  # the defaults' one home: the dataclasses

    t.add_argument("--run-dir", default=None, help="state, logs and EMA checkpoint (default ~/.cache/inertialar/runs/default)")
    t.add_argument("--init", default=None, help="warm-start weights (and model size) from this checkpoint")
    t.add_argument("--lr", type=finite, default=None, help="peak learning rate (default 4e-4·√(batch/2560))")
    t.add_argument("--batch-tokens", type=positive_int, default=batch_tokens)
    t.add_argument("--width", type=positive_int, default=bb.width)
    t.add_argument("--depth", type=positive_int, default=bb.depth)
    t.add_argument("--heads", type=positive_int, default=bb.heads)
    t.add_argument("--rope-heads", type=int, default=None, help="heads with RoPE-3D (default half; 0 = none)")
    t.add_argument("--distance-kernel", choices=DISTANCE_KERNELS, default=bb.distance_kernel,
                   help="distance bias: Nyström features, the exact Gaussian kernel, or none")
    t.add_argument("--head-width", type=positive_int, default=head.width)
    t.add_argument("--head-depth", type=positive_int, default=head.depth)
    t.add_argument("--eval-every", type=finite, default=tc.eval_every_minutes, help="minutes between evaluations")
    t.add_argument("--weight-decay", type=finite, default=tc.weight_decay)
    t.add_argument("--p-drop-group", type=finite, default=tc.p_drop_group, help="chance that each group label is hidden")
    t.add_argument("--flip-prob", type=finite, default=tc.flip_prob, help="augmentation: random axis signs, per molecule")
    t.add_argument("--jitter", type=finite, default=tc.jitter, help="augmentation: noise (Å) on context coordinates")
    t.add_argument("--limit-train", type=positive_int, default=None)
    t.add_argument("--data", default=None, help="read split caches from this folder (from data pack)")
    t.add_argument("--dataset", choices=list(DATASETS), default=None,
                   help="training data (default qm9, or --init's dataset)")
    t.add_argument("--seed", type=int, default=tc.seed)
    t.add_argument("--device", default=tc.device)


def _denoiser_flags(p: argparse.ArgumentParser, model, name: str, export_hint: str) -> None:
    """The flags ``train-polisher`` and ``train-peer`` share (both train an EGNN denoiser); defaults
    from the dataclasses (``model``'s sizes, ``PolisherTrainConfig``'s budget)."""
    from inertialar.training.polisher import PolisherTrainConfig

    ptc = PolisherTrainConfig(model=model, run_dir="")
    p.add_argument("--dataset", choices=list(DATASETS), default="qm9")
    p.add_argument("--run-dir", default=None, help=f"state and logs (default ~/.cache/inertialar/runs/{name}_DATASET)")
    p.add_argument("--minutes", type=positive_float, default=ptc.schedule_minutes,
                   help="the schedule's wall time (resumes continue it)")
    p.add_argument("--max-minutes", type=positive_float, default=None, help="stop this process after this long")
    p.add_argument("--width", type=positive_int, default=model.width)
    p.add_argument("--layers", type=positive_int, default=model.layers)
    p.add_argument("--batch-atoms", type=positive_int, default=ptc.batch_atoms)
    p.add_argument("--lr", type=positive_float, default=ptc.lr)
    p.add_argument("--eval-every", type=positive_float, default=ptc.eval_every_minutes,
                   help="minutes between validation records")
    p.add_argument("--limit-train", type=positive_int, default=None)
    p.add_argument("--threads", type=positive_int, default=None)
    p.add_argument("--seed", type=int, default=ptc.seed)
    p.add_argument("--export", default=None, help=f"copy the trained {name} here ({export_hint})")
    p.add_argument("--quiet", action="store_true")


def build_parser() -> argparse.ArgumentParser:
    p = Parser(prog="python -m inertialar", description="InertialAR: autoregressive 3-D molecules in inertial frames")
    sub = p.add_subparsers(dest="command", required=True, parser_class=Parser)

    c = sub.add_parser("canonicalize", help="canonical order and inertial frame for every molecule of a file")
    c.add_argument("input", help=".xyz or .sdf file (one or more molecules)")
    c.add_argument("--out", help="output .xyz (or .sdf); without it, XYZ goes to standard output")

    e = sub.add_parser("evaluate", help="EDM metrics of the molecules in a file")
    e.add_argument("file")
    e.add_argument("--json", action="store_true", help="one JSON object")
    e.add_argument("--plausibility", action="store_true",
                   help="add PoseBusters (mol config) pass rates per check and posebusters_all_pass; bonds are "
                        "perceived from the coordinates by RDKit (EDM metrics keep EDM's distance table)")
    e.add_argument("--dataset", choices=list(DATASETS), default=None,
                   help="training set for novelty (default: qm9, or moses when elements outside QM9 occur)")

    g = sub.add_parser("groups", help="functional-group names and SMARTS")
    g.add_argument("--dataset", choices=list(DATASETS), default="qm9", help="whose group list (moses adds 11)")

    d = sub.add_parser("data", help="datasets: QM9, drug-like (MOSES, MMFF94 conformers)")
    d.add_argument("action", choices=["prepare", "pack"], help="prepare: build the cache; pack: compressed "
                   "train + valid copies in --dest (to travel to a GPU machine)")
    d.add_argument("--dataset", choices=list(DATASETS), default=None, help="default qm9")
    d.add_argument("--n", type=positive_int, default=None,
                   help="moses: training molecules (valid and test get n/10 each; default 50,000)")
    d.add_argument("--smiles", default=None, help="moses: build from this SMILES file (one per line) instead")
    d.add_argument("--dest", default=None, help="folder for data pack")
    d.add_argument("--workers", type=positive_int, default=2)
    d.add_argument("--force", action="store_true", help="rebuild even if cached")

    t = sub.add_parser("train", help="train (resumable; works under torchrun)")
    t.add_argument("--resume", action="store_true")
    t.add_argument("--epochs", type=finite, default=200.0)
    t.add_argument("--max-minutes", type=finite, default=None)
    t.add_argument("--schedule-minutes", type=positive_float, default=None,
                   help="cosine schedule over this much training wall time (summed across resumes), then stop")
    training_flags(t, batch_tokens=2560)

    w = sub.add_parser("window", help="the GPU-window recipe: train for --minutes, write the fp16 EMA + log to --out")
    w.add_argument("--minutes", type=positive_float, required=True, help="wall time of training (the schedule ends then)")
    w.add_argument("--out", required=True, help="folder for ema_fp16.pt, log.jsonl, summary.json")
    w.add_argument("--warmup-steps", type=positive_int, default=300)
    w.add_argument("--max-file-mb", type=positive_float, default=15.0, help="split output files above this size")
    w.add_argument("--calibrate", type=float, default=0.0,
                   help="seconds (of --minutes) spent measuring the candidate head/batch/compile configurations "
                        "before training the chosen one; 0 = train the flags' model")
    w.add_argument("--candidates", default=None,
                   help="calibration candidates: head WIDTHxDEPTH@BATCH_TOKENS[+compile], comma-separated "
                        "(default: inertialar.training.window.CANDIDATES, 1024x6@65536+compile,1024x4@32768,640x4@32768)")
    training_flags(w, batch_tokens=16384)
    w.set_defaults(epochs=1e6, max_minutes=None, resume=False)

    from inertialar.chem.refine import METHODS, RefineSettings
    from inertialar.sampling.modes import DEFAULT_MODE, MODES
    from inertialar.sampling.settings import RANKS, SampleSettings

    d = SampleSettings()  # the one home of sampler defaults (modes override them)
    s = sub.add_parser("sample", help="sample molecules to .xyz or .sdf (SDF bonds: RDKit, EDM table as fallback)")
    s.add_argument("--n", type=positive_int, default=100)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--out", required=True)
    s.add_argument("--checkpoint", default=None, help="default: the shipped assets/inertialar_qm9.pt "
                   "(an equivariant-peer checkpoint runs the peer)")
    s.add_argument("--model", choices=["inertialar", "peer"], default="inertialar",
                   help="peer: the EDM-style equivariant peer (default checkpoint assets/peer_qm9.pt; unconditional)")
    s.add_argument("--mode", choices=list(MODES), default=None,
                   help=f"quality preset (default {DEFAULT_MODE}): " + "; ".join(f"{m.name}: {m.summary}" for m in MODES.values())
                        + ". The flags below override the mode's values.")
    s.add_argument("--group", action="append", default=[], help="require a functional group (repeatable)")
    s.add_argument("--no-group", action="append", default=[], help="forbid a functional group (repeatable)")
    s.add_argument("--cfg-scale", type=finite, default=d.cfg_scale, help="guidance scale when groups are given")
    s.add_argument("--temperature", type=finite, default=None, help="atom-type temperature")
    s.add_argument("--top-p", type=finite, default=None, help="nucleus of the type distribution (0 = greedy)")
    s.add_argument("--coord-temperature", type=finite, default=None, help="scales the diffusion start noise")
    s.add_argument("--churn", type=finite, default=None,
                   help="EDM S_churn (> 0: stochastic coordinate sampler)")
    s.add_argument("--churn-temperature", type=finite, default=None,
                   help="scales the noise injected at every stochastic step (S_noise)")
    s.add_argument("--sigma-max", type=finite, default=None, help="start of the noise schedule (Å)")
    s.add_argument("--steps", type=positive_int, default=None, help="Heun steps per atom (the peer: per molecule)")
    s.add_argument("--coord-draws", type=positive_int, default=None,
                   help="coordinate candidates per atom; the denoiser's probe keeps the most typical")
    s.add_argument("--redraws", type=int, default=None,
                   help="redraw an atom closer than 0.7 Å to, or out of reach (2 Å) of, earlier atoms (max times)")
    s.add_argument("--oversample", type=positive_int, default=None,
                   help="draws per kept molecule (best by --rank; every draw counts in the time)")
    s.add_argument("--rank", choices=list(RANKS), default=None,
                   help="selection score for --oversample: the model's own likelihoods, or critic (the polisher's "
                        "denoising error on the polished draws)")
    s.add_argument("--shortlist", type=int, default=None,
                   help="with --rank critic: polish and judge only each group's m likeliest draws (0: all)")
    s.add_argument("--no-polish", action="store_true", help="skip the learned polisher (raw never polishes)")
    s.add_argument("--polisher", default=None, help="polisher checkpoint (default: the shipped one for the model's dataset)")
    s.add_argument("--polish-sigma", type=positive_float, default=None, help="σ₀ of the polish (Å)")
    s.add_argument("--polish-steps", type=positive_int, default=None, help="Heun steps of the polish")
    s.add_argument("--raw-out", default=None, help="also write the unpolished molecules here (.xyz or .sdf)")
    s.add_argument("--prefix", default=None, help="complete this molecule's canonical prefix (XYZ or SDF; the first molecule)")
    s.add_argument("--prefix-atoms", type=positive_int, default=None,
                   help="how many canonical atoms of --prefix to keep (default 4)")
    s.add_argument("--quiet", action="store_true", help="no progress output")
    s.add_argument("--batch-size", type=positive_int, default=d.batch_size,
                   help="molecules per batch (does not change the molecules)")
    s.add_argument("--device", default="cpu")
    r = RefineSettings()
    s.add_argument("--refine", choices=METHODS, default="none",
                   help="geometry refinement after sampling: none (raw output), mmff (RDKit MMFF94) or xtb "
                        "(GFN2-xTB via tblite); a molecule that cannot be refined is written unrefined with the reason")
    s.add_argument("--refine-steps", type=positive_int, default=None,
                   help="optimizer step cap per molecule (default: 2,000 MMFF iterations, 300 xTB steps)")
    s.add_argument("--refine-seconds", type=positive_float, default=r.max_seconds, help="time cap per molecule (s)")

    x = sub.add_parser("export", help="copy a checkpoint for shipping (fp16 weights, same metadata)")
    x.add_argument("checkpoint")
    x.add_argument("out")
    x.add_argument("--fp32", action="store_true", help="keep fp32 weights")
    x.add_argument("--metrics", default=None, help="a JSON file of measured metrics to store in the metadata")

    po = sub.add_parser("polish", help="polish molecules with the learned polisher (any XYZ/SDF, e.g. other tools' output)")
    po.add_argument("input")
    po.add_argument("--out", required=True)
    po.add_argument("--polisher", default=None, help="default: the shipped polisher whose vocabulary covers the input")
    po.add_argument("--sigma", type=positive_float, default=None, help="σ₀ (Å): how noisy the input is taken to be")
    po.add_argument("--steps", type=positive_int, default=None, help="Heun steps")
    po.add_argument("--json", action="store_true", help="per-molecule report as JSON on stdout")
    sc = sub.add_parser("score", help="the critic's score per molecule (higher = more like the training data)")
    sc.add_argument("input")
    sc.add_argument("--polisher", default=None)
    sc.add_argument("--json", action="store_true")
    from inertialar.nn.peer import PeerConfig
    from inertialar.nn.polisher import PolisherConfig

    pc = PolisherConfig(elements=(), dataset="")  # the defaults' one home: the dataclasses
    tp = sub.add_parser("train-polisher", help="train (or resume) the polisher on a dataset's training split")
    _denoiser_flags(tp, pc, "polisher", "e.g. assets/polisher_qm9.pt")
    tp.add_argument("--sigma-min", type=positive_float, default=pc.sigma_min)
    tp.add_argument("--sigma-max", type=positive_float, default=pc.sigma_max)
    tq = sub.add_parser("train-peer", help="train (or resume) the equivariant peer (EDM-style) on a training split")
    _denoiser_flags(tq, PeerConfig(elements=(), dataset=""), "peer", "e.g. my_peer.pt; sample it with "
                    "sample --checkpoint")

    b = sub.add_parser("bench", help="timings (speed, not tests), rows appended to the results folder")
    b.add_argument("what", choices=["train", "sample"])
    b.add_argument("--checkpoint", default=None)
    b.add_argument("--n", type=positive_int, default=1000)
    b.add_argument("--seconds", type=finite, default=60.0)
    b.add_argument("--device", default="cpu")
    return p
