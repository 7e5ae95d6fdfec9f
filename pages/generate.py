"""Generate page: settings → ``inertialar.sampling.sampler.sample`` → molecules built atom by atom.

Results are kept in session state under a key of (model, settings, seed, refinement), so reruns
(picking another molecule, downloading) never sample again and the same settings give the same
molecules. "Refine geometry" (``inertialar.chem.refine``: MMFF94 or GFN2-xTB) adds a refined pose per
molecule, drawn over the raw one; the table and player stay on the raw output, the headline.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
import streamlit as st

from inertialar.chem.depict import depiction_svg
from inertialar.chem.frames import canonicalize
from inertialar.chem.molecule import Molecule, to_xyz
from inertialar.chem.output import records_text, refine_records, stage_properties
from inertialar.chem.refine import METHODS, Refinement, RefineSettings, summarize
from inertialar.chem.report import DEFINITIONS, VALID_UNSTABLE, Report, molecule_report, radical_summary
from inertialar.data.tokenizer import canonical_prefix
from inertialar.sampling.critic import critic_scores
from inertialar.sampling.modes import DEFAULT_MODE, MODES, describe_settings, mode_settings
from inertialar.sampling.sampler import SampleResult
from inertialar.sampling.settings import SampleSettings
from pages import _charts, _checkpoint, _entry, _grid, _inputs, _sampling, _viewer

VIEW_HEIGHT = 420
MAX_CACHED = 8  # generations kept per session
REFINE_LABELS = {"none": "none (raw output)", "mmff": "MMFF94 (RDKit)", "xtb": "GFN2-xTB (tblite)"}


@dataclass
class Generation:
    result: SampleResult
    reports: list[Report]
    trained: bool
    sdf: str = ""  # the molecules shown (polished where the polisher ran), RDKit-perceived bonds, stage property
    refinements: list[Refinement] | None = None
    refined_sdf: str | None = None
    raw_sdf: str | None = None  # the same molecules as the model placed them, where they were polished
    svgs: list[str] = field(default_factory=list)  # 2-D drawings from the chemist's bonds (chem.depict)
    critic: list[float] | None = None  # the critic's score per molecule, where a polisher is loaded


def settings_widgets(ns: str, groups: tuple[str, ...], max_n: int, default_n: int) -> dict:
    """The sampling controls shared with the failure inspector; session keys ``{ns}.*``. A quality
    mode (``inertialar.sampling.modes``) sets every sampler knob, with its measured cost and quality beside
    it; "Override the mode" exposes the main knobs. Returns ``mode_settings`` keyword arguments."""
    c1, c2 = st.columns(2)
    present = c1.multiselect("Groups present", groups, key=f"{ns}.present",
                             help="Functional groups the molecules should contain (classifier-free guidance).")
    absent = c2.multiselect("Groups absent", groups, key=f"{ns}.absent",
                            help="Functional groups the molecules should not contain.")
    c1, c2, c3 = st.columns(3)
    mode = c1.selectbox("Quality mode", list(MODES), index=list(MODES).index(DEFAULT_MODE), key=f"{ns}.mode",
                        format_func=lambda m: f"{m} — {MODES[m].summary}")
    seed = c2.number_input("Seed", 0, 2**31 - 1, 0, 1, key=f"{ns}.seed",
                           help="Same settings and seed give the same molecules.")
    n = c3.number_input("Number of molecules", 1, max_n, default_n, 1, key=f"{ns}.n")
    st.caption(mode_caption(mode))
    d = mode_settings(mode)
    values = {"mode": mode, "present": tuple(present), "absent": tuple(absent), "seed": int(seed), "n": int(n)}
    with st.expander("Override the mode (advanced)"):
        if not st.checkbox("Use my own settings below instead of the mode's", key=f"{ns}.override"):
            st.caption(f"The mode's settings: {describe_settings(d)}.")
        c1, c2, c3 = st.columns(3)
        cfg = c1.slider("CFG scale", 0.0, 5.0, d.cfg_scale, 0.1, key=f"{ns}.cfg",
                        help="Guidance strength s in u + s·(c − u): 0 = unconditional, 1 = conditional, "
                             ">1 pushes harder towards the requested groups.")
        temperature = c2.slider("Type temperature", 0.1, 2.0, d.temperature, 0.05, key=f"{ns}.temperature",
                                help="Temperature of the next-atom-type distribution (lower = more typical).")
        coord_t = c3.slider("Coordinate temperature", 0.05, 2.0, d.coord_temperature, 0.05,
                            key=f"{ns}.coord_temperature", help="Scales the diffusion start noise of each atom.")
        c1, c2, c3 = st.columns(3)
        steps = c1.number_input("Heun steps per atom", 1, 200, d.steps, 1, key=f"{ns}.steps",
                                help="Denoising steps of the coordinate sampler (more = slower, more precise).")
        draws = c2.number_input("Coordinate candidates per atom", 1, 16, d.coord_draws, 1, key=f"{ns}.coord_draws",
                                help="Draws per atom; the model's denoiser keeps the one it finds most typical.")
        oversample = c3.number_input("Draws per kept molecule", 1, 20, d.oversample, 1, key=f"{ns}.oversample",
                                     help="Best of k by the model's own likelihoods; every draw costs time.")
        if st.session_state.get(f"{ns}.override"):
            values.update(cfg_scale=float(cfg), temperature=float(temperature), coord_temperature=float(coord_t),
                          steps=int(steps), coord_draws=int(draws), oversample=int(oversample), mode=mode)
    return values


def mode_caption(mode: str) -> str:
    """The mode's measured quality and cost from the committed frontier (or a note that none is)."""
    row = _charts.frontier_row(mode)
    if row is None:
        return f"Mode **{mode}**: not measured yet (run benchmarks/sampler_frontier.py)."
    return (f"Mode **{mode}**, measured unconditionally on {int(float(row['n'])):,} molecules "
            f"(benchmarks/sampler_frontier.py, 2-core CPU): molecule stability {100 * float(row['mol_stability']):.0f}%, "
            f"valid × unique {100 * float(row['valid_x_unique']):.0f}%, {float(row['molecules_per_s']):.0f} molecules/s "
            "as a whole process (the app shares one CPU thread among all its users: slower here).")


def _prefix_widgets(cfg) -> Molecule | None:
    """The fragment controls for a model config ``cfg``: its dataset gives the default fragment,
    the size warning and the vocabulary check."""
    spec, max_atoms = cfg.spec, cfg.max_atoms
    with st.expander("Fragment to complete (optional)"):
        if not st.checkbox("Start from a fragment", key="gen.use_prefix",
                           help="The model continues a canonical prefix: the first k atoms of a molecule "
                                "in its canonical order and inertial frame."):
            return None
        mol = _inputs.pick_molecule("gen.prefix", default_smiles=spec.fragment_default)
        if mol is None:
            return None
        outside = sorted(set(mol.elements) - set(cfg.elements))
        if outside:
            st.error(f"Cannot use this fragment: element {outside[0]} is outside the model's vocabulary "
                     f"({' '.join(cfg.elements)}).")
            return None
        heavy = sum(e != "H" for e in mol.elements)
        if heavy > spec.max_heavy or len(mol) > spec.max_atoms:
            st.warning(f"This molecule has {heavy} heavy atoms and {len(mol)} atoms in all; the training data "
                       f"({spec.label}) has at most {spec.max_heavy} heavy atoms and {spec.max_atoms} atoms. Its "
                       "canonical prefix lies outside what the model has seen, so completions are likely invalid.")
        canon = canonicalize(mol).molecule
        top = min(len(canon), max_atoms - 1)
        if top < 1:
            st.error("This molecule is too large to use as a prefix.")
            return None
        k = st.slider("Keep the first k canonical atoms", 1, top, min(4, top), key="gen.prefix_k")
        prefix = canonical_prefix(mol, k, cfg.elements, max_atoms)
        st.caption("Prefix: " + " ".join(f"{e}{i + 1}" for i, e in enumerate(prefix.elements)))
        return prefix


def _result_key(loaded: _checkpoint.LoadedModel, s: SampleSettings, refine: str = "none") -> str:
    prefix = s.prefix.to_xyz() if s.prefix is not None else ""
    text = repr((loaded.key, replace(s, prefix=None), prefix) + ((refine,) if refine != "none" else ()))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def run_generation(loaded: _checkpoint.LoadedModel, settings: SampleSettings, with_reasons: bool = False,
                   refine: str = "none") -> Generation | None:
    """Sample through the shared service (progress bar, queue position), compute per-molecule
    reports (with failure reasons if asked) and, if ``refine`` is not "none", refine every
    molecule; None after an st.error (queue full, failure)."""
    result = _sampling.sample_with_progress(loaded, settings)
    if result is None:
        return None
    with st.spinner("Checking and drawing molecules …"):
        reports = [molecule_report(m, with_reasons=with_reasons) for m in result.molecules]
        svgs = [depiction_svg(m) for m in result.molecules]
        critic = critic_scores(loaded.polisher, result.molecules).tolist() if loaded.polisher is not None else None
    stage = stage_properties(len(result.molecules), "polished" if result.polished else "raw")
    gen = Generation(result, reports, loaded.trained, sdf=records_text(result.molecules, stage, "sdf"), svgs=svgs,
                     critic=critic)
    if result.polished:
        gen.raw_sdf = records_text(result.raw_molecules, stage_properties(len(result.raw_molecules), "raw"), "sdf")
    if refine != "none":
        text = f"Refining geometries ({REFINE_LABELS[refine]}) …"
        bar = st.progress(0.0, text=text)
        mols, props, done = refine_records(result.molecules, stage, RefineSettings(refine),
                                           lambda f: bar.progress(min(1.0, f), text=text))
        gen.refinements = done
        gen.refined_sdf = records_text(mols, props, "sdf")
        bar.empty()
    return gen


def render(loaded: _checkpoint.LoadedModel) -> None:
    st.title("Generate")
    st.caption("Sample molecules atom by atom in the canonical inertial frame, optionally steered towards "
               "functional groups with classifier-free guidance.")
    _checkpoint.untrained_warning(loaded)
    values = settings_widgets("gen", tuple(loaded.model.cfg.groups), 16, 4)
    prefix = _prefix_widgets(loaded.model.cfg)
    refine = st.selectbox("Refine geometry", METHODS, format_func=REFINE_LABELS.get, key="gen.refine",
                          help="Optional relaxation after sampling, shown over the raw pose. Raw numbers stay the "
                               "headline; a molecule that cannot be refined keeps its raw pose and says why.")
    settings = mode_settings(**values, prefix=prefix, device=loaded.device, batch_size=16)
    _generate_and_show(loaded, settings, refine)


@st.fragment
def _generate_and_show(loaded: _checkpoint.LoadedModel, settings: SampleSettings, refine: str) -> None:
    """The Generate button and the results, as a fragment: a click (or picking another molecule)
    reruns only this part, so the browser does not redraw the settings above — a large share of
    each browser's work when a classroom presses Generate together (``benchmarks/app_load.py``).
    The settings are current: changing one reruns the whole page."""
    key = _result_key(loaded, settings, refine)
    store: dict[str, Generation] = st.session_state.setdefault("gen.results", {})
    if st.button("Generate", type="primary", key="gen.run"):
        try:
            settings.check(loaded.model.cfg)
        except ValueError as err:
            st.error(f"Cannot sample with these settings: {err}")
        else:
            if key not in store:
                gen = run_generation(loaded, settings, refine=refine)
                if gen is not None:
                    store[key] = gen
                while len(store) > MAX_CACHED:
                    store.pop(next(iter(store)))
            if key in store:
                st.session_state["gen.shown"] = key
    shown = st.session_state.get("gen.shown")
    if shown not in store:
        st.info("Choose settings and click **Generate**.")
        return
    if shown != key:
        st.caption("Showing the last generation; the settings have changed since — click Generate to update.")
    show_generation(store[shown])


def _group_summary(groups: frozenset[str], s: SampleSettings) -> str:
    parts = [f"{g} {'✓' if g in groups else '✗'}" for g in s.present]
    parts += [f"no {g} {'✓' if g not in groups else '✗'}" for g in s.absent]
    return ", ".join(parts) or "—"


def show_generation(gen: Generation) -> None:
    result, reports, s = gen.result, gen.reports, gen.result.settings
    if not gen.trained:
        st.warning(f"These molecules come from the {_checkpoint.RANDOM_LABEL}.")
    table = pd.DataFrame([{"#": k + 1, "atoms": len(m), "SMILES": r.smiles or "(invalid)",
                           "stable atoms": f"{r.stable_atoms}/{r.n_atoms}", "stable": r.stable, "valid": r.valid,
                           "radical e⁻": r.radical_electrons,
                           "requested groups": _group_summary(r.groups, s),
                           "all groups found": ", ".join(sorted(r.groups)) or "—"}
                          for k, (m, r) in enumerate(zip(result.molecules, reports))])
    if gen.critic is not None:
        table["critic score"] = gen.critic  # higher = more like the training data (sampling.critic)
    if gen.refinements is not None:
        table = pd.concat([table, _refinement_table(gen.refinements)], axis=1)
    n_valid = sum(r.valid for r in reports)
    n_stable = sum(r.stable for r in reports)
    st.subheader(f"{len(reports)} molecule(s): {n_stable} stable, {n_valid} valid")
    drawn = f", best of {s.oversample} draws each ({result.drawn} drawn)" if s.oversample > 1 else ""
    polish = (f" Polished by the learned polisher (σ₀ {s.polish_sigma:g} Å, {s.polish_steps} Heun steps): the "
              "player's last frames show the atoms settle." if result.polished else " Not polished.")
    st.caption(f"Quality mode **{s.mode}**{drawn}: {describe_settings(s)}.{polish}")
    st.caption(DEFINITIONS)
    st.caption("Stable and valid are EDM's metrics (bonds from EDM's distance table) on the molecules shown. "
               "Downloaded SDF bonds are RDKit's (DetermineBonds), EDM's table where RDKit fails (property bond_source).")
    if gen.refinements is not None:
        sm = summarize(gen.refinements)
        st.caption(f"Refined ({REFINE_LABELS[sm['method']]}): {sm['refined']} refined, {sm['failed']} not refined; "
                   f"median refined energy drop {_num(sm['median_energy_drop_kcal_mol'], '.1f')} kcal/mol, "
                   f"median heavy-atom RMSD {_num(sm['median_rmsd_heavy_A'], '.3f')} Å.")
    st.markdown(markdown_table(table, code_columns=("SMILES",)))
    with st.expander("2-D structures", expanded=True):
        st.caption("Drawn from the chemist's bonds (as in the SDF download); atoms marked red with \"!\" have a "
                   "wrong valence. **3D** opens a molecule in the player below.")
        picked = _grid.molecule_grid("gen", gen.svgs or [depiction_svg(m) for m in result.molecules],
                                     [f"#{i + 1} · {'stable' if r.stable else 'valid' if r.valid else 'invalid'}"
                                      for i, r in enumerate(reports)])
    if picked is not None:
        st.session_state["gen.pick"] = picked
    k = st.selectbox("Show molecule", range(len(reports)), key="gen.pick",
                     format_func=lambda i: f"#{i + 1} · {reports[i].smiles or '(invalid)'} · {len(result.molecules[i])} atoms")
    k = int(k)
    rep, traj = reports[k], result.trajectories[k]
    ref = gen.refinements[k] if gen.refinements is not None else None
    left, right = st.columns([3, 2])
    with left:
        frames, captions = _viewer.trajectory_frames(traj)
        overlay = ref.molecule if ref is not None and ref.refined and ref.method != "none" else None
        label = f"refined pose ({ref.method})" if ref else ""
        if result.polished and st.toggle("Overlay the raw molecule (before the polish)", key="gen.overlay_raw"):
            overlay, label = result.raw_molecules[k], "raw molecule (before the polish)"
        html = _viewer.viewer_html(frames, captions=captions, newest=True, height=VIEW_HEIGHT, autoplay=True,
                                   overlay=overlay, overlay_label=label)
        _viewer.show(html, VIEW_HEIGHT)
        st.caption("Each frame adds one atom (yellow halo = newest; H white, C grey, N blue, O red, F gold). "
                   "Arrows: the canonical inertial axes I1 ≤ I2 ≤ I3 (x, y, z). Bonds are inferred from distances by 3Dmol."
                   + (f" Thin green sticks: the {label}." if overlay is not None else ""))
    with right:
        st.html(_charts.type_probabilities(traj))
        st.markdown(f"**SMILES:** `{rep.smiles or 'invalid (fails RDKit sanitization)'}`  \n"
                    f"**Stable:** {'yes' if rep.stable else 'no'} ({rep.stable_atoms}/{rep.n_atoms} atoms)  \n"
                    f"**Valid:** {'yes' if rep.valid else 'no'}  \n"
                    f"**Radical electrons (missing H):** {radical_summary(result.molecules[k], rep)}  \n"
                    f"**Requested groups:** {_group_summary(rep.groups, s)}")
        if ref is not None:
            st.markdown(_refinement_text(ref))
        if rep.valid and not rep.stable:
            st.caption(VALID_UNSTABLE[0].upper() + VALID_UNSTABLE[1:] + ".")
    c1, c2, c3 = st.columns(3)
    c1.download_button("Download SDF (all" + (", polished)" if result.polished else ")"), gen.sdf,
                       file_name=f"inertialar_seed{s.seed}.sdf", mime="chemical/x-mdl-sdfile", key="gen.dl_sdf")
    if gen.raw_sdf is not None:
        c1.download_button("Download raw SDF (before the polish)", gen.raw_sdf, file_name=f"inertialar_seed{s.seed}_raw.sdf",
                           mime="chemical/x-mdl-sdfile", key="gen.dl_raw")
    if gen.refined_sdf is not None:
        c1.download_button(f"Download refined SDF ({gen.refinements[0].method})", gen.refined_sdf,
                           file_name=f"inertialar_seed{s.seed}_refined_{gen.refinements[0].method}.sdf",
                           mime="chemical/x-mdl-sdfile", key="gen.dl_refined")
    c2.download_button("Download XYZ (all)", to_xyz(result.molecules), file_name=f"inertialar_seed{s.seed}.xyz",
                       mime="chemical/x-xyz", key="gen.dl_xyz")
    c3.download_button(f"Trajectory XYZ (#{k + 1})", _viewer.trajectory_xyz(traj, f"molecule {k + 1}"),
                       file_name=f"inertialar_seed{s.seed}_mol{k + 1}_trajectory.xyz", mime="chemical/x-xyz",
                       key="gen.dl_traj")


def markdown_table(df: pd.DataFrame, code_columns: tuple[str, ...] = ()) -> str:
    """A DataFrame as a Markdown table (booleans yes/no, floats to 3 decimals, missing "—";
    ``code_columns`` as code spans, so SMILES characters stay literal).

    The Generate page shows its summary this way, not as ``st.dataframe``/``st.table``: those load
    about 1 MB of table and Arrow JavaScript into every new browser session, which made a classroom
    of browsers on a small machine wait (``benchmarks/app_load.py``)."""
    def cell(col: str, v) -> str:
        if v is None or (isinstance(v, float) and np.isnan(v)):
            return "—"
        text = ("yes" if v else "no") if isinstance(v, (bool, np.bool_)) else (
            f"{v:.3f}" if isinstance(v, (float, np.floating)) else str(v))
        text = text.replace("|", "\\|").replace("\n", " ")
        return f"`{text}`" if col in code_columns and text != "—" else text

    head = "| " + " | ".join(str(c) for c in df.columns) + " |"
    rule = "|" + "---|" * len(df.columns)
    rows = ["| " + " | ".join(cell(c, v) for c, v in zip(df.columns, row)) + " |" for row in df.itertuples(index=False)]
    return "\n".join([head, rule, *rows])


def _num(value, fmt: str) -> str:
    return "n/a" if value is None else format(value, fmt)


def _refinement_table(refinements: list[Refinement]) -> pd.DataFrame:
    return pd.DataFrame([{"refined": "yes" if r.refined else f"no: {r.reason}",
                          "refined ΔE (kcal/mol)": r.energy_drop_kcal_mol, "refined RMSD heavy (Å)": r.rmsd_heavy_A,
                          "connectivity kept": r.connectivity_kept} for r in refinements])


def _refinement_text(r: Refinement) -> str:
    if not r.refined:
        return f"**Refinement ({r.method}):** not refined — {r.reason}; the raw pose is kept."
    return (f"**Refined ({r.method}):** energy drop {r.energy_drop_kcal_mol:.1f} kcal/mol, heavy-atom RMSD "
            f"{r.rmsd_heavy_A:.3f} Å, connectivity {'kept' if r.connectivity_kept else 'changed'}")


if __name__ == "__main__":  # run by st.navigation (or directly by Streamlit: see _entry)
    _entry.run_page(lambda: render(_checkpoint.current()))
