"""The app with either dataset's model (``AppTest``): the sidebar offers both shipped checkpoints,
and the pages take the vocabulary, groups, sizes and fragment default from the model in use."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from streamlit.testing.v1 import AppTest

from conftest import tiny_config
from inertialar.nn.checkpoint import save_checkpoint
from inertialar.nn.model import InertialAR

APP = str(Path(__file__).resolve().parent.parent / "app.py")
TIMEOUT = 60


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("ckpts")
    out = {}
    for name in ("qm9", "moses"):
        torch.manual_seed(0)
        out[name] = root / f"tiny_{name}.pt"
        save_checkpoint(out[name], InertialAR(tiny_config(name)).eval(), {"steps": 3, "dataset": name})
    return out


@pytest.fixture
def app(checkpoints, monkeypatch) -> AppTest:
    monkeypatch.setenv("INERTIALAR_CHECKPOINT", str(checkpoints["qm9"]))
    monkeypatch.setenv("INERTIALAR_MOSES_CHECKPOINT", str(checkpoints["moses"]))
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    return at


def _no_exception(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def _pick_moses(at: AppTest) -> AppTest:
    at.sidebar.radio(key="ckpt.choice").set_value("Drug-like (MOSES)").run()
    _no_exception(at)
    return at


def test_the_sidebar_offers_both_shipped_checkpoints_and_names_the_data(app):
    assert app.sidebar.radio(key="ckpt.choice").options[:2] == ["Shipped default (QM9)", "Drug-like (MOSES)"]
    assert any("QM9 (B3LYP" in c.value and "H C N O F" in c.value for c in app.sidebar.caption)
    _pick_moses(app)
    assert any("tiny_moses.pt" in c.value and "drug-like (MOSES, MMFF94 conformers)" in c.value
               and "S Cl Br" in c.value for c in app.sidebar.caption)


@pytest.mark.parametrize("page", ["pages/generate.py", "pages/canonicalization.py", "pages/failures.py",
                                  "pages/benchmarks.py"])
def test_every_page_renders_with_the_drug_like_model(app, page):
    _pick_moses(app)
    app.switch_page(page).run()
    _no_exception(app)
    assert any("tiny_moses.pt" in c.value for c in app.sidebar.caption)


def test_generate_offers_the_drug_groups_and_samples_drug_like_molecules(app):
    _pick_moses(app)
    assert "sulfonamide" in app.multiselect(key="gen.present").options
    app.multiselect(key="gen.present").set_value(["sulfonamide"]).run()
    app.number_input(key="gen.n").set_value(2).run()
    app.button(key="gen.run").click().run()
    _no_exception(app)
    assert not app.error
    gen = app.session_state["gen.results"][app.session_state["gen.shown"]]
    assert len(gen.result.molecules) == 2
    assert gen.result.trajectories[0].elements == ("H", "C", "N", "O", "F", "S", "Cl", "Br")


def test_the_fragment_default_and_vocabulary_follow_the_model(app):
    app.checkbox(key="gen.use_prefix").check().run()
    app.radio(key="gen.prefix.source").set_value("SMILES").run()
    assert app.text_input(key="gen.prefix.smiles").value == "CC(O)C#N"  # QM9-sized default
    app.text_input(key="gen.prefix.smiles").set_value("CCSC").run()  # sulfur: outside QM9's vocabulary
    _no_exception(app)
    assert any("outside the model's vocabulary (H C N O F)" in e.value for e in app.error)
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    _pick_moses(at)
    at.checkbox(key="gen.use_prefix").check().run()
    at.radio(key="gen.prefix.source").set_value("SMILES").run()
    assert at.text_input(key="gen.prefix.smiles").value == "CC(=O)Nc1ccccc1"  # acetanilide
    at.text_input(key="gen.prefix.smiles").set_value("CCSC").run()
    _no_exception(at)
    assert not at.error


def test_the_lab_offers_well_known_drugs_as_examples(app):
    app.switch_page("pages/canonicalization.py").run()
    app.radio(key="canon.source").set_value("Example molecule").run()
    options = app.selectbox(key="canon.example").options
    assert {"aspirin (MOSES)", "caffeine (MOSES)", "ibuprofen (MOSES)", "paracetamol (MOSES)"} <= set(options)
    app.selectbox(key="canon.example").set_value("ibuprofen (MOSES)").run()
    _no_exception(app)
    assert not app.error and any("CC(C)Cc1ccc" in c.value for c in app.caption)
