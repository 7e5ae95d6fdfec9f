"""The equivariant peer's commands: ``sample`` with ``--model peer`` or ``--checkpoint PEER.pt``, and
``train-peer`` (the same trainer and flags as ``train-polisher``; ``cli.polishing.train_denoiser``).

The peer is unconditional and has its own sampler (atom count, then a Heun ODE; ``sampling.peer``),
so the options of InertialAR's sampler do not apply: giving one is a one-line error (exit 2).
``--n``, ``--seed``, ``--steps`` (Heun steps), ``--refine`` and ``--quiet`` do.
"""

from __future__ import annotations

import sys
from pathlib import Path

from inertialar.cli.args import UsageError

# InertialAR-only options of ``sample`` and the values that mean "not given".
NOT_FOR_PEER = {"mode": None, "group": [], "no_group": [], "prefix": None, "raw_out": None, "oversample": None, "rank": None,
                "shortlist": None, "temperature": None, "top_p": None, "coord_temperature": None, "churn": None,
                "churn_temperature": None, "sigma_max": None, "coord_draws": None, "redraws": None,
                "polisher": None, "polish_sigma": None, "polish_steps": None}


def wants_peer(args) -> bool:
    """Whether ``sample`` runs the peer: asked for by name, or the checkpoint is one."""
    from inertialar.nn.checkpoint import is_peer

    return args.model == "peer" or (args.checkpoint is not None and is_peer(args.checkpoint))


def sample_with_peer(args, out: Path) -> int:
    from inertialar.chem.molecule import write_text
    from inertialar.chem.output import records_text, refine_records, stage_properties
    from inertialar.chem.refine import RefineSettings, summarize, summary_line
    from inertialar.cli.main import progress_bar
    from inertialar.nn.checkpoint import PEER_CHECKPOINT, load_peer
    from inertialar.sampling.peer import PEER_STEPS, sample_peer

    given = [name for name, unset in NOT_FOR_PEER.items() if getattr(args, name) != unset]
    if given:
        raise UsageError(f"--{given[0].replace('_', '-')} does not apply to the equivariant peer "
                         "(it samples unconditionally with its own sampler)")
    refine_settings = RefineSettings(method=args.refine, max_steps=args.refine_steps, max_seconds=args.refine_seconds)
    refine_settings.validate()
    peer, _ = load_peer(args.checkpoint or PEER_CHECKPOINT)
    steps = args.steps or PEER_STEPS
    with progress_bar(args.n, "sampling (peer)", "molecules", args.quiet) as bar:
        molecules = sample_peer(peer, args.n, args.seed, steps, lambda frac: bar.update(round(frac * args.n) - bar.n))
    molecules, properties, done = refine_records(molecules, stage_properties(len(molecules), "peer"), refine_settings)
    write_text(out, records_text(molecules, properties, out.suffix.lower()[1:]))
    print(f"wrote {len(molecules)} molecules to {out}; equivariant peer, {steps} Heun steps", file=sys.stderr)
    if done is not None:
        for k, r in enumerate(done):
            if not r.refined:
                print(f"molecule {k + 1}: not refined ({r.reason}); written unrefined", file=sys.stderr)
        print(summary_line(summarize(done)))
    return 0


def cmd_train_peer(args) -> int:
    """Train (or resume) the peer on a dataset's training split (atom counts from its histogram)."""
    from inertialar.cli.polishing import train_denoiser
    from inertialar.data.specs import get_dataset
    from inertialar.data.tokenset import load_split
    from inertialar.nn.peer import PeerConfig

    spec = get_dataset(args.dataset)
    model = PeerConfig.for_split(spec, load_split("train", spec.name).lengths, width=args.width, layers=args.layers)
    return train_denoiser(args, "peer", model)
