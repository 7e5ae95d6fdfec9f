"""Training batches: length-bucketed molecule batches and their padded tensors."""

from __future__ import annotations

import numpy as np
import torch

from inertialar.data.tokenset import TokenSet


def bucketed_batches(lengths: np.ndarray, batch_tokens: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Molecule-index batches of similar length, each padded size ≤ batch_tokens, in random order.

    Molecules are shuffled, then sorted by length within chunks of a few thousand, so batches are
    both random and nearly padding-free; the batch order is shuffled again.
    """
    order = rng.permutation(len(lengths))
    batches: list[np.ndarray] = []
    for lo in range(0, len(order), 4096):
        part = order[lo:lo + 4096]
        part = part[np.argsort(lengths[part], kind="stable")]
        start = 0
        for k in range(len(part)):
            if (k + 1 - start) * (int(lengths[part[k]]) + 2) > batch_tokens and k > start:
                batches.append(part[start:k])
                start = k
        batches.append(part[start:])
    return [batches[i] for i in rng.permutation(len(batches))]


def collate(ts: TokenSet, idx: np.ndarray, device) -> dict:
    """Padded tensors for molecules ``idx``: types (B, N), coords (B, N, 3) Å, lengths (B,), labels (B, G)."""
    lengths = ts.lengths[idx]
    n = int(lengths.max())
    types = np.zeros((len(idx), n), dtype=np.int64)
    coords = np.zeros((len(idx), n, 3), dtype=np.float32)
    for row, k in enumerate(idx):
        lo, hi = ts.offsets[k], ts.offsets[k + 1]
        types[row, : hi - lo] = ts.types[lo:hi]
        coords[row, : hi - lo] = ts.coords[lo:hi]
    return {"types": torch.from_numpy(types).to(device), "coords": torch.from_numpy(coords).to(device),
            "lengths": torch.from_numpy(lengths).to(device), "labels": torch.from_numpy(ts.groups[idx]).to(device)}
