"""Training curves of one run: loss, kNN accuracy (with the baseline lines) and the collapse gauge."""

from __future__ import annotations

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..evaluate import COLLAPSE_WARNING


def _series(rows: list[dict], name: str, x: str = "epoch") -> tuple[list, list]:
    pts = [(r[x], r["value"]) for r in rows if r["name"] == name and r["value"] is not None]
    return [p[0] for p in pts], [p[1] for p in pts]


def training_curves(rows: list[dict], x: str = "epoch", title: str = "") -> go.Figure:
    """Loss, kNN accuracy (with the raw-pixel and untrained-network lines) and the collapse gauge.

    rows: metric rows as RunStore.metrics returns them (step, epoch, elapsed, name, value).
    x: "epoch", "step" or "elapsed" (seconds).
    """
    fig = make_subplots(rows=1, cols=3, subplot_titles=("loss", "kNN accuracy (held-out)", "collapse gauge"))
    lx, ly = _series(rows, "loss", x)
    fig.add_trace(go.Scatter(x=lx, y=ly, name="loss", mode="lines" if len(lx) > 20 else "lines+markers",
                             line=dict(color="#1f77b4")), 1, 1)

    kx, ky = _series(rows, "knn_accuracy", x)
    fig.add_trace(go.Scatter(x=kx, y=ky, name="kNN accuracy", mode="lines+markers", line=dict(color="#d62728")), 1, 2)
    _, pixels = _series(rows, "knn_pixels", x)
    if pixels and kx:
        fig.add_trace(go.Scatter(x=[min(kx), max(kx)], y=[pixels[-1]] * 2, name="raw pixels", mode="lines",
                                 line=dict(color="gray", dash="dash")), 1, 2)
    if ky:
        fig.add_trace(go.Scatter(x=[min(kx), max(kx)], y=[ky[0]] * 2, name="untrained network", mode="lines",
                                 line=dict(color="#9467bd", dash="dot")), 1, 2)

    cx, cy = _series(rows, "collapse_std", x)
    fig.add_trace(go.Scatter(x=cx, y=cy, name="embedding spread", mode="lines+markers", line=dict(color="#2ca02c")), 1, 3)
    if cx:
        fig.add_trace(go.Scatter(x=[min(cx), max(cx)], y=[COLLAPSE_WARNING] * 2, name="collapse threshold",
                                 mode="lines", line=dict(color="orange", dash="dash")), 1, 3)
    label = {"epoch": "epoch", "step": "step", "elapsed": "seconds"}[x]
    for col in (1, 2, 3):
        fig.update_xaxes(title_text=label, row=1, col=col)
    fig.update_yaxes(range=[0, 1.02], row=1, col=2)
    fig.update_yaxes(rangemode="tozero", row=1, col=3)
    fig.update_layout(height=330, margin=dict(l=10, r=10, t=40, b=10), title=title or None,
                      legend=dict(orientation="h", y=-0.25), uirevision="keep")  # keep the user's zoom on redraw
    return fig
