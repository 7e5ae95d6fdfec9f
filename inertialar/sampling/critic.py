"""The critic: how much the polisher would still move a molecule, as a score for choosing draws.

The score is the whole-molecule analogue of the sampler's per-atom ``probe``: the polisher's
denoising error at a small noise level σ_c, E_ε ‖D(x + σ_c ε; σ_c) − x‖² / (3 σ_c²) per atom,
averaged over ``CRITIC_DRAWS`` noise draws. A molecule like the training data sits where the
denoiser returns it (error ≈ the denoiser's floor); a distorted one, or one whose composition
leaves an atom without its usual partners, is pulled somewhere else. The score is minus the mean
over atoms plus minus ``WORST_WEIGHT`` times the worst atom (an under-bonded atom is one atom).
Higher means more like the data. It learns from the training split only (the polisher never saw
a sample); it reads no bond table, valence, RDKit or electron count.
"""

from __future__ import annotations

import numpy as np
import torch

from inertialar.chem.molecule import Molecule
from inertialar.nn.polisher import Polisher, centre
from inertialar.sampling.polish import padded, size_batches

CRITIC_SIGMA = 0.05  # Å
CRITIC_DRAWS = 4
WORST_WEIGHT = 0.5
CRITIC_SEED = 9_001  # fixed: a molecule's score does not depend on the request's seed


@torch.no_grad()
def atom_errors(polisher: Polisher, molecules: list[Molecule], sigma: float = CRITIC_SIGMA,
                draws: int = CRITIC_DRAWS, seed: int = CRITIC_SEED) -> list[np.ndarray]:
    """Per-atom denoising error (N,) of each molecule, in units of σ² per coordinate."""
    polisher = polisher.eval()
    sizes = np.array([len(m) for m in molecules])
    out: list[np.ndarray | None] = [None] * len(molecules)
    for idx in size_batches(sizes):
        types, coords, mask = padded(polisher, molecules, idx)
        x, _ = centre(coords, mask)
        b, n = mask.shape
        err = torch.zeros(b, n)
        for d in range(draws):  # each molecule's noise is its own (seeded by its size and the draw), not its batch's
            eps = torch.zeros(b, n, 3)
            for row, i in enumerate(idx):
                gen = torch.Generator().manual_seed(seed + 1000 * d + len(molecules[i]))
                eps[row, : len(molecules[i])] = torch.randn((len(molecules[i]), 3), generator=gen)
            eps, _ = centre(eps, mask)
            den = polisher(types, x + sigma * eps, mask, torch.full((b,), sigma))
            err += ((den - x) ** 2).sum(-1) / (3 * sigma ** 2)
        err = (err / draws).numpy()
        for row, i in enumerate(idx):
            out[i] = err[row, : len(molecules[i])]
    return out


def critic_scores(polisher: Polisher, molecules: list[Molecule]) -> np.ndarray:
    """One score per molecule (higher = more like the training data): −(mean + w·max) atom error."""
    errors = atom_errors(polisher, molecules)
    return np.array([-(float(e.mean()) + WORST_WEIGHT * float(e.max())) for e in errors])


def best_by_critic(scores: np.ndarray, k: int) -> np.ndarray:
    """Draws in groups of k (molecule j = draws j·k … j·k + k − 1) → index of the best of each group."""
    if len(scores) % k:
        raise ValueError(f"{len(scores)} draws do not split into groups of {k}")
    return np.array([j + int(np.argmax(scores[j:j + k])) for j in range(0, len(scores), k)], dtype=np.int64)
