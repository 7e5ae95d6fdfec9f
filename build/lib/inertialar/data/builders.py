"""Building a dataset's token cache: the one dispatch from a dataset's name to its builder module.

Each builder (``qm9``, ``moses``) implements ``prepare(workers, progress, force, **options)`` and
``split_hash(root=None)``; nothing else picks a builder, so the data layer imports them plainly.
"""

from __future__ import annotations

from pathlib import Path

from inertialar.data import moses, qm9
from inertialar.data.specs import DatasetSpec
from inertialar.data.tokenset import _spec

BUILDERS = {"qm9": qm9, "moses": moses}


def builder(dataset: str | DatasetSpec):
    """The module building ``dataset``'s cache."""
    return BUILDERS[_spec(dataset).name]


def prepare(dataset: str, workers: int = 2, progress: bool = True, force: bool = False,
            **options) -> dict[str, Path]:
    """Build the token cache of every split of ``dataset`` (each module skips what is cached)."""
    return builder(dataset).prepare(workers=workers, progress=progress, force=force, **options)


def split_hash(dataset: str, root: str | Path | None = None) -> str:
    """The fingerprint of ``dataset``'s split, stored in checkpoints."""
    return builder(dataset).split_hash(root)
