"""Real browser: streamlit run app.py + headless Chromium (Playwright)."""

import re

import pytest

pytestmark = pytest.mark.browser


def knn_points(page) -> int:
    """Markers drawn in the kNN-accuracy trace of the training-curves figure."""
    return page.evaluate(
        """() => {
            const plot = document.querySelector('.js-plotly-plot');
            if (!plot || !plot.data) return 0;
            const t = plot.data.find(d => d.name === 'kNN accuracy');
            return t ? t.x.length : 0;
        }"""
    )


def test_demo_run_starts_and_the_live_chart_updates(app_server, browser, tmp_path):
    url, runs_dir = app_server
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(url)
    page.get_by_text("self-supervised learning, visualised").wait_for(timeout=60_000)
    page.get_by_role("button", name=re.compile("Start the one-minute demo")).click()
    page.get_by_text("SimCLR on shapes", exact=False).first.wait_for(timeout=60_000)
    page.locator(".js-plotly-plot").first.wait_for(timeout=90_000)
    page.wait_for_function("() => { const p = document.querySelector('.js-plotly-plot');"
                           " return p && p.data && p.data.some(d => d.name === 'kNN accuracy' && d.x.length >= 1); }",
                           timeout=90_000)
    first = knn_points(page)
    page.wait_for_function(f"() => {{ const p = document.querySelector('.js-plotly-plot');"
                           f" const t = p && p.data && p.data.find(d => d.name === 'kNN accuracy');"
                           f" return t && t.x.length > {first}; }}", timeout=120_000)
    assert knn_points(page) > first  # a new epoch's score arrived without reloading the page
    page.screenshot(path=str(tmp_path / "train.png"), full_page=True)
    from sslviz.runs import RunStore

    runs = RunStore(runs_dir).list()
    assert len(runs) == 1 and runs[0]["method"] == "simclr" and runs[0]["status"] == "running"
    page.get_by_role("button", name="Stop run").click()
