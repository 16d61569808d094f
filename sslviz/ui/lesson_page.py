"""The Lessons page: the list of lessons, and one step of one lesson as a class follows it.

The address holds the place: `?lesson=<id>&step=<n>` (n from 1), so a teacher shares the link of any
step and a student who missed the class follows it alone; `?present=1` is presentation mode (large
fonts), which also makes this screen the presenter's: it shows how the class voted and reveals the
answer to every screen. Back / Next are buttons with the arrow keys as shortcuts.

Each step: its view (sslviz/ui/lesson_views.py, drawn in place with the step's settings), one
question (everyone commits to an answer before seeing the model's), the reveal, and the teacher's
notes, which the presenter can show or hide. Votes and reveals live in the run store
(sslviz/teaching/classroom.py), so a second browser session sees them; nothing here trains or
computes: the views hand that to the worker and the compute child as on every other page.
"""

from __future__ import annotations

import streamlit as st

from sslviz.teaching import classroom
from sslviz.teaching.lessons import Lesson, lessons

from .common import page_link, presenting, refresh_every, session_owner, store, style_figure
from .lesson_views import StepContext, draw

PAGE = "pages/0_Lessons.py"


def warm_up() -> None:
    """Queue the slow parts of every lesson's views on the shipped runs (sslviz/teaching/lesson_cache.py) at
    the lowest priority in the compute child; cached on disk, so once per store. Cheap to call on every load."""
    from sslviz.embeddings.projection_jobs import jobs
    from sslviz.teaching.lesson_cache import warm_jobs, warm_step

    for key, args in warm_jobs(store(), lessons().values()):
        jobs().submit_to_child(key, warm_step, *args, priority=2)


def lesson_list(problem: str | None = None) -> None:
    """Every lesson with its steps, each a link; `problem` (a bad link) first, in one line."""
    if problem:
        st.warning(problem)
    for lesson in lessons().values():
        with st.container(border=True):
            st.subheader(lesson.title)
            st.caption(f"{len(lesson.steps)} steps · about {lesson.minutes:.0f} minutes")
            st.markdown(lesson.summary)
            page_link(PAGE, "Start this lesson", icon=":material/play_arrow:",
                      query_params={"lesson": lesson.id, "step": "1"})
            with st.expander("The steps"):
                for i, s in enumerate(lesson.steps, 1):
                    page_link(PAGE, f"{i}. {s.title} ({s.minutes:.0f} min)", query_params={"lesson": lesson.id, "step": str(i)})


def _go(number: int) -> None:
    st.query_params["step"] = str(number)


def _navigation(lesson: Lesson, number: int, where) -> None:
    cols = where.columns([1, 1, 4])
    cols[0].button("◀ Back", key="lesson-back", disabled=number <= 1, shortcut="left", on_click=_go, args=(number - 1,),
                   help="previous step (← key)")
    cols[1].button("Next ▶", key="lesson-next", type="primary", disabled=number >= len(lesson.steps), shortcut="right",
                   on_click=_go, args=(number + 1,), help="next step (→ key)")
    cols[2].progress(number / len(lesson.steps), text=f"Step {number} of {len(lesson.steps)} · {lesson.title}")


def _sidebar(lesson: Lesson, number: int) -> bool:
    """Step list, notes switch, handout, new class; returns whether the teacher's notes are shown."""
    with st.sidebar:
        st.subheader(lesson.title)
        for i, s in enumerate(lesson.steps, 1):
            label = f"**{i}. {s.title}**" if i == number else f"{i}. {s.title}"
            page_link(PAGE, label, query_params={"lesson": lesson.id, "step": str(i)})
        page_link(PAGE, "All lessons", icon=":material/list:")
        notes = st.toggle("Teacher's notes", value=not presenting(), key="lesson-notes",
                          help="What to say, what students usually get wrong, how long it takes. Off on a projector.")
        s = store()  # read here, in the script's thread: the download's data is made later, outside it
        st.download_button("Handout (HTML)", data=lambda: handout(lesson, s).encode("utf-8"), file_name=f"sslviz-{lesson.id}.html",
                           mime="text/html", icon=":material/download:", key="lesson-handout",
                           help="The lesson as one page to print or post: text, the runs' figures, questions and answers.")
        if presenting():
            if st.button("New class: clear the votes", key="lesson-new-class", icon=":material/restart_alt:",
                         help="Votes, reveals and the live run start afresh for this lesson."):
                classroom.new_class(store(), lesson.id)
                st.toast("A new class: votes and reveals cleared.")
    return notes


def handout(lesson: Lesson, s) -> str:
    """The lesson's handout (sslviz/plots/handout.py) with the figures of the shipped runs this store holds."""
    from sslviz.core.errors import SslvizError
    from sslviz.experiments.label_efficiency import load_results
    from sslviz.plots.handout import handout_html
    from sslviz.teaching.pretrained.experiment import zoo_experiment
    from sslviz.teaching.pretrained.install import installed

    have = installed(s)
    runs, names = {}, {}
    for name in lesson.runs():
        try:
            run = s.get(have[name])
        except (KeyError, SslvizError):
            continue
        runs[name], names[name] = (run, s.metrics(run["id"])), run["name"]
    exp_id = zoo_experiment(s)
    experiment = load_results(s, exp_id) if exp_id else None
    return handout_html(lesson, runs, experiment, names)


def _tally_figure(choices: tuple[str, ...], counts: list[int], answer: int | None):
    import plotly.graph_objects as go

    colours = ["#2ca02c" if i == answer else "#7f7f7f" for i in range(len(choices))]
    fig = go.Figure(go.Bar(x=counts, y=[f"{chr(65 + i)}" for i in range(len(choices))], orientation="h",
                           marker_color=colours, text=counts, textposition="auto"))
    fig.update_layout(height=60 + 40 * len(choices), margin=dict(l=10, r=10, t=10, b=10), xaxis=dict(visible=False),
                      yaxis=dict(autorange="reversed"), showlegend=False)
    return style_figure(fig)


def _question(lesson: Lesson, number: int, revealed: bool) -> None:
    step = lesson.step(number)
    s, me = store(), session_owner()
    key = f"lesson-{lesson.id}-{number}"
    letters = [f"{chr(65 + i)}. {c}" for i, c in enumerate(step.choices)]

    @st.fragment  # a vote reruns only the ballot, not the step's view: thirty students press at once
    def ballot():
        mine = classroom.my_vote(s, lesson.id, number, me)
        pick = st.radio("Your answer", range(len(step.choices)), index=mine, format_func=lambda i: letters[i],
                        key=f"{key}-choice")
        if st.button("Submit my answer", key=f"{key}-vote", disabled=pick is None, icon=":material/how_to_vote:"):
            classroom.vote(s, lesson.id, number, me, int(pick))
            mine = int(pick)
        if mine is not None:
            st.caption(f"Your answer is in: **{letters[mine]}**. You can change it until the answer is revealed.")
        if not presenting() and st.button("Show me the answer", key=f"{key}-self", disabled=mine is None,
                                          help="Answer first. In class, the teacher reveals it to every screen."):
            st.session_state[f"{key}-revealed"] = True
            st.rerun(scope="app")

    if not revealed:
        ballot()
    if presenting():
        _presenter(lesson, number, revealed)
    elif not revealed:
        _wait_for_reveal(lesson.id, number)
    if revealed:
        mine = classroom.my_vote(s, lesson.id, number, me)
        st.radio("Your answer", range(len(step.choices)), index=mine, format_func=lambda i: letters[i],
                 key=f"{key}-choice-shown", disabled=True)
        if mine is not None:
            (st.success if mine == step.answer else st.error)(
                f"You answered {letters[mine]}. " + ("Right." if mine == step.answer else "Not quite."))
        st.info(f"**Answer: {letters[step.answer]}**\n\n{step.reveal}")


def _presenter(lesson: Lesson, number: int, revealed: bool) -> None:
    step = lesson.step(number)
    s = store()

    @st.fragment(run_every=None if revealed else refresh_every(True))  # the votes come in while the question is open
    def votes():
        counts = classroom.tally(s, lesson.id, number, len(step.choices))
        st.markdown(f"**How the class voted: {sum(counts)} vote{'s' if sum(counts) != 1 else ''}**")
        st.plotly_chart(_tally_figure(step.choices, counts, step.answer if revealed else None),
                        key=f"lesson-tally-{number}", config={"displayModeBar": False})

    votes()
    if not revealed and st.button("Reveal the answer to the class", key=f"lesson-reveal-{number}", type="primary",
                                  icon=":material/visibility:"):
        classroom.reveal(s, lesson.id, number)
        st.rerun()


def _wait_for_reveal(lesson_id: str, number: int) -> None:
    """A student's screen notices the teacher's reveal (a cheap look every few seconds)."""
    every = refresh_every(None)
    if every is None:
        return

    @st.fragment(run_every=every)
    def poll():
        if classroom.revealed(store(), lesson_id, number):
            st.rerun(scope="app")

    poll()


def lesson_step(lesson: Lesson, number: int) -> None:
    """One step: navigation, the view, the question, the reveal and the teacher's notes."""
    step = lesson.step(number)
    show_notes = _sidebar(lesson, number)
    _navigation(lesson, number, st)
    st.header(f"{number}. {step.title}")
    revealed = classroom.revealed(store(), lesson.id, number) or \
        bool(st.session_state.get(f"lesson-{lesson.id}-{number}-revealed"))
    if show_notes:
        with st.expander(f"Teacher's notes · about {step.minutes:.0f} min", expanded=True, icon=":material/school:"):
            st.markdown(step.notes)
    st.markdown(f"#### {step.question}")
    with st.container(border=True, key="lesson-view"):  # .st-key-lesson-view: what the browser walk looks in
        draw(step.view, step.settings, StepContext(lesson.id, number, revealed))
    _question(lesson, number, revealed)
    st.caption(f"sslviz lesson “{lesson.title}”, step {number} of {len(lesson.steps)} · share this step: "
               f"?lesson={lesson.id}&step={number}")
