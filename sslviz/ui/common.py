"""Page setup, the shared run store, the live-refresh switch, and the classroom affordances.

Classroom affordances, shared by every page:
* presentation mode: a sidebar toggle (or ?present=1 in the URL) that injects CSS for large fonts
  on a projector; it stays on across pages for the session (a plain session-state flag, since a
  widget's own state is dropped when the page changes). Plotly figures follow via `style_figure`.
* shareable URLs: `url_selectbox` keeps a page's main choices in query parameters (`dataset`,
  `run`, `method`, `epoch`, ...) holding the raw value (a run id, a method name), not the label
  shown, so the address bar restores the view; `share_box` shows that address to copy. (Streamlit's
  own ``bind="query-params"`` would put the formatted label in the URL.)
* reset: `reset_button` puts the page's widgets back to their defaults and forgets the page's
  session state; it never touches the run store (no run is ever deleted by it).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import threading
from collections import OrderedDict

import streamlit as st
from streamlit.errors import FragmentHandledException, StreamlitPageNotFoundError

from sslviz.core.errors import SslvizError
from sslviz.training.runs import RunStore
from sslviz.ui.server_exit import exit_promptly_when_stopped

exit_promptly_when_stopped()  # on the first page's import: Ctrl-C / SIGTERM ends the server at once (issue 25)

# The sidebar's page list, drawn by `page` (Streamlit's own is off in .streamlit/config.toml: it
# would name the home page after its file, "app"). Labels come from the page files' names.
# Material icons, as the home page's links use: they come with Streamlit's font, where emoji need
# one from the system (a classroom PC's browser may show boxes).
HOME = ("app.py", "Home", ":material/home:")
PAGE_ICONS = {"Lessons": ":material/school:", "Augmentations": ":material/palette:", "Pretext Tasks": ":material/extension:",
              "Train": ":material/model_training:", "Embeddings": ":material/scatter_plot:",
              "Label Efficiency": ":material/trending_up:", "Compare": ":material/balance:"}


@functools.cache  # the pages folder does not change while the server runs; every rerun draws the sidebar
def navigation() -> tuple[tuple[str, str, str | None], ...]:
    """(path, label, icon) of the home page and every page in pages/, in the sidebar's order."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    out = [HOME]
    for path in sorted((root / "pages").glob("*.py"), key=lambda p: (int(p.name.split("_")[0]), p.name)):
        label = path.stem.split("_", 1)[1].replace("_", " ")
        out.append((f"pages/{path.name}", label, PAGE_ICONS.get(label)))
    return tuple(out)


def page(title: str, icon: str = "🧠") -> None:
    st.set_page_config(page_title=f"{title} · sslviz", page_icon=icon, layout="wide")
    with st.sidebar:
        try:
            for path, label, page_icon in navigation():
                st.page_link(path, label=label, icon=page_icon)
            st.divider()
        except StreamlitPageNotFoundError:
            pass  # a page run on its own (AppTest's entry script), with no app around it to link to
    from sslviz.embeddings.projection_jobs import warm_up_in_background

    warm_up_in_background()  # UMAP's numba code, loaded once per server process in a background thread
    presentation_toggle()
    ensure_pretrained()  # first start: the shipped runs go into the store in the background


@st.cache_resource
def _store(root: str | None) -> RunStore:
    from sslviz.core.logs import setup_logging

    store = RunStore(root)
    setup_logging(store.root).info("app server using the run store %s", store.root)
    return store


def store() -> RunStore:
    """The run store every session shares ($SSLVIZ_HOME or ./runs)."""
    return _store(os.environ.get("SSLVIZ_HOME"))


_shared: "OrderedDict[tuple, object]" = OrderedDict()
_shared_lock = threading.Lock()
SHARED_ENTRIES = 64


def shared(key: tuple, build, keep=None):
    """What `build()` returns, built once for every session that shows the same thing.

    `key` must name everything the result depends on (the run, the axis, how many metric rows;
    the images, pipelines and seed of an augmentation grid). Under the classroom load test the
    server has one GIL for 30 sessions, and they mostly look at the same things: the same run's
    training curves (a plotly figure with subplots: 20-50 ms, as plotly validates every
    property), the same default augmentation grid, the same pretext examples. Callers never
    change what they get (st.plotly_chart copies a figure; bytes and arrays are only read).
    keep(value) False: return it without remembering it (e.g. a view still waiting for its UMAP).
    """
    with _shared_lock:
        if key in _shared:
            _shared.move_to_end(key)
            return _shared[key]
    value = build()
    if keep is not None and not keep(value):
        return value
    with _shared_lock:
        _shared[key] = value
        while len(_shared) > SHARED_ENTRIES:
            _shared.popitem(last=False)
    return value


def fast_png(image) -> bytes:
    """PNG bytes of an H×W(×C) uint8 array at zlib level 1 (st.image's own encoding uses level 6,
    which made PNG encoding 7% of the server's CPU under the classroom load test; for a 32 px
    image enlarged to 384 px, level 1 took 1.8 ms against 3.1 ms, for 30% more bytes)."""
    import io

    import numpy as np
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image)).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def wait_for_job(fut, message, also=None, block: bool = True) -> bool:
    """True when the background job `fut` is done (the caller then reads its result or error).

    While it runs: `message` (a string, or a function giving it afresh at each poll), and a poller
    that reruns the page when it (or the job `also`, e.g. the PCA shown meanwhile) finishes. With
    live refresh off (tests, ?live=0) it simply waits, or with block=False says to rerun the page."""
    if fut.done():
        return True
    text = message if callable(message) else (lambda: message)
    every = refresh_every()
    if every is None:
        if not block:
            st.info(text() + " — rerun the page to see it")
            return False
        fut.exception()  # waits; the caller sees the error when it reads the result
        return True

    @st.fragment(run_every=every)
    def poll():
        if fut.done() or (also is not None and also.done()):
            st.rerun(scope="app")
        st.info(text())

    poll()
    return False


LIVE_SECONDS = 1.5  # between redraws of something that is changing (a run training, a job computing)
IDLE_SECONDS = 5.0  # between cheap looks for news (e.g. a run another session started)


def refresh_every(active: bool = True) -> float | None:
    """Seconds between live refreshes of a fragment, or None when it should not poll.

    Every browser tab runs its own timers, so a classroom of tabs multiplies each one: a view polls
    at LIVE_SECONDS only while what it shows is changing (`active`), and not at all otherwise;
    IDLE_SECONDS is for views that must notice news from other sessions (pass active=None).
    Off entirely when SSLVIZ_NO_LIVE=1 (tests with AppTest) or the URL has ?live=0.
    """
    if os.environ.get("SSLVIZ_NO_LIVE") == "1" or st.query_params.get("live") == "0":
        return None
    if active is None:
        return IDLE_SECONDS
    return LIVE_SECONDS if active else None


def session_owner() -> str:
    """A stable id for this browser session (for 'my runs' and per-student limits)."""
    if "owner" not in st.session_state:
        import secrets

        st.session_state.owner = secrets.token_hex(4)
    return st.session_state.owner


# ---- classroom affordances ------------------------------------------------------------------

PRESENTING = "_presentation"  # session flag: large fonts on every page of this session

_LARGE_FONTS = """
<style>
html { font-size: 22px; }
.block-container { padding-top: 2.5rem; padding-left: 2rem; padding-right: 2rem; max-width: 100%; }
[data-testid="stMarkdownContainer"] p, [data-testid="stMarkdownContainer"] li { font-size: 1.15rem; line-height: 1.5; }
[data-testid="stCaptionContainer"], [data-testid="stCaptionContainer"] p { font-size: 1rem; }
[data-testid="stWidgetLabel"] p { font-size: 1.05rem; }
[data-testid="stMetricValue"] { font-size: 2.4rem; }
code { font-size: 0.95em; }
</style>
"""


def _presentation_changed() -> None:
    st.session_state[PRESENTING] = bool(st.session_state.get("presentation_toggle"))


def presentation_toggle() -> bool:
    """The sidebar switch for large fonts (also ?present=1); injects the CSS when on."""
    if PRESENTING not in st.session_state:
        st.session_state[PRESENTING] = st.query_params.get("present") == "1"
    on = st.sidebar.toggle("Presentation mode (large fonts)", value=st.session_state[PRESENTING],
                           key="presentation_toggle", on_change=_presentation_changed,
                           help="Bigger text and figures for a projector; stays on across pages.")
    if on:
        st.markdown(_LARGE_FONTS, unsafe_allow_html=True)
    return on


def presenting() -> bool:
    return bool(st.session_state.get(PRESENTING))


def style_figure(fig):
    """Larger figure fonts in presentation mode (returns the figure)."""
    if presenting():
        fig.update_layout(font=dict(size=22))
        fig.update_annotations(font_size=22)
    return fig


def reset_button(defaults: dict, prefixes: tuple[str, ...] = (), forget: tuple[str, ...] = ("run", "epoch"),
                 label: str = "Reset this page") -> None:
    """A sidebar button that puts the widgets in `defaults` back to those values (their URL
    parameters go with them), and forgets `forget` and the session keys starting with `prefixes`
    (those widgets then show their first option). Runs are never touched."""

    def reset() -> None:
        for key in list(st.session_state.keys()):
            if isinstance(key, str) and (key.startswith(prefixes) or key in forget) and key not in defaults:
                del st.session_state[key]
        for key, value in defaults.items():
            st.session_state[key] = value

    st.sidebar.button(label, on_click=reset, icon=":material/restart_alt:",
                      help="Back to the defaults. Your runs are kept.")


def url_selectbox(where, label: str, options: list, key: str, **kwargs):
    """A selectbox whose value lives in the URL as ?key=<raw value>; the first option is the default
    (and then leaves the URL clean). A value in the URL that is not an option is ignored."""
    marker = f"_url.{key}"
    raw = st.query_params.get(key)
    if raw is not None and raw != st.session_state.get(marker):  # a new address (opened or shared)
        match = [o for o in options if str(o) == raw]
        if match:
            st.session_state[key] = match[0]
    if key in st.session_state and st.session_state[key] not in options:
        del st.session_state[key]
    value = where.selectbox(label, options, key=key, **kwargs)
    if value is None or (options and value == options[0]):
        st.query_params.pop(key, None)
    else:
        st.query_params[key] = str(value)
    st.session_state[marker] = st.query_params.get(key)
    return value


def share_box() -> None:
    """The address that restores this view, ready to copy (in an expander)."""
    from urllib.parse import urlencode

    with st.sidebar.expander("Share this view", icon=":material/link:"):
        base = (getattr(st.context, "url", None) or "").split("?")[0]
        query = urlencode({k: v for k, v in st.query_params.to_dict().items()})
        st.code(f"{base}?{query}" if query else base or "(the address bar)", language=None)
        st.caption("Open it on another screen to see this page with the same choices.")


def page_link(path: str, label: str, icon: str | None = None, query_params: dict | None = None) -> None:
    """st.page_link when the page exists in this checkout, else its name as plain text."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    if (root / path).exists():
        st.page_link(path, label=label, icon=icon, query_params=query_params)
    else:
        st.markdown(f"{icon or ''} {label} *(this page is not installed)*")


def ensure_pretrained():
    """Install the shipped pretrained runs into the store in the background on first start (idempotent;
    see sslviz/teaching/pretrained/install.py). Returns the background Future, or None when nothing is to do."""
    from sslviz.teaching.pretrained.install import install_in_background

    try:
        return install_in_background(store())
    except Exception:  # noqa: BLE001 - a read-only store must not break a page
        return None


@contextlib.contextmanager
def one_line_on_error(what: str):
    """Draw a view; if it fails, one line on the page (the traceback goes to the server's log) and the
    rest of the page goes on. Streamlit's rerun and stop are BaseExceptions and pass through."""
    try:
        yield
    except FragmentHandledException:  # a fragment's own error, already drawn by Streamlit
        raise
    except SslvizError as exc:
        st.error(str(exc))
    except Exception as exc:  # noqa: BLE001 - a bug in one view must not become a traceback on a class's screen
        logging.getLogger("sslviz").exception("%s failed", what)
        st.error(f"{what} could not be drawn ({type(exc).__name__}: {exc}); the server's log has the details.")
