"""Lessons: a guided path a class follows, one step at a time (?lesson=…&step=…), predicting before each reveal."""

import streamlit as st

from sslviz.teaching.lessons import find
from sslviz.ui.common import page
from sslviz.ui.lesson_page import lesson_list, lesson_step, warm_up

page("Lessons", "🎓")
warm_up()  # every step opens at once: the slow parts of the views, computed ahead in the background
lesson, number, problem = find(st.query_params.get("lesson"), st.query_params.get("step"))
if lesson is None:
    st.title("Lessons")
    st.markdown("Each lesson is a path for a 45-minute class: one view per step, already set up, one question the "
                "class answers before the reveal, and notes for the teacher. Students open the same link on their "
                "laptops and vote; **presentation mode** (sidebar, or `?present=1`) makes a screen the presenter's, "
                "showing the votes and revealing the answer to every screen.")
    lesson_list(problem)
else:
    lesson_step(lesson, number)
