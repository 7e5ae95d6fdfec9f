"""A ``Trajectory``: every step of one sampled molecule, as the app plays it and the ranking scores read it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from inertialar.data.specs import QM9_ELEMENTS


@dataclass
class Trajectory:
    """Steps of one molecule: probs (S, V) type distribution sampled from, model_probs (S, V) the
    model's own (guided) distribution at temperature 1, types (S,) chosen (EOS = len(elements)
    last when finished), coords (S, 3) Å (NaN for EOS), probe (S,) the denoiser's probe error per
    sampled atom (NaN where not measured), paths (S, K+1, 3) or None; ``elements`` the model's
    vocabulary, which the type indices refer to; ``polish_path`` and ``critic`` are set by the polish stage."""

    probs: np.ndarray
    types: np.ndarray
    coords: np.ndarray
    paths: np.ndarray | None = None
    n_prefix: int = 0
    model_probs: np.ndarray | None = None
    probe: np.ndarray | None = None
    elements: tuple[str, ...] = QM9_ELEMENTS
    polish_path: np.ndarray | None = None  # (K + 1, N, 3) Å: the polish, from the raw atoms to the final ones
    critic: float = float("nan")  # the critic's score of the final molecule, where measured

    @property
    def finished(self) -> bool:
        return bool(len(self.types)) and int(self.types[-1]) == len(self.elements)
