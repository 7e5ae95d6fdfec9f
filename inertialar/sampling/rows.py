"""One batch of draws as the sampler sees it: per-row settings, pre-drawn noise, guidance twins.

A batch holds slices (``sampler.Part``) of several requests; every row (one draw) carries its
own settings (CFG scale, temperatures, nucleus, churn, σ_max, prefix) as tensors, and all of its
randomness drawn up front from generators seeded by ``(seed, k)`` and ``(seed, k, kind)``, so a
molecule never depends on its batch (the reproducibility rule in ``inertialar.sampling.sampler``). Rows with
guidance get an unconditional twin row in the model's batch; ``BatchRows`` owns that indexing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from inertialar.data.tokenizer import molecule_to_tokens
from inertialar.nn.diffusion import Guide
from inertialar.nn.model import ABSENT, PRESENT, InertialAR
from inertialar.sampling.settings import Part, SampleSettings


@dataclass
class RowNoise:
    """All randomness of some rows: uniforms (R, L) for the types; start normals (R, A, L, 3) for
    attempt 0 and the A − 1 redraws; churn normals (R, A, L, K, 3) or None; probe normals
    (R, L, 3) or None (L = max atoms + 1, K = Heun steps)."""

    uniforms: torch.Tensor
    start: torch.Tensor
    churn: torch.Tensor | None
    probe: torch.Tensor | None


def _generator(*key: int) -> torch.Generator:
    state = np.random.SeedSequence([int(k) for k in key]).generate_state(2, np.uint32)
    return torch.Generator().manual_seed(int(state[0]) << 32 | int(state[1]))


def row_noise(seed: int, rows: range, length: int, attempts: int = 1, churn_steps: int = 0,
              probe: bool = False) -> RowNoise:
    """Noise of rows (draws) ``rows`` of a request; row k from CPU generators seeded by
    ``(seed, k)`` (types, first start noise) and ``(seed, k, kind)`` (redraws 1, churn 2,
    probe 3), so the same on every device and in every batch."""
    r = len(rows)
    u, start = torch.empty(r, length), torch.empty(r, attempts, length, 3)
    ch = torch.empty(r, attempts, length, churn_steps, 3) if churn_steps else None
    pr = torch.empty(r, length, 3) if probe else None
    for i, k in enumerate(rows):
        gen = _generator(seed, k)
        u[i] = torch.rand(length, generator=gen)
        start[i, 0] = torch.randn(length, 3, generator=gen)
        if attempts > 1:
            start[i, 1:] = torch.randn(attempts - 1, length, 3, generator=_generator(seed, k, 1))
        if ch is not None:
            ch[i] = torch.randn(attempts, length, churn_steps, 3, generator=_generator(seed, k, 2))
        if pr is not None:
            pr[i] = torch.randn(length, 3, generator=_generator(seed, k, 3))
    return RowNoise(u, start, ch, pr)


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


def _per_row(parts: list[Part], value) -> torch.Tensor:
    """(b,) float tensor of ``value(settings)`` repeated over each part's rows."""
    return torch.cat([torch.full((p.count,), float(value(p.settings))) for p in parts])


@dataclass
class BatchRows:
    """Per-row settings of a batch of b draws (P = longest prefix) and their guidance twins: the
    g guided rows get unconditional twins at positions b … b + g − 1 of the model's batch."""

    groups: torch.Tensor  # (b, G) condition states
    scale: torch.Tensor  # (b,) CFG scale
    guided: torch.Tensor  # (b,) bool: has a guidance twin row
    twin: torch.Tensor  # (b,) index of the twin row (−1: none)
    temperature: torch.Tensor  # (b,)
    top_p: torch.Tensor  # (b,)
    coord_temperature: torch.Tensor  # (b,)
    churn: torch.Tensor  # (b,)
    churn_temperature: torch.Tensor  # (b,)
    sigma_max: torch.Tensor  # (b,) Å
    row_draws: torch.Tensor  # (b,) int: coordinate candidates per atom of each row
    coord_draws: int  # the batch's largest
    redraws: int  # the batch's largest
    probe: bool  # measure the denoiser probe error (a ranking score or candidate choice needs it)
    n_prefix: torch.Tensor  # (b,) int
    prefix_types: torch.Tensor  # (b, P) int
    prefix_coords: torch.Tensor  # (b, P, 3) Å
    noise: RowNoise

    @classmethod
    def build(cls, model: InertialAR, parts: list[Part], steps: int, device) -> BatchRows:
        """The rows of ``parts`` (in order) on ``device``; the noise bank has room for every
        candidate draw and redraw any part asks for, and churn noise for ``steps`` if needed."""

        length = model.cfg.max_atoms + 1
        redraws = max(p.settings.redraws for p in parts)
        coord_draws = max(p.settings.coord_draws for p in parts)
        churn_steps = steps if any(p.settings.churn > 0 for p in parts) else 0
        probe = coord_draws > 1 or any(p.settings.needs_probe for p in parts)
        groups, n_pre, pre_t, pre_c, noises = [], [], [], [], []
        for p in parts:
            s = p.settings
            groups.append(_group_states(tuple(model.cfg.groups), s).expand(p.count, -1))
            types, coords = (molecule_to_tokens(s.prefix, model.cfg.elements) if s.prefix is not None
                             else (np.zeros(0, np.int64), np.zeros((0, 3))))
            n_pre.append(torch.full((p.count,), len(types), dtype=torch.long))
            pre_t.append(torch.as_tensor(types, dtype=torch.long).expand(p.count, -1))
            pre_c.append(torch.as_tensor(coords, dtype=torch.float32).expand(p.count, -1, -1))
            noises.append(row_noise(s.seed, range(p.start, p.start + p.count), length, coord_draws + redraws,
                                    churn_steps, probe))
        width = max(t.shape[1] for t in pre_t)
        pre_t = [torch.nn.functional.pad(t, (0, width - t.shape[1])) for t in pre_t]
        pre_c = [torch.nn.functional.pad(c, (0, 0, 0, width - c.shape[1])) for c in pre_c]
        groups_t, scale = torch.cat(groups), _per_row(parts, lambda s: s.cfg_scale)
        guided = groups_t.any(1) & (scale != 1.0)  # scale 1 is the conditional model alone
        b = len(scale)
        twin = torch.full((b,), -1, dtype=torch.long)
        twin[guided] = b + torch.arange(int(guided.sum()))
        sigma_max = _per_row(parts, lambda s: model.cfg.diffusion.sigma_max if s.sigma_max is None else s.sigma_max)
        noise = RowNoise(*(None if x[0] is None else torch.cat(x).to(device) for x in
                           zip(*((q.uniforms, q.start, q.churn, q.probe) for q in noises))))
        dev = lambda t: t.to(device)  # noqa: E731
        return cls(dev(groups_t), dev(scale), dev(guided), dev(twin), dev(_per_row(parts, lambda s: s.temperature)),
                   dev(_per_row(parts, lambda s: s.top_p)), dev(_per_row(parts, lambda s: s.coord_temperature)),
                   dev(_per_row(parts, lambda s: s.churn)), dev(_per_row(parts, lambda s: s.churn_temperature)),
                   dev(sigma_max), dev(_per_row(parts, lambda s: s.coord_draws).long()), coord_draws, redraws, probe,
                   dev(torch.cat(n_pre)), dev(torch.cat(pre_t)),
                   dev(torch.cat(pre_c)), noise)

    @property
    def model_rows(self) -> torch.Tensor:
        """Rows of the model's batch: the b draws, then the twins' source rows (b + g,)."""
        return torch.cat([torch.arange(len(self.scale), device=self.scale.device), self.guided.nonzero().squeeze(1)])

    def guide(self, rows: torch.Tensor) -> tuple[Guide, torch.Tensor]:
        """Guidance of a subset ``rows`` (m,) and the model-batch indices of their conditions
        then their twins (m + g,)."""
        g = self.guided[rows]
        return Guide(g.nonzero().squeeze(1), self.scale[rows[g]]), torch.cat([rows, self.twin[rows[g]]])
