"""Output records: molecules with per-record properties → optional refinement → SDF or XYZ text.

The one pipeline behind ``sample --out`` and the Generate page's downloads. Each record says what
it is: ``stage`` = ``raw`` (as the model placed it) or ``polished`` (after the learned polisher),
plus the refinement's properties where ``--refine`` ran. SDF bonds are a chemist's
(``bonds.chemist_sdf``); XYZ has no data items, so the properties go in each title line.
"""

from __future__ import annotations

from collections.abc import Callable

from inertialar.chem.bonds import chemist_sdf
from inertialar.chem.molecule import Molecule, to_xyz
from inertialar.chem.refine import Refinement, RefineSettings, refine_all


def stage_properties(n: int, stage: str) -> list[dict]:
    """``n`` property dicts naming the stage (``raw`` | ``polished``)."""
    return [{"stage": stage} for _ in range(n)]


def refine_records(molecules: list[Molecule], properties: list[dict], settings: RefineSettings,
                   progress: Callable[[float], None] | None = None
                   ) -> tuple[list[Molecule], list[dict], list[Refinement] | None]:
    """Refined molecules with the refinement's properties merged in (unchanged where method is none)."""
    if settings.method == "none":
        return molecules, properties, None
    done = refine_all(molecules, settings, progress)
    return [r.molecule for r in done], [{**p, **r.properties()} for p, r in zip(properties, done, strict=True)], done


def records_text(molecules: list[Molecule], properties: list[dict], fmt: str) -> str:
    """SDF (chemist bonds, properties as data items) or XYZ (properties in the title) text."""
    if fmt == "sdf":
        return chemist_sdf(molecules, properties)
    if fmt != "xyz":
        raise ValueError(f"unknown output format {fmt!r}; choose sdf or xyz")
    return to_xyz([Molecule(m.elements, m.coords, " ".join([m.title] * bool(m.title) + [f"{k}={v}" for k, v in p.items()]))
                   for m, p in zip(molecules, properties, strict=True)])
