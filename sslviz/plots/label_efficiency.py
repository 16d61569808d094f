"""Accuracy against labels per class: the label-efficiency curves (Label Efficiency and Compare pages).

The x axis is logarithmic (1, 2, 5, 10, ... labels per class are evenly spaced, as in the SimCLR
and VISSL tables) and uses the labels a budget really gave: 'all', or a budget clipped by small
classes, sits at its mean number of labelled images per class, and its tick says so. Each curve is
the mean over seeds with its 95% t-interval as a shaded band (clipped to 0-100%: with two seeds
the t-interval is ±12.7 standard errors wide, honestly); colour is the subject (a run or a
baseline), the line style the protocol; baselines are thinner and grey-toned so the runs stand out.
"""

from __future__ import annotations

import math

import plotly.graph_objects as go

RUN_COLOURS = ("#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#e377c2", "#8c564b",
               "#bcbd22", "#7f7f7f")
BASELINE_COLOURS = {"pixels": "#7f7f7f", "pca": "#a0a0a0", "random-init": "#9467bd", "supervised": "#000000"}
PROTOCOL_DASH = {"linear": "solid", "knn": "dot", "finetune": "dash", "self-training": "dashdot",
                 "scratch": "longdash"}


def _rgba(hex_colour: str, alpha: float) -> str:
    h = hex_colour.lstrip("#")
    r, g, b = (int(h[i:i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


def curve_name(row: dict) -> str:
    """The legend entry of a row's curve: '<subject> · <protocol>'."""
    return f"{row['label']} · {row['protocol']}"


def label_efficiency_figure(rows: list[dict], protocols: list[str] | None = None, title: str = "",
                            height: int = 420) -> go.Figure:
    """One curve per (subject, protocol) over the rows' budgets; `protocols` filters them."""
    groups: dict = {}
    for r in rows:
        if r.get("mean") is None or (protocols and r["protocol"] not in protocols):
            continue
        groups.setdefault((r.get("key") or r["label"], r["protocol"]), []).append(r)
    fig = go.Figure()
    colours: dict = {}
    runs_seen: list = []
    ticks: dict = {}
    for (key, protocol), pts in groups.items():
        pts.sort(key=lambda r: r["labels_per_class_effective"])
        first = pts[0]
        baseline = first["run_id"] is None
        if key not in colours:
            colours[key] = (BASELINE_COLOURS.get(first["method"], "#7f7f7f") if baseline
                            else RUN_COLOURS[len(runs_seen) % len(RUN_COLOURS)])
            if not baseline:
                runs_seen.append(key)
        colour = colours[key]
        x = [r["labels_per_class_effective"] for r in pts]
        y = [r["mean"] for r in pts]
        for r in pts:
            b = r["labels_per_class"]
            ticks[r["labels_per_class_effective"]] = (f"all ({r['labels_per_class_effective']:.0f})" if b == "all"
                                                      else str(b))
        name = curve_name(first)
        lo = [max(0.0, r["mean"] - (r["ci95"] or 0)) for r in pts]  # accuracy lives in [0, 1]: so does its band
        hi = [min(1.0, r["mean"] + (r["ci95"] or 0)) for r in pts]
        if any(r["ci95"] for r in pts):
            fig.add_trace(go.Scatter(x=x + x[::-1], y=hi + lo[::-1], fill="toself", fillcolor=_rgba(colour, 0.12),
                                     mode="lines", line=dict(width=0), hoverinfo="skip", showlegend=False,
                                     legendgroup=name, name=f"{name} (95% interval)"))
        text = [f"{r['mean']:.1%}" + (f" ± {r['ci95']:.1%}" if r["ci95"] else "")
                + f" ({r['n_seeds']} seed{'s' if r['n_seeds'] != 1 else ''})" for r in pts]
        fig.add_trace(go.Scatter(
            x=x, y=y, name=name, legendgroup=name, mode="lines+markers", text=text,
            line=dict(color=colour, dash=PROTOCOL_DASH.get(protocol, "solid"), width=1.5 if baseline else 2.5),
            marker=dict(size=6 if baseline else 8),
            hovertemplate=f"{name}<br>%{{x:.3g}} labels per class: %{{text}}<extra></extra>"))
    tickvals = sorted(ticks)
    fig.update_xaxes(type="log", title_text="labels per class (log scale)", tickvals=tickvals,
                     ticktext=[ticks[v] for v in tickvals])
    fig.update_yaxes(title_text="test accuracy", tickformat=".0%", range=[0, 1.02])
    if tickvals:
        lo_x, hi_x = math.log10(tickvals[0]), math.log10(tickvals[-1])
        pad = max(0.08, 0.04 * (hi_x - lo_x))
        fig.update_xaxes(range=[lo_x - pad, hi_x + pad])
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=40 if title else 10, b=10), title=title or None,
                      legend=dict(orientation="v", x=1.01, y=1), uirevision="keep", hovermode="closest")
    return fig
