"""Real browser: streamlit run app.py + headless Chromium (Playwright)."""

import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
ARTIFACTS.mkdir(exist_ok=True)

KNN_POINTS = """() => {
    const plot = document.querySelector('.js-plotly-plot');
    if (!plot || !plot.data) return 0;
    const t = plot.data.find(d => d.name === 'kNN accuracy');
    return t ? t.x.length : 0;
}"""


def test_demo_run_starts_and_the_live_chart_updates(app_server, browser):
    url, runs_dir = app_server
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        page.goto(url)
        page.get_by_text("self-supervised learning, visualised").wait_for(timeout=60_000)
        # first start, polished: the sidebar names the home page "Home" (not the file's "app") and
        # lists every page; Streamlit's Deploy button is not there
        sidebar = page.get_by_test_id("stSidebar")
        for label in ("Home", "Augmentations", "Pretext Tasks", "Train", "Embeddings", "Label Efficiency", "Compare"):
            sidebar.get_by_role("link", name=re.compile(label)).first.wait_for(timeout=30_000)
        assert sidebar.get_by_role("link", name=re.compile(r"^\W*app$")).count() == 0
        assert page.get_by_text("Deploy", exact=True).count() == 0 and page.get_by_test_id("stAppDeployButton").count() == 0
        page.get_by_role("button", name=re.compile("Start the one-minute demo")).click()
        page.get_by_text("SimCLR on shapes", exact=False).first.wait_for(timeout=60_000)
        # the untrained network's score (epoch 0) arrives first ...
        page.wait_for_function(f"() => ({KNN_POINTS})() >= 1", timeout=180_000)
        first = page.evaluate(KNN_POINTS)
        # ... then the first epoch's, drawn by the live fragment without a reload
        page.wait_for_function(f"() => ({KNN_POINTS})() > {first}", timeout=180_000)
        assert page.evaluate(KNN_POINTS) > first
    finally:
        page.screenshot(path=str(ARTIFACTS / "train-page.png"), full_page=True)
    from sslviz.training.runs import RunStore

    runs = RunStore(runs_dir).list()
    assert len(runs) == 1 and runs[0]["method"] == "simclr" and runs[0]["config"]["time_budget"] == 60
    assert runs[0]["status"] in ("running", "completed")  # a 60 s demo may finish on a busy machine
