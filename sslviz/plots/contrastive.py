"""Figures of the contrastive lesson: the similarity heatmap and softmax weights of one batch
(sslviz.teaching.temperature), and runs side by side on the collapse gauge and alignment/uniformity
(the "find the collapse" gallery and the three temperatures)."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots


def similarity_heatmap(sim: np.ndarray, batch: int, anchor: int | None = None, title: str = "") -> go.Figure:
    """The 2B×2B cosine similarities; rows and columns 0..B-1 are the first views, B..2B-1 the
    second, so each image's positive pair sits on the two off-diagonals. The anchor's row is outlined."""
    n = len(sim)
    labels = [f"{'a' if i < batch else 'b'}{i % batch}" for i in range(n)]
    shown = np.array(sim, dtype=float)
    np.fill_diagonal(shown, np.nan)  # a view with itself: always 1, not part of the softmax
    fig = go.Figure(go.Heatmap(z=shown, x=labels, y=labels, zmin=-1, zmax=1, colorscale="RdBu_r",
                               colorbar=dict(title="cosine"),
                               hovertemplate="anchor %{y} · view %{x}<br>cosine %{z:.2f}<extra></extra>"))
    if anchor is not None and 0 <= anchor < n:
        fig.add_shape(type="rect", x0=-0.5, x1=n - 0.5, y0=anchor - 0.5, y1=anchor + 0.5,
                      line=dict(color="black", width=2))
    fig.update_yaxes(autorange="reversed", title="anchor (a: first view, b: second view of image i)")
    fig.update_xaxes(title="compared with")
    fig.update_layout(title=title or "cosine similarity of every pair of views", height=460,
                      margin=dict(l=10, r=10, t=50, b=10))
    return fig


def temperature_curve(sweep: dict, temperature: float) -> go.Figure:
    """Mean weight of the positive and of the hardest negative against the temperature (log axis),
    the NT-Xent loss on the right axis, the chosen temperature marked."""
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    t = sweep["temperature"]
    fig.add_trace(go.Scatter(x=t, y=sweep["positive_weight"], name="weight of the positive", mode="lines+markers"))
    fig.add_trace(go.Scatter(x=t, y=sweep["hardest_weight"], name="weight of the hardest negative",
                             mode="lines+markers"))
    fig.add_trace(go.Scatter(x=t, y=sweep["loss"], name="NT-Xent loss", mode="lines", line=dict(dash="dot")),
                  secondary_y=True)
    fig.add_vline(x=temperature, line=dict(color="grey", dash="dash"))
    fig.update_xaxes(type="log", title="temperature")
    fig.update_yaxes(title="softmax weight (mean over anchors)", range=[0, 1], secondary_y=False)
    fig.update_yaxes(title="loss", secondary_y=True)
    fig.update_layout(height=320, margin=dict(l=10, r=10, t=30, b=10), legend=dict(orientation="h", y=-0.3))
    return fig


GAUGES = (("spread", "spread (0 = one point)"), ("effective_rank", "effective rank"),
          ("alignment", "alignment (lower: views agree)"), ("uniformity", "uniformity (lower: spread out)"),
          ("knn_accuracy", "kNN accuracy"))


def gauge_bars(runs: list[dict], gauges=GAUGES) -> go.Figure:
    """Runs side by side, one panel per measure. runs: {"label": str, "values": {measure: value},
    "broken": bool} (broken runs are drawn red, healthy ones blue)."""
    fig = make_subplots(rows=1, cols=len(gauges), subplot_titles=[t for _, t in gauges], horizontal_spacing=0.06)
    for c, (key, _) in enumerate(gauges, start=1):
        xs = [r["label"] for r in runs]
        ys = [r["values"].get(key) for r in runs]
        colours = ["#d62728" if r.get("broken") else "#1f77b4" for r in runs]
        fig.add_trace(go.Bar(x=xs, y=ys, marker_color=colours, showlegend=False,
                             hovertemplate="%{x}<br>%{y:.3f}<extra></extra>"), row=1, col=c)
        if key == "effective_rank":
            fig.update_yaxes(type="log", row=1, col=c)
    fig.update_xaxes(tickangle=-30)
    fig.update_layout(height=340, margin=dict(l=10, r=10, t=40, b=10))
    return fig


def gauge_curves(series: list[dict], measures=("spread", "effective_rank", "alignment", "uniformity")) -> go.Figure:
    """Each measure against the epoch for several runs (the variant and its twin). series: {"label",
    "rows" (RunStore.metrics rows), "broken"}."""
    titles = dict(GAUGES)
    fig = make_subplots(rows=1, cols=len(measures), subplot_titles=[titles.get(m, m) for m in measures],
                        horizontal_spacing=0.07)
    for s in series:
        colour = "#d62728" if s.get("broken") else "#1f77b4"
        for c, m in enumerate(measures, start=1):
            pts = [(r["epoch"], r["value"]) for r in s["rows"] if r["name"] == m and r["value"] is not None]
            if pts:
                fig.add_trace(go.Scatter(x=[p[0] for p in pts], y=[p[1] for p in pts], mode="lines+markers",
                                         name=s["label"], legendgroup=s["label"], showlegend=c == 1,
                                         line=dict(color=colour, dash="solid" if s.get("broken") else "dot")),
                              row=1, col=c)
            if m == "effective_rank":
                fig.update_yaxes(type="log", row=1, col=c)
    fig.update_xaxes(title="epoch")
    fig.update_layout(height=300, margin=dict(l=10, r=10, t=40, b=10), legend=dict(orientation="h", y=-0.35))
    return fig
