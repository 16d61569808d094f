"""An embedding file, read into arrays: the shapes researchers keep their embeddings in (issue 24, point 2).

Why a module of its own: sslviz's views (projections, colourings, neighbours, few-label curves) need
only a matrix of features and a label per row, and people bring them from numpy, pandas, Parquet
pipelines and TensorBoard. Reading those is one job with one set of error messages; turning the
result into a run-store entry is another (sslviz/embeddings/imported.py).

    table = read_file(path, "feats.npz", metadata=None)   # -> Table(features N×D, columns {name: N values})

Formats (chosen by the file's extension):
  .npy       an N×D number array. Labels and metadata come from a separate table (`metadata`: CSV, TSV,
             Parquet or a 1-D .npy of labels), or the labels are one column of the array
             (labels="-1", an integer column index: that column is taken out of the features)
  .npz       the array `embeddings` or `features` (else the only 2-D array), `labels`, and every other
             1-D array of N values as a metadata column (`paths`, `split`, `index`, ...). Saved with
             allow_pickle=False in mind: strings as string arrays, not Python objects
  .csv .tsv .parquet   one row per point: an embedding column (list-valued in Parquet; "[0.1, 0.2]" or
             "0.1 0.2" text in CSV) named embedding / embeddings / features / vector, or numbered
             columns (e0..e127, dim_0.., f0.., emb_0..); every other column is metadata
  the Embedding Projector's pair   tensors.tsv (numbers only, tab-separated, no header) with
             metadata.tsv (one label a line; a header row when it has several columns)

Every problem raises ImportFileError, one line that names the file and the problem; nothing here
writes anything.
"""

from __future__ import annotations

import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sslviz.core.errors import SslvizError

EMBEDDING_COLUMNS = ("embedding", "embeddings", "features", "feature", "vector", "vectors", "emb")
TABLE_EXTENSIONS = (".csv", ".tsv", ".txt", ".parquet", ".pq")
EXTENSIONS = (".npy", ".npz") + TABLE_EXTENSIONS
_NUMBERED = re.compile(r"^(.*?)(\d+)$")


class ImportFileError(SslvizError):
    """An embedding file cannot be imported as it is; nothing was changed."""


@dataclass
class Table:
    features: np.ndarray  # N×D numbers (not yet checked for NaN)
    columns: dict = field(default_factory=dict)  # name -> N values (numbers or strings)
    format: str = ""


def read_file(path: str | Path, name: str | None = None, metadata: str | Path | None = None,
              metadata_name: str | None = None, labels: str | None = None) -> Table:
    """The file's features and columns, with the metadata table's columns joined row by row."""
    path = Path(path)
    name = name or path.name
    ext = path.suffix.lower()
    if ext == ".npy":
        table = Table(_load_npy(path, name), {}, "npy")
        if labels is not None and re.fullmatch(r"-?\d+", labels.strip()):
            table = _label_column_of_array(table, int(labels), name)
    elif ext == ".npz":
        table = _read_npz(path, name)
    elif ext in TABLE_EXTENSIONS:
        table = _read_tensor_tsv(path, name) if ext in (".tsv", ".txt") and _numbers_only(path) else _read_table(path, name, ext)
    else:
        raise ImportFileError(f"{name}: unknown format '{ext or 'no extension'}'; use {', '.join(EXTENSIONS)} "
                              "(or the Embedding Projector's tensors.tsv with metadata.tsv)")
    _check_matrix(table.features, name)
    if metadata is not None:
        mname = metadata_name or Path(metadata).name
        extra = read_metadata(metadata, mname)
        n = len(table.features)
        for col, values in extra.items():
            if len(values) != n:
                raise ImportFileError(f"{mname}: {len(values):,} rows, but {name} has {n:,} embeddings; "
                                      "row i of the metadata must describe embedding i")
            table.columns[col if col not in table.columns else f"{col} ({mname})"] = values
    return table


def read_metadata(path: str | Path, name: str) -> dict:
    """Columns of a metadata table: CSV / Parquet (with a header), TSV (the Projector's: a header only
    when it has several columns), or a 1-D .npy of labels."""
    path = Path(path)
    ext = path.suffix.lower()
    _not_empty(path, name)
    if ext == ".npy":
        values = _load_npy(path, name)
        if values.ndim != 1:
            raise ImportFileError(f"{name}: a metadata .npy must be one label per row (1-D), got shape {values.shape}")
        return {"label": values}
    if ext in (".tsv", ".txt"):
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise ImportFileError(f"{name}: cannot be read as UTF-8 text ({exc})") from None
        if lines and lines[-1] == "":
            lines = lines[:-1]
        rows = [line.split("\t") for line in lines]
        if not rows or len(rows[0]) == 1:  # the Projector's one-column form: no header, one label a line
            return {"label": _as_column(np.array([r[0] for r in rows], dtype=object))}
        header, body = rows[0], rows[1:]
        for i, r in enumerate(body):
            if len(r) != len(header):
                raise ImportFileError(f"{name}: line {i + 2} has {len(r)} fields where the header has {len(header)}")
        return {h or f"column {j}": _as_column(np.array([r[j] for r in body], dtype=object)) for j, h in enumerate(header)}
    if ext in (".csv", ".parquet", ".pq"):
        frame = _frame(path, name, ext)
        return {str(c): _as_column(frame[c].to_numpy()) for c in frame.columns}
    raise ImportFileError(f"{name}: unknown metadata format '{ext}'; use .csv, .tsv, .parquet or a 1-D .npy")


# ---- numpy ---------------------------------------------------------------------------------------


def _not_empty(path: Path, name: str) -> None:
    try:
        if path.stat().st_size == 0:
            raise ImportFileError(f"{name}: the file is empty")
    except OSError as exc:
        raise ImportFileError(f"{name}: cannot be read ({exc.strerror or exc})") from None


def _load_npy(path: Path, name: str) -> np.ndarray:
    _not_empty(path, name)
    with open(path, "rb") as fh:
        if fh.read(6) != b"\x93NUMPY":  # else numpy would try it as a pickle and say so
            raise ImportFileError(f"{name}: not a readable .npy file (no NumPy header: save it with np.save)")
    try:
        return np.load(path, allow_pickle=False)
    except ValueError as exc:
        if "pickle" in str(exc):
            raise ImportFileError(f"{name}: holds Python objects (pickled), which are never loaded; save numbers "
                                  "or strings (np.array(values, dtype=str))") from None
        raise ImportFileError(f"{name}: not a readable .npy file ({str(exc)[:160]})") from None
    except (OSError, EOFError) as exc:
        raise ImportFileError(f"{name}: not a readable .npy file ({str(exc)[:160]})") from None


def _label_column_of_array(table: Table, col: int, name: str) -> Table:
    x = table.features
    if x.ndim != 2 or not -x.shape[1] <= col < x.shape[1] or x.shape[1] < 2:
        raise ImportFileError(f"{name}: labels column {col} does not exist in an array of shape {x.shape}")
    col %= x.shape[1]
    labels = x[:, col]
    return Table(np.delete(x, col, axis=1), {"label": labels}, table.format)


def _read_npz(path: Path, name: str) -> Table:
    _not_empty(path, name)
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except ValueError as exc:
        if "pickle" in str(exc):
            raise ImportFileError(f"{name}: an array holds Python objects (pickled), which are never loaded; save "
                                  "strings as a string array (np.array(paths, dtype=str))") from None
        raise ImportFileError(f"{name}: not a readable .npz file ({str(exc)[:160]})") from None
    except (OSError, EOFError, zipfile.BadZipFile, KeyError) as exc:
        raise ImportFileError(f"{name}: not a readable .npz file ({str(exc)[:160] or type(exc).__name__})") from None
    key = next((k for k in ("embeddings", "features", "embedding", "feats", "x") if k in arrays), None)
    if key is None:
        two_d = [k for k, v in arrays.items() if v.ndim == 2]
        if len(two_d) != 1:
            raise ImportFileError(f"{name}: no array named 'embeddings' or 'features' (it holds "
                                  f"{', '.join(f'{k} {arrays[k].shape}' for k in arrays) or 'nothing'})")
        key = two_d[0]
    feats = arrays.pop(key)
    n = len(feats) if feats.ndim else 0
    columns = {}
    for k, v in arrays.items():
        if v.ndim == 1 and len(v) == n:
            columns["label" if k in ("labels", "y", "targets") else k] = _as_column(v)
        elif k in ("labels", "paths", "split", "index"):
            raise ImportFileError(f"{name}: '{k}' has {len(v) if v.ndim else 0:,} values, but '{key}' has {n:,} rows")
    return Table(feats, columns, "npz")


# ---- tables --------------------------------------------------------------------------------------


def _numbers_only(path: Path) -> bool:
    """Is the first line of a TSV all numbers (the Projector's tensors file has no header)?"""
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            first = fh.readline().strip()
    except OSError:
        return False
    try:
        [float(v) for v in first.split("\t")]
    except ValueError:
        return False
    return bool(first)


def _read_tensor_tsv(path: Path, name: str) -> Table:
    import pandas as pd

    _not_empty(path, name)
    try:
        frame = pd.read_csv(path, sep="\t", header=None, dtype=np.float64, engine="c")
    except (ValueError, pd.errors.ParserError) as exc:
        raise ImportFileError(f"{name}: {_tensor_problem(path) or str(exc).splitlines()[0][:160]}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ImportFileError(f"{name}: cannot be read ({exc})") from None
    x = frame.to_numpy()
    if np.isnan(x).any() and (problem := _tensor_problem(path)):  # pandas pads a short line with NaN
        raise ImportFileError(f"{name}: {problem}")
    return Table(x, {}, "projector")


def _tensor_problem(path: Path) -> str | None:
    """The first line of a tensors TSV with another number of values, or a value that is not a number."""
    width = None
    with open(path, encoding="utf-8", errors="replace") as fh:
        for i, line in enumerate(fh, 1):
            values = line.rstrip("\n").split("\t")
            if width is None:
                width = len(values)
            if len(values) != width:
                return f"line {i} has {len(values)} values where line 1 has {width} (inconsistent dimension)"
            for v in values:
                try:
                    float(v)
                except ValueError:
                    return f"line {i}: '{v[:40]}' is not a number"
    return None


def _frame(path: Path, name: str, ext: str):
    import pandas as pd

    _not_empty(path, name)
    try:
        if ext in (".parquet", ".pq"):
            return pd.read_parquet(path)
        return pd.read_csv(path, sep="\t" if ext in (".tsv", ".txt") else ",")
    except ImportError as exc:
        raise ImportFileError(f"{name}: reading Parquet needs pyarrow ({exc})") from None
    except (OSError, ValueError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise ImportFileError(f"{name}: cannot be read as {ext[1:].upper()} ({str(exc).splitlines()[0][:160]})") from None
    except Exception as exc:  # noqa: BLE001 - pyarrow's own errors (a corrupt Parquet footer, ...)
        raise ImportFileError(f"{name}: cannot be read as {ext[1:].upper()} ({type(exc).__name__}: "
                              f"{str(exc).splitlines()[0][:160] if str(exc) else ''})") from None


def _read_table(path: Path, name: str, ext: str) -> Table:
    frame = _frame(path, name, ext)
    cols = [str(c) for c in frame.columns]
    frame.columns = cols
    list_col = next((c for c in cols if c.lower() in EMBEDDING_COLUMNS), None)
    if list_col is not None:
        feats = _list_column(frame[list_col].to_numpy(), name, list_col)
        used = [list_col]
    else:
        used = _numbered_columns(frame, cols)
        if not used:
            raise ImportFileError(f"{name}: no embedding column: name one 'embedding' (a list per row) or use "
                                  f"numbered columns such as e0, e1, ... or dim_0, dim_1, ... (columns: "
                                  f"{', '.join(cols[:12])}{' …' if len(cols) > 12 else ''})")
        feats = np.column_stack([_number_column(frame[c].to_numpy(), name, c) for c in used])
    columns = {c: _as_column(frame[c].to_numpy()) for c in cols if c not in used}
    return Table(feats, columns, ext[1:])


def _numbered_columns(frame, cols: list[str]) -> list[str]:
    """The largest group of columns named <prefix><number> (at least two), in number order."""
    groups: dict[str, list[tuple[int, str]]] = {}
    for c in cols:
        m = _NUMBERED.match(c)
        if m:
            groups.setdefault(m.group(1), []).append((int(m.group(2)), c))
    best = max(groups.values(), key=len, default=[])
    return [c for _, c in sorted(best)] if len(best) >= 2 else []


def _number_column(values: np.ndarray, name: str, col: str) -> np.ndarray:
    if values.dtype.kind in "iufb":
        return values.astype(np.float64)
    out = np.empty(len(values), np.float64)
    for i, v in enumerate(values):
        try:
            out[i] = float(v)
        except (TypeError, ValueError):
            raise ImportFileError(f"{name}: column '{col}', row {i + 1}: '{str(v)[:40]}' is not a number "
                                  "(the embedding must be numeric)") from None
    return out


def _list_column(values: np.ndarray, name: str, col: str) -> np.ndarray:
    rows, width = [], None
    for i, v in enumerate(values):
        if isinstance(v, str):
            parts = v.strip().strip("[]()").replace(",", " ").split()
        elif v is None or (isinstance(v, float) and np.isnan(v)):
            parts = []
        else:
            parts = list(np.ravel(np.asarray(v, dtype=object)))
        try:
            row = [float(p) for p in parts]
        except (TypeError, ValueError):
            bad = next(p for p in parts if not _is_number(p))
            raise ImportFileError(f"{name}: column '{col}', row {i + 1}: '{str(bad)[:40]}' is not a number "
                                  "(the embedding must be numeric)") from None
        if width is None:
            width = len(row)
        if len(row) != width:
            raise ImportFileError(f"{name}: column '{col}', row {i + 1} has {len(row)} values where row 1 has "
                                  f"{width} (inconsistent dimension)")
        rows.append(row)
    return np.asarray(rows, dtype=np.float64).reshape(len(rows), width or 0)


def _is_number(v) -> bool:
    try:
        float(v)
        return True
    except (TypeError, ValueError):
        return False


def _as_column(values: np.ndarray) -> np.ndarray:
    """Numbers stay numbers; anything else becomes strings ('' for a missing value)."""
    values = np.asarray(values)
    if values.dtype.kind in "iufb":
        return values
    if values.dtype.kind == "O":
        try:
            as_float = np.array([float(v) for v in values], dtype=np.float64)
            if all(not isinstance(v, str) for v in values):
                return as_float
        except (TypeError, ValueError):
            pass
    return np.array(["" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v) for v in values.tolist()],
                    dtype=str)


def _check_matrix(features: np.ndarray, name: str) -> None:
    if features.dtype.kind not in "iufb":
        raise ImportFileError(f"{name}: the embedding is not numeric (dtype {features.dtype})")
    if features.ndim != 2:
        raise ImportFileError(f"{name}: expected a 2-D array (points × dimensions), got shape {features.shape}")
    if features.shape[0] == 0:
        raise ImportFileError(f"{name}: holds no embeddings (0 rows)")
    if features.shape[1] == 0:
        raise ImportFileError(f"{name}: the embeddings have no dimensions (shape {features.shape})")
