"""The papers' protocol (whole training split as the kNN bank, whole test split; Wu et al. 2018's
weighted vote at k = 20 and 200; a linear probe on all labels): checked against scikit-learn and a
direct numpy computation, stored at the end of a run and on demand, shown by the CLI and the page."""

import json
import shutil
import time

import numpy as np
import pytest
from conftest import ROOT
from test_cli import sslviz

from sslviz.evaluation.paper_protocol import majority_knn_predict, paper_scores, weighted_knn_accuracies


def _clustered(seed=0, n_bank=1500, n_test=400, dim=16, classes=5, noise=1.2):
    """Overlapping Gaussian clusters (float64), so that neighbours of different classes mix."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(classes, dim))
    yb, yt = rng.integers(0, classes, n_bank), rng.integers(0, classes, n_test)
    return (centres[yb] + noise * rng.normal(size=(n_bank, dim)), yb,
            centres[yt] + noise * rng.normal(size=(n_test, dim)), yt)


@pytest.mark.parametrize("k", [20, 200])
def test_the_majority_vote_is_scikit_learns_cosine_knn_exactly(k):
    from sklearn.neighbors import KNeighborsClassifier

    bank, yb, test, yt = _clustered()
    ours = majority_knn_predict(bank, yb, test, num_classes=5, k=k, chunk=97)  # several chunks, a ragged last one
    theirs = KNeighborsClassifier(n_neighbors=k, metric="cosine", algorithm="brute").fit(bank, yb).predict(test)
    assert np.array_equal(ours, theirs)
    assert 0.4 < (ours == yt).mean() < 0.98  # mixed clusters: a test that can tell votes apart


def test_the_weighted_vote_is_the_formula_computed_directly():
    bank, yb, test, yt = _clustered(seed=1)
    b = bank / np.linalg.norm(bank, axis=1, keepdims=True)
    q = test / np.linalg.norm(test, axis=1, keepdims=True)
    sim = q @ b.T  # the whole matrix at once
    expected = {}
    for k in (20, 200):
        top = np.argsort(-sim, axis=1)[:, :k]
        scores = np.zeros((len(q), 5))
        for i in range(len(q)):
            np.add.at(scores[i], yb[top[i]], np.exp(sim[i, top[i]] / 0.07))
        expected[k] = float((scores.argmax(1) == yt).mean())
    assert weighted_knn_accuracies(bank, yb, test, yt, 5, chunk=64) == expected
    majority = (majority_knn_predict(bank, yb, test, 5, k=200) == yt).mean()
    assert expected[200] != majority  # the weights change the answer here: the two votes are not confused


def test_scores_leave_unlabelled_images_out_and_say_the_sizes():
    bank, yb, test, yt = _clustered(seed=2, n_bank=600, n_test=200)
    yb[:100] = -1
    yt[:50] = -1
    s = paper_scores(bank, yb, test, yt, 5)
    assert (s["bank"], s["test"]) == (500, 150)
    assert s["knn20"] == weighted_knn_accuracies(bank[100:], yb[100:], test[50:], yt[50:], 5)[20]
    assert 0.5 < s["linear"] <= 1 and s["seconds"] >= 0
    assert paper_scores(bank, np.full(600, -1), test, yt, 5) is None
    assert paper_scores(np.full_like(bank, np.nan), yb, test, yt, 5) is None


def test_a_run_ends_with_the_papers_figures_and_scoring_it_again_gives_the_same(trained_tiny_run, store):
    from sslviz.training import final_scores, worker

    path, config, summary = trained_tiny_run
    papers = summary["papers"]
    assert (papers["bank"], papers["test"]) == (1438, 359)  # digits: the whole train and test splits
    assert summary["knn_bank"] == 500 and summary["test_images_scored"] == 200  # the monitor's subsets
    for block in (papers, papers["pixels"], papers["random_init"]):  # the baselines get the same protocol
        assert all(0 < block[k] <= 1 for k in ("knn20", "knn200", "linear"))
    # on demand, as the Train page's button does: a background job of kind "papers", run here in-process
    run_id = store.create(config.to_dict(), status="running")
    shutil.copy(path / "checkpoint.pt", store.run_dir(run_id) / "checkpoint.pt")
    store.update(run_id, status="completed", summary={k: v for k, v in summary.items() if k != "papers"},
                 ended=time.time())
    job = final_scores.submit(store, run_id, start=False)
    assert final_scores.pending(store, run_id) == job
    assert worker.execute(store, job, chain=False)["status"] == "completed"
    again = store.get(run_id)["summary"]["papers"]
    assert {k: again[k] for k in ("knn20", "knn200", "linear", "bank", "test")} == \
           {k: papers[k] for k in ("knn20", "knn200", "linear", "bank", "test")}
    assert again["pixels"]["knn20"] == papers["pixels"]["knn20"]
    assert final_scores.pending(store, run_id) is None
    assert (store.root / final_scores.BASELINES_CACHE).exists()  # the next run on this data skips the baselines


def test_the_command_line_reports_both_figures(runs_dir):
    out = sslviz("train", "--method", "simclr", "--dataset", "digits", "--epochs", "1", "--image-size", "16",
                 "--batch-size", "128", "--device", "cpu", "--json", runs_dir=runs_dir)
    assert out.returncode == 0, out.stderr
    trained = json.loads(out.stdout.strip().splitlines()[-1])
    assert trained["knn_accuracy"] is not None and (trained["knn_bank"], trained["knn_test"]) == (1438, 359)
    assert trained["papers"]["bank"] == 1438 and trained["papers"]["knn20"] > 0.5
    out = sslviz("eval", "--run", trained["run_id"], "--protocol", "papers", "--json", runs_dir=runs_dir)
    assert out.returncode == 0, out.stderr
    row = json.loads(out.stdout.strip().splitlines()[-1])["runs"][0]
    assert row["knn_accuracy"] == trained["knn_accuracy"] and row["knn_estimate"] == "estimate (bank 1,438, test 359)"
    assert row["papers"]["knn20"] == trained["papers"]["knn20"]
    text = sslviz("eval", "--run", trained["run_id"], "--protocol", "papers", runs_dir=runs_dir).stdout
    assert "estimate (bank 1,438, test 359)" in text and "papers' protocol (bank 1,438, test 359): kNN k=20" in text
    listed = sslviz("runs", runs_dir=runs_dir).stdout
    assert f"kNN estimate {trained['knn_accuracy']:.3f}, papers kNN k=20 {trained['papers']['knn20']:.3f}" in listed
    bad = sslviz("eval", "--protocol", "papers", runs_dir=runs_dir, timeout=60)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert bad.stderr.strip().splitlines()[-1].startswith("error: --run:")


def test_the_train_page_shows_the_estimate_and_the_papers_figure(store, trained_tiny_run):
    from streamlit.testing.v1 import AppTest

    path, config, summary = trained_tiny_run
    run_id = store.create(config.to_dict(), status="running")
    store.add_metrics(run_id, [(0, 0, 0.0, "knn_accuracy", summary["knn_accuracy"])])
    store.update(run_id, status="completed", summary=summary, progress=1.0, ended=time.time())
    at = AppTest.from_file(str(ROOT / "pages/3_Train.py"), default_timeout=60)
    at.query_params["run"] = run_id
    at.run()
    assert not at.exception
    labels = [m.label for m in at.metric]
    assert "kNN accuracy, estimate (bank 500, test 200)" in labels
    assert "kNN k=20 (papers' protocol)" in labels and "linear probe, all labels (papers' protocol)" in labels
    shown = next(m.value for m in at.metric if m.label == "kNN k=20 (papers' protocol)")
    assert shown == f"{summary['papers']['knn20']:.1%}"
