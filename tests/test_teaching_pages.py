"""The teaching pages through streamlit.testing (live refresh off), on a temporary run store."""

import io
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import tiny_config
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def no_live(monkeypatch, runs_dir):
    monkeypatch.setenv("SSLVIZ_NO_LIVE", "1")


def _page(path: str, **params) -> AppTest:
    """A page of the multipage app (entry point app.py, so st.switch_page and links resolve)."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    for k, v in params.items():
        at.query_params[k] = v
    return at.switch_page(path).run()


def _checkpointed_run(store, method: str, dataset: str = "digits") -> str:
    """A completed run with an (untrained) checkpoint: enough for the page to load the method's heads."""
    from sslviz.data import load_dataset
    from sslviz.training.train import build_method, save_checkpoint

    cfg = tiny_config(method=method, dataset=dataset)
    run_id = store.create(cfg.to_dict(), status="completed")
    data = load_dataset(dataset, image_size=cfg.image_size)
    torch.manual_seed(0)
    method_ = build_method(cfg, data, torch.device("cpu"))
    save_checkpoint(store.run_dir(run_id) / "checkpoint.pt", method_, None, cfg, {"epoch": 1})
    return run_id


def _image_url(at: AppTest) -> str:
    return at.image[0].proto.imgs[0].url


def test_augmentations_page_regenerates_views_when_a_control_moves():
    at = _page("pages/1_Augmentations.py")
    assert not at.exception
    assert "ignore" in at.title[0].value
    first = _image_url(at)
    at.slider(key="aug.v1.hue").set_value(0.0).run()
    after_hue = _image_url(at)
    assert after_hue != first  # one op changed: a new picture
    at.button(key="aug.new_views").click().run()
    assert _image_url(at) not in (first, after_hue)
    assert not at.exception


def test_recipes_load_into_the_controls_and_the_url_and_reset_puts_them_back():
    from sslviz.augment.engine import PRESET_NOTES, PRESETS

    at = _page("pages/1_Augmentations.py")
    at.selectbox(key="preset").select("too-strong").run()
    assert at.slider(key="aug.v1.crop_scale").value == PRESETS["too-strong"].crop_scale
    assert at.query_params["preset"] == "too-strong"
    assert any(PRESET_NOTES["too-strong"] in c.value for c in at.caption)
    at.selectbox(key="preset").select("byol").run()
    assert at.toggle(key="aug.asym").value  # BYOL's two views differ
    assert at.slider(key="aug.v2.solarize_p").value == PRESETS["byol-view2"].solarize_p
    at.slider(key="aug.v1.crop_p").set_value(0.3).run()
    reset = [b for b in at.sidebar.button if "Reset" in b.label][0]
    reset.click().run()
    assert at.selectbox(key="preset").value == "dataset default"
    assert at.slider(key="aug.v1.crop_p").value == 1.0 and "preset" not in at.query_params


def test_a_shared_url_restores_dataset_and_recipe():
    from sslviz.augment.engine import PRESETS

    at = _page("pages/1_Augmentations.py", dataset="digits", preset="too-weak")
    assert not at.exception
    assert at.selectbox(key="dataset").value == "digits" and at.selectbox(key="preset").value == "too-weak"
    assert at.slider(key="aug.v1.crop_scale").value == PRESETS["too-weak"].crop_scale
    assert at.slider(key="aug.v1.hue").disabled  # hue means nothing on grayscale digits
    at = _page("pages/1_Augmentations.py", dataset="no-such-set")  # a bad URL value is ignored
    assert not at.exception and at.selectbox(key="dataset").value == "shapes"


def test_train_with_this_pipeline_hands_it_to_the_train_page():
    at = _page("pages/1_Augmentations.py")
    at.slider(key="aug.v1.rotate_degrees").set_value(10.0).run()
    at.button(key="aug.train").click().run()
    assert not at.exception
    handed = at.session_state["pipeline_from_augmentations"]
    assert handed["rotate_degrees"] == 10.0
    assert at.title[0].value.startswith("Train")
    at.switch_page("pages/3_Train.py").run()  # AppTest reruns the page it was told, not st.switch_page's
    choice = next(sb for sb in at.sidebar.selectbox if sb.label == "augmentations")
    assert choice.value == "from the Augmentations page"  # chosen for the user
    from sslviz.training import worker
    from sslviz.training.runs import RunStore

    next(b for b in at.sidebar.button if b.label == "Start run").click().run()
    store = RunStore()
    run = store.list()[0]
    worker.cancel(store, run["id"])
    assert run["config"]["pipeline"]["rotate_degrees"] == 10.0  # the run trains on that very pipeline


def test_factor_probe_panel_for_a_shapes_run(store):
    from sslviz.data import load_dataset

    data = load_dataset("shapes", image_size=16, seed=0)
    index = np.arange(0, 2000, 5)
    f = data.test.factors
    shape = np.asarray(f["shape"])[index]
    run_id = store.create(tiny_config(dataset="shapes").to_dict(), status="completed")
    rng = np.random.default_rng(0)
    for epoch, informative in ((0, False), (1, True)):  # epoch 1 holds the shape, epoch 0 nothing
        feats = rng.normal(size=(len(index), 16)) + (np.eye(8)[shape] * 4 @ rng.normal(size=(8, 16)) if informative else 0)
        buf = io.BytesIO()
        np.savez(buf, features=feats.astype(np.float16), labels=shape, index=index)
        (store.run_dir(run_id) / f"embeddings_{epoch:04d}.npz").write_bytes(buf.getvalue())
    at = _page("pages/1_Augmentations.py", run=run_id)
    assert not at.exception and not at.error
    assert at.selectbox(key="run").value == run_id and at.selectbox(key="epoch").value == 1
    assert any("shape" in m.value and "easier to read" in m.value for m in at.markdown)
    at.selectbox(key="epoch").select(0).run()
    assert at.query_params["epoch"] == "0" and not at.exception


@pytest.mark.parametrize("method", ["rotation", "jigsaw", "relative-position", "colorization", "inpainting",
                                    "denoising-ae", "simclr"])
def test_pretext_page_shows_every_task_from_the_url(method):
    from sslviz.teaching.answers import task_titles, tasks

    at = _page("pages/2_Pretext_Tasks.py", method=method)
    assert not at.exception and not at.error
    task = {m: t for t, m in tasks().items()}[method]
    assert at.header[0].value == task_titles()[task]
    assert len(at.image) >= 1 and len(at.latex) >= 1  # the pictures, and the loss formula on the card
    assert any("def " in c.value for c in at.code)  # the loss function's source beside the formula


def test_pretext_page_shows_a_runs_answers_and_its_score(store):
    run_id = _checkpointed_run(store, "rotation")
    at = _page("pages/2_Pretext_Tasks.py", method="rotation", run=run_id)
    assert not at.exception and not at.error
    assert at.selectbox(key="run").value == run_id
    captions = [c for img in at.image for c in img.proto.imgs for c in [c.caption]]
    assert any("guess" in c for c in captions)
    assert [m.label for m in at.metric] == ["rotation accuracy"]
    at.toggle(key="pre.reveal").set_value(False).run()  # quiz mode: answers hidden
    assert all(img.caption == "?" for el in at.image for img in el.proto.imgs)
    # the contrastive game accepts any trained run; colorization refuses grayscale digits in one line
    at = _page("pages/2_Pretext_Tasks.py", method="simclr", run=run_id)
    assert not at.exception and at.metric[0].label.startswith("the right view")
    at = _page("pages/2_Pretext_Tasks.py", method="colorization", dataset="digits")
    assert any("colour images" in e.value for e in at.error) and not at.exception


def test_home_page_links_every_page_and_shows_the_demo_live(store, monkeypatch):
    from sslviz.training import worker

    real_submit = worker.submit
    monkeypatch.setattr(worker, "submit", lambda cfg, s, start=True: real_submit(cfg, s, start=False))
    monkeypatch.setattr(worker, "schedule", lambda *a, **k: [])  # queued, never launched
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
    assert not at.exception
    targets = {p.proto.page for p in at.page_link}
    assert {"Augmentations", "Pretext_Tasks", "Train", "Embeddings", "Label_Efficiency", "Compare"} <= targets
    [b for b in at.button if "demo" in b.label.lower()][0].click().run()
    run_id = store.list()[0]["id"]
    store.add_metrics(run_id, [(0, 0, 1.0, "knn_accuracy", 0.2), (0, 0, 1.0, "knn_pixels", 0.36),
                               (60, 1, 30.0, "knn_accuracy", 0.5), (60, 1, 30.0, "knn_pixels", 0.36),
                               (60, 1, 30.0, "loss", 4.0)])
    at.run()
    assert not at.exception
    assert any("Past the raw-pixel line" in s.value for s in at.success)
    umap = [p for p in at.page_link if p.proto.page == "Embeddings" and run_id in p.proto.query_string]
    assert umap, "a link to the demo's UMAP"


def test_edits_travel_in_the_url_and_a_mangled_link_still_opens():
    at = _page("pages/1_Augmentations.py")
    at.slider(key="aug.v1.crop_scale").set_value((0.5, 0.9)).run()
    at.slider(key="aug.v1.gray_p").set_value(0.75).run()
    ops = at.query_params["ops"]
    assert "crop_scale=0.5:0.9" in ops and "gray_p=0.75" in ops
    shared = _page("pages/1_Augmentations.py", ops=ops)
    assert shared.slider(key="aug.v1.crop_scale").value == (0.5, 0.9)
    assert shared.slider(key="aug.v1.gray_p").value == 0.75
    assert _image_url(shared) == _image_url(at)  # the same views on the other screen
    bad = _page("pages/1_Augmentations.py", ops="gray_p=7,hue=x,nope=1,crop_scale=0.3", ops2="flip_p=0")
    assert not bad.exception
    assert bad.slider(key="aug.v1.gray_p").value == 1.0 and bad.toggle(key="aug.asym").value


def test_edits_survive_a_visit_to_another_page():
    """Streamlit drops a widget's state when its page is left; the edited pipeline must come back."""
    at = _page("pages/1_Augmentations.py")
    at.slider(key="aug.v1.hue").set_value(0.05).run()
    at.slider(key="aug.v1.crop_scale").set_value((0.5, 0.9)).run()
    at.switch_page("pages/3_Train.py").run()
    assert "aug.v1.crop_scale" not in at.session_state  # what Streamlit does to the widgets left behind
    at.switch_page("pages/1_Augmentations.py").run()
    assert not at.exception and not at.error
    assert at.slider(key="aug.v1.crop_scale").value == (0.5, 0.9)  # still a range slider, same values
    assert at.slider(key="aug.v1.hue").value == pytest.approx(0.05)
