"""Networks: GeoRoPE, the causal backbone, the diffusion head, the InertialAR model, the polisher
(a whole-molecule equivariant denoiser), the equivariant peer (an EDM-style diffusion model on the
polisher's trunk) and the one checkpoint format. Builds on ``data``."""

from inertialar.nn.checkpoint import CheckpointError, load_checkpoint, load_peer, load_polisher, save_checkpoint, save_polisher
from inertialar.nn.model import InertialAR, ModelConfig
from inertialar.nn.peer import Peer, PeerConfig
from inertialar.nn.polisher import Polisher, PolisherConfig

__all__ = ["CheckpointError", "load_checkpoint", "load_peer", "load_polisher", "save_checkpoint", "save_polisher",
           "InertialAR", "ModelConfig", "Peer", "PeerConfig", "Polisher", "PolisherConfig"]
