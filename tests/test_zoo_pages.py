"""The pages a teacher opens in class, with the zoo installed (streamlit.testing; live refresh and
workers off): the install's progress bar, Compare on the zoo's leaderboard, Label Efficiency on the
shipped experiment, Embeddings and Pretext Tasks on the best run, human names in the selectors."""

import io
import json
from pathlib import Path

import numpy as np
import pytest
from pandas import isna as pandas_isna
from streamlit.testing.v1 import AppTest
from zoo_support import TINY_ZOO, fake_run, install_tiny_zoo

import sslviz.teaching.pretrained.install as inst

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def quiet(monkeypatch, runs_dir, one_torch_thread):
    monkeypatch.setenv("SSLVIZ_NO_LIVE", "1")
    monkeypatch.setenv("SSLVIZ_LAUNCH_WORKERS", "0")


def _page(name, **query):
    at = AppTest.from_file(str(ROOT / name), default_timeout=120)
    for k, v in query.items():
        at.query_params[k] = v
    return at.run()


def _text(at) -> str:
    return " ".join(e.value for part in (at.markdown, at.caption, at.info, at.warning, at.error) for e in part)


def _installing(monkeypatch, done, total, finished=False):
    state = {"done": done, "total": total, "current": "byol-shapes", "finished": finished, "errors": []}
    monkeypatch.setattr(inst, "install_progress", lambda store: dict(state))


def test_install_progress_bar_on_home_and_as_a_line_on_pages_with_no_runs_yet(monkeypatch):
    _installing(monkeypatch, 3, 22)
    at = _page("app.py")
    assert not at.exception, at.exception
    bar = [p for p in at.progress if p.text.startswith("Installing pretrained runs")]
    assert len(bar) == 1 and bar[0].text.startswith("Installing pretrained runs: 3 of 22") and bar[0].value == 13
    assert "BYOL on shapes, pretrained" in bar[0].text  # the entry being installed, by its name
    for page in ("pages/6_Compare.py", "pages/5_Label_Efficiency.py", "pages/4_Embeddings.py"):
        at = _page(page)
        assert not at.exception, (page, at.exception)
        assert [p.text for p in at.progress] == ["Installing pretrained runs: 3 of 22"], page
        assert "No trained runs yet" in _text(at) or "No run has saved embeddings yet" in _text(at)
    _installing(monkeypatch, 22, 22, finished=True)  # over: no bar anywhere
    assert not _page("app.py").progress and not _page("pages/6_Compare.py").progress


def _zoo_rows(store, n_extra=0):
    """Fake installed zoo runs on shapes (+ the counter-example, an MNIST one, a user's run), with curves."""
    ids = {"simclr-shapes": fake_run(store, "simclr", knn=0.87, pretrained="simclr-shapes",
                                     name="SimCLR on shapes, pretrained"),
           "simclr-shapes-no-colour": fake_run(store, "simclr", knn=0.14, pretrained="simclr-shapes-no-colour",
                                               name="SimCLR on shapes, colour left alone"),
           "byol-shapes": fake_run(store, "byol", knn=0.72, pretrained="byol-shapes", name="BYOL on shapes, pretrained"),
           "simclr-mnist": fake_run(store, "simclr", "mnist-10k", knn=0.96, pretrained="simclr-mnist")}
    methods = ["moco", "vicreg", "dino", "swav", "jigsaw", "rotation", "gan", "cpc", "simsiam", "deepcluster",
               "colorization", "inpainting", "denoising-ae", "barlow-twins", "relative-position", "deep-infomax",
               "supervised"]
    for i, m in enumerate(methods[:n_extra]):
        ids[f"{m}-shapes"] = fake_run(store, m, knn=0.3 + 0.02 * i, pretrained=f"{m}-shapes")
    mine = fake_run(store, "simclr", knn=0.99, name="my run")
    for run_id in [*ids.values(), mine]:
        store.add_metrics(run_id, [(s, s / 10, float(s), "loss", 5.0 - s / 100) for s in range(0, 200, 10)]
                          + [(s, s / 10, float(s), "knn_accuracy", 0.2 + s / 1000) for s in range(0, 200, 50)])
    return ids, mine


def test_compare_opens_on_the_zoos_leaderboard_on_shapes_and_keeps_a_users_choice(store):
    import time

    ids, mine = _zoo_rows(store, n_extra=17)  # the whole zoo: 20 runs on shapes
    t0 = time.perf_counter()
    at = _page("pages/6_Compare.py")
    seconds = time.perf_counter() - t0
    assert not at.exception, at.exception
    shapes = [i for n, i in ids.items() if n not in ("simclr-shapes-no-colour", "simclr-mnist")]
    chosen = at.multiselect(key="cmp-runs").value
    assert sorted(chosen) == sorted(shapes) and len(chosen) == 19  # not the counter-example, not MNIST, not mine
    assert chosen[:2] == [ids["simclr-shapes"], ids["byol-shapes"]]  # best kNN first
    board = at.dataframe[0].value
    assert list(board["run"]) == chosen and board["name"].iloc[0] == "SimCLR on shapes, pretrained"
    assert "run" not in at.query_params  # the default stays out of the URL: a reload opens on the zoo again
    assert "Opened on the 19 pretrained runs on shapes" in _text(at)
    assert "The first 4 chosen runs are shown" in _text(at)  # side by side: at most MAX_SIDE_BY_SIDE
    labels = at.multiselect(key="cmp-runs").options
    assert "SimCLR on shapes, pretrained · " + ids["simclr-shapes"].rsplit("-", 1)[1] in labels
    assert seconds < 60, f"Compare on 19 runs took {seconds:.1f} s"
    # a newly installed zoo run joins the default ...
    late = fake_run(store, "vicreg", knn=0.99, pretrained="late-shapes")
    at.run()
    assert at.multiselect(key="cmp-runs").value[0] == late
    # ... but a user's choice is kept, and goes into the URL
    at.multiselect(key="cmp-runs").set_value([mine, ids["simclr-shapes"]]).run()
    assert not at.exception
    fake_run(store, "swav", knn=0.5, pretrained="later-shapes")
    at.run()
    assert at.multiselect(key="cmp-runs").value == [mine, ids["simclr-shapes"]]
    assert at.query_params["run"] == f"{mine},{ids['simclr-shapes']}"
    # a link with ?run= opens on it
    at = _page("pages/6_Compare.py", run=mine)
    assert at.multiselect(key="cmp-runs").value == [mine]


def test_compare_with_the_mnist_filter_opens_on_the_mnist_zoo(store):
    ids, mine = _zoo_rows(store, n_extra=2)
    byol = fake_run(store, "byol", "mnist-10k", knn=0.92, pretrained="byol-mnist", name="BYOL on MNIST, pretrained",
                    few=0.812)
    at = _page("pages/6_Compare.py", dataset="mnist-10k")  # the home page's second leaderboard link
    assert not at.exception, at.exception
    assert at.multiselect(key="cmp-runs").value == [ids["simclr-mnist"], byol]  # best kNN first, no shapes run
    assert "Opened on the 2 pretrained runs on mnist-10k" in _text(at)
    # no experiment on MNIST runs: the trainer's own 10-label probe is what the board shows for them
    board = at.dataframe[0].value.set_index("run")
    assert board.loc[byol, "10 labels (run)"] == pytest.approx(0.812)
    assert np.all(pandas_isna(board.loc[byol, ["linear @1", "linear @10", "linear @100"]]))
    # the caption names the trainer's own number of draws (it said 5, the benchmark's, where the monitor takes 3)
    from sslviz.evaluation.protocols import FEW_LABEL_DRAWS

    assert f"mean of {FEW_LABEL_DRAWS} fixed draws" in _text(at)


def test_home_links_each_dataset_of_the_zoo_to_its_leaderboard(store):
    import sslviz.teaching.pretrained as pretrained

    names = ["simclr-shapes", "simclr-shapes-no-colour", "simclr-mnist", "rotation-mnist", "byol-shapes", "byol-mnist"]
    runs = {n: fake_run(store, pretrained.CATALOG[n]["method"], pretrained.CATALOG[n]["dataset"], knn=0.5,
                        pretrained=n, name=pretrained.CATALOG[n]["name"]) for n in names}
    (store.root / inst.MARKER).write_text(json.dumps(runs))
    at = _page("app.py")
    assert not at.exception, at.exception
    links = {(link.proto.label, link.proto.query_string) for link in at.page_link}
    assert ("All methods on shapes, side by side (leaderboard)", "") in links
    assert ("All methods on MNIST, side by side (leaderboard)", "dataset=mnist-10k") in links


def test_label_efficiency_opens_on_the_shipped_experiment_over_the_zoo(store, monkeypatch):
    from sslviz.teaching.pretrained.experiment import zoo_experiment

    new = install_tiny_zoo(store, monkeypatch)
    exp_id = zoo_experiment(store)
    mine = fake_run(store, "simclr", knn=0.99, name="my run")  # newest; not part of the default
    at = _page("pages/5_Label_Efficiency.py")
    assert not at.exception, at.exception
    assert set(at.multiselect(key="le-runs").value) == set(new.values())
    assert at.query_params["exp"] == exp_id and "run" not in at.query_params
    picker = next(s for s in at.selectbox if s.label == "experiment")
    assert picker.value == exp_id and "shipped with sslviz" in picker.format_func(exp_id)
    assert exp_id in _text(at) and "completed" in _text(at)
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    names = {t.get("name") for t in spec["data"]}
    assert {f"{TINY_ZOO[n]['name']} · knn" for n in new} <= names and "raw pixels · knn" in names
    assert len(at.dataframe[0].value) == 2 * 3  # (2 runs + raw pixels) × (knn, linear)
    labels = at.multiselect(key="le-runs").options
    assert any(label.startswith("my run · ") for label in labels) and mine not in " ".join(labels)
    # with many subjects (the real zoo: 21) the curves open on one protocol, the linear probe
    monkeypatch.setattr("sslviz.ui.labeleff_views.MANY_CURVES", 2)
    at = _page("pages/5_Label_Efficiency.py")
    names = {t.get("name") for t in json.loads(at.get("plotly_chart")[0].proto.spec)["data"]}
    assert names and all(n.endswith(" · linear") for n in names if n), names


def _snapshot(store, run_id, epochs=(0, 1)):
    rng = np.random.default_rng(0)
    for epoch in epochs:
        buf = io.BytesIO()
        np.savez(buf, features=rng.normal(size=(40, 8)).astype(np.float16), labels=np.arange(40) % 8,
                 index=np.arange(40))
        (store.run_dir(run_id) / f"embeddings_{epoch:04d}.npz").write_bytes(buf.getvalue())


def _embeddings_choice():
    import streamlit as st

    from sslviz.ui.embedding_state import choose

    choice = choose()
    st.write(f"chosen: {choice.run['id'] if choice else None}")


def test_embeddings_opens_on_the_best_self_supervised_run_on_shapes(store):
    best = fake_run(store, "simclr", knn=0.87, pretrained="simclr-shapes", name="SimCLR on shapes, pretrained")
    for args in (("supervised", "shapes", 0.99, "supervised-shapes"), ("simclr", "shapes", 0.14, "simclr-shapes-no-colour"),
                 ("simclr", "mnist-10k", 0.96, "simclr-mnist"), ("byol", "shapes", 0.70, "byol-shapes"),
                 ("rotation", "shapes", 0.40, None)):
        _snapshot(store, fake_run(store, *args))
    _snapshot(store, best)
    at = AppTest.from_function(_embeddings_choice, default_timeout=60).run()
    assert not at.exception, at.exception
    assert f"chosen: {best}" in _text(at)
    assert at.selectbox(key="emb_run").format_func(best) == "SimCLR on shapes, pretrained · " + best.rsplit("-", 1)[1]
    other = store.list()[0]["id"]  # the newest: a link that names it still wins
    at = AppTest.from_function(_embeddings_choice, default_timeout=60)
    at.query_params["run"] = other
    assert f"chosen: {other}" in _text(at.run())


def test_embeddings_follows_the_best_run_while_the_zoo_installs_until_the_user_picks_one(store):
    """A class opens the page while the pretrained runs install: it opens on the best run there is,
    moves to a better one when it arrives, and stays where the user put it once they pick a run."""
    gan = fake_run(store, "gan", knn=0.30, pretrained="gan-shapes", name="GAN on shapes, pretrained")
    installing = fake_run(store, "byol", knn=None, pretrained="byol-shapes", status="running")
    for run_id in (gan, installing):
        _snapshot(store, run_id)
    at = AppTest.from_function(_embeddings_choice, default_timeout=60).run()
    assert f"chosen: {gan}" in _text(at)  # a finished run, not the one still being installed
    simclr = fake_run(store, "simclr", knn=0.87, pretrained="simclr-shapes", name="SimCLR on shapes, pretrained")
    _snapshot(store, simclr)
    assert f"chosen: {simclr}" in _text(at.run())  # the better run arrived: the page follows it
    at.selectbox(key="emb_run").set_value(gan)
    assert f"chosen: {gan}" in _text(at.run())  # the user's pick
    vicreg = fake_run(store, "vicreg", knn=0.95, pretrained="vicreg-shapes", name="VICReg on shapes, pretrained")
    _snapshot(store, vicreg)
    assert f"chosen: {gan}" in _text(at.run())  # stays the user's pick


def _pretext_sidebar():
    import streamlit as st

    from sslviz.ui.pretext_views import sidebar

    task, run = sidebar()
    st.write(f"task {task}, run {run['id'] if run else None}")


def test_pretext_page_opens_on_the_methods_best_run(store):
    best = fake_run(store, "rotation", "mnist-10k", knn=0.95, pretrained="rotation-mnist", name="RotNet on MNIST, pretrained")
    fake_run(store, "rotation", "shapes", knn=0.55, pretrained="rotation-shapes")  # newer, weaker
    at = AppTest.from_function(_pretext_sidebar, default_timeout=60)
    at.query_params["method"] = "rotation"
    at.run()
    assert not at.exception, at.exception
    assert f"run {best}" in _text(at) and at.selectbox(key="run").value == best
    assert at.selectbox(key="run").format_func(best).startswith("RotNet on MNIST, pretrained · ")


def test_pretext_sidebar_shows_the_install_line_while_it_has_no_run(store, monkeypatch):
    _installing(monkeypatch, 5, 22)
    at = AppTest.from_function(_pretext_sidebar, default_timeout=60)
    at.query_params["method"] = "jigsaw"
    at.run()
    assert not at.exception, at.exception
    assert [p.text for p in at.sidebar.progress] == ["Installing pretrained runs: 5 of 22"]
    fake_run(store, "jigsaw", knn=0.5, pretrained="jigsaw-shapes")
    at.run()
    assert not at.sidebar.progress  # it has a run now: no line
