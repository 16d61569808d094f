"""Export an embedding (and its projection) as CSV, .npy or TensorFlow Embedding Projector files.

    python -m sslviz export --run ID --format csv|npy|projector --out DIR [--epoch N]
                            [--source run|pixels|random-init] [--projection none|pca|umap|tsne] [--json]

Every format keeps the embedding's row order, and every file says which test image a row is
(`index`), so rows can be joined back to images and labels:

- csv        embedding.csv: index, label, class, the factors (shapes), the projection (x, y[, z])
             if any, then f0..f{D-1}
- npy        features.npy (float32 n × D), labels.npy, index.npy, [projection.npy, projection_rows.npy]
- projector  vectors.tsv (one row per point, tab-separated), metadata.tsv (header + one row per
             point: index, label, class, factors), sprite.png (the images tiled row by row in
             the same order, square grid, at most 8192 px a side as the Projector requires) and
             projector_config.pbtxt tying them together. Open https://projector.tensorflow.org,
             "Load", and pick vectors.tsv and metadata.tsv (the sprite is used when the folder is
             served with the config, e.g. by TensorBoard's projector plugin).
- the figure as a standalone HTML file (`figure_html`, plotly.js included: works offline).

PNG of a figure: the camera button of every plot's toolbar saves a PNG in the browser; a
server-side PNG would need kaleido and a Chrome, which sslviz does not require.
"""

from __future__ import annotations

import io
import json
import math
import zipfile
from pathlib import Path

import numpy as np

from sslviz.core.errors import SslvizError

FORMATS = ("csv", "npy", "projector")
SPRITE_MAX = 8192


class ExportError(SslvizError):
    """An export cannot be written (bad folder, unknown format)."""


def _clean(value) -> str:
    text = f"{value:.7g}" if isinstance(value, (float, np.floating)) else str(value)
    return text.replace("\t", " ").replace("\n", " ").replace("\r", " ")


def _columns(emb, factors: dict | None) -> dict[str, list]:
    cols = {"index": [int(v) for v in emb.index], "label": [int(v) for v in emb.labels], "class": emb.label_names()}
    for name, values in (factors or {}).items():
        if name not in cols and len(values) == len(emb):
            cols[name] = list(np.asarray(values).tolist())
    return cols


def csv_bytes(emb, proj=None, factors: dict | None = None) -> bytes:
    """embedding.csv as bytes (see the module docstring for its columns)."""
    import csv

    cols = _columns(emb, factors)
    coords = None
    if proj is not None:
        coords = np.full((len(emb), proj.coords.shape[1]), np.nan, dtype=np.float32)
        coords[proj.rows] = proj.coords
        for j, axis in enumerate("xyz"[: proj.coords.shape[1]]):
            cols[axis] = coords[:, j].tolist()
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    dims = emb.features.shape[1]
    writer.writerow(list(cols) + [f"f{j}" for j in range(dims)])
    names = list(cols)
    for i in range(len(emb)):
        row = [_clean(cols[c][i]) for c in names]
        writer.writerow(row + [f"{v:.7g}" for v in emb.features[i]])
    return buf.getvalue().encode("utf-8")


def npy_files(emb, proj=None) -> dict[str, bytes]:
    """{file name: bytes} of the .npy export."""
    def npy(a) -> bytes:
        buf = io.BytesIO()
        np.save(buf, np.asarray(a), allow_pickle=False)
        return buf.getvalue()

    files = {"features.npy": npy(emb.features.astype(np.float32)), "labels.npy": npy(emb.labels.astype(np.int64)),
             "index.npy": npy(emb.index.astype(np.int64))}
    if proj is not None:
        files["projection.npy"] = npy(proj.coords.astype(np.float32))
        files["projection_rows.npy"] = npy(proj.rows.astype(np.int64))
    return files


def sprite_png(images) -> tuple[bytes, int]:
    """The images (uint8 N×C×H×W) tiled row by row in a square grid: (PNG bytes, tile size in px)."""
    from PIL import Image

    arr = np.asarray(images)
    n, c, h, w = arr.shape
    cols = max(1, math.ceil(math.sqrt(n)))
    tile = min(h, SPRITE_MAX // cols)
    if tile < 1:
        raise ExportError(f"sprite: {n:,} images do not fit a {SPRITE_MAX} px sprite")
    if c == 1:
        arr = np.repeat(arr, 3, axis=1)
    arr = arr[:, :3].transpose(0, 2, 3, 1)
    if tile != h or h != w:
        arr = np.stack([np.asarray(Image.fromarray(a).resize((tile, tile), Image.BILINEAR)) for a in arr])
    rows = math.ceil(n / cols)
    sheet = np.zeros((rows * tile, cols * tile, 3), dtype=np.uint8)
    for i in range(n):
        r, q = divmod(i, cols)
        sheet[r * tile : (r + 1) * tile, q * tile : (q + 1) * tile] = arr[i]
    buf = io.BytesIO()
    Image.fromarray(sheet).save(buf, format="PNG", optimize=False)
    return buf.getvalue(), tile


def projector_files(emb, images=None, factors: dict | None = None, name: str | None = None) -> dict[str, bytes]:
    """{file name: bytes} of the TensorFlow Embedding Projector export (sprite when images are given)."""
    vectors = "\n".join("\t".join(f"{v:.7g}" for v in row) for row in emb.features) + "\n"
    cols = _columns(emb, factors)
    header = list(cols)
    lines = ["\t".join(header)] + ["\t".join(_clean(cols[c][i]) for c in header) for i in range(len(emb))]
    files = {"vectors.tsv": vectors.encode(), "metadata.tsv": ("\n".join(lines) + "\n").encode()}
    tensor = (name or emb.title).replace('"', "'")
    config = [
        "embeddings {",
        f'  tensor_name: "{tensor}"',
        f"  tensor_shape: {len(emb)}",
        f"  tensor_shape: {emb.dims}",
        '  tensor_path: "vectors.tsv"',
        '  metadata_path: "metadata.tsv"',
    ]
    if images is not None:
        files["sprite.png"], tile = sprite_png(images)
        config += ["  sprite {", '    image_path: "sprite.png"', f"    single_image_dim: {tile}",
                   f"    single_image_dim: {tile}", "  }"]
    files["projector_config.pbtxt"] = ("\n".join(config + ["}"]) + "\n").encode()
    return files


def zip_bytes(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for name, data in files.items():
            z.writestr(name, data)
    return buf.getvalue()


def figure_html(fig) -> bytes:
    """A plotly figure as one standalone HTML file (plotly.js embedded, so it opens offline)."""
    return fig.to_html(include_plotlyjs=True, full_html=True).encode("utf-8")


def export_files(emb, fmt: str, proj=None, images=None, factors: dict | None = None) -> dict[str, bytes]:
    """The files of one export format."""
    if fmt == "csv":
        return {"embedding.csv": csv_bytes(emb, proj, factors)}
    if fmt == "npy":
        return npy_files(emb, proj)
    if fmt == "projector":
        return projector_files(emb, images, factors)
    raise ExportError(f"format: unknown '{fmt}'; choose one of {', '.join(FORMATS)}")


def write_files(files: dict[str, bytes], out: str | Path) -> list[Path]:
    """Write each file into the folder `out` (created if missing), atomically; returns the paths."""
    from sslviz.core.files import atomic_write_bytes

    out = Path(out).expanduser()
    try:
        out.mkdir(parents=True, exist_ok=True)
        paths = []
        for name, data in files.items():
            atomic_write_bytes(out / name, data)
            paths.append(out / name)
    except OSError as exc:
        raise ExportError(f"--out {out}: cannot write ({exc.strerror or exc})") from None
    return paths


def cli_export(args) -> int:
    """`python -m sslviz export`: write a run's embedding (and optionally a projection) to --out."""
    from sslviz.training.runs import RunStore

    from .embedding import factors_for, images_for, load_embedding

    store = RunStore(args.runs_dir)
    emb = load_embedding(store, args.run, getattr(args, "source", "run") or "run", args.epoch)
    proj = None
    method = getattr(args, "projection", "none") or "none"
    if method != "none":
        from .projection import ProjectionParams, cache_path, project

        params = ProjectionParams(method=method, dims=int(getattr(args, "dims", 2) or 2))
        path = cache_path(store.run_dir(args.run), emb.source, emb.epoch, params, emb.features)
        proj = project(emb.features, params, cache=path)
    factors = factors_for(emb)
    images = images_for(emb) if args.format == "projector" else None
    paths = write_files(export_files(emb, args.format, proj, images, factors), args.out)
    out = {"run_id": args.run, "source": emb.source, "epoch": emb.epoch, "format": args.format, "points": len(emb),
           "dims": emb.dims, "projection": method, "files": [str(p) for p in paths]}
    for p in paths:
        print(p)
    if args.json:
        print(json.dumps(out))
    return 0
