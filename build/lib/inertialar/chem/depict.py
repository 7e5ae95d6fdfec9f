"""2-D structure drawings (RDKit's own SVG depiction, offline) from the chemist's bonds.

The drawing uses the same bonds the SDF download writes (``bonds.perceive``: RDKit's
``DetermineBonds``, EDM's table where RDKit cannot assign bonds). A molecule that RDKit cannot
sanitize is still drawn with its perceived connectivity, and the atoms whose bond-order sum is
not an allowed valence (EDM's table) carry a red highlight and a "!" note, so a broken molecule is
visibly broken. Hydrogens are folded into their heavy atoms' labels, as chemists draw them.
"""

from __future__ import annotations

import numpy as np

from inertialar.chem.bonds import perceive
from inertialar.chem.metrics import stable_atoms
from inertialar.chem.molecule import Molecule

WRONG = (1.0, 0.45, 0.45)  # highlight colour of atoms with a wrong valence


def wrong_valence_atoms(mol: Molecule) -> np.ndarray:
    """Indices of atoms whose perceived bond-order sum (less their formal charge's share) is not an
    allowed valence; none where RDKit perceived a sanitizable structure."""
    p = perceive(mol)
    if p.source == "rdkit":
        return np.zeros(0, dtype=np.int64)
    return np.flatnonzero(~stable_atoms(mol, p.bonds))


def depiction_svg(mol: Molecule, width: int = 220, height: int = 170) -> str:
    """An SVG drawing of ``mol`` (``width`` × ``height`` px), wrong valences marked."""
    from rdkit import Chem
    from rdkit.Chem import rdDepictor
    from rdkit.Chem.Draw import rdMolDraw2D
    from rdkit.rdBase import BlockLogs

    with BlockLogs():
        p = perceive(mol)
        bad = set(np.flatnonzero(~stable_atoms(mol, p.bonds)).tolist()) if p.source != "rdkit" else set()
        rd = Chem.RWMol(p.to_rdkit(mol))
        rd.UpdatePropertyCache(strict=False)
        heavy = [a.GetIdx() for a in rd.GetAtoms() if a.GetAtomicNum() != 1]
        for i in bad:
            rd.GetAtomWithIdx(int(i)).SetProp("atomNote", "!")
        if heavy:  # fold hydrogens into their neighbours' labels; keep a lone H2 as drawn
            for a in rd.GetAtoms():
                if a.GetAtomicNum() != 1:
                    a.SetNumExplicitHs(sum(n.GetAtomicNum() == 1 for n in a.GetNeighbors()))
            for idx in sorted((a.GetIdx() for a in rd.GetAtoms() if a.GetAtomicNum() == 1), reverse=True):
                rd.RemoveAtom(idx)
        drawn = rd.GetMol()
        drawn.UpdatePropertyCache(strict=False)
        old = heavy if heavy else list(range(len(mol)))
        marks = [old.index(i) for i in sorted(bad) if i in old]
        rdDepictor.Compute2DCoords(drawn)
        d = rdMolDraw2D.MolDraw2DSVG(width, height)
        opts = d.drawOptions()
        opts.clearBackground = False
        opts.annotationFontScale = 0.9
        d.DrawMolecule(drawn, highlightAtoms=marks, highlightAtomColors={i: WRONG for i in marks},
                       highlightBonds=[])
        d.FinishDrawing()
    svg = d.GetDrawingText()
    return svg[svg.index("<svg"):]  # without the XML declaration, to embed in HTML
