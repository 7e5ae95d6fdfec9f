"""InertialAR: condition token + canonical atom tokens → next atom type, then its coordinates.

Sequence ``[condition, atom_1 … atom_N]`` in, one prediction per position out: the hidden state
z_t predicts the type of token t+1 (one of the dataset's elements or EOS, cross-entropy), and z_t plus an embedding
of that type condition the diffusion head that produces token t+1's (x, y, z) in Å
(hierarchical prediction, InertialAR §3). The condition token sums one embedding per functional
group in state unspecified / absent / present; training drops labels to unspecified so that one
model serves every subset of constraints and classifier-free guidance.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch
from torch import nn
from torch.nn import functional as F

from inertialar.chem.groups import GROUP_NAMES
from inertialar.data.specs import QM9_ELEMENTS, DatasetSpec, get_dataset
from inertialar.data.tokenizer import vocabulary
from inertialar.nn.diffusion import DiffusionConfig, DiffusionHead
from inertialar.nn.georope import fourier_features
from inertialar.nn.transformer import Backbone, BackboneConfig, KVCache

UNSPECIFIED, ABSENT, PRESENT = 0, 1, 2  # functional-group condition states
N_COORD_FREQS = 6


@dataclass
class ModelConfig:
    """Everything needed to rebuild the model (stored in every checkpoint): the dataset it was
    trained on and its type vocabulary travel with the sizes, so a checkpoint describes itself
    (checkpoints written before these fields existed are QM9's, the defaults)."""

    backbone: BackboneConfig = field(default_factory=BackboneConfig)
    diffusion: DiffusionConfig = field(default_factory=DiffusionConfig)
    groups: tuple[str, ...] = GROUP_NAMES
    ce_weight: float = 0.2
    diffusion_weight: float = 0.8
    dataset: str = "qm9"  # checkpoints written before datasets were named are QM9's (they load unchanged)
    elements: tuple[str, ...] = QM9_ELEMENTS  # token order; EOS is index len(elements)

    @property
    def max_atoms(self) -> int:
        return self.backbone.max_len - 1

    @property
    def eos(self) -> int:
        return len(self.elements)

    @property
    def vocab(self) -> tuple[str, ...]:
        return vocabulary(self.elements)

    @property
    def spec(self) -> DatasetSpec:
        return get_dataset(self.dataset)

    @classmethod
    def for_dataset(cls, spec: DatasetSpec, max_atoms: int | None = None, **kwargs) -> ModelConfig:
        """A config whose vocabulary, groups and length are the dataset's (``max_atoms`` from the
        data if given, else the spec's cap); ``backbone``/``diffusion`` etc. pass through."""
        cfg = cls(dataset=spec.name, elements=spec.elements, groups=spec.groups, **kwargs)
        cfg.backbone.max_len = (spec.max_atoms if max_atoms is None else max_atoms) + 1
        return cfg

    @classmethod
    def sized(cls, spec: DatasetSpec, max_atoms: int, width: int, depth: int, heads: int, rope_heads: int | None = None,
              distance_kernel: str = "nystrom", head_width: int = 256, head_depth: int = 3) -> ModelConfig:
        """The sizing rules in one place: RoPE-3D on half of the heads unless told, ≤ 5 rotary pairs
        per axis and at least 6 head dimensions per pair; ValueError (one line) for impossible sizes."""
        rope_heads = heads // 2 if rope_heads is None else rope_heads
        if not 0 <= rope_heads <= heads:
            raise ValueError(f"--rope-heads must be between 0 and --heads ({heads})")
        backbone = BackboneConfig(width=width, depth=depth, heads=heads, rope_heads=rope_heads,
                                  distance_kernel=distance_kernel, rope_pairs_per_axis=min(5, (width // heads) // 6))
        return cls.for_dataset(spec, max_atoms, backbone=backbone,
                               diffusion=DiffusionConfig(width=head_width, depth=head_depth))

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> ModelConfig:
        def tuples(sub: dict) -> dict:
            return {k: tuple(v) if isinstance(v, list) else v for k, v in sub.items()}

        d = dict(d)
        return cls(backbone=BackboneConfig(**tuples(d.pop("backbone"))),
                   diffusion=DiffusionConfig(**tuples(d.pop("diffusion"))), **tuples(d))


class InertialAR(nn.Module):
    """Backbone + type head + diffusion coordinate head + functional-group condition token.

    ``forward`` gives training losses for a padded batch; ``condition_step``/``atom_step`` feed
    one token at a time through a KV cache for the sampler.
    """

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        w = cfg.backbone.width
        self.type_in = nn.Embedding(len(cfg.elements), w)
        self.coord_in = nn.Linear(3 + 2 * 3 * N_COORD_FREQS, w)
        self.pos_in = nn.Embedding(cfg.backbone.max_len, w)
        self.cond_base = nn.Parameter(torch.zeros(w))
        self.cond_groups = nn.Embedding(3 * len(cfg.groups), w)
        self.backbone = Backbone(cfg.backbone)
        self.type_head = nn.Linear(w, len(cfg.vocab))
        self.next_type = nn.Embedding(len(cfg.elements), w)  # the chosen type, for the coordinate head
        self.diffusion = DiffusionHead(cfg.diffusion, w)
        self.apply(self._init)

    @staticmethod
    def _init(module: nn.Module) -> None:
        if isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, std=0.02)

    # -- embeddings ---------------------------------------------------------------------------
    def _atom_embedding(self, types: torch.Tensor, coords: torch.Tensor) -> torch.Tensor:
        """types (...,) int, coords (..., 3) Å → (..., C)."""
        feats = torch.cat([coords.float(), fourier_features(coords, N_COORD_FREQS, max_freq=4.0)], dim=-1)
        return self.type_in(types) + self.coord_in(feats)

    def _condition_embedding(self, groups: torch.Tensor) -> torch.Tensor:
        """groups (B, G) states in {UNSPECIFIED, ABSENT, PRESENT} → (B, C)."""
        offsets = 3 * torch.arange(groups.shape[1], device=groups.device)
        return self.cond_base + self.cond_groups(groups + offsets).sum(1)

    # -- training -----------------------------------------------------------------------------
    def forward(self, types: torch.Tensor, coords: torch.Tensor, lengths: torch.Tensor,
                groups: torch.Tensor, generator: torch.Generator | None = None,
                context: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Losses for a padded batch: types (B, N), coords (B, N, 3) Å, lengths (B,), groups (B, G).

        ``context`` (B, N, 3) Å, if given, replaces the coordinates the model reads (e.g. jittered
        for augmentation) while ``coords`` stay the targets."""
        B, N = types.shape
        T = N + 1
        ctx = coords if context is None else context
        h = torch.cat([self._condition_embedding(groups).unsqueeze(1), self._atom_embedding(types, ctx)], 1)
        h = h + self.pos_in(torch.arange(T, device=types.device))  # (B, T, C)
        pos = torch.cat([ctx.new_zeros(B, 1, 3), ctx], 1)  # (B, T, 3) Å; condition at origin
        z = self.backbone(h, pos)  # (B, T, C)

        t = torch.arange(T, device=types.device).unsqueeze(0)  # (1, T)
        n = lengths.unsqueeze(1)
        padded_types = F.pad(types, (0, 1))  # (B, T): token t+1's type at position t
        target = torch.where(t < n, padded_types, torch.full_like(padded_types, self.cfg.eos))
        target = torch.where(t <= n, target, torch.full_like(target, -100))
        ce = F.cross_entropy(self.type_head(z).flatten(0, 1), target.flatten(), ignore_index=-100)

        atom = t < n  # (B, T) positions whose next token is an atom
        zc = z[atom] + self.next_type(padded_types[atom])  # (M, C)
        x0 = F.pad(coords, (0, 0, 0, 1))[atom]  # (M, 3) Å
        diff = self.diffusion.loss(x0, zc, generator)
        loss = self.cfg.ce_weight * ce + self.cfg.diffusion_weight * diff
        return {"loss": loss, "ce": ce.detach(), "diffusion": diff.detach()}

    # -- incremental decoding (used by the sampler) --------------------------------------------
    def new_cache(self, batch: int) -> KVCache:
        p = next(self.parameters())
        return self.backbone.new_cache(batch, p.device, p.dtype)

    def condition_step(self, groups: torch.Tensor, cache: KVCache) -> torch.Tensor:
        """Feed the condition token: groups (B, G) → z (B, C)."""
        h = self._condition_embedding(groups) + self.pos_in.weight[cache.length]
        pos = h.new_zeros(len(h), 1, 3)
        return self.backbone.step(h.unsqueeze(1), pos, cache).squeeze(1)

    def atom_step(self, types: torch.Tensor, coords: torch.Tensor, cache: KVCache) -> torch.Tensor:
        """Feed one atom per sequence: types (B,), coords (B, 3) Å → z (B, C)."""
        h = self._atom_embedding(types, coords) + self.pos_in.weight[cache.length]
        return self.backbone.step(h.unsqueeze(1), coords.unsqueeze(1), cache).squeeze(1)

    def type_logits(self, z: torch.Tensor) -> torch.Tensor:
        return self.type_head(z)

    def coordinate_condition(self, z: torch.Tensor, types: torch.Tensor) -> torch.Tensor:
        """z (B, C) plus the chosen next type (B,) → the diffusion head's condition (B, C)."""
        return z + self.next_type(types)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
