"""The images behind a map's points as sprite sheets, for thumbnails under the pointer.

A plotly hover label holds text only, and a map of 70,000 points cannot carry 70,000 images in the
page. So the images are written once per embedding as PNG sheets of `PER_SHEET` thumbnails
(`COLUMNS` × `COLUMNS` cells of `CELL` px, point `row` in cell `row % PER_SHEET` of sheet
`row // PER_SHEET`), which the browser fetches only for the parts of the map the pointer visits
(sslviz/ui/hover_thumbs.py serves them as static files). A sheet of 1,024 MNIST digits is about
150 KB; 70,000 points make 69 sheets.

Written by hand because nothing in the stack does it: plotly has no image hover, and the sheet is a
few lines of numpy and Pillow.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np

CELL = 32  # px of a thumbnail in its sheet (the page shows it larger, pixels kept sharp)
COLUMNS = 32
PER_SHEET = COLUMNS * COLUMNS


def sheet_count(n: int) -> int:
    return (n + PER_SHEET - 1) // PER_SHEET


def cell_of(row: int) -> tuple[int, int, int]:
    """(sheet, x, y) of a point's thumbnail: the sheet's number and the cell's top-left pixel."""
    sheet, i = divmod(int(row), PER_SHEET)
    return sheet, (i % COLUMNS) * CELL, (i // COLUMNS) * CELL


def sheet_image(images) -> np.ndarray:
    """uint8 H × W × 3 sheet of up to PER_SHEET images (uint8 N × C × h × w, torch or numpy), each
    resized to CELL px (antialiased), grey repeated to three channels, in reading order."""
    import torch

    from sslviz.data.split import resize_images

    x = torch.as_tensor(np.asarray(images))
    if x.ndim != 4 or len(x) > PER_SHEET:
        raise ValueError(f"sheet_image: expected at most {PER_SHEET} images N×C×H×W, got shape {tuple(x.shape)}")
    x = resize_images(x.to(torch.uint8), CELL)
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    x = x[:, :3].permute(0, 2, 3, 1).numpy()  # N × CELL × CELL × 3
    rows = (len(x) + COLUMNS - 1) // COLUMNS
    sheet = np.zeros((rows * CELL, COLUMNS * CELL, 3), np.uint8)
    for i, im in enumerate(x):
        _, left, top = cell_of(i)
        sheet[top:top + CELL, left:left + CELL] = im
    return sheet


STALE_SECONDS = 60  # a sheet takes well under a second to write


def write_sheets(images, folder: Path, stop=lambda: False) -> int:
    """Write the sheets of `images` (every point's image, in row order) into `folder` as 0.png, 1.png, ...
    Sheets already there are kept; each is written to a temporary name first, so a browser never
    reads half a file. `stop()` is asked between sheets (a server shutting down). A temporary file
    left by a writer that was ended mid-sheet (older than STALE_SECONDS) is removed. Returns the
    number of sheets in the folder."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob(".*.tmp"):
        try:
            if time.time() - old.stat().st_mtime > STALE_SECONDS:
                old.unlink()
        except OSError:
            pass  # another writer took it away first
    n = len(images)
    for k in range(sheet_count(n)):
        if stop():
            break
        path = folder / f"{k}.png"
        if path.exists():
            continue
        tmp = folder / f".{k}.{os.getpid()}.tmp"
        Image.fromarray(sheet_image(images[k * PER_SHEET:(k + 1) * PER_SHEET])).save(tmp, format="PNG", compress_level=1)
        os.replace(tmp, path)
    return sum(1 for k in range(sheet_count(n)) if (folder / f"{k}.png").exists())
