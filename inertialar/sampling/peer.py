"""Sampling the equivariant peer (``nn.peer``): atom count, then a deterministic Heun ODE from σ_max to 0.

Each molecule's atom count comes from the peer's training histogram (a seeded draw) and its start
noise from its own generator (seed, index), so the same seed gives the same molecules whatever the
batching. The probability-flow ODE dy/dσ = (y − D(y; σ))/σ is integrated on the Karras et al.
schedule (ρ = 7) from ``sigma_max`` to ``sigma_min`` by Heun steps, then one Euler step to σ = 0
(2·steps − 1 network calls). Molecules of one atom count share a batch (no padding), in blocks of
about ``BATCH_PAIRS`` atom pairs. Each atom's type is the largest entry of its denoised one-hot.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from inertialar.chem.molecule import Molecule
from inertialar.nn.peer import Peer
from inertialar.nn.polisher import centre

PEER_STEPS = 40  # Heun steps (79 network calls)
BATCH_PAIRS = 20_000  # atom pairs per network call (cache-sized blocks, as for the polish)


def karras_sigmas(sigma_max: float, sigma_min: float, steps: int, rho: float = 7.0) -> torch.Tensor:
    """σ_0 = σ_max > … > σ_{steps−1} = σ_min (Å), then 0: (steps + 1,)."""
    ramp = torch.linspace(0, 1, steps, dtype=torch.float64)
    s = (sigma_max ** (1 / rho) + ramp * (sigma_min ** (1 / rho) - sigma_max ** (1 / rho))) ** rho
    return torch.cat([s, torch.zeros(1, dtype=torch.float64)]).float()


def atom_counts(peer: Peer, n: int, seed: int) -> np.ndarray:
    """n atom counts drawn from the peer's training histogram (seeded)."""
    hist = np.asarray(peer.cfg.atom_counts, dtype=float)
    return np.random.default_rng(seed).choice(len(hist), size=n, p=hist / hist.sum())


def start_noise(peer: Peer, size: int, seed: int, index: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Molecule ``index``'s unit start noise: coordinates (size, 3) centred, types (size, K)."""
    gen = torch.Generator().manual_seed(seed * 1_000_003 + index)
    eps = torch.randn(size, 3 + len(peer.cfg.elements), generator=gen)
    x, _ = centre(eps[None, :, :3], torch.ones(1, size, dtype=torch.bool))
    return x[0], eps[:, 3:]


@torch.no_grad()
def heun(peer: Peer, x: torch.Tensor, h: torch.Tensor, sigmas: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Integrate a batch of one atom count: x (B, N, 3) Å, h (B, N, K) at σ_0 → the clean pair at σ = 0."""
    mask = torch.ones(x.shape[:2], dtype=torch.bool)
    b = len(x)

    def slope(x, h, s):
        dx, dh = peer(x, h, mask, torch.full((b,), float(s)))
        return (x - dx) / s, (h - dh) / s

    for s, s_next in zip(sigmas[:-1], sigmas[1:], strict=True):
        vx, vh = slope(x, h, s)
        x1, h1 = x + (s_next - s) * vx, h + (s_next - s) * vh
        if s_next > 0:  # Heun's correction; the last step to σ = 0 stays Euler
            wx, wh = slope(x1, h1, s_next)
            x1, h1 = x + (s_next - s) * (vx + wx) / 2, h + (s_next - s) * (vh + wh) / 2
        x, h = x1, h1
    return x, h


def sample_peer(peer: Peer, n: int, seed: int = 0, steps: int = PEER_STEPS,
                progress: Callable[[float], None] | None = None) -> list[Molecule]:
    """n unconditional molecules (Å, centred), in index order; same seed → the same molecules."""
    if n < 1 or steps < 2:
        raise ValueError(f"need n ≥ 1 and steps ≥ 2, got n {n}, steps {steps}")
    peer.eval()
    sizes = atom_counts(peer, n, seed)
    sigmas = karras_sigmas(peer.cfg.sigma_max, peer.cfg.sigma_min, steps)
    out: list[Molecule | None] = [None] * n
    done = 0
    for size in np.unique(sizes):
        idx = np.flatnonzero(sizes == size)
        block = max(1, BATCH_PAIRS // max(1, int(size) ** 2))
        for lo in range(0, len(idx), block):
            part = idx[lo:lo + block]
            noise = [start_noise(peer, int(size), seed, int(i)) for i in part]
            x = torch.stack([a for a, _ in noise]) * sigmas[0]
            h = torch.stack([b for _, b in noise]) * sigmas[0]
            x, h = heun(peer, x, h, sigmas)
            types = h.argmax(-1).numpy()
            for row, i in enumerate(part):
                elements = [peer.cfg.elements[t] for t in types[row]]
                out[i] = Molecule(elements, x[row].double().numpy(), f"peer sample {i + 1}")
            done += len(part)
            if progress is not None:
                progress(done / n)
    return out
