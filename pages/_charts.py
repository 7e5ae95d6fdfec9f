"""Plotly figures shared by the pages (no Streamlit here)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from inertialar.sampler import Trajectory
from inertialar.tokenizer import VOCAB

_LAYOUT = {"margin": {"l": 10, "r": 10, "t": 40, "b": 10}, "height": 360}


def type_probabilities(traj: Trajectory) -> go.Figure:
    """Heatmap: probability of each token type (H C N O F EOS) at each step, chosen type marked."""
    steps = np.arange(1, len(traj.types) + 1)
    fig = go.Figure(go.Heatmap(z=traj.probs.T, x=steps, y=list(VOCAB), zmin=0, zmax=1, colorscale="Blues",
                               colorbar={"title": "p", "thickness": 12},
                               hovertemplate="step %{x}<br>%{y}: p = %{z:.3f}<extra></extra>"))
    chosen = [VOCAB[int(t)] for t in traj.types]
    fig.add_trace(go.Scatter(x=steps, y=chosen, mode="markers", name="chosen",
                             marker={"symbol": "x", "size": 9, "color": "#ff00ff", "line": {"width": 1}},
                             hovertemplate="step %{x}: chose %{y}<extra></extra>"))
    if traj.n_prefix:
        fig.add_vrect(x0=0.5, x1=traj.n_prefix + 0.5, fillcolor="gray", opacity=0.15, line_width=0,
                      annotation_text="prefix", annotation_position="top left")
    fig.update_layout(title="Type distribution per step (× = chosen)", xaxis={"title": "step", "dtick": 1},
                      yaxis={"categoryorder": "array", "categoryarray": list(VOCAB)}, showlegend=False, **_LAYOUT)
    return fig


def noise_curve(live: pd.DataFrame, dataset: pd.DataFrame | None) -> go.Figure:
    """Changed fraction vs coordinate noise: this molecule (live) and the dataset table if any."""
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=live["noise_angstrom"], y=live["changed_fraction"], mode="lines+markers",
                             name=f"this molecule ({int(live['n'].iloc[0])} trials per level)"))
    if dataset is not None:
        fig.add_trace(go.Scatter(x=dataset["noise_angstrom"], y=dataset["changed_fraction"], mode="lines+markers",
                                 name="QM9 test set (benchmark table)", line={"color": "black"}))
    fig.update_layout(title="How often the canonical tokens change under noise", xaxis_title="noise σ (Å)",
                      yaxis_title="fraction of trials changed", yaxis_range=[-0.02, 1.02],
                      legend={"orientation": "h", "y": -0.25}, **_LAYOUT)
    return fig


def lines(df: pd.DataFrame, x: str, ys: list[str], title: str, y_title: str, color: str | None = None) -> go.Figure:
    """One line per column of ``ys`` (or per value of ``color`` for a single y)."""
    fig = go.Figure()
    if color is not None:
        for key, part in df.groupby(color, sort=True):
            part = part.sort_values(x)
            fig.add_trace(go.Scatter(x=part[x], y=part[ys[0]], mode="lines+markers", name=str(key)))
    else:
        df = df.sort_values(x)
        for y in ys:
            if y in df:
                fig.add_trace(go.Scatter(x=df[x], y=df[y], mode="lines+markers", name=y))
    fig.update_layout(title=title, xaxis_title=x, yaxis_title=y_title, **_LAYOUT)
    return fig


def grouped_bars(df: pd.DataFrame, x: str, y: str, color: str, title: str, y_title: str) -> go.Figure:
    fig = go.Figure()
    for key, part in df.groupby(color, sort=True):
        fig.add_trace(go.Bar(x=part[x].astype(str), y=part[y], name=str(key)))
    fig.update_layout(title=title, barmode="group", xaxis={"title": x, "type": "category"}, yaxis_title=y_title,
                      legend_title=color, **_LAYOUT)
    return fig
