"""Canonicalization lab: one molecule → canonical order + inertial frame, and how robust that is.

Shows the input pose with its principal axes next to the canonical pose, proves invariance with
a random rotation + atom shuffle (``frames.random_pose``, compared with ``frames.same_sequence``),
reports the frame's eigenvalues, gaps, margin and symmetry images, and measures live how often
the canonical tokens change under coordinate noise.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from inertialar.chem.frames import DEGENERACY_GAP, Canonical, canonicalize, random_pose, same_sequence
from inertialar.chem.molecule import Molecule
from inertialar.chem.report import NOISE_DEFINITION, NOISE_LEVELS, noise_robustness
from inertialar.files import results_dir
from pages import _charts, _entry, _inputs, _viewer

VIEW_HEIGHT = 360
SMALL_MARGIN = 0.1  # Å; a frame this close to its runner-up may flip under noise of this size
MIN_DISTANCE = 0.5  # Å; atoms closer than this are almost certainly an input error
ANCHOR_COLOR = "#00b050"
RESULTS = results_dir()
NOISE_TABLE = RESULTS / "canonicalization_noise.csv"  # QM9 test split
DRUG_NOISE_TABLE = RESULTS / "canonicalization_noise_moses.csv"  # drug-like (MOSES) test subset
SUMMARIES = {"QM9 test split": RESULTS / "canonicalization.md",
             "drug-like (MOSES, MMFF94 conformers) test subset": RESULTS / "canonicalization_moses.md"}


@st.cache_data(show_spinner=False, max_entries=32)
def _canonical(xyz: str) -> Canonical:
    return canonicalize(_from_xyz(xyz))


@st.cache_data(show_spinner="Measuring noise robustness …", max_entries=32)
def _noise(xyz: str, trials: int) -> pd.DataFrame:
    return noise_robustness(_from_xyz(xyz), NOISE_LEVELS, trials)


def _dataset_noise(path: Path) -> pd.DataFrame | None:
    if not path.exists():
        return None
    try:
        df = pd.read_csv(path)
    except (OSError, ValueError) as err:
        st.error(f"Cannot read {path.name}: {str(err).strip().splitlines()[0] if str(err).strip() else 'empty file'}")
        return None
    if not {"noise_angstrom", "changed_fraction"} <= set(df.columns):
        st.error(f"{path.name} lacks the columns noise_angstrom, changed_fraction")
        return None
    return df


def _from_xyz(xyz: str) -> Molecule:
    from inertialar.chem.molecule import parse_xyz

    return parse_xyz(xyz)[0]


def _pose(mol: Molecule, xyz: str) -> tuple[Molecule, int]:
    """The pose to show: the input itself, or a random rotation + shuffle after the button."""
    if st.session_state.get("canon.pose_of") != xyz:  # a new molecule starts from its own pose
        st.session_state["canon.pose_of"] = xyz
        st.session_state["canon.pose_seed"] = 0
    c1, c2, _ = st.columns([2, 1, 3])
    if c1.button("Random rotate + shuffle atoms", icon=":material/casino:", key="canon.shuffle",
                 help="Apply a random rotation, translation and atom permutation to the input."):
        st.session_state["canon.pose_seed"] += 1
    if c2.button("Reset pose", key="canon.reset"):
        st.session_state["canon.pose_seed"] = 0
    seed = int(st.session_state["canon.pose_seed"])
    return (mol if seed == 0 else random_pose(mol, np.random.default_rng(seed))), seed


def _frame_facts(canon: Canonical) -> None:
    f = canon.frame
    anchors = canon.anchors_canonical
    facts = pd.DataFrame([
        {"quantity": "eigenvalues I1 ≤ I2 ≤ I3 (Å², unit masses)", "value": " ≤ ".join(f"{v:.3f}" for v in f.eigenvalues)},
        {"quantity": "relative gaps (I2−I1)/I3, (I3−I2)/I3", "value": f"{f.gaps[0]:.2e}, {f.gaps[1]:.2e}"},
        {"quantity": "margin to the runner-up frame (Å)",
         "value": "∞ (every candidate gives the same tokens)" if np.isinf(f.margin) else f"{f.margin:.4f}"},
        {"quantity": "equivalent frames (symmetry images) / candidates", "value": f"{f.n_equivalent} / {f.n_candidates}"},
        {"quantity": "anchor atom(s), canonical position",
         "value": ", ".join(f"{canon.molecule.elements[a]}{a + 1}" for a in anchors) or "none (moments decided)"},
    ])
    st.dataframe(facts, hide_index=True, key="canon.facts")
    if (f.gaps < DEGENERACY_GAP).any():
        st.warning(f"Near-degenerate frame: a relative eigenvalue gap is below {DEGENERACY_GAP:g}, so two axes are "
                   "not defined by the inertia tensor alone; they were fixed by class-weighted moments or "
                   "anchor atoms, which small coordinate noise can change.")
    if f.margin < SMALL_MARGIN:
        st.warning(f"Small margin ({f.margin:.3f} Å < {SMALL_MARGIN} Å): another candidate frame is almost as "
                   "good, so noise of this size may flip the frame.")


def _close_atoms_warning(mol: Molecule) -> None:
    """Warn (do not refuse) when atoms overlap: the frame is still defined, the chemistry is not."""
    if len(mol) < 2:
        return
    d = np.linalg.norm(mol.coords[:, None] - mol.coords[None], axis=-1)  # (N, N) Å
    i, j = np.triu_indices(len(mol), 1)
    close = np.flatnonzero(d[i, j] < MIN_DISTANCE)
    if close.size:
        k = close[np.argmin(d[i[close], j[close]])]
        a, b = int(i[k]), int(j[k])
        st.warning(f"{close.size} atom pair(s) closer than {MIN_DISTANCE} Å, e.g. {mol.elements[a]}{a + 1} and "
                   f"{mol.elements[b]}{b + 1} (input order) at {d[a, b]:.2f} Å: check the coordinates; "
                   "overlapping atoms are not a real molecule.")


def _token_table(mol: Molecule) -> pd.DataFrame:
    return pd.DataFrame(_inputs.canonical_xyz_table(mol))


def _dataset_summaries(summaries: dict[str, Path]) -> None:
    """The committed invariance and degeneracy figures of each dataset (benchmarks/canonicalization.py)."""
    with st.expander("Dataset benchmarks: invariance and frame degeneracy (QM9 and drug-like test sets)"):
        for label, path in summaries.items():
            if not path.exists():
                st.info(f"No table for the {label} yet: `python benchmarks/canonicalization.py"
                        f"{' --dataset moses' if 'moses' in path.name else ''}`.")
                continue
            bullets = [line for line in path.read_text().splitlines() if line.startswith("- ")]
            st.markdown(f"**{label}** ({path.name})\n" + "\n".join(bullets))


def render(noise_table: Path = NOISE_TABLE, drug_noise_table: Path = DRUG_NOISE_TABLE,
           summaries: dict[str, Path] | None = None) -> None:
    """The lab; the noise tables are the dataset-level tables (each shown if its file exists).
    The molecule sources include well-known drugs (aspirin, caffeine, ibuprofen, paracetamol)."""
    st.title("Canonicalization lab")
    st.caption("A molecule becomes a canonical token sequence: canonical atom order, inertial-frame coordinates, "
               "axis signs fixed by class-weighted moments or an anchor atom.")
    mol = _inputs.pick_molecule("canon")
    if mol is None:
        return
    _close_atoms_warning(mol)
    xyz = Molecule(mol.elements, mol.coords).to_xyz()
    ref = _canonical(xyz)
    posed, seed = _pose(mol, xyz)
    canon = ref if seed == 0 else canonicalize(posed)

    left, right = st.columns(2)
    f = canon.frame
    with left:
        st.markdown("**Input pose** " + ("(as loaded)" if seed == 0 else f"(random rotation + shuffle #{seed})")
                    + " with its principal axes")
        hl = [_viewer.Highlight(tuple(f.anchors), ANCHOR_COLOR, "anchor")] if f.anchors else []
        _viewer.show(_viewer.viewer_html([posed], captions=[f"input pose · {len(posed)} atoms"], highlights=[hl],
                                         axes=f.axes, centre=f.centre, height=VIEW_HEIGHT), VIEW_HEIGHT)
    with right:
        st.markdown("**Canonical pose**: axes are x, y, z")
        hl = [_viewer.Highlight(canon.anchors_canonical, ANCHOR_COLOR, "anchor")] if f.anchors else []
        labels = [(i, str(i + 1)) for i, e in enumerate(canon.molecule.elements) if e != "H"]
        _viewer.show(_viewer.viewer_html([canon.molecule], captions=["canonical pose · labels = token order (heavy atoms)"],
                                         highlights=[hl], atom_labels=labels, height=VIEW_HEIGHT), VIEW_HEIGHT)
    _frame_facts(canon)

    st.subheader("Tokens")
    same = same_sequence(ref.molecule, canon.molecule)
    if seed == 0:
        st.info("Press **Random rotate + shuffle atoms** to check that the tokens do not depend on pose or atom order.")
    elif same:
        st.badge("identical within 1e-3 Å", icon=":material/check_circle:", color="green")
    else:
        st.badge("tokens differ (beyond 1e-3 Å)", icon=":material/error:", color="red")
    t1, t2 = st.columns(2)
    t1.markdown("From the input as loaded")
    t1.dataframe(_token_table(ref.molecule), hide_index=True, height=300, key="canon.tokens_ref")
    t2.markdown("From the current pose" + ("" if seed == 0 else f" (shuffle #{seed})"))
    t2.dataframe(_token_table(canon.molecule), hide_index=True, height=300, key="canon.tokens_pose")

    st.subheader("Robustness to coordinate noise")
    trials = 30 if len(mol) <= 200 else 10
    live = _noise(xyz, trials)
    tables = {label: df for label, df in (("QM9 test set", _dataset_noise(Path(noise_table))),
                                          ("drug-like test set", _dataset_noise(Path(drug_noise_table))))
              if df is not None}
    st.plotly_chart(_charts.noise_curve(live, tables), key="canon.noise")
    st.caption(NOISE_DEFINITION)
    if not tables:
        st.info("No dataset-level table yet (benchmarks/results/canonicalization_noise.csv); produce it with "
                "`python benchmarks/canonicalization.py`.")
    else:
        st.caption("The other lines are the committed test-set tables (benchmarks/results/canonicalization_noise*.csv: "
                   "QM9, and the drug-like MOSES subset).")
    _dataset_summaries(SUMMARIES if summaries is None else summaries)


if __name__ == "__main__":  # run by st.navigation (or directly by Streamlit: see _entry)
    _entry.run_page(render)
