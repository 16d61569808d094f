"""Figures of the Compare page: training curves of several runs overlaid, and a 2-D embedding."""

from __future__ import annotations

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .label_efficiency import RUN_COLOURS

CLASS_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
                 "#bcbd22", "#17becf", "#393b79", "#637939", "#8c6d31", "#843c39", "#7b4173", "#3182bd")


def overlay_training(series: dict[str, list[dict]], x: str = "elapsed") -> go.Figure:
    """Loss and kNN accuracy of several runs on shared axes; x: 'elapsed' (seconds) or 'epoch'."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=("loss", "kNN accuracy (held-out)"))
    for i, (label, rows) in enumerate(series.items()):
        colour = RUN_COLOURS[i % len(RUN_COLOURS)]
        legend = True  # on the first panel where the run has points (a baseline has no loss)
        for col, metric in ((1, "loss"), (2, "knn_accuracy")):
            pts = [(r[x], r["value"]) for r in rows if r["name"] == metric and r["value"] is not None]
            fig.add_trace(go.Scatter(x=[p[0] for p in pts], y=[p[1] for p in pts], name=label, legendgroup=label,
                                     showlegend=legend and bool(pts), mode="lines" if len(pts) > 20 else "lines+markers",
                                     line=dict(color=colour)), 1, col)
            legend = legend and not pts
    label = {"elapsed": "wall-clock seconds", "epoch": "epoch"}.get(x, x)
    for col in (1, 2):
        fig.update_xaxes(title_text=label, row=1, col=col)
    fig.update_yaxes(tickformat=".1%", row=1, col=2)
    fig.update_layout(height=340, margin=dict(l=10, r=10, t=40, b=10), legend=dict(orientation="h", y=-0.25),
                      uirevision="keep")
    return fig


def embedding_scatter(coords, labels, class_names: list[str], title: str = "", height: int = 360) -> go.Figure:
    """A 2-D embedding, one colour per class (WebGL: thousands of points stay smooth)."""
    fig = go.Figure()
    labels = list(labels)
    for c in sorted(set(labels)):
        idx = [i for i, v in enumerate(labels) if v == c]
        name = class_names[c] if 0 <= c < len(class_names) else ("unlabelled" if c < 0 else str(c))
        fig.add_trace(go.Scattergl(x=coords[idx, 0], y=coords[idx, 1], mode="markers", name=str(name),
                                   marker=dict(size=4, color=CLASS_COLOURS[c % len(CLASS_COLOURS)] if c >= 0 else "#ccc"),
                                   hovertemplate=f"{name}<extra></extra>"))
    fig.update_xaxes(showticklabels=False, title_text="")
    fig.update_yaxes(showticklabels=False, title_text="", scaleanchor="x")
    fig.update_layout(height=height, margin=dict(l=5, r=5, t=35 if title else 5, b=5), title=title or None,
                      legend=dict(orientation="h", y=-0.05, font=dict(size=10)), uirevision="keep")
    return fig
