"""Real browser: every step of every lesson, walked as a student walks it, on a fresh store with the shipped
zoo installed; and a class: a student's vote reaches the presenter's screen, whose reveal reaches the student.

The walk is sslviz/server/lesson_walk.py (the same as `python -m sslviz bench lessons`): the → key, the
step's header, its view on the screen, its question, a vote, "Show me the answer", the right answer."""

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]
ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"


@pytest.fixture(scope="module")
def zoo_server(tmp_path_factory):
    """A fresh store with the shipped runs the lessons use installed (as after a teacher's first start), served
    by `streamlit run`."""
    import torch
    from conftest import _free_port

    from sslviz.teaching.lessons import lessons
    from sslviz.teaching.pretrained import lite
    from sslviz.teaching.pretrained.install import install
    from sslviz.training.runs import RunStore

    tmp = tmp_path_factory.mktemp("lessons")
    runs = tmp / "runs"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:  # the entries the lessons use (the whole zoo takes minutes more), the experiment, the lite runs
        store = RunStore(runs)
        names = list(dict.fromkeys(n for lesson in lessons().values() for n in lesson.runs()))
        errors = []
        install(store, names=names, log=errors.append)
        lite.install_locked(store, log=errors.append)
        assert errors == []
    finally:
        torch.set_num_threads(threads)
    port = _free_port()
    env = dict(os.environ, SSLVIZ_HOME=str(runs), PYTHONPATH=str(ROOT), SSLVIZ_PRETRAINED="0")
    env.pop("SSLVIZ_NO_LIVE", None)
    log = open(tmp / "streamlit.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless=true",
                             f"--server.port={port}", "--server.address=127.0.0.1", "--browser.gatherUsageStats=false",
                             "--server.fileWatcherType=none"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                break
        except OSError:
            time.sleep(0.5)
    yield url, runs
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


def test_every_step_of_every_lesson_shows_its_view_its_question_and_after_the_reveal_its_answer(zoo_server, browser):
    from sslviz.server.lesson_walk import walk
    from sslviz.teaching.lessons import lessons

    url, _ = zoo_server
    ARTIFACTS.mkdir(exist_ok=True)
    page = browser.new_page(viewport={"width": 1400, "height": 1800})
    bad = []

    def check(r):  # at the step itself: a screenshot of what was on the screen
        if not (r["view_ok"] and r["question_ok"] and r["answer_ok"]):
            bad.append(r)
            page.screenshot(path=str(ARTIFACTS / f"lesson-{r['lesson']}-{r['step']}.png"), full_page=True)

    for lesson in lessons().values():
        walk(page, url, lesson, vote=True, timeout=120, on_step=check)
    errors = page.locator('[data-testid="stException"]').count()
    page.close()
    assert bad == [] and errors == 0, bad


def test_a_student_votes_and_the_presenter_sees_it_then_reveals_to_the_student(zoo_server, browser):
    from sslviz.server.lesson_walk import plain
    from sslviz.teaching import classroom
    from sslviz.teaching.lessons import lessons
    from sslviz.training.runs import RunStore

    url, runs = zoo_server
    lesson = lessons()["choosing-a-method"]
    step = lesson.step(5)
    classroom.new_class(RunStore(runs), lesson.id)
    teacher = browser.new_context().new_page()
    student = browser.new_context().new_page()  # another browser session, joined by the shared link
    link = f"{url}/Lessons?lesson={lesson.id}&step=5"
    teacher.goto(link + "&present=1")
    teacher.get_by_text("How the class voted: 0 votes").wait_for(timeout=120_000)
    student.goto(link)
    student.get_by_text(plain(step.question)).wait_for(timeout=120_000)
    assert student.get_by_text("How the class voted").count() == 0  # students don't see the tally
    student.get_by_text("B. " + step.choices[1], exact=True).click()
    student.get_by_role("button", name="Submit my answer").click()
    student.get_by_text("Your answer is in").wait_for(timeout=30_000)
    teacher.get_by_text("How the class voted: 1 vote").wait_for(timeout=30_000)  # the presenter's poll
    teacher.get_by_role("button", name="Reveal the answer to the class").click()
    student.get_by_text(f"Answer: {chr(65 + step.answer)}.").wait_for(timeout=30_000)  # the student's poll
    student.get_by_text("You answered B.").wait_for(timeout=5_000)
    teacher.screenshot(path=str(ARTIFACTS / "lesson-presenter.png"), full_page=True)
    student.screenshot(path=str(ARTIFACTS / "lesson-student.png"), full_page=True)
