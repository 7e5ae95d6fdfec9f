"""Model & benchmarks page: the model card and charts of the committed result tables.

Every table is optional: a missing one shows ``st.info`` with the command that produces it, a
malformed one an ``st.error``; neither stops the rest of the page.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import streamlit as st

from inertialar import files
from inertialar.chem.report import DEFINITIONS
from pages import _charts, _entry, _method
from pages._results import demote_headings, read_csv

ROOT = Path(__file__).resolve().parent.parent
MODEL_CARD = "assets/MODEL_CARD.md"
DRUG_CARD = "assets/MODEL_CARD_moses.md"
METRIC_NAMES = {"atom_stability": "atom stability", "mol_stability": "molecule stability", "validity": "validity"}
RESULTS = files.RESULTS
# table → (path relative to the repository root, required columns, command that produces it)
TABLES = {
    "quality_cfg": (f"{RESULTS}/quality_cfg.csv",
                    ["cfg_scale", "group", "hit_rate", "atom_stability", "mol_stability", "validity", "n"],
                    "python benchmarks/quality.py"),
    "distributions": (f"{RESULTS}/distributions.csv", ["kind", "key", "source", "value"],
                      "python benchmarks/quality.py"),
    "sample_speed": (f"{RESULTS}/sample_speed.csv",
                     ["device", "n", "batch_size", "steps", "seconds", "molecules_per_s"],
                     "python -m inertialar bench sample"),
    "learning_curve": ("assets/learning_curve.csv", ["step", "epoch", "wall_hours"],
                       "python benchmarks/model_card.py --log RUN_DIR/log.jsonl"),
    "app_timing": (f"{RESULTS}/app_timing.csv", ["measure", "seconds"],
                   "INERTIALAR_RECORD_TIMING=1 python -m pytest tests/test_browser.py"),
    "sampler_frontier": (f"{RESULTS}/sampler_frontier.csv",
                         ["kind", "label", "mol_stability", "valid_x_unique", "uniqueness", "atoms_w1",
                          "molecules_per_s"], "python benchmarks/sampler_frontier.py"),
    "moses_quality": (f"{RESULTS}/moses_quality.csv",
                      ["set", "n", "atom_stability", "mol_stability", "validity", "valid_x_unique"],
                      "python benchmarks/drug_quality.py"),
    "app_load": (f"{RESULTS}/app_load_summary.csv",
                 ["sessions", "app_p50_s", "app_p95_s", "first_frame_p50_s", "first_frame_p95_s", "errors",
                  "crosstalk_mismatches"],
                 "python benchmarks/app_load.py"),
}
PLAUSIBILITY = (f"{RESULTS}/plausibility.json", "python benchmarks/plausibility.py")
PLAUSIBILITY_MEASURES = {"mol_stability": "EDM molecule stability", "validity": "EDM validity",
                         "posebusters_all_pass": "PoseBusters all pass"}
SPEED_CONFIG = ["device", "n", "batch_size", "steps"]  # one bar per configuration (mean of its runs)
DISTRIBUTION_AXES = {"atom_count": "atoms per molecule", "element": "element"}  # else "bond length (Å)"
JUMP = 1.25  # a validation loss rising by this factor between points marks a change of definition


def speed_per_config(df: pd.DataFrame) -> pd.DataFrame:
    """Repeated runs of one configuration → mean, std and count of molecules/s (one bar each)."""
    out = (df.groupby(SPEED_CONFIG, as_index=False)["molecules_per_s"]
           .agg(molecules_per_s="mean", std="std", runs="count"))
    out["std"] = out["std"].fillna(0.0)
    return out.round(2)


def validation_changes(df: pd.DataFrame, column: str = "val_ce") -> list[tuple[float, str]]:
    """(epoch, label) where the validation condition changes, or ``column`` jumps up by ≥ JUMP×
    between consecutive points (a change of definition the table did not record). Each run
    (``hardware``) is its own series."""
    if "hardware" in df and df["hardware"].nunique() > 1:
        return sorted(m for _, run in df.groupby("hardware") for m in validation_changes(run.drop(columns="hardware"), column))
    part = df.dropna(subset=[column]).sort_values("epoch")
    cond = part["val_condition"].astype(str).tolist() if "val_condition" in part else [""] * len(part)
    epochs, values = part["epoch"].tolist(), part[column].tolist()
    marks = []
    for i in range(1, len(part)):
        if cond[i] != cond[i - 1]:
            marks.append((epochs[i], f"validation: {cond[i]}"))
        elif values[i] >= JUMP * values[i - 1]:
            marks.append((epochs[i], "validation condition changed (see model card)"))
    return marks


def read_table(root: Path, name: str) -> pd.DataFrame | None:
    """The table, or None after an st.info (missing) / st.error (unreadable or missing columns)."""
    rel, columns, command = TABLES[name]
    return read_csv(root / rel, rel, columns, command)


def _quality(df: pd.DataFrame) -> None:
    overall = df.groupby("cfg_scale", as_index=False)[["atom_stability", "mol_stability", "validity"]].mean()
    st.plotly_chart(_charts.lines(overall, "cfg_scale", ["atom_stability", "mol_stability", "validity"],
                                  "Stability and validity vs CFG scale (mean over groups)", "fraction",
                                  names=METRIC_NAMES), key="bench.quality")
    st.plotly_chart(_charts.grouped_bars(df, "group", "hit_rate", "cfg_scale", "Hit rate per group and CFG scale",
                                         "hit rate"), key="bench.hits")


def _distributions(df: pd.DataFrame) -> None:
    kinds = sorted(df["kind"].astype(str).unique())
    kind = st.selectbox("Distribution", kinds, key="bench.dist_kind")
    part = df[df["kind"].astype(str) == kind].copy()
    numeric = pd.to_numeric(part["key"], errors="coerce")
    if numeric.notna().all():
        part["key"] = numeric
        part = part.sort_values("key")
    x_title = DISTRIBUTION_AXES.get(kind, "bond length (Å)")
    st.plotly_chart(_charts.grouped_bars(part, "key", "value", "source", f"{kind.replace('_', ' ')}: generated vs QM9",
                                         "fraction", x_title=x_title), key="bench.dist")


def _app_load(df: pd.DataFrame | None) -> None:
    st.markdown("**App under load** (browser sessions pressing Generate together)")
    if df is None:
        return
    fig = _charts.lines(df, "sessions", ["app_p50_s", "app_p95_s", "first_frame_p50_s", "first_frame_p95_s"],
                        "Seconds from the click, per number of concurrent sessions", "seconds",
                        names={"app_p50_s": "app-side p50", "app_p95_s": "app-side p95",
                               "first_frame_p50_s": "first frame p50", "first_frame_p95_s": "first frame p95"})
    st.plotly_chart(fig, key="bench.app_load")
    st.dataframe(df, hide_index=True, key="bench.app_load_table")
    st.caption("App-side: click → the app's script finished, as the page sees it. First frame: click → the 3-D "
               "viewer drew the molecule (includes the browser's own drawing, which N pages share on the same "
               "cores). Cross-talk: each session's downloaded molecules compared with its seed sampled alone. "
               "browser_cpu_s / server_cpu_s: CPU seconds all browsers / the app used per round, click → every "
               "script finished — the browsers run on the app's 2 cores in this benchmark.")


def plausibility_tables(root: Path) -> tuple[pd.DataFrame, pd.DataFrame] | None:
    """(one row per set: n and the headline fractions; PoseBusters pass rate per check × set) from
    ``plausibility.json``, or None after an st.info (missing) / st.error (unreadable)."""
    rel, command = PLAUSIBILITY
    path = root / rel
    if not path.exists():
        st.info(f"No `{rel}` yet. Produce it with `{command}`.")
        return None
    try:
        sets = json.loads(path.read_text(encoding="utf-8"))["sets"]
        summary = pd.DataFrame([{"set": name, "n": v["n"], **{label: v.get(key) for key, label in
                                                              PLAUSIBILITY_MEASURES.items()}}
                                for name, v in sets.items()])
        checks = pd.DataFrame({name: v.get("posebusters_checks", {}) for name, v in sets.items()})
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
        st.error(f"Cannot read {rel}: {type(err).__name__} {str(err).strip().splitlines()[0] if str(err).strip() else ''}")
        return None
    return summary, checks


def _plausibility(root: Path) -> None:
    tables = plausibility_tables(root)
    if tables is None:
        return
    summary, checks = tables
    long = summary.melt(id_vars=["set"], value_vars=list(PLAUSIBILITY_MEASURES.values()), var_name="measure",
                        value_name="fraction")
    st.plotly_chart(_charts.grouped_bars(long, "set", "fraction", "measure",
                                         "Plausibility: generated vs QM9, raw vs refined", "fraction"),
                    key="bench.plausibility")
    st.dataframe(summary, hide_index=True, key="bench.plausibility_table")
    st.markdown("**PoseBusters pass rate per check**")
    st.dataframe(checks, key="bench.plausibility_checks")
    st.caption("EDM columns use EDM's distance-table bonds; PoseBusters (`mol` config) gets bonds perceived from "
               "the coordinates by RDKit. Every molecule counts. Raw rows are the model's output, refined rows "
               f"are post-processed (MMFF94 / GFN2-xTB). Command: `{PLAUSIBILITY[1]}`.")


def _frontier(df: pd.DataFrame) -> None:
    st.caption("Every quality mode (stars), every sampler knob tried (circles, one setting changed from the "
               "fast mode) and best-of-10 selection by each likelihood score (squares), unconditional, "
               "1,000 molecules each; molecules/s counts every drawn molecule and the whole process. "
               "Selection uses only the model's own likelihoods, never the metrics' bond tables or RDKit.")
    c1, c2 = st.columns(2)
    c1.plotly_chart(_charts.frontier(df, "mol_stability", "Molecule stability vs speed"), key="bench.frontier_mol")
    c2.plotly_chart(_charts.frontier(df, "valid_x_unique", "Valid × unique vs speed"), key="bench.frontier_vxu")
    shown = [c for c in ("kind", "label", "atom_stability", "mol_stability", "validity", "uniqueness",
                         "valid_x_unique", "novelty", "mean_atoms", "atoms_w1", "posebusters_all_pass",
                         "molecules_per_s", "hit_ether", "hit_nitrile", "hit_ketone") if c in df]
    st.dataframe(df[shown].round(3), hide_index=True, key="bench.frontier_table")


def _drug_like(root: Path) -> None:
    """The drug-like starter: its quality next to the data's own conformers, then its model card."""
    df = read_table(root, "moses_quality")
    if df is not None:
        long = df.melt(id_vars=["set"], value_vars=["atom_stability", "validity", "valid_x_unique", "mol_stability"],
                       var_name="metric", value_name="fraction")
        st.plotly_chart(_charts.grouped_bars(long, "metric", "fraction", "set",
                                             "Drug-like (MOSES, MMFF94 conformers): data vs model", "fraction"),
                        key="bench.moses_quality")
        st.caption("The first set is the MOSES test subset's own conformers through the same evaluator (EDM's "
                   "GEOM protocol: S valence 4), the reference row. GEOM papers report atom stability and validity, "
                   "as molecule stability is near 0 even for GEOM-Drugs' own conformers.")
        st.dataframe(df, hide_index=True, key="bench.moses_table")
    if (root / DRUG_CARD).exists():
        st.markdown(demote_headings((root / DRUG_CARD).read_text(encoding="utf-8", errors="replace")))
    else:
        st.info(f"No drug-like model card yet ({DRUG_CARD}): `python benchmarks/drug_quality.py`.")


POLISHER_CARDS = ("assets/MODEL_CARD_polisher_qm9.md", "assets/MODEL_CARD_polisher_moses.md")


def _polisher(root: Path) -> None:
    """The polishers' model cards (training, learning curve, polish and critic measurements)."""
    shown = False
    for card in POLISHER_CARDS:
        if (root / card).exists():
            st.markdown(demote_headings((root / card).read_text(encoding="utf-8", errors="replace")))
            shown = True
    plot = root / files.RESULTS / "plots" / "polisher_qm9_curve.png"
    if plot.exists():
        st.image(str(plot), caption="The QM9 polisher's validation loss while it trained (fixed molecules and noise)")
    if not shown:
        st.info("No polisher model card yet (python benchmarks/polisher_card.py --log RUN/log.jsonl).")


def render(root: Path = ROOT) -> None:
    """Model card and benchmark charts from the files under ``root`` (the repository by default)."""
    root = Path(root)
    st.title("Model & benchmarks")
    (tab_card, tab_polish, tab_drug, tab_frontier, tab_quality, tab_plaus, tab_dist, tab_speed, tab_curve,
     tab_method) = st.tabs(["Model card (QM9)", "Polisher & critic", "Drug-like (MOSES)", "Sampler frontier",
                            "Quality vs CFG", "Plausibility", "Distributions", "Speed", "Learning curve",
                            "Method questions"])
    with tab_card:
        if (root / MODEL_CARD).exists():
            st.markdown(demote_headings((root / MODEL_CARD).read_text(encoding="utf-8", errors="replace")))
        else:
            st.info("No model card yet (assets/MODEL_CARD.md); it is written with the trained checkpoint.")
    with tab_polish:
        _polisher(root)
    with tab_method:
        _method.render(root)
    with tab_drug:
        _drug_like(root)
    with tab_frontier:
        df = read_table(root, "sampler_frontier")
        if df is not None:
            _frontier(df)
    with tab_quality:
        df = read_table(root, "quality_cfg")
        if df is not None:
            st.caption(DEFINITIONS)
            _quality(df)
            st.dataframe(df, hide_index=True, key="bench.quality_table")
    with tab_plaus:
        _plausibility(root)
    with tab_dist:
        df = read_table(root, "distributions")
        if df is not None:
            _distributions(df)
    with tab_speed:
        df = read_table(root, "sample_speed")
        if df is not None:
            per = speed_per_config(df)
            per["configuration"] = [f"batch {b}, {k} steps, n {n}" for b, k, n in
                                    zip(per["batch_size"], per["steps"], per["n"])]
            st.plotly_chart(_charts.grouped_bars(per, "configuration", "molecules_per_s", "device",
                                                 "Sampling speed (mean of repeated runs, ± std)", "molecules / s",
                                                 x_title="configuration", error="std"), key="bench.speed")
            st.caption("One bar per configuration (device, molecules, batch size, Heun steps): the mean of its "
                       "runs; every run is listed below.")
            st.dataframe(per, hide_index=True, key="bench.speed_mean")
            st.dataframe(df, hide_index=True, key="bench.speed_table")
        st.markdown("**App responsiveness** (browser, click → first frame)")
        df = read_table(root, "app_timing")
        if df is not None:
            st.dataframe(df, hide_index=True, key="bench.app_timing")
        _app_load(read_table(root, "app_load"))
    with tab_curve:
        df = read_table(root, "learning_curve")
        if df is not None:
            ys = [c for c in ("atom_stability", "mol_stability", "validity", "valid_x_unique") if c in df]
            if ys:
                st.plotly_chart(_charts.lines(df.dropna(subset=ys, how="all"), "epoch", ys,
                                              "Sample quality during training", "fraction"), key="bench.curve")
            losses = [c for c in ("val_loss", "val_ce", "val_diffusion") if c in df]
            if losses:
                fig = _charts.lines(df.dropna(subset=losses, how="all"), "epoch", losses, "Validation loss", "loss")
                marks = validation_changes(df, "val_ce" if "val_ce" in df else losses[0])
                st.plotly_chart(_charts.mark_changes(fig, marks), key="bench.loss")
                if marks:
                    st.caption("Dashed line: the validation loss was measured differently from there on "
                               "(e.g. with every group label given before, unconditional after), so the jump "
                               "is a change of definition, not a regression; see the model card.")


if __name__ == "__main__":  # run by st.navigation (or directly by Streamlit: see _entry)
    _entry.run_page(render)
