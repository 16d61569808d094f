"""A class answering a lesson's question at once: the vote phase of the classroom load test.

    run_votes(url, store, sessions=30, lesson="learning-without-labels", step=1) -> a result dict

Issue 23 point 6: thirty students on their own laptops open the step the teacher shared
(`/Lessons?lesson=…&step=…`, as the link opens it: the browser's first rerun names the page by its
URL path and carries the query string), and at the teacher's "vote now" every one of them, within
`spread` seconds (1 s: "at once"), presses "Submit my answer"; each picked its answer in the step's
"Your answer" radio before, after reading the question (`think` seconds; the button is disabled
until an answer is picked). A button pressed is a rerun whose widget states hold the button's
`trigger_value` (sent with that rerun only, as the browser does) beside the radio's value; where
the question is drawn in a fragment, the rerun is that fragment's, as the browser sends it.
One more tab is the presenter's screen (`&present=1`), whose tally fragment polls while the question
is open, as it does on a projector; it is watched for the count it shows ("How the class voted: N
votes").

Each student answers `index % choices`, so the expected tally is known; after the phase the store's
tally (sslviz.teaching.classroom.tally) must equal it: one vote per session, none lost, none
doubled. Timings: "open" (the step opened by the link), "answer" (the radio changed), "vote" (the
button's rerun, from sending it to its script_finished: the student sees "Your answer is in"), and
the presenter's fragment reruns. The students are streamlit_client.BrowserSession with this plan in
place of browsing.
"""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass, field

from streamlit.proto.WidgetStates_pb2 import WidgetState

from .loadtest_report import _stats as stats
from .streamlit_client import BrowserSession

LESSON, STEP = "learning-without-labels", 1
PAGE = "Lessons"  # the URL path of pages/0_Lessons.py, as a shared link names it
RADIO, BUTTON = "Your answer", "Submit my answer"  # sslviz/ui/lesson_page.py's question widgets
SHOWN = re.compile(r"How the class voted: (\d+) vote")  # the presenter's tally heading


@dataclass
class Cue:
    """The teacher's signals to the class: vote now, then the end of the phase."""
    go: asyncio.Event = field(default_factory=asyncio.Event)
    leave: asyncio.Event = field(default_factory=asyncio.Event)


class Student(BrowserSession):
    """A tab on a lesson step: opens the link, picks `choice` after `think` s, presses the button within
    `spread` s of `cue.go`, stays until `cue.leave` (its fragments keep polling). choice None: the
    presenter, who only watches."""

    def __init__(self, url: str, index: int, query: str, choice: int | None, cue: Cue, spread: float = 1.0, **options):
        super().__init__(url, index, plan="lesson", **options)
        self.query, self.choice, self.cue, self.spread = query, choice, cue, spread
        self.shown_votes: int | None = None  # the last count a tally on this screen showed
        self.ready = choice is None  # on the step with an answer picked, the button enabled

    async def _browse(self, stop_at: float, reader: asyncio.Task) -> None:
        if not await self._interact("open", "", self.query, PAGE, page_name=PAGE):
            return
        if self.choice is not None:
            await asyncio.sleep(self.rng.uniform(*self.think))  # reads the question, then picks
            if not await self._pick():
                return
            self.ready = True
            if not await _wait(self.cue.go, stop_at, reader):
                self._error("timeout", "the vote was never called")
                return
            await asyncio.sleep(self.rng.uniform(0.0, self.spread))
            if not await self._press():
                return
        await _wait(self.cue.leave, stop_at, reader)

    async def _pick(self) -> bool:
        radio = self._find("radio", RADIO)
        if radio is None or not 0 <= self.choice < len(radio.proto.options):
            self._error("protocol", f"no “{RADIO}” radio with a choice {self.choice} on the step")
            return False
        self._sent[radio.proto.id] = WidgetState(id=radio.proto.id, string_value=radio.proto.options[self.choice])
        return await self._interact("widget", self._page_hash, self._query, RADIO, fragment_id=radio.fragment_id)

    async def _press(self) -> bool:
        button = self._find("button", BUTTON)
        if button is None or button.proto.disabled:
            self._error("protocol", f"no enabled “{BUTTON}” button after answering")
            return False
        press = WidgetState(id=button.proto.id, trigger_value=True)  # this rerun only: a click
        return await self._interact("vote", self._page_hash, self._query, BUTTON, once=(press,),
                                    fragment_id=button.fragment_id)

    def _find(self, kind: str, label: str):
        return next((w for w in self._widgets.values() if w.kind == kind and w.label() == label), None)

    def _on_delta(self, msg) -> None:
        super()._on_delta(msg)
        if msg.delta.WhichOneof("type") == "new_element" and msg.delta.new_element.WhichOneof("type") == "markdown":
            shown = SHOWN.search(msg.delta.new_element.markdown.body)
            if shown:
                self.shown_votes = int(shown.group(1))


async def _wait(event: asyncio.Event, stop_at: float, reader: asyncio.Task | None = None) -> bool:
    """Wait for `event` until `stop_at` (or the tab's connection ends); whether it came."""
    while not event.is_set() and time.monotonic() < stop_at and not (reader and reader.done()):
        try:
            await asyncio.wait_for(event.wait(), min(0.2, max(0.01, stop_at - time.monotonic())))
        except asyncio.TimeoutError:
            pass
    return event.is_set()


async def _until(ready, stop_at: float) -> None:
    while not ready() and time.monotonic() < stop_at:
        await asyncio.sleep(0.1)


async def vote_at_once(url: str, sessions: int, choices: int, lesson: str = LESSON, step: int = STEP,
                       spread: float = 1.0, ramp_seconds: float = 5.0, presenter: bool = True, settle: float = 15.0,
                       think: tuple[float, float] = (1.0, 3.0), timeout: float = 60.0,
                       seed: int = 0) -> tuple[list[Student], Student | None, dict]:
    """Open `sessions` students (and the presenter) on the step over `ramp_seconds`; once every tab is on
    it with an answer picked, call the vote; once every student has voted, give the presenter's screen
    up to `settle` s to show them all; then close every tab. Returns (students, presenter, waits: the
    seconds until every tab was ready, from the call to the last vote, and for the presenter)."""
    cue, query = Cue(), f"lesson={lesson}&step={int(step)}"
    students = [Student(url, i, query, i % choices, cue, spread, seed=seed, think=think, timeout=timeout)
                for i in range(sessions)]
    watcher = Student(url, sessions, query + "&present=1", None, cue, seed=seed, timeout=timeout) if presenter else None
    tabs = students + ([watcher] if watcher else [])
    stop_at = time.monotonic() + ramp_seconds + 4 * timeout  # a safety net: each wait below ends sooner

    async def one(tab: Student, delay: float) -> None:
        await asyncio.sleep(delay)
        await tab.run(stop_at)

    tasks = [asyncio.create_task(one(t, ramp_seconds * i / max(1, len(tabs)))) for i, t in enumerate(tabs)]
    t0 = time.monotonic()
    await _until(lambda: all((t.ready and t.interactions) or t.errors or k.done() for t, k in zip(tabs, tasks)),
                 stop_at)
    called = time.monotonic()
    cue.go.set()
    await _until(lambda: all(any(i.kind == "vote" for i in t.interactions) or t.errors or k.done()
                             for t, k in zip(students, tasks)), stop_at)
    voted = time.monotonic()
    await _until(lambda: watcher is None or watcher.shown_votes == sessions or watcher.errors,
                 min(stop_at, voted + settle))
    cue.leave.set()
    await asyncio.gather(*tasks)
    return students, watcher, {"waited_for_tabs": round(called - t0, 1), "vote_to_last_vote": round(voted - called, 1),
                               "presenter_caught_up": round(time.monotonic() - voted, 1)}


def vote_result(store, lesson: str, step: int, choices: int, students: list[Student], watcher: Student | None,
                waits: dict) -> dict:
    """What the class did and what the store kept: the tally against the answers sent, the timings."""
    from sslviz.teaching import classroom

    def kind(name: str, tabs) -> list:
        return [i for t in tabs for i in t.interactions if i.kind == name]

    tally = classroom.tally(store, lesson, step, choices)
    votes = kind("vote", students)
    errors = [e for t in students + ([watcher] if watcher else []) for e in t.errors]
    return {
        "lesson": lesson, "step": int(step), "sessions": len(students), "presenter": watcher is not None,
        "connected": sum(t.connected for t in students), "voted": len(votes),
        "tally": tally, "expected": [sum(t.choice == c for t in students) for c in range(choices)],
        "pressed_within_seconds": round(max(i.start for i in votes) - min(i.start for i in votes), 2) if votes
        else None,
        "presenter_showed": watcher.shown_votes if watcher else None,
        "latency": {"open": stats([i.seconds for i in kind("open", students)]),
                    "answer": stats([i.seconds for i in kind("widget", students)]),
                    "vote": stats([i.seconds for i in votes]),
                    "presenter fragment": stats([i.seconds for i in kind("fragment", [watcher] if watcher else [])])},
        "waits": waits,
        "session_errors": len(errors),
        "session_error_messages": list(dict.fromkeys(
            f"{e.kind} on {e.page}: {e.message.splitlines()[0] if e.message else ''}" for e in errors))[:10],
    }


def run_votes(url: str, store, sessions: int = 30, lesson: str = LESSON, step: int = STEP, **options) -> dict:
    """The vote phase against a running server whose run store is `store`; returns `vote_result`'s dict.
    options: vote_at_once's (spread, ramp_seconds, presenter, settle, think, timeout, seed)."""
    from sslviz.teaching.lessons import find

    found, number, problem = find(lesson, str(step))
    if found is None:
        raise ValueError(f"load test vote: {problem}")
    choices = len(found.step(number).choices)
    students, watcher, waits = asyncio.run(vote_at_once(url, sessions, choices, lesson, number, **options))
    return vote_result(store, lesson, number, choices, students, watcher, waits)
