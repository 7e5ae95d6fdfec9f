"""Sampling: settings and quality modes, the cached autoregressive sampler, per-row state,
ranking by the model's own likelihoods, the polish stage, the shared service and the equivariant
peer's own sampler. Builds on ``nn``;
from ``chem`` it takes only the molecule and the groups (selection never reads the metrics)."""

from inertialar.sampling.modes import MODES, mode_settings
from inertialar.sampling.peer import sample_peer
from inertialar.sampling.sampler import SampleResult, sample
from inertialar.sampling.settings import Part, SampleSettings
from inertialar.sampling.trajectory import Trajectory

__all__ = ["MODES", "mode_settings", "sample_peer", "SampleResult", "sample", "Part", "SampleSettings", "Trajectory"]
