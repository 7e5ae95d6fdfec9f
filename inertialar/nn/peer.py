"""The equivariant peer: an EDM-style E(3)-equivariant diffusion model over whole molecules.

The method question it answers: a plain transformer on canonical tokens (InertialAR) against an
architecture with the symmetry built in (EDM, Hoogeboom et al. 2022), trained for the same CPU time
at about the same parameter count (``benchmarks/equivariant_peer.py``).

What it models: an atom count N from the training split's histogram (``atom_counts``), then the
coordinates x (N, 3) Å and the atom types, one-hot scaled by ``type_scale`` (EDM's 0.25), diffused
jointly with the same σ. The trunk is the polisher's EGNN (``nn.polisher.EGNNLayer``: rotation,
translation and permutation equivariant), trained here on the full noise range (σ log-normal,
``ln σ ~ N(p_mean, p_std²)`` in Å) instead of the polisher's low-noise band.

Preconditioning after Karras et al. 2022, one σ_data per part (coordinates ``sigma_data`` Å, types
``type_sigma_data``): D = c_skip·y + c_out·F(c_in·y; c_noise), loss weight (σ² + σ_d²)/(σ σ_d)².
The network reads coordinates scaled by c_in (so a noisy cloud has a molecule's extent) and the
scaled one-hot types by their own c_in. Coordinates and their noise live in the zero-centroid
subspace (EDM): molecules are centred, the noise and F projected to zero mean over real atoms.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from torch import nn

from inertialar.data.specs import DatasetSpec
from inertialar.nn.polisher import RBF, EGNNLayer, centre


@dataclass
class PeerConfig:
    """Size, noise distribution and atom-count histogram of a peer; σ in Å."""

    elements: tuple[str, ...]
    dataset: str
    atom_counts: tuple[int, ...] = ()  # training molecules with 0, 1, 2 … atoms (the N distribution)
    width: int = 176  # 176 × 5 layers: 993k parameters, about the small InertialAR of the comparison
    layers: int = 5
    rbf: int = 24
    rbf_max: float = 6.0  # Å
    sigma_data: float = 1.4  # Å, coordinate std of centred QM9 molecules
    type_scale: float = 0.25  # one-hot types × this (EDM's normalisation of categorical features)
    type_sigma_data: float = 0.125  # std of the scaled one-hot entries (≈ 0.25 · 0.5)
    p_mean: float = -0.9  # ln σ ~ N(p_mean, p_std²) in training (σ in Å: 95% within 0.04–4.4 Å)
    p_std: float = 1.2
    sigma_max: float = 10.0  # Å, where sampling starts
    sigma_min: float = 0.002  # Å, where sampling ends
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["elements"], d["atom_counts"] = list(self.elements), list(self.atom_counts)
        return d

    @classmethod
    def for_split(cls, spec: DatasetSpec, lengths: np.ndarray, **sizes) -> PeerConfig:
        """A peer of ``spec``'s vocabulary whose atom counts are the histogram of ``lengths`` (atoms per
        training molecule, (M,) int)."""
        hist = np.bincount(np.asarray(lengths, dtype=np.int64), minlength=spec.max_atoms + 1)
        return cls(elements=spec.elements, dataset=spec.name, atom_counts=tuple(int(c) for c in hist), **sizes)

    @classmethod
    def from_dict(cls, d: dict) -> PeerConfig:
        d = dict(d)
        d["elements"], d["atom_counts"] = tuple(d["elements"]), tuple(int(c) for c in d["atom_counts"])
        return cls(**d)


def scalings(sigma: torch.Tensor, sigma_data: float) -> tuple[torch.Tensor, ...]:
    """c_skip, c_out, c_in, loss weight for σ (B,)."""
    s2, d2 = sigma ** 2, sigma_data ** 2
    return d2 / (s2 + d2), sigma * sigma_data / (s2 + d2).sqrt(), 1 / (s2 + d2).sqrt(), (s2 + d2) / (sigma * sigma_data) ** 2


class Peer(nn.Module):
    """D(x, h; σ) for padded molecules: x (B, N, 3) Å, h (B, N, K) scaled one-hot, mask (B, N) bool, σ (B,) Å."""

    EVAL_SIGMAS = (0.1, 0.5, 2.0)  # Å, the fixed noise levels of its validation loss

    def __init__(self, cfg: PeerConfig):
        super().__init__()
        self.cfg = cfg
        w, k = cfg.width, len(cfg.elements)
        self.type_in = nn.Linear(k, w)
        self.time = nn.Sequential(nn.Linear(16, w), nn.SiLU(), nn.Linear(w, w))
        self.rbf = RBF(cfg.rbf, cfg.rbf_max)
        self.layers = nn.ModuleList(EGNNLayer(w, cfg.rbf) for _ in range(cfg.layers))
        self.type_out = nn.Sequential(nn.LayerNorm(w), nn.Linear(w, k))
        self.register_buffer("freqs", torch.arange(1, 9, dtype=torch.float32) * math.pi / 2, persistent=False)

    def forward(self, x: torch.Tensor, h: torch.Tensor, mask: torch.Tensor,
                sigma: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Denoised coordinates (B, N, 3) Å (centred) and denoised scaled one-hot types (B, N, K)."""
        x, _ = centre(x, mask)
        fm = mask.to(x.dtype)
        skip_x, out_x, in_x, _ = (c[:, None, None] for c in scalings(sigma, self.cfg.sigma_data))
        skip_h, out_h, in_h, _ = (c[:, None, None] for c in scalings(sigma, self.cfg.type_sigma_data))
        angles = (sigma.log() / 4)[:, None] * self.freqs  # c_noise = ln σ / 4 → (B, 8)
        t = self.time(torch.cat([angles.sin(), angles.cos()], -1))  # (B, W)
        pairs = fm[:, :, None] * fm[:, None] * (1 - torch.eye(x.shape[1], device=x.device, dtype=x.dtype))
        z = (self.type_in(h * in_h) + t[:, None]) * fm[..., None]  # (B, N, W)
        y = x * in_x * self.cfg.sigma_data  # network space: a molecule's extent at every σ
        f = torch.zeros_like(x)
        for layer in self.layers:
            z, delta = layer(z, y, pairs, self.rbf, scale=10.0)
            delta = delta * fm[..., None]
            f = f + delta
            y = y + in_x * self.cfg.sigma_data * out_x * delta  # later layers see a partly denoised molecule
        f, _ = centre(f, mask)
        dx = (skip_x * x + out_x * f) * fm[..., None]
        dh = (skip_h * h + out_h * self.type_out(z)) * fm[..., None]
        return dx, dh

    def one_hot(self, types: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Type indices (B, N) → scaled one-hot (B, N, K), padding zero."""
        k = len(self.cfg.elements)
        return nn.functional.one_hot(types.clamp(0, k - 1), k).to(torch.float32) * self.cfg.type_scale * mask[..., None]

    def loss_at(self, types: torch.Tensor, x: torch.Tensor, mask: torch.Tensor, sigma: torch.Tensor,
                generator: torch.Generator | None = None) -> tuple[torch.Tensor, int]:
        """Sum of the EDM-weighted squared errors (coordinates and types) of clean molecules at σ (B,)
        Å, and the number of entries it sums (3 + K per real atom)."""
        x, _ = centre(x, mask)
        h = self.one_hot(types, mask)
        eps_x, _ = centre(torch.randn(x.shape, generator=generator, device=x.device), mask)
        eps_h = torch.randn(h.shape, generator=generator, device=x.device) * mask[..., None]
        s = sigma[:, None, None]
        dx, dh = self.forward(x + s * eps_x, h + s * eps_h, mask, sigma)
        w_x = scalings(sigma, self.cfg.sigma_data)[3][:, None]
        w_h = scalings(sigma, self.cfg.type_sigma_data)[3][:, None]
        err = w_x * ((dx - x) ** 2).sum(-1) + w_h * ((dh - h) ** 2).sum(-1)  # (B, N)
        return (err * mask).sum(), int(mask.sum()) * (3 + h.shape[-1])

    def loss(self, types: torch.Tensor, x: torch.Tensor, mask: torch.Tensor,
             generator: torch.Generator | None = None) -> torch.Tensor:
        """Mean weighted error at σ drawn log-normally per molecule (the training loss)."""
        ln = self.cfg.p_mean + self.cfg.p_std * torch.randn(len(x), generator=generator, device=x.device)
        total, count = self.loss_at(types, x, mask, ln.exp(), generator)
        return total / count
