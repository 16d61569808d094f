"""Training curves of one run: loss, kNN accuracy (with the baseline lines), the collapse gauge
(spread and effective rank, see sslviz.evaluation.collapse_gauge.collapse_metrics) and alignment and
uniformity (sslviz.evaluation.alignment_uniformity, Wang & Isola, 2020)."""

from __future__ import annotations

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from sslviz.evaluation.collapse_gauge import DIRECTIONS_WARNING, SPREAD_WARNING


def _series(rows: list[dict], name: str, x: str = "epoch") -> tuple[list, list]:
    pts = [(r[x], r["value"]) for r in rows if r["name"] == name and r["value"] is not None]
    return [p[0] for p in pts], [p[1] for p in pts]


def training_curves(rows: list[dict], x: str = "epoch", title: str = "") -> go.Figure:
    """Loss, kNN accuracy (with the raw-pixel and untrained-network lines) and the collapse gauge:
    the spread (0 = every image at one point) and the effective rank (directions used, log axis),
    each with its warning line, and alignment and uniformity on held-out views (lower is better for
    both; raw pixels as dashed lines). Runs recorded before the gauge changed have only the old
    "collapse_std" (a lower bound of the spread): it is drawn as "old gauge" in the spread panel.

    rows: metric rows as RunStore.metrics returns them (step, epoch, elapsed, name, value).
    x: "epoch", "step" or "elapsed" (seconds).
    """
    fig = make_subplots(rows=2, cols=3, vertical_spacing=0.2, subplot_titles=(
        "loss", "kNN, all labels (held-out)", "linear probe, 10 labels per class",
        "spread (0 = collapsed to a point)", "directions used (effective rank; holding 95%)",
        "alignment ↓ · uniformity ↓ (lower = better)"))
    lx, ly = _series(rows, "loss", x)
    fig.add_trace(go.Scatter(x=lx, y=ly, name="loss", mode="lines" if len(lx) > 20 else "lines+markers",
                             line=dict(color="#1f77b4")), 1, 1)

    kx, ky = _series(rows, "knn_accuracy", x)
    fig.add_trace(go.Scatter(x=kx, y=ky, name="kNN accuracy", mode="lines+markers", line=dict(color="#d62728")), 1, 2)
    _, pixels = _series(rows, "knn_pixels", x)
    if pixels and kx:
        fig.add_trace(go.Scatter(x=[min(kx), max(kx)], y=[pixels[-1]] * 2, name="raw pixels", legendgroup="pixels", mode="lines",
                                 line=dict(color="gray", dash="dash")), 1, 2)
    if ky:
        fig.add_trace(go.Scatter(x=[min(kx), max(kx)], y=[ky[0]] * 2, name="untrained network", legendgroup="untrained", mode="lines",
                                 line=dict(color="#9467bd", dash="dot")), 1, 2)
    _few_label_panel(fig, rows, x)

    cx, cy = _series(rows, "spread", x)
    name = "spread"
    if not cx:  # a run recorded before the new gauge
        cx, cy = _series(rows, "collapse_std", x)
        name = "old gauge (mean std, ≤ spread)"
    fig.add_trace(go.Scatter(x=cx, y=cy, name=name, mode="lines+markers", line=dict(color="#2ca02c")), 2, 1)
    if cx:
        fig.add_trace(go.Scatter(x=[min(cx), max(cx)], y=[SPREAD_WARNING] * 2, name="collapse lines",
                                 legendgroup="warn", mode="lines", line=dict(color="orange", dash="dash")), 2, 1)
    rx, ry = _series(rows, "effective_rank", x)
    rx, ry = [a for a, b in zip(rx, ry) if b > 0], [b for b in ry if b > 0]  # a log axis
    fig.add_trace(go.Scatter(x=rx, y=ry, name="effective rank", mode="lines+markers", line=dict(color="#17becf")), 2, 2)
    dx, dy = _series(rows, "directions_95", x)
    if dx:  # recorded since 2026-12-07
        fig.add_trace(go.Scatter(x=dx, y=dy, name="directions holding 95%", mode="lines+markers",
                                 line=dict(color="#17becf", dash="dot")), 2, 2)
    if rx:
        fig.add_trace(go.Scatter(x=[min(rx), max(rx)], y=[DIRECTIONS_WARNING] * 2, name="collapse lines",
                                 legendgroup="warn", showlegend=not cx, mode="lines",
                                 line=dict(color="orange", dash="dash")), 2, 2)
    _geometry_panel(fig, rows, x)
    label = {"epoch": "epoch", "step": "step", "elapsed": "seconds"}[x]
    for row, col in ((1, 1), (1, 2), (1, 3), (2, 1), (2, 2), (2, 3)):
        fig.update_xaxes(title_text=label, row=row, col=col)
    fig.update_yaxes(range=[0, 1.02], row=1, col=2)
    fig.update_yaxes(range=[0, 1.02], row=1, col=3)
    fig.update_yaxes(rangemode="tozero", row=2, col=1)
    fig.update_yaxes(type="log", row=2, col=2)
    fig.update_layout(height=560, margin=dict(l=10, r=10, t=40, b=10), title=title or None,
                      legend=dict(orientation="h", y=-0.25), uirevision="keep")  # keep the user's zoom on redraw
    return fig


def _few_label_panel(fig: go.Figure, rows: list[dict], x: str) -> None:
    """The few-label view, live: a linear probe on 10 labelled images per class (the same images
    every epoch), against the same probe on raw pixels and on the untrained network. This is
    where self-supervision pays: with all labels raw pixels are already good; with ten, they are not."""
    fx, fy = _series(rows, "few_label_linear", x)
    if not fx:  # a run recorded before the few-label score
        fig.add_annotation(text="not recorded for this run", showarrow=False, row=1, col=3,
                           xref="x3 domain", yref="y3 domain", x=0.5, y=0.5)
        return
    fig.add_trace(go.Scatter(x=fx, y=fy, name="linear probe, 10 labels/class", mode="lines+markers",
                             line=dict(color="#ff7f0e")), 1, 3)
    _, pixels = _series(rows, "few_label_pixels", x)
    if pixels:
        fig.add_trace(go.Scatter(x=[min(fx), max(fx)], y=[pixels[-1]] * 2, name="raw pixels", legendgroup="pixels",
                                 showlegend=False, mode="lines", line=dict(color="gray", dash="dash")), 1, 3)
    fig.add_trace(go.Scatter(x=[min(fx), max(fx)], y=[fy[0]] * 2, name="untrained network", legendgroup="untrained",
                             showlegend=False, mode="lines", line=dict(color="#9467bd", dash="dot")), 1, 3)


GEOMETRY = (("alignment", "alignment", "#8c564b"), ("uniformity", "uniformity", "#e377c2"))


def _geometry_panel(fig: go.Figure, rows: list[dict], x: str) -> None:
    """Alignment (mean squared distance between two views of an image: 0 to 4) and uniformity (log
    mean Gaussian potential of all pairs: 0 for a point, about -4 at best) on one axis, each with the
    raw-pixel reading of the same views as a dashed line. Lower is better for both."""
    drawn = False
    for name, label, colour in GEOMETRY:
        gx, gy = _series(rows, name, x)
        if not gx:
            continue
        drawn = True
        fig.add_trace(go.Scatter(x=gx, y=gy, name=label, mode="lines+markers", line=dict(color=colour)), 2, 3)
        _, pixels = _series(rows, f"{name}_pixels", x)
        if pixels:
            fig.add_trace(go.Scatter(x=[min(gx), max(gx)], y=[pixels[-1]] * 2, name=f"{label}, raw pixels",
                                     mode="lines", line=dict(color=colour, dash="dash", width=1)), 2, 3)
    if not drawn:  # a run recorded before alignment and uniformity were measured
        fig.add_annotation(text="not recorded for this run", showarrow=False, row=2, col=3,
                           xref="x6 domain", yref="y6 domain", x=0.5, y=0.5)
