"""A model made elsewhere (issue 24, points 3 and 5): ResNet checkpoints with torchvision's, lightly's and
solo-learn's key names and TorchScript load to the same features; the embedding job runs through the
worker's path (and once in a real worker process), resumes from its chunks and becomes an entry the pages
list; every bad file is one line naming it, store unchanged (sslviz/embeddings/model_loading.py,
model_import.py, sslviz/cli/import_command.py). Networks are built here with weights=None, never downloaded."""

import json
import os
import time

import numpy as np
import pytest
import torch
import torchvision
from conftest import ROOT
from streamlit.testing.v1 import AppTest

from sslviz.embeddings import embedding as E
from sslviz.embeddings import model_import
from sslviz.embeddings.model_loading import ModelFileError, load_backbone
from sslviz.training import worker

SIZE = 32  # px: digits embedded small, so the tests stay fast


@pytest.fixture(autouse=True)
def _quiet(monkeypatch, runs_dir):
    monkeypatch.setenv("SSLVIZ_NO_LIVE", "1")
    monkeypatch.setenv("SSLVIZ_LAUNCH_WORKERS", "0")


@pytest.fixture(scope="module")
def resnet():
    torch.manual_seed(0)
    model = torchvision.models.resnet18(weights=None)
    for m in model.modules():  # non-trivial running statistics, so a mapped-wrong batch norm would show
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    return model.eval()


def _features(model, x):
    head, model.fc = model.fc, torch.nn.Identity()
    try:
        with torch.no_grad():
            return model(x)
    finally:
        model.fc = head


def _save(layout: str, model, folder):
    sd = model.state_dict()
    if layout == "torchvision":
        torch.save(sd, folder / "tv.pth")
        return folder / "tv.pth"
    if layout == "lightly":  # lightly's examples: nn.Sequential(*list(resnet.children())[:-1]), Lightning-saved
        seq = torch.nn.Sequential(*list(model.children())[:-1])
        state = {f"model.backbone.{k}": v for k, v in seq.state_dict().items()}
        state["model.projection_head.layer.0.weight"] = torch.zeros(8, 512)
        torch.save({"epoch": 3, "state_dict": state}, folder / "lightly.ckpt")
        return folder / "lightly.ckpt"
    if layout == "solo-learn":  # solo-learn: state_dict with backbone.* (fc removed), projector and momentum heads
        state = {f"backbone.{k}": v for k, v in sd.items() if not k.startswith("fc.")}
        state["projector.0.weight"] = torch.zeros(8, 512)
        state["momentum_backbone.conv1.weight"] = sd["conv1.weight"]
        torch.save({"state_dict": state, "hyper_parameters": {"method": "byol"}}, folder / "solo.ckpt")
        return folder / "solo.ckpt"
    if layout == "dataparallel":
        torch.save({"model": {f"module.{k}": v for k, v in sd.items()}}, folder / "dp.pt")
        return folder / "dp.pt"
    if layout == "torchscript":
        with torch.no_grad():
            scripted = torch.jit.trace(torch.nn.Sequential(*list(model.children())[:-1]), torch.zeros(1, 3, 32, 32))
        scripted.save(str(folder / "model.ts"))
        return folder / "model.ts"
    raise AssertionError(layout)


@pytest.mark.parametrize("layout", ["torchvision", "lightly", "solo-learn", "dataparallel", "torchscript"])
def test_each_layout_gives_the_features_of_the_model_it_came_from(layout, resnet, tmp_path):
    path = _save(layout, resnet, tmp_path)
    backbone = load_backbone(path)
    x = torch.randn(3, 3, 32, 32)
    want = _features(resnet, x)
    with torch.no_grad():
        got = backbone.module(x)
    assert got.shape == (3, 512)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
    expected = {"dataparallel": "torchvision"}.get(layout, layout)
    assert backbone.info["layout"] == expected
    assert backbone.info["arch"] == ("torchscript" if layout == "torchscript" else "resnet18")


def test_a_cifar_stem_is_recognised_and_wants_32_px(tmp_path):
    from sslviz.embeddings.model_loading import default_size

    model = torchvision.models.resnet18(weights=None)
    model.conv1 = torch.nn.Conv2d(3, 64, 3, 1, 1, bias=False)
    model.maxpool = torch.nn.Identity()
    model.eval()
    seq = torch.nn.Sequential(*list(model.children())[:-1])
    torch.save({"state_dict": {f"backbone.{k}": v for k, v in seq.state_dict().items()}}, tmp_path / "c.ckpt")
    backbone = load_backbone(tmp_path / "c.ckpt")
    x = torch.randn(2, 3, 32, 32)
    torch.testing.assert_close(backbone.module(x).detach(), _features(model, x), rtol=1e-5, atol=1e-5)
    assert backbone.info["stem"] == "cifar" and default_size(backbone.info, 32) == 32
    assert default_size({"stem": "imagenet"}, 96) == 96 and default_size({"stem": "imagenet"}, 500) == 224


def _bad(kind, folder, resnet):
    if kind == "pickled":
        torch.save(resnet, folder / "whole.pt")
        return "whole.pt", "auto", r"^whole.pt: holds pickled Python objects \(torchvision.models.resnet.ResNet\)"
    if kind == "resnet50-as-18":
        torch.save(torchvision.models.resnet50(weights=None).state_dict(), folder / "r50.pth")
        return "r50.pth", "resnet18", r"^r50.pth: a ResNet-50 checkpoint .*loaded as ResNet-18: another architecture"
    if kind == "keys":
        sd = dict(resnet.state_dict())
        for k in ("layer4.1.conv2.weight", "layer4.1.bn2.weight", "bn1.bias"):
            sd.pop(k)
        sd["layer2.0.extra.weight"] = torch.zeros(1)
        torch.save(sd, folder / "keys.pth")
        return "keys.pth", "auto", (r"^keys.pth: the keys do not fit a ResNet-18 backbone: 3 of \d+ ResNet-18 keys missing "
                                    r"\(e.g. bn1.bias, layer4.1.conv2.weight, layer4.1.bn2.weight\); 1 unexpected "
                                    r"\(e.g. layer2.0.extra.weight\)")
    if kind == "no-resnet":
        torch.save({"encoder_q.weight": torch.zeros(3, 3)}, folder / "mlp.pt")
        return "mlp.pt", "auto", r"^mlp.pt: no ResNet backbone keys among its 1 tensors \(e.g. encoder_q.weight\)"
    if kind == "shape":
        sd = dict(resnet.state_dict())
        sd["layer1.0.conv1.weight"] = torch.zeros(32, 64, 3, 3)
        torch.save(sd, folder / "wide.pth")
        return "wide.pth", "auto", r"^wide.pth: layer1.0.conv1.weight is \[32, 64, 3, 3\] in the file .*another architecture"
    if kind == "resnet34":
        torch.save(torchvision.models.resnet34(weights=None).state_dict(), folder / "r34.pth")
        return "r34.pth", "auto", r"^r34.pth: ResNet-34 \(basic blocks \[3, 4, 6, 3\]\) is another architecture"
    if kind == "corrupt":
        torch.save(resnet.state_dict(), folder / "cut.pth")
        data = (folder / "cut.pth").read_bytes()
        (folder / "cut.pth").write_bytes(data[: len(data) // 3])
        return "cut.pth", "auto", r"^cut.pth: not a PyTorch checkpoint \(corrupt, truncated or another format"
    if kind == "garbage":
        (folder / "notes.pt").write_bytes(b"these are not weights\n" * 40)
        return "notes.pt", "auto", r"^notes.pt: not a PyTorch checkpoint"
    if kind == "bad-torchscript":
        (folder / "x.ts").write_bytes(b"\x00" * 100)
        return "x.ts", "torchscript", r"^x.ts: not a TorchScript file"
    raise AssertionError(kind)


BAD = ["pickled", "resnet50-as-18", "keys", "no-resnet", "shape", "resnet34", "corrupt", "garbage", "bad-torchscript"]


@pytest.mark.parametrize("kind", BAD)
def test_bad_model_is_one_line_naming_the_file_and_the_store_is_unchanged(kind, resnet, store, tmp_path):
    before = sorted(os.listdir(store.root))
    name, arch, message = _bad(kind, tmp_path, resnet)
    with pytest.raises(ModelFileError, match=message) as info:
        model_import.submit(store, tmp_path / name, "digits", arch=arch, image_size=SIZE)
    assert "\n" not in str(info.value)
    assert store.list(kind=None) == [] and sorted(os.listdir(store.root)) == before


def _run(store, job_id):
    store.update(job_id, status="running")
    return worker.execute(store, job_id, chain=False)


def test_the_job_embeds_the_dataset_and_becomes_an_entry(resnet, store, tmp_path):
    path = _save("lightly", resnet, tmp_path)
    job_id = model_import.submit(store, path, "digits", image_size=SIZE, start=False)
    assert store.get(job_id)["kind"] == "import-model" and store.list("import") == []
    result = _run(store, job_id)
    assert result["status"] == "completed", result
    run = store.get(job_id)
    assert run["kind"] == "import" and [r["id"] for r in store.list("import")] == [job_id]
    emb = E.load_embedding(store, job_id)
    from sslviz.data import load_dataset

    data = load_dataset("digits", image_size=8)
    assert len(emb) == len(data.train) + len(data.test) and emb.dims == 512
    want = _features(resnet, model_import_input(data.test.images[:5]))
    np.testing.assert_allclose(emb.features[len(data.train):len(data.train) + 5], want.numpy(), rtol=1e-4, atol=1e-4)
    info = run["summary"]["import"]
    assert (info["train"], info["test"]) == (len(data.train), len(data.test))
    papers = run["summary"]["papers"]
    assert papers["bank"] == len(data.train) and papers["test"] == len(data.test) and papers["knn20"] > 0.5
    assert E.images_for(emb).shape == (len(emb), 1, 32, 32)  # thumbnails of every row
    assert [r["id"] for r in E.runs_with_embeddings(store, imports=True)] == [job_id]
    assert run["config"]["class_names"] == [str(i) for i in range(10)]


def model_import_input(images):
    """What the job feeds the network: resized to SIZE, three channels, ImageNet's normalisation."""
    import torch.nn.functional as F

    x = F.interpolate(images.float().div(255).expand(-1, 3, -1, -1), size=(SIZE, SIZE), mode="bilinear",
                      antialias=True, align_corners=False)
    return (x - torch.tensor(model_import.MEAN).view(1, 3, 1, 1)) / torch.tensor(model_import.STD).view(1, 3, 1, 1)


def test_a_cancelled_job_resumes_from_its_chunks(resnet, store, tmp_path, monkeypatch):
    path = _save("torchvision", resnet, tmp_path)
    job_id = model_import.submit(store, path, "digits", image_size=SIZE, start=False)
    calls, first = [], [True]
    real = model_import.embed

    def counting(*a, **k):
        calls.append(1)
        if len(calls) == 3 and first[0]:
            store.request_stop(job_id)  # the user presses Stop while the third chunk embeds
        return real(*a, **k)

    monkeypatch.setattr(model_import, "embed", counting)
    assert _run(store, job_id)["status"] == "cancelled"
    chunks = sorted(os.listdir(store.run_dir(job_id) / "chunks"))
    assert chunks == ["train_0000.npz", "train_0001.npz", "train_0002.npz"] and store.list("import") == []
    kept = {c: (store.run_dir(job_id) / "chunks" / c).stat().st_mtime_ns for c in chunks}
    calls.clear()
    first[0] = False
    worker.resume(store, job_id, start=False)
    assert _run(store, job_id)["status"] == "completed"
    total = -(-1437 // model_import.CHUNK) + -(-360 // model_import.CHUNK)
    assert len(calls) == total - 3  # the three whole chunks were not embedded again
    assert all((store.run_dir(job_id) / "chunks" / c).stat().st_mtime_ns == t for c, t in kept.items())
    assert store.get(job_id)["kind"] == "import"


def test_cli_import_model_json_and_a_one_line_error(resnet, store, tmp_path, capsys):
    from sslviz.cli.main import main

    path = _save("solo-learn", resnet, tmp_path)
    assert main(["import", "model", str(path), "--dataset", "digits", "--image-size", str(SIZE), "--json",
                 "--runs-dir", str(store.root)]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["kind"] == "import" and out["status"] == "completed" and out["dims"] == 512
    assert out["model"]["layout"] == "solo-learn" and out["papers"]["knn20"] > 0.5
    torch.save(torchvision.models.resnet50(weights=None).state_dict(), tmp_path / "r50.pth")
    assert main(["import", "model", str(tmp_path / "r50.pth"), "--dataset", "digits", "--arch", "resnet18",
                 "--runs-dir", str(store.root)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: r50.pth: a ResNet-50 checkpoint") and "Traceback" not in err
    assert len(store.list(kind=None)) == 1


def test_a_real_worker_process_runs_the_job(resnet, store, tmp_path, monkeypatch):
    monkeypatch.setenv("SSLVIZ_LAUNCH_WORKERS", "1")
    path = _save("torchscript", resnet, tmp_path)
    job_id = model_import.submit(store, path, "digits", image_size=SIZE)
    deadline, seen = time.time() + 120, set()
    while time.time() < deadline and store.get(job_id)["status"] in ("queued", "running"):
        seen.add(round(store.get(job_id)["progress"], 2))
        time.sleep(0.3)
    run = store.get(job_id)
    assert run["status"] == "completed", (run["message"], run["error"])
    assert run["kind"] == "import" and run["summary"]["import"]["dims"] == 512
    assert any(0 < p < 1 for p in seen), seen  # progress was reported while it ran


@pytest.mark.parametrize("page, key", [("pages/4_Embeddings.py", "emb_run"), ("pages/6_Compare.py", "cmp-runs")])
def test_the_entry_is_listed_on_embeddings_and_compare(page, key, resnet, store, tmp_path):
    path = _save("torchvision", resnet, tmp_path)
    job_id = model_import.submit(store, path, "digits", image_size=SIZE, start=False)
    assert _run(store, job_id)["status"] == "completed"
    at = AppTest.from_file(str(ROOT / page), default_timeout=120)
    at.query_params["run"] = job_id
    at.run()
    assert not at.exception, at.exception
    if key == "emb_run":
        assert at.sidebar.selectbox(key=key).value == job_id
    else:
        assert at.multiselect(key=key).value == [job_id]


def test_embeddings_page_model_upload_shows_progress_and_opens_the_entry(resnet, store, tmp_path):
    path = _save("torchvision", resnet, tmp_path)
    at = AppTest.from_file(str(ROOT / "pages/4_Embeddings.py"), default_timeout=120).run()
    assert not at.exception, at.exception
    torch.save(torchvision.models.resnet50(weights=None).state_dict(), tmp_path / "r50.pth")
    at.sidebar.file_uploader(key="model-file").set_value(("r50.pth", (tmp_path / "r50.pth").read_bytes(),
                                                          "application/octet-stream")).run()
    at.sidebar.selectbox(key="model-dataset").set_value("digits")
    at.sidebar.selectbox(key="model-arch").set_value("resnet18")
    at.sidebar.number_input(key="model-size").set_value(SIZE)
    at.sidebar.button(key="model-go").click().run()
    assert any(e.value.startswith("r50.pth: a ResNet-50 checkpoint") for e in at.sidebar.error)
    assert store.list(kind=None) == []
    at.sidebar.file_uploader(key="model-file").set_value(("tv.pth", path.read_bytes(), "application/octet-stream")).run()
    at.sidebar.selectbox(key="model-arch").set_value("auto")
    at.sidebar.button(key="model-go").click().run()
    assert not at.exception, at.exception
    [job] = store.list(kind=None)
    assert job["kind"] == "import-model" and job["status"] == "queued"  # SSLVIZ_LAUNCH_WORKERS=0: no process here
    assert at.get("progress"), "no progress bar while the job waits"
    assert _run(store, job["id"])["status"] == "completed"
    at.run()
    at.sidebar.button(key="model-open").click().run()
    assert not at.exception, at.exception
    assert at.sidebar.selectbox(key="emb_run").value == job["id"]
