"""A method is one file: what the rest of the app knows of a method is declared on its class and
derived from the registry (sslviz/methods/__init__.py).

The class declares its card, its family, whether it is a joint-embedding (or clustering) method, its
test budget, the datasets its zoo entries are built on and, for a pretext method, its own task as the
Pretext Tasks page shows and scores it. The explainer cards, the pretext tasks,
the recipes' family lists and claims, the method tests' budgets, Compare's list and the zoo's lists
are read off the registry, so a method file dropped into sslviz/methods/ appears in all of them with
nothing else edited (the first test does exactly that, with a file in a temporary folder added to
the package's path). The second test holds the derived tables to the ones that were written by hand
before (tests/method_tables_before.json, dumped from them on 2026-12-07; build.NOT_SHIPPED copied from
its last hand-written version): the shipped runs and the recipes depend on those values.
"""

import dataclasses
import json
import sys
import textwrap
from pathlib import Path

import pytest

import sslviz.methods as methods_pkg
from sslviz.methods import get_method, method_names

BEFORE = json.loads((Path(__file__).parent / "method_tables_before.json").read_text())

TOY_MODULE = '''
"""A throwaway method: one file, nothing else edited."""
import torch.nn.functional as F

from sslviz.methods.base import Method, MethodCard
from sslviz.methods.models import mlp_head


def toy_loss(z1, z2):
    """Pull the two views' projections together (a toy: it would collapse)."""
    return -F.cosine_similarity(z1, z2).mean()


class Toy(Method):
    name = "toy-one-file"
    title = "Toy"
    family = "non-contrastive"
    paper = "Nobody, 2026. A toy"
    target = "the other view's projection"
    description = "A toy method."
    joint_embedding = True
    test_budget = (7, 8)
    ships = ("shapes", "mnist-10k")
    not_shipped = ("predictor",)
    card = MethodCard(title="Toy: pull views together", predicts="From one view, the other view's projection.",
                      formula=r"\\mathcal{L} = -\\cos(z_1, z_2)", invariance="What the augmentations change.",
                      collapse="It collapses: nothing pushes images apart.", loss_function="toy_loss")
    defaults = {"proj_dim": 16}

    def __init__(self, backbone, **kw):
        super().__init__(backbone, **kw)
        self.projector = mlp_head(backbone.out_dim, 32, self.hp["proj_dim"])

    def step(self, images, labels, index):
        z1, z2 = self.projector(self.backbone(self.two_views(images))).chunk(2)
        loss = toy_loss(z1, z2)
        return loss, {"loss": loss.item()}


METHOD = Toy
'''


TOY_PRETEXT_MODULE = '''
"""A throwaway pretext method: one file, nothing else edited. Its task: undo a dimming."""
import torch

from sslviz.methods.base import Method, MethodCard, PretextTask


def undim_loss(predicted, image):
    """Mean squared error of the brightened copy."""
    return ((predicted - image) ** 2).mean()


class ToyPainter(Method):
    name = "toy-pretext-one-file"
    title = "Toy painter"
    family = "pretext"
    paper = "Nobody, 2026. A toy pretext task"
    target = "the image from a dimmed copy"
    description = "A toy pretext method."
    card = MethodCard(title="Toy: undo the dimming", predicts="From a copy at half brightness, the image.",
                      formula=r"\\mathcal{L} = \\|g x / 2 - x\\|^2", invariance="None.",
                      collapse="It cannot collapse; it learns one number.", loss_function="undim_loss")
    pretext = PretextTask(title="Toy: undo the dimming", layout="paint",
                          captions=("a dimmed copy", "the image", "its brightening"), lazy="the dimmed copy itself")
    defaults = {}

    def __init__(self, backbone, **kw):
        super().__init__(backbone, **kw)
        self.gain = torch.nn.Parameter(torch.ones(1))

    def step(self, images, labels, index):
        x = self.views(images)
        loss = undim_loss(x / 2 * self.gain, x)
        return loss, {"loss": loss.item()}

    @classmethod
    @torch.no_grad()
    def pretext_example(cls, x, method=None, seed=0):
        out = {"inputs": x / 2, "targets": x}
        if method is not None:
            predicted = x / 2 * method.gain
            out.update(predicted=predicted.clamp(0, 1), error=float(undim_loss(predicted, x)),
                       lazy_error=float(undim_loss(x / 2, x)))
        return out


METHOD = ToyPainter
'''


@pytest.fixture
def toy_method(tmp_path, monkeypatch):
    """The toy method's file in a folder of its own, on the methods package's path: the registry
    finds it as it finds every method file (no monkeypatched registry, no list edited)."""
    folder = tmp_path / "more_methods"
    folder.mkdir()
    (folder / "toy_one_file.py").write_text(textwrap.dedent(TOY_MODULE))
    (folder / "toy_pretext_one_file.py").write_text(textwrap.dedent(TOY_PRETEXT_MODULE))
    monkeypatch.setattr(methods_pkg, "__path__", [*methods_pkg.__path__, str(folder)])
    methods_pkg._registry.cache_clear()
    yield get_method("toy-one-file")
    methods_pkg._registry.cache_clear()
    sys.modules.pop("sslviz.methods.toy_one_file", None)
    sys.modules.pop("sslviz.methods.toy_pretext_one_file", None)


def test_a_method_is_one_file(toy_method):
    import method_support

    from sslviz.teaching import cards, pretrained
    from sslviz.training import recipes
    from sslviz.training.config import RunConfig

    assert "toy-one-file" in method_names()  # Compare's "add methods" list and the Train page read this
    card = cards.card("toy-one-file")
    assert card.written and card.title == "Toy: pull views together" and card.family == "non-contrastive"
    assert "def toy_loss" in cards.loss_source("toy-one-file")
    assert "toy-one-file" in recipes.JOINT_AND_CLUSTERING and "toy-one-file" not in recipes.BASELINES
    assert recipes.claims("toy-one-file", "graphics") == {"few-label", "knn"}
    assert recipes.claims("toy-one-file", "grey-centred") == {"few-label"}
    assert method_support.method_test_budgets()["toy-one-file"] == (7, 8)
    from sslviz.teaching.pretrained import build

    assert build._not_shipped()["toy-one-file"] == ("predictor",)
    assert "toy-one-file" in pretrained.zoo_methods("shapes") and "toy-one-file" in pretrained.zoo_methods("mnist-10k")
    RunConfig(method="toy-one-file", dataset="shapes").validate()  # Compare's same-budget runs are RunConfigs


def test_a_pretext_method_is_one_file_too(toy_method):
    """A pretext method's task appears on the Pretext Tasks page's list with its title, shows an example
    and scores a run, from its file alone (methods/base.py PretextTask)."""
    import numpy as np
    import torch

    from sslviz.methods.models import build_backbone
    from sslviz.teaching import answers
    from sslviz.training.recipes import default_pipeline

    assert answers.tasks()["toy-pretext-one-file"] == "toy-pretext-one-file"
    assert answers.task_titles()["toy-pretext-one-file"] == "Toy: undo the dimming"
    images = torch.randint(0, 256, (6, 3, 16, 16), dtype=torch.uint8)
    shown = answers.example("toy-pretext-one-file", images)
    assert shown["inputs"].dtype == np.uint8 and shown["inputs"].shape == (6, 16, 16, 3) and "predicted" not in shown
    cls = get_method("toy-pretext-one-file")
    method = cls(build_backbone("small-cnn", 3), num_classes=10, pipeline=default_pipeline("shapes")).eval()
    with torch.no_grad():
        method.gain.fill_(2.0)  # a run that has learnt its task: brightening undoes the dimming exactly
    shown = answers.example("toy-pretext-one-file", images, method)
    assert np.array_equal(shown["predicted"], shown["targets"])
    score = answers.task_score("toy-pretext-one-file", method, torch.randint(0, 256, (40, 3, 16, 16), dtype=torch.uint8))
    assert score.value == pytest.approx(0.0, abs=1e-12) and score.baseline > 0.01 and score.beats_baseline
    assert score.baseline_name == "the dimmed copy itself" and score.name == "toy: undo the dimming error (mean squared)"
    # the page draws it in the painting layout with the captions the class gives
    from sslviz.ui import pretext_views

    assert pretext_views.layout_of("toy-pretext-one-file") == ("paint", ("a dimmed copy", "the image", "its brightening"))


def test_the_derived_tables_are_the_ones_written_by_hand_before():
    import method_support

    from sslviz.teaching import cards, pretrained
    from sslviz.training import recipes

    for name, before in BEFORE["cards"].items():
        assert dataclasses.asdict(cards.card(name)) == before, name
    assert set(recipes.BASELINES) == set(BEFORE["baselines"])
    before_joint = set(BEFORE["joint_and_clustering"])
    assert set(recipes.JOINT_AND_CLUSTERING) & set(BEFORE["cards"]) == before_joint
    budgets = method_support.method_test_budgets()
    assert {n: list(budgets[n]) for n in BEFORE["test_budgets"]} == BEFORE["test_budgets"]
    from sslviz.teaching.pretrained.build import NOT_SHIPPED

    assert {n: list(v) for n, v in NOT_SHIPPED.items() if n in BEFORE["cards"]} == BEFORE["not_shipped"]
    assert set(pretrained.ZOO_METHODS) & set(BEFORE["cards"]) == set(BEFORE["zoo_shapes"])
    assert set(pretrained.MNIST_ZOO_METHODS) & set(BEFORE["cards"]) == set(BEFORE["zoo_mnist"])
