"""InertialAR: autoregressive 3-D molecule generation in canonical inertial frames (arXiv 2510.27497)."""

__version__ = "0.1.0"
