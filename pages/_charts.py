"""Charts shared by the pages (no Streamlit here): Plotly figures, and the Generate page's
per-step type heat map as plain HTML.

The heat map is HTML on purpose: it is drawn on every generation, and Plotly's browser bundle
(4.7 MB of JavaScript, loaded by every new session) cost more than the whole rest of the results
for a classroom of browsers sharing a small machine (``benchmarks/app_load.py``).
"""

from __future__ import annotations

import csv
from html import escape
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.colors import sample_colorscale

from inertialar.data.tokenizer import vocabulary
from inertialar.files import results_dir
from inertialar.sampling.trajectory import Trajectory

_LAYOUT = {"margin": {"l": 10, "r": 10, "t": 40, "b": 10}, "height": 360}
TITLES = {"cfg_scale": "CFG scale", "batch_size": "batch size (molecules)", "molecules_per_s": "molecules / s",
          "epoch": "epoch", "group": "functional group", "sessions": "concurrent sessions",
          "noise_angstrom": "noise σ (Å)", "hit_rate": "hit rate", "device": "device"}
MAX_STEP_TICKS = 16  # step labels beyond this would overlap in a half-width chart


def axis_title(column: str) -> str:
    """A readable axis title for a table column (``TITLES``, else the name with spaces)."""
    return TITLES.get(column, column.replace("_", " "))


def step_dtick(n_steps: int) -> int:
    """Tick spacing so that at most ``MAX_STEP_TICKS`` step labels are drawn."""
    for d in (1, 2, 5, 10, 20, 50):
        if n_steps / d <= MAX_STEP_TICKS:
            return d
    return 100


def type_probabilities(traj: Trajectory) -> str:
    """HTML heat map: probability of each token type (the model's elements and EOS, rows) at each step (columns),
    "×" on the chosen type, the exact value on hover; prefix steps outlined. Step labels are
    thinned to at most ``MAX_STEP_TICKS``."""
    n = len(traj.types)
    dtick = step_dtick(n)
    colours = sample_colorscale("Blues", traj.probs[:n].T.ravel().tolist())  # (V·n,) rows H … EOS, step-major
    head = "".join(f"<th>{k + 1 if (k + 1) % dtick == 0 or k == 0 else ''}</th>" for k in range(n))
    rows = []
    for j, name in enumerate(vocabulary(traj.elements)):
        cells = []
        for k in range(n):
            p = float(traj.probs[k, j])
            colour = colours[j * n + k]
            ink = "#fff" if p > 0.55 else "#222"
            edge = "outline:2px solid #999;outline-offset:-2px;" if k < traj.n_prefix else ""
            mark = "×" if int(traj.types[k]) == j else ""
            cells.append(f'<td style="background:{colour};color:{ink};{edge}" '
                         f'title="step {k + 1} · {escape(name)}: p = {p:.3f}">{mark}</td>')
        rows.append(f"<tr><th>{escape(name)}</th>{''.join(cells)}</tr>")
    legend = "".join(f'<span style="background:{c}"></span>' for c in sample_colorscale("Blues", list(np.linspace(0, 1, 6))))
    prefix = " Outlined: prefix steps (given, not sampled)." if traj.n_prefix else ""
    return (f"<div class='tp'><style>{_HEATMAP_CSS}</style>"
            "<b>Type distribution per step</b> (× = chosen; hover a cell for p)"
            f"<table><tr><th></th>{head}</tr>{''.join(rows)}</table>"
            f"<div class='axis'>step →</div><div class='legend'>p = 0 {legend} 1.{prefix}</div></div>")


_HEATMAP_CSS = """
.tp{font-family:sans-serif;font-size:12px;color:#222}
.tp table{border-collapse:collapse;table-layout:fixed;width:100%;margin-top:4px}
.tp td{height:22px;text-align:center;padding:0;font-size:13px;border:1px solid #fff}
.tp th{font-weight:normal;font-size:11px;padding:0 2px;white-space:nowrap}
.tp tr th:first-child{width:34px;text-align:right;padding-right:4px}
.tp .axis{text-align:center;font-size:11px;color:#555}
.tp .legend span{display:inline-block;width:14px;height:10px}
"""


def noise_curve(live: pd.DataFrame, datasets: dict[str, pd.DataFrame] | None = None) -> go.Figure:
    """Changed fraction vs coordinate noise: this molecule (live) and each dataset table (label → table)."""
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=live["noise_angstrom"], y=live["changed_fraction"], mode="lines+markers",
                             name=f"this molecule ({int(live['n'].iloc[0])} trials per level)"))
    for (label, table), colour in zip((datasets or {}).items(), ("black", "#8c564b"), strict=False):
        fig.add_trace(go.Scatter(x=table["noise_angstrom"], y=table["changed_fraction"], mode="lines+markers",
                                 name=f"{label} (benchmark table)", line={"color": colour}))
    fig.update_layout(title="How often the canonical tokens change under noise", xaxis_title="noise σ (Å)",
                      yaxis_title="fraction of trials changed", yaxis_range=[-0.02, 1.02],
                      legend={"orientation": "h", "y": -0.25}, **_LAYOUT)
    return fig


def lines(df: pd.DataFrame, x: str, ys: list[str], title: str, y_title: str, color: str | None = None,
          names: dict[str, str] | None = None) -> go.Figure:
    """One line per column of ``ys`` (or per value of ``color`` for a single y); ``names``
    renames the series in the legend."""
    names = names or {}
    fig = go.Figure()
    if color is not None:
        for key, part in df.groupby(color, sort=True):
            part = part.sort_values(x)
            fig.add_trace(go.Scatter(x=part[x], y=part[ys[0]], mode="lines+markers", name=str(key)))
    else:
        df = df.sort_values(x)
        for y in ys:
            if y in df:
                fig.add_trace(go.Scatter(x=df[x], y=df[y], mode="lines+markers", name=names.get(y, y)))
    fig.update_layout(title=title, xaxis_title=axis_title(x), yaxis_title=y_title, **_LAYOUT)
    return fig


def mark_changes(fig: go.Figure, changes: list[tuple[float, str]]) -> go.Figure:
    """Dashed vertical lines at x with a label (e.g. where the validation definition changed)."""
    for x, text in changes:
        fig.add_vline(x=x, line_dash="dash", line_color="#7f7f7f", annotation_text=text,
                      annotation_position="top left", annotation_font_size=11)
    return fig


def grouped_bars(df: pd.DataFrame, x: str, y: str, color: str, title: str, y_title: str,
                 x_title: str | None = None, error: str | None = None) -> go.Figure:
    """One bar per (x, color) row — rows must be unique per pair (aggregate repeated runs first,
    or plotly stacks them into one taller bar); ``error`` names a column of ± error bars."""
    if df.duplicated([x, color]).any():
        raise ValueError(f"grouped_bars needs one row per ({x}, {color}); aggregate repeated rows first")
    fig = go.Figure()
    for key, part in df.groupby(color, sort=True):
        err = {"type": "data", "array": part[error]} if error else None
        fig.add_trace(go.Bar(x=part[x].astype(str), y=part[y], name=str(key), error_y=err))
    fig.update_layout(title=title, barmode="group", xaxis={"title": x_title or axis_title(x), "type": "category"},
                      yaxis_title=y_title, legend_title=axis_title(color), **_LAYOUT)
    return fig


def frontier(df: pd.DataFrame, y: str, title: str) -> go.Figure:
    """Quality ``y`` (fraction → %) against kept molecules/s (log x), one marker series per row kind
    (mode, knob, select) with the row label on hover."""
    fig = go.Figure()
    symbols = {"mode": "star", "knob": "circle", "select": "square"}
    for kind, part in df.groupby("kind", sort=False):
        fig.add_trace(go.Scatter(x=part["molecules_per_s"], y=100 * part[y], mode="markers", name=str(kind),
                                 text=part["label"], hovertemplate="%{text}<br>%{x:.1f} mol/s, %{y:.1f}%",
                                 marker={"symbol": symbols.get(kind, "circle"), "size": 14 if kind == "mode" else 9}))
    fig.update_layout(title=title, xaxis={"title": "kept molecules / s (whole process, 2-core CPU)", "type": "log"},
                      yaxis_title="%", **_LAYOUT)
    return fig


def frontier_row(mode: str, path: Path | None = None) -> dict | None:
    """The mode's row of the committed frontier table (benchmarks/sampler_frontier.py), or None."""
    path = results_dir() / "sampler_frontier.csv" if path is None else path
    if not path.exists():
        return None
    with path.open(newline="") as f:
        return next((r for r in csv.DictReader(f) if r["kind"] == "mode" and r["label"] == mode), None)
