"""Scatter plots of projections (2D WebGL / 3D), their evolution over checkpoints, and thumbnails.

Design choices:
- 2-D plots use `Scattergl` (WebGL): 10,000 points pan and lasso smoothly in a browser, where
  SVG scatter plots stall. 3-D plots use `Scatter3d` (WebGL already; no box/lasso in 3-D).
- Categorical colourings (class, cluster, few-shot outcome) draw one trace per category, so a
  click on the legend hides or isolates a class. `palette` fixes a category's colour by its
  name, so two plots side by side colour the same class the same way (linked colouring).
- Continuous colourings (shapes' factors) draw one trace with a colour bar; cyclic factors (hue,
  rotation) get a cyclic colour scale so that 0 and 1 (or 0 and 2π) look alike.
- Every point carries customdata [row, image index]: a selection event names the rows, whatever
  the trace order. Plotly tooltips cannot show images; the page shows them beside the plot.
  hovertext=None (maps of LARGE_HOVER points or more) gives each trace one template (its name and
  the image number from customdata) instead of a string per point: 70,000 points with density and
  labels, 5.4 -> 1.8 MB of figure JSON.
- Large maps (issue 24): `add_density` (filled contours of binned density under the points),
  `add_labels` (each category's name at its median), `add_search` (the matches ringed on top).
- uirevision = the projection's identity, so a user's zoom survives redraws of the same picture
  and resets when the picture changes.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.colors import qualitative

NOISE = "noise"
OUTCOME_COLOURS = {"labelled": "#111111", "right": "#2ca02c", "wrong": "#d62728", "unknown": "#bbbbbb"}
_BASE = qualitative.Plotly + qualitative.D3[len(qualitative.Plotly):] + qualitative.Alphabet + qualitative.Light24


def palette(order: list[str]) -> dict[str, str]:
    """A colour per category, stable for the same list of names (noise and outcomes fixed)."""
    out, i = {}, 0
    for name in order:
        if name == NOISE:
            out[name] = "#c7c7c7"
        elif name in OUTCOME_COLOURS:
            out[name] = OUTCOME_COLOURS[name]
        else:
            out[name] = _BASE[i % len(_BASE)]
            i += 1
    return out


LARGE_HOVER = 20_000


def marker_size(n: int) -> float:
    return float(np.clip(14 - 1.1 * np.log2(max(n, 1)), 3, 9))


def _trace(coords: np.ndarray, dims: int, name: str, colour, size: float, customdata, hovertext, showlegend=True,
           opacity: float = 0.85, symbol: str | None = None, **marker_extra):
    marker = dict(color=colour, size=size if dims == 2 else max(2.0, size * 0.6), opacity=opacity, **marker_extra)
    if symbol:
        marker["symbol"] = symbol
    if hovertext is None:  # large maps: one template per trace instead of a string per point (half the bytes)
        common = dict(hovertemplate=f"<b>{name}</b> · image #%{{customdata[1]}}<extra></extra>")
    else:
        common = dict(hovertext=hovertext, hovertemplate="%{hovertext}<extra></extra>")
    common.update(name=name, mode="markers", marker=marker, customdata=customdata, showlegend=showlegend)
    if dims == 3:
        return go.Scatter3d(x=coords[:, 0], y=coords[:, 1], z=coords[:, 2], **common)
    return go.Scattergl(x=coords[:, 0], y=coords[:, 1], **common)


def _layout(fig: go.Figure, dims: int, title: str, revision: str, height: int, legend_title: str = "") -> go.Figure:
    fig.update_layout(
        title=dict(text=title, font=dict(size=14)) if title else None,
        height=height, margin=dict(l=10, r=10, t=40 if title else 10, b=10),
        uirevision=revision or None, legend=dict(title=legend_title or None, itemsizing="constant"),
        hovermode="closest", plot_bgcolor="white",
    )  # no dragmode: Streamlit then pans on drag and selects on click (box / lasso are in the toolbar)
    if dims == 2:
        axis = dict(showticklabels=False, showgrid=False, zeroline=False, title=None)
        fig.update_xaxes(**axis)
        fig.update_yaxes(scaleanchor="x", scaleratio=1, **axis)
    else:
        axis = dict(showticklabels=False, title="", backgroundcolor="white")
        fig.update_layout(scene=dict(xaxis=axis, yaxis=axis, zaxis=axis, aspectmode="data"))
    return fig


def customdata_for(rows: np.ndarray, image_index: np.ndarray) -> np.ndarray:
    """n × 2 int32 array [row, image index] for each point (int32: half the bytes sent to the browser)."""
    return np.stack([np.asarray(rows, dtype=np.int32), np.asarray(image_index, dtype=np.int32)], axis=1)


def categorical_scatter(coords: np.ndarray, categories: np.ndarray, customdata: np.ndarray, hovertext,
                        order: list[str] | None = None, colours: dict[str, str] | None = None, title: str = "",
                        legend_title: str = "", revision: str = "", highlight: np.ndarray | None = None,
                        height: int = 560) -> go.Figure:
    """One trace per category (in `order`); `highlight` (bool per point) dims everything else."""
    coords = np.asarray(coords, dtype=np.float32)
    categories = np.asarray(categories).astype(str)
    hovertext = None if hovertext is None else np.asarray(hovertext, dtype=object)
    pick = (lambda m: None) if hovertext is None else (lambda m: hovertext[m])
    dims = coords.shape[1]
    order = order or sorted(set(categories))
    colours = colours or palette(order)
    size = marker_size(len(coords))
    fig = go.Figure()
    for name in order:
        mask = categories == name
        if highlight is not None:
            mask_on = mask & highlight
            mask_off = mask & ~highlight
            if mask_off.any():
                fig.add_trace(_trace(coords[mask_off], dims, name, colours.get(name, "#888"), size * 0.8,
                                     customdata[mask_off], pick(mask_off), showlegend=False, opacity=0.12))
            mask = mask_on
        if not mask.any():
            continue
        big = name == "labelled"
        fig.add_trace(_trace(coords[mask], dims, name, colours.get(name, "#888"), size * (1.8 if big else 1.0),
                             customdata[mask], pick(mask), symbol="star" if big and dims == 2 else None))
    return _layout(fig, dims, title, revision, height, legend_title)


CYCLIC = {"colour", "rotation", "hue"}


def continuous_scatter(coords: np.ndarray, values: np.ndarray, customdata: np.ndarray, hovertext, name: str,
                       title: str = "", revision: str = "", height: int = 560) -> go.Figure:
    """One trace coloured by a number per point, with a colour bar (cyclic scale for hue / angles)."""
    coords = np.asarray(coords, dtype=np.float32)
    values = np.asarray(values, dtype=np.float64)
    dims = coords.shape[1]
    scale = "HSV" if name in CYCLIC else "Viridis"
    fig = go.Figure(_trace(coords, dims, name, values, marker_size(len(coords)), customdata, hovertext,
                           showlegend=False, colorscale=scale, colorbar=dict(title=dict(text=name), thickness=12),
                           cmin=float(np.nanmin(values)) if len(values) else 0,
                           cmax=float(np.nanmax(values)) if len(values) else 1))
    return _layout(fig, dims, title, revision, height)


def evolution_figure(frames: list[tuple[str, np.ndarray]], categories: np.ndarray, customdata: np.ndarray,
                     hovertext, order: list[str] | None = None, colours: dict[str, str] | None = None,
                     title: str = "", height: int = 600, frame_ms: int = 700) -> go.Figure:
    """An animation over checkpoints: frames = [(label, coords)] with the same rows in each.

    The axes are fixed to the range of all frames, so motion is real motion; Play / Pause and a
    slider step through the frames.
    """
    if not frames:
        raise ValueError("evolution_figure: no frames")
    categories = np.asarray(categories).astype(str)
    order = order or sorted(set(categories))
    colours = colours or palette(order)
    first = categorical_scatter(frames[-1][1], categories, customdata, hovertext, order, colours, title, "class",
                                revision="evolution", height=height)
    masks = [categories == name for name in order if (categories == name).any()]
    dims = frames[0][1].shape[1]

    def frame_data(coords):
        data = []
        for m in masks:
            c = coords[m]
            if dims == 3:
                data.append(go.Scatter3d(x=c[:, 0], y=c[:, 1], z=c[:, 2]))
            else:
                data.append(go.Scattergl(x=c[:, 0], y=c[:, 1]))
        return data

    first.frames = [go.Frame(data=frame_data(c), name=label) for label, c in frames]
    start = frames[0][1]
    for trace, m in zip(first.data, masks):
        trace.x, trace.y = start[m][:, 0], start[m][:, 1]
        if dims == 3:
            trace.z = start[m][:, 2]
    everything = np.concatenate([c for _, c in frames])
    lo, hi = np.nanmin(everything, 0), np.nanmax(everything, 0)
    pad = (hi - lo) * 0.05 + 1e-6
    if dims == 2:
        first.update_xaxes(range=[lo[0] - pad[0], hi[0] + pad[0]], autorange=False)
        first.update_yaxes(range=[lo[1] - pad[1], hi[1] + pad[1]], autorange=False, scaleanchor=None)
    play = dict(label="▶ Play", method="animate",
                args=[None, dict(frame=dict(duration=frame_ms, redraw=True), transition=dict(duration=0),
                                 fromcurrent=True, mode="immediate")])
    pause = dict(label="❚❚ Pause", method="animate",
                 args=[[None], dict(frame=dict(duration=0, redraw=False), mode="immediate")])
    first.update_layout(
        updatemenus=[dict(type="buttons", direction="left", x=0, y=-0.02, xanchor="left", yanchor="top",
                          buttons=[play, pause], showactive=False)],
        sliders=[dict(active=0, x=0.18, len=0.82, y=-0.02, yanchor="top", currentvalue=dict(prefix=""),
                      steps=[dict(label=label, method="animate",
                                  args=[[label], dict(frame=dict(duration=0, redraw=True), mode="immediate")])
                             for label, _ in frames])],
        margin=dict(l=10, r=10, t=40 if title else 10, b=70), dragmode="pan" if dims == 2 else "orbit",
    )
    return first


def thumbnails(images, size: int = 64) -> list[np.ndarray]:
    """uint8 N×C×H×W images (torch or numpy) -> list of H'×W'×3 uint8 arrays, upscaled (nearest) to `size`."""
    arr = np.asarray(images)
    if arr.ndim != 4:
        raise ValueError(f"thumbnails: expected N×C×H×W images, got shape {arr.shape}")
    if arr.shape[1] == 1:
        arr = np.repeat(arr, 3, axis=1)
    arr = arr.transpose(0, 2, 3, 1)
    factor = max(1, int(size // max(arr.shape[1], 1)))
    if factor > 1:
        arr = arr.repeat(factor, axis=1).repeat(factor, axis=2)
    return [np.ascontiguousarray(a) for a in arr]


# ---- aids for large maps (sslviz.embeddings.map_aids): density, labels on clusters, search ------------


def add_density(fig: go.Figure, coords: np.ndarray) -> go.Figure:
    """Binned density as filled grey contours under the points (2-D); the points are thinned to show it."""
    from sslviz.embeddings.map_aids import density

    x, y, z = density(coords)
    if not z.size or z.max() <= 0:
        return fig
    top = float(z.max())
    fig.add_trace(go.Contour(x=x, y=y, z=z, name="density", showscale=False, hoverinfo="skip", showlegend=False,
                             contours=dict(coloring="fill", start=top * 0.04, end=top, size=top / 8, showlines=True),
                             colorscale=[[0, "rgba(255,255,255,0)"], [1, "rgba(60,60,60,0.55)"]],
                             line=dict(width=0.5, color="rgba(60,60,60,0.5)")))
    fig.data = (fig.data[-1],) + tuple(fig.data[:-1])  # under the points
    for trace in fig.data[1:]:
        if trace.marker is not None and trace.marker.opacity is not None:
            trace.marker.opacity = min(float(trace.marker.opacity), 0.35)
    return fig


def add_labels(fig: go.Figure, spots: list[tuple[str, float, float, int]]) -> go.Figure:
    """Each category's name at its median position, as annotations that let clicks, hover and selection
    through to the points beneath (an annotation with a hover text would catch them: a click on the
    point under a label then opened nothing)."""
    for name, x, y, _count in spots:
        fig.add_annotation(x=x, y=y, text=f"<b>{name}</b>", showarrow=False, font=dict(size=12, color="#111"),
                           bgcolor="rgba(255,255,255,0.7)", borderpad=2, captureevents=False)
    return fig


def add_search(fig: go.Figure, coords: np.ndarray, mask: np.ndarray, customdata: np.ndarray, hovertext,
               label: str) -> go.Figure:
    """The points a search found, ringed on top of the map (the trace is named with their count)."""
    coords = np.asarray(coords, dtype=np.float32)
    mask = np.asarray(mask, dtype=bool)
    dims = coords.shape[1]
    size = marker_size(len(coords)) * 1.8 + 3
    text = None if hovertext is None else np.asarray(hovertext, dtype=object)[mask]
    fig.add_trace(_trace(coords[mask], dims, label, "#000000", size, customdata[mask], text, opacity=1.0,
                         symbol="circle-open", line=dict(width=2)))
    return fig
