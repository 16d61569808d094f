"""Which runs the pages open on, and how they name them (sslviz/ui/run_choice.py and the pretext
task's run list): human names with a short id, unique; the best run per method by kNN (completed
with a checkpoint first), not the newest; the pretrained runs on shapes without the counter-example."""

from zoo_support import fake_run

from sslviz.ui import run_choice as rc


def _run(run_id, method="simclr", dataset="shapes", name="", status="completed", knn=None, pretrained=None):
    summary = {k: v for k, v in (("knn_accuracy", knn), ("pretrained", pretrained)) if v is not None}
    return {"id": run_id, "method": method, "dataset": dataset, "name": name, "status": status, "summary": summary,
            "config": {"name": name}}


def test_labels_show_the_human_name_then_a_short_id_and_stay_unique():
    runs = [_run("simclr-3fa2c1", name="SimCLR on shapes, pretrained"),
            _run("barlow-twins-00aa11", method="barlow-twins", dataset="digits"),
            _run("rotation-abcdef", method="rotation", dataset="mnist-10k", status="running"),
            # two runs whose names and random parts read alike: the whole ids tell them apart
            _run("simclr-777777", name="mine"), _run("byol-777777", method="byol", name="mine")]
    labels = rc.run_labels(runs, rc.status_note)
    assert labels["simclr-3fa2c1"] == "SimCLR on shapes, pretrained · 3fa2c1"
    assert labels["barlow-twins-00aa11"] == "Barlow Twins on digits · 00aa11"  # the method's title, not its id
    assert labels["rotation-abcdef"] == "RotNet on mnist-10k · abcdef (running)"
    assert labels["simclr-777777"] == "mine · simclr-777777" and labels["byol-777777"] == "mine · byol-777777"
    assert len(set(labels.values())) == len(runs)
    assert all(not label.startswith(run_id) for run_id, label in labels.items())  # never the id alone, nor first


def test_best_first_prefers_finished_runs_with_checkpoints_then_knn_not_the_newest():
    newest_weak = _run("simclr-000001", knn=0.40)
    running_high = _run("simclr-000002", knn=0.99, status="running")
    best = _run("simclr-000003", knn=0.80)
    unscored = _run("simclr-000004")
    no_ckpt = _run("simclr-000005", knn=0.95)
    runs = [newest_weak, running_high, best, unscored, no_ckpt]  # newest first, as the store lists them
    has = lambda r: r["id"] != "simclr-000005"  # noqa: E731
    assert [r["id"] for r in rc.best_first(runs, has)] == \
        ["simclr-000003", "simclr-000001", "simclr-000004", "simclr-000002", "simclr-000005"]
    assert rc.best_run(runs, "simclr", has)["id"] == "simclr-000003"
    assert rc.best_run(runs, "byol") is None


def test_zoo_runs_are_the_pretrained_shapes_runs_best_first_without_the_counter_example():
    runs = [_run("simclr-c0c0c0", knn=0.14, pretrained="simclr-shapes-no-colour"),
            _run("byol-b0b0b0", method="byol", knn=0.70, pretrained="byol-shapes"),
            _run("simclr-a0a0a0", knn=0.87, pretrained="simclr-shapes"),
            _run("simclr-d0d0d0", dataset="mnist-10k", knn=0.96, pretrained="simclr-mnist"),
            _run("simclr-e0e0e0", knn=0.99)]  # the user's own run: not the zoo
    assert rc.zoo_runs(runs) == ["simclr-a0a0a0", "byol-b0b0b0"]
    assert rc.zoo_runs(runs, "mnist-10k") == ["simclr-d0d0d0"]
    assert rc.zoo_runs(runs, "shapes", "byol") == ["byol-b0b0b0"]


def test_embeddings_default_is_the_best_self_supervised_run_on_shapes():
    runs = [_run("supervised-000001", method="supervised", knn=0.99, pretrained="supervised-shapes"),
            _run("pixels-000002", method="pixels", knn=0.30),
            _run("simclr-000003", knn=0.95, pretrained="simclr-shapes-no-colour"),  # counter-example: never
            _run("simclr-000004", dataset="mnist-10k", knn=0.96),
            _run("byol-000005", method="byol", knn=0.70),
            _run("simclr-000006", knn=0.87, name="SimCLR on shapes, pretrained", pretrained="simclr-shapes")]
    assert rc.default_embedding_run(runs) == "simclr-000006"
    assert rc.default_embedding_run([r for r in runs if r["dataset"] != "shapes" or r["method"] == "pixels"]) == \
        "simclr-000004"  # no self-supervised run on shapes: the best one elsewhere
    assert rc.default_embedding_run(runs[:2]) == "supervised-000001"  # nothing self-supervised: the best run
    assert rc.default_embedding_run([]) is None


def test_pretext_task_offers_the_methods_best_run_first(store):
    from sslviz.teaching.answers import runs_for_task
    from sslviz.ui.pretext_views import task_runs

    good = fake_run(store, "rotation", "mnist-10k", knn=0.95, pretrained="rotation-mnist")
    fake_run(store, "rotation", "shapes", knn=0.55, pretrained="rotation-shapes")
    fake_run(store, "rotation", "shapes", knn=0.99, checkpoint=False)  # no checkpoint: cannot answer
    assert task_runs(runs_for_task(store, "rotation"), "rotation")[0]["id"] == good
    # the contrastive game: SimCLR's best run first, then the others
    simclr = fake_run(store, "simclr", knn=0.87)
    fake_run(store, "simclr", knn=0.30)
    fake_run(store, "moco", knn=0.90)
    ordered = task_runs(runs_for_task(store, "contrastive"), "simclr")
    assert [r["id"] for r in ordered][0] == simclr and [r["method"] for r in ordered][:2] == ["simclr", "simclr"]


def test_a_lite_run_of_the_lessons_is_never_what_a_page_opens_on():
    """The broken variants and temperature trials ship without weights (summary "lite"): a page's default
    stays the real zoo run even when a lite run scores higher."""
    healthy = _run("simclr-aaaaaa", knn=0.8, pretrained="simclr-shapes")
    lite = _run("simclr-bbbbbb", knn=0.9)
    lite["summary"]["lite"] = True
    assert rc.is_counter_example(lite) and not rc.is_counter_example(healthy)
    assert rc.default_embedding_run([lite, healthy]) == "simclr-aaaaaa"
