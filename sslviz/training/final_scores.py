"""A run's final figures by the papers' protocol (sslviz/evaluation/paper_protocol.py), stored with it.

The live monitor's kNN is an estimate on a subset (its bank and test sizes are in the summary); a
final figure a researcher can compare with a paper needs the whole training split as the bank and
the whole test split. `score_network` computes it at the end of every run (train.run, in the
worker's process, after the last epoch), and `score_stored_run` on demand for any stored run with
a checkpoint (a finished run, an installed zoo run, a baseline run): the CLI
(`python -m sslviz eval --run ID --protocol papers`) or a background job of kind "papers" (the
Train page's button). Both write one summary key:

    "papers": {"knn20", "knn200", "linear", "linear_C", "bank", "test", "seconds",
               "pixels": {...the same for raw pixels}, "random_init": {...for the untrained network}}

The two baselines get the same protocol, so the comparison stays fair. They depend only on the
data and the untrained backbone, not on the training, so they are cached per store in
`papers_baselines.json` (keyed by dataset, folder, image size, seed and backbone): raw pixels'
logistic regression on 3,072-d shapes takes about 20 s here, and only the first run pays it.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import torch

from sslviz.core.errors import SslvizError
from sslviz.core.files import atomic_write_text
from sslviz.evaluation.paper_protocol import paper_scores
from sslviz.evaluation.protocols import extract_features

from .config import RunConfig

BASELINES_CACHE = "papers_baselines.json"
SUMMARY_KEY = "papers"


def _labelled(data) -> bool:
    return bool((data.train.labels >= 0).any() and (data.test.labels >= 0).any())


@torch.no_grad()
def score_network(method, data, device, seed: int = 0) -> dict | None:
    """The protocol's figures for a method's embedding on the whole train (bank) and test splits."""
    was_training = method.training
    method.eval()
    try:
        bank_f = extract_features(method.embed, data.train.images, device)
        test_f = extract_features(method.embed, data.test.images, device)
    finally:
        method.train(was_training)
    return paper_scores(bank_f, data.train.labels, test_f, data.test.labels, data.num_classes, seed)


def _untrained(config: RunConfig, data, device):
    """The untrained network of the label-efficiency baseline 'random-init': the run's backbone with
    the random weights of its seed (sslviz/experiments/inputs.py builds it the same way)."""
    from .train import build_method

    rc = RunConfig(method="random-init", dataset=config.dataset, backbone=config.backbone,
                   image_size=config.image_size, data_root=config.data_root, seed=config.seed, device="cpu")
    torch.manual_seed(config.seed)
    return build_method(rc, data, device)


def _cache_key(config: RunConfig, data) -> str:
    key = json.dumps([config.dataset, config.data_root, config.image_size, config.seed, config.backbone,
                      len(data.train), len(data.test)])
    return hashlib.sha1(key.encode()).hexdigest()[:16]


def baseline_scores(config: RunConfig, data, device, cache_dir: Path | None) -> dict:
    """{"pixels": ..., "random_init": ...} for the run's data and backbone, from the store's cache
    when it has them (cache_dir None: no cache)."""
    path = Path(cache_dir) / BASELINES_CACHE if cache_dir is not None else None
    key = _cache_key(config, data)
    cache = {}
    if path is not None and path.exists():
        try:
            cache = json.loads(path.read_text())
        except (OSError, ValueError):
            cache = {}  # a damaged cache is rebuilt
    if isinstance(cache.get(key), dict):
        return cache[key]
    pixels = paper_scores(data.train.images.flatten(1).float(), data.train.labels, data.test.images.flatten(1).float(),
                          data.test.labels, data.num_classes, config.seed)
    out = {"pixels": pixels, "random_init": score_network(_untrained(config, data, device), data, device, config.seed)}
    if path is not None:
        try:  # read again just before writing: another run may have added its own entry meanwhile
            fresh = json.loads(path.read_text()) if path.exists() else {}
        except (OSError, ValueError):
            fresh = {}
        try:
            atomic_write_text(path, json.dumps({**(fresh if isinstance(fresh, dict) else {}), key: out}))
        except OSError:
            pass  # a read-only store: no cache, same numbers
    return out


def final_scores(method, config: RunConfig, data, device, cache_dir: Path | None) -> dict | None:
    """The summary's "papers" block for a trained method (None when the data has no labels)."""
    if not _labelled(data):
        return None
    t0 = time.perf_counter()
    scores = score_network(method, data, device, config.seed)
    if scores is None:  # non-finite features (a diverged network)
        return None
    scores.update(baseline_scores(config, data, device, cache_dir))
    scores["seconds"] = round(time.perf_counter() - t0, 2)  # everything, the baselines included
    return scores


def score_stored_run(store, run_id: str, device: str = "cpu") -> dict:
    """Score a stored run's checkpoint with the papers' protocol and store the block in its summary.

    One-line SslvizError for what a user can get wrong: not a training run, no checkpoint yet,
    data without labels, a checkpoint that does not load, a diverged network."""
    from sslviz.methods.models import pick_device

    from .recipes import resolve_with_data
    from .train import build_method, load_checkpoint

    run = store.get(run_id)  # RunStoreError: no such run
    if run["kind"] != "train":
        raise SslvizError(f"run '{run_id}': is a {run['kind']} job, not a trained run")
    ckpt = store.run_dir(run_id) / "checkpoint.pt"
    if not ckpt.exists():
        raise SslvizError(f"run '{run_id}': has no checkpoint yet (it is {run['status']}); there is nothing to score")
    config, data = resolve_with_data(RunConfig.from_dict(run["config"]))
    if not _labelled(data):
        raise SslvizError(f"run '{run_id}': dataset {config.dataset} has no labels; the papers' protocol needs them")
    dev = pick_device(device)
    method = build_method(config, data, dev)
    try:
        method.load_state_dict(load_checkpoint(ckpt, dev)["model"])
    except Exception as exc:  # a truncated, foreign or mismatched checkpoint
        raise SslvizError(f"run '{run_id}': cannot load its checkpoint ({type(exc).__name__}: "
                          f"{str(exc).splitlines()[0][:160]})") from None
    scores = final_scores(method, config, data, dev, store.root)
    if scores is None:
        raise SslvizError(f"run '{run_id}': its features contain NaN or infinite values (a diverged run)")
    fresh = store.get(run_id)["summary"]  # the latest summary: only our key changes
    store.update(run_id, summary={**fresh, SUMMARY_KEY: scores})
    return scores


def run_job(config: dict, run_dir: Path, report) -> dict:
    """The worker's entry point for kind "papers": config {"run": ID}; the figures go into that run's
    summary (and this job's)."""
    from .runs import RunStore

    report.progress(0.0, None, f"scoring {config.get('run')} with the papers' protocol")
    scores = score_stored_run(RunStore(Path(run_dir).parent), str(config.get("run", "")), config.get("device", "cpu"))
    return {"run": config.get("run"), SUMMARY_KEY: scores}


def submit(store, run_id: str, owner: str = "", start: bool = True) -> str:
    """Queue the on-demand scoring of a run for the background worker (never in a page); the job's id."""
    from . import worker

    run = store.get(run_id)
    if run["kind"] != "train":
        raise SslvizError(f"run '{run_id}': is a {run['kind']} job, not a trained run")
    if not (store.run_dir(run_id) / "checkpoint.pt").exists():
        raise SslvizError(f"run '{run_id}': has no checkpoint yet; there is nothing to score")
    return worker.submit_job("papers", {"run": run_id, "owner": owner, "dataset": run["dataset"],
                                        "name": f"papers' protocol: {run_id}"}, store, start)


def pending(store, run_id: str) -> str | None:
    """The id of a queued or running "papers" job for this run (None when there is none)."""
    for job in store.list(kind="papers"):
        if job["status"] in ("queued", "running") and job["config"].get("run") == run_id:
            return job["id"]
    return None


# ---- in words: what the CLI and the pages print beside the monitor's figure --------------------

def estimate_label(summary: dict, config: dict | None = None) -> str:
    """'estimate (bank 5,000, test 2,000)': the live monitor's kNN, with the sizes it was read on."""
    bank = summary.get("knn_bank")
    if bank is None and config:  # recorded before the summary said: the monitor's bank was at most this
        train = summary.get("train_images")
        bank = min(config.get("eval_train_max") or 5000, train) if train else config.get("eval_train_max")
    test = summary.get("test_images_scored")
    sizes = ", ".join(f"{what} {n:,}" for what, n in (("bank", bank), ("test", test)) if n)
    return f"estimate ({sizes})" if sizes else "estimate"


def papers_line(summary: dict) -> str | None:
    """One line of the papers' figures with their baselines, or None when the run has none yet."""
    p = summary.get(SUMMARY_KEY)
    if not p:
        return None

    def three(s):
        return f"kNN k=20 {s['knn20']:.3f}, k=200 {s['knn200']:.3f}, linear {s['linear']:.3f}"

    text = f"papers' protocol (bank {p['bank']:,}, test {p['test']:,}): {three(p)}"
    for key, name in (("pixels", "raw pixels"), ("random_init", "untrained")):
        if p.get(key):
            text += f"; {name} {three(p[key])}"
    return text
