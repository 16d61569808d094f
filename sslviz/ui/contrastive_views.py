"""The contrastive lesson's two views: the temperature explorer and the "find the collapse" gallery.

    temperature_explorer(run_id, key, temperature=0.5, batch=16)
        one batch of real held-out images, two views each, embedded by a trained run: the cosine
        similarity heatmap, one anchor with its positive and its hardest negatives and the softmax
        weight of each at the temperature and batch size the student picks, the NT-Xent loss, and
        beside it the three shipped SimCLR runs trained at three temperatures (what was learned)
    collapse_gallery(key, reveal=True)
        the shipped broken variants beside their healthy twins on the collapse gauge and
        alignment/uniformity, their curves, and a button per variant that trains it live

Both work on a store without the shipped runs: a one-line note says what is missing.
The numbers come from sslviz.teaching.temperature and sslviz.teaching.variants; no numerical code here.
"""

from __future__ import annotations

import math

import streamlit as st

from sslviz.core.errors import SslvizError
from sslviz.evaluation.collapse_gauge import collapse_warnings
from sslviz.plots.contrastive import gauge_bars, gauge_curves, similarity_heatmap, temperature_curve
from sslviz.teaching import temperature as temp
from sslviz.teaching import variants as var
from sslviz.teaching.pretrained import lite
from sslviz.training import worker

from .common import fast_png, session_owner, shared, store, style_figure
from .run_choice import best_first, run_title

MEASURES = (("spread", "spread"), ("effective_rank", "effective rank"), ("alignment", "alignment"),
            ("uniformity", "uniformity"), ("knn_accuracy", "kNN"), ("few_label_linear", "10 labels per class"))


def _fmt(v) -> str:
    return f"{v:.3f}" if isinstance(v, (int, float)) and math.isfinite(v) else "—"


def _nearest(options, value):
    return min(options, key=lambda o: abs(math.log(o) - math.log(value)) if value and value > 0 else 0)


# ---- temperature and negatives ------------------------------------------------------------------


def contrastive_runs(s) -> list[dict]:
    """Completed runs with weights whose method is SimCLR (the loss the explorer explains), best first."""
    runs = [r for r in s.list(status="completed") if r["method"] == "simclr"
            and (s.run_dir(r["id"]) / "checkpoint.pt").exists()]
    return best_first(runs)


def temperature_explorer(run_id: str | None, key: str, temperature: float = 0.5, batch: int = 16) -> None:
    """The similarity matrix and softmax weights of a real batch at the student's temperature and
    batch size (run_id None: the best SimCLR run with weights in the store), with the three
    temperature runs beside it."""
    s = store()
    if run_id is None:
        runs = contrastive_runs(s)
        run_id = runs[0]["id"] if runs else None
    if run_id is None:
        st.info("No trained SimCLR run with weights in this store yet (the pretrained runs install on first "
                "start, or train one on the Train page).")
    else:
        _explorer(s, run_id, key, temperature, batch)
    temperature_runs(key)


def _explorer(s, run_id: str, key: str, temperature: float, batch: int) -> None:
    c = st.columns([2, 2, 1])
    t = c[0].select_slider("temperature t (log scale)", options=list(temp.TEMPERATURES), key=f"{key}.t",
                           value=_nearest(temp.TEMPERATURES, temperature),
                           help="the softmax divides every cosine similarity by t before comparing them")
    b = c[1].select_slider("batch size B (images; 2B views, 2B - 2 negatives per anchor)",
                           options=list(temp.BATCHES), value=_nearest(temp.BATCHES, batch), key=f"{key}.batch")
    anchor = int(c[2].number_input("anchor view", min_value=0, max_value=2 * b - 1, value=0, step=1,
                                   key=f"{key}.anchor.{b}"))
    try:
        real = shared(("temperature-batch", str(s.root), run_id, b, _mtime(s, run_id)),
                      lambda: temp.real_batch(s, run_id, b))
    except (SslvizError, ValueError) as exc:
        st.warning(f"Cannot embed a batch with this run: {exc}")
        return
    e = temp.explain(real.z1, real.z2, t, k=3)
    run = s.get(run_id)
    st.caption(f"{2 * b} views of {b} held-out images, embedded by **{run_title(run)}** (`{run_id}`) through its "
               "projection head, where the loss is computed.")
    m = st.columns(4)
    m[0].metric("NT-Xent loss", f"{e.loss:.3f}", help="sslviz.methods.simclr.nt_xent_loss on this batch")
    m[1].metric("if no view could be told apart", f"{e.chance_loss:.3f}", help="log(2B - 1)")
    m[2].metric("mean weight of the positive", f"{e.mean_positive_weight:.2f}",
                help="the softmax weight each anchor gives the other view of its image (1 = certain)")
    m[3].metric("negatives per anchor", f"{e.negatives}")
    left, right = st.columns([3, 2])
    fig = similarity_heatmap(e.similarity, b, anchor)
    left.plotly_chart(style_figure(fig), key=f"{key}.heatmap", width="stretch")
    with right:
        pos = int(e.positive[anchor])
        picks = [anchor, pos, *[int(i) for i in e.hardest[anchor]]]
        captions = ([f"anchor ({_name(real, anchor)})", f"positive: weight {e.weights[anchor, pos]:.2f}"]
                    + [f"negative ({_name(real, i)}): weight {e.weights[anchor, i]:.2f}, cos {e.similarity[anchor, i]:.2f}"
                       for i in picks[2:]])
        from sslviz.plots.teaching import enlarge

        size = real.views.shape[1]
        factor = max(1, 96 // size)
        st.image([fast_png(enlarge(real.views[i], factor)) for i in picks], caption=captions, width=factor * size)
        rest = 1 - e.weights[anchor, pos] - sum(e.weights[anchor, i] for i in picks[2:])
        st.caption(f"The other {max(0, e.negatives - len(picks) + 2)} negatives share the remaining weight "
                   f"{max(0.0, rest):.2f}. Lower the temperature: the hardest negatives take it all; raise it: "
                   "every view weighs about the same.")
    sweep = shared(("temperature-sweep", str(s.root), run_id, b, _mtime(s, run_id)),
                   lambda: temp.sweep(real.z1, real.z2))
    st.plotly_chart(style_figure(temperature_curve(sweep, t)), key=f"{key}.sweep", width="stretch")


def _name(real, view: int) -> str:
    label = int(real.labels[view % len(real.labels)])
    return real.class_names[label] if 0 <= label < len(real.class_names) else str(label)


def _mtime(s, run_id: str) -> int:
    try:
        return (s.run_dir(run_id) / "checkpoint.pt").stat().st_mtime_ns
    except OSError:
        return 0


def temperature_runs(key: str) -> None:
    """The shipped SimCLR runs trained at three temperatures, side by side (a note when not installed)."""
    s = store()
    ids = lite.run_ids(s)
    shown = [(e, s.get(ids[e["name"]])) for e in var.TEMPERATURES if e["name"] in ids]
    st.markdown("**Trained at three temperatures** (SimCLR on shapes, same budget, only t differs)")
    if not shown:
        st.caption("The runs trained at three temperatures are not installed in this store "
                   "(`python -m sslviz pretrained install`).")
        return
    rows = [{"temperature": e["temperature"], **{label: _fmt(r["summary"].get(k)) for k, label in MEASURES}}
            for e, r in shown]
    st.dataframe(rows, hide_index=True, width="stretch")
    bars = [{"label": f"t = {e['temperature']:g}", "values": r["summary"], "broken": False} for e, r in shown]
    st.plotly_chart(style_figure(gauge_bars(bars)), key=f"{key}.temps", width="stretch")


# ---- find the collapse ---------------------------------------------------------------------------


def _zoo_ids(s) -> dict[str, str]:
    from sslviz.teaching.pretrained.install import installed

    out = {}
    for name, run_id in installed(s).items():
        try:
            s.get(run_id)
        except SslvizError:
            continue
        out[name] = run_id
    return out


def collapse_gallery(key: str, reveal: bool = True) -> None:
    """The broken variants beside their healthy twins (the same run with the setting restored, same
    budget; and the zoo's longer healthy run); reveal=False hides what broke and how to spot it (the
    class answers first)."""
    s = store()
    lite_ids, zoo_ids = lite.run_ids(s), _zoo_ids(s)
    bars = []
    for v in var.VARIANTS:
        for name, label, broken in ((v["name"], v["title"], True),
                                    (v["same_budget_twin"], f"{v['title']}: healthy twin", False)):
            if name in lite_ids and not any(b["name"] == name for b in bars):
                bars.append({"name": name, "label": label if broken else var.variant(name)["title"],
                             "values": s.get(lite_ids[name])["summary"], "broken": broken})
    if bars:
        st.plotly_chart(style_figure(gauge_bars(bars)), key=f"{key}.bars", width="stretch")
    else:
        st.info("The shipped variants and their healthy twins are not installed in this store; each variant can "
                "still be trained live below.")
    titles = {v["name"]: v["title"] for v in var.VARIANTS}
    name = st.selectbox("variant", list(titles), format_func=titles.get, key=f"{key}.variant")
    v = var.variant(name)
    _variant(s, v, lite_ids.get(name), lite_ids.get(v["same_budget_twin"]), zoo_ids.get(v["healthy_twin"]), key,
             reveal)


def _colour_probe(s, run_id: str) -> float | None:
    """The factor probe's colour R² on the run's last snapshot (computed once, kept in the run folder)."""
    from sslviz.embeddings.factor_probe import probe_source

    try:
        with st.spinner("Probing what the embedding keeps of colour…"):
            scores = probe_source(s, run_id)
    except SslvizError:
        return None
    return next((x.score for x in scores if x.factor == "colour"), None)


def _variant(s, v: dict, run_id: str | None, twin_id: str | None, zoo_id: str | None, key: str,
             reveal: bool) -> None:
    runs = [(run_id, v["title"], True), (twin_id, "healthy twin, same budget", False),
            (zoo_id, f"{v['healthy_twin']} (healthy, trained longer)", False)]
    table, series, found = [], [], {}
    for rid, label, broken in runs:
        if rid is None:
            continue
        rows = s.metrics(rid)
        summary = var.readings(s.get(rid)["summary"], rows)
        found[rid] = summary
        warn = collapse_warnings(summary)
        table.append({"run": label, **{lab: _fmt(summary.get(k)) for k, lab in MEASURES},
                      "agreement": _fmt(summary.get("agreement")),
                      "collapse gauge": "; ".join(warn) if warn else "no warning"})
        if rid != zoo_id:
            series.append({"label": label, "rows": rows, "broken": broken})
    if table:
        st.dataframe(table, hide_index=True, width="stretch")
    if series:
        st.plotly_chart(style_figure(gauge_curves(series)), key=f"{key}.curves.{v['name']}", width="stretch")
    if run_id is None:
        st.caption("The shipped run of this variant is not installed in this store "
                   "(`python -m sslviz pretrained install`).")
    if reveal:
        st.markdown(f"**What breaks.** {v['what_breaks']}  \n**How to spot it.** {v['how_to_spot']}")
        if run_id is not None and twin_id is not None:
            readings = [found[run_id], found[twin_id]]
            if v["measure"] == "colour":
                for r, summary in zip((run_id, twin_id), readings):
                    summary["colour"] = _colour_probe(s, r)
            ok, sentence = var.tells_apart(v["name"], *readings)
            (st.success if ok else st.warning)(f"{'Told apart' if ok else 'Not told apart'}: {sentence}.")
    live_key = f"{key}.live.{v['name']}"
    cfg = v["config"]
    if st.button(f"Train it live ({cfg['time_budget']:.0f} s on {cfg['dataset']})", key=f"{key}.train.{v['name']}"):
        try:
            st.session_state[live_key] = worker.submit(var.run_config(v["name"], owner=session_owner()), s)
        except SslvizError as exc:
            st.error(str(exc))
    if st.session_state.get(live_key):
        from .run_views import run_panel

        run_panel(st.session_state[live_key])
