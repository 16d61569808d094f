"""Real browser: the Embeddings page of a finished run renders its scatter plot, hovering a point shows its image,
and a click shows neighbours."""

from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.browser
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
ARTIFACTS.mkdir(exist_ok=True)

PLOT = """(want) => {
    const gd = document.querySelector('.js-plotly-plot');
    if (!gd || !gd._fullData || !gd.layout) return 0;
    const title = (gd.layout.title && gd.layout.title.text) || '';
    if (!title.includes(want)) return 0;
    return gd._fullData.reduce((n, t) => n + (t.x ? t.x.length : 0), 0);
}"""
FIRST_POINT = """() => {
    const gd = document.querySelector('.js-plotly-plot');
    const fl = gd._fullLayout, t = gd._fullData[0], r = gd.getBoundingClientRect();
    return [r.left + fl._size.l + fl.xaxis.l2p(t.x[0]), r.top + fl._size.t + fl.yaxis.l2p(t.y[0])];
}"""


# the thumbnail under the pointer (sslviz/ui/hover_thumbs.py): [the hovered row, its 32 × 32 × 3 pixels read at
# the centres of the enlarged cells], once it shows one
HOVERED = """() => {
    const tip = document.getElementById('sslviz-hover-thumb');
    if (!tip || tip.style.display !== 'block' || !tip.dataset.shown) return null;
    const row = Number(tip.dataset.shown);
    const ctx = tip.getContext('2d'), step = tip.width / 32, out = [];
    for (let y = 0; y < 32; y++) for (let x = 0; x < 32; x++) {
        const d = ctx.getImageData(Math.floor((x + 0.5) * step), Math.floor((y + 0.5) * step), 1, 1).data;
        out.push(d[0], d[1], d[2]);
    }
    return [row, out];
}"""


def test_embeddings_page_renders_the_scatter_and_a_click_shows_neighbours(app_server, browser, add_finished_run):
    from sslviz.embeddings.embedding import images_for, load_embedding
    from sslviz.embeddings.thumb_sheets import sheet_image
    from sslviz.training.runs import RunStore

    url, runs_dir = app_server
    store = RunStore(runs_dir)
    run_id = add_finished_run(store)
    n_points = len(load_embedding(store, run_id))
    page = browser.new_page(viewport={"width": 1500, "height": 1800})
    sheets_fetched = []
    page.on("response", lambda r: sheets_fetched.append(r.url) if r.status == 200 else None)
    try:
        page.goto(f"{url}/Embeddings?run={run_id}")
        page.get_by_role("heading", name="Embeddings").first.wait_for(timeout=90_000)
        # PCA at once, then UMAP from the background thread, drawn by the polling fragment without a reload
        page.wait_for_function(PLOT, arg="UMAP 2D", timeout=180_000, polling=500)
        assert page.evaluate(PLOT, "UMAP 2D") == n_points
        assert f"run={run_id}" in page.url and "epoch=2" in page.url
        page.screenshot(path=str(ARTIFACTS / "embeddings-page.png"))
        x, y = page.evaluate(FIRST_POINT)
        page.mouse.move(x - 4, y - 4)
        page.mouse.move(x, y)
        # hovering shows the point's own image next to the pointer, cut from a sheet served as a static file
        hovered = None
        for attempt in range(120):  # the sheets are written in the background as the map first shows
            hovered = page.evaluate(HOVERED)
            if hovered:
                break
            page.mouse.move(x + (attempt % 2), y)
            page.wait_for_timeout(500)
        assert hovered, "no thumbnail under the pointer"
        row, pixels = hovered
        assert any(r.startswith(f"{url}/app/static/thumbs/") and r.endswith(".png") for r in sheets_fetched)
        expected = sheet_image(images_for(load_embedding(store, run_id))[[row]])[:, :32]  # its cell
        assert np.abs(np.asarray(pixels, dtype=np.int16).reshape(32, 32, 3) - expected).mean() < 2
        page.screenshot(path=str(ARTIFACTS / "embeddings-page-hover.png"))
        page.mouse.click(x, y)
        page.get_by_text("nearest in the embedding", exact=False).first.wait_for(timeout=60_000)
        page.get_by_text("nearest in pixel space", exact=False).first.wait_for(timeout=10_000)
        # the clicked image beside the plot, and 8 + 8 neighbours below it
        page.wait_for_function("() => document.querySelectorAll('[data-testid=\"stImage\"] img').length >= 17",
                               timeout=30_000)
        page.screenshot(path=str(ARTIFACTS / "embeddings-page-click.png"))
        # box selection (toolbar) -> the selected images as a grid with their labels
        page.locator(".js-plotly-plot").first.hover()
        page.locator('[data-title="Box Select"]').first.click()
        box = page.locator(".js-plotly-plot .nsewdrag").first.bounding_box()
        page.mouse.move(box["x"] + 2, box["y"] + 2)
        page.mouse.down()
        page.mouse.move(box["x"] + box["width"] - 2, box["y"] + box["height"] - 2, steps=8)
        page.mouse.up()
        page.get_by_text(f"{n_points} selected", exact=False).first.wait_for(timeout=60_000)
        page.wait_for_function("() => { const imgs = document.querySelectorAll('[data-testid=\"stImage\"] img');"
                               " return imgs.length >= 60 && Array.from(imgs).every(i => i.complete && i.naturalWidth > 0); }",
                               timeout=60_000)
    finally:
        page.screenshot(path=str(ARTIFACTS / "embeddings-page-selection.png"))
