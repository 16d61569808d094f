"""Lessons as data (sslviz/teaching/lessons.py), the class's votes and reveals (classroom.py), the handout,
and the Lessons page through streamlit.testing (live refresh off)."""

import threading
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from sslviz.teaching import classroom
from sslviz.teaching.lessons import LessonError, check_failures, find, lessons, read_lesson, shipped_summaries

ROOT = Path(__file__).resolve().parent.parent
GOOD_STEP = """
[[steps]]
title = "t{i}"
view = "text"
settings = {{ text = "hello" }}
question = "q{i}?"
choices = ["a", "b"]
answer = 1
reveal = "because"
notes = "say it"
minutes = 4
"""


def _lesson_file(tmp_path, steps: int = 10, extra: str = "", name: str = "x.toml") -> Path:
    path = tmp_path / name
    path.write_text('id = "x"\ntitle = "X"\nsummary = "s"\n' + "".join(GOOD_STEP.format(i=i) for i in range(steps)) + extra)
    return path


def test_the_shipped_lessons_are_classes_of_about_45_minutes_with_a_view_a_question_and_an_answer_per_step():
    from sslviz.ui.lesson_views import VIEWS

    found = lessons()
    assert {"learning-without-labels", "inside-contrastive-learning", "choosing-a-method"} <= set(found)
    for lesson in found.values():
        assert 10 <= len(lesson.steps) <= 14, lesson.id
        assert 38 <= lesson.minutes <= 50, (lesson.id, lesson.minutes)
        for step in lesson.steps:
            assert step.view in VIEWS, (lesson.id, step.title, step.view)
            assert step.question.strip() and step.reveal and step.notes, step.title
            assert 0 <= step.answer < len(step.choices) >= 2


def test_every_claim_a_lesson_rests_on_holds_for_the_shipped_runs():
    """A step's answer that rests on the zoo's figures states them as checks; all must hold, and every
    run a step names must ship."""
    from sslviz.teaching.lessons import run_names
    from sslviz.teaching.pretrained import available

    summaries = shipped_summaries()
    shipped = set(available())
    failures, checked = [], 0
    for lesson in lessons().values():
        for step in lesson.steps:
            failures += check_failures(step, summaries)
            checked += len(step.checks)
            for name in run_names(step.settings):
                assert name in shipped, (lesson.id, step.title, name)
    assert failures == [] and checked >= 10


def test_a_check_that_does_not_hold_is_reported_in_words(tmp_path):
    extra = GOOD_STEP.format(i="c").replace('minutes = 4', 'minutes = 4\nchecks = [["a.knn", ">", "b.knn"]]')
    lesson = read_lesson(_lesson_file(tmp_path, 10, extra))
    assert check_failures(lesson.steps[-1], {"a": {"knn": 0.5}, "b": {"knn": 0.7}}) == \
        ["tc: a.knn = 0.500 is not > b.knn = 0.700 by more than 0.02"]
    assert check_failures(lesson.steps[-1], {"a": {"knn": 0.9}, "b": {"knn": 0.7}}) == []
    # two runs level within the noise (LEVEL, 2 points) are not a win: the margin is asserted, not a bare ">"
    assert check_failures(lesson.steps[-1], {"a": {"knn": 0.715}, "b": {"knn": 0.7}}) == \
        ["tc: a.knn = 0.715 is not > b.knn = 0.700 by more than 0.02"]
    assert check_failures(lesson.steps[-1], {"a": {"knn": 0.721}, "b": {"knn": 0.7}}) == []
    with pytest.raises(LessonError, match="no shipped run 'a'"):
        check_failures(lesson.steps[-1], {})


@pytest.mark.parametrize("mutate, message", [
    (lambda t: t.replace('answer = 1', 'answer = 5', 1), "step 1: `answer` 5 is not one of the 2 choices"),
    (lambda t: t.replace('question = "q0?"\n', '', 1), "step 1: missing `question`"),
    (lambda t: t.replace('minutes = 4', 'minutes = "four"', 1), "step 1: `minutes` should be a number"),
    (lambda t: t.replace('view = "text"', 'view = "text"\ncolour = 1', 1), "step 1: unknown key(s) colour"),
    (lambda t: t + "[[steps", "cannot read it"),
])
def test_a_broken_lesson_file_is_one_line_naming_the_file_and_the_field(tmp_path, mutate, message):
    path = _lesson_file(tmp_path)
    path.write_text(mutate(path.read_text()))
    with pytest.raises(LessonError) as err:
        read_lesson(path)
    assert "x.toml" in str(err.value) and message in str(err.value) and "\n" not in str(err.value)


def test_a_lesson_has_10_to_14_steps(tmp_path):
    with pytest.raises(LessonError, match="9 steps; a lesson has 10 to 14"):
        read_lesson(_lesson_file(tmp_path, 9))
    assert len(read_lesson(_lesson_file(tmp_path, 14)).steps) == 14


def test_a_link_to_an_unknown_lesson_or_step_gives_one_line_and_the_list():
    lesson = lessons()["learning-without-labels"]
    assert find("learning-without-labels", "3") == (lesson, 3, None)
    assert find("learning-without-labels", None) == (lesson, 1, None)
    assert find(None, None) == (None, 0, None)
    assert find("no-such", "1")[2] == "There is no lesson called “no-such”: pick one below."
    for bad in ("0", "99", "two"):
        none, number, problem = find("learning-without-labels", bad)
        assert none is None and number == 0 and f"there is no step {bad}" in problem


# ---- the class's votes --------------------------------------------------------------------------

def test_one_vote_per_session_and_step_counted_per_class_and_cleared_by_a_new_class(store):
    classroom.vote(store, "l", 2, "aaaa", 1)
    classroom.vote(store, "l", 2, "bbbb", 1)
    classroom.vote(store, "l", 2, "aaaa", 0)  # changed their mind: still one vote
    classroom.vote(store, "l", 3, "aaaa", 2)
    classroom.vote(store, "other", 2, "cccc", 0)
    assert classroom.tally(store, "l", 2, 3) == [1, 1, 0]
    assert classroom.my_vote(store, "l", 2, "aaaa") == 0 and classroom.my_vote(store, "l", 2, "zzzz") is None
    classroom.reveal(store, "l", 2)
    assert classroom.revealed(store, "l", 2) and not classroom.revealed(store, "l", 3)
    assert classroom.new_class(store, "l") == 1
    assert classroom.tally(store, "l", 2, 3) == [0, 0, 0] and not classroom.revealed(store, "l", 2)
    assert classroom.tally(store, "other", 2, 3) == [1, 0, 0]  # another lesson's class is untouched
    with store.database() as db:  # nothing of the old class is kept
        assert db.execute("SELECT COUNT(*) FROM lesson_votes WHERE lesson = 'l'").fetchone()[0] == 0


def test_thirty_students_voting_at_once_are_all_counted(store):
    barrier = threading.Barrier(30)

    def student(i):
        barrier.wait()
        classroom.vote(store, "l", 1, f"s{i:02d}", i % 3)

    threads = [threading.Thread(target=student, args=(i,)) for i in range(30)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert classroom.tally(store, "l", 1, 3) == [10, 10, 10]


def test_the_live_step_starts_one_run_per_class(store):
    made = []

    def start():
        made.append(f"run-{len(made)}")
        return made[-1]

    assert classroom.claim_live_run(store, "l", 4, start) == "run-0"
    assert classroom.claim_live_run(store, "l", 4, start) == "run-0" and made == ["run-0"]  # the class's run
    classroom.new_class(store, "l")
    assert classroom.live_run(store, "l", 4) is None
    assert classroom.claim_live_run(store, "l", 4, start) == "run-1"


# ---- the handout -----------------------------------------------------------------------------------

def test_the_handout_is_one_self_contained_page_with_every_question_its_answer_and_the_runs_figures():
    from sslviz.plots.handout import handout_html

    lesson = lessons()["learning-without-labels"]
    run = {"id": "simclr-abc", "summary": {"knn_accuracy": 0.875, "knn_pixels": 0.298, "seconds": 300.0}}
    rows = [{"step": s, "epoch": s, "elapsed": s, "name": n, "value": v} for s in range(3)
            for n, v in (("loss", 5.0 - s), ("knn_accuracy", 0.3 + 0.2 * s), ("knn_pixels", 0.298))]
    page = handout_html(lesson, {"simclr-shapes": (run, rows)}, None, {"simclr-shapes": "SimCLR on shapes"})
    assert page.startswith("<!DOCTYPE html>")
    assert "<script src" not in page and "<link" not in page and "<img src=\"http" not in page  # nothing fetched: offline
    assert page.count("<script") == 1 + page.count("Plotly.newPlot")  # plotly.js inline once, then one per figure
    for step in lesson.steps:
        assert step.question.replace("'", "&#x27;").replace('"', "&quot;") in page, step.title
        assert f"Answer: {chr(65 + step.answer)}." in page
    assert page.count("Plotly.newPlot") >= 1 and "0.875" in page  # the run's curves and figures
    assert "<strong>58 hours</strong>" in page  # the reveal's markdown, rendered


def test_markdown_subset_escapes_everything_else():
    from sslviz.plots.handout import markdown_html

    out = markdown_html("A **b** and `c<d>`\n\n- one\n- two *x*\n\n<script>alert(1)</script>")
    assert out == ("<p>A <strong>b</strong> and <code>c&lt;d&gt;</code></p>\n<ul><li>one</li><li>two <em>x</em></li></ul>\n"
                   "<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>")


# ---- the page ------------------------------------------------------------------------------------

@pytest.fixture
def no_live(monkeypatch, runs_dir):
    monkeypatch.setenv("SSLVIZ_NO_LIVE", "1")


def _page(**params) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    for k, v in params.items():
        at.query_params[k] = v
    return at.switch_page("pages/0_Lessons.py").run()


def test_the_page_lists_the_lessons_and_a_bad_link_says_so_in_one_line(no_live):
    at = _page()
    assert not at.exception
    text = " ".join(m.value for m in at.markdown)
    assert all(lesson.title in " ".join(h.value for h in at.subheader) for lesson in lessons().values())
    at = _page(lesson="learning-without-labels", step="40")
    assert [w.value for w in at.warning] == ["“Learning without labels” has steps 1 to 12; there is no step 40: pick one below."]
    assert "Each lesson is a path" in text


def test_a_step_shows_its_question_takes_a_vote_and_reveals_the_answer(no_live, store):
    at = _page(lesson="learning-without-labels", step="1")
    assert not at.exception
    step = lessons()["learning-without-labels"].step(1)
    assert at.header[0].value == "1. Images are cheap, labels are not"
    assert any(step.question in m.value for m in at.markdown)
    assert len(at.image) >= 1 and len(at.image[0].proto.imgs) == 40  # the view: a grid of unlabelled digits
    at.radio(key="lesson-learning-without-labels-1-choice").set_value(2).run()
    at.button(key="lesson-learning-without-labels-1-vote").click().run()
    assert classroom.tally(store, "learning-without-labels", 1, 4) == [0, 0, 1, 0]
    assert not at.info or "Answer:" not in " ".join(i.value for i in at.info)
    at.button(key="lesson-learning-without-labels-1-self").click().run()
    answer = " ".join(i.value for i in at.info)
    assert "Answer: C. About 58 hours of work" in answer
    assert any("Right." in s.value for s in at.success)


def test_the_presenter_sees_the_votes_and_reveals_to_every_screen(no_live, store):
    classroom.vote(store, "learning-without-labels", 2, "student1", 1)
    classroom.vote(store, "learning-without-labels", 2, "student2", 0)
    at = _page(lesson="learning-without-labels", step="2", present="1")
    assert not at.exception
    assert any("How the class voted: 2 votes" in m.value for m in at.markdown)
    at.button(key="lesson-reveal-2").click().run()
    assert classroom.revealed(store, "learning-without-labels", 2)
    student = _page(lesson="learning-without-labels", step="2")  # another session: sees the reveal
    assert "Answer: B." in " ".join(i.value for i in student.info)
    at.button(key="lesson-new-class").click().run()
    assert classroom.tally(store, "learning-without-labels", 2, 3) == [0, 0, 0]


def test_next_and_back_move_the_step_in_the_url(no_live):
    at = _page(lesson="choosing-a-method", step="3")
    at.button(key="lesson-next").click().run()
    assert at.query_params["step"] == ["4"] or at.query_params["step"] == "4"
    assert at.header[0].value.startswith("4. ")
    at.button(key="lesson-back").click().run()
    at.button(key="lesson-back").click().run()
    assert at.header[0].value.startswith("2. ")


# ---- the warm-up: every step opens at once ------------------------------------------------------

def test_the_warm_up_fills_the_caches_the_slow_views_read(store, monkeypatch):
    """The factor probe and the evolution of a lesson's shipped run, computed ahead: afterwards the views'
    own calls are answered from the run's folder (the fitting and projecting functions are not called)."""
    from dataclasses import replace

    from zoo_support import install_tiny_zoo

    from sslviz.embeddings import alignment, factor_probe
    from sslviz.embeddings import embedding as E
    from sslviz.embeddings.projection import load_cached
    from sslviz.teaching.lesson_cache import evolution_params, warm_jobs, warm_step

    ids = install_tiny_zoo(store, monkeypatch)
    base = lessons()["learning-without-labels"]
    steps = (replace(base.steps[5], settings={"run": "tiny-simclr-shapes"}),  # evolution
             replace(base.steps[7], settings={"run": "tiny-simclr-shapes"}),  # factor probe
             replace(base.steps[0], settings={"run": "tiny-simclr-shapes"}))  # images: nothing slow
    jobs = warm_jobs(store, [replace(base, steps=steps)])
    assert sorted(args[1] for _, args in jobs) == ["evolution", "factor-probe"]
    assert warm_jobs(store, [replace(base, steps=(replace(steps[1], settings={"run": "not-installed"}),))]) == []
    for _, args in jobs:
        assert warm_step(*args) == ids["tiny-simclr-shapes"]

    def fail(*a, **k):
        raise AssertionError("computed again: the warm-up's cache was not used")

    monkeypatch.setattr(factor_probe, "probe", fail)
    run_id = ids["tiny-simclr-shapes"]
    assert set(factor_probe.probe_run(store, run_id, None)) == set(factor_probe.SOURCES)
    run_dir = store.run_dir(run_id)
    params = evolution_params({}).validate()
    _, feats, caches = alignment.sequence_inputs(run_id, run_dir, alignment.frame_epochs(E.snapshot_epochs(run_dir)), params)
    assert len(feats) >= 2
    assert load_cached(caches[-1], params, len(feats[-1])) is not None  # the last frame: the Explore view's own cache
    chained = [p.with_name(f"{p.stem}-seq-to-{caches[-1].stem}.npz") for p in caches[:-1]]
    assert all(load_cached(p, params, len(f)) is not None for p, f in zip(chained, feats))
