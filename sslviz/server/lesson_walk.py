"""Walk a lesson in a real browser, as a student would: every step, its view, its question, a vote, the reveal.

Shared by the browser test (tests/test_browser_lessons.py) and `python -m sslviz bench lessons`
(bench/bench_lessons.py): `walk(page, url, lesson)` opens step 1, then presses the → key (the
"Next" button's shortcut) for every next step, and for each one records

    shown      seconds from the key press to the step's header on screen
    drawn      seconds until the step is fully drawn: its footer line is there (the script reached
               the end) and no view still says it is computing in the background
    view_ok    the view put what it draws on the screen (an image, a figure, a table, ...), and no error
    answer_ok  after a vote and "Show me the answer", the step's answer is on the screen

`page` is a Playwright page (sync API) of a browser the caller launched; nothing here starts one.
"""

from __future__ import annotations

import time

# What each view draws, as a CSS selector inside the step's view box (sslviz/ui/lesson_views.py,
# drawn in the container keyed "lesson-view" by sslviz/ui/lesson_page.py).
VIEW_BOX = ".st-key-lesson-view"
VIEW_SELECTORS = {
    "text": '[data-testid="stMarkdownContainer"] p, [data-testid="stMarkdownContainer"] li',
    "images": "img",
    "pretext": "img",
    "live-train": 'button:has-text("Start"), .js-plotly-plot',
    "curves": ".js-plotly-plot",
    "evolution": ".js-plotly-plot",
    "label-efficiency": ".js-plotly-plot",
    "factor-probe": ".js-plotly-plot",
    "card": '[data-testid="stCode"]',
    "leaderboard": '[data-testid="stDataFrame"]',
    "compare-curves": ".js-plotly-plot",
    "alignment-uniformity": ".js-plotly-plot",
    "temperature": ".js-plotly-plot",
    "temperature-runs": '[data-testid="stDataFrame"], .js-plotly-plot',
    "collapse": '[data-testid="stDataFrame"], .js-plotly-plot',
    "map-check": ".js-plotly-plot",
}
# Words a view shows while its result is still being computed in the background.
BUSY = ("in the background", "Fitting the linear", "Scoring the run", "computing", "projecting snapshot",
        "Computing", "installs in the background")
_BUSY_JS = """(words) => {
    const text = [...document.querySelectorAll('[data-testid="stAlert"], [data-testid="stProgress"], [data-testid="stCaptionContainer"]')]
        .map(e => e.innerText).join(' ');
    return !words.some(w => text.includes(w));
}"""


def plain(markdown: str) -> str:
    """A question's text as the browser shows it (its Markdown marks gone): what to look for on the page."""
    return markdown.replace("**", "").replace("`", "").replace("*", "")


def _footer(lesson, number: int) -> str:
    return f"step {number} of {len(lesson.steps)}"


def wait_drawn(page, lesson, number: int, timeout: float = 60.0) -> tuple[float, bool]:
    """Block until step `number` is fully drawn: its footer is there, no view says it is still computing,
    and what the view draws is on the screen. Returns (the monotonic time it was seen so, whether the
    view's element appeared within `timeout`)."""
    page.get_by_text(_footer(lesson, number), exact=False).first.wait_for(timeout=timeout * 1000)
    page.wait_for_function(_BUSY_JS, arg=list(BUSY), timeout=timeout * 1000, polling=100)
    selector = VIEW_SELECTORS.get(lesson.step(number).view, "*")
    try:
        page.locator(VIEW_BOX).locator(selector).first.wait_for(state="attached", timeout=timeout * 1000)
    except Exception:  # noqa: BLE001 - Playwright's timeout: reported as a view that did not draw
        return time.monotonic(), False
    failed = page.locator(VIEW_BOX).locator('[data-testid="stException"], [data-testid="stAlertContentError"]').count()
    return time.monotonic(), failed == 0


def step_result(page, lesson, number: int, pressed: float, timeout: float = 60.0, vote: bool = True) -> dict:
    step = lesson.step(number)
    page.get_by_role("heading", name=f"{number}. {step.title}").first.wait_for(timeout=timeout * 1000)
    shown = time.monotonic() - pressed
    seen, view_ok = wait_drawn(page, lesson, number, timeout)
    drawn = seen - pressed
    question_ok = page.get_by_text(plain(step.question), exact=False).count() > 0
    answer_ok = None
    if vote:
        letter = chr(65 + step.answer)
        page.get_by_text(f"{letter}. {step.answer_text}", exact=True).first.click()
        page.get_by_role("button", name="Submit my answer").click()
        page.get_by_text("Your answer is in", exact=False).first.wait_for(timeout=timeout * 1000)
        page.get_by_role("button", name="Show me the answer").click()
        page.get_by_text(f"Answer: {letter}.", exact=False).first.wait_for(timeout=timeout * 1000)
        answer_ok = page.get_by_text("Right.", exact=False).count() > 0
    return {"lesson": lesson.id, "step": number, "title": step.title, "view": step.view, "shown": shown,
            "drawn": drawn, "view_ok": view_ok, "question_ok": question_ok, "answer_ok": answer_ok}


def walk(page, url: str, lesson, vote: bool = True, timeout: float = 60.0, on_step=None) -> list[dict]:
    """Every step of `lesson`: open step 1, then → for each next step. `on_step(result)` after each."""
    results = []
    pressed = time.monotonic()
    page.goto(f"{url}/Lessons?lesson={lesson.id}&step=1")
    for number in range(1, len(lesson.steps) + 1):
        if number > 1:
            page.evaluate("document.activeElement && document.activeElement.blur()")  # the arrow key is the page's
            pressed = time.monotonic()
            page.keyboard.press("ArrowRight")
        result = step_result(page, lesson, number, pressed, timeout, vote)
        results.append(result)
        if on_step is not None:
            on_step(result)
    return results
