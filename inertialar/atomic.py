"""Atomic file writes: write a temporary sibling, then rename it into place.

A crash or an error mid-write leaves the old file (or none) and no ``.partial`` debris, so a
checkpoint, cache or output file is never half-written.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path to write to; on success it replaces ``path``, on failure it is removed."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.partial{path.suffix}")  # same suffix: numpy keeps ".npz" names
    try:
        yield tmp
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
