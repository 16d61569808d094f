"""Methods side by side: the Compare page's numbers, without Streamlit.

    leaderboard        one row per run: kNN (the trainer's monitor, an estimate: the sizes it
                       was read on beside it), kNN and linear probe by the papers' protocol
                       (the final figures, when the run has them), linear probe at 1/10/100
                       labels per class (from the newest experiment that measured it), the
                       trainer's own probe at 10 labels per class at the end of training (every
                       run has it, a zoo run on MNIST included, with no experiment), images/s,
                       training seconds and the collapse gauge (spread, effective rank) with
                       a warning; runs recorded before that gauge show the old one, marked "old";
                       a shipped run's install check ("check": reproduced, or the flag with both
                       numbers; its kNN and probe are the figures re-scored at install)
    training_series    each run's metric rows, for loss and kNN curves overlaid against wall-clock
                       time or epochs
    label_rows         label-efficiency rows of the chosen runs (newest experiment per run wins)
                       with the baselines measured alongside them
    same_budget_*      retrain the chosen runs' methods (and any extra methods) with one dataset,
                       backbone, image size, batch size, seed and wall-clock budget: a fair race
    projection_of      a run's newest embedding in 2-D. It uses the embedding explorer's two entry
                       points only (`embeddings.load_embedding`, `projection.project`, cached in
                       the run's projections/ folder under `projection.cache_path`, shared with
                       the Embeddings page). PCA is instant and computed at once; UMAP takes
                       seconds (and compiles on first use), so it runs on the one projection
                       thread all pages and tabs share (`projection_jobs`), PCA shown meanwhile.
"""

from __future__ import annotations

import math

import numpy as np

from sslviz.core.errors import ConfigError, SslvizError

from .label_efficiency import experiments, load_results

LEADERBOARD_BUDGETS = (1, 10, 100)
# The trainer's monitor: a linear probe on 10 labelled images per class, mean of its fixed paired
# draws, at the run's last evaluation (summary "few_label_linear"; the benchmark's bars use 5 draws).
TRAINER_PROBE = "10 labels (run)"
# The final figures by the papers' protocol (summary "papers", sslviz/training/final_scores.py): the
# whole training split as the bank, the whole test split; "kNN" is the live monitor's estimate.
PAPERS_KNN, PAPERS_LINEAR, ESTIMATE_ON = "kNN k=20 (papers)", "linear, all labels (papers)", "kNN estimate on"


def _last_metric(store, run_id: str, name: str):
    rows = [r for r in store.metrics(run_id, [name]) if r["value"] is not None]
    return rows[-1]["value"] if rows else None


def _papers_columns(summary: dict, config: dict) -> dict:
    """The papers' kNN (k = 20) and linear probe of a run, None before it was scored, and the sizes the
    monitor's kNN estimate was read on ("bank 5,000, test 2,000")."""
    from sslviz.training.final_scores import estimate_label

    papers = summary.get("papers") or {}
    return {PAPERS_KNN: papers.get("knn20"), PAPERS_LINEAR: papers.get("linear"),
            ESTIMATE_ON: estimate_label(summary, config).removeprefix("estimate").strip(" ()") or None}


def leaderboard(store, run_ids: list[str]) -> list[dict]:
    """One row per run (see the module docstring); None where a number was never measured."""
    from sslviz.evaluation.collapse_gauge import collapse_warnings, gauge_start

    stored = [load_results(store, e["id"]) for e in experiments(store, run_ids)]  # newest first
    rows = []
    for rid in run_ids:
        run = store.get(rid)
        s = run["summary"] or {}
        linear: dict = {}
        for res in stored:
            for r in (res or {}).get("results", []):
                b = r["labels_per_class"]
                if r["run_id"] == rid and r["protocol"] == "linear" and b in LEADERBOARD_BUDGETS and b not in linear:
                    linear[b] = r["mean"]
        seconds = s.get("seconds")
        if seconds is None:
            m = store.metrics(rid, ["loss"])
            seconds = m[-1]["elapsed"] if m else None
        gauge = {k: s.get(k) if s.get(k) is not None else _last_metric(store, rid, k)
                 for k in ("spread", "effective_rank", "directions_95")}
        if gauge["spread"] is None:  # recorded before the new gauge: the old one, a lower bound of the spread
            gauge["collapse_std"] = s.get("collapse_std")
            if gauge["collapse_std"] is None:
                gauge["collapse_std"] = _last_metric(store, rid, "collapse_std")
        gauge = {k: v for k, v in gauge.items() if v is not None and not math.isnan(v)}
        found = collapse_warnings({**gauge, "knn_accuracy": s.get("knn_accuracy")},
                                  gauge_start(s))  # against the run's untrained start
        if not gauge:
            collapse = ""
        elif found:
            collapse = "⚠️ " + "; ".join(found)
        elif "spread" in gauge:
            rank = gauge.get("effective_rank")
            collapse = f"ok (spread {gauge['spread']:.2f}" + (f", rank {rank:.0f})" if rank is not None else ")")
        else:
            collapse = f"ok (old gauge {gauge['collapse_std']:.2f})"
        knn = s.get("knn_accuracy")
        ips = s.get("images_per_second")
        rows.append({"run": rid, "method": run["method"], "name": run["name"], "status": run["status"],
                     "kNN": _last_metric(store, rid, "knn_accuracy") if knn is None else knn,
                     **_papers_columns(s, run["config"]),
                     **{f"linear @{b}": linear.get(b) for b in LEADERBOARD_BUDGETS},
                     TRAINER_PROBE: s.get("few_label_linear"),
                     "images/s": _last_metric(store, rid, "images_per_second") if ips is None else ips,
                     "training s": seconds, "collapse": collapse, "check": install_check(s)})
    return rows


def install_check(summary: dict) -> str | None:
    """A shipped run's figures as its install found them (teaching/pretrained/verify.py writes the
    summary's zoo_check): "⚠ figures not reproduced: kNN 0.775 re-scored, 0.875 recorded" when flagged,
    "reproduced at install" when within the tolerance; None for a run that was not shipped."""
    check = summary.get("zoo_check") or {}
    if check.get("verdict") == "flagged":
        return f"⚠ {check.get('flag', 'figures not reproduced')}"
    return "reproduced at install" if check.get("verdict") == "ok" else None


def missing_linear(rows: list[dict]) -> list[str]:
    """Runs of a leaderboard with no linear-probe number yet (to offer measuring them)."""
    return [r["run"] for r in rows if all(r[f"linear @{b}"] is None for b in LEADERBOARD_BUDGETS)]


def training_series(store, run_ids: list[str]) -> dict[str, list[dict]]:
    """{label: metric rows} for the runs, labels unique (method · id)."""
    return {f"{store.get(r)['method']} · {r}": store.metrics(r, ["loss", "knn_accuracy"]) for r in run_ids}


def label_rows(store, run_ids: list[str]) -> list[dict]:
    """Result rows of the runs from their newest experiments, plus those experiments' baselines."""
    out, have = [], set()
    for exp in experiments(store, run_ids):  # newest first
        res = load_results(store, exp["id"]) or {}
        for r in res.get("results", []):
            if r["run_id"] is not None and r["run_id"] not in run_ids:
                continue
            key = (r["key"], r["protocol"], str(r["labels_per_class"]), res.get("dataset"))
            if key not in have:
                have.add(key)
                out.append({**r, "experiment": exp["id"]})
    return out


# ---- same budget ---------------------------------------------------------------------------------


def same_budget_configs(store, run_ids: list[str], seconds: float, seed: int | None = None, owner: str = "",
                        extra_methods: list[str] = ()) -> list:
    """RunConfigs that retrain the chosen runs' methods (each keeps its own augmentations, lr and
    hyper-parameters) plus `extra_methods` (their defaults), all with the first run's dataset,
    backbone, image size and batch size, one seed and one wall-clock budget."""
    from sslviz.training.choices import config_from_choices
    from sslviz.training.config import RunConfig

    if not run_ids:
        raise ConfigError("same budget: choose at least one run")
    if not (isinstance(seconds, (int, float)) and math.isfinite(seconds) and seconds > 0):
        raise ConfigError(f"same budget: the time budget must be a positive number of seconds, got {seconds!r}")
    runs = [store.get(r) for r in run_ids]
    for r in runs:
        if r["kind"] != "train":
            raise ConfigError(f"same budget: '{r['id']}' is a {r['kind']} job, not a training run")
    cfgs = [RunConfig.from_dict(r["config"]) for r in runs]
    ref = cfgs[0]
    cfgs += [RunConfig(method=m, dataset=ref.dataset) for m in extra_methods]
    out, seen = [], set()
    for c in cfgs:
        d = c.to_dict()
        if c.dataset != ref.dataset:
            d["pipeline"] = None  # augmentations made for another dataset: the new one's default
        d.update(dataset=ref.dataset, data_root=ref.data_root, image_size=ref.image_size, backbone=ref.backbone,
                 batch_size=ref.batch_size, device=ref.device, seed=ref.seed if seed is None else int(seed),
                 time_budget=float(seconds), epochs=None, name=f"same budget {seconds:g} s: {c.method}",
                 owner=owner)  # epochs left out: the budget decides (training/choices.py)
        sig = repr(sorted((k, repr(v)) for k, v in d.items() if k not in ("name", "owner")))
        if sig not in seen:
            seen.add(sig)
            out.append(config_from_choices(d))
    return out


def submit_same_budget(store, run_ids: list[str], seconds: float, seed: int | None = None, owner: str = "",
                       extra_methods: list[str] = ()) -> tuple[list[str], list[str]]:
    """Queue same_budget_configs through the worker; (queued ids, one-line refusals)."""
    from sslviz.training import worker

    ids, errors = [], []
    for cfg in same_budget_configs(store, run_ids, seconds, seed, owner, extra_methods):
        try:
            ids.append(worker.submit(cfg, store))
        except SslvizError as exc:
            errors.append(f"{cfg.method}: {exc}")
    return ids, errors


# ---- embeddings side by side -----------------------------------------------------------------------

def projection_of(store, run_id: str, method: str = "umap", max_points: int = 2000, wait: bool = False) -> dict:
    """{'coords' n×2, 'labels', 'class_names', 'epoch', 'method' (what is shown), 'note', 'ready',
    'pending'}.

    ready is False while a UMAP is still being computed (PCA is shown meanwhile; pending is the key
    to ask `projection_ready`); wait=True computes it here instead. Raises the embedding module's one-line errors (no snapshot yet, ...).
    """
    from sslviz.embeddings.embedding import load_embedding
    from sslviz.embeddings.projection import ProjectionParams, cache_path, project
    from sslviz.embeddings.projection_jobs import jobs

    emb = load_embedding(store, run_id)
    run_dir = store.run_dir(run_id)
    shown, note, ready, pending = method, "", True, None
    proj = None
    if method != "pca":  # UMAP / t-SNE on the projection thread every page and tab shares
        params = ProjectionParams(method=method, max_points=max_points)
        path = cache_path(run_dir, "run", emb.epoch, params, emb.features)
        job = jobs().submit_to_child(str(path), project, emb.features, params, cache=path) if not wait else None
        if wait:
            proj = project(emb.features, params, cache=path)
        elif job.done() and job.exception() is None:
            proj = job.result()
        elif job.done():
            note = f"{method.upper()} failed ({job.exception()}); PCA shown"
        else:
            note, ready, pending = f"{method.upper()} is being computed; PCA shown until it is ready", False, str(path)
    if proj is None:
        shown = "pca"
        params = ProjectionParams(method="pca", max_points=max_points)
        proj = project(emb.features, params, cache=cache_path(run_dir, "run", emb.epoch, params, emb.features))
    return {"coords": np.asarray(proj.coords)[:, :2], "labels": emb.labels[proj.rows], "class_names": emb.class_names,
            "epoch": emb.epoch, "method": shown, "note": " ".join(n for n in (note, proj.note) if n), "ready": ready,
            "pending": pending}


def projection_ready(pending: str) -> bool:
    """Has the background projection `pending` (from projection_of) finished, or failed?"""
    from sslviz.embeddings.projection_jobs import jobs

    job = jobs().get(pending)
    return job is None or job.done()
