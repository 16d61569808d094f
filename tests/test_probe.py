"""The factor probe on constructed embeddings whose readable factors are known."""

import io
import json
import math

import numpy as np
import pytest

from sslviz.data.shapes import SHAPES, sample_factors
from sslviz.embeddings.factor_probe import (
    FACTORS,
    ProbeError,
    describe,
    factor_targets,
    probe,
    probe_run,
    summary_sentence,
)


def _factors(n=800, seed=0):
    f = sample_factors(n, seed)
    return {k: v for k, v in f.items() if not k.startswith("_")}


def _encode(f, keep, noise_dims=40, seed=0):
    """An embedding that holds exactly the factors in `keep` (linearly), plus noise dimensions."""
    rng = np.random.default_rng(seed)
    n = len(f["shape"])
    cols = [rng.normal(size=(n, noise_dims))]
    if "shape" in keep:
        cols.append(np.eye(len(SHAPES))[f["shape"]] * 3)
    if "colour" in keep:  # on the colour circle, as a network that sees hue would hold it
        cols.append(np.stack([np.cos(2 * np.pi * f["colour"]), np.sin(2 * np.pi * f["colour"])], 1) * 3)
    if "position" in keep:
        cols.append(np.stack([f["x"], f["y"]], 1) * 10)
    if "rotation" in keep:  # what an image can show: the angle modulo the shape's symmetry
        order = np.array([{"square": 4, "triangle": 3, "star": 5, "cross": 4}.get(SHAPES[s], 1) for s in f["shape"]])
        cols.append(np.stack([np.cos(order * f["rotation"]), np.sin(order * f["rotation"])], 1) * 3)
    return np.concatenate(cols, 1)


def _scores(result):
    return {s.factor: s for s in result}


def test_readable_factors_score_high_and_absent_ones_near_zero():
    f = _factors()
    s = _scores(probe(_encode(f, {"shape", "colour", "position"}), f, SHAPES))
    assert list(s) == list(FACTORS)
    assert s["shape"].metric == "accuracy" and s["shape"].score > 0.95
    assert s["shape"].chance == pytest.approx(1 / 8, abs=0.01)
    assert s["colour"].score > 0.9 and s["position"].score > 0.9
    for absent in ("size", "rotation", "background"):
        assert s[absent].metric == "R²" and s[absent].score < 0.1, absent


def test_nothing_readable_gives_chance_accuracy_and_zero_r2():
    f = _factors()
    s = _scores(probe(_encode(f, set()), f, SHAPES))
    assert abs(s["shape"].score - 1 / 8) < 0.06
    assert all(s[k].score < 0.1 for k in ("colour", "size", "position", "rotation", "background"))


def test_hue_is_circular_a_hue_of_099_is_close_to_001():
    f = _factors()
    # an embedding holding hue on the circle is read perfectly ...
    circ = _scores(probe(_encode(f, {"colour"}), f, SHAPES))["colour"].score
    assert circ > 0.9
    # ... and the targets themselves agree that 0.99 and 0.01 are neighbours
    t = factor_targets({**f, "colour": np.array([0.99, 0.01, 0.5] + [0.2] * (len(f["shape"]) - 3))}, SHAPES)["colour"][0]
    assert np.linalg.norm(t[0] - t[1]) < 0.2 < np.linalg.norm(t[0] - t[2])


def test_rotation_uses_each_shapes_symmetry_and_leaves_out_circles_and_rings():
    f = _factors()
    targets, kept = factor_targets(f, SHAPES)["rotation"]
    round_ones = np.isin(np.array(SHAPES)[f["shape"]], ["circle", "ring"])
    assert np.array_equal(kept, ~round_ones)
    # a square turned by a quarter turn is the same image: same target
    sq = {k: np.asarray(v)[:2].copy() for k, v in f.items()}
    sq["shape"][:] = SHAPES.index("square")
    sq["rotation"][:] = [0.3, 0.3 + math.pi / 2]
    t, _ = factor_targets(sq, SHAPES)["rotation"]
    assert np.allclose(t[0], t[1])
    s = _scores(probe(_encode(f, {"rotation"}), f, SHAPES))["rotation"]
    assert s.score > 0.9 and s.n == int((~round_ones).sum())


def test_wide_embeddings_are_reduced_and_give_the_same_picture():
    f = _factors(800)
    wide = np.concatenate([_encode(f, {"shape"}), np.random.default_rng(1).normal(size=(800, 600))], 1)
    s = _scores(probe(wide, f, SHAPES))
    assert s["shape"].score > 0.9 and s["colour"].score < 0.1


def test_bad_inputs_give_one_line_errors():
    f = _factors(30)
    with pytest.raises(ProbeError, match="too few"):
        probe(np.random.default_rng(0).normal(size=(30, 5)), f, SHAPES)
    with pytest.raises(ProbeError, match="only `shapes`"):
        probe(np.zeros((100, 3)), {"shape": np.zeros(100, int)}, SHAPES)
    g = _factors(100)
    x = np.random.default_rng(0).normal(size=(100, 5))
    x[3, 2] = np.nan
    with pytest.raises(ProbeError, match="NaN"):
        probe(x, g, SHAPES)


def test_summary_names_what_training_forgot_and_kept():
    f = _factors()
    before = probe(_encode(f, {"shape", "colour", "position"}, seed=1), f, SHAPES)
    after = probe(_encode(f, {"shape"}, seed=2), f, SHAPES)
    changes = describe(after, before)
    assert set(changes["forgotten"]) == {"colour", "position"} and "shape" in changes["unchanged"]
    text = summary_sentence(changes)
    assert "colour and position" in text and "harder to read" in text


def test_probe_run_compares_the_run_with_its_baselines_and_caches(store):
    """A fabricated shapes run: its epoch-1 snapshot holds shape only, epoch 0 (untrained) holds colour."""
    from conftest import tiny_config

    from sslviz.data import load_dataset

    data = load_dataset("shapes", image_size=16, seed=0)
    index = np.arange(0, 2000, 4)[:500]
    f = {k: np.asarray(v)[index] for k, v in data.test.factors.items()}
    run_id = store.create(tiny_config(dataset="shapes").to_dict())
    for epoch, keep in ((0, {"colour"}), (1, {"shape"})):
        buf = io.BytesIO()
        np.savez(buf, features=_encode(f, keep).astype(np.float16), labels=f["shape"], index=index)
        (store.run_dir(run_id) / f"embeddings_{epoch:04d}.npz").write_bytes(buf.getvalue())
    store.update(run_id, status="completed")
    result = probe_run(store, run_id)
    run, untrained, pixels = (_scores(result[k]) for k in ("run", "random-init", "pixels"))
    assert run["shape"].score > 0.9 and run["colour"].score < 0.1
    assert untrained["colour"].score > 0.9 and untrained["shape"].score < 0.3
    assert pixels["background"].score > 0.8  # raw pixels: the background brightness is everywhere
    cache = store.run_dir(run_id) / "probe_run_0001.json"
    assert json.loads(cache.read_text())["scores"][0]["factor"] == "shape"
    # digits has no factors: a clear message, not a traceback
    other = store.create(tiny_config().to_dict())
    buf = io.BytesIO()
    np.savez(buf, features=np.random.default_rng(0).normal(size=(60, 4)).astype(np.float16), labels=np.zeros(60, int), index=np.arange(60))
    (store.run_dir(other) / "embeddings_0001.npz").write_bytes(buf.getvalue())
    with pytest.raises(ProbeError, match="no factors"):
        probe_run(store, other)
