"""Training: run settings, the resumable (DDP-aware) loop, model-fit checks, the GPU-window
recipe, speed measurements and the polisher's trainer. Builds on ``sampling``."""

from inertialar.training.config import TrainConfig, scaled_lr
from inertialar.training.loop import train

__all__ = ["TrainConfig", "scaled_lr", "train"]
