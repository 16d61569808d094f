"""One embedding's 2-D maps side by side (PCA, t-SNE and UMAP at several settings), for "Read the map".

    maps_figure(maps, labels, class_names) -> plotly Figure

- One panel per map (three to a row), points coloured by class with the same colour in every panel
  (`plots.embeddings.palette`); one legend entry per class, shared by all panels (legendgroup), so
  a click on a class hides or shows it everywhere at once.
- Each panel's title names the setting and its check: kNN accuracy in the map (the full
  embedding's beside it) and the neighbour recall at k (sslviz.embeddings.map_check).
- Axes carry no ticks and each panel keeps a 1:1 aspect: the units of a t-SNE or UMAP map mean
  nothing, but a stretched panel would invent shapes that are not there.
"""

from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .embeddings import marker_size, palette


def _score(value) -> str:
    return "–" if value is None else f"{value:.2f}"


def panel_title(title: str, check: dict) -> str:
    """'t-SNE · perplexity 5<br>kNN 0.97 (full 0.98) · recall@10 0.31'."""
    if not check:
        return title
    return (f"{title}<br><span style='font-size:0.85em'>kNN {_score(check.get('knn_map'))} "
            f"(full {_score(check.get('knn_full'))}) · recall@{check.get('k', 10)} {_score(check.get('recall'))}</span>")


def maps_figure(maps, labels: np.ndarray, class_names: list[str] | None = None, columns: int = 3,
                panel_height: int = 330) -> go.Figure:
    """maps: MapResult-like objects (.title, .coords n × 2, .faithfulness) over the same points;
    labels[i]: the class of point i (-1: unknown), named by class_names."""
    labels = np.asarray(labels, dtype=np.int64)
    class_names = list(class_names or [])

    def name(v: int) -> str:
        return str(class_names[v]) if 0 <= v < len(class_names) else ("unlabelled" if v < 0 else str(v))

    names = np.array([name(int(v)) for v in labels], dtype=object)
    order = [name(int(v)) for v in sorted(set(labels.tolist()), key=lambda v: (v < 0, v))]
    colours = palette(order)
    columns = max(1, min(columns, len(maps)))
    rows = max(1, math.ceil(len(maps) / columns))
    height = panel_height * rows + 40
    fig = make_subplots(rows=rows, cols=columns, subplot_titles=[panel_title(m.title, m.faithfulness) for m in maps],
                        horizontal_spacing=0.03, vertical_spacing=min(0.3, 70 / height))  # room for two-line titles
    size = max(2.5, marker_size(len(labels)) * 0.7)
    traces, anchors = [], {}
    for i, m in enumerate(maps):  # traces placed by axis name and added in one call (add_trace per row/col: 3x slower)
        coords = np.asarray(m.coords, dtype=np.float32)
        suffix = "" if i == 0 else str(i + 1)
        for cls in order:
            mask = names == cls
            if mask.any():
                traces.append(go.Scattergl(x=coords[mask, 0], y=coords[mask, 1], xaxis=f"x{suffix}", yaxis=f"y{suffix}",
                                           mode="markers", name=cls, legendgroup=cls, showlegend=i == 0,
                                           hovertemplate="%{fullData.name}<extra></extra>",
                                           marker=dict(color=colours[cls], size=size, opacity=0.8)))
        anchors[f"yaxis{suffix}"] = dict(scaleanchor=f"x{suffix}", scaleratio=1)
    fig.add_traces(traces)
    frame = dict(showticklabels=False, showgrid=False, zeroline=False, showline=True, mirror=True,
                 linecolor="#dddddd")  # a thin frame: where one panel ends and the next begins
    fig.update_xaxes(**frame)
    fig.update_yaxes(**frame)
    fig.update_layout(**anchors)
    fig.update_annotations(font=dict(size=13), yshift=4)
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=60, b=10), plot_bgcolor="white",
                      legend=dict(title="class", itemsizing="constant"), hovermode="closest")
    return fig
