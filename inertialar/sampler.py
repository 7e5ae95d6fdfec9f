"""Autoregressive sampling with a key/value cache, guidance, prefixes and recorded trajectories.

Each step feeds one token per molecule through the cached backbone, samples the next type from
the (guided, temperature-scaled) type distribution, then samples that atom's coordinates with
the diffusion head's Heun integrator, batched over all unfinished molecules. With classifier-free
guidance each guided row gets a twin row with every group unspecified, and both type logits and
denoiser outputs are mixed as ``u + s·(c − u)``. Every step is recorded (type probabilities,
chosen type, coordinates, optionally the denoising path) for the app.

**Per-row settings.** A batch is a list of ``Part``s — slices of requests, each with its own
groups, CFG scale, type and coordinate temperatures, prefix and seed — so that one batch can
serve many requests (``inertialar.service``). Only the Heun step count (and whether denoising
paths are recorded) must be shared by a batch.

**Reproducibility rule.** Molecule k of a request draws all its randomness — one uniform per
step for the type (inverse CDF) and one (3,) normal per step for the start noise of the
coordinates — up front from its own generator seeded by ``(seed, k)`` (``row_noise``). So a
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
from dataclasses import dataclass, field

import numpy as np
import torch

from inertialar.groups import check_group_names
from inertialar.model import ABSENT, PRESENT, InertialAR
from inertialar.molecule import Molecule
from inertialar.tokenizer import EOS, molecule_to_tokens, tokens_to_molecule

REPRO_ATOL = 1e-2  # Å; a molecule sampled in any batch vs alone (see the module docstring)


@dataclass
class SampleSettings:
    """What to sample. Molecule k draws its randomness from a generator seeded by ``(seed, k)``,
    so the same settings and seed give the same molecules whatever the batching."""

    n: int = 16
    seed: int = 0
    present: tuple[str, ...] = ()
    absent: tuple[str, ...] = ()
    cfg_scale: float = 1.0
    temperature: float = 0.7  # type distribution (chosen by benchmarks/sampler_sweep.py)
    coord_temperature: float = 0.2  # scales the diffusion start noise (chosen by benchmarks/sampler_sweep.py)
    steps: int = 18  # Heun steps per atom
    batch_size: int = 500
    device: str = "cpu"
    record_denoising: bool = False
    prefix: Molecule | None = None  # canonical atoms to start from (kept as given)

    def validate(self, max_atoms: int) -> None:
        """Raise ValueError with a one-line message for settings that cannot be sampled."""
        if not 1 <= self.n <= 1_000_000:
            raise ValueError(f"number of molecules must be 1..1,000,000, got {self.n}")
        if not 1 <= self.batch_size <= 10_000:
            raise ValueError(f"batch size must be 1..10,000, got {self.batch_size}")
        if not 1 <= self.steps <= 1000:
            raise ValueError(f"denoising steps must be 1..1000, got {self.steps}")
        for name, v in (("CFG scale", self.cfg_scale), ("temperature", self.temperature),
                        ("coordinate temperature", self.coord_temperature)):
            if not np.isfinite(v) or v < 0 or v > 100:
                raise ValueError(f"{name} must be a finite number in 0..100, got {v}")
        if self.temperature == 0:
            raise ValueError("temperature must be positive")
        check_group_names(list(self.present) + list(self.absent))
        both = set(self.present) & set(self.absent)
        if both:
            raise ValueError(f"group {sorted(both)[0]!r} is asked to be both present and absent")
        if self.prefix is not None and len(self.prefix) >= max_atoms:
            raise ValueError(f"prefix has {len(self.prefix)} atoms; the model places at most {max_atoms}")


@dataclass
class Trajectory:
    """Steps of one molecule: probs (S, 6) type distribution sampled from, types (S,) chosen
    (EOS last when finished), coords (S, 3) Å (NaN for EOS), paths (S, K+1, 3) or None."""

    probs: np.ndarray
    types: np.ndarray
    coords: np.ndarray
    paths: np.ndarray | None = None
    n_prefix: int = 0

    @property
    def finished(self) -> bool:
        return bool(len(self.types)) and int(self.types[-1]) == EOS


@dataclass
class SampleResult:
    """Molecules (canonical order and frame, Å) with one trajectory each, and the settings used."""

    molecules: list[Molecule]
    trajectories: list[Trajectory]
    settings: SampleSettings = field(repr=False, default=None)


@dataclass(frozen=True)
class Part:
    """Molecules ``start … start + count − 1`` of the request ``settings`` (one slice of a batch)."""

    settings: SampleSettings
    start: int
    count: int


def row_noise(seed: int, rows: range, length: int) -> tuple[torch.Tensor, torch.Tensor]:
    """All randomness of molecules ``rows`` of a request: uniforms (R, length) for the types and
    standard normals (R, length, 3) for the coordinate start noise; row k from its own CPU
    generator seeded by ``(seed, k)`` (so the same on every device and in every batch)."""
    u, noise = torch.empty(len(rows), length), torch.empty(len(rows), length, 3)
    for i, k in enumerate(rows):
        state = np.random.SeedSequence([int(seed), int(k)]).generate_state(2, np.uint32)
        gen = torch.Generator().manual_seed(int(state[0]) << 32 | int(state[1]))
        u[i] = torch.rand(length, generator=gen)
        noise[i] = torch.randn(length, 3, generator=gen)
    return u, noise


def _group_states(groups: tuple[str, ...], s: SampleSettings) -> torch.Tensor:
    """(G,) condition states; CFG scale 0 is the unconditional model (all unspecified)."""
    states = torch.zeros(len(groups), dtype=torch.long)
    if s.cfg_scale == 0.0:
        return states
    for name in s.present:
        states[groups.index(name)] = PRESENT
    for name in s.absent:
        states[groups.index(name)] = ABSENT
    return states


@dataclass
class _Rows:
    """Per-row settings of a batch of b molecules (P = longest prefix, S = steps + 1)."""

    groups: torch.Tensor  # (b, G) condition states
    scale: torch.Tensor  # (b,) CFG scale
    guided: torch.Tensor  # (b,) bool: has a guidance twin row
    temperature: torch.Tensor  # (b,)
    coord_temperature: torch.Tensor  # (b,)
    n_prefix: torch.Tensor  # (b,) int
    prefix_types: torch.Tensor  # (b, P) int
    prefix_coords: torch.Tensor  # (b, P, 3) Å
    uniforms: torch.Tensor  # (b, S)
    noise: torch.Tensor  # (b, S, 3)

    @classmethod
    def build(cls, model: InertialAR, parts: list[Part], device) -> _Rows:
        groups, scale, temp, ctemp, n_pre, pre_t, pre_c, uni, noi = [], [], [], [], [], [], [], [], []
        length = model.cfg.max_atoms + 1
        for p in parts:
            s = p.settings
            groups.append(_group_states(tuple(model.cfg.groups), s).expand(p.count, -1))
            scale.append(torch.full((p.count,), float(s.cfg_scale)))
            temp.append(torch.full((p.count,), float(s.temperature)))
            ctemp.append(torch.full((p.count,), float(s.coord_temperature)))
            types, coords = (molecule_to_tokens(s.prefix) if s.prefix is not None
                             else (np.zeros(0, np.int64), np.zeros((0, 3))))
            n_pre.append(torch.full((p.count,), len(types), dtype=torch.long))
            pre_t.append(torch.as_tensor(types, dtype=torch.long).expand(p.count, -1))
            pre_c.append(torch.as_tensor(coords, dtype=torch.float32).expand(p.count, -1, -1))
            u, x = row_noise(s.seed, range(p.start, p.start + p.count), length)
            uni.append(u), noi.append(x)
        width = max(t.shape[1] for t in pre_t)
        pre_t = [torch.nn.functional.pad(t, (0, width - t.shape[1])) for t in pre_t]
        pre_c = [torch.nn.functional.pad(c, (0, 0, 0, width - c.shape[1])) for c in pre_c]
        groups_t, scale_t = torch.cat(groups), torch.cat(scale)
        guided = groups_t.any(1) & (scale_t != 1.0)  # scale 1 is the conditional model alone
        return cls(*(t.to(device) for t in (groups_t, scale_t, guided, torch.cat(temp), torch.cat(ctemp),
                                            torch.cat(n_pre), torch.cat(pre_t), torch.cat(pre_c),
                                            torch.cat(uni), torch.cat(noi))))


def _pick(probs: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """Inverse-CDF draw: probs (b, V), u (b,) in [0, 1) → (b,) index, never a zero-probability one."""
    below = (probs.cumsum(-1) <= u.unsqueeze(1)).sum(-1)  # (b,)
    vocab = torch.arange(probs.shape[1], device=probs.device)
    last = torch.where(probs > 0, vocab, torch.zeros_like(vocab)).max(-1).values  # rounding guard
    return torch.minimum(below, last)


@torch.no_grad()
def _heun(model: InertialAR, zc: torch.Tensor, x: torch.Tensor, steps: int, guided: torch.Tensor,
          scale: torch.Tensor, record: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``DiffusionHead.integrate`` (Heun) from given start points with per-row guidance.

    zc (m + g, Z): conditions of the m rows, then unconditional twins of the g rows where
    ``guided`` (m,) is True; x (m, 3) Å start points (noise · σ_max · temperature); scale (m,).
    Returns x (m, 3) Å and, if ``record``, the path (steps + 1, m, 3); ``tests/test_service.py``
    checks that it agrees with ``DiffusionHead.sample``."""
    head = model.diffusion
    g_idx = guided.nonzero().squeeze(1)
    s_g = scale[g_idx].unsqueeze(1)  # (g, 1)

    def d_of(x_: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        xs = torch.cat([x_, x_[g_idx]])
        d = head.denoise(xs, s.expand(len(xs)), zc)
        d_c, d_u = d[: len(x_)], d[len(x_):]
        if len(g_idx):
            d_c = d_c.index_copy(0, g_idx, d_u + s_g * (d_c[g_idx] - d_u))
        return d_c

    return head.integrate(x, d_of, steps, record)


@torch.no_grad()
def sample_parts(model: InertialAR, parts: list[Part], device,
                 on_step: Callable[[int], None] | None = None) -> list[list[Trajectory]]:
    """One batch of several requests' molecules; the trajectories of each part, in order.

    Every part must share ``steps`` and ``record_denoising``; everything else is per row."""
    steps, record = parts[0].settings.steps, parts[0].settings.record_denoising
    if any(p.settings.steps != steps or p.settings.record_denoising != record for p in parts):
        raise ValueError("parts of one batch must share Heun steps and record_denoising")
    device = torch.device(device)
    r = _Rows.build(model, parts, device)
    b = len(r.scale)
    g_rows = r.guided.nonzero().squeeze(1)  # rows with an unconditional twin at b + position
    twin = torch.full((b,), -1, dtype=torch.long, device=device)
    twin[g_rows] = b + torch.arange(len(g_rows), device=device)
    groups = torch.cat([r.groups, torch.zeros_like(r.groups[g_rows])])  # (b + g, G)
    max_atoms = model.cfg.max_atoms

    cache = model.new_cache(len(groups))
    z = model.condition_step(groups, cache)  # (b + g, C)
    probs_t, types_t, coords_t, paths_t = [], [], [], []
    done = torch.zeros(b, dtype=torch.bool, device=device)
    rows = torch.arange(b, device=device)
    for t in range(max_atoms + 1):
        logits = model.type_logits(z)  # (b + g, 6)
        lc = logits[:b]
        if len(g_rows):
            lu = logits[b:]
            lc = lc.index_copy(0, g_rows, lu + r.scale[g_rows].unsqueeze(1) * (lc[g_rows] - lu))
        if t == 0:  # a molecule has at least one atom
            lc = lc.clone()
            lc[:, EOS] = float("-inf")
        probs = torch.softmax(lc / r.temperature.unsqueeze(1), dim=-1)  # (b, 6)
        in_prefix = t < r.n_prefix  # (b,)
        chosen = _pick(probs, r.uniforms[:, t])
        if r.prefix_types.shape[1] > t:
            chosen = torch.where(in_prefix, r.prefix_types[:, t], chosen)
        if t == max_atoms:
            chosen = torch.full_like(chosen, EOS)
        chosen = torch.where(done, torch.full_like(chosen, EOS), chosen)
        coords = torch.full((b, 3), float("nan"), device=device)
        active = chosen != EOS
        path = None
        fixed = (active & in_prefix).nonzero().squeeze(1)
        if len(fixed):
            coords[fixed] = r.prefix_coords[fixed, t]
        free = (active & ~in_prefix).nonzero().squeeze(1)  # (m,) rows whose coordinates are sampled
        if len(free):
            g_free = r.guided[free]
            idx = torch.cat([free, twin[free[g_free]]])
            zc = model.coordinate_condition(z[idx], chosen[torch.cat([free, free[g_free]])])
            x0 = r.noise[free, t] * model.diffusion.sigmas(steps, device)[0] * r.coord_temperature[free].unsqueeze(1)
            x, path_a = _heun(model, zc, x0, steps, g_free, r.scale[free], record)
            coords[free] = x
            if path_a is not None:
                path = torch.full((steps + 1, b, 3), float("nan"), device=device)
                path[:, free] = path_a
        probs_t.append(probs), types_t.append(chosen), coords_t.append(coords), paths_t.append(path)
        done |= chosen == EOS
        if on_step is not None:
            on_step(t)
        if bool(done.all()):
            break
        feed_types = chosen.clamp(max=EOS - 1)
        feed_coords = torch.nan_to_num(coords)
        z = model.atom_step(feed_types[torch.cat([rows, g_rows])], feed_coords[torch.cat([rows, g_rows])], cache)

    probs = torch.stack(probs_t, 1).cpu().numpy()  # (b, S, 6)
    types = torch.stack(types_t, 1).cpu().numpy()  # (b, S)
    coords = torch.stack(coords_t, 1).cpu().numpy()  # (b, S, 3)
    n_prefix = r.n_prefix.cpu().numpy()
    out, i = [], 0
    for p in parts:
        trajs = []
        for _ in range(p.count):
            eos = np.flatnonzero(types[i] == EOS)
            n = int(eos[0]) + 1 if eos.size else types.shape[1]
            paths = None
            if record:
                paths = np.stack([q[:, i].cpu().numpy() if q is not None else np.full((steps + 1, 3), np.nan)
                                  for q in paths_t[:n]])
            trajs.append(Trajectory(probs[i, :n], types[i, :n], coords[i, :n], paths, int(n_prefix[i])))
            i += 1
        out.append(trajs)
    return out


def to_result(settings: SampleSettings, trajectories: list[Trajectory]) -> SampleResult:
    """Molecules from a request's trajectories (in row order)."""
    molecules = [tokens_to_molecule(tr.types, tr.coords, f"sample {k} seed {settings.seed}")
                 for k, tr in enumerate(trajectories)]
    return SampleResult(molecules, trajectories, settings)


def sample(model: InertialAR, settings: SampleSettings,
           progress: Callable[[float], None] | None = None) -> SampleResult:
    """Sample ``settings.n`` molecules, ``batch_size`` at a time; same settings and seed →
    the same molecules (whatever the batch size: see the reproducibility rule above)."""
    settings.validate(model.cfg.max_atoms)
    device = torch.device(settings.device)
    model = model.to(device).eval()
    trajectories: list[Trajectory] = []
    total_steps = settings.n * (model.cfg.max_atoms + 1)
    while len(trajectories) < settings.n:
        b = min(settings.batch_size, settings.n - len(trajectories))
        done_before = len(trajectories)

        def on_step(t: int, done_before: int = done_before, b: int = b) -> None:
            if progress is not None:
                progress(min(1.0, (done_before * (model.cfg.max_atoms + 1) + b * (t + 1)) / total_steps))

        (part,) = sample_parts(model, [Part(settings, done_before, b)], device, on_step)
        trajectories += part
    if progress is not None:
        progress(1.0)
    return to_result(settings, trajectories)
