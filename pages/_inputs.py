"""Molecules from the user: uploads, pasted text, SMILES, QM9 test molecules, named examples (QM9-sized
ones and well-known drugs) — with one-line errors.

Every path ends in a ``Molecule`` or a ``MoleculeError`` whose message the pages show with
``st.error``; nothing here raises anything else for bad input. Limits: uploads ≤ 5 MB,
molecules ≤ ``molecule.MAX_ATOMS`` atoms (checked before RDKit embeds anything), SMILES ≤ 500
characters. SMILES become 3-D molecules through ``inertialar.chem.molecule.from_smiles``.
"""

from __future__ import annotations

import streamlit as st

from inertialar.chem.molecule import Molecule, MoleculeError, from_smiles, parse_text
from inertialar.data.qm9 import RawQM9, load_qm9_raw, split_rows
from inertialar.data.specs import DATASETS

UPLOAD_MB = 5  # the same as [server] maxUploadSize in .streamlit/config.toml (tests check they agree)
MAX_UPLOAD_BYTES = UPLOAD_MB * 1024 * 1024
SOURCES = ("QM9 test molecule", "Upload XYZ/SDF", "Paste XYZ/SDF", "SMILES", "Example molecule")
# Well-known drugs first (what a teacher shows), then QM9-sized molecules.
EXAMPLES: dict[str, str] = {f"{name} ({spec.name.upper()})": smiles for spec in reversed(DATASETS.values())
                            for name, smiles in spec.examples}


def parse_upload(name: str, data: bytes) -> list[Molecule]:
    """Molecules of an uploaded .xyz/.sdf/.mol file (≤ 5 MB, UTF-8 text)."""
    if len(data) > MAX_UPLOAD_BYTES:
        raise MoleculeError(f"{name} is {len(data) / 2**20:.1f} MB; the limit is {MAX_UPLOAD_BYTES // 2**20} MB")
    if not data.strip():
        raise MoleculeError(f"{name} is empty")
    suffix = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if suffix not in ("xyz", "sdf", "mol"):
        raise MoleculeError(f"{name}: unsupported file type; use .xyz, .sdf or .mol")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise MoleculeError(f"{name} is not a UTF-8 text file") from None
    return parse_text(text, suffix)


def parse_pasted(text: str) -> list[Molecule]:
    """Pasted XYZ or SDF text; the format is guessed (``molecule.sniff_format``)."""
    if len(text.encode()) > MAX_UPLOAD_BYTES:
        raise MoleculeError(f"pasted text is over {MAX_UPLOAD_BYTES // 2**20} MB")
    if not text.strip():
        raise MoleculeError("nothing pasted")
    return parse_text(text, "auto")


@st.cache_resource(show_spinner="Loading the QM9 test split …")
def qm9_test() -> RawQM9:
    """QM9 test-split molecules (EDM split), in split order; parsed once per server."""
    return load_qm9_raw(split_rows("test"))


def search_qm9(raw: RawQM9, query: str, limit: int = 50) -> list[int]:
    """Test-split positions whose SMILES contain ``query`` (case-sensitive substring)."""
    query = query.strip()
    if not query:
        return []
    hits = [k for k, s in enumerate(raw.smiles) if query in s]
    return hits[:limit]


def pick_molecule(ns: str, sources: tuple[str, ...] = SOURCES, default_smiles: str = "CC(=O)Oc1ccccc1C(=O)O"
                  ) -> Molecule | None:
    """Source widgets under session keys ``{ns}.*``; the chosen molecule, or None after an st.error."""
    source = st.radio("Molecule source", sources, key=f"{ns}.source", horizontal=True)
    try:
        if source == "QM9 test molecule":
            return _pick_qm9(ns)
        if source == "Upload XYZ/SDF":
            up = st.file_uploader(f"XYZ or SDF file (≤ {UPLOAD_MB} MB, explicit hydrogens)",
                                  type=["xyz", "sdf", "mol"], key=f"{ns}.upload", max_upload_size=UPLOAD_MB)
            st.caption(f"A file over {UPLOAD_MB} MB is refused by the browser before it is sent: the uploader "
                       "lists it in red (hover for the reason). Streamlit does not tell the app about a refused "
                       "file, so the file in use, and any message below, stay those of the earlier upload, "
                       "named here.")
            if up is None:
                st.info("Upload a file to continue.")
                return None
            st.caption(f"In use: **{up.name}** ({len(up.getvalue()) / 1024:.0f} KB).")
            try:
                return _first(parse_upload(up.name, up.getvalue()))
            except MoleculeError as err:  # name the file: a refused upload leaves the earlier one in use
                raise MoleculeError(str(err) if str(err).startswith(up.name) else f"{up.name}: {err}") from None
        if source == "Paste XYZ/SDF":
            text = st.text_area("XYZ or SDF text", key=f"{ns}.paste", height=160,
                                placeholder="3\nwater\nO 0 0 0.117\nH 0 0.757 -0.469\nH 0 -0.757 -0.469")
            if not text.strip():
                st.info("Paste a molecule to continue.")
                return None
            return _first(parse_pasted(text))
        if source == "Example molecule":
            name = st.selectbox("Example", list(EXAMPLES), key=f"{ns}.example",
                                help="Small QM9-sized molecules and well-known drugs (MOSES-sized), embedded from "
                                     "SMILES with a fixed seed (ETKDGv3 + MMFF94).")
            st.caption(f"SMILES {EXAMPLES[name]}")
            return _cached_smiles(EXAMPLES[name])
        smiles = st.text_input("SMILES", value=default_smiles, key=f"{ns}.smiles",
                               help="Hydrogens are added and a 3-D pose is embedded with a fixed seed.")
        return _cached_smiles(smiles)
    except MoleculeError as err:
        st.error(f"Cannot use this molecule: {err}")
        return None


@st.cache_data(show_spinner=False, max_entries=64)
def _cached_smiles(smiles: str) -> Molecule:
    return from_smiles(smiles)


def _first(mols: list[Molecule]) -> Molecule:
    if len(mols) > 1:
        st.caption(f"The input holds {len(mols)} molecules; using the first.")
    return mols[0]


def _pick_qm9(ns: str) -> Molecule:
    raw = qm9_test()
    query = st.text_input("Search SMILES (substring, optional)", key=f"{ns}.qm9_query",
                          help="e.g. C#N for nitriles, or a whole SMILES. Leave empty to pick by index.")
    if query.strip():
        hits = search_qm9(raw, query)
        if not hits:
            raise MoleculeError(f"no QM9 test molecule's SMILES contains {query.strip()[:40]!r}")
        k = st.selectbox(f"Matches ({len(hits)}{'+' if len(hits) == 50 else ''})", hits, key=f"{ns}.qm9_hit",
                         format_func=lambda i: f"#{i}  {raw.smiles[i]}")
    else:
        k = int(st.number_input(f"Test-split index (0 … {len(raw.molecules) - 1})", 0, len(raw.molecules) - 1,
                                value=0, step=1, key=f"{ns}.qm9_index"))
    mol = raw.molecules[k]
    st.caption(f"QM9 test #{k} · {mol.title} · SMILES {raw.smiles[k]} · {len(mol)} atoms")
    return mol


def canonical_xyz_table(mol: Molecule) -> list[dict]:
    """Token table rows (order 1-based = sampling step, element, x, y, z in Å) of a canonical molecule."""
    return [{"order": i + 1, "element": e, "x (Å)": round(float(x), 4), "y (Å)": round(float(y), 4),
             "z (Å)": round(float(z), 4)} for i, (e, (x, y, z)) in enumerate(zip(mol.elements, mol.coords))]
