"""What serves a user looking at a whole dataset in one map (issue 24, point 4), after Apple's Embedding
Atlas: where points pile up, what each region is, and where the points I am looking for are.

    grid = density(coords)                      # binned density: x and y bin centres, counts (ny × nx)
    spots = label_positions(coords, names)      # [(name, x, y, count)]: each category at its median position
    found = search(query, names, index, columns) # Match(mask, how): label, image number or metadata value

Pure numpy on the projected coordinates; the figure draws them (sslviz.plots.embeddings).
- density: a 2-D histogram (DENSITY_BINS a side over the points' range, a light 3×3 smoothing) drawn
  as contours under the points; what a map of 70,000 points hides by overplotting shows as height.
- labels: the median of each category's points (a cluster's or class's name at its centre of mass,
  robust to outliers), largest first, at most MAX_LABELS; "noise" has none.
- search: case-insensitive; a query matches a point whose label contains it, whose image number is
  it ("#123" or "123"), or whose value in any text column (a file name, a metadata value) contains it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DENSITY_BINS = 80
MAX_LABELS = 40


def density(coords: np.ndarray, bins: int = DENSITY_BINS) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(x bin centres, y bin centres, smoothed counts of shape (len(y), len(x))) of 2-D points."""
    xy = np.asarray(coords, dtype=np.float64)[:, :2]
    xy = xy[np.isfinite(xy).all(axis=1)]
    if len(xy) == 0:
        return np.zeros(0), np.zeros(0), np.zeros((0, 0))
    lo, hi = xy.min(axis=0), xy.max(axis=0)
    pad = (hi - lo) * 0.02 + 1e-9
    counts, xe, ye = np.histogram2d(xy[:, 0], xy[:, 1], bins=bins, range=[[lo[0] - pad[0], hi[0] + pad[0]],
                                                                          [lo[1] - pad[1], hi[1] + pad[1]]])
    padded = np.pad(counts, 1)
    kernel = np.array([[1, 2, 1], [2, 4, 2], [1, 2, 1]], dtype=np.float64) / 16.0
    smooth = sum(kernel[i, j] * padded[i:i + bins, j:j + bins] for i in range(3) for j in range(3))
    return (xe[:-1] + xe[1:]) / 2, (ye[:-1] + ye[1:]) / 2, smooth.T  # plotly's z is rows = y


def label_positions(coords: np.ndarray, names, skip=("noise",), limit: int = MAX_LABELS) -> list[tuple[str, float, float, int]]:
    """[(name, median x, median y, points)] per category, largest first, at most `limit`."""
    coords = np.asarray(coords, dtype=np.float64)
    names = np.asarray(names).astype(str)
    out = []
    for name in np.unique(names):
        if name in skip:
            continue
        pts = coords[names == name]
        med = np.median(pts[:, :2], axis=0)
        out.append((str(name), float(med[0]), float(med[1]), int(len(pts))))
    out.sort(key=lambda t: -t[3])
    return out[:limit]


@dataclass
class Match:
    mask: np.ndarray  # bool per point
    how: str  # what matched, in words ("label", "image number", "column 'file'", ...)

    @property
    def count(self) -> int:
        return int(self.mask.sum())


def search(query: str, names, index: np.ndarray | None = None, columns: dict | None = None) -> Match | None:
    """The points that a query finds (None for an empty query); see the module docstring."""
    q = (query or "").strip().lower()
    if not q:
        return None
    names = np.asarray(names).astype(str)
    mask = np.char.find(np.char.lower(names), q) >= 0
    how = ["label"] if mask.any() else []
    number = q.lstrip("#")
    if index is not None and number.isdigit():
        hit = np.asarray(index) == int(number)
        if hit.any():
            mask |= hit
            how.append("image number")
    for col, values in (columns or {}).items():
        values = np.asarray(values)
        if len(values) != len(names) or values.dtype.kind not in "USO":
            continue
        hit = np.char.find(np.char.lower(values.astype(str)), q) >= 0
        if hit.any():
            mask |= hit
            how.append(f"column '{col}'")
    return Match(mask, ", ".join(how) or "nothing")


def search_columns(emb) -> dict[str, np.ndarray]:
    """The text columns a search looks in: an import's metadata (file names, any text value), else none."""
    if emb.config.get("method") != "import" or not emb.run_dir:
        return {}
    from .imported import _columns  # the import's own reader of import.npz

    cols, _ = _columns(emb.run_dir)
    return {k: v for k, v in cols.items() if len(v) == len(emb) and np.asarray(v).dtype.kind in "USO"}
