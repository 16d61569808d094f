"""The shipped zoo holds the lesson: every shipped run, installed and re-scored, matches the figures
recorded at its build and clears the bars its recipe claims."""

import json

import pytest
import torch

import sslviz.teaching.pretrained as pretrained
from sslviz.teaching.pretrained.install import install


@pytest.fixture(scope="module")
def installed_zoo(tmp_path_factory):
    from sslviz.training.runs import RunStore

    store = RunStore(tmp_path_factory.mktemp("zoo-store"))
    errors = []
    new = install(store, log=errors.append)
    assert not errors, errors
    return store, new


def test_every_shipped_entry_is_built_small_and_named_for_people():
    names = pretrained.available()
    assert set(names) == set(pretrained.CATALOG), "every catalogue entry ships"
    # the whole zoo: checkpoints, their sidecars and the precomputed experiment
    total = sum(p.stat().st_size for p in pretrained.FOLDER.iterdir() if p.suffix in (".pt", ".json"))
    # "near 30 MB" (issue 23): the 38 entries of 2026-12-07 took 29.4 MB, NNCLR's two (issue 25) 1.6 MB more
    assert total <= 32e6, f"the zoo takes {total / 1e6:.1f} MB"
    for name in names:
        assert pretrained.CATALOG[name]["name"].endswith(", pretrained") and name in pretrained.NOTES
        assert " on " in pretrained.CATALOG[name]["name"]


def test_every_shipped_entry_was_built_with_the_recipe_and_budget_it_has_now():
    """A recipe or budget changed without rebuilding the zoo would ship runs the tables do not describe:
    every entry's stored config is the one `pretrained build` would train it with today."""
    from sslviz.teaching.pretrained.build import up_to_date

    stale = [name for name in pretrained.available() if not up_to_date(name)]
    assert not stale, f"rebuild with `python -m sslviz pretrained build`: {stale}"


def test_rescored_at_install_within_001_of_the_build(installed_zoo):
    store, new = installed_zoo
    for name, run_id in new.items():
        check = store.get(run_id)["summary"]["zoo_check"]
        recorded = json.loads(pretrained.info_path(name).read_text())["summary"]
        assert check["verdict"] == "ok", (name, check)
        assert check["recorded"]["knn_accuracy"] == recorded["knn_accuracy"], name
        assert check["rescored"]["knn_accuracy"] == pytest.approx(recorded["knn_accuracy"], abs=0.01), name


def test_every_shipped_run_clears_the_bars_its_recipe_claims(installed_zoo):
    """'Beats' means beyond the noise (issue 25, point 3): a bar is met by more than LEVEL (2 points);
    a run level with a line is listed in recipes.SHORTFALLS with its measured seed spread."""
    from sslviz.evaluation.fewshot_stats import LEVEL
    from sslviz.training.recipes import SHORTFALLS, claims

    store, new = installed_zoo
    for name, run_id in new.items():
        s = store.get(run_id)["summary"]
        if name in pretrained.COUNTER_EXAMPLES:  # shipped to show what goes wrong: held to that lesson
            assert s["knn_at_install"] < s["knn_random_init"], name
            continue
        info = json.loads(pretrained.info_path(name).read_text())["summary"]
        bars = claims(pretrained.CATALOG[name]["method"], s["recipe"]["kind"])
        if "few-label" in bars:  # a linear probe on 10 labels per class: above raw pixels and untrained
            # the benchmark's 5 paired draws where the entry is the benchmark's run, else the monitor's 3
            mine, pix, rnd = (("linear10", "linear10_pixels", "linear10_random_init") if "linear10" in info
                              else ("few_label_linear", "few_label_pixels", "few_label_random_init"))
            assert info[mine] - max(info[pix], info[rnd]) > LEVEL, (name, info[mine], info[pix], info[rnd])
        if "knn" in bars:  # joint-embedding and clustering methods on colour images: kNN with all labels
            assert s["knn_at_install"] - s["knn_pixels"] > LEVEL, (name, s["knn_at_install"], s["knn_pixels"])
        if (pretrained.CATALOG[name]["method"], s["recipe"]["kind"]) in SHORTFALLS:  # the table's word, still true
            assert not info["linear10"] - max(info["linear10_pixels"], info["linear10_random_init"]) > LEVEL, \
                f"{name} now meets the few-label bar beyond the noise: take it out of recipes.SHORTFALLS"


def test_the_rotnet_exception_holds_its_measured_cause(installed_zoo):
    """RotNet on shapes is excused from the bars because shapes have no 'up': the shipped RotNet on
    shapes answers rotations near chance (25%), where the one on digits answers most of them."""
    from sslviz.data import load_dataset
    from sslviz.teaching import answers
    from sslviz.training.recipes import EXCEPTIONS

    store, new = installed_zoo
    assert ("rotation", "graphics") in EXCEPTIONS
    trained = answers.load_trained(store, new["rotation-shapes"])
    data = load_dataset("shapes", image_size=trained.config["image_size"])
    score = answers.task_score("rotation", trained.method, data.test.images[:400])
    assert score.value < 0.45, score


def test_the_shipped_rotnet_answers_its_own_task(installed_zoo):
    from sslviz.data import load_dataset
    from sslviz.teaching import answers

    store, new = installed_zoo
    trained = answers.load_trained(store, new["rotation-mnist"])
    data = load_dataset("mnist-10k", image_size=trained.config["image_size"])
    score = answers.task_score("rotation", trained.method, data.test.images[:300])
    assert score.value >= 0.9, score  # a class sees mostly right answers


def test_every_shipped_pretext_run_answers_its_own_task_better_than_the_lazy_answer(installed_zoo):
    """What the Pretext page shows a class: each shipped run of a pretext method, loaded as the page
    loads it, beats chance (or for the painting tasks the obvious lazy answer) on 512 held-out
    images. Methods trained on altered inputs answer with their task's batch-norm statistics
    (answers.task_statistics): with the clean-image ones the checkpoint keeps for scoring, the
    denoising autoencoder on shapes answered with 10 times the noisy input's error."""
    from sslviz.data import load_dataset
    from sslviz.teaching import answers

    store, new = installed_zoo
    task_of = {method: task for task, method in answers.tasks().items() if task != "contrastive"}
    checked = []
    for name, run_id in new.items():
        method = pretrained.CATALOG[name]["method"]
        if method not in task_of or name == "rotation-shapes":  # shapes have no 'up' (the exception above)
            continue
        trained = answers.load_trained(store, run_id)
        data = load_dataset(trained.config["dataset"], image_size=trained.config["image_size"])
        score = answers.task_score(task_of[method], trained.method, data.test.images[:512])
        assert score.beats_baseline, (name, score)
        if task_of[method] in ("inpainting", "denoising-ae"):  # the painting tasks: well under the lazy answer's error
            # (not colorization on shapes: its colours are random, grey alone cannot tell them; 0.0112 vs 0.0116)
            assert score.value < 0.7 * score.baseline, (name, score)
        checked.append(name)
    assert len(checked) == 10, checked  # rotation, jigsaw, relative position, inpainting, denoising on MNIST; colorization and 4 on shapes


def test_only_what_the_pages_use_ships_and_a_missing_backbone_is_refused():
    from sslviz.data import load_dataset
    from sslviz.teaching.pretrained.build import NOT_SHIPPED, slim_state
    from sslviz.teaching.pretrained.install import load_shipped_state
    from sslviz.teaching.pretrained.storage import unpack_state
    from sslviz.training.config import RunConfig
    from sslviz.training.train import build_method

    data = load_dataset("digits", image_size=16)
    byol = build_method(RunConfig(method="byol", dataset="digits", image_size=16), data, torch.device("cpu"))
    shipped = slim_state(byol.state_dict(), "byol")
    groups = {k.split(".", 1)[0] for k in shipped}
    assert groups == {"backbone", "projector"}  # the contrastive game on the Pretext page uses the projector
    assert not groups & set(NOT_SHIPPED["byol"])
    restored = unpack_state(shipped)
    fresh = build_method(RunConfig(method="byol", dataset="digits", image_size=16), data, torch.device("cpu"))
    load_shipped_state(fresh, restored, "byol")
    key = next(k for k in shipped if k.startswith("backbone.") and shipped[k].dtype == torch.int8)
    original = byol.state_dict()[key]
    # int8 with a scale per output channel: every weight within half a step (max|w| / 254) of its channel's
    step = original.flatten(1).abs().amax(1).reshape(-1, *[1] * (original.dim() - 1)) / 127
    assert ((fresh.state_dict()[key] - original).abs() <= step / 2 + 1e-7).all()
    assert torch.equal(fresh.state_dict()[key], restored[key])
    with pytest.raises(RuntimeError, match="missing"):
        load_shipped_state(fresh, {k: v for k, v in restored.items() if k != key}, "byol")
