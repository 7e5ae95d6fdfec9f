"""Causal transformer backbone with GeoRoPE attention and a key/value cache.

Pre-LayerNorm GPT blocks (nanoGPT layout). Each token carries a position p (Å): an atom its own
coordinates, the condition token the origin. In ``rope_heads`` of the heads queries and keys
are rotated by RoPE-3D; every head adds a learned mix of Gaussian distance kernels to its scores,
through Nyström features or computed exactly (``distance_kernel``, see ``georope``). ``forward``
runs a whole (causal) sequence; ``step`` runs one new token per sequence against a ``KVCache``
and gives the same outputs (tested to 1e-5).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from inertialar.nn.georope import ExactKernel, NystromFeatures, apply_rope, mix_kernels, rope3d_angles, rope_frequencies

DISTANCE_KERNELS = ("nystrom", "exact", "none")


@dataclass
class BackboneConfig:
    """Transformer size and GeoRoPE settings (positions in Å)."""

    width: int = 192
    depth: int = 6
    heads: int = 6
    mlp_ratio: int = 4
    rope_heads: int = 3  # heads with RoPE-3D; the rest see content (and distances) only
    rope_pairs_per_axis: int = 5
    rope_omega_max: float = 4.0  # rad/Å
    rope_theta: float = 100.0
    distance_kernel: str = "nystrom"  # one of DISTANCE_KERNELS; "none" = RoPE-3D only
    nystrom_sigmas: tuple[float, ...] = (1.0, 2.0, 3.0)  # Å (kernel widths, also for "exact")
    nystrom_grid: int = 8  # landmarks per axis
    nystrom_extent: float = 4.5  # Å
    max_len: int = 32  # condition + atoms


class KVCache:
    """Keys/values per layer (B, H, T_max, D) and distance-kernel features (B, T_max, ...) in fp32
    (Nyström φ, or positions for the exact kernel), filled to ``length``."""

    def __init__(self, cfg: BackboneConfig, batch: int, n_features: tuple[int, ...], device, dtype=torch.float32):
        head_dim = cfg.width // cfg.heads
        shape = (batch, cfg.heads, cfg.max_len, head_dim)
        self.k = [torch.zeros(shape, device=device, dtype=dtype) for _ in range(cfg.depth)]
        self.v = [torch.zeros(shape, device=device, dtype=dtype) for _ in range(cfg.depth)]
        self.phi = torch.zeros((batch, cfg.max_len) + n_features, device=device, dtype=torch.float32)
        self.length = 0


class Attention(nn.Module):
    """Causal multi-head attention: RoPE-3D on ``rope_heads`` heads, a distance-kernel bias on all.

    ``gram`` (B, S, Tq, Tk) holds the kernel values of the token pairs, computed once per forward
    by the backbone and shared by all layers (each mixes them with its own α); None means no
    distance bias."""

    def __init__(self, cfg: BackboneConfig):
        super().__init__()
        self.cfg = cfg
        self.head_dim = cfg.width // cfg.heads
        self.qkv = nn.Linear(cfg.width, 3 * cfg.width)
        self.proj = nn.Linear(cfg.width, cfg.width)
        # Weight of each kernel width per head; zero start = plain RoPE attention at init.
        if cfg.distance_kernel != "none":
            self.alpha = nn.Parameter(torch.zeros(cfg.heads, len(cfg.nystrom_sigmas)))

    def _qkv(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor):
        B, T, C = x.shape
        q, k, v = self.qkv(x).view(B, T, 3, self.cfg.heads, self.head_dim).permute(2, 0, 3, 1, 4)  # (B, H, T, D)
        r = self.cfg.rope_heads
        if r:
            cos, sin = cos.unsqueeze(1), sin.unsqueeze(1)  # (B, 1, T, D/2)
            q = torch.cat([apply_rope(q[:, :r], cos, sin), q[:, r:]], dim=1)
            k = torch.cat([apply_rope(k[:, :r], cos, sin), k[:, r:]], dim=1)
        return q, k, v

    def forward(self, x, cos, sin, gram) -> torch.Tensor:
        B, T, C = x.shape
        q, k, v = self._qkv(x, cos, sin)
        if gram is None:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)  # (B, H, T, D)
        else:
            bias = mix_kernels(self.alpha, gram)  # (B, H, T, T) fp32
            causal = torch.ones(T, T, dtype=torch.bool, device=x.device).tril()
            bias = bias.masked_fill(~causal, float("-inf")).to(q.dtype)
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=bias)  # (B, H, T, D)
        return self.proj(y.transpose(1, 2).reshape(B, T, C))

    def step(self, x, cos, sin, cache: KVCache, layer: int, gram) -> torch.Tensor:
        """One new token per sequence: x (B, 1, C); cache holds ``cache.length`` earlier tokens."""
        B, _, C = x.shape
        q, k, v = self._qkv(x, cos, sin)
        t = cache.length
        cache.k[layer][:, :, t:t + 1] = k
        cache.v[layer][:, :, t:t + 1] = v
        bias = None if gram is None else mix_kernels(self.alpha, gram).to(q.dtype)  # (B, H, 1, t+1)
        y = F.scaled_dot_product_attention(q, cache.k[layer][:, :, : t + 1], cache.v[layer][:, :, : t + 1],
                                           attn_mask=bias)
        return self.proj(y.transpose(1, 2).reshape(B, 1, C))


class Block(nn.Module):
    """Pre-LayerNorm transformer block: attention then MLP, each residual."""

    def __init__(self, cfg: BackboneConfig):
        super().__init__()
        self.ln1 = nn.LayerNorm(cfg.width)
        self.attn = Attention(cfg)
        self.ln2 = nn.LayerNorm(cfg.width)
        self.mlp = nn.Sequential(nn.Linear(cfg.width, cfg.mlp_ratio * cfg.width), nn.GELU(),
                                 nn.Linear(cfg.mlp_ratio * cfg.width, cfg.width))

    def forward(self, x, cos, sin, gram):
        x = x + self.attn(self.ln1(x), cos, sin, gram)
        return x + self.mlp(self.ln2(x))

    def step(self, x, cos, sin, cache, layer, gram):
        x = x + self.attn.step(self.ln1(x), cos, sin, cache, layer, gram)
        return x + self.mlp(self.ln2(x))


class Backbone(nn.Module):
    """Embedded tokens (B, T, C) + positions (B, T, 3) Å → hidden states z (B, T, C)."""

    def __init__(self, cfg: BackboneConfig):
        super().__init__()
        self.cfg = cfg
        head_dim = cfg.width // cfg.heads
        if cfg.width % cfg.heads or head_dim % 2:
            raise ValueError("width must split into heads of even size")
        if 3 * cfg.rope_pairs_per_axis > head_dim // 2:
            raise ValueError(f"{3 * cfg.rope_pairs_per_axis} rotary pairs do not fit heads of size {head_dim}")
        self.register_buffer("freqs", rope_frequencies(cfg.rope_pairs_per_axis, cfg.rope_omega_max, cfg.rope_theta))
        if cfg.distance_kernel not in DISTANCE_KERNELS:
            raise ValueError(f"distance_kernel must be one of {', '.join(DISTANCE_KERNELS)}, got {cfg.distance_kernel!r}")
        # The attribute name "nystrom" keeps older checkpoints (with Nyström buffers) loadable.
        if cfg.distance_kernel == "nystrom":
            self.nystrom = NystromFeatures(cfg.nystrom_sigmas, cfg.nystrom_grid, cfg.nystrom_extent)
        else:
            self.nystrom = ExactKernel(cfg.nystrom_sigmas) if cfg.distance_kernel == "exact" else None
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.depth))
        self.ln_f = nn.LayerNorm(cfg.width)

    def _geometry(self, pos: torch.Tensor):
        cos, sin = rope3d_angles(pos, self.freqs, self.cfg.width // self.cfg.heads // 2)  # (B, T, D/2)
        phi = pos.new_zeros(pos.shape[:-1] + (1,)) if self.nystrom is None else self.nystrom(pos)
        return cos, sin, phi  # φ (B, T, S, M) Nyström, (B, T, 3) exact, (B, T, 1) unused

    def forward(self, h: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
        cos, sin, phi = self._geometry(pos)
        gram = None if self.nystrom is None else self.nystrom.gram(phi, phi)  # (B, S, T, T), once for all layers
        for block in self.blocks:
            h = block(h, cos, sin, gram)
        return self.ln_f(h)

    def new_cache(self, batch: int, device, dtype=torch.float32) -> KVCache:
        n_features = (1,) if self.nystrom is None else self.nystrom.feature_shape()
        return KVCache(self.cfg, batch, n_features, device, dtype)

    def step(self, h: torch.Tensor, pos: torch.Tensor, cache: KVCache) -> torch.Tensor:
        """h (B, 1, C), pos (B, 1, 3) → z (B, 1, C); appends to the cache."""
        if cache.length >= self.cfg.max_len:
            raise ValueError(f"sequence longer than max_len={self.cfg.max_len}")
        cos, sin, phi = self._geometry(pos)
        t = cache.length
        cache.phi[:, t:t + 1] = phi
        gram = None if self.nystrom is None else self.nystrom.gram(phi, cache.phi[:, : t + 1])  # (B, S, 1, t+1)
        for layer, block in enumerate(self.blocks):
            h = block.step(h, cos, sin, cache, layer, gram)
        cache.length += 1
        return self.ln_f(h)
