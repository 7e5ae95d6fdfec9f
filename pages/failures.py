"""Failure inspector: a batch of samples, EDM metrics, and why each failing molecule fails.

Reasons come from ``inertialar.chem.metrics.diagnose`` (valence with bond sum vs allowed, fragments,
clashes < 0.9 Å, RDKit's sanitize message). An atom's canonical position is the step at which
the sampler placed it, so the offending atoms' positions say when generation went wrong. Next to
them, the inspected molecule's PoseBusters checks (``inertialar.chem.plausibility``: bonds perceived by
RDKit from the coordinates, not EDM's table), each explained in one line.
"""

from __future__ import annotations

import hashlib

import pandas as pd
import streamlit as st

from inertialar.chem.depict import depiction_svg
from inertialar.chem.metrics import CLASH_DISTANCE, evaluate, stability
from inertialar.chem.molecule import Molecule, parse_xyz, to_sdf, to_xyz
from inertialar.chem.plausibility import CHECKS, EDM_TERMS, check_molecules
from inertialar.chem.report import (
    DEFINITIONS,
    VALID_UNSTABLE,
    atom_name,
    describe_reason,
    failure_rows,
    odd_electrons,
    offending_atoms,
    polish_outcome,
    radical_summary,
)
from inertialar.sampling.modes import mode_settings
from inertialar.sampling.settings import SampleSettings
from pages import _checkpoint, _entry, _grid, _viewer
from pages.generate import run_generation, settings_widgets

VIEW_HEIGHT = 420
KINDS = ("valence", "fragments", "clash", "sanitize", "ok")
COLORS = {"valence": "#ff00ff", "fragments": "#ff8c00", "clash": "#00ced1"}  # unlike axis and element colours


def _run(loaded: _checkpoint.LoadedModel, settings: SampleSettings) -> dict | None:
    gen = run_generation(loaded, settings, with_reasons=True)
    if gen is None:
        return None
    result, reports = gen.result, gen.reports
    metrics = evaluate(result.molecules, smiles=[r.smiles for r in reports])
    table = failure_rows(result.molecules, reports)
    table.insert(5, "composition", ["odd e⁻" if odd_electrons(m) else "" for m in result.molecules])
    if result.polished:
        table.insert(6, "polish", [polish_outcome(stability(raw)[2], r.stable)
                                   for raw, r in zip(result.raw_molecules, reports, strict=True)])
    return {"molecules": result.molecules, "reports": reports, "metrics": metrics, "trained": loaded.trained,
            "table": table}


def render(loaded: _checkpoint.LoadedModel) -> None:
    st.title("Failure inspector")
    st.caption("Generate a batch, measure it with EDM's metrics, and see which atoms break each failing molecule "
               "and at which step they were placed.")
    _checkpoint.untrained_warning(loaded)
    values = settings_widgets("fail", tuple(loaded.model.cfg.groups), 500, 100)
    settings = mode_settings(**values, device=loaded.device, batch_size=100)
    key = hashlib.sha256(repr((loaded.key, values)).encode()).hexdigest()[:16]
    if st.button("Generate batch", type="primary", key="fail.run"):
        try:
            settings.check(loaded.model.cfg)
        except ValueError as err:
            st.error(f"Cannot sample with these settings: {err}")
        else:
            if st.session_state.get("fail.key") != key:
                batch = _run(loaded, settings)
                if batch is not None:
                    st.session_state["fail.batch"], st.session_state["fail.key"] = batch, key
    batch = st.session_state.get("fail.batch")
    if batch is None:
        st.info("Choose settings and click **Generate batch**.")
        return
    if st.session_state.get("fail.key") != key:
        st.caption("Showing the last batch; the settings have changed since.")
    show_batch(batch)


def show_batch(batch: dict) -> None:
    if not batch["trained"]:
        st.warning(f"This batch comes from the {_checkpoint.RANDOM_LABEL}.")
    m = batch["metrics"]
    cols = st.columns(5)
    for col, (label, name) in zip(cols, [("Atom stability", "atom_stability"), ("Molecule stability", "mol_stability"),
                                          ("Validity", "validity"), ("Uniqueness", "uniqueness"),
                                          ("Valid × unique", "valid_x_unique")]):
        col.metric(label, f"{100 * m[name]:.1f} %")
    table: pd.DataFrame = batch["table"]
    counts = {k: int(table["reasons"].apply(lambda r, k=k: k in r.split(", ")).sum()) for k in KINDS}
    st.caption(f"{m['n']} molecules · " + " · ".join(f"{k}: {v}" for k, v in counts.items())
               + f" (clash = two atoms closer than {CLASH_DISTANCE} Å)")
    failing = table[table["reasons"] != "ok"]
    odd = int((failing["composition"] != "").sum())
    polish = ""
    if "polish" in table:
        fixed, broken = int((table["polish"] == "fixed").sum()), int((table["polish"] == "broken").sum())
        polish = (f" The polish fixed {fixed} molecule(s) that were unstable as the model placed them"
                  + (f" and broke {broken}" if broken else "") + " (column **polish**).")
    st.caption(f"Of {len(failing)} failing molecules, {odd} have an odd electron count: a composition error (a "
               "missing or extra hydrogen) that no geometry can fix (column **composition**)." + polish)
    st.caption(DEFINITIONS + " Atoms are named element + canonical position = sampling step (C11), in RDKit's "
               "messages too.")
    wanted = st.multiselect("Filter by reason", KINDS, default=["valence", "fragments", "clash", "sanitize"],
                            key="fail.filter", help="Show molecules with any of these reasons ('ok' = no failure).")
    shown = table[table["reasons"].apply(lambda r: any(k in r.split(", ") for k in wanted))]
    event = st.dataframe(shown, hide_index=True, key="fail.table", height=280, on_select="rerun",
                         selection_mode="single-row",
                         column_config={"details": st.column_config.TextColumn(width="large")})
    if shown.empty:
        st.info("No molecule matches this filter.")
        return
    ids = shown.index.tolist()
    rows = event.selection.rows if event is not None else []
    if rows and rows[0] < len(ids) and st.session_state.get("fail.table_pick") != ids[rows[0]]:
        st.session_state["fail.table_pick"] = st.session_state["fail.pick"] = ids[rows[0]]  # a row click selects
    k = st.selectbox("Inspect molecule (or click a table row)", ids, key="fail.pick",
                     format_func=lambda i: f"#{i + 1} · {table.loc[i, 'reasons']} · {table.loc[i, 'atoms']} atoms")
    _inspect(batch, int(k))
    failing = [i for i in ids if table.loc[i, "reasons"] != "ok"]
    if failing:
        mols = [batch["molecules"][i] for i in failing]
        c1, c2 = st.columns(2)
        c1.download_button(f"Download shown failures (SDF, {len(mols)})",
                           to_sdf(mols, [batch["reports"][i].bonds for i in failing],  # EDM bonds: they explain the failure
                                  properties=[{"bond_source": "edm_table"}] * len(mols)),
                           file_name="inertialar_failures.sdf", mime="chemical/x-mdl-sdfile", key="fail.dl_sdf")
        c2.download_button(f"Download shown failures (XYZ, {len(mols)})", to_xyz(mols),
                           file_name="inertialar_failures.xyz", mime="chemical/x-xyz", key="fail.dl_xyz")


def _inspect(batch: dict, k: int) -> None:
    mol, rep = batch["molecules"][k], batch["reports"][k]
    atoms = offending_atoms(rep.reasons)
    highlights = [_viewer.Highlight(a, COLORS[kind], kind) for kind, a in atoms.items() if a]
    labels = sorted({(i, atom_name(mol.elements[i], i)) for a in atoms.values() for i in a})
    left, right = st.columns([3, 2])
    with left:
        html = _viewer.viewer_html([mol], captions=[f"molecule #{k + 1} · {len(mol)} atoms · label = element + step"],
                                   highlights=[highlights], atom_labels=labels, height=VIEW_HEIGHT)
        _viewer.show(html, VIEW_HEIGHT)
    with right:
        st.html(_grid.svg_img(_depiction(mol.to_xyz()), f"molecule {k + 1}, 2-D structure"))
        st.caption("2-D structure from the chemist's bonds (as in SDF downloads); red \"!\" = wrong valence.")
        st.markdown(f"**SMILES:** `{rep.smiles or 'invalid'}`  \n**Stable atoms:** {rep.stable_atoms}/{rep.n_atoms}  \n"
                    f"**Radical electrons (missing H):** {radical_summary(mol, rep)}")
        st.caption(" ".join(f"**{term.capitalize()}** = {text}" for term, text in EDM_TERMS.items()))
        _posebusters_panel(mol)
        if not rep.reasons:
            st.success("No EDM failure: this molecule is stable and valid.")
            return
        if rep.valid and not rep.stable:
            st.info(VALID_UNSTABLE[0].upper() + VALID_UNSTABLE[1:] + ".")
        st.markdown("**EDM reasons**\n" + "\n".join(f"- {describe_reason(r, mol)}" for r in rep.reasons))
        rows = [{"step": i + 1, "element": mol.elements[i], "reason": kind}
                for kind, a in atoms.items() for i in a]
        if rows:
            st.markdown("**Offending atoms and the step that placed them**")
            st.dataframe(pd.DataFrame(rows).sort_values("step"), hide_index=True, key="fail.atoms")


@st.cache_data(show_spinner=False, max_entries=256)
def _depiction(xyz: str) -> str:
    return depiction_svg(parse_xyz(xyz)[0])


@st.cache_data(show_spinner="Running PoseBusters …", max_entries=256)
def _posebusters(xyz: str) -> dict[str, bool]:
    return check_molecules(parse_xyz(xyz))[0]


def _posebusters_panel(mol: Molecule) -> None:
    """The molecule's PoseBusters (mol config) checks, each with its one-line meaning."""
    row = _posebusters(mol.to_xyz())
    passed = sum(row.values())
    with st.expander(f"PoseBusters: {passed}/{len(row)} checks pass (bonds perceived by RDKit, not EDM's table)",
                     expanded=passed < len(row)):
        st.dataframe(pd.DataFrame([{"check": name, "pass": row[name], "meaning": CHECKS[name]} for name in CHECKS]),
                     hide_index=True, key="fail.posebusters",
                     column_config={"meaning": st.column_config.TextColumn(width="large")})


if __name__ == "__main__":  # run by st.navigation (or directly by Streamlit: see _entry)
    _entry.run_page(lambda: render(_checkpoint.current()))
