"""Recipes follow the data, not its name; the live few-label score and its baselines."""

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import tiny_config

from sslviz.data import load_dataset
from sslviz.training import recipes, train
from sslviz.training.config import RunConfig


def _write_folder(images: torch.Tensor, labels: torch.Tensor, root: Path) -> Path:
    from PIL import Image

    for i, (img, y) in enumerate(zip(images, labels)):
        d = root / f"class_{int(y)}"
        d.mkdir(parents=True, exist_ok=True)
        Image.fromarray(img[0].numpy()).save(d / f"{i:05d}.png")
    return root


@pytest.mark.parametrize("name, kind", [("digits", "grey-centred"), ("mnist-10k", "grey-centred"),
                                        ("shapes", "graphics")])
def test_kind_of_data_is_read_off_the_images(name, kind):
    from sslviz.data import kind_of
    from sslviz.training.recipes import default_pipeline

    # the registry's kind for the dataset is what its images show (the recipes read the registry)
    assert recipes.traits(load_dataset(name)).data_kind == kind_of(name) and kind_of(name).name == kind
    # the Augmentations page's default for this dataset is what the trainer will use
    assert default_pipeline(name).to_dict() == recipes.resolve(RunConfig(dataset=name), load_dataset(name)).pipeline


def _imageset(images: torch.Tensor):
    from sslviz.data.split import make_imageset

    n = len(images)
    return make_imageset("made", ["a", "b"], images, np.arange(n) % 2, np.arange(n - 10), np.arange(n - 10, n))


def test_photos_graphics_and_position_are_told_apart():
    g = torch.Generator().manual_seed(0)
    # smooth random colour fields: many colours, varying everywhere, like photos
    photos = F.interpolate(torch.rand(200, 3, 8, 8, generator=g), size=32, mode="bicubic").clamp(0, 1)
    t = recipes.traits(_imageset(photos.mul(255).byte()))
    assert t.kind == "colour" and t.flat_fraction < 0.3
    # the same fields, calmer towards the border: what differs between images sits in the middle
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, 32), torch.linspace(-1, 1, 32), indexing="ij")
    window = 0.3 + 0.7 * (1 - (xx**2 + yy**2)).clamp(min=0)
    centred = 0.5 + (photos - 0.5) * window
    assert recipes.traits(_imageset(centred.mul(255).byte())).kind == "colour-centred"
    # greyscale, objects anywhere
    grey = load_dataset("shapes", image_size=16).train.images[:, :1]
    assert recipes.traits(_imageset(grey)).kind == "grey"
    # two flat colours per image, a disc anywhere: drawn, not photographed
    colours = torch.rand(200, 2, 3, 1, 1, generator=g)
    cx, cy = torch.rand(200, 1, 1, generator=g) * 2 - 1, torch.rand(200, 1, 1, generator=g) * 2 - 1
    disc = (((xx - cx) ** 2 + (yy - cy) ** 2) < 0.15).unsqueeze(1)
    drawn = torch.where(disc, colours[:, 0], colours[:, 1])
    assert recipes.traits(_imageset(drawn.mul(255).byte())).kind == "graphics"


def test_the_same_images_get_the_same_recipe_as_a_folder(tmp_path):
    """MNIST as the bundled set and as a folder of PNGs: same kind, same resolved run, same images."""
    mnist = load_dataset("mnist-10k", image_size=28)
    folder = _write_folder(mnist.train.images[:400], mnist.train.labels[:400], tmp_path / "digits")
    as_folder = load_dataset(f"folder:{folder}", image_size=28, cache_dir=str(tmp_path / "cache"))
    a = recipes.resolve(RunConfig(method="simclr", dataset="mnist-10k"), mnist)
    b = recipes.resolve(RunConfig(method="simclr", dataset=f"folder:{folder}"), as_folder)
    assert recipes.traits(as_folder).kind == "grey-centred"
    keep = ("backbone", "pipeline", "lr", "method_params", "batch_size", "image_size")
    assert {k: getattr(a, k) for k in keep} == {k: getattr(b, k) for k in keep}
    assert a.backbone == "small-cnn-grid" and a.pipeline["flip_p"] == 0.0  # a flipped 2 is not a 2
    assert a.image_size == 28  # MNIST's own size: no resampling of the digits
    # the trainer's loader: the folder read at 32 px to learn its kind, then at the recipe's 28 px,
    # where its pixels are the PNGs' own, as the bundled set's are
    config, data = recipes.resolve_with_data(RunConfig(method="simclr", dataset=f"folder:{folder}"))
    assert config.image_size == data.image_size == 28
    assert torch.equal(data.train.images.sort(0).values, as_folder.train.images.sort(0).values)


def test_image_size_follows_the_recipe_unless_the_config_names_one():
    digits, shapes = load_dataset("digits"), load_dataset("shapes")
    size = {m: recipes.resolve(RunConfig(method=m, dataset="digits"), digits).image_size
            for m in ("simclr", "vicreg", "supervised", "rotation", "jigsaw", "relative-position", "cpc", "gan")}
    # centred greyscale works at 28 px; jigsaw and CPC (patch grids tuned at 32 px) and the GAN keep 32
    assert size == {"simclr": 28, "vicreg": 28, "supervised": 28, "rotation": 28, "jigsaw": 32,
                    "relative-position": 28, "cpc": 32, "gan": 32}
    assert recipes.resolve(RunConfig(method="simclr", dataset="shapes"), shapes).image_size == 32
    assert recipes.resolve(RunConfig(method="simclr", dataset="digits", image_size=20), digits).image_size == 20
    config, data = recipes.resolve_with_data(RunConfig(method="simclr", dataset="digits"))
    assert config.image_size == data.image_size == 28 and data.channels == 1
    config, data = recipes.resolve_with_data(RunConfig(method="simclr", dataset="digits", image_size=16))
    assert config.image_size == data.image_size == 16
    with pytest.raises(Exception, match="image_size"):
        RunConfig.from_dict({"image_size": 4})
    # the Train page's line says the size it will work at
    assert "at 28 px" in recipes.training_recipe_note("simclr", "digits") and "at 32 px" in recipes.training_recipe_note("simclr", "shapes")


def test_explicit_choices_win_over_the_recipe():
    data = load_dataset("digits", image_size=16)
    cfg = RunConfig(method="simclr", dataset="digits", backbone="small-cnn", lr=0.5,
                    method_params={"temperature": 0.9}, pipeline={"flip_p": 1.0})
    out = recipes.resolve(cfg, data)
    assert out.backbone == "small-cnn" and out.lr == 0.5 and out.method_params["temperature"] == 0.9
    assert out.pipeline == {"flip_p": 1.0}
    assert recipes.resolve(out, data) == out  # resolving twice changes nothing


def test_every_recipe_entry_names_a_measurement_and_known_parameters():
    from sslviz.methods import get_method

    for (method, kind), entry in recipes.RECIPES.items():
        assert entry.get("measured"), (method, kind)
        assert kind == "*" or kind in recipes.KIND_DEFAULTS
        unknown = set(entry.get("method_params", {})) - set(get_method(method).defaults)
        assert not unknown, (method, unknown)


def test_the_trainer_stores_the_resolved_config_and_scores_few_labels(tmp_path):
    rep = train.Reporter()
    rep.resolved = lambda cfg: setattr(rep, "config", cfg)
    summary = train.run(tiny_config(epochs=2, backbone="auto"), tmp_path, rep)
    assert rep.config["backbone"] == "small-cnn-grid" and rep.config["pipeline"]["flip_p"] == 0.0
    assert summary["recipe"]["kind"] == "grey-centred"
    rows = {(r[1], r[3]): r[4] for r in rep.rows}
    few = [rows[(e, "few_label_linear")] for e in (0, 1, 2)]
    assert all(0.0 <= v <= 1.0 for v in few)
    assert summary["few_label_random_init"] == few[0] and summary["few_label_linear"] == few[-1]
    pixels = {rows[(e, "few_label_pixels")] for e in (0, 1, 2)}
    assert len(pixels) == 1 and 0.5 < pixels.pop() <= 1.0  # digits' pixels with 10 labels per class: a fixed line
    assert train.load_checkpoint(tmp_path / "checkpoint.pt")["config"]["backbone"] == "small-cnn-grid"
    # a config that leaves the image size open trains, and is stored, at the recipe's
    rep.rows = []
    summary = train.run(tiny_config(epochs=1, image_size=None), tmp_path / "open", rep)
    assert rep.config["image_size"] == 28 and summary["recipe"]["data"].startswith("greyscale, 28 px")
    np.testing.assert_equal(np.load(tmp_path / "open" / "embeddings_0001.npz")["features"].shape[0], 200)


def test_few_label_score_uses_fixed_paired_draws():
    from sslviz.evaluation.protocols import few_label_accuracy, few_label_draws

    labels = torch.arange(10).repeat(50)
    a, b = few_label_draws(labels, seed=1), few_label_draws(labels, seed=1)
    assert all(np.array_equal(x, y) for x, y in zip(a, b)) and len(a) == 3
    assert all(len(d) == 100 and np.bincount(labels[d].numpy()).tolist() == [10] * 10 for d in a)
    g = torch.Generator().manual_seed(0)
    centres = torch.randn(10, 32, generator=g) * 3
    feats = centres[labels] + torch.randn(len(labels), 32, generator=g)
    noise = torch.randn(len(labels), 32, generator=g)
    assert few_label_accuracy(feats, labels, feats, labels, a) > 0.95
    assert few_label_accuracy(noise, labels, noise[:200], labels[:200], a) < 0.4


@pytest.mark.parametrize("dataset", ["digits", "shapes"])
def test_every_method_builds_and_steps_with_its_recipe(dataset):
    """Each method, with the recipe for this kind of data (grid or max-pool backbones included),
    builds, takes a training step with a finite loss and embeds."""
    from sslviz.methods import list_methods

    data = load_dataset(dataset, image_size=16)
    x, y = data.train.images[:16], data.train.labels[:16]
    for info in list_methods():
        if info["name"] == "colorization" and data.channels == 1:
            continue  # refuses greyscale sets with a message (tested with the method)
        torch.manual_seed(0)
        cfg = RunConfig(method=info["name"], dataset=dataset, image_size=16, device="cpu")
        method = train.build_method(cfg, data, torch.device("cpu"))
        method.generator = torch.Generator().manual_seed(0)
        method.prepare(data.train.images[:64])
        method.on_epoch_start(0, data.train.images[:64])
        if method.trainable:
            loss, _ = method.step(x, y, torch.arange(16))
            assert torch.isfinite(loss), info["name"]
        feats = method.embed(x.float().div(255))
        assert feats.shape[0] == 16 and torch.isfinite(feats).all(), info["name"]


def test_train_page_chart_draws_the_few_label_view_with_its_baselines():
    from sslviz.plots.training import training_curves

    rows = []
    for epoch, (knn, few) in enumerate([(0.3, 0.2), (0.5, 0.35), (0.6, 0.4)]):
        for name, value in (("knn_accuracy", knn), ("knn_pixels", 0.37), ("few_label_linear", few),
                            ("few_label_pixels", 0.15), ("spread", 0.3), ("effective_rank", 40.0)):
            rows.append({"step": epoch * 10, "epoch": epoch, "elapsed": epoch * 5.0, "name": name, "value": value})
    fig = training_curves(rows)
    few = [t for t in fig.data if t.xaxis == "x3"]
    names = {t.name: list(t.y) for t in few}
    assert names["linear probe, 10 labels/class"] == [0.2, 0.35, 0.4]
    assert names["raw pixels"] == [0.15, 0.15] and names["untrained network"] == [0.2, 0.2]
    # a run recorded before the few-label score says so instead of drawing nothing silently
    old = training_curves([r for r in rows if not r["name"].startswith("few_label")])
    assert any("not recorded" in a.text for a in old.layout.annotations)


def test_batch_size_follows_the_recipe_unless_the_config_names_one():
    data = load_dataset("shapes")
    kind = recipes.traits(data).kind
    entry = recipes.recipe_for("simclr", kind)
    assert recipes.resolve(RunConfig(method="simclr", dataset="shapes"), data).batch_size == entry["batch_size"]
    assert recipes.resolve(RunConfig(method="simclr", dataset="shapes", batch_size=64), data).batch_size == 64
    plain = recipes.resolve(RunConfig(method="vicreg", dataset="shapes"), data)  # no batch in its recipe
    assert "batch_size" not in recipes.recipe_for("vicreg", kind) and plain.batch_size == recipes.DEFAULT_BATCH_SIZE
    with pytest.raises(Exception, match="batch_size"):
        RunConfig.from_dict({"batch_size": 1})


def test_the_bars_each_recipe_claims_and_its_measured_exceptions(monkeypatch):
    assert recipes.claims("byol", "graphics") == {"few-label", "knn"}
    assert recipes.claims("rotation", "grey-centred") == {"few-label"}  # digits have an 'up'
    assert recipes.claims("rotation", "graphics") == set() and ("rotation", "graphics") in recipes.EXCEPTIONS
    assert recipes.claims("simclr", "grey-centred") == {"few-label"}  # raw pixels are strong on MNIST
    assert all(recipes.claims(b, "graphics") == set() for b in recipes.BASELINES)
    assert recipes.claims("cpc", "graphics") == {"few-label"}  # met on shapes since its lr 5e-4 (not a joint embedding)
    # the entries level with a line beyond the noise across three seeds (issue 25, point 3; BENCHMARKS.md
    # "Seed spread near the baselines") are listed, each with its measured margin, and claim no few-label bar
    assert set(recipes.SHORTFALLS) == {("denoising-ae", "graphics"), ("gan", "graphics"), ("inpainting", "graphics"),
                                       ("gan", "grey-centred")}
    assert all("3 seeds" in why for why in recipes.SHORTFALLS.values())
    assert recipes.claims("inpainting", "graphics") == set()
    # CPC on MNIST left the list with its lr chosen on the validation split (2e-3: the shipped run 0.792 against
    # raw pixels' 0.757; BENCHMARKS.md "Recipes re-checked on the validation split"), so it claims the bar again
    assert recipes.claims("cpc", "grey-centred") == {"few-label"} and recipes.recipe_for("cpc", "grey-centred")["lr"] == 2e-3
    assert recipes.claims("inpainting", "grey-centred") == {"few-label"}  # on MNIST it clears raw pixels by 4 points
    # a bar not met yet is listed, and then not claimed (the zoo test holds the list to the shipped runs)
    monkeypatch.setitem(recipes.SHORTFALLS, ("jigsaw", "grey-centred"), "10 labels per class under raw pixels")
    assert recipes.claims("jigsaw", "grey-centred") == set() and recipes.claims("jigsaw", "graphics") == {"few-label"}
    assert recipes.claims("deepcluster", "grey-centred") == {"few-label"}
