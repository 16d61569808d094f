"""The classroom load test, short: 30 real Streamlit sessions browse every page while a run trains, then vote.

The runner and the client are sslviz/server/loadtest.py and sslviz/server/streamlit_client.py; the full
30 sessions x 120 s with its latency targets is the benchmark (`python -m sslviz bench load`).
Here: no timing assertion, only behaviour (every tab connected and browsed, every page served,
no error of any session or of the server, the run kept training, every vote counted). A second test runs the same
machinery on a small app with a page that raises, a live fragment and widgets, and proves that
the client sees what a browser would: the exception, the fragment reruns, the widget changes.
A third has a class vote at once on a lesson step (issue 23 point 6) and counts the votes in the store.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

from sslviz.server.loadtest import run_load_test
from sslviz.teaching.lessons import lessons
from sslviz.server.loadtest_report import format_summary


def test_thirty_sessions_browse_every_page_while_a_run_trains_then_vote_at_once(add_finished_run):
    recap = len(lessons()["learning-without-labels"].steps)  # a text view: the vote is what is loaded
    result = run_load_test(sessions=30, seconds=20, baseline_seconds=3, ramp_seconds=3, think=(1.0, 3.0),
                           pretrained=False, setup=add_finished_run, votes=30, vote_step=recap)
    print(format_summary(result))  # shown when the test fails (or with -s)
    report = (f"session errors: {result['session_error_messages']}\nserver errors: {result['server_errors'][:5]}"
              f"\ntraining: {result['training']}")

    assert result["sessions_connected"] == 30, report
    # every page the sidebar lists (discovered at run time: app.py and each file in pages/) was served
    assert len(result["pages"]) == len(result["page_files"]), (result["pages"], result["page_files"])
    for page in result["pages"]:
        assert result["latency"]["per_page"][page]["n"] > 0, f"no interaction completed on {page}"
        assert result["latency"]["per_page"][page]["max"] is not None
    # each tab opened the app and then completed at least one page of its own tour
    assert min(result["interactions_per_session"]) >= 2, result["interactions_per_session"]
    assert result["latency"]["overall"]["n"] == result["interactions"] == sum(result["interactions_per_session"])
    assert result["session_errors"] == 0, report
    assert result["server_errors"] == [] and result["server_alive"], report
    assert result["page_exceptions_logged"] == 0, report
    training = result["training"]
    assert training["under_load"]["steps"] > 0, report
    assert training["status_after_load"] == "running", report
    assert training["final_status"] != "failed", report
    # then the class answered the recap's question at once: one vote per tab, each with the answer it sent
    votes = result["votes"]
    assert votes["session_errors"] == 0, votes["session_error_messages"]
    assert votes["voted"] == 30 and votes["latency"]["vote"]["n"] == 30
    assert sum(votes["tally"]) == 30 and votes["tally"] == votes["expected"], votes
    assert votes["presenter_showed"] == 30, votes


FAKE_APP = {
    "app.py": """
        import streamlit as st
        st.title("home")
        st.checkbox("a box")
    """,
    "pages/1_Broken.py": """
        import streamlit as st
        st.title("broken")
        raise ValueError("this page is broken on purpose")
    """,
    "pages/2_Live.py": """
        import time
        import streamlit as st
        colour = st.selectbox("colour", ["red", "green", "blue"])
        size = st.radio("size", ["s", "m", "l"], horizontal=True)
        n = st.slider("n", 1, 10, 3)
        st.code("big element " * 2000)  # over 10 kB: the browser's message cache serves it on a rerun
        with open("seen.log", "a") as log:  # what the server made of the tabs' widget states
            log.write(f"page {colour} {size} {n}\\n")

        @st.fragment(run_every=0.3)
        def ticker():
            st.write(colour, time.time())
            with open("seen.log", "a") as log:
                log.write("fragment\\n")

        ticker()
    """,
}


def test_client_sees_page_exceptions_live_fragments_and_widget_changes(tmp_path):
    for name, text in FAKE_APP.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(textwrap.dedent(text))
    result = run_load_test(sessions=3, seconds=6, ramp_seconds=1, think=(0.3, 0.8), widget_probability=1.0,
                           train=False, pretrained=False, root=tmp_path)

    assert result["pages"] == ["app", "Broken", "Live"]
    assert result["sessions_connected"] == 3
    kinds = result["session_error_kinds"]
    assert set(kinds) == {"exception on Broken"}, result["session_error_messages"]
    assert any("ValueError: this page is broken on purpose" in m for m in result["session_error_messages"])
    assert result["page_exceptions_logged"] >= 1  # the server logged it too, but it is not a server error
    assert result["server_errors"] == []
    assert result["latency"]["fragment_per_page"]["Live"]["n"] > 0  # the run_every timer was honoured
    assert result["latency"]["by_kind"]["widget"]["n"] > 0  # widgets changed (only Live and app have any)
    assert "Broken" not in result["latency"]["fragment_per_page"]
    assert result["media"]["from_cache"] > 0  # the server sent ref_hash for what the tab said it holds
    seen = (tmp_path / "seen.log").read_text().splitlines()
    assert "fragment" in seen  # fragment reruns ran the fragment only
    assert len({line for line in seen if line.startswith("page ")}) > 1  # changed values reached the script


def test_a_stray_traceback_in_the_server_log_is_reported_with_where_it_was_raised():
    from sslviz.server.loadtest import server_errors

    log = "\n".join([
        "2026-12-03 20:00:00.000 INFO sslviz: started",
        "Traceback (most recent call last):",
        '  File "/x/threading.py", line 1, in run',
        "    self._target()",
        '  File "/x/sslviz/embeddings/embedding.py", line 42, in load',
        "    open(path)",
        "FileNotFoundError: [Errno 2] No such file or directory: 'snap.npz'",
        "2026-12-03 20:00:01.000 INFO sslviz: still serving",
    ])
    errors, scripts = server_errors(log)
    assert scripts == 0 and len(errors) == 1
    assert 'File "/x/sslviz/embeddings/embedding.py", line 42, in load' in errors[0]
    assert errors[0].endswith("FileNotFoundError: [Errno 2] No such file or directory: 'snap.npz'")


def test_a_class_votes_at_once_and_the_store_counts_one_vote_per_session(tmp_path):
    """Five students open a lesson step by its link, pick answers, press "Submit my answer" together
    while the presenter's screen polls the tally: every vote arrives, once, with the answer sent.
    The step is the recap (a text view), so that the test spends its time on the vote, not a figure."""
    from sslviz.server.lesson_load import run_votes
    from sslviz.server.loadtest import healthy, server_errors, start_server, stop_process
    from sslviz.server.loadtest_report import format_votes
    from sslviz.teaching.lessons import lessons
    from sslviz.training.runs import RunStore

    lesson = lessons()["learning-without-labels"]
    step = len(lesson.steps)
    assert lesson.steps[-1].view == "text"
    store = RunStore(tmp_path / "runs")
    proc, url = start_server(tmp_path / "runs", tmp_path / "streamlit.log")
    try:
        votes = run_votes(url, store, sessions=5, lesson=lesson.id, step=step, ramp_seconds=1.0, think=(0.3, 0.8))
        alive = healthy(url)
    finally:
        stop_process(proc)
    print("\n".join(format_votes(votes)))

    assert votes["session_errors"] == 0, votes["session_error_messages"]
    assert votes["connected"] == 5 and votes["voted"] == 5 and votes["latency"]["vote"]["n"] == 5
    choices = len(lesson.steps[-1].choices)
    assert votes["expected"] == [sum(1 for i in range(5) if i % choices == c) for c in range(choices)]
    assert votes["tally"] == votes["expected"]  # each session's answer, once
    with store.database() as db:  # one row per browser session, each its own voter
        voters = db.execute("SELECT COUNT(DISTINCT voter), COUNT(*) FROM lesson_votes WHERE lesson = ? AND step = ?",
                            (lesson.id, step)).fetchone()
    assert tuple(voters) == (5, 5)
    assert votes["presenter_showed"] == 5  # the presenter's tally fragment showed them all
    assert votes["latency"]["presenter fragment"]["n"] > 0
    errors, page_exceptions = server_errors((tmp_path / "streamlit.log").read_text(errors="replace"))
    assert errors == [] and page_exceptions == 0 and alive, errors


FRAGMENT_LESSON = """
    import os
    import streamlit as st
    from sslviz.teaching import classroom
    from sslviz.training.runs import RunStore

    store, me = RunStore(os.environ["SSLVIZ_HOME"]), st.session_state.setdefault("me", os.urandom(4).hex())
    lesson, step = st.query_params["lesson"], int(st.query_params["step"])
    with open("full.log", "a") as log:
        log.write("full\\n")

    @st.fragment
    def question():
        pick = st.radio("Your answer", range(3), index=None, format_func=lambda i: "ABC"[i], key="pick")
        if st.button("Submit my answer", disabled=pick is None):
            classroom.vote(store, lesson, step, me, int(pick))

    question()
    if st.query_params.get("present") == "1":
        @st.fragment(run_every=0.5)
        def tally():
            st.markdown(f"How the class voted: {sum(classroom.tally(store, lesson, step, 3))} votes")

        tally()
"""


def test_a_question_drawn_in_a_fragment_is_answered_by_fragment_reruns(tmp_path, monkeypatch):
    """Where the page draws its question in a fragment, a student's pick and press rerun that fragment
    only (as a browser's would), and the votes still arrive: the page itself ran once per tab."""
    from sslviz.server.lesson_load import run_votes
    from sslviz.server.loadtest import start_server, stop_process
    from sslviz.training.runs import RunStore

    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).resolve().parents[1]))  # the page imports sslviz
    (tmp_path / "pages").mkdir()
    (tmp_path / "app.py").write_text("import streamlit as st\nst.title('home')\n")
    (tmp_path / "pages" / "0_Lessons.py").write_text(textwrap.dedent(FRAGMENT_LESSON))
    store = RunStore(tmp_path / "runs")
    proc, url = start_server(tmp_path / "runs", tmp_path / "streamlit.log", root=tmp_path)
    try:  # the recap of "learning-without-labels" has 3 choices, as this page
        votes = run_votes(url, store, sessions=3, step=len(lessons()["learning-without-labels"].steps),
                          ramp_seconds=0.5, think=(0.2, 0.4))
    finally:
        stop_process(proc)
    assert votes["session_errors"] == 0, votes["session_error_messages"]
    assert votes["voted"] == 3 and votes["tally"] == votes["expected"] == [1, 1, 1]
    assert votes["presenter_showed"] == 3
    assert (tmp_path / "full.log").read_text().split() == ["full"] * 4  # 3 students and the presenter opened it
