"""The "Method questions" tab of the Model & benchmarks page: each open question as a table and a plot.

1. GeoRoPE ablation at equal tokens (``georope_ablation.{md,csv}``, ``georope_curves.csv``; the GPU
   answer ``georope_ablation_gpu.*`` beside it once a window has trained it);
2. symmetric molecules and 3. frame noise (``symmetric_molecules.md``, ``frame_noise.md``,
   ``method_questions.csv``);
4. the equivariant peer at equal compute (``equivariant_peer.{md,csv}``, ``…_curves.csv``), with a
   button that samples the shipped peer here, so the two approaches meet in one tool.
The old bf16 GPU ablation stays, labelled with its flaw. A missing file is an ``st.info`` naming
its command; an unreadable one an ``st.error``; neither stops the tab.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from inertialar import files
from inertialar.chem.metrics import evaluate
from inertialar.chem.output import records_text, stage_properties
from inertialar.nn.checkpoint import PEER_CHECKPOINT, CheckpointError, load_peer
from inertialar.sampling.peer import sample_peer
from pages import _charts, _viewer
from pages._results import demote_headings, read_csv

OLD_ABLATION_FLAW = ("**GeoRoPE ablation (GPU, 3 minutes per variant): measured under bf16 before the Nyström "
                     "features were kept in fp32, so its Nyström variants trained on garbled kernel features; every "
                     "variant sits near 1% molecule stability. It answers nothing; the fp32 ablation at equal tokens "
                     "above replaces it.**")
ABLATION = "python benchmarks/georope_ablation.py"
ABLATION_GPU = "bash benchmarks/gpu/georope.sh"
ABLATION_GPU_SCORE = "python benchmarks/georope_ablation.py --steps 800 --batch-tokens 32768 --runs-dir COPY --tag _gpu"
QUESTIONS = "python benchmarks/method_questions.py"
PEER = "python benchmarks/equivariant_peer.py --seeds 0 1 --export"
PEER_MAX = 100  # molecules per click in the app (the CLI samples any number)


def _markdown(root: Path, name: str, command: str) -> bool:
    path = root / files.RESULTS / name
    if not path.exists():
        st.info(f"Not measured yet: `{command}`")
        return False
    st.markdown(demote_headings(path.read_text(encoding="utf-8", errors="replace")))
    return True


def _csv(root: Path, name: str, columns: list[str], command: str) -> pd.DataFrame | None:
    rel = f"{files.RESULTS}/{name}"
    return read_csv(root / rel, rel, columns, command)


def _ablation(root: Path) -> None:
    st.subheader("1. Does GeoRoPE help, and which half?")
    if _markdown(root, "georope_ablation.md", ABLATION):
        _ablation_plots(root, "", ABLATION)
    if (root / files.RESULTS / "georope_ablation_gpu.md").exists():
        st.markdown("**The same ablation trained on a GPU** (a longer budget at equal tokens):")
        _markdown(root, "georope_ablation_gpu.md", ABLATION_GPU)
        _ablation_plots(root, "_gpu", ABLATION_GPU_SCORE)
    else:
        st.caption(f"A longer budget needs a GPU window: `{ABLATION_GPU}` (the runs train there, are scored here).")


def _ablation_plots(root: Path, tag: str, command: str) -> None:
    """Learning curves and final losses of one ablation (``tag``: "" the CPU answer, "_gpu" the GPU one;
    ``command`` writes its tables)."""
    curves = _csv(root, f"georope_curves{tag}.csv", ["variant", "seed", "tokens", "val_loss"], command)
    if curves is not None:
        curves = curves.assign(run=curves["variant"] + " (seed " + curves["seed"].astype(str) + ")")
        st.plotly_chart(_charts.lines(curves, "tokens", ["val_loss"], "Validation loss vs training tokens",
                                      "validation loss", color="run"), key=f"method.georope_curves{tag}")
    runs = _csv(root, f"georope_ablation{tag}.csv", ["label", "seed", "val_loss", "mol_stability"], command)
    if runs is not None:
        runs = runs.assign(run="seed " + runs["seed"].astype(str))
        st.plotly_chart(_charts.grouped_bars(runs, "label", "val_loss", "run", "Final validation loss per variant",
                                             "validation loss", x_title="variant"), key=f"method.georope_bars{tag}")


def _symmetry_and_noise(root: Path) -> None:
    st.subheader("2–3. Symmetric molecules and frame noise")
    shown = [_markdown(root, name, QUESTIONS) for name in ("symmetric_molecules.md", "frame_noise.md")]
    if not any(shown):
        return
    df = _csv(root, "method_questions.csv", ["part", "key", "value_a", "value_b", "difference", "ci_low", "ci_high"],
              QUESTIONS)
    if df is None:
        return
    noise = df[df["part"] == "frame_noise"].copy()
    if not noise.empty:
        noise["sigma (Å)"] = noise["key"].str.split(" ", n=1).str[0].astype(float)
        noise["noise added"] = noise["key"].str.split(" ", n=1).str[1].str.split(" ").str[0]
        noise["loss"] = noise["difference"].astype(float)
        st.plotly_chart(_charts.lines(noise, "sigma (Å)", ["loss"], "Model loss vs coordinate noise: before or "
                                      "after canonicalization", "validation loss", color="noise added"),
                        key="method.noise")
    sym = df[df["part"] == "symmetric"].copy()
    if not sym.empty:
        sym[["difference", "ci_low", "ci_high"]] = sym[["difference", "ci_low", "ci_high"]].astype(float)
        sym["error"] = sym["ci_high"] - sym["difference"]
        sym["set"] = "fragile − control"
        st.plotly_chart(_charts.grouped_bars(sym, "key", "difference", "set", "Fragile frames minus matched control "
                                             "(bars: 95% bootstrap interval)", "difference", x_title="measure",
                                             error="error"), key="method.symmetric")


@st.cache_resource(show_spinner="Loading the equivariant peer …", max_entries=1)
def _peer(path: str):
    return load_peer(path)


def _peer_section(root: Path) -> None:
    st.subheader("4. Canonical frame + autoregression against built-in equivariance, at equal compute")
    if not _markdown(root, "equivariant_peer.md", PEER):
        return
    curves = _csv(root, "equivariant_peer_curves.csv", ["model", "cpu_hours", "val_loss"], PEER)
    if curves is not None:
        seeds = "seed" if "seed" in curves else None  # one line per training seed
        for model, part in curves.groupby("model"):
            st.plotly_chart(_charts.lines(part, "cpu_hours", ["val_loss"], f"{model}: validation loss vs CPU-hours "
                                          "(its own objective)", "validation loss", color=seeds),
                            key=f"method.peer_curve.{model}")
    card = root / "assets" / "MODEL_CARD_peer.md"
    if card.exists():
        with st.expander("The peer's model card"):
            st.markdown(demote_headings(card.read_text(encoding="utf-8", errors="replace")))
    st.markdown("**Sample the peer here** (unconditional; the Generate page samples InertialAR).")
    cols = st.columns(3)
    n = cols[0].number_input("molecules", 1, PEER_MAX, 10, key="method.peer_n")
    seed = cols[1].number_input("seed", 0, 2**31 - 1, 0, key="method.peer_seed")
    if cols[2].button("Sample the peer", key="method.peer_go"):
        try:
            peer, _ = _peer(str(PEER_CHECKPOINT))
        except CheckpointError as err:
            st.error(str(err))
            return
        with st.spinner(f"Sampling {int(n)} molecules (40 Heun steps each) …"):
            st.session_state["method.peer_result"] = sample_peer(peer, int(n), int(seed))
    molecules = st.session_state.get("method.peer_result")
    if molecules:
        m = evaluate(molecules)
        st.caption(f"{len(molecules)} molecules: atom stability {m['atom_stability']:.1%}, molecule stability "
                   f"{m['mol_stability']:.1%}, validity {m['validity']:.1%} (EDM's rules)")
        pick = st.selectbox("molecule", range(len(molecules)), format_func=lambda k: f"#{k + 1} "
                            f"({len(molecules[k])} atoms)", key="method.peer_pick")
        _viewer.show(_viewer.viewer_html([molecules[pick]], show_axes=False, captions=[molecules[pick].title]))
        st.download_button("Download SDF", records_text(molecules, stage_properties(len(molecules), "peer"), "sdf"),
                           file_name="peer_samples.sdf", mime="chemical/x-mdl-sdfile", key="method.peer_sdf")


def render(root: Path) -> None:
    """The tab: the four questions in order, then the old GPU ablation with its flaw named."""
    _ablation(root)
    _symmetry_and_noise(root)
    _peer_section(root)
    old = root / files.RESULTS / "ablation.md"
    if old.exists():
        st.markdown(OLD_ABLATION_FLAW)
        st.markdown(demote_headings(old.read_text(encoding="utf-8", errors="replace")))
