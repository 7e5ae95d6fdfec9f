"""The rough edges a new user hit (issue 11), each pinned: charts, messages, limits, names.

AppTest runs pages on the tiny random model (``tests/test_app.py``'s pattern); the rest calls
the pages' helper functions directly.
"""

from __future__ import annotations

import json
import re
import subprocess
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from streamlit.testing.v1 import AppTest

from conftest import tiny_config
from inertialar.chem import report as _analysis
from inertialar.chem.molecule import Molecule
from inertialar.nn.checkpoint import CheckpointError, load_checkpoint
from inertialar.nn.model import InertialAR
from inertialar.sampling.sampler import sample
from inertialar.sampling.settings import SampleSettings
from pages import _charts, _inputs, _viewer, benchmarks
from pages._checkpoint import LoadedModel

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 60


def _loaded() -> LoadedModel:
    torch.manual_seed(0)
    return LoadedModel(InertialAR(tiny_config()).eval(), {}, "injected", "injected@cpu", "cpu", True)


def _charts_of(at: AppTest) -> list[dict]:
    return [json.loads(el.proto.spec) for el in at.get("plotly_chart")]


def _values(v) -> list[float]:
    """A plotly JSON array, plain or binary-encoded ({"bdata": base64, "dtype": ...})."""
    if isinstance(v, dict) and "bdata" in v:
        import base64

        return np.frombuffer(base64.b64decode(v["bdata"]), dtype=v["dtype"]).tolist()
    return list(v)


def test_speed_chart_shows_the_mean_of_repeated_runs_not_their_sum(tmp_path):
    res = tmp_path / "benchmarks" / "results"
    res.mkdir(parents=True)
    (res / "sample_speed.csv").write_text("device,n,batch_size,steps,seconds,molecules_per_s\n"
                                          "cpu,1000,500,18,15.7,63.71\ncpu,1000,500,18,16.32,61.26\n"
                                          "cpu,1000,500,18,15.34,65.19\ncpu,1000,100,18,20,50.0\n"
                                          "cpu,1000,500,12,10,100.0\n")  # same batch, other steps: its own bar

    def page(root):
        from pages import benchmarks

        benchmarks.render(root)

    at = AppTest.from_function(page, args=(tmp_path,), default_timeout=TIMEOUT)
    at.run()
    assert not at.exception
    (spec,) = _charts_of(at)
    (bars,) = spec["data"]
    assert sorted(_values(bars["y"])) == pytest.approx([50.0, (63.71 + 61.26 + 65.19) / 3, 100.0], abs=0.01)
    assert spec["layout"]["xaxis"]["title"]["text"] == "configuration"
    with pytest.raises(ValueError, match="aggregate repeated rows"):
        _charts.grouped_bars(pd.read_csv(res / "sample_speed.csv"), "batch_size", "molecules_per_s", "device", "t", "y")


def test_axis_titles_are_words_not_column_names():
    df = pd.DataFrame({"cfg_scale": [1, 2], "group": ["ether", "ether"], "hit_rate": [0.3, 0.5]})
    fig = _charts.grouped_bars(df, "group", "hit_rate", "cfg_scale", "t", "hit rate")
    assert fig.layout.xaxis.title.text == "functional group" and fig.layout.legend.title.text == "CFG scale"
    assert _charts.lines(df, "cfg_scale", ["hit_rate"], "t", "y").layout.xaxis.title.text == "CFG scale"


def test_heatmap_step_labels_thin_out_for_long_trajectories(tiny_model):
    traj = sample(tiny_model, SampleSettings(n=1, seed=0, steps=1)).trajectories[0]
    long = type(traj)(np.tile(traj.probs[:1], (26, 1)), np.zeros(26, dtype=int), np.zeros((26, 3)))
    html = _charts.type_probabilities(long)
    header = html[html.index("<tr>"):html.index("</tr>")]
    labels = [t for t in re.findall(r"<th>([^<]*)</th>", header) if t]
    assert 2 <= len(labels) <= _charts.MAX_STEP_TICKS and html.count(">×</td>") == 26  # one mark per step
    assert _charts.step_dtick(8) == 1 and 26 / _charts.step_dtick(26) <= _charts.MAX_STEP_TICKS


def test_model_card_headings_sit_below_the_page_title_and_hold_no_code():
    card = "# Model card\n## Run (`python -m inertialar sample --n 10`)\n```\n# not a heading\n```\ntext `code`"
    out = benchmarks.demote_headings(card)
    assert out.splitlines()[:2] == ["### Model card", "#### Run (python -m inertialar sample --n 10)"]
    assert "# not a heading" in out and "text `code`" in out


def test_learning_curve_marks_the_change_of_validation_condition():
    df = pd.read_csv(ROOT / "assets" / "learning_curve.csv")
    marks = benchmarks.validation_changes(df)
    assert len(marks) == 1 and 8.7 <= marks[0][0] <= 10.0  # the CE jump between epochs 8.6 and 10
    recorded = pd.DataFrame({"epoch": [1, 2, 3], "val_ce": [0.5, 0.4, 0.41],
                             "val_condition": ["labels", "labels", "unconditional"]})
    assert benchmarks.validation_changes(recorded) == [(3, "validation: unconditional")]
    fig = _charts.mark_changes(_charts.lines(df, "epoch", ["val_ce"], "t", "loss"), marks)
    assert len(fig.layout.shapes) == 1


def test_upload_limit_is_the_same_in_the_label_the_widget_and_the_server():
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["server"]["maxUploadSize"] == _inputs.UPLOAD_MB == 5
    assert _inputs.MAX_UPLOAD_BYTES == 5 * 2**20
    source = (ROOT / "pages" / "_inputs.py").read_text()
    assert "max_upload_size=UPLOAD_MB" in source and "max_upload_size=16" not in source


def test_a_valid_radical_shows_its_missing_hydrogens_and_why_it_is_unstable(ethanol):
    radical = Molecule(ethanol.elements[:-1], ethanol.coords[:-1])  # the hydroxyl H removed: an alkoxy radical
    rep = _analysis.molecule_report(radical, with_reasons=True)
    assert rep.valid and not rep.stable
    assert rep.radical_electrons == 1 and _analysis.radical_summary(radical, rep) == "1 (O3)"
    row = _analysis.failure_rows([radical], [rep]).iloc[0]
    assert row["radical e⁻"] == 1 and row["details"].startswith("valid but unstable")
    assert _analysis.molecule_report(ethanol).radical_electrons == 0


def test_rdkit_messages_name_atoms_as_the_app_does():
    msg = "Explicit valence for atom # 10 C, 5, is greater than permitted"
    assert _analysis.rdkit_message(msg) == "Explicit valence for C11, 5, is greater than permitted"
    assert _analysis.describe_reason({"kind": "sanitize", "message": msg}, None).endswith("C11, 5, is greater than permitted")
    assert _analysis.describe_reason({"kind": "valence", "atom": 10, "element": "C", "bond_sum": 5, "allowed": 4},
                                     None).startswith("valence: C11 ")


def test_a_text_file_as_checkpoint_is_one_clear_line(tmp_path):
    text = tmp_path / "notes.pt"
    text.write_text("These are my notes about the run; not weights at all.\n" * 20)
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(text)
    assert str(err.value) == f"{text} is not a readable InertialAR checkpoint (it holds text, not a PyTorch file)"


def test_viewer_opens_oblique_and_marks_the_newest_atom_with_a_halo(water):
    html = _viewer.viewer_html([water, water], newest=True)
    assert '.rotate(-60,"vx")' in html and '.rotate(30,"vy")' in html
    halos = re.findall(r'addSphere\((\{.*?\})\);', html)
    assert [json.loads(h)["frame"] for h in halos] == [0, 1]
    assert "#ff00ff" not in html  # magenta stays the inspector's "valence failure"


def test_generate_warns_for_a_fragment_larger_than_qm9_and_defaults_to_a_qm9_sized_one():
    def page(loaded):
        from pages import generate

        generate.render(loaded)

    at = AppTest.from_function(page, args=(_loaded(),), default_timeout=TIMEOUT)
    at.run()
    at.checkbox(key="gen.use_prefix").check().run()
    at.radio(key="gen.prefix.source").set_value("SMILES").run()
    assert at.text_input(key="gen.prefix.smiles").value == "CC(O)C#N"
    assert not at.warning
    at.text_input(key="gen.prefix.smiles").set_value("CC(=O)Oc1ccccc1C(=O)O").run()  # aspirin
    assert not at.exception
    assert any("13 heavy atoms" in w.value and "at most 9" in w.value for w in at.warning)


def test_generate_says_what_stable_and_valid_mean_and_a_full_queue_is_one_error():
    def page(loaded, full):
        from inertialar.sampling.service import SamplingService
        from pages import _sampling, generate

        if not full:
            generate.render(loaded)
            return
        shared, svc = _sampling.service, SamplingService(max_queued=0)  # a service that is always full
        _sampling.service = lambda: svc
        try:
            generate.render(loaded)
        finally:
            _sampling.service = shared
            svc.close()

    at = AppTest.from_function(page, args=(_loaded(), False), default_timeout=TIMEOUT)
    at.run()
    at.number_input(key="gen.n").set_value(2)
    at.button(key="gen.run").click().run()
    assert not at.exception
    assert any(c.value.startswith("**Stable**") and "**Valid**" in c.value for c in at.caption)
    assert any(m.value.startswith("| # |") and "| radical e⁻ |" in m.value for m in at.markdown)
    full = AppTest.from_function(page, args=(_loaded(), True), default_timeout=TIMEOUT)
    full.run()
    full.button(key="gen.run").click().run()
    assert not full.exception
    assert len(full.error) == 1 and "sampling service is full" in full.error[0].value


def test_canonicalization_lab_warns_about_overlapping_atoms():
    def page():
        from pages import canonicalization

        canonicalization.render()

    at = AppTest.from_function(page, default_timeout=TIMEOUT)
    at.run()
    at.radio(key="canon.source").set_value("Paste XYZ/SDF").run()
    at.text_area(key="canon.paste").set_value("4\n\nC 0 0 0\nH 0 0 1.09\nH 0 0 1.09\nH 1.0 0 -0.3\n").run()
    assert not at.exception
    assert any("closer than 0.5 Å" in w.value and "H2 and H3" in w.value for w in at.warning)


def test_make_run_takes_a_port_and_prints_the_address():
    out = subprocess.run(["make", "-n", "run", "PORT=8600"], cwd=ROOT, capture_output=True, text=True).stdout
    assert "--server.port 8600" in out and "http://localhost:8600" in out


def test_generate_summary_is_a_markdown_table_that_keeps_smiles_literal():
    from pages.generate import markdown_table

    df = pd.DataFrame({"#": [1, 2], "SMILES": ["C/C=C\\C", "(invalid)"], "stable": [True, False],
                       "ΔE": [1.23456, np.nan], "note": ["a|b", None]})
    lines = markdown_table(df, code_columns=("SMILES",)).splitlines()
    assert lines[:2] == ["| # | SMILES | stable | ΔE | note |", "|---|---|---|---|---|"]
    assert lines[2] == "| 1 | `C/C=C\\C` | yes | 1.235 | a\\|b |"  # code span: backslash kept; pipe escaped
    assert lines[3] == "| 2 | `(invalid)` | no | — | — |"


def test_viewer_antialiases_only_on_a_hardware_renderer(water):
    html = _viewer.viewer_html([water])
    assert 'antialias:inertialarHardwareGL()' in html and '{backgroundColor:"white"}' not in html
    probe = html.index("function inertialarHardwareGL")
    assert probe < html.index("createViewer(") and "swiftshader|llvmpipe" in html
