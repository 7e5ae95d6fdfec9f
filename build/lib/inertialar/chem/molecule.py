"""Molecule: elements plus Cartesian coordinates (Å), with XYZ/SDF reading and writing.

Everything that reads molecules from text goes through this module, so every entry point
(CLI, app, data pipeline) reports bad input the same way: a ``MoleculeError`` whose message
is one line, raised before anything large is allocated (molecules are capped at
``MAX_ATOMS`` atoms).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from inertialar.files import atomic_path

# Element symbols by atomic number (index 0 unused): a molecule may hold any of them; which ones a
# model can place is its dataset's vocabulary (``inertialar.data.specs``), checked by the tokenizer.
PERIODIC_TABLE: tuple[str, ...] = ("",) + tuple(
    "H He Li Be B C N O F Ne Na Mg Al Si P S Cl Ar K Ca Sc Ti V Cr Mn Fe Co Ni Cu Zn Ga Ge As Se Br Kr "
    "Rb Sr Y Zr Nb Mo Tc Ru Rh Pd Ag Cd In Sn Sb Te I Xe Cs Ba La Ce Pr Nd Pm Sm Eu Gd Tb Dy Ho Er Tm "
    "Yb Lu Hf Ta W Re Os Ir Pt Au Hg Tl Pb Bi Po At Rn Fr Ra Ac Th Pa U Np Pu Am Cm Bk Cf Es Fm Md No "
    "Lr Rf Db Sg Bh Hs Mt Ds Rg Cn Nh Fl Mc Lv Ts Og".split())
_KNOWN = frozenset(PERIODIC_TABLE[1:])
MAX_ATOMS = 1000
MAX_FILE_BYTES = 50 * 1024 * 1024


class MoleculeError(ValueError):
    """Bad molecular input; ``str(err)`` is a one-line message for the user."""


@dataclass(frozen=True)
class Molecule:
    """A 3-D molecule: ``elements`` (N,) symbols and ``coords`` (N, 3) float64 in Å."""

    elements: tuple[str, ...]
    coords: np.ndarray
    title: str = ""

    def __post_init__(self) -> None:
        coords = np.asarray(self.coords, dtype=np.float64).reshape(-1, 3)
        object.__setattr__(self, "coords", coords)
        object.__setattr__(self, "elements", tuple(self.elements))
        check_molecule(self.elements, coords)

    def __len__(self) -> int:
        return len(self.elements)

    def permuted(self, order: np.ndarray) -> Molecule:
        """The same molecule with atoms listed in ``order`` (N,) of old indices."""
        order = np.asarray(order)
        return Molecule(tuple(self.elements[i] for i in order), self.coords[order], self.title)

    def to_xyz(self) -> str:
        lines = [str(len(self)), self.title.replace("\n", " ")]
        lines += [f"{e:<2s} {x: .6f} {y: .6f} {z: .6f}" for e, (x, y, z) in zip(self.elements, self.coords)]
        return "\n".join(lines) + "\n"


def check_molecule(elements: tuple[str, ...], coords: np.ndarray) -> None:
    """Raise MoleculeError unless elements are known, counts match and coordinates are finite."""
    if len(elements) == 0:
        raise MoleculeError("molecule has no atoms")
    if len(elements) > MAX_ATOMS:
        raise MoleculeError(f"molecule has {len(elements)} atoms; the limit is {MAX_ATOMS}")
    if coords.shape != (len(elements), 3):
        raise MoleculeError(f"{len(elements)} elements but {coords.shape[0]} coordinate rows")
    unknown = sorted({e for e in elements if e not in _KNOWN})
    if unknown:
        raise MoleculeError(f"unknown element {unknown[0]!r} (not a symbol of the periodic table)")
    if not np.isfinite(coords).all():
        raise MoleculeError("coordinates contain NaN or infinity")
    if np.abs(coords).max() > 1e4:
        raise MoleculeError("coordinates larger than 10,000 Å")


def _normalise_symbol(symbol: str) -> str:
    """An element symbol as written in XYZ/SDF (any case, or an atomic number) → canonical symbol."""
    symbol = symbol.strip()
    if symbol.isdigit():  # XYZ files may name atoms by number
        z = int(symbol)
        return PERIODIC_TABLE[z] if 1 <= z < len(PERIODIC_TABLE) else f"atomic number {symbol}"
    return symbol[:1].upper() + symbol[1:].lower()


def _parse_float(text: str, where: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise MoleculeError(f"{where}: {text[:20]!r} is not a number") from None
    if not math.isfinite(value):
        raise MoleculeError(f"{where}: coordinates contain NaN or infinity")
    return value


def parse_xyz(text: str) -> list[Molecule]:
    """Parse one or more concatenated XYZ blocks."""
    lines = text.splitlines()
    molecules: list[Molecule] = []
    i = 0
    while i < len(lines):
        if not lines[i].strip():
            i += 1
            continue
        head = lines[i].strip()
        try:
            n = int(head.split()[0])
        except ValueError:
            raise MoleculeError(f"line {i + 1}: expected an atom count, got {head[:30]!r}") from None
        if n <= 0 or n > MAX_ATOMS:
            raise MoleculeError(f"line {i + 1}: atom count {n} outside 1..{MAX_ATOMS}")
        if i + 2 + n > len(lines):
            raise MoleculeError(f"line {i + 1}: header says {n} atoms but the file ends early")
        title = lines[i + 1].strip()
        elements, coords = [], []
        for k in range(i + 2, i + 2 + n):
            parts = lines[k].split()
            if len(parts) < 4:
                raise MoleculeError(f"line {k + 1}: expected 'element x y z', got {lines[k].strip()[:40]!r}")
            elements.append(_normalise_symbol(parts[0]))
            coords.append([_parse_float(p, f"line {k + 1}") for p in parts[1:4]])
        molecules.append(Molecule(tuple(elements), np.array(coords), title))
        i += 2 + n
    if not molecules:
        raise MoleculeError("no molecules found (empty input)")
    return molecules


def parse_sdf(text: str) -> list[Molecule]:
    """Parse an SDF/MOL file (V2000 atom blocks); hydrogens must be explicit."""
    molecules: list[Molecule] = []
    for block_no, block in enumerate(text.split("$$$$")):
        lines = block.strip("\n").splitlines()
        while lines and not lines[0].strip() and len(lines) > 4 and "V2000" not in lines[3]:
            lines.pop(0)
        if not any(line.strip() for line in lines):
            continue
        counts_at = next((k for k, line in enumerate(lines[:10]) if "V2000" in line or "V3000" in line), None)
        if counts_at is None:
            raise MoleculeError(f"SDF record {block_no + 1}: no V2000 counts line")
        if "V3000" in lines[counts_at]:
            raise MoleculeError(f"SDF record {block_no + 1}: V3000 is not supported; save as V2000")
        try:
            n = int(lines[counts_at][:3])
        except ValueError:
            raise MoleculeError(f"SDF record {block_no + 1}: bad counts line") from None
        if n <= 0 or n > MAX_ATOMS:
            raise MoleculeError(f"SDF record {block_no + 1}: atom count {n} outside 1..{MAX_ATOMS}")
        if counts_at + 1 + n > len(lines):
            raise MoleculeError(f"SDF record {block_no + 1}: atom block is shorter than {n} atoms")
        elements, coords = [], []
        for k in range(counts_at + 1, counts_at + 1 + n):
            parts = lines[k].split()
            if len(parts) < 4:
                raise MoleculeError(f"SDF record {block_no + 1}: bad atom line {lines[k].strip()[:40]!r}")
            coords.append([_parse_float(p, f"SDF record {block_no + 1}") for p in parts[:3]])
            elements.append(_normalise_symbol(parts[3]))
        title = lines[0].strip() if counts_at >= 3 else ""
        molecules.append(Molecule(tuple(elements), np.array(coords), title))
    if not molecules:
        raise MoleculeError("no molecules found (empty input)")
    return molecules


def sniff_format(text: str) -> str:
    """'sdf' for text with an SDF/MOL counts line or record end (V2000, V3000, $$$$), else 'xyz'."""
    return "sdf" if ("V2000" in text or "V3000" in text or "$$$$" in text) else "xyz"


def parse_text(text: str, fmt: str = "auto") -> list[Molecule]:
    """Parse ``text`` as 'xyz' or 'sdf'/'mol' ('auto': ``sniff_format``)."""
    if "\x00" in text:
        raise MoleculeError("input looks binary, not an XYZ or SDF text file")
    fmt = fmt.lower().lstrip(".")
    if fmt == "auto":
        fmt = sniff_format(text)
    if fmt == "xyz":
        return parse_xyz(text)
    if fmt in ("sdf", "mol"):
        return parse_sdf(text)
    raise MoleculeError(f"unsupported format {fmt!r}; use .xyz or .sdf")


def read_molecules(path: str | Path) -> list[Molecule]:
    """Read every molecule of an .xyz or .sdf file, with one-line errors for bad files."""
    path = Path(path)
    if not path.is_file():
        raise MoleculeError(f"no such file: {path}")
    size = path.stat().st_size
    if size == 0:
        raise MoleculeError(f"{path} is empty")
    if size > MAX_FILE_BYTES:
        raise MoleculeError(f"{path} is {size / 1e6:.0f} MB; the limit is {MAX_FILE_BYTES // 10**6} MB")
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise MoleculeError(f"{path} is not a text file") from None
    return parse_text(text, path.suffix)


def to_rdkit(mol: Molecule, bonds: np.ndarray | None = None, implicit_hydrogens: bool = False,
             charges: np.ndarray | None = None):
    """An RDKit Mol with a conformer; ``bonds`` (N, N) int bond orders and ``charges`` (N,) int
    formal charges, if given, are added.

    With ``implicit_hydrogens`` RDKit may add hydrogens to under-bonded atoms when sanitizing
    (as EDM's evaluation does); otherwise every hydrogen must be an explicit atom."""
    from rdkit import Chem
    from rdkit.Geometry import Point3D

    rw = Chem.RWMol()
    for k, e in enumerate(mol.elements):
        atom = Chem.Atom(e)
        atom.SetNoImplicit(not implicit_hydrogens)
        if charges is not None:
            atom.SetFormalCharge(int(charges[k]))
        rw.AddAtom(atom)
    if bonds is not None:
        kinds = {1: Chem.BondType.SINGLE, 2: Chem.BondType.DOUBLE, 3: Chem.BondType.TRIPLE}
        for i, j in zip(*np.nonzero(np.triu(bonds, 1))):
            rw.AddBond(int(i), int(j), kinds[int(bonds[i, j])])
    conf = Chem.Conformer(len(mol))
    for i, (x, y, z) in enumerate(mol.coords):
        conf.SetAtomPosition(i, Point3D(float(x), float(y), float(z)))
    rw.AddConformer(conf, assignId=True)
    return rw.GetMol()


def from_rdkit(rdmol, title: str = "") -> Molecule:
    """A Molecule from an RDKit Mol with a conformer (hydrogens must be explicit atoms)."""
    if rdmol.GetNumConformers() == 0:
        raise MoleculeError("RDKit molecule has no 3-D conformer")
    elements = tuple(a.GetSymbol() for a in rdmol.GetAtoms())
    return Molecule(elements, rdmol.GetConformer().GetPositions(), title)


class EmbedError(MoleculeError):
    """A SMILES that cannot become a 3-D molecule; ``reason`` names the step that failed
    ("unparsable", "outside vocabulary", "too large", "embedding failed")."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


EMBED_SEED = 0xF00D  # the app's fixed seed: the same SMILES always gives the same 3-D pose
MAX_SMILES_CHARS = 500


def from_smiles(smiles: str, seed: int = EMBED_SEED, elements: tuple[str, ...] | None = None,
                max_atoms: int = MAX_ATOMS, max_heavy: int | None = None, mmff_iterations: int = 500,
                timeout_s: int = 5) -> Molecule:
    """A 3-D molecule from SMILES: RDKit AddHs → ETKDGv3 (``seed``, ``timeout_s`` per try, a second
    try from random coordinates) → MMFF94 (``mmff_iterations``, where MMFF has parameters).
    ``elements`` (if given) and the size caps are checked before anything is embedded; every
    failure is an ``EmbedError`` with a one-line message."""
    from rdkit import Chem
    from rdkit.Chem import AllChem
    from rdkit.rdBase import BlockLogs

    smiles = smiles.strip()
    short = repr(smiles[:40])
    if not smiles:
        raise EmbedError("unparsable", "empty SMILES")
    if len(smiles) > MAX_SMILES_CHARS:
        raise EmbedError("unparsable", f"SMILES longer than {MAX_SMILES_CHARS} characters")
    with BlockLogs():
        rdmol = Chem.MolFromSmiles(smiles)
        if rdmol is None:
            raise EmbedError("unparsable", f"invalid SMILES {short} (RDKit cannot parse it)")
        outside = sorted({a.GetSymbol() for a in rdmol.GetAtoms()} - set(elements or _KNOWN))
        if outside:
            raise EmbedError("outside vocabulary", f"element {outside[0]!r} of {short} is outside the vocabulary "
                                                   f"({' '.join(elements or ())})")
        rdmol = Chem.AddHs(rdmol)
        if rdmol.GetNumAtoms() > max_atoms or (max_heavy is not None and rdmol.GetNumHeavyAtoms() > max_heavy):
            raise EmbedError("too large", f"{short} has {rdmol.GetNumAtoms()} atoms with hydrogens "
                                          f"({rdmol.GetNumHeavyAtoms()} heavy); the limit is {max_atoms}"
                                          + (f" ({max_heavy} heavy)" if max_heavy is not None else ""))
        params = AllChem.ETKDGv3()
        params.randomSeed = int(seed) % 2**31
        params.timeout = timeout_s
        status = AllChem.EmbedMolecule(rdmol, params)
        if status != 0:  # large or strained molecules often embed from random coordinates
            params.useRandomCoords = True
            status = AllChem.EmbedMolecule(rdmol, params)
        if status != 0:
            raise EmbedError("embedding failed", f"RDKit could not embed 3-D coordinates for {short}")
        if mmff_iterations > 0 and AllChem.MMFFHasAllMoleculeParams(rdmol):
            try:
                AllChem.MMFFOptimizeMolecule(rdmol, maxIters=mmff_iterations)
            except (ValueError, RuntimeError) as err:
                raise EmbedError("embedding failed", f"MMFF94 failed on {short} ({type(err).__name__})") from None
    return from_rdkit(rdmol, title=smiles)


def to_sdf(molecules: list[Molecule], bonds: list[np.ndarray] | None = None, *,
           charges: list[np.ndarray] | None = None, properties: list[dict] | None = None) -> str:
    """V2000 SDF text; per molecule: bonds (N, N) orders, charges (N,) formal charges, and
    properties (name → value, written as SDF data items), each optional."""
    from rdkit import Chem

    out = []
    for k, mol in enumerate(molecules):
        rdmol = to_rdkit(mol, None if bonds is None else bonds[k], charges=None if charges is None else charges[k])
        rdmol.SetProp("_Name", (mol.title or f"molecule {k + 1}").replace("\n", " "))
        if bonds is not None:
            _stereo_from_3d(rdmol)
        data = "".join(f"> <{name}>\n{_sdf_value(value)}\n\n" for name, value in (properties[k] if properties else {}).items())
        out.append(Chem.MolToMolBlock(rdmol, kekulize=False) + data + "$$$$\n")
    return "".join(out)


def _stereo_from_3d(rdmol) -> None:
    """Chiral tags and E/Z from the coordinates, so the writer does not mark double bonds 'either'."""
    from rdkit import Chem
    from rdkit.rdBase import BlockLogs

    try:
        with BlockLogs():
            rdmol.UpdatePropertyCache(strict=False)
            Chem.FastFindRings(rdmol)
            Chem.AssignStereochemistryFrom3D(rdmol)
    except (ValueError, RuntimeError):  # an unsanitizable structure keeps no stereo
        pass


def _sdf_value(value) -> str:
    """One-line SDF data value: booleans as 0/1, floats with 4 decimals."""
    if isinstance(value, bool | np.bool_):
        return str(int(value))
    if isinstance(value, float | np.floating):
        return f"{float(value):.4f}"
    return str(value).replace("\n", " ")


def to_xyz(molecules: list[Molecule]) -> str:
    """Concatenated XYZ blocks."""
    return "".join(m.to_xyz() for m in molecules)


def write_text(path: str | Path, text: str) -> None:
    """Write ``text`` atomically (a temporary file renamed into place), with a one-line error for a missing folder."""
    path = Path(path)
    if not path.parent.exists():
        raise MoleculeError(f"output folder {path.parent} does not exist")
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_molecules(path: str | Path, molecules: list[Molecule], bonds: list[np.ndarray] | None = None) -> None:
    """Write .xyz or .sdf atomically (a temporary file renamed into place)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".xyz":
        text = to_xyz(molecules)
    elif suffix in (".sdf", ".mol"):
        text = to_sdf(molecules, bonds)
    else:
        raise MoleculeError(f"unsupported output format {suffix or path.name!r}; use .xyz or .sdf")
    write_text(path, text)
