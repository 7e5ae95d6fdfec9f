"""GeoRoPE: geometry in attention scores — RoPE-3D plus Nyström distance features.

InertialAR (arXiv 2510.27497) combines two encodings whose inner products enter attention:

* **RoPE-3D.** A head's rotary pairs are split across x, y and z; pair j of axis a rotates by
  angle ``p_a · ω_j`` with ``ω_j = ω_max · θ^(−j/P)`` (rad/Å). Rotating queries and keys by their
  own positions makes ``q·k`` depend on the relative position ``p_q − p_k`` only.
  With ω_max = 4 rad/Å and θ = 100 the wavelengths run from 1.6 Å (bond scale) to ~60 Å.
* **Nyström distance features.** For a Gaussian kernel ``k(x, y) = exp(−|x−y|²/2σ²)`` and fixed
  landmarks Z (a regular grid, Å), ``φ(x) = k(x, Z) L⁻ᵀ`` with ``K(Z, Z) = L Lᵀ`` gives
  ``φ(x)·φ(y) ≈ k(x, y)``. The reference release uses σ = 0.1 Å, where the features vanish for
  real atoms; we use several σ in 0.75–3 Å, and each head learns a weight per σ, so the
  attention score gains ``Σ_s α_hs φ_s(x_q)·φ_s(x_k)``, a learned function of the distance.
* **Exact kernel** (``ExactKernel``, a ``BackboneConfig`` choice next to Nyström). Sequences are
  ≤ 32 tokens, so the Gaussian kernel of the pairwise distances is cheap to compute exactly; the
  KV cache then holds positions instead of features.

Numerics: φ(q)·φ(k) rebuilds kernel values in [0, 1] by cancellation through an ill-conditioned
factor L⁻ᵀ (entries up to ~360 for σ = 3 Å), which bf16 destroys (Gram errors > 100). So every
geometric computation here runs in fp32 even under autocast (``full_precision``).

Pure functions and two small modules holding the fixed kernel settings.
"""

from __future__ import annotations

from contextlib import AbstractContextManager

import torch
from torch import nn


def full_precision(t: torch.Tensor) -> AbstractContextManager:
    """A region where autocast is off, so geometry stays fp32 (inputs must be cast by the caller)."""
    return torch.autocast(t.device.type, enabled=False)


def rope_frequencies(pairs_per_axis: int, omega_max: float = 4.0, theta: float = 100.0) -> torch.Tensor:
    """Angular frequencies (P,) in rad/Å, from omega_max down geometrically by θ."""
    j = torch.arange(pairs_per_axis, dtype=torch.float32)
    return omega_max * theta ** (-j / pairs_per_axis)


def rope3d_angles(pos: torch.Tensor, freqs: torch.Tensor, n_pairs: int) -> tuple[torch.Tensor, torch.Tensor]:
    """cos, sin (..., n_pairs) fp32 for positions (..., 3) Å; pairs beyond 3·P stay unrotated."""
    pos, freqs = pos.float(), freqs.float()
    ang = (pos.unsqueeze(-1) * freqs).flatten(-2)  # (..., 3P): x pairs, then y, then z
    pad = n_pairs - ang.shape[-1]
    if pad < 0:
        raise ValueError(f"{ang.shape[-1]} rotary pairs do not fit a head with {n_pairs} pairs")
    ang = nn.functional.pad(ang, (0, pad))
    return ang.cos(), ang.sin()


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate x (B, H, T, D) by angles (B, 1, T, D/2); pair j = (x[j], x[j + D/2]).

    The rotation runs in fp32 and the result comes back in x's dtype."""
    with full_precision(x):
        x1, x2 = x.float().chunk(2, dim=-1)
        return torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1).to(x.dtype)


def landmark_grid(n_per_axis: int, extent: float) -> torch.Tensor:
    """A regular grid of n³ landmarks (n³, 3) covering the cube ±extent Å."""
    ticks = torch.linspace(-extent, extent, n_per_axis, dtype=torch.float64)
    return torch.cartesian_prod(ticks, ticks, ticks)


def gaussian_kernel(x: torch.Tensor, y: torch.Tensor, sigma: float) -> torch.Tensor:
    """k(x, y) = exp(−|x − y|² / 2σ²) for x (..., N, 3), y (M, 3) Å → (..., N, M)."""
    d2 = (x.unsqueeze(-2) - y).pow(2).sum(-1)
    return torch.exp(-d2 / (2 * sigma**2))


class NystromFeatures(nn.Module):
    """φ_s(x) for several kernel widths σ_s: positions (..., 3) Å → features (..., S, M)."""

    def __init__(self, sigmas: tuple[float, ...], n_per_axis: int = 6, extent: float = 5.0):
        super().__init__()
        self.sigmas = tuple(float(s) for s in sigmas)
        z = landmark_grid(n_per_axis, extent)  # (M, 3) Å
        factors = []
        for s in self.sigmas:
            w = gaussian_kernel(z, z, s) + 1e-6 * torch.eye(len(z), dtype=z.dtype)
            chol = torch.linalg.cholesky(w)
            factors.append(torch.linalg.inv(chol).T)  # L⁻ᵀ (M, M)
        # Fixed, not learned: saved with the weights so checkpoints are self-contained.
        self.register_buffer("landmarks", z.float())
        self.register_buffer("inv_chol_t", torch.stack(factors).float())  # (S, M, M)

    def feature_shape(self) -> tuple[int, ...]:
        return (len(self.sigmas), len(self.landmarks))

    def forward(self, pos: torch.Tensor) -> torch.Tensor:
        """Positions (..., 3) Å → fp32 features (..., S, M)."""
        with full_precision(pos):
            d2 = (pos.float().unsqueeze(-2) - self.landmarks.float()).pow(2).sum(-1)  # (..., M) Å²
            sig = torch.tensor(self.sigmas, dtype=torch.float32, device=pos.device)
            k = torch.exp(-d2.unsqueeze(-2) / (2 * sig.view(-1, 1) ** 2))  # (..., S, M)
            return torch.einsum("...sm,smn->...sn", k, self.inv_chol_t.float())

    @staticmethod
    def gram(phi_q: torch.Tensor, phi_k: torch.Tensor) -> torch.Tensor:
        """Kernel values ≈ φ_s(q)·φ_s(k), fp32 (B, S, Tq, Tk), for φ (B, T, S, M)."""
        with full_precision(phi_q):
            return torch.einsum("bqsm,bksm->bsqk", phi_q.float(), phi_k.float())


def mix_kernels(alpha: torch.Tensor, gram: torch.Tensor) -> torch.Tensor:
    """Attention bias (B, H, Tq, Tk) fp32 = Σ_s α_hs gram_s, for α (H, S) and gram (B, S, Tq, Tk)."""
    with full_precision(gram):
        return torch.einsum("hs,bsqk->bhqk", alpha.float(), gram)


def distance_bias(phi_q: torch.Tensor, phi_k: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    """Attention bias (B, H, Tq, Tk) fp32 = Σ_s α_hs φ_s(q)·φ_s(k); φ (B, T, S, M), α (H, S)."""
    return mix_kernels(alpha, NystromFeatures.gram(phi_q, phi_k))


class ExactKernel(nn.Module):
    """The exact Gaussian kernels of pairwise distances; its "features" are the positions (..., 3) Å."""

    def __init__(self, sigmas: tuple[float, ...]):
        super().__init__()
        self.sigmas = tuple(float(s) for s in sigmas)

    def feature_shape(self) -> tuple[int, ...]:
        return (3,)

    def forward(self, pos: torch.Tensor) -> torch.Tensor:
        return pos.float()

    def gram(self, pos_q: torch.Tensor, pos_k: torch.Tensor) -> torch.Tensor:
        """exp(−|p_q − p_k|²/2σ_s²), fp32 (B, S, Tq, Tk), for positions (B, T, 3) Å."""
        with full_precision(pos_q):
            d2 = (pos_q.float().unsqueeze(2) - pos_k.float().unsqueeze(1)).pow(2).sum(-1)  # (B, Tq, Tk) Å²
            inv = torch.tensor([1 / (2 * s**2) for s in self.sigmas], device=pos_q.device)
            return torch.exp(-d2.unsqueeze(1) * inv.view(1, -1, 1, 1))


def fourier_features(x: torch.Tensor, n_freqs: int, max_freq: float = 8.0) -> torch.Tensor:
    """[sin, cos](2^k-spaced ω x) for x (..., C) → fp32 (..., 2·C·n_freqs); ω up to max_freq rad/unit."""
    with full_precision(x):
        freqs = max_freq * 2.0 ** (-torch.arange(n_freqs, device=x.device, dtype=torch.float32))
        ang = (x.float().unsqueeze(-1) * freqs).flatten(-2)
        return torch.cat([ang.sin(), ang.cos()], dim=-1)

