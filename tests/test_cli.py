"""The command line: real runs and bad input (exit code 2, one line, no traceback)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import tiny_config
from inertialar.chem.molecule import read_molecules
from inertialar.nn.checkpoint import save_checkpoint
from inertialar.nn.model import InertialAR

ROOT = Path(__file__).resolve().parent.parent


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "inertialar", *args], capture_output=True, text=True,
                          cwd=cwd or ROOT, timeout=300)


def run_main(*args: str) -> subprocess.CompletedProcess:
    """The CLI in this process (fast); same exit codes and streams as a subprocess."""
    import contextlib
    import io

    from inertialar.cli.main import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return subprocess.CompletedProcess(args, code, out.getvalue(), err.getvalue())


def assert_bad_input(proc: subprocess.CompletedProcess) -> None:
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert lines[0].startswith("error:")


WATER = "3\nwater\nO 0 0 0.1173\nH 0 0.7572 -0.4692\nH 0 -0.7572 -0.4692\n"
H2 = "2\nH2\nH 0 0 0\nH 0.74 0 0\n"
CO2 = "3\nCO2\nO -1.16 0 0\nC 0 0 0\nO 1.16 0 0\n"


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory) -> Path:
    import torch

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("ckpt") / "tiny.pt"
    save_checkpoint(path, InertialAR(tiny_config()), {"note": "random tiny model"})
    return path


def test_canonicalize_writes_every_molecule_in_canonical_form(tmp_path):
    src = tmp_path / "in.xyz"
    src.write_text(WATER + H2 + CO2)
    out = tmp_path / "out.xyz"
    proc = run_cli("canonicalize", str(src), "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    mols = read_molecules(out)
    assert [len(m) for m in mols] == [3, 2, 3]
    assert mols[0].elements == ("O", "H", "H")
    assert abs(mols[0].coords.mean(0)).max() < 1e-5


def test_canonicalize_without_out_prints_the_same_xyz(tmp_path):
    src = tmp_path / "in.xyz"
    src.write_text(WATER + CO2)
    out = tmp_path / "out.xyz"
    assert run_cli("canonicalize", str(src), "--out", str(out)).returncode == 0
    proc = run_cli("canonicalize", str(src))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == out.read_text()


def test_evaluate_json_has_the_documented_keys(tmp_path):
    src = tmp_path / "w.xyz"
    src.write_text(WATER + WATER)
    proc = run_cli("evaluate", str(src), "--json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert {"atom_stability", "mol_stability", "validity", "uniqueness", "valid_x_unique", "novelty"} <= set(result)
    assert result["mol_stability"] == 1.0 and result["uniqueness"] == 0.5


def test_groups_lists_all_nineteen():
    proc = run_main("groups")
    assert proc.returncode == 0
    names = [line.split()[0] for line in proc.stdout.strip().splitlines()]
    assert len(names) == 19 and "ether" in names and "fluoroaryl" in names


@pytest.mark.parametrize("content, name", [
    (None, "missing.xyz"),
    ("", "empty.xyz"),
    ("hello world\nthis is not a molecule\n", "garbage.xyz"),
    (b"\x00\x01\x02\xff\xfe binary", "junk.xyz"),
    ("3\n\nO 0 0 0\nH 0 0 1\n", "short.xyz"),
    ("2\n\nXx 0 0 0\nH 0 0 1\n", "unknown.xyz"),
    ("2\n\n199 0 0 0\n1 0 0 1.3\n", "atomic_number_199.xyz"),
    ("2\n\nH nan 0 0\nH 0 0 1\n", "nan.xyz"),
    ("2\n\nH inf 0 0\nH 0 0 1\n", "inf.xyz"),
    ("99999999\n\nH 0 0 0\n", "huge.xyz"),
    ("1001\n\n" + "H 0 0 0\n" * 1001, "big.xyz"),
    ("garbage", "mol.sdf"),
    (WATER, "water.pdb"),
])
def test_bad_molecule_files_give_exit_2_and_one_line(tmp_path, content, name):
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    for command in (["canonicalize", str(path), "--out", str(tmp_path / "o.xyz")], ["evaluate", str(path)]):
        assert_bad_input(run_main(*command))
    assert not (tmp_path / "o.xyz").exists()


def test_xyz_atoms_may_be_named_by_atomic_number(tmp_path):
    src = tmp_path / "numbers.xyz"
    src.write_text("3\nwater\n8 0 0 0\n1 0.96 0 0\n01 -0.24 0.93 0\n")
    assert read_molecules(src)[0].elements == ("O", "H", "H")


def test_small_molecules_are_accepted(tmp_path):
    for text in (H2, WATER, CO2):
        src = tmp_path / "m.xyz"
        src.write_text(text)
        assert run_main("canonicalize", str(src), "--out", str(tmp_path / "o.xyz")).returncode == 0


def test_sample_writes_reproducible_molecules(tmp_path, tiny_checkpoint):
    outs = []
    for k in range(2):
        out = tmp_path / f"s{k}.xyz"
        proc = run_cli("sample", "--n", "5", "--seed", "3", "--out", str(out), "--checkpoint", str(tiny_checkpoint),
                       "--group", "ether", "--cfg-scale", "2", "--steps", "4")
        assert proc.returncode == 0, proc.stderr
        outs.append(out.read_text())
    assert outs[0] == outs[1]
    assert len(read_molecules(tmp_path / "s0.xyz")) == 5
    sdf = tmp_path / "s.sdf"
    assert run_cli("sample", "--n", "2", "--out", str(sdf), "--checkpoint", str(tiny_checkpoint),
                   "--steps", "2").returncode == 0
    assert sdf.read_text().count("$$$$") == 2


def test_sample_modes_are_reproducible_and_flags_override_them(tmp_path, tiny_checkpoint):
    texts = {}
    for name, extra in (("best", []), ("best2", []), ("raw", []), ("fast_t", ["--temperature", "1.3"])):
        mode = name.rstrip("2").split("_")[0]
        out = tmp_path / f"{name}.xyz"
        proc = run_cli("sample", "--mode", mode, "--n", "3", "--seed", "1", "--steps", "2", "--out", str(out),
                       "--checkpoint", str(tiny_checkpoint), *extra)
        assert proc.returncode == 0, proc.stderr
        assert f"mode {mode}" in proc.stderr
        texts[name] = out.read_text()
    assert "drawn" in run_cli("sample", "--mode", "best", "--n", "1", "--steps", "1", "--out",
                              str(tmp_path / "b.xyz"), "--checkpoint", str(tiny_checkpoint)).stderr
    assert texts["best"] == texts["best2"] and texts["best"] != texts["raw"]
    fast = tmp_path / "fast.xyz"
    run_cli("sample", "--n", "3", "--seed", "1", "--steps", "2", "--out", str(fast), "--checkpoint", str(tiny_checkpoint))
    assert fast.read_text() != texts["fast_t"]  # --temperature overrides the mode's


@pytest.mark.parametrize("flags", [
    ["--n", "-3"], ["--n", "abc"], ["--cfg-scale", "nan"], ["--cfg-scale", "inf"], ["--temperature", "-1"],
    ["--group", "unobtainium"], ["--no-group", "ketones"], ["--group", "ether", "--no-group", "ether"],
    ["--steps", "0"], ["--batch-size", "0"], ["--mode", "turbo"], ["--top-p", "2"], ["--oversample", "0"],
    ["--rank", "validity"], ["--coord-draws", "0"], ["--sigma-max", "-1"], ["--redraws", "-2"],
])
def test_sample_rejects_bad_flags(tmp_path, tiny_checkpoint, flags):
    proc = run_main("sample", "--out", str(tmp_path / "x.xyz"), "--checkpoint", str(tiny_checkpoint), *flags)
    assert_bad_input(proc)
    assert not (tmp_path / "x.xyz").exists()


def test_sample_rejects_bad_checkpoints_and_outputs(tmp_path):
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint at all")
    assert_bad_input(run_cli("sample", "--out", str(tmp_path / "x.xyz"), "--checkpoint", str(junk)))
    assert_bad_input(run_main("sample", "--out", str(tmp_path / "x.xyz"), "--checkpoint", str(tmp_path / "none.pt")))
    assert_bad_input(run_main("sample", "--out", str(tmp_path / "x.png")))
    assert_bad_input(run_main("sample", "--out", str(tmp_path / "no" / "dir" / "x.xyz")))


def test_unknown_command_is_exit_2():
    assert_bad_input(run_main("frobnicate"))
    assert_bad_input(run_cli("evaluate", "/nonexistent/file.xyz"))  # a real process: no traceback either


def test_output_path_that_is_a_directory_is_exit_2_and_leaves_no_debris(tmp_path):
    src = tmp_path / "w.xyz"
    src.write_text(WATER)
    (tmp_path / "d.xyz").mkdir()
    assert_bad_input(run_main("canonicalize", str(src), "--out", str(tmp_path / "d.xyz")))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.xyz", "w.xyz"]


def test_sample_sdf_bonds_come_from_rdkit_with_the_edm_table_as_fallback(tmp_path, tiny_checkpoint):
    sdf = tmp_path / "s.sdf"
    proc = run_main("sample", "--n", "3", "--out", str(sdf), "--checkpoint", str(tiny_checkpoint), "--steps", "2")
    assert proc.returncode == 0, proc.stderr
    sources = [block.split("> <bond_source>\n")[1].split("\n")[0] for block in sdf.read_text().split("$$$$\n")[:-1]]
    assert len(sources) == 3 and set(sources) <= {"rdkit", "edm_table"}
    assert "refine_method" not in sdf.read_text()  # default --refine none: raw output unchanged


def test_sample_refine_xtb_keeps_every_molecule_and_prints_one_summary_line(tmp_path, tiny_checkpoint):
    sdf = tmp_path / "r.sdf"
    proc = run_main("sample", "--n", "2", "--out", str(sdf), "--checkpoint", str(tiny_checkpoint), "--steps", "2",
                    "--refine", "xtb", "--refine-steps", "1")  # one step: few converge
    assert proc.returncode == 0, proc.stderr
    (line,) = proc.stdout.strip().splitlines()
    assert line.startswith("refined (xtb):") and "median heavy-atom RMSD" in line
    records = sdf.read_text().split("$$$$\n")[:-1]
    assert len(records) == 2
    failed = int(line.split("failed: ")[1].split()[0])  # each failure also gets its own stderr line
    assert failed >= 1 and sum("not refined" in x for x in proc.stderr.splitlines()) == failed
    for block in records:  # refined with its numbers, or unrefined with the reason
        assert "> <refine_method>\nxtb" in block
        assert ("> <energy_drop_kcal_mol>" in block and "> <connectivity_kept>" in block) or "> <refine_failed>" in block


def test_unknown_refine_value_is_exit_2(tmp_path, tiny_checkpoint):
    assert_bad_input(run_main("sample", "--out", str(tmp_path / "x.sdf"), "--checkpoint", str(tiny_checkpoint),
                              "--refine", "amber"))
    assert not (tmp_path / "x.sdf").exists()


def test_evaluate_plausibility_adds_posebusters_rates_and_names_each_convention(tmp_path):
    src = tmp_path / "w.xyz"
    src.write_text(WATER + H2)
    proc = run_main("evaluate", str(src), "--json", "--plausibility")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    # PoseBusters' energy check divides by the mean conformer energy, which is 0 for molecules this small: it fails.
    assert result["posebusters_checks"]["internal_energy"] == 0.0 and result["posebusters_all_pass"] == 0.0
    assert result["posebusters_checks"]["sanitization"] == 1.0 and result["posebusters_n"] == 2
    assert "EDM" in result["edm_bonds"] and "DetermineBonds" in result["posebusters_bonds"]


def test_window_and_train_refuse_bad_numbers_in_one_line(tmp_path):
    for argv in (["window", "--minutes", "-1", "--out", str(tmp_path)],
                 ["window", "--minutes", "1", "--out", str(tmp_path), "--flip-prob", "1.5"],
                 ["train", "--jitter", "-0.1"]):
        proc = subprocess.run([sys.executable, "-m", "inertialar", *argv], cwd=ROOT, capture_output=True, text=True)
        assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "error" in proc.stderr, argv


def test_sample_completes_a_canonical_prefix_from_a_file(tmp_path, tiny_checkpoint, ethanol):
    """``sample --prefix held.xyz --prefix-atoms 5``: every molecule starts with the held molecule's
    first 5 canonical atoms (the app's fragment completion), polished or not."""
    from inertialar.chem.molecule import read_molecules, to_xyz
    from inertialar.data.specs import QM9_ELEMENTS
    from inertialar.data.tokenizer import canonical_prefix

    held = tmp_path / "held.xyz"
    held.write_text(to_xyz([ethanol]))
    out = tmp_path / "done.xyz"
    proc = run_main("sample", "--checkpoint", str(tiny_checkpoint), "--prefix", str(held), "--prefix-atoms", "5",
                    "--n", "20", "--out", str(out), "--quiet")
    assert proc.returncode == 0, proc.stderr
    want = canonical_prefix(ethanol, 5, QM9_ELEMENTS, 31)
    got = read_molecules(out)
    assert len(got) == 20
    for mol in got:
        assert mol.elements[:5] == want.elements
        np.testing.assert_allclose(mol.coords[:5], want.coords, atol=1e-4)


@pytest.mark.parametrize("content, flags, message", [
    ("not a molecule\n", ["--prefix-atoms", "2"], "error:"),
    ("2\n\nS 0 0 0\nC 1.8 0 0\n", ["--prefix-atoms", "1"], "outside the model's vocabulary"),
    ("3\n\nO 0 0 0.12\nH 0 0.76 -0.47\nH 0 -0.76 -0.47\n", ["--prefix-atoms", "7"], "prefix atoms must be 1..3"),
])
def test_bad_prefixes_are_one_line_errors(tmp_path, tiny_checkpoint, content, flags, message):
    (tmp_path / "p.xyz").write_text(content)
    proc = run_main("sample", "--checkpoint", str(tiny_checkpoint), "--prefix", str(tmp_path / "p.xyz"), *flags,
                    "--n", "2", "--out", str(tmp_path / "o.xyz"))
    assert_bad_input(proc)
    assert message in proc.stderr


def test_progress_outside_a_terminal_is_a_few_plain_lines(tmp_path, tiny_checkpoint):
    """``sample --n 1000 --out x.xyz 2>log``: a pipe gets at most a line every few seconds, in molecules."""
    proc = run_cli("sample", "--checkpoint", str(tiny_checkpoint), "--n", "1000", "--out", str(tmp_path / "x.xyz"))
    assert proc.returncode == 0, proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) <= 50 and "\r" not in proc.stderr and "molecules" in proc.stderr and "%/s" not in proc.stderr
    quiet = run_cli("sample", "--checkpoint", str(tiny_checkpoint), "--n", "5", "--out", str(tmp_path / "y.xyz"),
                    "--quiet")
    assert quiet.returncode == 0 and "sampling" not in quiet.stderr
