"""The Model & benchmarks page's "Method questions" tab: tables, plots, and sampling the peer in the app."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from streamlit.testing.v1 import AppTest

from inertialar.data.specs import QM9_ELEMENTS
from inertialar.nn.checkpoint import save_polisher
from inertialar.nn.peer import Peer, PeerConfig

TIMEOUT = 60
ROOT = Path(__file__).resolve().parent.parent


def _page(root):
    from pages import _method

    _method.render(root)


def _results(root: Path) -> None:
    res = root / "benchmarks" / "results"
    res.mkdir(parents=True)
    (res / "georope_ablation.md").write_text("# GeoRoPE ablation at equal training tokens\n\n| variant |\n|---|\n")
    (res / "georope_ablation.csv").write_text(
        "variant,label,seed,val_loss,mol_stability\ndefault,RoPE-3D + Nyström,0,0.67,0.01\n"
        "default,RoPE-3D + Nyström,1,0.68,0.0\nneither,neither,0,0.70,0.0\n")
    (res / "georope_curves.csv").write_text("variant,seed,tokens,val_loss\ndefault,0,100,0.9\ndefault,0,200,0.7\n"
                                            "neither,0,100,0.95\nneither,0,200,0.72\n")
    (res / "symmetric_molecules.md").write_text("# Symmetric molecules\n")
    (res / "frame_noise.md").write_text("# Frame noise\n")
    (res / "method_questions.csv").write_text(
        "part,key,value_a,value_b,difference,ci_low,ci_high,extra\n"
        "symmetric,type cross-entropy (per molecule),0.28,0.23,0.05,0.02,0.08,488\n"
        "frame_noise,0.0 before canonicalization (frame may change),0.21,0.18,0.187,,,0.0\n"
        "frame_noise,0.0 after canonicalization (frame fixed),0.21,0.18,0.187,,,0.0\n"
        "frame_noise,0.05 before canonicalization (frame may change),0.22,0.30,0.2800,,,0.3\n"
        "frame_noise,0.05 after canonicalization (frame fixed),0.22,0.30,0.2790,,,0.3\n")


def test_the_tab_shows_each_question_as_a_table_and_a_plot_and_names_missing_ones(tmp_path):
    _results(tmp_path)
    at = AppTest.from_function(_page, args=(tmp_path,), default_timeout=TIMEOUT)
    at.run()
    assert not at.exception
    assert len(at.get("plotly_chart")) == 4  # ablation curves + bars, frame noise, symmetric differences
    headers = " ".join(h.value for h in at.subheader)
    assert "GeoRoPE" in headers and "Symmetric" in headers and "equivariance" in headers
    assert any("python benchmarks/equivariant_peer.py" in i.value for i in at.info)  # the missing peer table


def test_a_gpu_ablation_shows_beside_the_cpu_answer(tmp_path):
    _results(tmp_path)
    at = AppTest.from_function(_page, args=(tmp_path,), default_timeout=TIMEOUT)
    at.run()
    assert any("benchmarks/gpu/georope.sh" in c.value for c in at.caption)  # how to get it, while it is missing
    res = tmp_path / "benchmarks" / "results"
    for name in ("georope_ablation", "georope_curves"):
        (res / f"{name}_gpu.csv").write_text((res / f"{name}.csv").read_text())
    (res / "georope_ablation_gpu.md").write_text("# GeoRoPE ablation at equal training tokens (bf16 on a GPU)\n")
    at = AppTest.from_function(_page, args=(tmp_path,), default_timeout=TIMEOUT)
    at.run()
    assert not at.exception and len(at.get("plotly_chart")) == 6  # + the GPU answer's curves and bars
    assert any("bf16 on a GPU" in m.value for m in at.markdown)


def test_a_malformed_table_is_an_error_and_the_rest_still_renders(tmp_path):
    _results(tmp_path)
    (tmp_path / "benchmarks" / "results" / "georope_curves.csv").write_text("nothing,useful\n1,2\n")
    at = AppTest.from_function(_page, args=(tmp_path,), default_timeout=TIMEOUT)
    at.run()
    assert not at.exception
    assert any("georope_curves.csv lacks column(s)" in e.value for e in at.error)
    assert len(at.get("plotly_chart")) == 3


def test_the_peer_samples_in_the_app_with_a_viewer_and_an_sdf(tmp_path, monkeypatch):
    _results(tmp_path)
    res = tmp_path / "benchmarks" / "results"
    (res / "equivariant_peer.md").write_text("# An equivariant peer at equal compute\n")
    (res / "equivariant_peer_curves.csv").write_text(
        "model,seed,cpu_hours,step,val_loss,detail\nInertialAR,0,0.1,10,0.9,x\nInertialAR,0,0.2,20,0.8,x\n"
        "InertialAR,1,0.1,10,0.95,x\nInertialAR,1,0.2,20,0.85,x\n"
        "Equivariant peer,0,0.1,10,1.2,y\nEquivariant peer,0,0.2,20,1.1,y\n")
    torch.manual_seed(0)
    peer = Peer(PeerConfig(QM9_ELEMENTS, "qm9", atom_counts=(0, 0, 0, 1, 1), width=16, layers=1, rbf=8))
    save_polisher(tmp_path / "peer.pt", peer, {"dataset": "qm9"})
    import pages._method as method

    monkeypatch.setattr(method, "PEER_CHECKPOINT", tmp_path / "peer.pt")
    at = AppTest.from_function(_page, args=(tmp_path,), default_timeout=TIMEOUT)
    at.run()
    charts = at.get("plotly_chart")
    assert len(charts) == 6  # + one learning curve per model, one line per training seed
    assert [len(json.loads(c.proto.spec)["data"]) for c in charts[-2:]] == [1, 2]  # groupby order: peer, InertialAR
    at.number_input(key="method.peer_n").set_value(3)
    at.button(key="method.peer_go").click().run()
    assert not at.exception and not at.error
    assert any("3 molecules: atom stability" in c.value for c in at.caption)
    assert at.get("download_button") and any("iframe" in str(e.type) for e in at.get("iframe"))


def test_a_missing_peer_checkpoint_is_an_error_not_a_crash(tmp_path, monkeypatch):
    _results(tmp_path)
    (tmp_path / "benchmarks" / "results" / "equivariant_peer.md").write_text("# peer\n")
    import pages._method as method

    monkeypatch.setattr(method, "PEER_CHECKPOINT", tmp_path / "nowhere.pt")
    at = AppTest.from_function(_page, args=(tmp_path,), default_timeout=TIMEOUT)
    at.run()
    at.button(key="method.peer_go").click().run()
    assert not at.exception and any("no checkpoint file" in e.value for e in at.error)
