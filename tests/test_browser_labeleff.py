"""Real browser: a finished tiny run in the server's store, the Label Efficiency page, a small
experiment launched from the page (kNN, 2 budgets, 2 seeds) and its curve appearing live."""

import json
from pathlib import Path

import pytest
from labeleff_support import finished_run

pytestmark = pytest.mark.browser
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"

CURVE_POINTS = """(name) => {
    for (const plot of document.querySelectorAll('.js-plotly-plot')) {
        const t = (plot.data || []).find(d => d.name === name);
        if (t) return t.x.length;
    }
    return 0;
}"""


def _remove_chip(page, widget_label: str, value: str) -> None:
    box = page.locator('[data-testid="stMultiSelect"]').filter(has_text=widget_label)
    box.get_by_role("button", name=f"Remove {value}", exact=True).click()


def test_label_efficiency_experiment_from_the_page_draws_its_curve(app_server, browser):
    import torch

    from sslviz.training.runs import RunStore

    url, runs_dir = app_server
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        store = RunStore(runs_dir)
        run_id = finished_run(store)
    finally:
        torch.set_num_threads(threads)
    ARTIFACTS.mkdir(exist_ok=True)
    page = browser.new_page(viewport={"width": 1400, "height": 2300})
    try:
        page.goto(f"{url}/Label_Efficiency?run={run_id}")
        page.get_by_text("How many labels does self-supervision save?").wait_for(timeout=60_000)
        page.get_by_text("New experiment").wait_for(timeout=60_000)
        _remove_chip(page, "labels per class", "100")
        _remove_chip(page, "labels per class", "all")  # budgets: 1 and 10
        _remove_chip(page, "protocols", "linear")  # kNN only
        seeds = page.get_by_label("seeds")
        seeds.fill("2")
        seeds.press("Tab")
        page.get_by_role("button", name="Run experiment").click()
        # the worker process computes it; the page's fragment polls and draws the curve
        page.wait_for_function(f"() => ({CURVE_POINTS})('{run_id} · knn') >= 2", timeout=180_000)
        page.get_by_text("completed", exact=False).first.wait_for(timeout=60_000)
        assert page.evaluate(CURVE_POINTS, f"raw pixels · knn") == 2
    finally:
        page.screenshot(path=str(ARTIFACTS / "label-efficiency-page.png"), full_page=True)
    jobs = store.list(kind="eval")
    assert len(jobs) == 1
    cfg = jobs[0]["config"]
    assert (cfg["runs"], cfg["labels_per_class"], cfg["protocols"], cfg["seeds"]) == ([run_id], [1, 10], ["knn"], 2)
    results = json.loads((store.run_dir(jobs[0]["id"]) / "results.json").read_text())
    knn = [r for r in results["results"] if r["run_id"] == run_id]
    assert [r["labels_per_class"] for r in knn] == [1, 10] and all(r["n_seeds"] == 2 for r in knn)
