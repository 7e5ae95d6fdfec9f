"""Geometry refinement (MMFF94, GFN2-xTB): reported numbers, caps, failures that keep the molecule."""

from __future__ import annotations

import numpy as np
import pytest

from inertialar.chem.molecule import Molecule
from inertialar.chem.refine import RefineSettings, refine, refine_all, summarize, summary_line, superpose


def stretched(mol: Molecule, factor: float = 1.08) -> Molecule:
    return Molecule(mol.elements, mol.coords * factor)


def test_superpose_undoes_a_rotation_and_translation(ethanol):
    theta = 0.7
    rot = np.array([[np.cos(theta), -np.sin(theta), 0], [np.sin(theta), np.cos(theta), 0], [0, 0, 1]])
    moved = ethanol.coords @ rot + np.array([1.0, -2.0, 3.0])
    back = superpose(moved, ethanol.coords, np.ones(len(ethanol), dtype=bool))
    assert np.allclose(back, ethanol.coords, atol=1e-8)


@pytest.mark.parametrize("method", ["mmff", "xtb"])
def test_refinement_of_a_stretched_molecule_lowers_the_energy_and_keeps_connectivity(method, methane, ethanol):
    for mol in (methane, ethanol):
        r = refine(stretched(mol), RefineSettings(method, max_steps=200))
        assert r.refined, r.reason
        assert r.energy_drop_kcal_mol > 0 and r.connectivity_kept and r.rmsd_heavy_A < 0.3
        props = r.properties()
        assert {"energy_drop_kcal_mol", "rmsd_heavy_A", "connectivity_kept"} <= set(props)
        assert props["refine_method"] == method


def test_xtb_not_converged_within_the_step_cap_is_reported_and_keeps_the_raw_pose(water):
    raw = stretched(water, 1.3)
    r = refine(raw, RefineSettings("xtb", max_steps=1))
    assert not r.refined and "not converged" in r.reason
    assert np.array_equal(r.molecule.coords, raw.coords)
    assert r.properties() == {"refine_method": "xtb", "refine_failed": r.reason}


def test_xtb_scf_failure_is_reported_not_raised(water, monkeypatch):
    from ase.calculators.calculator import CalculationFailed
    from tblite.ase import TBLite

    def fail(*args, **kwargs):
        raise CalculationFailed("SCF did not converge in 250 iterations")

    monkeypatch.setattr(TBLite, "calculate", fail)
    r = refine(water, RefineSettings("xtb"))
    assert not r.refined and "SCF did not converge" in r.reason and r.molecule is water


def test_mmff_without_parameters_or_sanitizable_bonds_keeps_the_molecule():
    ch5 = Molecule(tuple("CHHHHH"), np.array([[0, 0, 0], [1.09, 0, 0], [-1.09, 0, 0], [0, 1.09, 0], [0, -1.09, 0],
                                              [0, 0, 1.09]]))
    (r,) = refine_all([ch5], RefineSettings("mmff"))
    assert not r.refined and "sanitize" in r.reason and r.molecule is ch5


def test_summary_counts_refined_and_failed(water, methane):
    done = refine_all([stretched(methane), stretched(water, 1.3)], RefineSettings("xtb", max_steps=2))
    s = summarize(done)
    assert s["n"] == 2 and s["refined"] + s["failed"] == 2
    line = summary_line(s)
    assert line.startswith("refined (xtb):") and "median energy drop" in line and "\n" not in line


def test_unknown_method_is_a_value_error(water):
    with pytest.raises(ValueError, match="unknown refinement"):
        refine(water, RefineSettings("amber"))
