"""Figures of the teaching pages: the augmentation grid, pretext-task pictures, the factor-probe bars
and the contrastive similarity matrix. Pure functions of data: no Streamlit, no store access.

Images are enlarged with nearest-neighbour (np.repeat), never smoothed: on a projector a 32-px
image must stay crisp, and the pixels are what the network sees. The augmentation grid is ONE
image (not 40 small ones) so that a slider move sends one PNG to the browser.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots

from sslviz.augment.engine import Pipeline, apply, concat_params, sample_params

RUN_COLOUR, UNTRAINED_COLOUR, PIXELS_COLOUR = "#d62728", "#9467bd", "#7f7f7f"
FONT = dict(size=16)


def enlarge(img: np.ndarray, factor: int) -> np.ndarray:
    """Nearest-neighbour enlargement of H×W×C (or N×H×W×C) uint8 images."""
    if factor <= 1:
        return img
    return img.repeat(factor, axis=-3).repeat(factor, axis=-2)


def _label_font(size: int):
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow without FreeType
        return ImageFont.load_default()


# ---- augmentations ------------------------------------------------------------------------------


def draw_views(images: torch.Tensor, pipelines: tuple[Pipeline, Pipeline], views: int, seed: int,
               out_size: int | None = None) -> tuple[torch.Tensor, list[dict]]:
    """`views` views of each image with the trainer's engine: view j uses pipelines[j % 2] (pairs of
    (view 1, view 2), BYOL-style asymmetric when the two differ). Column j's random draws depend only
    on (seed, j), so moving one slider changes that op on the same drawn views.
    Returns float views (views·N)×C×S×S ordered view-major, and each column's drawn parameters."""
    n, size = images.shape[0], (images.shape[2], images.shape[3])
    params = []
    for j in range(views):
        g = torch.Generator().manual_seed(seed * 1000 + j)
        params.append(sample_params(n, pipelines[j % 2], g, size))
    merged = params[0]
    for p in params[1:]:
        merged = concat_params(merged, p)
    return apply(images.repeat(views, 1, 1, 1), merged, out_size), params


def augmentation_grid(images: torch.Tensor, pipelines: tuple[Pipeline, Pipeline], views: int = 4, seed: int = 0,
                      scale: int = 3, labels: bool = True, drawn: torch.Tensor | None = None) -> np.ndarray:
    """One uint8 H×W×3 picture: a column per image, the original on top, then its views in pairs
    (a gap between pairs), a label at the left of every row. `drawn`: the views already drawn by
    `draw_views` with the same arguments (else they are drawn here)."""
    from sslviz.teaching.answers import to_display

    n, _, h, w = images.shape
    out = drawn if drawn is not None else draw_views(images, pipelines, views, seed)[0]
    rows = [to_display(images)] + [to_display(out[j * n:(j + 1) * n]) for j in range(views)]
    tile_h, tile_w, pad = h * scale, w * scale, max(2, scale * 2)
    pair_gap = pad * 3
    font_size = max(14, tile_h // 4)
    label_w = int(font_size * 6.5) + 16 if labels else 0
    height = (views + 1) * (tile_h + pad) + (views // 2) * pair_gap + pad
    width = label_w + n * (tile_w + pad) + pad
    grid = np.full((height, width, 3), 255, np.uint8)
    tops = []
    y = pad
    for r, row in enumerate(rows):
        if r >= 1 and (r - 1) % 2 == 0:
            y += pair_gap  # a wider gap before every pair
        tops.append(y)
        big = enlarge(row, scale)
        for i in range(n):
            x = label_w + pad + i * (tile_w + pad)
            grid[y:y + tile_h, x:x + tile_w] = big[i]
        y += tile_h + pad
    if labels:
        from PIL import Image, ImageDraw

        pic = Image.fromarray(grid)
        draw = ImageDraw.Draw(pic)
        font = _label_font(font_size)
        names = ["original"] + [f"pair {j // 2 + 1}: view {j % 2 + 1}" for j in range(views)]
        for top, name in zip(tops, names):
            draw.text((8, top + tile_h // 2), name, fill=(40, 40, 40), font=font, anchor="lm")
        grid = np.asarray(pic)
    return grid


def describe_params(params: dict, i: int = 0) -> str:
    """One line: what the drawn parameters of image i did (for the table under the grid)."""
    p = {k: v[i] for k, v in params.items()}
    parts = []
    if bool(p["crop"]):
        parts.append(f"crop {float(p['area']):.0%} of the image")
    if bool(p["flip"]):
        parts.append("mirrored")
    if bool(p["rotate"]):
        parts.append(f"rotated {float(p['angle']):+.0f}°")
    if bool(p["jitter"]):
        parts.append(f"brightness ×{float(p['brightness']):.2f}, contrast ×{float(p['contrast']):.2f}, "
                     f"saturation ×{float(p['saturation']):.2f}, hue {float(p['hue']):+.2f}")
    if bool(p["gray"]):
        parts.append("grayscale")
    if bool(p["blur"]):
        parts.append(f"blur σ={float(p['sigma']):.1f}")
    if bool(p["solarize"]):
        parts.append(f"solarized above {float(p['solarize_threshold']):.2f}")
    return ", ".join(parts) or "unchanged"


# ---- pretext-task pictures ----------------------------------------------------------------------


def tile_lines(img: np.ndarray, grid: int, colour=(255, 255, 255), width: int = 1) -> np.ndarray:
    """Draw the jigsaw cuts on an H×W×3 image (a copy)."""
    out = img.copy()
    h, w = out.shape[:2]
    for k in range(1, grid):
        y, x = k * h // grid, k * w // grid
        out[max(0, y - width):y + width] = colour
        out[:, max(0, x - width):x + width] = colour
    return out


def position_diagram(target: int, predicted: int | None = None, cell: int = 28) -> np.ndarray:
    """A 3×3 board: the centre patch blue, the true neighbour green, a wrong guess red."""
    from sslviz.augment.pretext import RELATIVE_OFFSETS

    board = np.full((3 * cell + 4, 3 * cell + 4, 3), 235, np.uint8)

    def paint(rc, colour):
        r, c = rc
        board[2 + r * cell + 2:2 + (r + 1) * cell - 2, 2 + c * cell + 2:2 + (c + 1) * cell - 2] = colour

    for r in range(3):
        for c in range(3):
            paint((r, c), (205, 205, 205))
    paint((1, 1), (31, 119, 180))
    dr, dc = RELATIVE_OFFSETS[int(target)]
    paint((1 + dr, 1 + dc), (44, 160, 44))
    if predicted is not None and int(predicted) != int(target):
        pr, pc = RELATIVE_OFFSETS[int(predicted)]
        paint((1 + pr, 1 + pc), (214, 39, 40))
    return board


def similarity_figure(sim: np.ndarray, answer: np.ndarray, title: str = "") -> go.Figure:
    """Cosine similarity of every view in row 1 (images 1..N) with every view in row 2 (A, B, ...).
    Boxes mark the true pairs; a ● marks the view each image picked (its most similar)."""
    n, m = sim.shape
    # numeric axes with text ticks: labels like "1".."8" would otherwise be read as numbers and shifted
    fig = go.Figure(go.Heatmap(z=sim, x=list(range(m)), y=list(range(n)), colorscale="Viridis",
                               zmin=-1 if sim.min() < 0 else 0, zmax=1, colorbar=dict(title="cosine"),
                               customdata=[[(str(i + 1), chr(ord("A") + j)) for j in range(m)] for i in range(n)],
                               hovertemplate="image %{customdata[0]} vs view %{customdata[1]}: %{z:.2f}<extra></extra>"))
    fig.update_xaxes(tickvals=list(range(m)), ticktext=[chr(ord("A") + j) for j in range(m)])
    fig.update_yaxes(tickvals=list(range(n)), ticktext=[str(i + 1) for i in range(n)])
    picked = sim.argmax(1)
    for i in range(n):
        j = int(answer[i])
        fig.add_shape(type="rect", x0=j - 0.5, x1=j + 0.5, y0=i - 0.5, y1=i + 0.5, line=dict(color="white", width=3))
        fig.add_annotation(x=int(picked[i]), y=i, text="●", showarrow=False,
                           font=dict(color="#2ca02c" if picked[i] == j else "#d62728", size=18))
    fig.update_yaxes(autorange="reversed", title="view 1 of image")
    fig.update_xaxes(title="view 2 (shuffled)", side="top")
    fig.update_layout(height=90 + 42 * n, margin=dict(l=10, r=10, t=60 if title else 40, b=10), title=title or None,
                      font=FONT)
    return fig


# ---- factor probe -------------------------------------------------------------------------------

SOURCE_LABELS = {"run": "this run", "random-init": "untrained network", "pixels": "raw pixels"}
SOURCE_COLOURS = {"run": RUN_COLOUR, "random-init": UNTRAINED_COLOUR, "pixels": PIXELS_COLOUR}


def probe_figure(results: dict[str, list], title: str = "") -> go.Figure:
    """Grouped bars: shape accuracy (with its chance line) on the left, R² of the continuous factors on
    the right; one colour per source (this run, the untrained network, raw pixels)."""
    fig = make_subplots(rows=1, cols=2, column_widths=[0.22, 0.78], horizontal_spacing=0.08,
                        subplot_titles=("shape: accuracy (dashed: guessing)",
                                        "other factors: cross-validated R² of a linear read-out"))
    chance = None
    for source in ("run", "random-init", "pixels"):
        scores = results.get(source)
        if not scores:
            continue
        rows = [s if isinstance(s, dict) else s.to_dict() for s in scores]
        shape = [r for r in rows if r["factor"] == "shape"]
        others = [r for r in rows if r["factor"] != "shape"]
        style = dict(name=SOURCE_LABELS[source], marker_color=SOURCE_COLOURS[source], legendgroup=source,
                     texttemplate="%{y:.2f}", textposition="outside", cliponaxis=False)
        if shape:
            chance = shape[0]["chance"]
            fig.add_trace(go.Bar(x=["shape"], y=[shape[0]["score"]], error_y=dict(type="data", array=[shape[0]["std"]]),
                                 showlegend=False, **style), 1, 1)
        fig.add_trace(go.Bar(x=[r["factor"] for r in others], y=[r["score"] for r in others],
                             error_y=dict(type="data", array=[r["std"] for r in others]), **style), 1, 2)
    if chance is not None:
        fig.add_hline(y=chance, line=dict(color="black", dash="dash"), row=1, col=1)
    lows = [s["score"] if isinstance(s, dict) else s.score for v in results.values() for s in v or []]
    low = min([0.0] + [x for x in lows if np.isfinite(x)])
    fig.update_yaxes(range=[0, 1.12], row=1, col=1)
    fig.update_yaxes(range=[max(-0.5, low - 0.05), 1.12], row=1, col=2)
    fig.update_layout(barmode="group", height=430, margin=dict(l=10, r=10, t=60, b=10), title=title or None,
                      legend=dict(orientation="h", y=-0.12), font=FONT, uirevision="probe")
    return fig
