"""The Streamlit app, headless (``streamlit.testing.v1.AppTest``): every page, the viewer HTML,
bad input, bad checkpoints.

The whole app runs on a tiny random model: ``tiny_checkpoint`` saves one (``tiny_config()``) and
``INERTIALAR_CHECKPOINT`` points the app's default at it. Page functions are also called directly
with an injected model (``AppTest.from_function`` passes the object through), which is how a page
is tested without any checkpoint file.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch
from streamlit.testing.v1 import AppTest

from conftest import tiny_config
from inertialar.chem.molecule import Molecule, MoleculeError
from inertialar.nn.checkpoint import save_checkpoint
from inertialar.nn.model import InertialAR
from pages import _inputs, _viewer
from pages._checkpoint import LoadedModel

APP = str(Path(__file__).resolve().parent.parent / "app.py")
TIMEOUT = 60  # s; the first run imports torch and RDKit


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("ckpt") / "tiny.pt"
    save_checkpoint(path, InertialAR(tiny_config()).eval(), {"steps": 7, "epochs": 0.5, "wall_hours": 0.01})
    return path


@pytest.fixture
def app(tiny_checkpoint, monkeypatch) -> AppTest:
    monkeypatch.setenv("INERTIALAR_CHECKPOINT", str(tiny_checkpoint))
    monkeypatch.setenv("INERTIALAR_POLISHER", "none")  # the polish has its own test below
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    return at


def _no_exception(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def _summary_rows(at: AppTest, with_header: bool = False) -> list[list[str]]:
    """The Generate page's Markdown summary table, as cells per row (header first if asked)."""
    (text,) = [m.value for m in at.markdown if m.value.startswith("| # |")]
    head, _, *rows = text.splitlines()
    cells = [[c.strip() for c in line.strip("|").split(" | ")] for line in [head, *rows]]
    return cells if with_header else cells[1:]


def _srcdocs(at: AppTest) -> list[str]:
    return [el.proto.srcdoc for el in at.get("iframe")]


PAGES = [("pages/generate.py", "Generate"), ("pages/canonicalization.py", "Canonicalization lab"),
         ("pages/failures.py", "Failure inspector"), ("pages/benchmarks.py", "Model & benchmarks")]


def test_polished_molecules_play_their_polish_and_offer_both_downloads(tiny_checkpoint, tmp_path, monkeypatch):
    from inertialar.data.specs import QM9_ELEMENTS
    from inertialar.nn.checkpoint import save_polisher
    from inertialar.nn.polisher import Polisher, PolisherConfig

    torch.manual_seed(0)
    polisher = Polisher(PolisherConfig(elements=QM9_ELEMENTS, dataset="qm9", width=16, layers=2, rbf=8))
    save_polisher(tmp_path / "p.pt", polisher.eval(), {"dataset": "qm9"})
    monkeypatch.setenv("INERTIALAR_CHECKPOINT", str(tiny_checkpoint))
    monkeypatch.setenv("INERTIALAR_POLISHER", str(tmp_path / "p.pt"))
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    at.number_input(key="gen.n").set_value(2)
    at.button(key="gen.run").click().run()
    _no_exception(at)
    (gen,) = at.session_state["gen.results"].values()
    assert gen.result.polished
    (html,) = _srcdocs(at)
    steps = gen.result.settings.polish_steps
    assert _viewer.frame_count(html) == len(gen.result.molecules[0]) + steps  # the atoms, then the polish
    labels = [b.proto.label for b in at.get("download_button")]
    assert "Download SDF (all, polished)" in labels and "Download raw SDF (before the polish)" in labels
    assert gen.sdf.count("<stage>\npolished") == 2 and gen.raw_sdf.count("<stage>\nraw") == 2
    at.toggle(key="gen.overlay_raw").set_value(True).run()
    _no_exception(at)
    assert "raw molecule (before the polish)" in " ".join(c.value for c in at.caption)
    assert gen.critic is not None and len(gen.critic) == 2  # the critic scores every molecule shown
    assert "critic score" in _summary_rows(at, with_header=True)[0]
    at.button(key="gen.grid_open.1").click().run()  # the grid's 3D button opens molecule #2
    assert at.session_state["gen.pick"] == 1


def test_sidebar_names_the_checkpoint_and_its_meta(app):
    _no_exception(app)
    assert app.title[0].value == "Generate"  # the default page
    assert any("tiny.pt" in c.value for c in app.sidebar.caption)
    assert any("Trained 0.5 epochs (7 steps) in 1 minutes" in c.value and "M parameters" in c.value
               for c in app.sidebar.caption)  # the training record in words, not raw keys
    assert not app.warning  # a real checkpoint: no "untrained" banner


def test_the_sidebar_names_the_metrics_in_words():
    from pages._checkpoint import metrics_line, training_line

    meta = {"metrics": {"n": 1000, "mol_stability": 0.248, "atom_stability": 0.8731, "validity": 0.507,
                        "valid_x_unique": 0.408, "mode": "fast"}, "epochs": 65.72, "steps": 9661,
            "wall_hours": 0.1367, "device": "NVIDIA H100 80GB HBM3"}
    assert metrics_line(meta) == ("Molecule stability 24.8% · atom stability 87.3% · validity 50.7% · valid and "
                                  "unique 40.8% (1,000 unconditional molecules, fast mode)")
    assert training_line(meta, 6_732_121) == ("Trained 65.7 epochs (9,661 steps) in 8 minutes on an NVIDIA H100 80GB "
                                              "HBM3 · 6.7 M parameters")
    assert metrics_line({}) is None


@pytest.mark.parametrize("path,title", PAGES)
def test_every_page_renders_on_the_tiny_checkpoint(app, path, title):
    app.switch_page(path).run()
    _no_exception(app)
    assert app.title[0].value == title
    assert any("tiny.pt" in c.value for c in app.sidebar.caption)  # the router ran: sidebar present
    assert not app.error


def test_generate_shows_one_viewer_with_every_step_as_a_frame(app):
    app.number_input(key="gen.n").set_value(2)
    app.number_input(key="gen.seed").set_value(3)
    app.button(key="gen.run").click().run()
    _no_exception(app)
    (gen,) = app.session_state["gen.results"].values()
    mol = gen.result.molecules[0]
    (html,) = _srcdocs(app)
    assert _viewer.frame_count(html) == len(mol)  # one frame per placed atom
    assert html.count(".addArrow(") == 3 and all(f'addLabel("I{k}"' in html for k in (1, 2, 3))
    assert "loadScriptAsync('app/static/3Dmol-min.js')" in html
    assert "https://" not in html and "http://" not in html
    htmls = [h.proto.body for h in app.get("html")]
    assert sum("Type distribution per step" in h for h in htmls) == 1 and not app.get("plotly_chart")
    grid = [h for h in htmls if 'class="mol2d"' in h]
    assert len(grid) == 2 and all("data:image/svg+xml;base64," in h for h in grid)  # one 2-D drawing per molecule
    assert len(_summary_rows(app)) == 2  # the summary table lists both molecules
    labels = [b.proto.label for b in app.get("download_button")]
    assert labels == ["Download SDF (all)", "Download XYZ (all)", "Trajectory XYZ (#1)"]
    app.run()  # a rerun must not reload the viewer: the HTML is a pure function of the content
    assert _srcdocs(app) == [html]


def test_generate_offers_the_quality_modes_with_their_cost_and_uses_the_chosen_one(app):
    from inertialar.sampling.modes import MODES, mode_settings

    box = app.selectbox(key="gen.mode")
    assert [o.split(" — ")[0] for o in box.options] == list(MODES) and box.value == "fast"
    assert any("Mode **fast**" in c.value for c in app.caption)  # measured quality/cost, or "not measured yet"
    box.set_value("best").run()
    app.number_input(key="gen.n").set_value(2)
    app.number_input(key="gen.seed").set_value(4)
    app.button(key="gen.run").click().run()
    _no_exception(app)
    (gen,) = app.session_state["gen.results"].values()
    want = mode_settings("best", n=2, seed=4)
    assert gen.result.settings.mode == "best" and gen.result.drawn == 2 * want.oversample
    assert any("best of 10 draws each (20 drawn)" in c.value for c in app.caption)


def test_generate_refine_overlays_the_refined_pose_and_keeps_the_raw_player(app, monkeypatch):
    from inertialar.chem import refine

    def fake_mmff(mol, settings):  # the real MMFF path is tested in test_refine; here: what the page shows
        return refine.Refinement(Molecule(mol.elements, mol.coords + 0.1), "mmff", None, 1.5, 0.17, True, 10, 0.01)

    monkeypatch.setattr(refine, "_mmff", fake_mmff)
    app.number_input(key="gen.n").set_value(2)
    app.selectbox(key="gen.refine").set_value("mmff")
    app.button(key="gen.run").click().run()
    _no_exception(app)
    (gen,) = app.session_state["gen.results"].values()
    (html,) = _srcdocs(app)
    assert _viewer.frame_count(html) == len(gen.result.molecules[0])  # the player stays on the raw trajectory
    assert _viewer.OVERLAY_COLOR in html and "refined pose (mmff)" in html
    head, *rows = _summary_rows(app, with_header=True)
    refined = head.index("refined")
    assert [r[refined] for r in rows] == ["yes", "yes"]
    assert "Download refined SDF (mmff)" in [b.proto.label for b in app.get("download_button")]
    assert gen.refined_sdf.count("> <energy_drop_kcal_mol>") == 2 and gen.sdf.count("> <bond_source>") == 2


def test_generate_picking_a_molecule_then_generating_fewer_keeps_working(app):
    app.number_input(key="gen.n").set_value(3)
    app.button(key="gen.run").click().run()
    app.selectbox(key="gen.pick").set_value(2).run()
    assert "Trajectory XYZ (#3)" in [b.proto.label for b in app.get("download_button")]
    app.number_input(key="gen.n").set_value(1)
    app.button(key="gen.run").click().run()
    _no_exception(app)
    assert app.selectbox(key="gen.pick").value == 0 and len(_srcdocs(app)) == 1


def test_generate_same_seed_same_molecules_other_seed_differs(app):
    def generate(seed: int) -> list[Molecule]:
        app.number_input(key="gen.seed").set_value(seed)
        app.button(key="gen.run").click().run()
        key = app.session_state["gen.shown"]
        return app.session_state["gen.results"][key].result.molecules

    first, other, again = generate(1), generate(2), generate(1)
    assert [m.to_xyz() for m in first] == [m.to_xyz() for m in again]
    assert [m.to_xyz() for m in first] != [m.to_xyz() for m in other]


def test_generate_completes_a_fragment(app):
    app.checkbox(key="gen.use_prefix").check().run()
    app.radio(key="gen.prefix.source").set_value("SMILES").run()
    app.text_input(key="gen.prefix.smiles").set_value("CCO").run()
    app.slider(key="gen.prefix_k").set_value(3).run()
    app.number_input(key="gen.n").set_value(2)
    app.button(key="gen.run").click().run()
    _no_exception(app)
    gen = app.session_state["gen.results"][app.session_state["gen.shown"]]
    prefix = gen.result.settings.prefix
    assert len(prefix) == 3
    for mol in gen.result.molecules:
        assert mol.elements[:3] == prefix.elements
        np.testing.assert_allclose(mol.coords[:3], prefix.coords, atol=1e-5)


def test_generate_contradictory_groups_is_an_error_not_a_crash(app):
    app.multiselect(key="gen.present").set_value(["alcohol"])
    app.multiselect(key="gen.absent").set_value(["alcohol"])
    app.button(key="gen.run").click().run()
    _no_exception(app)
    assert any("both present and absent" in e.value for e in app.error)
    assert not _srcdocs(app)


def test_page_render_takes_an_injected_model():
    def page(loaded):
        from pages import generate

        generate.render(loaded)

    torch.manual_seed(0)
    loaded = LoadedModel(InertialAR(tiny_config()).eval(), {}, "injected", "injected@cpu", "cpu", True)
    at = AppTest.from_function(page, args=(loaded,), default_timeout=TIMEOUT)
    at.run()
    at.number_input(key="gen.n").set_value(1)
    at.button(key="gen.run").click().run()
    _no_exception(at)
    assert len(_srcdocs(at)) == 1
    assert not at.warning  # a trained (not fallback) model: no "untrained" banner


@pytest.mark.parametrize("text,message", [
    ("2\n\nXx 0 0 0\nH 0 0 1\n", "unknown element 'Xx'"),
    ("not a molecule", "expected an atom count"),
    ("3\n\nC 0 0 0\nH 0 0 1\n", "file ends early"),
    ("1001\n\n" + "C 0 0 0\n" * 1001, "outside 1..1000"),
    ("x\n\n  0  0  0  0  0  0  0  0  0  0999 V2000\n", "atom count 0"),
])
def test_bad_pasted_molecule_is_one_error_and_other_pages_still_work(app, text, message):
    app.switch_page("pages/canonicalization.py").run()
    app.radio(key="canon.source").set_value("Paste XYZ/SDF").run()
    app.text_area(key="canon.paste").set_value(text).run()
    _no_exception(app)
    assert len(app.error) == 1 and message in app.error[0].value
    assert not _srcdocs(app)
    app.switch_page("pages/benchmarks.py").run()
    _no_exception(app)
    assert not app.error


@pytest.mark.parametrize("smiles,message", [("C1CC", "invalid SMILES"),
                                            ("C" * 600, "longer than 500")])
def test_bad_smiles_is_one_error(app, smiles, message):
    app.switch_page("pages/canonicalization.py").run()
    app.radio(key="canon.source").set_value("SMILES").run()
    app.text_input(key="canon.smiles").set_value(smiles).run()
    _no_exception(app)
    assert len(app.error) == 1 and message in app.error[0].value


def test_canonicalization_lab_shuffle_keeps_tokens_identical(app):
    app.switch_page("pages/canonicalization.py").run()
    app.radio(key="canon.source").set_value("SMILES").run()
    app.text_input(key="canon.smiles").set_value("OCC(=O)N").run()
    app.button(key="canon.shuffle").click().run()
    _no_exception(app)
    assert any("identical within 1e-3 Å" in m.value for m in app.markdown)
    ref, posed = app.dataframe[1].value, app.dataframe[2].value  # [0] is the frame facts table
    assert len(ref) == 10 and np.abs(ref[["x (Å)", "y (Å)", "z (Å)"]].to_numpy()
                                     - posed[["x (Å)", "y (Å)", "z (Å)"]].to_numpy()).max() <= 1e-3
    original, canonical = _srcdocs(app)
    assert original != canonical and all(h.count(".addArrow(") == 3 for h in (original, canonical))
    assert len(app.get("plotly_chart")) == 1  # the live noise curve


def test_canonicalization_lab_warns_on_a_degenerate_frame(app):
    app.switch_page("pages/canonicalization.py").run()
    app.radio(key="canon.source").set_value("SMILES").run()
    app.text_input(key="canon.smiles").set_value("C").run()  # methane: a spherical top
    _no_exception(app)
    assert any("Near-degenerate frame" in w.value for w in app.warning)


def test_failure_inspector_lists_reasons_and_highlights_atoms(app):
    app.switch_page("pages/failures.py").run()
    app.number_input(key="fail.n").set_value(6)
    app.button(key="fail.run").click().run()
    _no_exception(app)
    assert [m.label for m in app.metric][:3] == ["Atom stability", "Molecule stability", "Validity"]
    table = app.dataframe[0].value
    assert len(table) >= 1 and set(table["reasons"]) <= {"ok"} | {
        ", ".join(p) for p in _all_orders(["valence", "fragments", "clash", "sanitize"])}
    (html,) = _srcdocs(app)
    assert re.search(r'"sphere": \{"scale": 0.42, "color": "#(ff00ff|ff8c00|00ced1)"\}', html)  # offending atoms
    assert any(e.label.startswith("PoseBusters:") for e in app.expander)  # checks next to EDM's reasons
    assert any("EDM stability" in c.value for c in app.caption)
    app.multiselect(key="fail.filter").set_value(["ok"]).run()
    _no_exception(app)
    shown = app.dataframe[0].value
    assert (shown["reasons"] == "ok").all() if len(shown) else any("No molecule" in i.value for i in app.info)


def _all_orders(kinds: list[str]) -> list[tuple[str, ...]]:
    """Every non-empty subsequence of kinds, in order (the ways reasons can be listed)."""
    out = []
    for mask in range(1, 2 ** len(kinds)):
        out.append(tuple(k for i, k in enumerate(kinds) if mask >> i & 1))
    return out


def test_a_typed_path_outside_the_allowed_places_is_refused_alike_whether_or_not_it_exists(app, tmp_path):
    """On a shared server typed paths are off: a path outside the shipped checkpoints and the models
    folder gets one message, the same for a real checkpoint, a garbage file and no file at all."""
    real = tmp_path / "real.pt"
    save_checkpoint(real, InertialAR(tiny_config()).eval(), {})
    (tmp_path / "garbage.pt").write_bytes(b"this is not a checkpoint")
    app.sidebar.radio(key="ckpt.choice").set_value("Path …").run()
    messages = []
    for typed in (real, tmp_path / "garbage.pt", tmp_path / "missing.pt", Path("/etc/passwd")):
        app.sidebar.text_input(key="ckpt.path").set_value(str(typed)).run()
        _no_exception(app)
        messages.append([e.value for e in app.sidebar.error])
        assert any("tiny.pt" in c.value for c in app.sidebar.caption)  # the default stays in use
    assert all(m == messages[0] for m in messages) and len(messages[0]) == 1
    assert "typed paths are off" in messages[0][0] and str(tmp_path) not in messages[0][0]
    assert app.title[0].value == "Generate" and not app.main.error  # the page itself still renders


def test_typed_paths_turned_on_load_any_file_with_one_line_errors(app, tmp_path, monkeypatch):
    monkeypatch.setenv("INERTIALAR_ALLOW_PATHS", "1")
    bad = tmp_path / "garbage.pt"
    bad.write_bytes(b"this is not a checkpoint")
    app.sidebar.radio(key="ckpt.choice").set_value("Path …").run()
    app.sidebar.text_input(key="ckpt.path").set_value(str(bad)).run()
    _no_exception(app)
    assert any("not a readable InertialAR checkpoint" in e.value for e in app.sidebar.error)
    app.sidebar.text_input(key="ckpt.path").set_value(str(tmp_path / "missing.pt")).run()
    assert any("no checkpoint file" in e.value for e in app.sidebar.error)


def test_the_models_folder_is_listed_and_its_files_load(tiny_checkpoint, tmp_path, monkeypatch):
    folder = tmp_path / "models"
    folder.mkdir()
    save_checkpoint(folder / "mine.pt", InertialAR(tiny_config()).eval(), {"steps": 3})
    monkeypatch.setenv("INERTIALAR_CHECKPOINT", str(tiny_checkpoint))
    monkeypatch.setenv("INERTIALAR_MODELS_DIR", str(folder))
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    assert "Models folder: mine.pt" in at.sidebar.radio(key="ckpt.choice").options
    at.sidebar.radio(key="ckpt.choice").set_value("Models folder: mine.pt").run()
    _no_exception(at)
    assert any("mine.pt" in c.value for c in at.sidebar.caption)
    at.sidebar.radio(key="ckpt.choice").set_value("Path …").run()
    at.sidebar.text_input(key="ckpt.path").set_value(str(folder / "mine.pt")).run()  # inside the folder: allowed
    assert not at.sidebar.error and any("mine.pt" in c.value for c in at.sidebar.caption)


def test_an_uploaded_checkpoint_is_read_in_memory_with_weights_only(tiny_checkpoint):
    from inertialar.nn.checkpoint import CheckpointError, load_checkpoint

    model, meta = load_checkpoint(tiny_checkpoint.read_bytes())
    assert meta["steps"] == 7 and model.cfg.dataset == "qm9"
    with pytest.raises(CheckpointError, match="<memory> is not a readable InertialAR checkpoint"):
        load_checkpoint(b"not a checkpoint")


def test_missing_default_checkpoint_falls_back_to_a_labelled_random_model(tmp_path, monkeypatch):
    monkeypatch.setenv("INERTIALAR_CHECKPOINT", str(tmp_path / "not_trained_yet.pt"))
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.run()
    _no_exception(at)
    assert any("No trained checkpoint" in w.value for w in at.sidebar.warning)
    assert any("results are not meaningful" in w.value for w in at.warning)
    at.number_input(key="gen.n").set_value(1)
    at.button(key="gen.run").click().run()
    assert any("untrained random model" in w.value for w in at.warning)
    assert len(_srcdocs(at)) == 1


def test_benchmarks_page_charts_committed_tables_and_names_missing_ones(tmp_path):
    res = tmp_path / "benchmarks" / "results"
    res.mkdir(parents=True)
    (res / "quality_cfg.csv").write_text(
        "cfg_scale,group,hit_rate,atom_stability,mol_stability,validity,n\n"
        "1,alcohol,0.4,0.9,0.5,0.8,100\n2,alcohol,0.7,0.9,0.4,0.7,100\n1,ether,0.3,0.9,0.5,0.8,100\n")
    (res / "sample_speed.csv").write_text("device,n,batch_size,steps\ncpu,100,100,18\n")  # columns missing

    def page(root):
        from pages import benchmarks

        benchmarks.render(root)

    at = AppTest.from_function(page, args=(tmp_path,), default_timeout=TIMEOUT)
    at.run()
    _no_exception(at)
    assert len(at.get("plotly_chart")) == 2  # stability/validity vs CFG, hit rate per group
    assert any("sample_speed.csv lacks column(s) seconds, molecules_per_s" in e.value for e in at.error)
    infos = " ".join(i.value for i in at.info)
    assert "python benchmarks/quality.py" in infos and "MODEL_CARD.md" in infos
    assert "python benchmarks/plausibility.py" in infos


def test_benchmarks_page_shows_the_committed_plausibility_table():
    def page():
        from pages import benchmarks

        benchmarks.render()

    at = AppTest.from_function(page, default_timeout=TIMEOUT)
    at.run()
    _no_exception(at)
    (summary,) = [d.value for d in at.dataframe if "PoseBusters all pass" in d.value.columns]
    assert list(summary["set"])[:2] == ["QM9 test (raw B3LYP)", "generated (raw)"]
    assert summary["PoseBusters all pass"].between(0, 1).all() and (summary["n"] > 0).all()
    assert any("PoseBusters (`mol` config)" in c.value for c in at.caption)


def test_viewer_html_is_deterministic_offline_and_counts_frames(water, benzene):
    a = _viewer.viewer_html([water, benzene], captions=["one", "two"])
    assert a == _viewer.viewer_html([water, benzene], captions=["one", "two"])
    assert a != _viewer.viewer_html([water, benzene], captions=["one", "three"])
    assert _viewer.frame_count(a) == 2 and "https://" not in a
    evil = _viewer.viewer_html([water, water], captions=["</script><b>x</b>", "y"])
    plain = _viewer.viewer_html([water, water], captions=["x", "y"])
    assert evil.count("</script>") == plain.count("</script>") and "<b>x</b>" not in evil  # text stays text
    with pytest.raises(ValueError):
        _viewer.viewer_html([])


def test_upload_limits_are_one_line_errors():
    with pytest.raises(MoleculeError, match="the limit is 5 MB"):
        _inputs.parse_upload("big.xyz", b"1\n\nC 0 0 0\n" + b" " * (5 * 2**20))
    with pytest.raises(MoleculeError, match="not a UTF-8 text file"):
        _inputs.parse_upload("bin.xyz", b"\xff\xfe\x00garbage")
    with pytest.raises(MoleculeError, match="unsupported file type"):
        _inputs.parse_upload("mol.pdb", b"ATOM")
    (mol,) = _inputs.parse_upload("w.xyz", b"3\nwater\nO 0 0 0.12\nH 0 0.76 -0.47\nH 0 -0.76 -0.47\n")
    assert mol.elements == ("O", "H", "H")
