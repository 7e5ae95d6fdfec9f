"""Autoregressive sampling with a key/value cache, guidance, prefixes and recorded trajectories.

Each step feeds one token per molecule through the cached backbone, samples the next type from
the (guided, temperature-scaled, optionally nucleus-truncated) type distribution, then samples
that atom's coordinates with the diffusion head's sampler (deterministic Heun, or EDM's
stochastic sampler with churn), batched over all unfinished molecules. With classifier-free
guidance each guided row gets a twin row with every group unspecified, and both type logits and
denoiser outputs are mixed by ``diffusion.cfg_mix``. Every step is recorded (type probabilities,
the model's own guided probabilities at temperature 1, chosen type, coordinates, optionally the
denoising path and the denoiser's probe error) for the app and for ranking.

**Geometric sanity** (``redraws`` > 0): an atom that lands closer than ``MIN_DISTANCE`` to an
earlier atom, or farther than ``REACH`` from every earlier atom, is redrawn from fresh noise, at
most ``redraws`` times, batched over the rows that need it. These are generic distances, not the
metrics' bond tables: nothing here imports ``inertialar.chem.metrics`` (a test pins this).

**Candidate coordinates** (``coord_draws`` = r > 1): each atom's coordinates are drawn r times
(batched) and the draw the denoiser finds most typical is kept: the lowest probe error
‖D(x + σε; σ) − x‖²/σ² at σ = ``PROBE_SIGMA`` (the model's own score, ``DiffusionHead.probe_error``).

**Oversampling** (``oversample`` = k > 1): molecule j is the best of draws j·k … j·k + k − 1 by a
score of the model's own likelihoods (``inertialar.sampling.ranking``); all k draws are sampled and count
in the cost.

**Per-row settings.** A batch is a list of ``Part``s — slices of requests, each with its own
groups, CFG scale, type and coordinate temperatures, prefix and seed — so that one batch can
serve many requests (``inertialar.sampling.service``). Only the Heun step count (and whether denoising
paths are recorded) must be shared by a batch.

**Reproducibility rule.** Molecule k of a request draws all its randomness — one uniform per
step for the type (inverse CDF) and one (3,) normal per step for the start noise of the
coordinates — up front from its own generator seeded by ``(seed, k)`` (``rows.row_noise``); further
candidate draws, redraws, churn and probe noise come from generators seeded by ``(seed, k, kind)``. So a
molecule does not depend on which other molecules share its batch, nor on ``batch_size``. Its
arithmetic does: matrix products of a different batch shape round differently in the last bits,
and the autoregressive chain carries those differences on (each atom is conditioned on the
atoms before it). Measured on the shipped checkpoint, 10 requests × 4 molecules merged vs each
alone: the same atom types everywhere, coordinates apart by 2e-6 … 1.7e-3 Å. So the rule is
"identical atom types, coordinates equal within ``REPRO_ATOL`` = 0.01 Å" (tested on the tiny
model in ``tests/test_service.py``; checked on the real one by ``benchmarks/app_load.py``). A
type flip is possible in principle when a uniform falls within rounding of a CDF boundary (never
seen). Another request's molecules would differ by ångströms, so the rule still tells cross-talk
apart.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import NamedTuple

import numpy as np
import torch

from inertialar.chem.molecule import Molecule
from inertialar.data.tokenizer import tokens_to_molecule
from inertialar.nn.diffusion import Guide
from inertialar.nn.model import InertialAR
from inertialar.nn.polisher import Polisher
from inertialar.sampling.critic import best_by_critic, critic_scores
from inertialar.sampling.polish import polish
from inertialar.sampling.ranking import SHORTLIST_RANK, best_of, shortlist
from inertialar.sampling.rows import BatchRows
from inertialar.sampling.settings import Part, SampleSettings
from inertialar.sampling.trajectory import Trajectory


class Step(NamedTuple):
    """One autoregressive step of a batch of b rows (V = vocabulary size)."""

    probs: torch.Tensor  # (b, V) the distribution the type was drawn from
    own: torch.Tensor  # (b, V) the model's own guided distribution at temperature 1
    types: torch.Tensor  # (b,) chosen types
    coords: torch.Tensor  # (b, 3) Å (NaN for EOS)
    path: torch.Tensor | None  # (K + 1, b, 3) the denoising path, when recorded
    probe: torch.Tensor  # (b,) the denoiser's probe error (NaN where not measured)


REPRO_ATOL = 1e-2  # Å; a molecule sampled in any batch vs alone (see the module docstring)
MIN_DISTANCE = 0.7  # Å; closer to an earlier atom than any bond: redraw (geometric sanity)
REACH = 2.0  # Å; farther than this from every earlier atom is out of bonding reach: redraw
PROBE_SIGMA = 0.1  # Å; noise level of the denoiser probe used by coordinate ranking scores


@dataclass
class SampleResult:
    """Molecules (canonical order and frame, Å) with one trajectory each, the settings used and how
    many molecules were drawn to get them (``settings.draws``; more than ``n`` when oversampling);
    where the polish ran, ``molecules`` are polished and ``raw_molecules`` are what the model placed."""

    molecules: list[Molecule]
    trajectories: list[Trajectory]
    settings: SampleSettings = field(repr=False, default=None)
    drawn: int = 0
    raw_molecules: list[Molecule] | None = None  # the same molecules before the polish (None: not polished)

    @property
    def polished(self) -> bool:
        return self.raw_molecules is not None


def _pick(probs: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """Inverse-CDF draw: probs (b, V), u (b,) in [0, 1) → (b,) index, never a zero-probability one."""
    below = (probs.cumsum(-1) <= u.unsqueeze(1)).sum(-1)  # (b,)
    vocab = torch.arange(probs.shape[1], device=probs.device)
    last = torch.where(probs > 0, vocab, torch.zeros_like(vocab)).max(-1).values  # rounding guard
    return torch.minimum(below, last)


def nucleus(probs: torch.Tensor, top_p: torch.Tensor) -> torch.Tensor:
    """Top-p truncation: probs (b, V), top_p (b,) → renormalised (b, V) keeping the smallest set of
    most likely types whose mass reaches top_p (always the most likely one; top_p 0 = greedy)."""
    sorted_p, order = probs.sort(-1, descending=True)
    before = sorted_p.cumsum(-1) - sorted_p  # mass of the more likely types
    keep_sorted = before < top_p.unsqueeze(1)
    keep_sorted[:, 0] = True
    keep = torch.zeros_like(keep_sorted).scatter(1, order, keep_sorted)
    kept = torch.where(keep, probs, torch.zeros_like(probs))
    return kept / kept.sum(-1, keepdim=True)


def _next_types(model: InertialAR, z: torch.Tensor, batch: BatchRows, t: int, done: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Step t's types: z (b + g, C) → chosen (b,), sampled-from probs (b, V), the model's own
    guided probs at temperature 1 (b, V), and in_prefix (b,) bool."""
    b = len(batch.scale)
    logits = model.type_logits(z)  # (b + g, V)
    guide, _ = batch.guide(torch.arange(b, device=z.device))
    guided_logits = guide.mix(logits[:b], logits[b:])
    if t == 0:  # a molecule has at least one atom
        guided_logits = guided_logits.clone()
        guided_logits[:, model.cfg.eos] = float("-inf")
    own = torch.softmax(guided_logits, dim=-1)
    probs = nucleus(torch.softmax(guided_logits / batch.temperature.unsqueeze(1), dim=-1), batch.top_p)
    chosen = _pick(probs, batch.noise.uniforms[:, t])
    in_prefix = t < batch.n_prefix
    if batch.prefix_types.shape[1] > t:
        chosen = torch.where(in_prefix, batch.prefix_types[:, t], chosen)
    if t == model.cfg.max_atoms:
        chosen = torch.full_like(chosen, model.cfg.eos)
    chosen = torch.where(done, torch.full_like(chosen, model.cfg.eos), chosen)
    return chosen, probs, own, in_prefix


def insane(x: torch.Tensor, earlier: torch.Tensor) -> torch.Tensor:
    """Geometric sanity: x (m, 3) Å, earlier (m, t, 3) Å (NaN rows ignored) → (m,) bool, True where
    x is closer than MIN_DISTANCE to an earlier atom or farther than REACH from all of them."""
    if earlier.shape[1] == 0:
        return torch.zeros(len(x), dtype=torch.bool, device=x.device)
    d = torch.nan_to_num((earlier - x.unsqueeze(1)).norm(dim=-1), nan=float("inf")).min(1).values  # (m,)
    return (d < MIN_DISTANCE) | (d > REACH)


def _next_coords(model: InertialAR, z: torch.Tensor, batch: BatchRows, t: int, chosen: torch.Tensor,
                 in_prefix: torch.Tensor, earlier: torch.Tensor, steps: int, record: bool
                 ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
    """Step t's coordinates (b, 3) Å (NaN for EOS), the denoising path (K + 1, b, 3) or None, and
    the probe error (b,) (NaN where not measured). earlier (b, t, 3) Å: the atoms placed so far."""
    b, dev = len(chosen), chosen.device
    coords = torch.full((b, 3), float("nan"), device=dev)
    probe = torch.full((b,), float("nan"), device=dev)
    active = chosen != model.cfg.eos
    fixed = (active & in_prefix).nonzero().squeeze(1)
    if len(fixed):
        coords[fixed] = batch.prefix_coords[fixed, t]
    free = (active & ~in_prefix).nonzero().squeeze(1)  # (m,) rows whose coordinates are sampled
    if not len(free):
        return coords, None, probe
    guide, idx = batch.guide(free)
    zc = model.coordinate_condition(z[idx], chosen[batch.model_rows[idx]])  # (m + g, C)
    x, err, path = _best_draw(model, zc, guide, batch, free, t, steps, record)
    coords[free] = x
    if err is not None:
        probe[free] = err
    for attempt in range(batch.coord_draws, batch.coord_draws + batch.redraws):  # geometric sanity
        todo = insane(coords[free], earlier[free]).nonzero().squeeze(1)  # positions in ``free``
        if not len(todo):
            break
        rows = free[todo]
        guide_sub, idx_sub = batch.guide(rows)
        coords[rows], _ = _draw(model, zc[_positions(idx, idx_sub)], guide_sub, batch, rows, attempt, t, steps, False)
        if err is not None:
            probe[rows] = model.diffusion.probe_error(coords[rows], zc[_positions(idx, idx_sub)],
                                                      batch.noise.probe[rows, t], PROBE_SIGMA, guide_sub)
    full = None
    if path is not None:
        full = torch.full((steps + 1, b, 3), float("nan"), device=dev)
        full[:, free] = path
    return coords, full, probe


def _draw(model: InertialAR, zc: torch.Tensor, guide: Guide, batch: BatchRows, rows: torch.Tensor, attempt: int, t: int,
          steps: int, record: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
    """One coordinate draw (m, 3) Å for ``rows`` (m,) from noise bank entry ``attempt``."""
    churn_noise = None
    if batch.noise.churn is not None:
        churn_noise = batch.noise.churn[rows, attempt, t] * batch.churn_temperature[rows].view(-1, 1, 1)
    return model.diffusion.sample(
        zc, batch.noise.start[rows, attempt, t] * batch.coord_temperature[rows].unsqueeze(1), steps, guide=guide,
        sigma_max=batch.sigma_max[rows], churn=batch.churn[rows], churn_noise=churn_noise, record=record)


def _best_draw(model: InertialAR, zc: torch.Tensor, guide: Guide, batch: BatchRows, free: torch.Tensor, t: int,
               steps: int, record: bool) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
    """``coord_draws`` = k candidate draws per atom, all k·m batched, and the one whose denoiser
    probe error is lowest (the model's own judgement): x (m, 3) Å, probe error (m,) or None
    (when nothing needs it), path (K + 1, m, 3) or None."""
    k, m = batch.coord_draws, len(free)
    if k == 1:
        x, path = _draw(model, zc, guide, batch, free, 0, t, steps, record)
        err = (model.diffusion.probe_error(x, zc, batch.noise.probe[free, t], PROBE_SIGMA, guide)
               if batch.probe else None)
        return x, err, path
    rows = free.repeat(k)  # (k·m,) copy a = attempt a
    zc_k = torch.cat([zc[:m].repeat(k, 1), zc[m:].repeat(k, 1)])
    guide_k = guide.repeat(m, k)
    churn_noise = None
    if batch.noise.churn is not None:
        churn_noise = torch.cat([batch.noise.churn[free, a, t] for a in range(k)]) * batch.churn_temperature[rows].view(-1, 1, 1)
    start = torch.cat([batch.noise.start[free, a, t] for a in range(k)]) * batch.coord_temperature[rows].unsqueeze(1)
    x, path = model.diffusion.sample(zc_k, start, steps, guide=guide_k, sigma_max=batch.sigma_max[rows],
                                     churn=batch.churn[rows], churn_noise=churn_noise, record=record)
    err = model.diffusion.probe_error(x, zc_k, batch.noise.probe[rows, t], PROBE_SIGMA, guide_k).view(k, m)
    err = torch.where(torch.arange(k, device=x.device).unsqueeze(1) < batch.row_draws[free], err, torch.inf)
    best = err.argmin(0)  # (m,)
    pick = best * m + torch.arange(m, device=x.device)
    return x[pick], err.gather(0, best.unsqueeze(0)).squeeze(0), (path[:, pick] if path is not None else None)


def _positions(idx: torch.Tensor, sub: torch.Tensor) -> torch.Tensor:
    """Positions in ``idx`` (distinct model-batch rows) of the rows ``sub``."""
    where = torch.full((int(idx.max()) + 1,), -1, dtype=torch.long, device=idx.device)
    where[idx] = torch.arange(len(idx), device=idx.device)
    return where[sub]


@torch.no_grad()
def sample_parts(model: InertialAR, parts: list[Part], device,
                 on_step: Callable[[int], None] | None = None) -> list[list[Trajectory]]:
    """One batch of several requests' draws; the trajectories of each part, in order.

    Every part must share ``steps`` and ``record_denoising``; everything else is per row."""
    steps, record = parts[0].settings.steps, parts[0].settings.record_denoising
    if any(p.settings.steps != steps or p.settings.record_denoising != record for p in parts):
        raise ValueError("parts of one batch must share Heun steps and record_denoising")
    device = torch.device(device)
    batch = BatchRows.build(model, parts, steps, device)
    b, rows = len(batch.scale), batch.model_rows
    cache = model.new_cache(len(rows))
    z = model.condition_step(torch.cat([batch.groups, torch.zeros_like(batch.groups[batch.guided])]), cache)  # (b + g, C)
    steps_out: list[Step] = []
    done = torch.zeros(b, dtype=torch.bool, device=device)
    for t in range(model.cfg.max_atoms + 1):
        chosen, probs, own, in_prefix = _next_types(model, z, batch, t, done)
        earlier = torch.stack([s.coords for s in steps_out], 1) if steps_out else torch.zeros(b, 0, 3, device=device)
        coords, path, probe = _next_coords(model, z, batch, t, chosen, in_prefix, earlier, steps, record)
        steps_out.append(Step(probs, own, chosen, coords, path, probe))
        done |= chosen == model.cfg.eos
        if on_step is not None:
            on_step(t)
        if bool(done.all()):
            break
        z = model.atom_step(chosen.clamp(max=model.cfg.eos - 1)[rows], torch.nan_to_num(coords)[rows], cache)
    return _split_by_part(parts, steps_out, batch.n_prefix, steps, record, tuple(model.cfg.elements))


def _split_by_part(parts: list[Part], steps_out: list[Step], n_prefix: torch.Tensor, steps: int,
                   record: bool, elements: tuple[str, ...]) -> list[list[Trajectory]]:
    """Per-step batch tensors → one list of trajectories per part (each cut at its EOS)."""
    probs, own, types, coords, probe = (torch.stack([getattr(s, name) for s in steps_out], 1).cpu().numpy()
                                        for name in ("probs", "own", "types", "coords", "probe"))  # (b, S, …)
    n_prefix = n_prefix.cpu().numpy()
    out, i = [], 0
    for p in parts:
        trajs = []
        for _ in range(p.count):
            eos = np.flatnonzero(types[i] == len(elements))
            n = int(eos[0]) + 1 if eos.size else types.shape[1]
            paths = None
            if record:
                paths = np.stack([s.path[:, i].cpu().numpy() if s.path is not None else np.full((steps + 1, 3), np.nan)
                                  for s in steps_out[:n]])
            trajs.append(Trajectory(probs[i, :n], types[i, :n], coords[i, :n], paths, int(n_prefix[i]),
                                    own[i, :n], probe[i, :n], elements))
            i += 1
        out.append(trajs)
    return out


def draw_molecules(settings: SampleSettings, trajectories: list[Trajectory]) -> list[Molecule]:
    """The molecules of ``trajectories`` in order, titled ``sample k seed s``."""
    return [tokens_to_molecule(tr.types, tr.coords, f"sample {k} seed {settings.seed}", tr.elements)
            for k, tr in enumerate(trajectories)]


def _polished(polisher: Polisher, settings: SampleSettings, trajectories: list[Trajectory]):
    """Raw and polished molecules of ``trajectories``; each trajectory records its polish path."""
    raw = draw_molecules(settings, trajectories)
    done = polish(polisher, raw, settings.polish_sigma, settings.polish_steps, record=True,
                  frozen=[tr.n_prefix for tr in trajectories])  # a given prefix stays as given
    trajectories = [replace(tr, polish_path=path) for tr, path in zip(trajectories, done.paths, strict=True)]
    return raw, done.molecules, trajectories


def to_result(settings: SampleSettings, trajectories: list[Trajectory], polisher: Polisher | None = None) -> SampleResult:
    """Molecules from a request's draws (in row order). With ``oversample`` = k, molecule j is the
    best of draws j·k … j·k + k − 1 by ``settings.rank``: a score of the model's own likelihoods
    (the kept draws are then polished), or ``critic`` (the draws are polished and the critic picks;
    with ``shortlist`` = m only each group's m best draws by ``type_mean_probe`` are polished and judged).
    Without a polisher the critic cannot judge: ``type_mean_probe`` chooses, and the result's
    settings say so.
    With ``settings.polish`` and a ``polisher`` the molecules are polished (``sampling.polish``)."""
    drawn, k = len(trajectories), settings.oversample
    if polisher is not None and trajectories and tuple(polisher.cfg.elements) != tuple(trajectories[0].elements):
        raise ValueError(f"the polisher's vocabulary ({' '.join(polisher.cfg.elements)}) is not the model's "
                         f"({' '.join(trajectories[0].elements)})")
    if k > 1 and settings.rank == "critic" and polisher is None:  # no polisher for this model: no critic either
        settings = replace(settings, rank=SHORTLIST_RANK)  # the model's own likelihood chooses (the result says so)
    if k > 1 and settings.rank == "critic":
        if 0 < settings.shortlist < k:  # the model's own likelihood narrows each group first
            trajectories = shortlist(trajectories, k, settings.shortlist, SHORTLIST_RANK)
            k = settings.shortlist
        raw, final, trajectories = _polished(polisher, settings, trajectories)
        scores = critic_scores(polisher, final)
        keep = best_by_critic(scores, k)
        trajectories = [replace(trajectories[i], critic=float(scores[i])) for i in keep]
        named = draw_molecules(settings, trajectories)  # titles count kept molecules, as in the other branch
        raw = [Molecule(m.elements, raw[i].coords, m.title) for m, i in zip(named, keep, strict=True)]
        final = [Molecule(m.elements, final[i].coords, m.title) for m, i in zip(named, keep, strict=True)]
    else:
        if k > 1:
            trajectories = best_of(trajectories, k, settings.rank)
        if polisher is None or not settings.polish:
            return SampleResult(draw_molecules(settings, trajectories), trajectories, settings, drawn)
        raw, final, trajectories = _polished(polisher, settings, trajectories)
    if not settings.polish:  # the critic chose among polished draws; the molecules stay as placed
        return SampleResult(raw, trajectories, settings, drawn)
    return SampleResult(final, trajectories, settings, drawn, raw)


def sample_draws(model: InertialAR, settings: SampleSettings,
                 progress: Callable[[float], None] | None = None) -> list[Trajectory]:
    """Every draw of a request (``settings.draws`` = n · oversample), ``batch_size`` at a time, before
    any selection; ``to_result`` keeps the best of each group."""
    settings.check(model.cfg)
    device = torch.device(settings.device)
    model = model.to(device).eval()
    trajectories: list[Trajectory] = []
    total_steps = settings.draws * (model.cfg.max_atoms + 1)
    while len(trajectories) < settings.draws:
        b = min(settings.batch_size, settings.draws - len(trajectories))
        done_before = len(trajectories)

        def on_step(t: int, done_before: int = done_before, b: int = b) -> None:
            if progress is not None:
                progress(min(1.0, (done_before * (model.cfg.max_atoms + 1) + b * (t + 1)) / total_steps))

        (part,) = sample_parts(model, [Part(settings, done_before, b)], device, on_step)
        trajectories += part
    if progress is not None:
        progress(1.0)
    return trajectories


def sample(model: InertialAR, settings: SampleSettings, progress: Callable[[float], None] | None = None,
           polisher: Polisher | None = None) -> SampleResult:
    """Sample ``settings.n`` molecules (all their draws, then the selection and the polish, where a
    ``polisher`` is given); same settings and seed → the same molecules (whatever the batch size:
    see the reproducibility rule above)."""
    return to_result(settings, sample_draws(model, settings, progress), polisher)
