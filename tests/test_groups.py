"""Functional-group detection on SMILES, name checking and hit rates."""

from __future__ import annotations

import numpy as np
import pytest

from inertialar.chem.groups import (
    DRUG_GROUP_NAMES,
    GROUP_NAMES,
    GROUP_SMARTS,
    check_group_names,
    detect_groups,
    group_vector,
    hit_rate,
)

# One small molecule per group that must be detected.
EXAMPLES = {
    "alcohol": "CCO",
    "phenol": "Oc1ccccc1",
    "benzene": "c1ccccc1",
    "aromatic_ring": "c1ccncc1",
    "alkene": "C=CC",
    "alkyne": "CC#C",
    "ether": "CCOCC",
    "aldehyde": "CC=O",
    "ketone": "CC(C)=O",
    "carboxylic_acid": "CC(=O)O",
    "ester": "CC(=O)OC",
    "primary_amine": "CCN",
    "secondary_amine": "CNC",
    "tertiary_amine": "CN(C)C",
    "amide": "CC(N)=O",
    "nitrile": "CC#N",
    "nitro": "C[N+](=O)[O-]",
    "fluoroalkyl": "CCF",
    "fluoroaryl": "Fc1ccccc1",
    # drug-like additions
    "sulfonamide": "CS(=O)(=O)N",
    "sulfone": "CS(=O)(=O)C",
    "thioether": "CSC",
    "aryl_halide": "Clc1ccccc1",
    "alkyl_halide": "CCBr",
    "urea": "NC(=O)N",
    "carbamate": "CNC(=O)OC",
    "thiophene": "c1ccsc1",
    "piperidine": "C1CCNCC1",
    "piperazine": "C1CNCCN1",
    "morpholine": "C1COCCN1",
}


def test_there_are_nineteen_qm9_groups_and_the_drug_list_extends_them():
    assert len(GROUP_NAMES) == 19 == len(set(GROUP_NAMES))
    assert DRUG_GROUP_NAMES[:19] == GROUP_NAMES and len(set(DRUG_GROUP_NAMES)) == len(DRUG_GROUP_NAMES) == 30
    assert list(GROUP_SMARTS) == list(DRUG_GROUP_NAMES)
    assert set(EXAMPLES) == set(DRUG_GROUP_NAMES)


def test_drug_groups_are_not_found_where_they_are_absent():
    assert not {"sulfonamide", "sulfone"} & detect_groups("CS(=O)C")  # a sulfoxide
    assert "thioether" not in detect_groups("CS")  # a thiol
    assert "aryl_halide" not in detect_groups("ClCC")
    assert "urea" not in detect_groups("CC(=O)N")
    assert "piperidine" not in detect_groups("c1ccncc1")


@pytest.mark.parametrize("group", DRUG_GROUP_NAMES)
def test_each_group_is_detected_in_its_example(group):
    assert group in detect_groups(EXAMPLES[group])


@pytest.mark.parametrize("smiles, present, absent", [
    ("CCO", {"alcohol"}, {"phenol", "ether"}),
    ("CC(C)=O", {"ketone"}, {"aldehyde"}),
    ("CC#N", {"nitrile"}, {"alkyne"}),
    ("C[N+](=O)[O-]", {"nitro"}, {"tertiary_amine"}),
    ("c1ccccc1", {"benzene"}, {"aromatic_ring", "alkene"}),
    ("c1ccncc1", {"aromatic_ring"}, {"benzene"}),
    ("c1ccoc1", {"aromatic_ring"}, {"ether", "benzene"}),
    ("CCOCC", {"ether"}, {"ester", "alcohol"}),
    ("CC(=O)OC", {"ester"}, {"ether", "carboxylic_acid"}),
    ("Oc1ccccc1", {"phenol", "benzene"}, {"alcohol"}),
    ("CC(N)=O", {"amide"}, {"primary_amine", "ketone"}),
    ("C=O", {"aldehyde"}, {"ketone"}),
    ("C1CCCCC1", set(), {"benzene", "aromatic_ring", "alkene"}),
])
def test_detection_on_simple_smiles(smiles, present, absent):
    found = detect_groups(smiles)
    assert present <= found
    assert not (absent & found)


def test_explicit_hydrogen_smiles_give_the_same_groups():
    assert detect_groups("[H]OC([H])([H])C([H])([H])[H]") == detect_groups("CCO") == {"alcohol"}


@pytest.mark.parametrize("smiles", [None, "", "not a smiles", "C1CC"])
def test_missing_or_unparsable_smiles_have_no_groups(smiles):
    assert detect_groups(smiles) == frozenset()


def test_group_vector_is_boolean_in_group_order():
    vec = group_vector("CCO")
    assert vec.shape == (19,) and vec.dtype == bool
    np.testing.assert_array_equal(np.flatnonzero(vec), [GROUP_NAMES.index("alcohol")])
    assert not group_vector(None).any()


def test_unknown_group_name_raises_one_line_error_listing_valid_names():
    with pytest.raises(ValueError) as info:
        check_group_names(["alcohol", "alcohols"])
    message = str(info.value)
    assert "'alcohols'" in message and "carboxylic_acid" in message and "\n" not in message


def test_valid_group_names_are_returned_as_list():
    assert check_group_names(("ether", "nitro")) == ["ether", "nitro"]
    assert check_group_names("ether") == ["ether"]


def test_hit_rate_counts_invalid_entries_as_misses():
    smiles = ["CCO", None, "CC", "OCCO"]
    assert hit_rate(smiles, "alcohol") == pytest.approx(2 / 4)
    assert hit_rate([None, None], "alcohol") == 0.0


def test_hit_rate_rejects_unknown_group_and_empty_list():
    with pytest.raises(ValueError, match="unknown functional group"):
        hit_rate(["CCO"], "alcool")
    with pytest.raises(ValueError, match="at least one"):
        hit_rate([], "alcohol")
