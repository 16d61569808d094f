"""Teaching studio library code: pretext examples and answers, the augmentation grid, explainer cards."""

import dataclasses
import re

import numpy as np
import pytest
import torch

from sslviz.augment import pretext
from sslviz.augment.engine import PRESETS, Pipeline
from sslviz.teaching import answers
from sslviz.training.recipes import default_pipeline

IDENTITY = PRESETS["none"]


def _images(n=6, c=3, size=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, c, size, size), generator=g, dtype=torch.uint8)


# ---- pretext generators: inputs and targets agree (the ones tests/test_pretext.py and
# tests/test_methods_pretext.py and test_methods_learn.py do not cover) -------------------------------------------------


def test_colorization_luma_and_chroma_put_back_the_image():
    x = _images().float() / 255
    luma, chroma = pretext.colorization_task(x)
    assert torch.allclose(pretext.combine_luma_chroma(luma, chroma), x, atol=1e-5)
    gray = x.mean(1, keepdim=True).expand(-1, 3, -1, -1)  # a gray image has (almost) no chroma:
    assert pretext.colorization_task(gray)[1].abs().max() < 2e-4  # the ITU weights sum to 0.9999


def test_rotation_task_is_undone_by_its_own_targets_for_every_angle():
    x = _images(3)
    inputs, targets = pretext.rotation_task(x)
    for k in range(4):
        block = inputs[k * 3:(k + 1) * 3]
        assert (targets[k * 3:(k + 1) * 3] == k).all()
        assert torch.equal(torch.rot90(block, -k, dims=(-2, -1)), x)
    assert not torch.equal(pretext.undo_rotation(inputs, (targets + 1) % 4), x.repeat(4, 1, 1, 1))


def test_masking_keeps_the_visible_pixels_and_greys_the_hidden_ones():
    x = _images().float() / 255
    masked, mask = pretext.mask_patches(x, 4, 0.5, torch.Generator().manual_seed(1))
    m = mask.expand_as(x).bool()
    assert torch.equal(masked[~m], x[~m]) and torch.all(masked[m] == 0.5)


# ---- examples and answers ---------------------------------------------------------------------


def test_every_task_example_is_displayable_and_its_targets_are_consistent():
    x = _images(4, size=32)
    rot = answers.example("rotation", x)
    assert rot["inputs"].shape == (16, 32, 32, 3) and rot["inputs"].dtype == np.uint8
    jig = answers.example("jigsaw", x, seed=3)
    # undoing the shown order restores the original (as displayed)
    perms = pretext.jigsaw_permutations(jig["grid"])
    shuffled = torch.from_numpy(jig["inputs"]).permute(0, 3, 1, 2)
    restored = pretext.undo_jigsaw(shuffled, torch.from_numpy(jig["targets"]), perms)
    assert np.array_equal(restored.permute(0, 2, 3, 1).numpy(), jig["originals"])
    assert all(np.array_equal(o, perms[t].numpy()) for o, t in zip(jig["orders"], jig["targets"]))
    rel = answers.example("relative-position", x, seed=2)
    assert rel["centre"].shape[1] < 32 and set(rel["targets"]) <= set(range(8))
    col = answers.example("colorization", x)
    assert col["inputs"].shape == col["targets"].shape
    assert np.array_equal(col["inputs"][..., 0], col["inputs"][..., 2])  # the network sees gray only
    inp = answers.example("inpainting", x, seed=1)
    assert (inp["inputs"] != inp["targets"]).any()
    den = answers.example("denoising-ae", x, seed=1)
    assert den["inputs"].shape == den["targets"].shape
    with pytest.raises(answers.AnswerError, match="colour images"):
        answers.example("colorization", _images(2, c=1))


def test_contrastive_game_answer_points_at_the_other_view_of_each_image():
    x = _images(8)
    game = answers.contrastive(x, pipeline=IDENTITY, seed=4)  # identity views: view 2 == the image
    for i, j in enumerate(game["answer"]):
        assert np.array_equal(game["view2"][j], game["view1"][i])
    assert np.array_equal(game["picked"], game["answer"])  # raw pixels find identical views
    assert game["similarity"].shape == (8, 8) and game["source"] == "pixels"
    assert sorted(game["answer"]) == list(range(8)) and not np.array_equal(game["answer"], np.arange(8))


class _Oracle(torch.nn.Module):
    """A stand-in RotNet that always knows the answer: the task's bookkeeping must then score 100%."""

    def predict_rotation(self, inputs):
        n = len(inputs) // 4
        return torch.arange(4).repeat_interleave(n)


def test_rotation_answers_and_score_from_a_method():
    x = _images(5, size=16)
    out = answers.example("rotation", x, _Oracle())
    assert np.array_equal(out["predicted"], out["targets"])
    score = answers.task_score("rotation", _Oracle(), _images(40, size=16))
    assert score.value == 1.0 and score.baseline == 0.25 and score.beats_baseline and score.n == 160


def _method(name, dataset="shapes", channels=3, size=16, **params):
    from sslviz.training.config import RunConfig
    from sslviz.training.train import build_method

    torch.manual_seed(0)
    from sslviz.data import load_dataset

    cfg = RunConfig(method=name, dataset=dataset, image_size=size, device="cpu", method_params=params)
    data = load_dataset(dataset, image_size=size)
    assert data.channels == channels
    m = build_method(cfg, data, torch.device("cpu")).eval()
    m.generator = torch.Generator().manual_seed(0)
    return m


def test_a_pretext_tasks_key_is_its_methods_name_and_the_old_denoising_name_still_answers(store):
    """One name, one thing: the denoising task is "denoising-ae", as its method; a lesson file or a link that
    still says "denoising" gets the same task (TASK_ALIASES)."""
    assert all(task == method for task, method in answers.tasks().items() if task != "contrastive")
    method = _method("denoising-ae")
    images = _images(20, size=32)
    old, new = answers.task_score("denoising", method, images), answers.task_score("denoising-ae", method, images)
    assert old == new and new.name == "denoising error (mean squared)"
    assert answers.runs_for_task(store, "denoising") == answers.runs_for_task(store, "denoising-ae") == []
    with pytest.raises(answers.AnswerError, match="^task: unknown 'denoise'"):
        answers.task_score("denoise", method, images)


@pytest.mark.parametrize("task", ["jigsaw", "relative-position", "colorization", "inpainting", "denoising-ae", "contrastive"])
def test_untrained_methods_answer_every_task_with_valid_scores(task):
    method = _method(answers.tasks()[task])
    x = _images(6, size=32)
    example = answers.contrastive(x, method=method) if task == "contrastive" else answers.example(task, x, method)
    if task == "contrastive":
        assert example["source"] == "run" and example["similarity"].shape == (6, 6)
    else:
        assert "predicted" in example
    score = answers.task_score(task, method, _images(20, size=32))
    assert np.isfinite(score.value) and np.isfinite(score.baseline) and score.n >= 20
    if task == "denoising-ae":  # the lazy answer is the noisy input itself, on the same draws
        x20 = _images(20, size=32).float() / 255
        noisy, clean = pretext.denoising_task(x20, method.hp["sigma"], method.hp["drop"], torch.Generator().manual_seed(0))
        assert score.baseline == pytest.approx(float(((noisy - clean) ** 2).mean()))
        assert not score.higher_is_better
    if task == "jigsaw":  # the image is put back together exactly when the guess is right
        for ok, restored, original in zip(example["predicted"] == example["targets"], example["restored"],
                                          example["originals"]):
            assert bool(ok) == np.array_equal(restored, original)


# ---- the augmentation grid ----------------------------------------------------------------------


def test_augmentation_grid_is_reproducible_and_each_control_changes_the_views():
    from sslviz.plots.teaching import augmentation_grid, draw_views

    x = _images(4, size=16)
    p = default_pipeline("shapes")
    a = augmentation_grid(x, (p, p), 4, seed=0, scale=2)
    assert a.dtype == np.uint8 and a.ndim == 3 and a.shape[2] == 3
    assert np.array_equal(a, augmentation_grid(x, (p, p), 4, seed=0, scale=2))
    assert not np.array_equal(a, augmentation_grid(x, (p, p), 4, seed=1, scale=2))
    hue = dataclasses.replace(p, hue=0.1)
    assert not np.array_equal(a, augmentation_grid(x, (hue, hue), 4, seed=0, scale=2))
    # the original row does not depend on the pipeline; identity views equal the image
    same, _ = draw_views(x, (IDENTITY, IDENTITY), 2, seed=0)
    assert torch.allclose(same[:4], x.float() / 255, atol=1e-6)


def test_asymmetric_pairs_use_the_second_pipeline_for_the_second_view():
    from sslviz.plots.teaching import draw_views

    x = _images(3)
    gray = Pipeline(crop_p=0, flip_p=0, jitter_p=0, gray_p=1.0)
    views, params = draw_views(x, (IDENTITY, gray), 4, seed=0)
    assert [bool(p["gray"].all()) for p in params] == [False, True, False, True]
    v = views.reshape(4, 3, 3, 16, 16)
    assert torch.allclose(v[0], x.float() / 255, atol=1e-6)
    assert torch.allclose(v[1][:, 0], v[1][:, 1]) and torch.allclose(v[1][:, 1], v[1][:, 2])


def test_describe_params_says_what_was_drawn():
    from sslviz.augment.engine import sample_params
    from sslviz.plots.teaching import describe_params

    p = sample_params(2, Pipeline(crop_p=1, flip_p=1, jitter_p=0, gray_p=1), torch.Generator().manual_seed(0))
    text = describe_params(p, 0)
    assert "crop" in text and "mirrored" in text and "grayscale" in text
    assert describe_params(sample_params(1, IDENTITY), 0) == "unchanged"


# ---- explainer cards --------------------------------------------------------------------------


def _balanced(latex: str) -> bool:
    depth = 0
    for ch in re.sub(r"\\[{}]", "", latex):
        depth += {"{": 1, "}": -1}.get(ch, 0)
        if depth < 0:
            return False
    return depth == 0


def test_every_method_has_a_written_card_with_formula_and_its_own_loss_code():
    import inspect

    from sslviz.methods import get_method, list_methods
    from sslviz.teaching.cards import card, cards, loss_source

    names = [m["name"] for m in list_methods()]
    assert [c.method for c in cards()] == names
    for name in names:
        c = card(name)
        assert c.written, f"{name} has no written card in sslviz/teaching/cards.py"
        assert c.predicts and c.invariance and c.collapse and c.formula, name
        assert _balanced(c.formula), f"unbalanced braces in {name}'s formula"
        src = loss_source(name)
        assert src.lstrip().startswith("def ") or "@torch.no_grad()" in src, name
        module = inspect.getmodule(get_method(name))
        if c.loss_function:  # the named function is the module's own pure loss function
            fn = getattr(module, c.loss_function)
            assert fn.__module__ == module.__name__ and c.loss_function in src, name
            assert inspect.getsource(fn) == src
