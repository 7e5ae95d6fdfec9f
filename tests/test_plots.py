"""benchmarks/plots.py draws every committed table into a PNG and skips missing tables with a note."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent


def _plots_module():
    spec = importlib.util.spec_from_file_location("bench_plots", ROOT / "benchmarks" / "plots.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_plots"] = module
    spec.loader.exec_module(module)
    return module


def test_every_committed_table_becomes_a_png(tmp_path):
    plots = _plots_module()
    assert plots.main(["--out", str(tmp_path)]) == 0
    for _, _, name in plots.PLOTS:
        png = tmp_path / name
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
        assert png.stat().st_size > 10_000, name  # a drawn figure, not an empty canvas


def test_missing_table_is_skipped_with_a_note(tmp_path, capsys, monkeypatch):
    plots = _plots_module()
    curve = tmp_path / "curve.csv"
    pd.DataFrame({"wall_hours": [0.5, 1.0], "hardware": ["CPU (2 cores)"] * 2, "val_loss": [0.7, 0.4],
                  "val_ce": [0.5, 0.3], "val_diffusion": [0.75, 0.45], "atom_stability": [0.3, 0.5],
                  "mol_stability": [0.0, 0.01], "validity": [0.1, 0.3], "valid_x_unique": [0.1, 0.3]}).to_csv(curve)
    monkeypatch.setattr(plots, "PLOTS", [(curve, plots.learning_curve, "curve.png"),
                                         (tmp_path / "absent.csv", plots.sampler_sweep, "absent.png")])
    out = tmp_path / "out"
    assert plots.main(["--out", str(out)]) == 0
    assert (out / "curve.png").exists() and not (out / "absent.png").exists()
    assert "absent.csv" in capsys.readouterr().err
