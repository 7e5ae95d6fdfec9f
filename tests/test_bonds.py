"""Chemist bond orders for written SDF: RDKit perception, EDM-table fallback, round trip through RDKit."""

from __future__ import annotations

import numpy as np
import pytest

from inertialar.chem.bonds import chemist_sdf, connectivity, perceive
from inertialar.chem.molecule import Molecule, parse_sdf


def methyl_radical() -> Molecule:
    """CH3 with total charge 0 has no closed-shell bond assignment: RDKit's perception fails."""
    return Molecule(tuple("CHHH"), np.array([[0, 0, 0], [1.08, 0, 0], [-0.54, 0.935, 0], [-0.54, -0.935, 0]]))


def nitromethane() -> Molecule:
    from rdkit import Chem
    from rdkit.Chem import AllChem

    rd = Chem.AddHs(Chem.MolFromSmiles("C[N+](=O)[O-]"))
    AllChem.EmbedMolecule(rd, randomSeed=0)
    return Molecule(tuple(a.GetSymbol() for a in rd.GetAtoms()), rd.GetConformer().GetPositions())


def _read_back(text: str, tmp_path, sanitize: bool):
    from rdkit import Chem

    path = tmp_path / "m.sdf"
    path.write_text(text)
    return list(Chem.SDMolSupplier(str(path), sanitize=sanitize, removeHs=False))


def test_rdkit_perception_gives_co2_double_bonds_and_a_kekule_benzene(co2, benzene):
    p = perceive(co2)
    assert p.source == "rdkit" and p.bonds[0, 1] == p.bonds[1, 2] == 2
    b = perceive(benzene)
    ring = [b.bonds[i, (i + 1) % 6] for i in range(6)]
    assert b.source == "rdkit" and sorted(ring) == [1, 1, 1, 2, 2, 2]


def test_perception_keeps_formal_charges_of_a_nitro_group():
    p = perceive(nitromethane())
    assert p.source == "rdkit" and sorted(p.charges.tolist())[0] == -1 and max(p.charges) == 1 and p.charges.sum() == 0


def test_edm_table_is_the_fallback_where_rdkit_cannot_assign_bonds():
    p = perceive(methyl_radical())
    assert p.source == "edm_table" and p.bonds[0, 1:].tolist() == [1, 1, 1] and not p.charges.any()


def test_sdf_records_round_trip_through_rdkit_with_bond_source(tmp_path, water, benzene, ethanol):
    from rdkit import Chem

    mols = [water, benzene, ethanol, nitromethane(), methyl_radical()]
    text = chemist_sdf(mols, [{"note": k} for k in range(len(mols))])
    assert len(parse_sdf(text)) == len(mols)
    raw = _read_back(text, tmp_path, sanitize=False)
    for mol, rd in zip(mols, raw):
        p = perceive(mol)
        assert rd.GetNumAtoms() == len(mol) and rd.GetProp("bond_source") == p.source
        got = np.zeros_like(p.bonds)
        for b in rd.GetBonds():
            got[b.GetBeginAtomIdx(), b.GetEndAtomIdx()] = got[b.GetEndAtomIdx(), b.GetBeginAtomIdx()] = b.GetBondTypeAsDouble()
        assert np.array_equal(got, p.bonds)
        assert [a.GetFormalCharge() for a in rd.GetAtoms()] == p.charges.tolist()
    sanitized = _read_back(text, tmp_path, sanitize=True)
    smiles = [Chem.MolToSmiles(Chem.RemoveHs(m)) for m in sanitized[:4]]
    assert smiles == ["O", "c1ccccc1", "CCO", "C[N+](=O)[O-]"]


@pytest.mark.parametrize("shift", [0.0, 1.5])
def test_connectivity_is_distance_based(water, shift):
    far = Molecule(water.elements, water.coords + np.array([[0, 0, 0], [0, shift, 0], [0, 0, 0]]))
    adj = connectivity(far)
    assert adj[0, 2] and adj[0, 1] == (shift == 0.0)
