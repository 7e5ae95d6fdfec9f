"""Diffusion-loss head: a small denoiser MLP that turns a hidden state into 3-D coordinates.

Design after MAR (LTH14/mar): residual MLP blocks with adaptive LayerNorm driven by
``condition = time embedding + Linear(z)``; adaLN and output layers start at zero so every block
starts as the identity. Noise and sampling follow EDM (Karras et al. 2022): preconditioning with
``σ_data`` (≈ 1.4 Å on QM9), ln σ ~ N(P_mean, P_std²), loss weight (σ² + σ_d²)/(σ σ_d)², and a
Heun sampler on the Karras σ schedule. Preconditioning, noise and the loss run in fp32 even
under autocast (only the MLP's matrix products may run in bf16). The seam is narrow: ``loss(target, z)`` and
``sample(z, noise, ...)`` with pre-drawn noise (so a molecule's randomness is its own); guidance
enters as a ``Guide`` (which rows have unconditional twins, at which scale) and ``cfg_mix``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from inertialar.nn.georope import fourier_features, full_precision

N_FREQS = 6  # Fourier features of the noisy coordinates fed to the denoiser
MAX_FREQ = 4.0  # rad per (c_in-scaled) unit


def cfg_mix(cond: torch.Tensor, uncond: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """Classifier-free guidance ``u + s·(c − u)``: cond, uncond (g, …), scale (g,) → (g, …)."""
    return uncond + scale.view(-1, *([1] * (cond.dim() - 1))) * (cond - uncond)


@dataclass(frozen=True)
class Guide:
    """Per-row guidance of m rows: ``rows`` (g,) the guided ones (their unconditional twins follow
    the m rows, in this order), ``scale`` (g,) their CFG scales."""

    rows: torch.Tensor
    scale: torch.Tensor

    def repeat(self, m: int, k: int) -> Guide:
        """The guidance of k stacked copies of the m rows (copy a at rows a·m … a·m + m − 1,
        its twins likewise after all k·m rows)."""
        return Guide(torch.cat([self.rows + a * m for a in range(k)]), self.scale.repeat(k))

    def mix(self, out: torch.Tensor, twins: torch.Tensor) -> torch.Tensor:
        """out (m, …) conditional outputs, twins (g, …) unconditional ones → guided (m, …)."""
        if not len(self.rows):
            return out
        return out.index_copy(0, self.rows, cfg_mix(out[self.rows], twins, self.scale))


@dataclass
class DiffusionConfig:
    """Denoiser size, EDM noise distribution (training) and Karras schedule (sampling); σ in Å."""

    width: int = 256
    depth: int = 3
    sigma_data: float = 1.4  # Å
    p_mean: float = -1.2
    p_std: float = 1.2
    noise_draws: int = 4  # noise samples per token in training
    sigma_min: float = 0.002  # Å
    sigma_max: float = 10.0  # Å; ~7 σ_data is far beyond the data
    rho: float = 7.0


class ResBlock(nn.Module):
    """LayerNorm → adaLN shift/scale → Linear-SiLU-Linear → gated residual."""

    def __init__(self, width: int):
        super().__init__()
        self.norm = nn.LayerNorm(width, elementwise_affine=False)
        self.mlp = nn.Sequential(nn.Linear(width, width), nn.SiLU(), nn.Linear(width, width))
        self.ada = nn.Sequential(nn.SiLU(), nn.Linear(width, 3 * width))
        nn.init.zeros_(self.ada[1].weight)  # zero adaLN: the block starts as the identity
        nn.init.zeros_(self.ada[1].bias)

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        shift, scale, gate = self.ada(c).chunk(3, dim=-1)
        return x + gate * self.mlp(self.norm(x) * (1 + scale) + shift)


class Denoiser(nn.Module):
    """F(c_in·x, c_noise, z): noisy coordinates (M, 3), σ (M,), hidden (M, Z) → (M, 3)."""

    def __init__(self, cfg: DiffusionConfig, z_width: int):
        super().__init__()
        w = cfg.width
        self.cfg = cfg
        self.inp = nn.Linear(3 + 2 * 3 * N_FREQS, w)
        self.time = nn.Sequential(nn.Linear(32, w), nn.SiLU(), nn.Linear(w, w))
        self.cond = nn.Linear(z_width, w)
        self.blocks = nn.ModuleList(ResBlock(w) for _ in range(cfg.depth))
        self.norm = nn.LayerNorm(w, elementwise_affine=False)
        self.final_ada = nn.Sequential(nn.SiLU(), nn.Linear(w, 2 * w))
        self.out = nn.Linear(w, 3)
        for layer in (self.final_ada[1], self.out):  # zero output: D(x) = c_skip·x at init
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def forward(self, x: torch.Tensor, c_noise: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        with full_precision(x):  # Fourier and time features in fp32
            feats = torch.cat([x.float(), fourier_features(x, N_FREQS, max_freq=MAX_FREQ)], dim=-1)
            half = torch.arange(16, device=x.device, dtype=torch.float32)
            t = c_noise.float().unsqueeze(-1) * torch.exp(-math.log(1000.0) * half / 16) * 1000.0
            temb = torch.cat([t.sin(), t.cos()], dim=-1)
        h = self.inp(feats)
        c = self.time(temb) + self.cond(z)
        for block in self.blocks:
            h = block(h, c)
        shift, scale = self.final_ada(c).chunk(2, dim=-1)
        return self.out(self.norm(h) * (1 + scale) + shift)


class DiffusionHead(nn.Module):
    """EDM-preconditioned denoiser D(x; σ, z) with its training loss and Heun sampler."""

    def __init__(self, cfg: DiffusionConfig, z_width: int):
        super().__init__()
        self.cfg = cfg
        self.net = Denoiser(cfg, z_width)

    def denoise(self, x: torch.Tensor, sigma: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """D(x; σ, z): x (M, 3) Å, σ (M,) Å, z (M, Z) → denoised (M, 3) Å, fp32."""
        sd = self.cfg.sigma_data
        with full_precision(x):
            x, s = x.float(), sigma.float().unsqueeze(-1)
            c_skip = sd**2 / (s**2 + sd**2)
            c_out = s * sd / (s**2 + sd**2).sqrt()
            c_in = 1 / (s**2 + sd**2).sqrt()
            x_in, c_noise = c_in * x, sigma.float().log() / 4
        f = self.net(x_in, c_noise, z)  # the MLP: bf16 matrix products under autocast
        with full_precision(x):
            return c_skip * x + c_out * f.float()

    def loss(self, target: torch.Tensor, z: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Mean EDM-weighted denoising error over ``noise_draws`` draws: target (M, 3) Å, z (M, Z)."""
        cfg = self.cfg
        k = cfg.noise_draws
        target = target.repeat(k, 1)  # (k·M, 3)
        z = z.repeat(k, 1)
        n = len(target)
        sigma = (torch.randn(n, device=z.device, generator=generator) * cfg.p_std + cfg.p_mean).exp()
        noise = torch.randn(target.shape, device=z.device, generator=generator) * sigma.unsqueeze(-1)
        denoised = self.denoise(target + noise, sigma, z)
        with full_precision(target):
            weight = (sigma**2 + cfg.sigma_data**2) / (sigma * cfg.sigma_data) ** 2
            err = (denoised - target.float()).pow(2).mean(-1)
            return (weight * err).mean()

    def sigmas(self, steps: int, device, sigma_max: torch.Tensor | None = None) -> torch.Tensor:
        """Karras schedule σ_0 > … > σ_{steps−1}, then 0: (steps + 1,) Å, or (m, steps + 1) Å for
        per-row ``sigma_max`` (m,) Å (default: the configured σ_max)."""
        cfg = self.cfg
        i = torch.arange(steps, device=device, dtype=torch.float32) / max(steps - 1, 1)
        top = torch.tensor(cfg.sigma_max, device=device) if sigma_max is None else sigma_max.float()
        lo, hi = cfg.sigma_min ** (1 / cfg.rho), top.unsqueeze(-1) ** (1 / cfg.rho)
        sig = (hi + i * (lo - hi)) ** cfg.rho
        return torch.cat([sig, torch.zeros_like(sig[..., :1])], -1)

    @torch.no_grad()
    def sample(self, z: torch.Tensor, noise: torch.Tensor, steps: int = 18, *, guide: Guide | None = None,
               sigma_max: torch.Tensor | None = None, churn: torch.Tensor | None = None,
               churn_noise: torch.Tensor | None = None, record: bool = False
               ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Coordinates for m rows from pre-drawn noise (the only coordinate sampler).

        z (m + g, Z): the m rows' conditions, then the unconditional twins of ``guide.rows``;
        noise (m, 3): start points in units of σ_max (standard normals, times a start-noise
        temperature if wanted); ``sigma_max`` (m,) Å per row (default: configured). Deterministic
        Heun (EDM Alg. 1) unless ``churn`` (m,) > 0 for a row: then EDM's stochastic sampler
        (Alg. 2, S_churn = churn, γ_i = min(churn/steps, √2 − 1)) adds fresh noise before every
        step, ``churn_noise`` (m, steps, 3) standard normals already scaled by the per-row
        temperature S_noise (MAR's τ: a temperature on every injected noise). Returns x (m, 3) Å
        and, if ``record``, the path (steps + 1, m, 3) Å.
        """
        m = len(noise)
        sig = self.sigmas(steps, z.device, sigma_max)
        sig = sig.expand(m, -1)  # (m, steps + 1) Å
        gamma = (torch.zeros(m, device=z.device) if churn is None
                 else (churn / steps).clamp(max=math.sqrt(2) - 1))  # (m,)

        def d_of(x_: torch.Tensor, s: torch.Tensor) -> torch.Tensor:  # s (m,) Å
            if guide is None:
                return self.denoise(x_, s, z)
            d = self.denoise(torch.cat([x_, x_[guide.rows]]), torch.cat([s, s[guide.rows]]), z)
            return guide.mix(d[:m], d[m:])

        x = noise * sig[:, :1]
        path = [x] if record else None
        for i in range(steps):
            s, s_next = sig[:, i], sig[:, i + 1]  # (m,)
            if churn_noise is not None and bool((gamma > 0).any()):
                s_hat = s * (1 + gamma)
                x = x + (s_hat**2 - s**2).sqrt().unsqueeze(1) * churn_noise[:, i]
                s = s_hat
            d = (x - d_of(x, s)) / s.unsqueeze(1)
            x_next = x + (s_next - s).unsqueeze(1) * d
            if bool((s_next > 0).all()):  # Heun correction (every row shares the last step at σ = 0)
                d2 = (x_next - d_of(x_next, s_next)) / s_next.unsqueeze(1)
                x_next = x + (s_next - s).unsqueeze(1) * (d + d2) / 2
            x = x_next
            if record:
                path.append(x)
        return x, (torch.stack(path) if record else None)

    def probe_error(self, x: torch.Tensor, z: torch.Tensor, noise: torch.Tensor, sigma: float,
                    guide: Guide | None = None) -> torch.Tensor:
        """The denoiser's own error at a small σ on drawn points: x (m, 3) Å, noise (m, 3) standard
        normals → (m,) mean squared error / σ² (≈ 1 where the model finds x typical, more where
        it would move it): a per-atom coordinate term for likelihood ranking."""
        s = torch.full((len(x),), sigma, device=x.device)
        y = x + sigma * noise
        if guide is None:
            d = self.denoise(y, s, z)
        else:
            dd = self.denoise(torch.cat([y, y[guide.rows]]), torch.cat([s, s[guide.rows]]), z)
            d = guide.mix(dd[: len(x)], dd[len(x):])
        return (d - x).pow(2).mean(-1) / sigma**2
