"""Few-shot building blocks: stratified draws, intervals, label savings, and every protocol on
constructed data (separable: near-perfect; noise: chance)."""

import math

import numpy as np
import pytest
import torch

from sslviz.core.errors import ConfigError
from sslviz.evaluation import protocols as evaluate
from sslviz.evaluation.fewshot_stats import (
    clip_notes,
    effective_per_class,
    label_savings,
    mean_ci,
    parse_budgets,
    stratified_draw,
    supervised_labels_needed,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _labels(sizes):
    rng = np.random.default_rng(0)
    y = np.concatenate([np.full(n, c) for c, n in enumerate(sizes)])
    return rng.permutation(y)


# ---- draws -------------------------------------------------------------------------------------

def test_draw_counts_per_class_and_clipping():
    y = _labels([50, 30, 3, 40])
    idx = stratified_draw(y, 5, seed=0)
    counts = np.bincount(y[idx], minlength=4)
    assert counts.tolist() == [5, 5, 3, 5]  # the 3-image class gives all it has
    assert len(np.unique(idx)) == len(idx) and np.all(np.diff(idx) > 0)
    assert stratified_draw(y, "all", 0).tolist() == list(range(len(y)))
    assert effective_per_class(y, 5) == pytest.approx((5 + 5 + 3 + 5) / 4)
    assert effective_per_class(y, "all") == pytest.approx(123 / 4)


def test_draw_is_reproducible_nested_and_seed_dependent():
    y = _labels([100] * 10)
    a, b = stratified_draw(y, 10, seed=3), stratified_draw(y, 10, seed=3)
    assert np.array_equal(a, b)  # a pure function of (labels, budget, seed): the same for every method
    assert not np.array_equal(a, stratified_draw(y, 10, seed=4))
    small = stratified_draw(y, 2, seed=3)
    assert set(small) <= set(a) <= set(stratified_draw(y, 50, seed=3))  # nested budgets


def test_draw_skips_unknown_labels_and_other_classes_do_not_move():
    y = _labels([20, 20, 20])
    y_unknown = y.copy()
    y_unknown[:10] = -1
    idx = stratified_draw(y_unknown, 100, seed=1)
    assert (y_unknown[idx] >= 0).all() and len(idx) == (y_unknown >= 0).sum()
    # adding a class to the data set changes no draw of the others
    y_more = np.concatenate([y, np.full(15, 3)])
    base = stratified_draw(y, 4, seed=2)
    more = stratified_draw(y_more, 4, seed=2)
    assert set(base) == set(more[y_more[more] != 3])


def test_clip_notes_name_the_short_classes():
    y = _labels([50, 2, 40])
    notes = clip_notes(y, [1, 10, 100, "all"], ["cat", "dog", "bird"])
    assert len(notes) == 2
    assert "10 labels per class" in notes[0] and "'dog' has 2" in notes[0] and "'cat'" not in notes[0]
    assert "100 labels per class" in notes[1] and "same as 'all'" in notes[1]


def test_parse_budgets_sorts_and_rejects_bad_values():
    assert parse_budgets("10, 1,all,5,10") == [1, 5, 10, "all"]
    assert parse_budgets([2, "1"]) == [1, 2]
    for bad in ("0", "ten", "", "1.5"):
        with pytest.raises(ConfigError, match="labels_per_class"):
            parse_budgets(bad)


def test_one_draw_for_supervised_runs_experiments_and_the_few_shot_colouring(tmp_path, monkeypatch):
    """The same seed labels the same images everywhere N labelled images per class are drawn: a
    supervised run on a few labels, a label-efficiency draw, the few-shot colouring, and one image
    per class on the Augmentations page (N = 1)."""
    from conftest import tiny_config

    from sslviz.data import load_dataset
    from sslviz.embeddings.neighbours import few_shot
    from sslviz.training import run_setup, train
    from sslviz.ui.teaching_views import pick_images

    cfg = tiny_config(method="supervised", labels_per_class=5, seed=3)
    data = load_dataset(cfg.dataset, image_size=cfg.image_size, seed=cfg.seed)
    labels = data.train.labels.numpy()
    expected = stratified_draw(labels, 5, cfg.seed)
    drawn = []
    monkeypatch.setattr(run_setup, "stratified_draw", lambda *a: drawn.append(stratified_draw(*a)) or drawn[-1])
    summary = train.run(cfg, tmp_path)
    assert len(drawn) == 1 and np.array_equal(drawn[0], expected)
    assert summary["train_images"] == len(expected) == 50
    shot = few_shot(np.random.default_rng(0).normal(size=(len(labels), 8)), labels, 5, seed=cfg.seed)
    assert np.array_equal(np.flatnonzero(shot.labelled), expected)
    picked = pick_images(data.train, 50, cfg.seed, one_per_class=True)
    assert sorted(picked.tolist()) == stratified_draw(labels, 1, cfg.seed).tolist()
    assert labels[picked].tolist() == sorted(set(labels.tolist()))  # one per class, in class order


# ---- statistics ----------------------------------------------------------------------------------

def test_mean_ci_is_the_student_t_interval():
    mean, std, half = mean_ci([0.8, 0.9, 1.0])
    assert mean == pytest.approx(0.9) and std == pytest.approx(0.1)
    assert half == pytest.approx(4.302652729911275 * 0.1 / math.sqrt(3))  # t(0.975, 2 dof)
    mean5, _, half5 = mean_ci([0.5, 0.6, 0.55, 0.52, 0.58])
    assert half5 == pytest.approx(2.7764451051977987 * np.std([0.5, 0.6, 0.55, 0.52, 0.58], ddof=1) / math.sqrt(5))
    assert mean_ci([0.7]) == (0.7, None, None)
    assert math.isnan(mean_ci([])[0])


def _row(method, lpc, acc, run_id=None, protocol="linear"):
    return dict(method=method, run_id=run_id, label=method, key=run_id or method, protocol=protocol,
                labels_per_class=lpc, labels_per_class_effective=float(lpc), mean=acc)


def test_label_savings_interpolates_on_a_log_scale_and_bounds():
    sup = [_row("supervised", n, a, protocol="scratch") for n, a in ((1, 0.3), (10, 0.6), (100, 0.9))]
    runs = [_row("simclr", 1, 0.6, "r1"), _row("simclr", 2, 0.75, "r1"), _row("simclr", 5, 0.95, "r1"),
            _row("simclr", 10, 0.2, "r1")]
    out = {s["labels_per_class"]: s for s in label_savings(sup + runs)}
    assert len(out) == 4  # supervised itself gets no savings row
    assert out[1]["bound"] == "=" and out[1]["supervised_labels_per_class"] == pytest.approx(10)
    assert out[1]["ratio"] == pytest.approx(10) and "10× as many labels" in out[1]["text"]
    assert out[2]["supervised_labels_per_class"] == pytest.approx(10 ** 1.5)  # halfway between 10 and 100 in log
    assert out[5]["bound"] == ">" and out[5]["supervised_labels_per_class"] == 100 and "never matched" in out[5]["text"]
    assert out[10]["bound"] == "<=" and "no saving" in out[10]["text"]
    assert label_savings(runs) == []  # no supervised baseline: nothing to read off
    assert supervised_labels_needed([], 0.5) is None


# ---- protocols on constructed data ----------------------------------------------------------------

def _clusters(n_per_class, classes=10, dim=32, spread=0.3, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(classes, dim)) * 3
    y = np.repeat(np.arange(classes), n_per_class)
    return (centres[y] + spread * rng.normal(size=(len(y), dim))).astype(np.float32), y


def _noise(n, classes=10, dim=32, seed=1):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, dim)).astype(np.float32), rng.integers(0, classes, n)


def test_knn_k_follows_the_label_count():
    assert [evaluate.knn_k(n) for n in (1, 2, 5, 20, 100, 1000)] == [1, 2, 5, 20, 20, 20]


@pytest.mark.parametrize("protocol", ["knn", "linear", "self-training"])
def test_feature_protocols_are_near_perfect_on_separable_data_and_chance_on_noise(protocol):
    pool_x, pool_y = _clusters(60)
    test_x, test_y = _clusters(100, seed=0)[0][::-1].copy(), _clusters(100, seed=0)[1][::-1].copy()
    test_x = test_x + 0.3 * np.random.default_rng(5).normal(size=test_x.shape).astype(np.float32)
    idx = stratified_draw(pool_y, 5, seed=0)
    noise_pool, noise_pool_y = _noise(600)
    noise_test, noise_test_y = _noise(3000, seed=2)
    nidx = stratified_draw(noise_pool_y, 20, seed=0)

    def score(px, py, tx, ty, labelled):
        ps, ts = evaluate.standardise(px, tx)
        if protocol == "knn":
            return evaluate.knn_protocol(px[labelled], py[labelled], tx, ty, 10)
        if protocol == "linear":
            return evaluate.linear_probe(ps[labelled], py[labelled], ts, ty)[0]
        rest = np.setdiff1d(np.arange(len(py)), labelled)
        return evaluate.self_training(ps[labelled], py[labelled], ps[rest], ts, ty, 10)

    assert score(pool_x, pool_y, test_x, test_y, idx) >= 0.98
    assert abs(score(noise_pool, noise_pool_y, noise_test, noise_test_y, nidx) - 0.1) < 0.05


def test_linear_probe_validates_c_and_falls_back_with_one_label():
    x, y = _clusters(8, classes=4)
    C, note = evaluate.choose_c(x, y, seed=0)
    assert C in evaluate.LINEAR_CS and "inner validation" in note
    one = stratified_draw(y, 1, seed=0)
    C1, note1 = evaluate.choose_c(x[one], y[one])
    assert C1 == evaluate.LINEAR_C_ONE_SHOT and "too few labels" in note1
    acc, used = evaluate.linear_probe(x[one], y[one], x, y)
    assert used == evaluate.LINEAR_C_ONE_SHOT and acc > 0.9


def _pattern_images(n_per_class, classes=4, size=8, seed=0, random_labels=False):
    """Class c: a bright square in quadrant c on a noisy background (uint8 N×1×size×size)."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(classes).repeat_interleave(n_per_class)
    x = torch.randint(0, 60, (len(y), 1, size, size), generator=g, dtype=torch.uint8)
    h = size // 2
    for i, c in enumerate(y.tolist()):
        r, q = divmod(c, 2)
        x[i, 0, r * h:(r + 1) * h, q * h:(q + 1) * h] = 230
    if random_labels:
        y = torch.randint(0, classes, (len(y),), generator=g)
        x = torch.randint(0, 256, x.shape, generator=g, dtype=torch.uint8)
    return x, y.numpy()


def test_finetune_and_scratch_learn_separable_images_and_stay_at_chance_on_noise():
    from sslviz.evaluation.finetune import finetune_schedule, train_classifier
    from sslviz.methods.models import build_backbone

    torch.manual_seed(0)
    backbone = build_backbone("small-cnn", 1)
    train_x, train_y = _pattern_images(3)
    test_x, test_y = _pattern_images(40, seed=1)
    for pretrained in (True, False):
        acc = train_classifier(backbone, train_x, train_y, test_x, test_y, 4, pretrained=pretrained, max_steps=25)
        assert acc >= 0.95
    nx, ny = _pattern_images(10, random_labels=True)
    tx, ty = _pattern_images(250, seed=3, random_labels=True)
    acc = train_classifier(backbone, nx, ny, tx, ty, 4, pretrained=False, max_steps=25)
    assert abs(acc - 0.25) < 0.08
    assert finetune_schedule(10, 300) == (100, 16) and finetune_schedule(5000, 300) == (300, 64)
    # a stop request returns NaN (the cell is dropped, never a half-trained number)
    assert math.isnan(train_classifier(backbone, train_x, train_y, test_x, test_y, 4, should_stop=lambda: True))
