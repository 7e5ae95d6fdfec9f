"""A training run's settings: ``TrainConfig`` and the learning-rate law."""

from __future__ import annotations

from dataclasses import dataclass, field

from inertialar.data.tokenset import cache_dir
from inertialar.nn.model import ModelConfig


def scaled_lr(batch_tokens: int) -> float:
    """The learning-rate law: 4e-4 at 2,560-token batches, scaled by √(batch / 2,560)."""
    return 4e-4 * (batch_tokens / 2560) ** 0.5


@dataclass
class TrainConfig:
    """A training run: model, data budget, optimiser, schedule, guidance dropout, bookkeeping."""

    model: ModelConfig = field(default_factory=ModelConfig)
    run_dir: str = str(cache_dir() / "runs" / "default")
    epochs: float = 200.0  # length of the cosine schedule
    max_minutes: float | None = None  # stop (and save) after this much wall time
    batch_tokens: int = 2560  # padded atom tokens per batch (≈ 128 QM9 molecules)
    lr: float | None = None  # peak learning rate; None: the law, scaled_lr(batch_tokens) (one home)
    min_lr_frac: float = 0.05
    weight_decay: float = 1e-4
    betas: tuple[float, float] = (0.9, 0.95)
    warmup_steps: int = 500
    clip: float = 1.0
    ema: float = 0.999
    p_drop_group: float = 0.5  # each group label → unspecified
    p_drop_all: float = 0.1  # whole condition → unspecified
    flip_prob: float = 0.0  # augmentation: random axis-sign pattern of the frame, per molecule
    jitter: float = 0.0  # augmentation: Gaussian noise (Å) on the coordinates the model reads, not the targets
    seed: int = 0
    device: str = "cpu"
    save_every_minutes: float = 10.0
    eval_every_minutes: float = 30.0
    eval_samples: int = 200
    init_from: str | None = None  # warm start from a checkpoint's weights
    limit_train: int | None = None  # use only the first N training molecules (smoke tests)
    data_dir: str | None = None  # read the split caches from here (a packed copy) instead of cache_dir()
    schedule_minutes: float | None = None  # cosine over total wall time (ends then) instead of over steps
    compile: bool = False  # torch.compile the model (falls back to eager where compiling fails)

    def validate(self) -> None:
        """One-line ValueError for a setting out of range (``train`` calls it; so does the CLI)."""
        for name, value in (("flip_prob", self.flip_prob), ("p_drop_group", self.p_drop_group),
                            ("p_drop_all", self.p_drop_all), ("jitter", self.jitter),
                            ("weight_decay", self.weight_decay)):
            if not 0 <= value <= 1:
                raise ValueError(f"--{name.replace('_', '-')} must be between 0 and 1, got {value:g}")
        if not (self.batch_tokens > 0 and self.peak_lr > 0 and self.epochs >= 0):
            raise ValueError(f"lr and batch tokens must be positive, got lr {self.peak_lr:g}, {self.batch_tokens} tokens")

    @property
    def peak_lr(self) -> float:
        """The learning rate the run uses: ``lr`` if given, else the law for its batch size."""
        return scaled_lr(self.batch_tokens) if self.lr is None else self.lr
