"""EDM bond orders, stability, validity pipeline, evaluate() arithmetic and failure diagnosis."""

from __future__ import annotations

import numpy as np
import pytest

from inertialar.chem.metrics import (
    DOUBLE_PM,
    SINGLE_PM,
    TRIPLE_PM,
    VALENCES,
    bond_orders,
    diagnose,
    edm_smiles,
    evaluate,
    failure_reasons,
    sanitize_error,
    stability,
)
from inertialar.chem.molecule import Molecule
from inertialar.data.specs import QM9_ELEMENTS as ELEMENTS

EVALUATE_KEYS = {"n", "atom_stability", "mol_stability", "validity", "uniqueness", "valid_x_unique", "novelty"}


def diatomic(a: str, b: str, distance: float) -> Molecule:
    return Molecule((a, b), [[0.0, 0.0, 0.0], [distance, 0.0, 0.0]])


def water() -> Molecule:
    return Molecule(("O", "H", "H"), [[0.0, 0.0, 0.0], [0.96, 0.0, 0.0], [-0.24, 0.93, 0.0]])


def methane(stretch: float = 0.0) -> Molecule:
    """CH4 with C–H 1.09 Å; the first C–H bond lengthened by ``stretch`` Å."""
    dirs = np.array([[1, 1, 1], [-1, -1, 1], [-1, 1, -1], [1, -1, -1]]) / np.sqrt(3.0)
    lengths = np.array([1.09 + stretch, 1.09, 1.09, 1.09])
    return Molecule(("C", "H", "H", "H", "H"), np.vstack([[0.0, 0.0, 0.0], dirs * lengths[:, None]]))


def benzene(short: float, long: float) -> Molecule:
    """Planar C6H6: an equiangular carbon hexagon with sides alternating ``short``/``long`` Å, C–H 1.08 Å."""
    steps = np.array([short, long] * 3)[:, None] * np.stack(
        [np.cos(np.arange(6) * np.pi / 3), np.sin(np.arange(6) * np.pi / 3), np.zeros(6)], 1)  # (6, 3) Å
    carbons = np.cumsum(steps, axis=0)  # (6, 3) Å; the walk closes after six 60° turns
    carbons -= carbons.mean(0)
    outward = carbons / np.linalg.norm(carbons, axis=1, keepdims=True)  # (6, 3)
    return Molecule(tuple("CCCCCCHHHHHH"), np.vstack([carbons, carbons + 1.08 * outward]))


def reference_order(a: str, b: str, d_pm: float) -> int:
    """EDM's rule written as nested ifs over the tables, to check the vectorised version."""
    def entry(table: dict) -> float | None:
        return table.get((a, b), table.get((b, a)))

    single, double, triple = entry(SINGLE_PM), entry(DOUBLE_PM), entry(TRIPLE_PM)
    if single is None or not d_pm < single + 10:
        return 0
    if double is None or not d_pm < double + 5:
        return 1
    if triple is None or not d_pm < triple + 3:
        return 2
    return 3


@pytest.mark.parametrize("distance, order", [(1.54, 1), (1.34, 2), (1.20, 3), (1.70, 0)])
def test_carbon_carbon_bond_order_follows_distance(distance, order):
    assert bond_orders(diatomic("C", "C", distance))[0, 1] == order


def test_hydrogen_molecule_has_a_single_bond():
    assert bond_orders(diatomic("H", "H", 0.74))[0, 1] == 1


@pytest.mark.parametrize("a, b", [("C", "F"), ("H", "O"), ("F", "F")])
def test_pair_without_double_entry_is_never_double(a, b):
    assert bond_orders(diatomic(a, b, 0.80))[0, 1] == 1


@pytest.mark.parametrize("distance, order", [(1.64, 0), (1.39, 1), (1.23, 2)])
def test_thresholds_are_strict(distance, order):
    # C–C thresholds: single 154 + 10, double 134 + 5, triple 120 + 3 pm; equality fails.
    assert bond_orders(diatomic("C", "C", distance))[0, 1] == order


def test_bond_orders_match_the_pairwise_rule_on_random_atoms():
    rng = np.random.default_rng(0)
    elements = tuple(rng.choice(ELEMENTS, size=40))
    mol = Molecule(elements, rng.uniform(0.0, 3.0, size=(40, 3)))
    orders = bond_orders(mol)
    d_pm = 100.0 * np.linalg.norm(mol.coords[:, None] - mol.coords[None], axis=-1)
    expected = np.array([[0 if i == j else reference_order(elements[i], elements[j], d_pm[i, j])
                          for j in range(40)] for i in range(40)])
    assert orders.dtype.kind == "i"
    np.testing.assert_array_equal(orders, expected)
    assert (orders >= 2).any()  # the sample exercises multiple bonds, not just singles


def test_water_and_methane_are_stable_and_valid():
    assert stability(water()) == (3, 3, True)
    assert stability(methane()) == (5, 5, True)
    assert edm_smiles(water()) == "O"
    assert edm_smiles(methane()) == "C"
    assert diagnose(water()) == []


def test_kekule_benzene_is_stable_and_valid_with_aromatic_smiles():
    mol = benzene(short=1.34, long=1.46)
    assert stability(mol) == (12, 12, True)
    assert edm_smiles(mol) == "c1ccccc1"
    assert failure_reasons(mol) == []


def test_benzene_with_equal_aromatic_bonds_is_unstable_under_edm_tables():
    # 140 pm is above the C=C threshold (134 + 5), so every ring bond is single: the carbons
    # have valence 3. QM9's own benzene (C–C 139.4 pm) fails EDM's stability the same way.
    mol = benzene(short=1.40, long=1.40)
    assert stability(mol) == (6, 12, False)
    assert edm_smiles(mol) == "C1CCCCC1"  # valid: RDKit adds implicit H, as in EDM


def test_stretched_bond_makes_molecule_unstable():
    mol = methane(stretch=0.5)  # 159 pm > 109 + 10
    n_stable, n_atoms, stable = stability(mol)
    assert (n_stable, n_atoms, stable) == (3, 5, False)
    assert edm_smiles(mol) == "C"  # sanitizes (implicit H added, as in EDM); largest fragment kept
    reasons = diagnose(mol)
    assert {"kind": "valence", "atom": 0, "element": "C", "bond_sum": 3, "allowed": 4} in reasons
    assert {"kind": "fragments", "count": 2, "atoms": [1]} in reasons
    assert failure_reasons(mol) == ["valence", "fragments"]


def test_overbonded_carbon_fails_sanitize():
    dirs = np.array([[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1]], dtype=float)
    mol = Molecule(("C",) + ("H",) * 5, np.vstack([[0.0, 0.0, 0.0], 1.09 * dirs]))
    assert stability(mol)[2] is False
    assert edm_smiles(mol) is None
    message = sanitize_error(mol)
    assert message is not None and "valence" in message.lower() and "\n" not in message
    assert failure_reasons(mol) == ["valence", "sanitize"]


def test_sanitize_error_is_none_for_valid_molecule():
    assert sanitize_error(water()) is None


def test_close_pair_is_reported_as_clash():
    mol = Molecule(("H", "H", "O"), [[0.0, 0.0, 0.0], [0.5, 0.0, 0.0], [5.0, 0.0, 0.0]])
    clashes = [r for r in diagnose(mol) if r["kind"] == "clash"]
    assert len(clashes) == 1 and clashes[0]["atoms"] == [0, 1]
    assert clashes[0]["distance"] == pytest.approx(0.5)


def test_edm_smiles_keeps_the_largest_fragment():
    far = methane().coords + np.array([10.0, 0.0, 0.0])
    mol = Molecule(water().elements + methane().elements, np.vstack([water().coords, far]))
    assert edm_smiles(mol) == "C"  # 5 atoms beat 3


def test_evaluate_uniqueness_and_novelty_arithmetic():
    mols = [water()] * 6
    smiles = ["O", "O", "C", None, "CC", ""]  # 4 valid, 3 unique, 2 of them not in train
    result = evaluate(mols, train_smiles={"O", "N"}, smiles=smiles)
    assert result["n"] == 6
    assert result["validity"] == pytest.approx(4 / 6)
    assert result["uniqueness"] == pytest.approx(3 / 4)
    assert result["valid_x_unique"] == pytest.approx(3 / 6)
    assert result["novelty"] == pytest.approx(2 / 3)


def test_evaluate_keys_ranges_and_pooled_atom_stability():
    mols = [water(), methane(), methane(stretch=0.5)]
    result = evaluate(mols)
    assert set(result) == EVALUATE_KEYS
    assert result["novelty"] is None
    assert result["atom_stability"] == pytest.approx((3 + 5 + 3) / 13)  # pooled over atoms, not averaged
    assert result["mol_stability"] == pytest.approx(2 / 3)
    assert result["validity"] == 1.0
    assert result["uniqueness"] == pytest.approx(2 / 3)  # the stretched methane's CH3 fragment reads "C"
    for key in EVALUATE_KEYS - {"n", "novelty"}:
        assert 0.0 <= result[key] <= 1.0


def test_evaluate_precomputed_smiles_match_computed_ones():
    mols = [water(), methane(), methane(stretch=0.5)]
    assert evaluate(mols, smiles=[edm_smiles(m) for m in mols]) == evaluate(mols)


def test_evaluate_rejects_empty_list_and_mismatched_smiles():
    with pytest.raises(ValueError, match="at least one"):
        evaluate([])
    with pytest.raises(ValueError, match="SMILES"):
        evaluate([water()], smiles=["O", "C"])


def test_valence_and_bond_tables_cover_both_vocabularies():
    from inertialar.chem.metrics import TABLE_ELEMENTS
    from inertialar.data.specs import DRUG_ELEMENTS

    assert set(DRUG_ELEMENTS) <= set(VALENCES) and set(DRUG_ELEMENTS) <= set(TABLE_ELEMENTS)
    assert VALENCES["S"] == (4,) and VALENCES["Cl"] == VALENCES["Br"] == (1,)  # EDM's allowed_bonds
