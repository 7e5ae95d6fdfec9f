"""Model & benchmarks page: the model card and charts of the committed result tables.

Every table is optional: a missing one shows ``st.info`` with the command that produces it, a
malformed one an ``st.error``; neither stops the rest of the page.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from pages import _charts, _entry

ROOT = Path(__file__).resolve().parent.parent
MODEL_CARD = "assets/MODEL_CARD.md"
RESULTS = "benchmarks/results"
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
}


def read_table(root: Path, name: str) -> pd.DataFrame | None:
    """The table, or None after an st.info (missing) / st.error (unreadable or missing columns)."""
    rel, columns, command = TABLES[name]
    path = root / rel
    if not path.exists():
        st.info(f"No `{rel}` yet. Produce it with `{command}`.")
        return None
    try:
        df = pd.read_csv(path)
    except (OSError, ValueError, pd.errors.ParserError) as err:
        st.error(f"Cannot read {rel}: {str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__}")
        return None
    missing = [c for c in columns if c not in df.columns]
    if missing:
        st.error(f"{rel} lacks column(s) {', '.join(missing)}")
        return None
    if df.empty:
        st.info(f"`{rel}` has no rows yet. Produce it with `{command}`.")
        return None
    return df


def _quality(df: pd.DataFrame) -> None:
    overall = df.groupby("cfg_scale", as_index=False)[["atom_stability", "mol_stability", "validity"]].mean()
    st.plotly_chart(_charts.lines(overall, "cfg_scale", ["atom_stability", "mol_stability", "validity"],
                                  "Stability and validity vs CFG scale (mean over groups)", "fraction"),
                    key="bench.quality")
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
    st.plotly_chart(_charts.grouped_bars(part, "key", "value", "source", f"{kind}: generated vs QM9", "fraction"),
                    key="bench.dist")


def render(root: Path = ROOT) -> None:
    """Model card and benchmark charts from the files under ``root`` (the repository by default)."""
    root = Path(root)
    st.title("Model & benchmarks")
    tab_card, tab_quality, tab_dist, tab_speed, tab_curve = st.tabs(
        ["Model card", "Quality vs CFG", "Distributions", "Speed", "Learning curve"])
    with tab_card:
        if (root / MODEL_CARD).exists():
            st.markdown((root / MODEL_CARD).read_text(encoding="utf-8", errors="replace"))
        else:
            st.info("No model card yet (assets/MODEL_CARD.md); it is written with the trained checkpoint.")
    with tab_quality:
        df = read_table(root, "quality_cfg")
        if df is not None:
            _quality(df)
            st.dataframe(df, hide_index=True, key="bench.quality_table")
    with tab_dist:
        df = read_table(root, "distributions")
        if df is not None:
            _distributions(df)
    with tab_speed:
        df = read_table(root, "sample_speed")
        if df is not None:
            st.plotly_chart(_charts.grouped_bars(df, "batch_size", "molecules_per_s", "device",
                                                 "Sampling speed", "molecules / s"), key="bench.speed")
            st.dataframe(df, hide_index=True, key="bench.speed_table")
        st.markdown("**App responsiveness** (browser, click → first frame)")
        df = read_table(root, "app_timing")
        if df is not None:
            st.dataframe(df, hide_index=True, key="bench.app_timing")
    with tab_curve:
        df = read_table(root, "learning_curve")
        if df is not None:
            ys = [c for c in ("atom_stability", "mol_stability", "validity", "valid_x_unique") if c in df]
            if ys:
                st.plotly_chart(_charts.lines(df.dropna(subset=ys, how="all"), "epoch", ys,
                                              "Sample quality during training", "fraction"), key="bench.curve")
            losses = [c for c in ("val_loss", "val_ce", "val_diffusion") if c in df]
            if losses:
                st.plotly_chart(_charts.lines(df.dropna(subset=losses, how="all"), "epoch", losses,
                                              "Validation loss", "loss"), key="bench.loss")
            if "val_condition" in df and df["val_condition"].nunique() > 1:
                st.caption("Validation points were measured under different condition modes "
                           f"({', '.join(map(str, df['val_condition'].unique()))}); see the model card.")


if __name__ == "__main__":  # run by st.navigation (or directly by Streamlit: see _entry)
    _entry.run_page(render)
