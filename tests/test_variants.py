"""The "find the collapse" variants (sslviz/teaching/variants.py), their shipped lite runs
(sslviz/teaching/pretrained/lite.py) and the contrastive lesson's views (sslviz/ui/contrastive_views.py)."""

import inspect
from pathlib import Path

import numpy as np
import pytest
import torch
from streamlit.testing.v1 import AppTest

from sslviz.teaching import variants as V


@pytest.fixture(autouse=True)
def no_live(monkeypatch, runs_dir):
    monkeypatch.setenv("SSLVIZ_NO_LIVE", "1")


def test_each_variant_is_one_documented_setting_away_from_its_healthy_twin():
    from sslviz.methods import get_method
    from sslviz.teaching import pretrained

    names = [v["name"] for v in V.VARIANTS + V.TWINS + V.TEMPERATURES]
    assert len(names) == len(set(names))
    for v in V.VARIANTS:
        broken, healthy = V.run_config(v["name"]).to_dict(), V.twin_config(v["name"]).to_dict()
        differs = {k for k in broken if broken[k] != healthy[k]} - {"name"}
        assert len(differs) == 1, (v["name"], differs)
        assert v["healthy_twin"] in pretrained.CATALOG and v["measure"] in ("collapse", "agreement", "colour", "knn")
        # the shipped same-budget twin is the variant with the setting restored (the recipe fills the rest)
        from sslviz.data import kind_of
        from sslviz.training.recipes import recipe_for

        same = V.run_config(v["same_budget_twin"]).to_dict()
        params = recipe_for(v["config"]["method"], kind_of("shapes"))["method_params"]
        for cfg in (same, healthy):
            cfg["method_params"] = {**params, **cfg["method_params"]}
            cfg.pop("name")
        assert same == healthy, v["name"]
        assert v["what_breaks"].endswith(".") and v["how_to_spot"].endswith(".")
        assert V.run_config(v["name"]).time_budget <= 60
        for param in v["broken"].get("method_params", {}):  # a parameter the method declares and documents
            cls = get_method(v["config"]["method"])
            assert param in cls.defaults
            source = inspect.getsource(inspect.getmodule(cls))
            comments = [line for line in source.splitlines() if line.strip().startswith("#")]
            assert any(param in line for line in comments), f"{cls.__name__}: {param} is not explained"
    no_colour = V.run_config("simclr-no-colour").pipeline
    assert no_colour["jitter_p"] == 0 and no_colour["gray_p"] == 0
    assert [e["temperature"] for e in V.TEMPERATURES] == [0.05, 0.2, 1.0]
    with pytest.raises(Exception, match="unknown 'nope'"):
        V.variant("nope")
    assert V.run_config("byol-no-predictor", owner="me").owner == "me"


def _method(name, **params):
    from sslviz.augment.engine import PRESETS
    from sslviz.methods import get_method
    from sslviz.methods.models import build_backbone

    torch.manual_seed(0)
    return get_method(name)(build_backbone("small-cnn", 1), num_classes=10, pipeline=PRESETS["digits"], **params)


def test_simsiam_without_the_stop_gradient_sends_gradient_into_the_targets():
    from sslviz.methods.simsiam import simsiam_loss

    for stop, expect_grad in ((True, False), (False, True)):
        p1, p2 = torch.randn(4, 8, requires_grad=True), torch.randn(4, 8, requires_grad=True)
        z1, z2 = torch.randn(4, 8, requires_grad=True), torch.randn(4, 8, requires_grad=True)
        simsiam_loss(p1, p2, z1, z2, stop_gradient=stop).backward()
        assert (z1.grad is not None and bool(z1.grad.abs().sum() > 0)) is expect_grad
    assert _method("simsiam", stop_gradient=False).hp["stop_gradient"] is False


def test_byol_without_its_predictor_compares_projections_directly():
    with_p, without = _method("byol"), _method("byol", predictor=False)
    assert any(k.startswith("predictor.") for k in with_p.state_dict())
    assert not any(k.startswith("predictor.") for k in without.state_dict())
    x = torch.rand(3, 1, 16, 16)
    z = without.projector(without.backbone(x))
    assert torch.equal(without.predictor(z), z)
    loss, metrics = without.step((x * 255).to(torch.uint8).repeat(2, 1, 1, 1), torch.zeros(6), torch.arange(6))
    assert torch.isfinite(loss) and 0 <= metrics["cosine"] <= 1.0001


def test_vicreg_without_its_variance_term_does_not_pay_for_a_collapse():
    from sslviz.methods.vicreg import vicreg_loss

    z = torch.ones(16, 8)  # every image at one point
    healthy, terms = vicreg_loss(z, z)
    broken, _ = vicreg_loss(z, z, std_coeff=0.0)
    assert terms["variance"] > 0.98 and healthy > 24 and broken == 0


def _write_lite(folder, name, spread=0.01, rank=1.5, knn=0.15, n=1000, cosine=0.98):
    """A lite run's two files as the builder writes them (lite.write_files), with made-up readings."""
    from sslviz.teaching.pretrained import lite

    cfg = V.run_config(name).to_dict()
    rng = np.random.default_rng(1)
    rows = []
    for epoch, (s, r, k) in enumerate(((0.4, 30.0, 0.3), (spread, rank, knn))):
        rows += [(epoch * 62, float(epoch), epoch * 20.0, m, v) for m, v in
                 (("spread", s), ("effective_rank", r), ("knn_accuracy", k), ("alignment", 0.1), ("uniformity", -1.0))]
    rows += [(30, 0.5, 10.0, "loss", -0.9), (31, 0.5, 10.0, "cosine", cosine)]
    summary = {"spread": spread, "effective_rank": rank, "knn_accuracy": knn, "spread_random_init": 0.4,
               "effective_rank_random_init": 30.0, "alignment": 0.02, "uniformity": -0.1, "epochs": 1}
    size = lite.write_files(name, folder, cfg, summary, rows, rng.normal(size=(n, 256)).astype(np.float32),
                            rng.integers(0, 8, n), np.arange(n) * 2, 1)
    assert size < 400_000
    return summary


def test_lite_runs_install_as_completed_runs_without_weights(store, tmp_path):
    from sslviz.embeddings.embedding import load_embedding, run_embedding, snapshot_epochs
    from sslviz.teaching.answers import runs_for_task
    from sslviz.teaching.pretrained import lite

    folder = tmp_path / "variants"
    _write_lite(folder, "simsiam-no-stop-gradient")
    _write_lite(folder, "simclr-shapes-t0.2", spread=0.5, rank=40.0, knn=0.6)
    assert lite.available(folder) == ["simsiam-no-stop-gradient", "simclr-shapes-t0.2"]
    new = lite.install(store, folder=folder)
    assert set(new) == {"simsiam-no-stop-gradient", "simclr-shapes-t0.2"}
    assert lite.install(store, folder=folder) == {} and lite.pending(store, folder) == []
    run_id = new["simsiam-no-stop-gradient"]
    run = store.get(run_id)
    assert run["status"] == "completed" and run["owner"] == "pretrained"
    assert run["summary"]["lite"] is True and run["summary"]["variant"] == "simsiam-no-stop-gradient"
    assert "pretrained" not in run["summary"]  # the zoo's choosers must not open on a broken variant
    assert run["config"]["method_params"]["stop_gradient"] is False
    assert not (store.run_dir(run_id) / "checkpoint.pt").exists()
    assert snapshot_epochs(store.run_dir(run_id)) == [1]
    emb = run_embedding(store, run_id)
    assert len(emb) == lite.EMBED_POINTS and emb.dims == 256 and emb.features.dtype == np.float32
    assert np.all(np.diff(emb.index) > 0)
    untrained = load_embedding(store, run_id, "random-init")  # rebuilt from the config's seed: no weights needed
    assert untrained.features.shape[0] == lite.EMBED_POINTS
    assert [r["value"] for r in store.metrics(run_id, ["spread"])] == [0.4, 0.01]
    assert run_id not in [r["id"] for r in runs_for_task(store, "contrastive")]  # pages that need weights skip it
    store.delete(new["simclr-shapes-t0.2"])
    assert set(lite.run_ids(store)) == {"simsiam-no-stop-gradient"}


def test_a_broken_lite_file_is_one_line_and_skipped(store, tmp_path):
    from sslviz.teaching.pretrained import lite

    folder = tmp_path / "variants"
    _write_lite(folder, "vicreg-no-variance")
    (folder / "vicreg-no-variance.npz").write_bytes(b"not a numpy file")
    errors = []
    assert lite.install(store, folder=folder, log=errors.append) == {}
    assert len(errors) == 1 and errors[0].startswith("lite run vicreg-no-variance: cannot read its files")
    assert store.list() == []


# ---- the views (AppTest, live refresh off) --------------------------------------------------------


def _gallery():
    from sslviz.ui.contrastive_views import collapse_gallery

    collapse_gallery("g")


def _explorer():
    from sslviz.ui.contrastive_views import temperature_explorer

    temperature_explorer(None, "t", temperature=0.2, batch=8)


def _texts(at) -> str:
    return " ".join(str(e.value) for kind in ("markdown", "caption", "info", "warning") for e in at.get(kind))


def test_both_views_say_in_one_line_what_is_missing_on_an_empty_store(store):
    for script in (_gallery, _explorer):
        at = AppTest.from_function(script, default_timeout=60).run()
        assert not at.exception, at.exception
        assert "not installed in this store" in _texts(at)
    at = AppTest.from_function(_explorer, default_timeout=60).run()
    assert "No trained SimCLR run with weights" in _texts(at)


def test_the_gallery_shows_variants_beside_their_twins_and_trains_one_live(store, tmp_path, monkeypatch):
    from sslviz.core.files import atomic_write_text
    from sslviz.teaching.pretrained import lite
    from sslviz.training import worker

    folder = tmp_path / "variants"
    _write_lite(folder, "simsiam-no-stop-gradient")
    _write_lite(folder, "simsiam-shapes-healthy", spread=0.5, rank=6.0, knn=0.3, cosine=0.85)
    monkeypatch.setattr(lite, "FOLDER", folder)
    lite.install(store)
    twin = store.create(dict(V.twin_config("simsiam-no-stop-gradient").to_dict(), owner="pretrained"), status="completed")
    store.update(twin, summary={"spread": 0.5, "effective_rank": 40.0, "knn_accuracy": 0.4, "pretrained": "simsiam-shapes"})
    store.add_metrics(twin, [(0, 0.0, 0.0, "spread", 0.4), (600, 10.0, 240.0, "spread", 0.5)])
    atomic_write_text(store.root / "pretrained.json", '{"simsiam-shapes": "%s"}' % twin)
    submitted = []
    monkeypatch.setattr(worker, "submit", lambda cfg, s: submitted.append(cfg) or twin)

    at = AppTest.from_function(_gallery, default_timeout=60).run()
    assert not at.exception, at.exception
    table = at.dataframe[0].value
    assert list(table["run"]) == ["SimSiam without the stop-gradient", "healthy twin, same budget",
                                  "simsiam-shapes (healthy, trained longer)"]
    assert "collapsed to a point" in table["collapse gauge"][0]
    assert list(table["collapse gauge"][1:]) == ["no warning", "no warning"]
    assert len(at.get("plotly_chart")) == 2  # the side-by-side bars and the variant's curves
    assert "What breaks." in _texts(at)
    assert at.success and at.success[0].value.startswith(
        "Told apart: agreement of the two branches (cosine) 0.980 for the broken run against 0.850")
    at.button(key="g.train.simsiam-no-stop-gradient").click().run()
    assert not at.exception, at.exception
    assert submitted and submitted[0].method_params["stop_gradient"] is False and submitted[0].owner
    assert at.session_state["g.live.simsiam-no-stop-gradient"] == twin  # the run panel follows the run
    at.selectbox(key="g.variant").set_value("vicreg-no-variance").run()
    assert not at.exception and "The shipped run of this variant is not installed" in _texts(at)


def test_the_explorer_explains_a_real_batch_of_a_trained_run(store, tmp_path, monkeypatch):
    from conftest import tiny_config

    from sslviz.data import load_dataset
    from sslviz.teaching.pretrained import lite
    from sslviz.training.train import build_method, save_checkpoint

    cfg = tiny_config(method="simclr", dataset="digits")
    run_id = store.create(cfg.to_dict(), status="completed")
    torch.manual_seed(0)
    method = build_method(cfg, load_dataset("digits", image_size=cfg.image_size), torch.device("cpu"))
    save_checkpoint(store.run_dir(run_id) / "checkpoint.pt", method, None, cfg, {"epoch": 1})
    folder = tmp_path / "variants"
    _write_lite(folder, "simclr-shapes-t0.05", spread=0.6, rank=50.0, knn=0.5)
    monkeypatch.setattr(lite, "FOLDER", folder)
    lite.install(store)

    at = AppTest.from_function(_explorer, default_timeout=60).run()
    assert not at.exception, at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["negatives per anchor"] == "14"  # batch 8: 16 views, 14 negatives
    loss_at_02 = float(metrics["NT-Xent loss"])
    shown = at.image[0].proto.imgs  # the anchor, its positive and its 3 hardest negatives, weights in the captions
    assert len(shown) == 5 and shown[1].caption.startswith("positive: weight ")
    assert len(at.get("plotly_chart")) == 3  # heatmap, the temperature curve, the three runs' bars
    assert at.dataframe[0].value["temperature"].tolist() == [0.05]
    at.select_slider(key="t.t").set_value(1.0).run()
    assert float({m.label: m.value for m in at.metric}["NT-Xent loss"]) != loss_at_02
    at.select_slider(key="t.batch").set_value(32).run()
    assert {m.label: m.value for m in at.metric}["negatives per anchor"] == "62"
    assert not at.exception


# ---- trained for real (slow): each variant is told apart from its twin by the measure it names ------

BRIEF = dict(epochs=2, time_budget=None, image_size=16)  # 124 steps on shapes; measured in variants.py


def _train(config, tmp):
    from sslviz.embeddings import factor_probe
    from sslviz.embeddings.embedding import load_snapshot, snapshot_epochs
    from sslviz.data import load_dataset
    from sslviz.training.train import Reporter, run

    report = Reporter(interval=0)
    summary = V.readings(run(config, tmp, report), report.rows)
    features, _, index = load_snapshot(tmp, snapshot_epochs(tmp)[-1])
    data = load_dataset("shapes", image_size=16)
    factors = {k: np.asarray(v)[index] for k, v in data.test.factors.items()}
    scores = factor_probe.probe(features, factors, list(data.class_names))
    summary["colour"] = next(s.score for s in scores if s.factor == "colour")
    return summary


@pytest.mark.slow
@pytest.mark.parametrize("name", [v["name"] for v in V.VARIANTS])
def test_each_variant_is_told_apart_from_its_healthy_twin_by_its_measure(name, tmp_path):
    torch.set_num_threads(2)
    broken = _train(V.run_config(name, **BRIEF), tmp_path / "broken")
    healthy = _train(V.twin_config(name, **BRIEF), tmp_path / "healthy")
    ok, sentence = V.tells_apart(name, broken, healthy)
    print(name, sentence, {k: (round(broken.get(k) or 0, 3), round(healthy.get(k) or 0, 3)) for k in
                           ("spread", "effective_rank", "knn_accuracy", "agreement", "colour", "uniformity")})
    assert ok, f"{name}: {sentence}"
    if V.variant(name)["measure"] == "collapse":
        assert broken["knn_accuracy"] < healthy["knn_accuracy"]


@pytest.mark.slow
def test_the_builder_writes_a_lite_run_that_installs_and_shows(store, tmp_path):
    from sslviz.embeddings.embedding import run_embedding
    from sslviz.teaching.pretrained import lite

    out = tmp_path / "variants"
    r = lite.build_one("vicreg-no-variance", out, time_budget=8)
    assert r["lite"] is True and r["bytes"] < 400_000 and r["epochs"] >= 1
    info = __import__("json").loads((out / "vicreg-no-variance.json").read_text())
    assert info["config"]["method_params"]["std_coeff"] == 0.0 and info["config"]["backbone"] != "auto"  # resolved
    assert {"spread", "effective_rank", "knn_accuracy", "loss"} <= {row[3] for row in info["metrics"]}
    new = lite.install(store, folder=out)
    run = store.get(new["vicreg-no-variance"])
    assert run["summary"]["knn_accuracy"] == r["knn_accuracy"] and run["summary"]["lite"] is True
    assert len(run_embedding(store, run["id"])) == min(lite.EMBED_POINTS, 1000)
