"""The polisher: a whole-molecule E(3)-equivariant denoiser at low noise (dense, padded EGNN).

The autoregressive model places each atom once and never revisits it, so bond lengths come out a
little off. The polisher sees the whole molecule (every atom, both directions) and pulls it back
towards the data: it is a denoiser D(x; σ) trained on the training split at low noise only
(σ ≈ 0.005–0.5 Å), applied SDEdit-style after sampling (treat the sample as noisy at σ₀, then a
few Heun steps to σ = 0; ``sampling.polish``). Element types and atom count never change.

Network: EGNN layers (Satorras et al. 2021, as in EDM, Hoogeboom et al. 2022), written densely for
padded batches ``(B, N)``: m_ij = φ_e(h_i, h_j, rbf(‖x_i − x_j‖)), x_i += c_out Σ_j (x_i − x_j)/(d_ij + 1)
φ_x(m_ij), h_i += φ_h(h_i, Σ_j m_ij). The first layer of φ_e is split into per-atom products
(W_s h_i + W_d h_j) so the pair tensors cost one W×W product per pair. Coordinates move *inside*
the network by c_out·Δ, so later layers see a partly denoised molecule; the network's output is
F = Σ_layers Δ (unit scale), projected to zero mean over the real atoms (the noise it predicts is
centred too): translation invariant, rotation and permutation equivariant.

Preconditioning after EDM (Karras et al. 2022): D(x; σ) = c_skip x + c_out F(x; c_noise) with
c_skip = σ_d²/(σ² + σ_d²), c_out = σ σ_d/√(σ² + σ_d²), c_noise = ln(σ)/4, loss weight
(σ² + σ_d²)/(σ σ_d)². c_in is 1: the network reads inter-atomic distances, which stay in Å.
Because c_skip < 1, D(x + t) = D(x) + c_skip t: every molecule is centred (zero mean over its real
atoms) before denoising and moved back afterwards (``centre``).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import torch
from torch import nn


@dataclass
class PolisherConfig:
    """Size and noise range of a polisher; ``elements`` its vocabulary (token order), σ in Å."""

    elements: tuple[str, ...]
    dataset: str
    width: int = 128
    layers: int = 4
    rbf: int = 24  # Gaussian distance features, centres 0 … rbf_max Å
    rbf_max: float = 6.0  # Å
    sigma_data: float = 1.4  # Å, coordinate std of centred QM9 molecules
    sigma_min: float = 0.005  # Å, low end of the training noise range
    sigma_max: float = 0.5  # Å, high end
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["elements"] = list(self.elements)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> PolisherConfig:
        d = dict(d)
        d["elements"] = tuple(d["elements"])
        return cls(**d)


def centre(x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """x (B, N, 3) Å, mask (B, N) bool → (x minus its centroid over real atoms, padding zeroed; centroid (B, 1, 3))."""
    m = mask[..., None].to(x.dtype)
    c = (x * m).sum(1, keepdim=True) / m.sum(1, keepdim=True).clamp(min=1)
    return (x - c) * m, c


def edm_scalings(sigma: torch.Tensor, sigma_data: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """c_skip, c_out, c_noise for σ (B,) Å."""
    s2, d2 = sigma ** 2, sigma_data ** 2
    return d2 / (s2 + d2), sigma * sigma_data / (s2 + d2).sqrt(), sigma.log() / 4


class EGNNLayer(nn.Module):
    """One dense E(n)-equivariant message-passing layer on padded molecules."""

    def __init__(self, width: int, rbf: int):
        super().__init__()
        self.src = nn.Linear(width, width)  # φ_e's first layer, h_i part (+ bias)
        self.dst = nn.Linear(width, width, bias=False)  # … h_j part
        self.dist = nn.Linear(rbf, width, bias=False)  # … distance part
        self.edge = nn.Sequential(nn.SiLU(), nn.Linear(width, width), nn.SiLU())
        self.coord = nn.Linear(width, 1)
        nn.init.zeros_(self.coord.weight)  # zero-init: the layer starts by not moving atoms
        nn.init.zeros_(self.coord.bias)
        self.norm = nn.LayerNorm(width)
        self.node = nn.Sequential(nn.Linear(2 * width, width), nn.SiLU(), nn.Linear(width, width))

    def forward(self, h: torch.Tensor, x: torch.Tensor, pairs: torch.Tensor, rbf: nn.Module,
                scale: float) -> tuple[torch.Tensor, torch.Tensor]:
        """h (B, N, W), x (B, N, 3) Å, pairs (B, N, N) float (1 = two distinct real atoms) →
        new h (B, N, W), coordinate update Δ (B, N, 3) (unit scale)."""
        diff = x[:, :, None] - x[:, None]  # (B, N, N, 3) x_i − x_j, Å
        d = (diff.pow(2).sum(-1) + 1e-8).sqrt()  # (B, N, N) Å
        m = self.edge(self.src(h)[:, :, None] + self.dst(h)[:, None] + self.dist(rbf(d)))  # (B, N, N, W)
        m = m * pairs[..., None]
        w = self.coord(m).squeeze(-1) * pairs  # (B, N, N)
        delta = ((diff / (d[..., None] + 1.0)) * w[..., None]).sum(2) / scale  # (B, N, 3)
        h = h + self.node(torch.cat([self.norm(h), m.sum(2) / scale], -1))
        return h, delta


class RBF(nn.Module):
    """Gaussian features of distances: d (…) Å → (…, R), centres evenly on [0, d_max], width = spacing."""

    def __init__(self, n: int, d_max: float):
        super().__init__()
        self.register_buffer("centres", torch.linspace(0.0, d_max, n), persistent=False)
        self.gamma = 1.0 / (d_max / (n - 1)) ** 2

    def forward(self, d: torch.Tensor) -> torch.Tensor:
        return torch.exp(-self.gamma * (d[..., None] - self.centres) ** 2)


class Polisher(nn.Module):
    """D(x; σ) for padded molecules: types (B, N) long, x (B, N, 3) Å, mask (B, N) bool, σ (B,) Å."""

    EVAL_SIGMAS = (0.02, 0.1, 0.3)  # Å, the fixed noise levels of its validation loss

    def __init__(self, cfg: PolisherConfig):
        super().__init__()
        self.cfg = cfg
        w = cfg.width
        self.embed = nn.Embedding(len(cfg.elements), w)
        self.time = nn.Sequential(nn.Linear(16, w), nn.SiLU(), nn.Linear(w, w))
        self.rbf = RBF(cfg.rbf, cfg.rbf_max)
        self.layers = nn.ModuleList(EGNNLayer(w, cfg.rbf) for _ in range(cfg.layers))
        self.register_buffer("freqs", torch.arange(1, 9, dtype=torch.float32) * math.pi / 2, persistent=False)

    def forward(self, types: torch.Tensor, x: torch.Tensor, mask: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        """The denoised molecule D(x; σ) (B, N, 3) Å, in the frame of x (x need not be centred)."""
        x, c = centre(x, mask)
        c_skip, c_out, c_noise = edm_scalings(sigma, self.cfg.sigma_data)
        angles = c_noise[:, None] * self.freqs  # (B, 8)
        t = self.time(torch.cat([angles.sin(), angles.cos()], -1))  # (B, W)
        fm = mask.to(x.dtype)
        pairs = fm[:, :, None] * fm[:, None] * (1 - torch.eye(x.shape[1], device=x.device, dtype=x.dtype))
        h = (self.embed(types) + t[:, None]) * fm[..., None]  # (B, N, W)
        y = x
        out = torch.zeros_like(x)  # F, unit scale
        for layer in self.layers:
            h, delta = layer(h, y, pairs, self.rbf, scale=10.0)
            delta = delta * fm[..., None]
            out = out + delta
            y = y + c_out[:, None, None] * delta  # later layers see the partly denoised molecule
        out, _ = centre(out, mask)  # F in the zero-centroid subspace, where the (centred) noise lives
        d = c_skip[:, None, None] * x + c_out[:, None, None] * out
        return (d + c) * fm[..., None]

    def loss_at(self, types: torch.Tensor, x: torch.Tensor, mask: torch.Tensor, sigma: torch.Tensor,
                generator: torch.Generator | None = None) -> tuple[torch.Tensor, int]:
        """Sum of the EDM-weighted squared errors of clean molecules x (B, N, 3) Å denoised at σ (B,)
        Å, and the number of entries it sums (3 per real atom); the noise is centred like the molecules."""
        x, _ = centre(x, mask)
        eps, _ = centre(torch.randn(x.shape, generator=generator, device=x.device), mask)
        d = self.forward(types, x + sigma[:, None, None] * eps, mask, sigma)
        weight = (sigma ** 2 + self.cfg.sigma_data ** 2) / (sigma * self.cfg.sigma_data) ** 2  # (B,)
        err = ((d - x) ** 2).sum(-1) * mask  # (B, N) Å²
        return (weight[:, None] * err).sum(), 3 * int(mask.sum())

    def loss(self, types: torch.Tensor, x: torch.Tensor, mask: torch.Tensor,
             generator: torch.Generator | None = None) -> torch.Tensor:
        """The training loss: mean weighted error at σ log-uniform on [σ_min, σ_max] per molecule."""
        lo, hi = math.log(self.cfg.sigma_min), math.log(self.cfg.sigma_max)
        u = torch.rand(x.shape[0], generator=generator, device=x.device)
        total, count = self.loss_at(types, x, mask, torch.exp(lo + (hi - lo) * u), generator)
        return total / count
