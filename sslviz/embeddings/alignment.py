"""Aligned projections: the same images at several checkpoints, or in two embeddings side by side.

UMAP, t-SNE and even PCA are free to rotate, reflect and rescale a picture, so two projections
of similar embeddings can look unrelated. Two tools fix the frame:

- **Procrustes** (`procrustes_align`, `align_to`): the rotation / reflection and scale that best
  maps one layout onto another over the points both contain (scipy's orthogonal_procrustes).
  It never changes a layout's shape, only how it sits on the screen.
- **Shared initialisation** (`project_sequence`): for the evolution over checkpoints, the last
  snapshot is projected on its own (so it equals what the Explore view shows), and each earlier
  one starts UMAP from the aligned layout of the one after it and is then Procrustes-aligned to
  it. Neighbouring frames share their starting point, so points move smoothly instead of
  jumping, and a class can watch clusters form. (umap-learn's AlignedUMAP does a joint fit of
  all frames; it is several times slower and recompiles numba code, so it is not used here.)
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from .projection import Projection, ProjectionParams, load_cached, project, save_cached


def _procrustes(a: np.ndarray, b: np.ndarray):
    """The map of rows a onto rows b (same points, same order): x -> (x - ma) @ r * factor + mb, with
    r the rotation / reflection and factor the scale that fit best; None when either is one point."""
    from scipy.linalg import orthogonal_procrustes

    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    ma, mb = a.mean(0), b.mean(0)
    a0, b0 = a - ma, b - mb
    if not np.any(a0) or not np.any(b0):
        return None
    r, s = orthogonal_procrustes(a0, b0)
    return ma, r, s / max((a0 * a0).sum(), 1e-12), mb


def procrustes_align(coords: np.ndarray, reference: np.ndarray, scale: bool = True) -> np.ndarray:
    """Rotate / reflect (and scale) coords onto reference (same rows, same order)."""
    fit = _procrustes(coords, reference)
    a = np.asarray(coords, dtype=np.float64)
    if fit is None:
        return (a - a.mean(0) + np.asarray(reference, dtype=np.float64).mean(0)).astype(np.float32)
    ma, r, factor, mb = fit
    return ((a - ma) @ r * (factor if scale else 1.0) + mb).astype(np.float32)


def align_to(proj: Projection, reference: Projection, ref_rows: np.ndarray | None = None,
             own_rows: np.ndarray | None = None) -> Projection:
    """`proj` rotated onto `reference` over the points both show.

    By default a point is identified by its row in the projected embedding (`Projection.rows`);
    pass `own_rows` / `ref_rows` (e.g. test-image indices) when the two embeddings order their
    images differently. Returns `proj` unchanged when they share too few points.
    """
    a_ids = proj.rows if own_rows is None else np.asarray(own_rows)[proj.rows]
    b_ids = reference.rows if ref_rows is None else np.asarray(ref_rows)[reference.rows]
    _, ia, ib = np.intersect1d(a_ids, b_ids, return_indices=True)
    dims = proj.coords.shape[1]
    if len(ia) < dims + 1 or dims != reference.coords.shape[1]:
        return proj
    fit = _procrustes(proj.coords[ia], reference.coords[ib])
    if fit is None:
        return proj
    ma, r, factor, mb = fit
    coords = ((proj.coords - ma) @ r * factor + mb).astype(np.float32)
    return replace(proj, coords=coords, info={**proj.info, "aligned": True})


def project_sequence(features_list: list[np.ndarray], params: ProjectionParams, caches: list | None = None,
                     progress=None) -> list[Projection]:
    """Aligned projections of several snapshots of the same images (oldest first).

    caches: one .npz path per snapshot (its stand-alone cache, as `projection.cache_path` makes
    it) or None. The last snapshot uses its stand-alone cache; earlier frames depend on the
    chain after them, so they are cached next to it under a name that includes the number of
    frames after them. `progress(done, total)` is called after each frame.
    """
    n = len(features_list)
    if n == 0:
        return []
    caches = list(caches) if caches else [None] * n
    out: list[Projection | None] = [None] * n
    out[-1] = project(features_list[-1], params, cache=caches[-1])
    if progress:
        progress(1, n)
    for i in range(n - 2, -1, -1):
        nxt = out[i + 1]
        seq_cache = None
        if caches[i] is not None and caches[-1] is not None:
            last = Path(caches[-1]).stem
            seq_cache = Path(caches[i]).with_name(f"{Path(caches[i]).stem}-seq-to-{last}.npz")
        hit = load_cached(seq_cache, params, len(features_list[i]))
        if hit is not None and np.array_equal(hit.rows, nxt.rows):
            out[i] = hit
        else:
            same_points = len(features_list[i]) == nxt.total
            init = nxt.coords if params.method == "umap" and same_points else None
            proj = project(features_list[i], params, init=init)
            if proj.coords.shape == nxt.coords.shape and np.array_equal(proj.rows, nxt.rows):
                proj = replace(proj, coords=procrustes_align(proj.coords, nxt.coords))
            out[i] = proj
            if seq_cache is not None:
                save_cached(seq_cache, proj)
        if progress:
            progress(n - i, n)
    return out  # type: ignore[return-value]


MAX_FRAMES = 12  # the evolution view shows at most this many snapshots


def frame_epochs(epochs: list[int], limit: int = MAX_FRAMES) -> list[int]:
    """At most `limit` snapshots, evenly spaced, always with the first and the last."""
    if len(epochs) <= limit:
        return list(epochs)
    picks = np.unique(np.round(np.linspace(0, len(epochs) - 1, limit)).astype(int))
    return [epochs[i] for i in picks]


def sequence_inputs(run_id: str, run_dir, epochs: list[int], params: ProjectionParams) -> tuple[str, list, list]:
    """(job key, snapshot features, cache paths) of a run's evolution: what the Embeddings page's view
    and a lesson's warm-up both hand to `project_sequence`, so either one fills the other's cache."""
    from . import embedding as E
    from .projection import cache_path

    key = f"sequence|{run_dir}|{params.key()}|{','.join(map(str, epochs))}"
    feats = []
    for e in epochs:
        f, _, _ = E.load_snapshot(run_dir, e)
        E.check_embedding(f, f"run {run_id} at epoch {e}")
        feats.append(f)
    return key, feats, [cache_path(run_dir, "run", e, params, f) for e, f in zip(epochs, feats)]

