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


def alignment_uniformity_figure(series: dict[str, list[dict]], height: int = 420) -> go.Figure:
    """Alignment (x) against uniformity (y), Wang & Isola (2020): each run a trajectory from its
    untrained start (open marker, epoch 0) to its last evaluation (filled marker), and the raw pixels
    of the same held-out views as a point (one per distinct reading: runs on other data or with
    other augmentations see other views). Lower-left is better; a collapsed network sits at the top
    left (alignment 0: two views agree perfectly, because every image lands on the same point;
    uniformity 0: the worst). series: {label: metric rows with "alignment", "uniformity" and,
    at epoch 0, "alignment_pixels" / "uniformity_pixels"}."""
    fig = go.Figure()
    pixels: dict[tuple, list[str]] = {}
    for i, (label, rows) in enumerate(series.items()):
        colour = RUN_COLOURS[i % len(RUN_COLOURS)]
        by = {n: {r["epoch"]: r["value"] for r in rows if r["name"] == n and r["value"] is not None}
              for n in ("alignment", "uniformity", "alignment_pixels", "uniformity_pixels")}
        epochs = sorted(set(by["alignment"]) & set(by["uniformity"]))
        if epochs:
            xs, ys = [by["alignment"][e] for e in epochs], [by["uniformity"][e] for e in epochs]
            symbols = ["circle-open"] + ["circle"] * (len(epochs) - 1)
            sizes = [11] + [5] * (len(epochs) - 2) + [11] if len(epochs) > 1 else [11]
            fig.add_trace(go.Scatter(x=xs, y=ys, name=label, legendgroup=label, mode="lines+markers",
                                     line=dict(color=colour), marker=dict(symbol=symbols, size=sizes, color=colour),
                                     customdata=epochs, hovertemplate=f"{label}<br>epoch %{{customdata}}<br>"
                                     "alignment %{x:.3f}<br>uniformity %{y:.3f}<extra></extra>"))
        for e in sorted(set(by["alignment_pixels"]) & set(by["uniformity_pixels"]))[:1]:
            key = (round(by["alignment_pixels"][e], 3), round(by["uniformity_pixels"][e], 3))
            pixels.setdefault(key, []).append(label)
    for (ax, uy), labels in pixels.items():
        name = "raw pixels" if len(pixels) == 1 else f"raw pixels ({', '.join(labels)})"
        fig.add_trace(go.Scatter(x=[ax], y=[uy], name=name, mode="markers",
                                 marker=dict(symbol="x", size=12, color="#555"),
                                 hovertemplate=f"{name}<br>alignment %{{x:.3f}}<br>uniformity %{{y:.3f}}<extra></extra>"))
    fig.add_annotation(text="better ↙", showarrow=False, xref="paper", yref="paper", x=0.02, y=0.02,
                       font=dict(color="#2ca02c"))
    fig.update_xaxes(title_text="alignment (lower = views of one image closer)", rangemode="tozero")
    fig.update_yaxes(title_text="uniformity (lower = images spread more evenly)")
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=30, b=10), legend=dict(orientation="h", y=-0.2),
                      uirevision="keep")
    return fig
