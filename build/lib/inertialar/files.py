"""Where files go, and how they are written: the checkout's paths, and atomic writes (a temporary sibling, then a rename).

A crash or an error mid-write leaves the old file (or none) and no ``.partial`` debris, so a
checkpoint, cache or output file is never half-written.
"""

from __future__ import annotations

import sys
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


REPO = Path(__file__).resolve().parent.parent  # the checkout: assets/ and benchmarks/ sit beside the package
# The shipped checkpoints: in the checkout (editable install, ``make``), or where ``pip install .`` put them.
ASSETS = REPO / "assets" if (REPO / "assets").is_dir() else Path(sys.prefix) / "share" / "inertialar" / "assets"
RESULTS = "benchmarks/results"  # the one results path (relative to the checkout): benchmark tables, read by the app


def results_dir(root: Path = REPO) -> Path:
    """The folder where benchmark commands write their tables (``root``/benchmarks/results)."""
    return Path(root) / RESULTS
