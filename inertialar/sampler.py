"""Autoregressive sampling with a key/value cache, guidance, prefixes and recorded trajectories.

Each step feeds one token per molecule through the cached backbone, samples the next type from
the (guided, temperature-scaled) type distribution, then samples that atom's coordinates with
the diffusion head, batched over all unfinished molecules. With classifier-free guidance the
batch is doubled (conditional rows, then unconditional rows with every group unspecified) and
both type logits and denoiser outputs are mixed as ``u + s·(c − u)``. Every step is recorded
(type probabilities, chosen type, coordinates, optionally the denoising path) for the app.
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


@dataclass
class SampleSettings:
    """What to sample. Molecules are drawn batch after batch from one generator seeded with
    ``seed``, so the same settings (batch_size included) give identical molecules."""

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


def _group_states(model: InertialAR, s: SampleSettings) -> torch.Tensor:
    states = torch.zeros(len(model.cfg.groups), dtype=torch.long)
    for name in s.present:
        states[model.cfg.groups.index(name)] = PRESENT
    for name in s.absent:
        states[model.cfg.groups.index(name)] = ABSENT
    return states


@torch.no_grad()
def _sample_batch(model: InertialAR, s: SampleSettings, b: int, gen: torch.Generator, device,
                  on_step: Callable[[int], None]) -> list[Trajectory]:
    cond = _group_states(model, s).to(device).expand(b, -1)
    scale = s.cfg_scale
    if scale == 0.0:  # guidance scale 0 is the unconditional model
        cond = torch.zeros_like(cond)
    guided = bool(cond.any()) and scale != 1.0  # scale 1 is the conditional model alone
    groups = torch.cat([cond, torch.zeros_like(cond)]) if guided else cond
    rows = len(groups)
    max_atoms = model.cfg.max_atoms
    prefix_types, prefix_coords = (molecule_to_tokens(s.prefix) if s.prefix is not None
                                   else (np.zeros(0, np.int64), np.zeros((0, 3))))
    n_prefix = len(prefix_types)

    cache = model.new_cache(rows)
    z = model.condition_step(groups, cache)  # (rows, C)
    probs_t, types_t, coords_t, paths_t = [], [], [], []
    done = torch.zeros(b, dtype=torch.bool, device=device)
    for t in range(max_atoms + 1):
        logits = model.type_logits(z)
        if guided:
            lc, lu = logits.chunk(2)
            logits = lu + scale * (lc - lu)
        if t == 0:  # a molecule has at least one atom
            logits[:, EOS] = float("-inf")
        probs = torch.softmax(logits / s.temperature, dim=-1)  # (b, 6)
        if t < n_prefix:
            chosen = torch.full((b,), int(prefix_types[t]), device=device)
        elif t == max_atoms:
            chosen = torch.full((b,), EOS, device=device)
        else:
            chosen = torch.multinomial(probs, 1, generator=gen).squeeze(1)
        chosen = torch.where(done, torch.full_like(chosen, EOS), chosen)
        coords = torch.full((b, 3), float("nan"), device=device)
        active = (chosen != EOS).nonzero().squeeze(1)
        path = None
        if len(active) and t < n_prefix:
            coords[active] = torch.as_tensor(prefix_coords[t], dtype=coords.dtype, device=device)
        elif len(active):
            idx = torch.cat([active, active + b]) if guided else active
            zc = model.coordinate_condition(z[idx], chosen[active].repeat(2 if guided else 1))
            x, path_a = model.diffusion.sample(zc, gen, s.steps, s.coord_temperature,
                                               scale if guided else None, s.record_denoising)
            coords[active] = x
            if path_a is not None:
                path = torch.full((s.steps + 1, b, 3), float("nan"), device=device)
                path[:, active] = path_a
        probs_t.append(probs), types_t.append(chosen), coords_t.append(coords), paths_t.append(path)
        done |= chosen == EOS
        on_step(t)
        if bool(done.all()):
            break
        feed_types = chosen.clamp(max=EOS - 1)
        feed_coords = torch.nan_to_num(coords)
        if guided:
            feed_types, feed_coords = feed_types.repeat(2), feed_coords.repeat(2, 1)
        z = model.atom_step(feed_types, feed_coords, cache)

    probs = torch.stack(probs_t, 1).cpu().numpy()  # (b, S, 6)
    types = torch.stack(types_t, 1).cpu().numpy()  # (b, S)
    coords = torch.stack(coords_t, 1).cpu().numpy()  # (b, S, 3)
    out = []
    for i in range(b):
        eos = np.flatnonzero(types[i] == EOS)
        n = int(eos[0]) + 1 if eos.size else types.shape[1]
        paths = None
        if s.record_denoising:
            paths = np.stack([p[:, i].cpu().numpy() if p is not None else np.full((s.steps + 1, 3), np.nan)
                              for p in paths_t[:n]])
        out.append(Trajectory(probs[i, :n], types[i, :n], coords[i, :n], paths, n_prefix))
    return out


def sample(model: InertialAR, settings: SampleSettings,
           progress: Callable[[float], None] | None = None) -> SampleResult:
    """Sample ``settings.n`` molecules; same settings and seed → identical molecules."""
    settings.validate(model.cfg.max_atoms)
    device = torch.device(settings.device)
    model = model.to(device).eval()
    gen = torch.Generator(device=device).manual_seed(int(settings.seed))
    trajectories: list[Trajectory] = []
    total_steps = settings.n * (model.cfg.max_atoms + 1)
    while len(trajectories) < settings.n:
        b = min(settings.batch_size, settings.n - len(trajectories))
        done_before = len(trajectories)

        def on_step(t: int, done_before: int = done_before, b: int = b) -> None:
            if progress is not None:
                progress(min(1.0, (done_before * (model.cfg.max_atoms + 1) + b * (t + 1)) / total_steps))

        trajectories += _sample_batch(model, settings, b, gen, device, on_step)
    if progress is not None:
        progress(1.0)
    molecules = [tokens_to_molecule(tr.types, tr.coords, f"sample {k} seed {settings.seed}")
                 for k, tr in enumerate(trajectories)]
    return SampleResult(molecules, trajectories, settings)
