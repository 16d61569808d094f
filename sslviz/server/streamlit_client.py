"""One simulated browser tab: a lightweight client of Streamlit's websocket protocol, for load tests.

A real Chromium per student is too heavy to run thirty of on a 2-core machine, so this speaks the
protocol the browser speaks (ws://HOST:PORT/_stcore/stream, binary protobufs from
`streamlit.proto`) and does what the browser does, without drawing anything:

* sends `BackMsg.rerun_script` (a `ClientState`: page_script_hash, query_string, widget_states,
  fragment_id, is_auto_rerun) to open the app, switch pages (the sidebar's page list comes from the
  server's `navigation` message: pages are discovered at run time) and change widgets;
* reads every `ForwardMsg`: a run opens with `new_session` (its `metadata.run` names the run and,
  for a fragment run, its fragments) and ends with `script_finished`; deltas carry the elements;
  `page_info_changed` the URL's query string;
* keeps the widgets of the page it is on (from the deltas) and changes one the way a student would
  (another option of a selectbox / radio / select_slider, a flipped checkbox or toggle, a slider
  moved), re-sending the values it changed before, as the browser re-sends its widget state;
* honours `auto_rerun` like the browser's setInterval: every `interval` seconds it asks for a rerun
  of that fragment (cleared when a full run starts, as the browser does, and by `stop_auto_rerun`);
* fetches the images of `st.image` elements over HTTP (/media/...), as the browser does;
* keeps the browser's message cache: big elements come with a hash, the tab offers the hashes it
  holds in each rerun (`cached_message_hashes`) and the server then sends only a `ref_hash`.

What it records: one `Interaction` per user action (time from sending the rerun to its
`script_finished`), fragment reruns separately, and every error a student would see or suffer: an
exception element in any delta (st.exception or an uncaught exception in a page or fragment), a
script compile error, page_not_found, a media file that does not load, a rerun not answered in time,
and a dropped connection. `st.error` messages are not errors of the app (a page may rightly say
"no run yet"), but are kept, so that a message such as "database is locked" is seen.

Deviation from the browser, on purpose: no fragment rerun is sent while the tab waits for one of
its own full reruns (a browser may send one in that window; the server would drop it a moment later
when the full run clears the timers), so each timing belongs to one request. Buttons, text inputs
and forms are never touched: a load test must not start runs, upload or delete anything (the one
exception is a lesson step's "Submit my answer", pressed by sslviz/server/lesson_load.py's students).
"""

from __future__ import annotations

import asyncio
import random
import time
from urllib.parse import urlsplit

import websockets
from streamlit.proto.Alert_pb2 import Alert
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.WidgetStates_pb2 import WidgetState

from .streamlit_widgets import Interaction, Page, SessionError, Widget

FINISHED = ForwardMsg.FINISHED_SUCCESSFULLY
FRAGMENT_FINISHED = ForwardMsg.FINISHED_FRAGMENT_RUN_SUCCESSFULLY
COMPILE_ERROR = ForwardMsg.FINISHED_WITH_COMPILE_ERROR

def _copy(msg: ForwardMsg) -> ForwardMsg:
    out = ForwardMsg()
    out.CopyFrom(msg)
    return out


class BrowserSession:
    """One tab: `await run(stop_at)` browses until the monotonic time `stop_at`.

    plan: "tour" visits every page once in sidebar order from a per-session offset, then goes on
    round robin; "random" picks pages at random. After each page it changes one widget with
    probability `widget_probability`; it waits `think` seconds (uniform) between interactions.
    `tours` stops it after that many rounds of the pages (a warm-up) even before `stop_at`. It
    visits at least one page after the home page even when `stop_at` has passed by then."""

    def __init__(self, url: str, index: int, seed: int = 0, think: tuple[float, float] = (1.0, 3.0),
                 widget_probability: float = 0.5, plan: str = "tour", timeout: float = 60.0,
                 fetch_media: bool = True, tours: int | None = None):
        parts = urlsplit(url)
        self.host, self.port = parts.hostname, parts.port
        self.ws_url = f"ws://{parts.netloc}/_stcore/stream"
        self.index, self.think, self.plan, self.timeout = index, think, plan, timeout
        self.widget_probability, self.fetch_media, self.tours = widget_probability, fetch_media, tours
        self.rng = random.Random(seed * 100_003 + index)
        self.pages: list[Page] = []
        self.interactions: list[Interaction] = []
        self.errors: list[SessionError] = []
        self.alerts: list[tuple[str, str]] = []  # (page, st.error text)
        self.media = {"fetched": 0, "failed": 0, "from_cache": 0}  # images over HTTP; elements by ref_hash
        self.connected = False
        self.unanswered_fragments = 0
        self._ws = None
        self._page_hash = ""  # the page the server says this tab shows
        self._main_hash = self._default = ""  # app.py's hash, and the sidebar's default page
        self._query = ""
        self._widgets: dict[str, Widget] = {}  # on the page now
        self._next_widgets: dict[str, Widget] = {}  # collected by the full run in progress
        self._sent: dict[str, WidgetState] = {}  # values this tab changed, re-sent on every rerun
        self._runs: dict[str, tuple[float, tuple[str, ...]]] = {}  # run id -> (started, fragment ids)
        self._pending: dict | None = None  # the full rerun this tab waits for
        self._fragment_sends: dict[str, list[float]] = {}
        self._timers: dict[str, tuple[float, asyncio.Task]] = {}
        self._media_urls: list[str] = []
        self._cache: dict[str, list] = {}  # hash -> [cacheable message (a big element), last used]
        self._fragment_run = False  # the run in progress reruns fragments only
        self._closing = False

    # ---- public -------------------------------------------------------------------------------
    def page_name(self, script_hash: str | None = None) -> str:
        h = self._page_hash if script_hash is None else script_hash
        if h in ("", self._main_hash) and self._default:
            h = self._default  # the main script's own hash, or "" (the browser's first request)
        return next((p.name for p in self.pages if p.script_hash == h), h[:8] or "?")

    async def run(self, stop_at: float) -> None:
        try:
            self._ws = await websockets.connect(self.ws_url, subprotocols=["streamlit"], max_size=None,
                                                ping_interval=None, open_timeout=self.timeout)
        except (OSError, asyncio.TimeoutError, websockets.WebSocketException) as exc:
            self.errors.append(SessionError(self.index, "", "connect", f"{type(exc).__name__}: {exc}"))
            return
        self.connected = True
        reader = asyncio.create_task(self._read())
        try:
            await self._browse(stop_at, reader)
        finally:
            self._closing = True
            for _, task in self._timers.values():
                task.cancel()
            self.unanswered_fragments += sum(len(v) for v in self._fragment_sends.values())
            await self._ws.close()
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)

    # ---- the student --------------------------------------------------------------------------
    async def _browse(self, stop_at: float, reader: asyncio.Task) -> None:
        if not await self._interact("open", "", ""):
            return
        order = list(self.pages)
        offset = self.index % max(1, len(order))
        order = order[offset:] + order[:offset]
        step = 0  # every tab visits at least one page after the home page, however slow the server is
        while (step == 0 or time.monotonic() < stop_at) and not reader.done():
            await asyncio.sleep(min(self.rng.uniform(*self.think), max(0.0, stop_at - time.monotonic())))
            if (step and time.monotonic() >= stop_at) or not order or (self.tours and step >= self.tours * len(order)):
                break
            page = order[step % len(order)] if self.plan == "tour" else self.rng.choice(order)
            step += 1
            if not await self._interact("navigate", page.script_hash, ""):
                return
            widgets = [w for w in self._widgets.values() if w.changeable()]
            if widgets and self.rng.random() < self.widget_probability and time.monotonic() < stop_at:
                await asyncio.sleep(self.rng.uniform(*self.think) / 2)
                widget = self.rng.choice(widgets)
                self._sent[widget.proto.id] = widget.new_state(self._sent.get(widget.proto.id), self.rng)
                if not await self._interact("widget", self._page_hash, self._query, widget.label()):
                    return

    async def _interact(self, kind: str, page_hash: str, query: str, detail: str = "", page_name: str = "",
                        once: tuple[WidgetState, ...] = (), fragment_id: str = "") -> bool:
        """Send one full rerun and wait for its script_finished; False when the tab cannot go on.
        page_name: the page a link opens (the URL's path, as the browser sends it); once: widget states
        sent with this rerun only (a button's trigger_value); fragment_id: rerun that fragment only, as
        the browser does for a widget drawn in one (lesson_load's students; the browsing plans send full
        reruns)."""
        if kind == "navigate":
            self._sent = {}  # a page switch drops the widget values of the page left behind
        if kind == "open":
            self._query = query  # the link's own query string, as the browser's address bar holds it
        loop = asyncio.get_running_loop()
        sent = time.monotonic()
        self._pending = {"sent": sent, "future": loop.create_future(), "fragment": fragment_id}
        errors_before = len(self.errors)
        msg = BackMsg()
        cs = msg.rerun_script
        cs.query_string, cs.page_script_hash, cs.page_name, cs.fragment_id = query, page_hash, page_name, fragment_id
        cs.cached_message_hashes.extend(self._cached_hashes())
        cs.widget_states.widgets.extend(s for i, s in self._sent.items() if i in self._widgets or kind == "open")
        cs.widget_states.widgets.extend(once)
        name = self.page_name(page_hash)
        try:
            await self._ws.send(msg.SerializeToString())
            status, done = await asyncio.wait_for(self._pending["future"], self.timeout)
        except asyncio.TimeoutError:
            self.errors.append(SessionError(self.index, name, "timeout",
                                            f"{kind} {detail or name}: no script_finished in {self.timeout:.0f} s"))
            return False
        except (websockets.ConnectionClosed, ConnectionError) as exc:
            self._disconnected(exc)
            return False
        finally:
            self._pending = None
        name = self.page_name()
        ok = status != COMPILE_ERROR and len(self.errors) == errors_before
        self.interactions.append(Interaction(self.index, name, kind, sent, done - sent, ok, detail))
        await self._load_media(name)
        return True

    # ---- the browser --------------------------------------------------------------------------
    def _cached_hashes(self, offer: float = 30.0, keep: float = 90.0) -> list[str]:
        """The browser's message cache: offer what was used in the last `offer` seconds, forget what
        was not used for `keep` seconds (long after any request that offered it was answered)."""
        now = time.monotonic()
        for h in [h for h, (_, used) in self._cache.items() if now - used > keep]:
            del self._cache[h]
        return [h for h, (_, used) in self._cache.items() if now - used <= offer]

    async def _read(self) -> None:
        try:
            async for data in self._ws:
                msg = ForwardMsg()
                msg.ParseFromString(data)
                if msg.WhichOneof("type") == "ref_hash":  # "you have this one": the browser's message cache
                    cached = self._cache.get(msg.ref_hash)
                    if cached is None:
                        self._error("protocol", f"ref_hash {msg.ref_hash[:8]} not in this tab's cache")
                        continue
                    cached[1] = time.monotonic()
                    self.media["from_cache"] += 1
                    metadata, msg = msg.metadata, _copy(cached[0])
                    msg.metadata.CopyFrom(metadata)
                elif msg.metadata.cacheable and msg.hash:
                    self._cache[msg.hash] = [msg, time.monotonic()]
                self._on_message(msg)
        except websockets.ConnectionClosed as exc:
            if not self._closing:
                self._disconnected(exc)

    def _disconnected(self, exc: BaseException) -> None:
        if not self._closing and not any(e.kind == "disconnect" for e in self.errors):
            self.errors.append(SessionError(self.index, self.page_name(), "disconnect", f"{type(exc).__name__}: {exc}"))
        if self._pending and not self._pending["future"].done():
            self._pending["future"].set_exception(ConnectionError("disconnected"))

    def _on_message(self, msg: ForwardMsg) -> None:
        kind = msg.WhichOneof("type")
        now = time.monotonic()
        if kind == "new_session":
            run, fragments = msg.metadata.run.script_run_id, tuple(msg.metadata.run.fragment_ids)
            self._runs[run] = (now, fragments)
            self._fragment_run = bool(fragments)
            if not fragments:  # a full run: the browser clears its fragment timers and rebuilds the page
                self._page_hash = msg.new_session.page_script_hash
                self._main_hash = msg.new_session.main_script_hash
                self._next_widgets, self._media_urls = {}, []
                for _, task in self._timers.values():
                    task.cancel()
                self._timers.clear()
                self.unanswered_fragments += sum(len(v) for v in self._fragment_sends.values())
                self._fragment_sends.clear()
        elif kind == "navigation":
            pages = [Page(p.page_name, p.page_script_hash) for p in msg.navigation.app_pages
                     if not p.is_hidden and not p.HasField("external_url")]
            if pages:
                self.pages = pages
                self._default = next((p.page_script_hash for p in msg.navigation.app_pages if p.is_default), "")
            if msg.navigation.page_script_hash:  # the page this run shows, as the browser learns it (a link
                self._page_hash = msg.navigation.page_script_hash  # opened by page name says so only here)
        elif kind == "page_info_changed":
            self._query = msg.page_info_changed.query_string
        elif kind == "delta":
            self._on_delta(msg)
        elif kind == "auto_rerun":
            self._arm(msg.auto_rerun.fragment_id, msg.auto_rerun.interval)
        elif kind == "stop_auto_rerun":
            for fid in msg.stop_auto_rerun.fragment_ids:
                timer = self._timers.pop(fid, None)
                if timer:
                    timer[1].cancel()
        elif kind == "script_finished":
            self._on_finished(msg, now)
        elif kind == "session_event" and msg.session_event.HasField("script_compilation_exception"):
            exc = msg.session_event.script_compilation_exception
            self._error("compile_error", f"{exc.type}: {exc.message}")
        elif kind == "page_not_found":
            self._error("page_not_found", msg.page_not_found.page_name or "page not found")

    def _on_delta(self, msg: ForwardMsg) -> None:
        delta = msg.delta
        if delta.WhichOneof("type") != "new_element":
            return
        element = delta.new_element
        kind = element.WhichOneof("type")
        if kind == "exception":
            exc = element.exception
            where = f" (fragment {delta.fragment_id[:8]})" if delta.fragment_id else ""
            top = f" at {exc.stack_trace[-1].strip()}" if exc.stack_trace else ""
            warning = " (shown as a warning)" if exc.is_warning else ""
            self._error("exception", f"{exc.type}: {exc.message}{warning}{where}{top}".strip())
        elif kind == "alert" and element.alert.format == Alert.ERROR:
            self.alerts.append((self.page_name(), element.alert.body))
        elif kind in ("selectbox", "radio", "checkbox", "slider", "button"):  # a button: only lesson_load presses one
            widget = Widget(kind, getattr(element, kind), delta.fragment_id)
            (self._widgets if self._fragment_run else self._next_widgets)[widget.proto.id] = widget
        elif kind == "imgs" and not self._fragment_run:
            self._media_urls += [i.url for i in element.imgs.imgs if i.url.startswith("/media/")]

    def _on_finished(self, msg: ForwardMsg, now: float) -> None:
        status = msg.script_finished
        started, fragments = self._runs.pop(msg.metadata.run.script_run_id, (now, ()))
        if status in (FINISHED, COMPILE_ERROR) and not fragments:
            self._widgets = self._next_widgets
            pending = self._pending
            if pending and started >= pending["sent"] and not pending["future"].done():
                pending["future"].set_result((status, now))
        elif status == FRAGMENT_FINISHED:
            pending = self._pending  # a widget of a fragment changed: its run answers the request
            if pending and pending["fragment"] in fragments and started >= pending["sent"] \
                    and not pending["future"].done():
                pending["future"].set_result((status, now))
            for fid in fragments:
                sends = self._fragment_sends.get(fid, [])
                served = [t for t in sends if t <= started]
                self._fragment_sends[fid] = [t for t in sends if t > started]
                for t in served:
                    self.interactions.append(Interaction(self.index, self.page_name(), "fragment", t, now - t))

    def _error(self, kind: str, message: str) -> None:
        self.errors.append(SessionError(self.index, self.page_name(), kind, message))

    def _arm(self, fragment_id: str, interval: float) -> None:
        if not fragment_id or interval <= 0:
            return
        if fragment_id in self._timers and self._timers[fragment_id][0] == interval:
            return
        old = self._timers.pop(fragment_id, None)
        if old:
            old[1].cancel()
        self._timers[fragment_id] = (interval, asyncio.get_running_loop().create_task(self._tick(fragment_id, interval)))

    async def _tick(self, fragment_id: str, interval: float) -> None:
        while not self._closing:
            await asyncio.sleep(interval)
            if self._pending or self._closing:
                continue
            sends = self._fragment_sends.setdefault(fragment_id, [])
            if sends and time.monotonic() - sends[0] > self.timeout:
                self._error("timeout", f"fragment rerun not answered in {self.timeout:.0f} s")
                sends.clear()
            msg = BackMsg()
            cs = msg.rerun_script
            cs.query_string, cs.page_script_hash = self._query, self._page_hash
            cs.fragment_id, cs.is_auto_rerun = fragment_id, True
            cs.cached_message_hashes.extend(self._cached_hashes())
            cs.widget_states.widgets.extend(s for i, s in self._sent.items() if i in self._widgets)
            sends.append(time.monotonic())
            try:
                await self._ws.send(msg.SerializeToString())
            except websockets.ConnectionClosed:
                return

    async def _load_media(self, page: str) -> None:
        if not self.fetch_media or not self._media_urls:
            return
        urls, self._media_urls = list(dict.fromkeys(self._media_urls)), []
        results = await asyncio.gather(*(self._get(u) for u in urls[:24]), return_exceptions=True)
        for url, status in zip(urls, results):
            if status == 200:
                self.media["fetched"] += 1
            else:
                self.media["failed"] += 1
                self._error("media", f"GET {url}: {status}")

    async def _get(self, path: str):
        reader, writer = await asyncio.wait_for(asyncio.open_connection(self.host, self.port), self.timeout)
        try:
            writer.write(f"GET {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nConnection: close\r\n\r\n".encode())
            await writer.drain()
            head = await asyncio.wait_for(reader.readline(), self.timeout)
            await asyncio.wait_for(reader.read(), self.timeout)
            return int(head.split()[1]) if head.startswith(b"HTTP/") else head[:40]
        finally:
            writer.close()
