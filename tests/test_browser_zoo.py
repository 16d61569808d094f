"""Real browser: a store with the (tiny) pretrained zoo installed, as on a teacher's first start.
Compare opens on the zoo's runs (leaderboard and curves named by the runs' names), and Label
Efficiency opens on the shipped experiment's curves, with nothing chosen in the URL."""

from pathlib import Path

import pytest
from zoo_support import TINY_ZOO, install_tiny_zoo

pytestmark = pytest.mark.browser
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"

TRACE_NAMES = """() => {
    const names = [];
    for (const plot of document.querySelectorAll('.js-plotly-plot')) {
        for (const t of (plot._fullData || [])) { if (t.name) names.push(t.name + '|' + (t._length || 0)); }
    }
    return names;
}"""


def _names(page) -> dict[str, int]:
    return {n.rsplit("|", 1)[0]: int(n.rsplit("|", 1)[1]) for n in page.evaluate(TRACE_NAMES)}


def test_compare_and_label_efficiency_open_on_the_installed_zoo(app_server, browser, monkeypatch):
    import torch

    from sslviz.training.runs import RunStore

    url, runs_dir = app_server
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        store = RunStore(runs_dir)
        new = install_tiny_zoo(store, monkeypatch)
    finally:
        torch.set_num_threads(threads)
    labels = {n: f"{TINY_ZOO[n]['name']} · {run_id.rsplit('-', 1)[1]}" for n, run_id in new.items()}
    ARTIFACTS.mkdir(exist_ok=True)
    page = browser.new_page(viewport={"width": 1400, "height": 2400})
    try:
        page.goto(f"{url}/Compare")
        page.get_by_text("Compare methods side by side").wait_for(timeout=60_000)
        # the training overlay holds both zoo runs, by name, each with its loss curve
        want = " && ".join(f"({TRACE_NAMES})().some(n => n.startsWith({label!r} + '|'))" for label in labels.values())
        page.wait_for_function(f"() => {want}", timeout=120_000)
        names = _names(page)
        assert all(names[label] > 1 for label in labels.values()), names
        # the leaderboard: one row per zoo run, its name first
        page.get_by_text("Leaderboard", exact=True).wait_for(timeout=60_000)
        grid = page.locator('[data-testid="stDataFrame"]').first
        grid.wait_for(timeout=60_000)
        page.wait_for_function("""(names) => {
            const text = [...document.querySelectorAll('[data-testid="stDataFrame"] table')].map(t => t.textContent).join(' ');
            return names.every(n => text.includes(n));
        }""", arg=[TINY_ZOO[n]["name"] for n in new], timeout=60_000)
        # label efficiency from the shipped experiment, overlaid on Compare too
        assert any(name.endswith(" · linear") for name in _names(page)), _names(page)
        assert "run=" not in page.url  # the default: nothing written to the address
        page.screenshot(path=str(ARTIFACTS / "compare-zoo.png"), full_page=True)

        page.goto(f"{url}/Label_Efficiency")
        page.get_by_text("How many labels does self-supervision save?").wait_for(timeout=60_000)
        curves = [f"{TINY_ZOO[n]['name']} · knn" for n in new] + ["raw pixels · knn"]
        want = " && ".join(f"({TRACE_NAMES})().some(n => n === {c!r} + '|2')" for c in curves)
        page.wait_for_function(f"() => {want}", timeout=120_000)  # budgets 1 and 10: two points each
        page.get_by_text("Opened on the pretrained runs on shapes and their experiment").wait_for(timeout=30_000)
        exp_id = store.list(kind="eval")[0]["id"]
        page.get_by_text(f"{exp_id} on shapes · completed").wait_for(timeout=30_000)
        assert "run=" not in page.url and f"exp={exp_id}" in page.url
    finally:
        page.screenshot(path=str(ARTIFACTS / "label-efficiency-zoo.png"), full_page=True)
    assert store.list(kind="eval")[0]["owner"] == "pretrained" and len(store.list(kind="eval")) == 1
