"""What to sample: ``SampleSettings`` (one request) and ``Part`` (a slice of a request in a batch).

Value types only, so the sampler, its per-row state (``rows``), the ranking scores and the
service share them without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from inertialar.chem.groups import check_group_names
from inertialar.chem.molecule import Molecule
from inertialar.nn.model import ModelConfig
from inertialar.sampling.polish import POLISH_SIGMA, POLISH_STEPS
from inertialar.sampling.ranking import SCORES, SHORTLIST_RANK, needs_probe

RANKS = (*SCORES, "critic")  # "critic": the polisher's denoising error on the polished draws (sampling.critic)


@dataclass
class SampleSettings:
    """What to sample. Molecule k draws its randomness from generators seeded by ``(seed, k)``,
    so the same settings and seed give the same molecules whatever the batching. The quality
    modes (``inertialar.sampling.modes``) are presets of these fields."""

    n: int = 16
    seed: int = 0
    present: tuple[str, ...] = ()
    absent: tuple[str, ...] = ()
    cfg_scale: float = 2.0  # used only when groups are given (the one home of this default)
    # The defaults below are the ``fast`` quality mode (inertialar.sampling.modes; chosen on the frontier).
    temperature: float = 0.5  # type distribution
    top_p: float = 0.9  # nucleus of the type distribution; 0 keeps only the most likely type (greedy)
    coord_temperature: float = 0.2  # scales the diffusion start noise
    churn: float = 0.0  # EDM S_churn: > 0 makes the coordinate sampler stochastic
    churn_temperature: float = 1.0  # S_noise: scales the noise injected at every stochastic step
    sigma_max: float | None = None  # Å; start of the σ schedule (None: the model's, 10 Å)
    steps: int = 12  # Heun steps per atom
    coord_draws: int = 1  # candidate coordinates per atom; the denoiser's probe picks one (1: off)
    redraws: int = 0  # geometric-sanity redraws per atom (0: off)
    oversample: int = 1  # draws per kept molecule (1: no selection)
    rank: str = "type_mean_probe"  # selection score when oversample > 1: RANKS (ranking.SCORES, or the critic)
    shortlist: int = 0  # with rank "critic": polish and judge only each group's top draws by type_mean_probe (0: all)
    polish: bool = True  # polish finished molecules with the learned polisher, where one is given (sampling.polish)
    polish_sigma: float = POLISH_SIGMA  # Å, σ₀ of the polish
    polish_steps: int = POLISH_STEPS
    mode: str = "fast"  # the quality mode these settings came from (a label)
    batch_size: int = 500
    device: str = "cpu"
    record_denoising: bool = False
    prefix: Molecule | None = None  # canonical atoms to start from (kept as given)

    @property
    def needs_probe(self) -> bool:
        """Whether selection reads the denoiser probe (the sampler then measures it on every atom)."""
        by_critic = self.rank == "critic" and self.shortlist > 0
        return self.oversample > 1 and (needs_probe(SHORTLIST_RANK if by_critic else self.rank))

    @property
    def draws(self) -> int:
        """Molecules actually sampled (all of them count in the cost)."""
        return self.n * self.oversample

    def check(self, model_cfg: ModelConfig) -> None:
        """``validate`` against a model's config: its size, groups and vocabulary (the one call sites use)."""
        self.validate(model_cfg.max_atoms, model_cfg.groups, model_cfg.elements)

    def validate(self, max_atoms: int, groups: tuple[str, ...] | None = None,
                 elements: tuple[str, ...] | None = None) -> None:
        """Raise ValueError with a one-line message for settings that cannot be sampled by a model
        placing at most ``max_atoms`` atoms of ``elements``, conditioned on ``groups`` (None: no
        check of that)."""
        if not 1 <= self.n <= 1_000_000:
            raise ValueError(f"number of molecules must be 1..1,000,000, got {self.n}")
        if not 1 <= self.batch_size <= 10_000:
            raise ValueError(f"batch size must be 1..10,000, got {self.batch_size}")
        if not 1 <= self.steps <= 1000:
            raise ValueError(f"denoising steps must be 1..1000, got {self.steps}")
        for name, v in (("CFG scale", self.cfg_scale), ("temperature", self.temperature),
                        ("coordinate temperature", self.coord_temperature), ("churn", self.churn),
                        ("churn temperature", self.churn_temperature)):
            if not np.isfinite(v) or v < 0 or v > 100:
                raise ValueError(f"{name} must be a finite number in 0..100, got {v}")
        if self.temperature == 0:
            raise ValueError("temperature must be positive (use top-p 0 for greedy types)")
        if not (np.isfinite(self.top_p) and 0 <= self.top_p <= 1):
            raise ValueError(f"top-p must be in 0..1, got {self.top_p}")
        if self.sigma_max is not None and not (np.isfinite(self.sigma_max) and 0.01 <= self.sigma_max <= 1000):
            raise ValueError(f"sigma max must be 0.01..1000 Å, got {self.sigma_max}")
        if not 1 <= self.coord_draws <= 32:
            raise ValueError(f"coordinate draws must be 1..32, got {self.coord_draws}")
        if not 0 <= self.redraws <= 20:
            raise ValueError(f"redraws must be 0..20, got {self.redraws}")
        if not 1 <= self.oversample <= 100:
            raise ValueError(f"oversample must be 1..100, got {self.oversample}")
        if self.rank not in RANKS:
            raise ValueError(f"unknown ranking score {self.rank!r}; choose from {', '.join(RANKS)}")
        if not 0 <= self.shortlist <= 100:
            raise ValueError(f"shortlist must be 0..100, got {self.shortlist}")
        if not (np.isfinite(self.polish_sigma) and 0 < self.polish_sigma <= 2.0):
            raise ValueError(f"polish sigma must be in (0, 2] Å, got {self.polish_sigma}")
        if not 1 <= self.polish_steps <= 100:
            raise ValueError(f"polish steps must be 1..100, got {self.polish_steps}")
        if groups is None:
            check_group_names(list(self.present) + list(self.absent))
        else:
            check_group_names(list(self.present) + list(self.absent), tuple(groups))
        both = set(self.present) & set(self.absent)
        if both:
            raise ValueError(f"group {sorted(both)[0]!r} is asked to be both present and absent")
        if self.prefix is not None and len(self.prefix) >= max_atoms:
            raise ValueError(f"prefix has {len(self.prefix)} atoms; the model places at most {max_atoms}")
        if self.prefix is not None and elements is not None:
            outside = sorted(set(self.prefix.elements) - set(elements))
            if outside:
                raise ValueError(f"prefix element {outside[0]!r} is outside the model's vocabulary "
                                 f"({' '.join(elements)})")


@dataclass(frozen=True)
class Part:
    """Draws ``start … start + count − 1`` of the request ``settings`` (one slice of a batch)."""

    settings: SampleSettings
    start: int
    count: int
