"""PoseBusters plausibility: per-check pass rates over every molecule, failures counted."""

from __future__ import annotations

import numpy as np

from inertialar.chem.molecule import Molecule
from inertialar.chem.plausibility import CHECKS, all_pass, check_molecules, plausibility


def test_posebusters_passes_ethanol_and_fails_a_broken_molecule(ethanol):
    broken = Molecule(tuple("CCO"), np.array([[0, 0, 0], [0.3, 0, 0], [5.0, 0, 0]]))  # clash + lone O
    good, bad = check_molecules([ethanol, broken])
    assert set(good) == set(CHECKS) and all_pass(good)
    assert not all_pass(bad) and not bad["all_atoms_connected"]


def test_plausibility_rates_count_every_molecule(ethanol, water):
    rows = [{name: True for name in CHECKS}, {name: name != "sanitization" for name in CHECKS}]
    result = plausibility([ethanol, water], rows)
    assert result["posebusters_all_pass"] == 0.5 and result["posebusters_checks"]["sanitization"] == 0.5
    assert result["posebusters_n"] == 2 and "DetermineBonds" in result["posebusters_bonds"]
