"""Label-efficiency widgets: the experiment form, the live experiment panel, the results view.

The experiment runs in the worker (a job of kind "eval"); the panel is a fragment that polls the
job row and the results file's time stamp, rereads results.json only when it changed, and stops
polling once the experiment is over. Results are read from the store, so a reload, another tab
or another student sees the same numbers at once.
"""

from __future__ import annotations

import time

import pandas  # noqa: F401  imported here, in the script thread, before page() starts background threads
import streamlit as st

from sslviz.core.errors import DataError, SslvizError
from sslviz.evaluation.fewshot_stats import LABEL_BUDGETS
from sslviz.experiments.inputs import BASELINE_LABELS, BASELINES, NO_LABELS_HELP
from sslviz.experiments.label_efficiency import (
    PROTOCOL_NOTES,
    PROTOCOLS,
    experiments,
    load_results,
    results_csv,
    results_version,
    submit,
)
from sslviz.plots.label_efficiency import label_efficiency_figure
from sslviz.training import worker

from .common import refresh_every, session_owner, store
from .run_choice import run_label as base_label
from .run_choice import status_note, zoo_runs
from .zoo_check_views import flag_warnings

ACTIVE = ("queued", "running")
MANY_CURVES = 8  # subjects above which the curves start with one protocol (linear)
FOLDER_LAYOUT = """photos/
  cat/   img001.jpg img002.jpg ...
  dog/   img101.jpg ...
  bird/  ...
(or photos/train/<class>/... and photos/test/<class>/... for your own split)
load it as:  folder:photos"""


def has_checkpoint(run: dict) -> bool:
    return (store().run_dir(run["id"]) / "checkpoint.pt").exists()


def checkpoint_note(run: dict) -> str:
    """What a run label adds on this page: its status unless completed, and a missing checkpoint; an
    imported embedding is scored on its own train/test rows (experiments/inputs.py, _from_imports)."""
    if run.get("kind") == "import":
        return status_note(run) + " — imported: scored on its own train/test rows, no baselines"
    return status_note(run) + ("" if has_checkpoint(run) else " — no checkpoint yet")


def run_label(run: dict) -> str:
    """The run's name, a short id, and checkpoint_note (for one run; run_labels for a list)."""
    return f"{base_label(run)}{checkpoint_note(run)}"


def zoo_experiment_runs(runs: list[dict], dataset: str | None = None, method: str | None = None
                        ) -> tuple[str | None, list[str]]:
    """What the page opens on with nothing chosen: (the shipped experiment's id, or None; its runs in
    this store, best kNN first). Without that experiment: (None, the pretrained runs on the dataset)."""
    from sslviz.teaching.pretrained.experiment import DATASET, zoo_experiment

    zoo = zoo_runs(runs, dataset or DATASET, method)
    if dataset not in (None, DATASET):
        return None, zoo
    exp_id = zoo_experiment(store())
    if exp_id is None:
        return None, zoo
    in_exp = set(store().get(exp_id)["config"].get("runs", []))
    mine = [r for r in zoo if r in in_exp]
    return (exp_id, mine) if mine else (None, zoo)


def experiment_form(run_ids: list[str], key: str = "le") -> str | None:
    """Budgets, protocols, seeds, baselines and a Run button for the chosen runs; the queued id or None."""
    with st.form(f"{key}-form"):
        st.markdown("**New experiment** on the chosen runs")
        cols = st.columns([3, 3, 1])
        budgets = cols[0].multiselect("labels per class", list(LABEL_BUDGETS), default=[1, 10, 100, "all"],
                                      key=f"{key}-budgets")
        protocols = cols[1].multiselect("protocols", list(PROTOCOLS), default=["knn", "linear"], key=f"{key}-protocols",
                                        help="; ".join(f"{p}: {PROTOCOL_NOTES[p]}" for p in PROTOCOLS))
        seeds = cols[2].number_input("seeds", 1, 100, 5, key=f"{key}-seeds")
        baselines = st.multiselect("baselines (same labelled images)", list(BASELINES),
                                   default=["pixels", "random-init"], key=f"{key}-baselines",
                                   format_func=lambda b: f"{b}: {BASELINE_LABELS[b]}",
                                   help="supervised trains the untrained network on the labels, once per budget "
                                        "and seed (the slowest baseline); it gives the label-savings read-out")
        go = st.form_submit_button("Run experiment", type="primary")
    if not go:
        return None
    try:
        exp_id, notes = submit(dict(runs=run_ids, labels_per_class=budgets, protocols=protocols, seeds=int(seeds),
                                    baselines=baselines, owner=session_owner()), store())
    except DataError as exc:
        st.error(str(exc))
        if NO_LABELS_HELP in str(exc):
            st.markdown("A labelled dataset is a folder with one subfolder per class:")
            st.code(FOLDER_LAYOUT, language=None)
        return None
    except SslvizError as exc:
        st.error(str(exc))
        return None
    st.session_state[f"{key}-notes"] = notes
    st.toast(f"Queued {exp_id}")
    return exp_id


def experiment_picker(run_ids: list[str], wanted: str | None, key: str = "le") -> str | None:
    """Choose one of the experiments on these runs (newest first); `wanted` preselects one."""
    jobs = experiments(store(), run_ids)
    if not jobs:
        st.caption("No experiment on these runs yet: choose budgets and protocols above and press Run experiment.")
        return None
    ids = [j["id"] for j in jobs]
    by_id = {j["id"]: j for j in jobs}

    def fmt(i: str) -> str:
        j = by_id[i]
        if j["owner"] == "pretrained":
            return f"{j['config'].get('name') or 'shipped with sslviz'} · {i}"
        when = time.strftime("%d %b %H:%M", time.localtime(j["created"]))
        return f"{i} · {j['status']} · {when} · {', '.join(j['config'].get('protocols', []))} · " \
               f"{len(j['config'].get('labels_per_class', []))} budgets × {j['config'].get('seeds')} seeds"

    index = ids.index(wanted) if wanted in ids else 0
    return st.selectbox("experiment", ids, index=index, format_func=fmt, key=f"{key}-experiment-{index}-{ids[0]}")


def _status_line(job: dict, results: dict | None) -> None:
    status = job["status"]
    done = f" · {results['cells_done']} of {results['cells_total']} results" if results else ""
    if status == "running":
        eta = f" · about {job['eta']:.0f} s left" if job.get("eta") else ""
        st.progress(min(1.0, job["progress"]), text=f"{job['progress']:.0%}{eta}{done} · {job['message']}")
    elif status == "queued":
        st.info(f"Waiting in the analysis queue (position {worker.queue_position(store(), job['id'])}).")
    elif status == "cancelled":
        st.warning(f"Cancelled{done}: the finished results are kept and shown below.")
    elif status == "failed":
        st.error(f"This experiment failed: {job['message']}" + (" — finished results are kept below." if results
                                                              and results.get("results") else ""))
    elif status == "interrupted":
        st.warning(f"Interrupted (its process ended){done}; finished results are kept. Resume it to continue.")


def _runs_of(s, job: dict) -> list[dict]:
    """The runs an experiment evaluates that this store still holds."""
    out = []
    for run_id in job["config"].get("runs", []):
        try:
            out.append(s.get(run_id))
        except SslvizError:  # deleted since
            continue
    return out


def experiment_panel(exp_id: str, key: str = "le") -> None:
    """Status, progress, cancel and the results of one experiment; polls while it is active."""
    s = store()
    try:
        active = s.get(exp_id)["status"] in ACTIVE
    except SslvizError as exc:
        st.warning(str(exc))
        return

    @st.fragment(run_every=refresh_every() if active else None)
    def live():
        worker.schedule(s)  # keeps the queue moving, marks a dead worker interrupted
        job = s.get(exp_id)
        version = (results_version(s, exp_id), job["status"])
        cache_key = f"_le_results_{exp_id}"
        cached = st.session_state.get(cache_key)
        if cached is None or cached[0] != version:
            cached = (version, load_results(s, exp_id))
            st.session_state[cache_key] = cached
        results = cached[1]
        head = st.columns([4, 1])
        dataset = (results or {}).get("dataset") or job["dataset"] or "…"
        head[0].markdown(f"**{exp_id}** on {dataset} · **{job['status']}**")
        if job["status"] in ACTIVE and head[1].button("Cancel", key=f"{key}-cancel-{exp_id}"):
            worker.cancel(s, exp_id)
            st.toast(f"Cancelling {exp_id}: finished results are kept")
        elif job["status"] in ("interrupted", "failed", "cancelled") and head[1].button(
                "Resume", key=f"{key}-resume-{exp_id}", help="continue; finished results are not recomputed"):
            try:
                worker.resume(s, exp_id)
            except SslvizError as exc:
                st.error(str(exc))
        _status_line(job, results)
        flag_warnings(_runs_of(s, job))  # a shipped run here whose figures the install did not reproduce
        if results and results.get("results"):
            results_view(results, exp_id, key)
        elif job["status"] in ACTIVE:
            st.caption("The first curve appears when the first result is in (features of each run are extracted "
                       "once, then every protocol reuses them).")
        if active and job["status"] not in ACTIVE:
            st.rerun(scope="app")  # over: draw once more without polling

    live()


def results_table(results: dict) -> list[dict]:
    """One line per subject × protocol, one column per budget: 'mean ± ci95' in percent."""
    budgets = [str(b["labels_per_class"]) for b in results.get("budgets", [])]
    table: dict = {}
    for r in results["results"]:
        line = table.setdefault((r["label"], r["protocol"]), {"method": r["label"], "protocol": r["protocol"]})
        if r["mean"] is not None:
            line[str(r["labels_per_class"])] = f"{r['mean'] * 100:.1f}" + (f" ± {r['ci95'] * 100:.1f}" if r["ci95"] else "")
    return [{"method": line.pop("method"), "protocol": line.pop("protocol"), **{b: line.get(b, "") for b in budgets}}
            for line in table.values()]


def results_view(results: dict, exp_id: str, key: str = "le") -> None:
    """Curves (log x, mean and 95% band), the table, label savings, notes and the CSV download."""
    rows = results["results"]
    present = list(dict.fromkeys(r["protocol"] for r in rows))
    many = len({r["key"] for r in rows}) > MANY_CURVES  # e.g. the zoo: one protocol at a time stays readable
    default = ["linear"] if many and "linear" in present else present[:1] if many else present
    chosen = st.multiselect("protocols shown", present, default=default, key=f"{key}-shown-{exp_id}")
    st.plotly_chart(label_efficiency_figure(rows, chosen), key=f"{key}-curves-{exp_id}", width="stretch")
    st.caption(f"Test accuracy on {results['test_size']:,} held-out images of {results['dataset']}, "
               f"mean over seeds with the 95% interval (Student t); labelled images drawn from "
               f"{results['pool_size']:,} training images, the same draws for every method.")
    few = min((r["n_seeds"] for r in rows if r["n_seeds"] > 1), default=None)
    if few is not None and few < 4:
        st.caption(f"With {few} seeds the 95% interval is wide on purpose (Student t with {few - 1} degree"
                   f"{'s' if few > 2 else ''} of freedom); 5 or more seeds give a tighter one.")
    st.dataframe(results_table(results), hide_index=True, width="stretch")
    savings_view(results)
    for note in results.get("notes", []):
        st.info(note)
    with st.expander("Protocols"):
        for p, text in results.get("protocol_notes", {}).items():
            st.markdown(f"- **{p}**: {text}")
    st.download_button("Download CSV", results_csv(results), file_name=f"{exp_id}-label-efficiency.csv",
                       mime="text/csv", key=f"{key}-csv-{exp_id}")


SAVINGS_PROTOCOLS = ("linear", "knn", "finetune", "self-training")


def savings_view(results: dict) -> None:
    """The label-savings read-out: one protocol's sentences per run, every number in a table."""
    rows = results["results"]
    savings = [s for s in results.get("savings", []) if s["run_id"] is not None]
    st.markdown("**Label savings** (against supervised training from scratch on the same labels)")
    if not savings:
        if any(r["method"] == "supervised" and r["run_id"] is None for r in rows):
            st.caption("No run result to compare with yet.")
        else:
            st.caption("Add the `supervised` baseline to see how many labels training from scratch needs to match.")
        return
    present = {s["protocol"] for s in savings}
    protocol = next(p for p in SAVINGS_PROTOCOLS + tuple(present) if p in present)
    for line in savings:
        if line["protocol"] == protocol and line["labels_per_class"] != "all":
            st.markdown(f"- {line['text']}")
    with st.expander(f"All label savings ({len(savings)})"):
        bound = {"=": "", ">": "more than ", "<=": "at most "}
        st.dataframe([{"run": s["label"], "protocol": s["protocol"], "labels per class": str(s["labels_per_class"]),
                       "accuracy": f"{s['accuracy']:.1%}",
                       "supervised needs (per class)": f"{bound[s['bound']]}{s['supervised_labels_per_class']:.3g}",
                       "× labels": f"{bound[s['bound']]}{s['ratio']:.2g}"} for s in savings],
                     hide_index=True, width="stretch")
