"""Real browser: the Augmentations page regenerates its views when a control moves; the Pretext page
shows a run's answers. Screenshots go to test-artifacts/ (look at them: a projector must read them)."""

import time
from pathlib import Path

import pytest
import torch
from conftest import tiny_config

pytestmark = pytest.mark.browser
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
ARTIFACTS.mkdir(exist_ok=True)
GRID = '[data-testid="stImage"] img'


def _grid_src(page) -> str:
    return page.locator(GRID).first.get_attribute("src")


def _rotation_run(runs_dir) -> str:
    """A completed RotNet run with an (untrained) checkpoint, in the server's store."""
    from sslviz.data import load_dataset
    from sslviz.training.runs import RunStore
    from sslviz.training.train import build_method, save_checkpoint

    store = RunStore(runs_dir)
    cfg = tiny_config(method="rotation")
    run_id = store.create(cfg.to_dict(), status="completed")
    data = load_dataset("digits", image_size=cfg.image_size)
    torch.manual_seed(0)
    save_checkpoint(store.run_dir(run_id) / "checkpoint.pt",
                    build_method(cfg, data, torch.device("cpu")), None, cfg, {"epoch": 1})
    return run_id


def test_augmentation_views_change_with_a_control_and_the_pretext_page_answers(app_server, browser):
    url, runs_dir = app_server
    page = browser.new_page(viewport={"width": 1500, "height": 2300})
    try:
        page.goto(f"{url}/Augmentations")
        page.get_by_text("Each column: one image").first.wait_for(timeout=120_000)
        page.get_by_role("button", name="Train with this pipeline").wait_for(timeout=120_000)
        before_src = _grid_src(page)
        before = page.request.get(url + before_src if before_src.startswith("/") else before_src).body()
        page.screenshot(path=str(ARTIFACTS / "augmentations.png"))
        # move the hue slider to 0 with the keyboard, as a student would with the arrow keys
        hue = page.locator('[data-testid="stSlider"]').filter(has_text="hue").first.get_by_role("slider")
        hue.focus()
        hue.press("Home")
        page.wait_for_function(f"() => {{ const i = document.querySelector('{GRID}'); "
                               f"return i && i.getAttribute('src') !== {before_src!r}; }}", timeout=60_000)
        after_src = _grid_src(page)
        after = page.request.get(url + after_src if after_src.startswith("/") else after_src).body()
        assert after[:8] == b"\x89PNG\r\n\x1a\n" and before[:8] == after[:8]  # crisp PNG, not JPEG
        assert after != before, "the views did not change when the hue control moved"
        # the edit is in the address, ready to share
        page.wait_for_function("() => window.location.search.includes('ops=hue%3D0') || "
                               "window.location.search.includes('ops=hue=0')", timeout=30_000)
        # presentation mode: large fonts for a projector
        page.get_by_text("Presentation mode (large fonts)").click()
        page.wait_for_function("() => getComputedStyle(document.documentElement).fontSize === '22px'",
                               timeout=30_000)
        time.sleep(1)
        page.screenshot(path=str(ARTIFACTS / "augmentations-presentation.png"))

        page.get_by_role("button", name="Train with this pipeline").click()
        page.get_by_text("Train a self-supervised model").first.wait_for(timeout=60_000)

        run_id = _rotation_run(runs_dir)
        page.goto(f"{url}/Pretext_Tasks?method=rotation&run={run_id}")
        page.get_by_text("What the network sees").first.wait_for(timeout=120_000)
        page.get_by_text("rotation accuracy").first.wait_for(timeout=120_000)
        assert page.get_by_text("guess", exact=False).count() > 0
        time.sleep(1)
        page.screenshot(path=str(ARTIFACTS / "pretext-rotation.png"))
        page.goto(f"{url}/Pretext_Tasks?method=simclr")
        page.get_by_text("Cosine similarity in").first.wait_for(timeout=120_000)
        time.sleep(1)
        page.screenshot(path=str(ARTIFACTS / "pretext-contrastive.png"))
    finally:
        page.screenshot(path=str(ARTIFACTS / "teaching-last.png"))
