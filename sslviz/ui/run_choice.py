"""Which runs a page lists, how it names them, and which it opens on (no Streamlit here).

Names: every run selector shows a run by what people call it, then a short id:
"SimCLR on shapes, pretrained · 3fa2c1" (the run's own name when it has one, else
"<method title> on <dataset>"); the id's random part is enough to tell runs apart, and where two
labels would still read alike the whole id is shown. A shipped run whose figures the install did not
reproduce carries its flag after the id, with both numbers ("⚠ figures not reproduced: kNN 0.775
re-scored, 0.875 recorded"; zoo_flag).

Defaults, so that a page opened in class with nothing chosen shows something worth seeing:
  best_first           completed runs with a checkpoint first, then by kNN accuracy (summary
                       knn_accuracy), best first; newest first among equals
  zoo_runs             the pretrained runs of one dataset (default `shapes`), the deliberate
                       counter-examples left out, best first: what Compare and Label Efficiency open on
  default_embedding_run  the best self-supervised run on shapes that is not a counter-example
"""

from __future__ import annotations

import math


def run_title(run: dict) -> str:
    """The run's name, or "<method title> on <dataset>"."""
    from sslviz.methods import method_title  # unknown methods (gone from this version) come back as stored

    name = (run.get("name") or (run.get("config") or {}).get("name") or "").strip()
    return name or f"{method_title(run.get('method', ''))} on {run.get('dataset', '')}"


def short_id(run_id: str) -> str:
    """The random part of a run id ("simclr-3fa2c1" -> "3fa2c1"); ids of another form as they are."""
    head, _, tail = run_id.rpartition("-")
    return tail if head and len(tail) >= 4 else run_id


def run_label(run: dict, short: bool = True) -> str:
    return f"{run_title(run)} · {short_id(run['id']) if short else run['id']}{flag_suffix(run)}"


def zoo_flag(run: dict) -> str | None:
    """A shipped run whose figures the install did not reproduce (teaching/pretrained/verify.py): the
    flag in words, with the re-scored and the recorded number; None for every other run."""
    check = (run.get("summary") or {}).get("zoo_check") or {}
    return check.get("flag") if check.get("verdict") == "flagged" else None


def flag_suffix(run: dict) -> str:
    """What a flagged run's label carries after its name and id ('' for other runs)."""
    flag = zoo_flag(run)
    return f" ⚠ {flag}" if flag else ""


def run_labels(runs: list[dict], extra=None) -> dict[str, str]:
    """{run id: label}, every label different. extra(run) -> str is appended (status, a note)."""
    labels = {r["id"]: run_label(r) for r in runs}
    seen: dict[str, int] = {}
    for text in labels.values():
        seen[text] = seen.get(text, 0) + 1
    out = {}
    for r in runs:
        text = labels[r["id"]] if seen[labels[r["id"]]] == 1 else run_label(r, short=False)
        out[r["id"]] = text + (extra(r) if extra else "")
    return out


def status_note(run: dict) -> str:
    """'' for a completed run, else ' (running)', ' (failed)', ..."""
    return "" if run.get("status") == "completed" else f" ({run.get('status')})"


# ---- which run first ---------------------------------------------------------------------------


def knn(run: dict) -> float | None:
    value = (run.get("summary") or {}).get("knn_accuracy")
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None


def best_first(runs: list[dict], has_checkpoint=None) -> list[dict]:
    """Completed runs (with a checkpoint, when has_checkpoint(run) is given) first, then by kNN
    accuracy, best first; runs never scored last. Stable: newest first among equals."""
    def key(r):
        ready = r.get("status") == "completed" and (has_checkpoint is None or has_checkpoint(r))
        score = knn(r)
        return (not ready, score is None, -(score or 0.0))

    return sorted(runs, key=key)


def best_run(runs: list[dict], method: str | None = None, has_checkpoint=None) -> dict | None:
    """The best run (see best_first), of `method` when given; None when there is none."""
    pool = [r for r in runs if method is None or r.get("method") == method]
    return (best_first(pool, has_checkpoint) or [None])[0]


def catalogue_name(run: dict) -> str | None:
    """The pretrained catalogue entry an installed run came from (None for other runs)."""
    return (run.get("summary") or {}).get("pretrained")


def is_counter_example(run: dict) -> bool:
    """A shipped run that shows what goes wrong: a zoo counter-example, or a lite run of the lessons
    (a broken variant or a temperature trial, shipped without weights: sslviz/teaching/pretrained/lite.py)."""
    from sslviz.teaching.pretrained import COUNTER_EXAMPLES

    return catalogue_name(run) in COUNTER_EXAMPLES or bool((run.get("summary") or {}).get("lite"))


def zoo_runs(runs: list[dict], dataset: str | None = "shapes", method: str | None = None) -> list[str]:
    """Ids of the installed pretrained runs on `dataset` (and of `method`), counter-examples left out,
    best first."""
    pool = [r for r in runs if catalogue_name(r) and r.get("status") == "completed" and not is_counter_example(r)
            and (dataset is None or r.get("dataset") == dataset) and (method is None or r.get("method") == method)]
    return [r["id"] for r in best_first(pool)]


def _teaches(run: dict) -> bool:
    """Self-supervised: not a baseline, not trained on the labels, not a counter-example."""
    from sslviz.methods import get_method
    from sslviz.training.recipes import BASELINES

    if run.get("method") in BASELINES or is_counter_example(run):
        return False
    try:
        return not get_method(run.get("method", "")).needs_labels
    except Exception:  # noqa: BLE001 - unknown method: not a teaching default
        return False


def default_embedding_run(runs: list[dict], dataset: str = "shapes") -> str | None:
    """What the Embeddings page opens on with nothing chosen: the best self-supervised run on
    `dataset` that is not a counter-example; else the best self-supervised run; else the best run."""
    for pool in ([r for r in runs if r.get("dataset") == dataset and _teaches(r)],
                 [r for r in runs if _teaches(r)], runs):
        best = best_run(pool)
        if best is not None:
            return best["id"]
    return None
