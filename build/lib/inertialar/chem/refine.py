"""Optional geometry refinement of generated molecules: RDKit MMFF94 or GFN2-xTB (tblite + ASE).

Raw model output is the product; refinement is an extra, always labelled "refined".

* ``mmff``: MMFF94 (RDKit) on molecules whose perceived bonds (``inertialar.chem.bonds``) sanitize and
  have MMFF94 parameters; at most ``max_steps`` minimizer iterations (default 2,000).
* ``xtb``: GFN2-xTB energies and forces from the ``tblite`` Python package, minimized with ASE's
  L-BFGS until the largest force is below ``fmax`` eV/Å, at most ``max_steps`` steps (default 300) and
  ``max_seconds`` per molecule (ASE's BFGS took as many steps but 4× the CPU time on this busy
  2-core machine: its dense per-step algebra). Total charge 0; molecules with an odd electron
  count are run as doublets.

Every molecule comes back (never dropped). A refined one carries ``energy_drop_kcal_mol``
(energy of the raw pose minus the refined one, same method), ``rmsd_heavy_A`` (heavy-atom RMSD
after optimal superposition, Å) and ``connectivity_kept`` (RDKit's distance-based connectivity
unchanged). Refined coordinates are superposed onto the raw pose (heavy atoms; all atoms when
fewer than 3 are heavy), so both can be shown overlaid. A molecule that cannot be refined (no
force-field parameters, SCF failure, not converged within the caps) is returned unrefined with
the reason.
"""

from __future__ import annotations

import ctypes
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from inertialar.chem.bonds import connectivity, sanitized_rdkit
from inertialar.chem.molecule import PERIODIC_TABLE, Molecule

METHODS = ("none", "mmff", "xtb")
EV_TO_KCAL_MOL = 23.060548  # kcal/mol per eV
# Step caps per molecule: MMFF94 minimizer iterations are cheap (300 left 41 of 100 generated molecules
# unconverged; 2,000 left 1); an xTB step is an SCF + gradient (median 51 steps for generated molecules).
DEFAULT_STEPS = {"mmff": 2000, "xtb": 300}


@dataclass(frozen=True)
class RefineSettings:
    """How to refine: ``method`` in METHODS; per-molecule caps on optimizer steps and wall time (s);
    ``fmax`` (eV/Å) the xTB convergence threshold on the largest atomic force."""

    method: str = "none"
    max_steps: int | None = None  # None: DEFAULT_STEPS of the method
    max_seconds: float = 10.0
    fmax: float = 0.05

    @property
    def steps(self) -> int:
        return DEFAULT_STEPS.get(self.method, 0) if self.max_steps is None else self.max_steps

    def validate(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"unknown refinement {self.method!r}; choose one of {', '.join(METHODS)}")
        if (self.max_steps is not None and self.max_steps < 1) or not self.max_seconds > 0 or not self.fmax > 0:
            raise ValueError("refinement caps (steps, seconds, fmax) must be positive")


@dataclass(frozen=True)
class Refinement:
    """The outcome for one molecule; ``molecule`` is the refined pose, or the raw one if ``reason`` is set."""

    molecule: Molecule
    method: str
    reason: str | None = None
    energy_drop_kcal_mol: float | None = None
    rmsd_heavy_A: float | None = None  # Å; named like the SDF property
    connectivity_kept: bool | None = None
    steps: int = 0
    seconds: float = 0.0

    @property
    def refined(self) -> bool:
        return self.reason is None

    def properties(self) -> dict:
        """SDF data items of this record."""
        if not self.refined:
            return {"refine_method": self.method, "refine_failed": self.reason}
        return {"refine_method": self.method, "energy_drop_kcal_mol": self.energy_drop_kcal_mol,
                "rmsd_heavy_A": self.rmsd_heavy_A, "connectivity_kept": self.connectivity_kept,
                "refine_steps": self.steps}


def superpose(mobile: np.ndarray, target: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``mobile`` (N, 3) Å rotated and translated to best fit ``target`` (N, 3) Å on the atoms in ``mask`` (N,) bool (Kabsch)."""
    a, b = mobile[mask], target[mask]  # (M, 3)
    ca, cb = a.mean(0), b.mean(0)
    u, _, vt = np.linalg.svd((a - ca).T @ (b - cb))  # (3, 3)
    d = np.sign(np.linalg.det(u @ vt)) or 1.0  # a proper rotation, never a reflection
    rot = u @ np.diag([1.0, 1.0, d]) @ vt  # (3, 3), applied as x @ rot
    return (mobile - ca) @ rot + cb


def compare_geometry(raw: Molecule, coords: np.ndarray) -> tuple[Molecule, float, bool]:
    """(refined molecule superposed on raw, heavy-atom RMSD in Å, connectivity kept)."""

    heavy = np.array([e != "H" for e in raw.elements])  # (N,)
    fit = heavy if heavy.sum() >= 3 else np.ones(len(raw), dtype=bool)
    aligned = superpose(coords, raw.coords, fit)  # (N, 3) Å
    rmsd = float(np.sqrt(((aligned[heavy] - raw.coords[heavy]) ** 2).sum(1).mean())) if heavy.any() else 0.0
    refined = Molecule(raw.elements, aligned, raw.title)
    return refined, rmsd, bool(np.array_equal(connectivity(raw), connectivity(refined)))


def _mmff(mol: Molecule, s: RefineSettings) -> Refinement:
    from rdkit.Chem import rdForceFieldHelpers
    from rdkit.rdBase import BlockLogs


    t0 = time.perf_counter()
    rd = sanitized_rdkit(mol)
    if rd is None:
        return Refinement(mol, "mmff", "perceived bonds do not sanitize, so MMFF94 cannot type the atoms")
    with BlockLogs():
        props = rdForceFieldHelpers.MMFFGetMoleculeProperties(rd)
        ff = rdForceFieldHelpers.MMFFGetMoleculeForceField(rd, props) if props is not None else None
    if ff is None:
        return Refinement(mol, "mmff", "MMFF94 has no parameters for this molecule")
    ff.Initialize()
    e0 = ff.CalcEnergy()  # kcal/mol
    steps, converged = 0, False
    while steps < s.steps and time.perf_counter() - t0 < s.max_seconds:
        chunk = min(25, s.steps - steps)
        converged = ff.Minimize(maxIts=chunk) == 0
        steps += chunk
        if converged:
            break
    seconds = time.perf_counter() - t0
    if not converged:
        return Refinement(mol, "mmff", f"MMFF94 not converged within {steps} iterations / {s.max_seconds:g} s",
                          steps=steps, seconds=seconds)
    coords = np.array(ff.Positions()).reshape(-1, 3)  # (N, 3) Å
    refined, rmsd, kept = compare_geometry(mol, coords)
    return Refinement(refined, "mmff", None, float(e0 - ff.CalcEnergy()), rmsd, kept, steps, seconds)


@contextmanager
def _one_openmp_thread() -> Iterator[None]:
    """Run tblite on one OpenMP thread: its small matrices gain nothing from more, and spinning
    OpenMP threads on a busy CPU cost 30× in wall time. tblite shares the process's libgomp
    (torch's, if torch was imported first), so the thread count is set through that library."""
    try:
        gomp = ctypes.CDLL("libgomp.so.1")
        before = gomp.omp_get_max_threads()
    except (OSError, AttributeError):  # another OpenMP runtime: leave it alone
        yield
        return
    gomp.omp_set_num_threads(1)
    try:
        yield
    finally:
        gomp.omp_set_num_threads(before)


def _xtb(mol: Molecule, s: RefineSettings) -> Refinement:
    with _one_openmp_thread():
        return _xtb_run(mol, s)


def _xtb_run(mol: Molecule, s: RefineSettings) -> Refinement:
    from ase import Atoms
    from ase.optimize import LBFGS
    from tblite.ase import TBLite

    t0 = time.perf_counter()
    electrons = sum(PERIODIC_TABLE.index(e) for e in mol.elements)  # Molecule holds only known elements
    atoms = Atoms(symbols=list(mol.elements), positions=mol.coords)
    atoms.calc = TBLite(method="GFN2-xTB", charge=0, multiplicity=1 + electrons % 2, verbosity=0)
    steps, converged = 0, False
    try:
        e0 = atoms.get_potential_energy()  # eV
        opt = LBFGS(atoms, logfile=None)
        for converged in opt.irun(fmax=s.fmax, steps=s.steps):
            steps = opt.nsteps
            if converged or time.perf_counter() - t0 > s.max_seconds:
                break
        e1 = atoms.get_potential_energy()  # eV
    except (RuntimeError, ValueError) as err:  # SCF failures (ase CalculationFailed is a RuntimeError)
        message = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        return Refinement(mol, "xtb", f"GFN2-xTB failed: {message[:120]}", steps=steps,
                          seconds=time.perf_counter() - t0)
    seconds = time.perf_counter() - t0
    if not converged:
        why = "time cap" if seconds > s.max_seconds else "step cap"
        return Refinement(mol, "xtb", f"GFN2-xTB not converged (fmax {s.fmax:g} eV/Å) within {steps} steps ({why})",
                          steps=steps, seconds=seconds)
    refined, rmsd, kept = compare_geometry(mol, atoms.get_positions())
    return Refinement(refined, "xtb", None, float((e0 - e1) * EV_TO_KCAL_MOL), rmsd, kept, steps, seconds)


def refine(mol: Molecule, settings: RefineSettings) -> Refinement:
    """Refine one molecule (``method`` "none" returns it unchanged, marked refined with zero change)."""
    settings.validate()
    if settings.method == "mmff":
        return _mmff(mol, settings)
    if settings.method == "xtb":
        return _xtb(mol, settings)
    return Refinement(mol, "none", None, 0.0, 0.0, True)


def refine_all(molecules: list[Molecule], settings: RefineSettings,
               progress: Callable[[float], None] | None = None) -> list[Refinement]:
    """Refine every molecule in order (same length as ``molecules``); ``progress`` gets 0..1."""
    settings.validate()
    out = []
    for k, mol in enumerate(molecules):
        out.append(refine(mol, settings))
        if progress is not None:
            progress((k + 1) / len(molecules))
    return out


def summarize(refinements: list[Refinement]) -> dict:
    """Counts and medians over refined molecules: refined, failed, median energy drop (kcal/mol),
    median heavy-atom RMSD (Å), connectivity kept (fraction of refined); medians None if none refined."""
    done = [r for r in refinements if r.refined]
    return {"method": refinements[0].method if refinements else "none", "n": len(refinements),
            "refined": len(done), "failed": len(refinements) - len(done),
            "median_energy_drop_kcal_mol": float(np.median([r.energy_drop_kcal_mol for r in done])) if done else None,
            "median_rmsd_heavy_A": float(np.median([r.rmsd_heavy_A for r in done])) if done else None,
            "connectivity_kept": float(np.mean([r.connectivity_kept for r in done])) if done else None}


def summary_line(summary: dict) -> str:
    """The one-line summary printed by ``sample --refine``."""
    def num(value, fmt: str) -> str:
        return "n/a" if value is None else format(value, fmt)

    kept = None if summary["connectivity_kept"] is None else 100 * summary["connectivity_kept"]
    return (f"refined ({summary['method']}): {summary['refined']} / failed: {summary['failed']} · "
            f"median energy drop {num(summary['median_energy_drop_kcal_mol'], '.1f')} kcal/mol · "
            f"median heavy-atom RMSD {num(summary['median_rmsd_heavy_A'], '.3f')} Å · "
            f"connectivity kept {num(kept, '.0f')}%")
