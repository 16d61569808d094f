"""Thumbnails under the pointer on the Embeddings page's map (issue 24, point 4).

The map is an st.plotly_chart, whose selections drive the neighbours and the image grid. Beside it
this mounts a small st.components.v2 component (no iframe, no build step) whose script finds that
chart by its key, listens to plotly's hover events and draws the hovered point's image next to the
pointer, cut from the embedding's sprite sheets (sslviz/embeddings/thumb_sheets.py).

The sheets are static files: Streamlit serves the app's `static/` folder at /app/static/
(`server.enableStaticServing`, .streamlit/config.toml), so the browser fetches a sheet once, when
the pointer first reaches its points, and the server does no work per hover, however many points
and students. A background thread writes them the first time an embedding's images are shown; until
a sheet is there the hover shows its text alone. Folder names hash a random per-server secret with
the run and its images, so an address cannot be guessed from a run's name, and at most `KEEP`
embeddings' sheets are kept (the oldest go; Streamlit turns static serving off past 1 GB). Where
static serving is off or the folder cannot be written, the map keeps its text hover and this adds
nothing.
"""

from __future__ import annotations

import hashlib
import secrets
import shutil
import threading
from pathlib import Path

import streamlit as st

from sslviz.embeddings import thumb_sheets as T

KEEP = 24  # embeddings whose sheets are kept in static/thumbs
SHOWN_PX = 112  # the thumbnail's size next to the pointer
_SECRET = secrets.token_hex(16)  # per server process
_writing: dict[str, threading.Thread] = {}
_lock = threading.Lock()

_JS = r"""
export default function (component) {
  const { data } = component;
  const state = { ...data };  // this render's sheets; state.show draws from them
  const tipId = "sslviz-hover-thumb";
  let tip = document.getElementById(tipId);
  if (!tip) {
    tip = document.createElement("canvas");
    tip.id = tipId;
    Object.assign(tip.style, { position: "fixed", display: "none", pointerEvents: "none", zIndex: 100000,
      border: "2px solid #444", borderRadius: "4px", background: "#fff", imageRendering: "pixelated" });
    document.body.appendChild(tip);
  }
  const sheets = new Map();
  const sheet = (k) => {
    const url = state.base + k + ".png";
    if (!sheets.has(url)) {  // a sheet not written yet (404) is asked again at the next hover
      const im = new Image();
      im.addEventListener("error", () => sheets.delete(url), { once: true });
      im.src = url;
      sheets.set(url, im);
    }
    return sheets.get(url);
  };
  const hide = () => { tip.style.display = "none"; tip.dataset.row = ""; };
  const show = (row, x, y) => {
    const k = Math.floor(row / state.per), i = row % state.per;
    const im = sheet(k);
    tip.dataset.row = String(row);
    const paint = () => {
      if (tip.dataset.row !== String(row) || !im.naturalWidth) return;
      tip.width = tip.height = state.size;
      const ctx = tip.getContext("2d");
      ctx.imageSmoothingEnabled = false;
      ctx.drawImage(im, (i % state.cols) * state.cell, Math.floor(i / state.cols) * state.cell,
                    state.cell, state.cell, 0, 0, state.size, state.size);
      const left = x + 18 + state.size > window.innerWidth ? x - 18 - state.size : x + 18;
      const top = y + 18 + state.size > window.innerHeight ? y - 18 - state.size : y + 18;
      Object.assign(tip.style, { left: left + "px", top: top + "px", display: "block" });
      tip.dataset.shown = String(row);
    };
    if (im.complete) paint(); else im.addEventListener("load", paint, { once: true });
  };
  state.show = show;
  state.hide = hide;
  const hook = () => {
    const gd = document.querySelector(".st-key-" + state.chart + " .js-plotly-plot");
    if (!gd || typeof gd.on !== "function") return;
    gd.__sslvizThumbs = state;  // the latest embedding's sheets; the listeners read it
    if (gd.__sslvizHooked) return;
    gd.__sslvizHooked = true;
    gd.on("plotly_hover", (ev) => {  // hooked once per chart element: it asks the latest render's state
      const p = ev && ev.points && ev.points[0];
      const s = gd.__sslvizThumbs;
      if (!p || !p.customdata || !s || !ev.event) return;
      s.show(Number(p.customdata[0]), ev.event.clientX, ev.event.clientY);
    });
    gd.on("plotly_unhover", () => { if (gd.__sslvizThumbs) gd.__sslvizThumbs.hide(); });
  };
  hook();
  const timer = setInterval(hook, 400);  // the chart is drawn after this component, and redrawn on reruns
  return () => { clearInterval(timer); hide(); };
}
"""

try:  # Streamlit's components v2 (1.5x and later); without it the map keeps its text hover
    from streamlit.components.v2 import component as _register

    _component = _register("sslviz.hover_thumbs", js=_JS)
except ImportError:  # pragma: no cover - an older Streamlit than requirements.txt's tested one
    _component = None


def static_root() -> Path:
    """The app's static folder: next to the script Streamlit runs (app.py)."""
    try:
        from streamlit.runtime.scriptrunner import get_script_run_ctx

        ctx = get_script_run_ctx()
        if ctx is not None and getattr(ctx, "main_script_path", None):
            return Path(ctx.main_script_path).resolve().parent / "static"
    except Exception:  # pragma: no cover - outside a Streamlit run
        pass
    return Path(__file__).resolve().parents[2] / "static"


def folder_name(run_id: str, dataset: str, index_fingerprint: str) -> str:
    return hashlib.blake2b(f"{_SECRET}|{run_id}|{dataset}|{index_fingerprint}".encode(), digest_size=12).hexdigest()


def _prune(root: Path, keep: str) -> None:
    folders = sorted((p for p in root.iterdir() if p.is_dir() and p.name != keep), key=lambda p: p.stat().st_mtime)
    for old in folders[:max(0, len(folders) - (KEEP - 1))]:
        shutil.rmtree(old, ignore_errors=True)


def _write(images, folder: Path) -> None:
    from sslviz.ui.server_exit import server_stopped

    try:
        T.write_sheets(images, folder, stop=server_stopped)  # a stopping server: no new sheet begun
    except OSError:
        pass  # a full or read-only disk: the map keeps its text hover


def ensure_sheets(images, run_id: str, dataset: str, index_fingerprint: str) -> str | None:
    """Start writing the sheets of an embedding's images (once); their URL prefix, or None when they
    cannot be served (static serving off, the folder not writable)."""
    if not st.get_option("server.enableStaticServing") or not static_root().is_dir():
        return None  # (Streamlit serves the folder only when it exists as the server starts)
    root = static_root() / "thumbs"
    name = folder_name(run_id, dataset, index_fingerprint)
    folder = root / name
    try:
        folder.mkdir(parents=True, exist_ok=True)
        folder.touch()  # most recently used
    except OSError:
        return None
    with _lock:
        if name not in _writing and T.sheet_count(len(images)) > sum(1 for _ in folder.glob("*.png")):
            _prune(root, name)
            _writing[name] = threading.Thread(target=_write, args=(images, folder), daemon=True,
                                              name=f"thumb-sheets-{name[:6]}")
            _writing[name].start()
    base = (st.get_option("server.baseUrlPath") or "").strip("/")
    return "/" + (base + "/" if base else "") + f"app/static/thumbs/{name}/"


def hover_thumbnails(chart_key: str, images, run_id: str, dataset: str, index_fingerprint: str) -> None:
    """Thumbnails under the pointer for the st.plotly_chart with `chart_key` (its points' customdata[0]
    is the row of `images`)."""
    if _component is None:
        return
    base = ensure_sheets(images, run_id, dataset, index_fingerprint)
    if base is None:
        return
    _component(key=f"{chart_key}.thumbs", data={"chart": chart_key, "base": base, "per": T.PER_SHEET,
                                                  "cols": T.COLUMNS, "cell": T.CELL, "size": SHOWN_PX})
