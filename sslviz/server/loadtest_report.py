"""The load test's result: latency percentiles per page, coverage, errors, training pace, and
the verdict against its targets (p95 page latency, training pace kept under load; with a vote
phase, every vote counted and its p95), as a dict and as the text `python -m sslviz bench load` prints.
"""

from __future__ import annotations

import math
import os
import time
from collections import Counter

from .streamlit_client import BrowserSession


def _stats(values: list[float]) -> dict:
    if not values:
        return {"n": 0, "p50": None, "p95": None, "max": None}
    v = sorted(values)
    at = lambda q: round(v[max(0, math.ceil(q * len(v)) - 1)], 3)  # noqa: E731 - nearest-rank percentile
    return {"n": len(v), "p50": at(0.50), "p95": at(0.95), "max": round(v[-1], 3)}


def summarise(tabs: list[BrowserSession], warm: BrowserSession, info: dict) -> dict:
    """The result dict: sessions, per-page latencies (page interactions and fragment reruns apart),
    coverage, errors (session and server), st.error messages seen, training rates."""
    import platform

    pages = [p.name for p in warm.pages]
    actions = [i for t in tabs for i in t.interactions if i.kind != "fragment"]
    fragments = [i for t in tabs for i in t.interactions if i.kind == "fragment"]
    covered = {t.index: {i.page for i in t.interactions if i.kind != "fragment"} for t in tabs}
    errors = [e for t in [warm] + tabs for e in t.errors]
    training = info.pop("training")
    alone, loaded = training.get("alone", {}), training.get("under_load", {})
    if alone.get("images_per_second"):
        training["ratio"] = round(loaded.get("images_per_second", 0.0) / alone["images_per_second"], 3)
        training["wall_ratio"] = round(loaded.get("wall_images_per_second", 0.0)
                                       / max(alone.get("wall_images_per_second", 0.0), 1e-9), 3)
    return {
        "benchmark": "load",
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "machine": f"{platform.machine()}, {len(os.sched_getaffinity(0))} CPUs",
        "load_average": round(os.getloadavg()[0], 1),
        **info,
        "pages": pages,
        "sessions_connected": sum(t.connected for t in tabs),
        "interactions_per_session": [sum(i.kind != "fragment" for i in t.interactions) for t in tabs],
        "interactions": len(actions),
        "fragment_reruns": len(fragments),
        "fragment_reruns_unanswered": sum(t.unanswered_fragments for t in tabs),
        "media": {k: sum(t.media[k] for t in tabs) for k in ("fetched", "failed", "from_cache")},
        "latency": {
            "overall": _stats([i.seconds for i in actions]),
            "by_kind": {k: _stats([i.seconds for i in actions if i.kind == k]) for k in ("open", "navigate", "widget")},
            "per_page": {p: _stats([i.seconds for i in actions if i.page == p]) for p in pages},
            "fragment": _stats([i.seconds for i in fragments]),
            "fragment_per_page": {p: _stats([i.seconds for i in fragments if i.page == p])
                                  for p in pages if any(i.page == p for i in fragments)},
        },
        "slowest": [{"session": i.session, "page": i.page, "kind": i.kind, "widget": i.detail,
                     "seconds": round(i.seconds, 2)} for i in sorted(actions, key=lambda i: -i.seconds)[:10]],
        "pages_missed": {str(s): [p for p in pages if p not in got] for s, got in covered.items()
                         if any(p not in got for p in pages)},
        "session_errors": len(errors),
        "session_error_kinds": dict(Counter(f"{e.kind} on {e.page}" for e in errors)),
        "session_error_messages": list(dict.fromkeys(
            f"{e.kind} on {e.page}: {e.message.splitlines()[0] if e.message else ''}" for e in errors))[:20],
        "error_messages_shown": dict(Counter(f"{p}: {body.splitlines()[0][:160] if body else ''}"
                                             for t in tabs for p, body in t.alerts).most_common(20)),
        "training": training,
    }



# ---- verdict and table --------------------------------------------------------------------------
def verdict(result: dict, p95_target: float = 2.0, train_floor: float = 0.5) -> dict:
    """The pass/fail of each criterion of the classroom load test."""
    p95 = result["latency"]["overall"]["p95"]
    ratio = result["training"].get("ratio")
    checks = {
        "all sessions connected": result["sessions_connected"] == result["sessions"],
        "no session error": result["session_errors"] == 0,
        "no server error": not result["server_errors"],
        f"p95 page interaction <= {p95_target:g} s": p95 is not None and p95 <= p95_target,
    }
    if result["training"]:
        checks[f"training pace under load >= {train_floor:g} x alone"] = ratio is not None and ratio >= train_floor
        checks["training kept training"] = (result["training"].get("under_load", {}).get("steps", 0) > 0
                                            and result["training"].get("status_after_load") == "running")
    votes = result.get("votes")
    if votes:
        checks[f"{votes['sessions']} votes at once: one per session, all counted"] = (
            votes["voted"] == votes["sessions"] and votes["tally"] == votes["expected"])
        checks["no session error while voting"] = votes["session_errors"] == 0
        p95 = votes["latency"]["vote"]["p95"]
        checks[f"p95 vote <= {p95_target:g} s"] = p95 is not None and p95 <= p95_target
        if votes["presenter"]:
            checks["the presenter's screen showed every vote"] = votes["presenter_showed"] == votes["sessions"]
    return checks


def format_votes(votes: dict) -> list[str]:
    """The vote phase's lines of the summary: what the store counted, and the timings."""
    fmt = lambda v: "-" if v is None else f"{v:.2f}"  # noqa: E731
    out = [f"lesson vote: {votes['sessions']} sessions on {votes['lesson']} step {votes['step']}, {votes['voted']} "
           f"pressed \"Submit\" within {fmt(votes['pressed_within_seconds'])} s; the store counted "
           f"{sum(votes['tally'])} {votes['tally']} (sent {votes['expected']}); the presenter's screen showed "
           f"{votes['presenter_showed']}; session errors {votes['session_errors']}"]
    out += [f"  {k:<18}{s['n']:>6}{fmt(s['p50']):>8}{fmt(s['p95']):>8}{fmt(s['max']):>8}"
            for k, s in votes["latency"].items()]
    out += [f"  {m[:300]}" for m in votes["session_error_messages"]]
    return out


def format_summary(result: dict, checks: dict | None = None) -> str:
    """The result as a table of latencies per page, then errors, training and the verdict."""
    lat = result["latency"]
    fmt = lambda v: "-" if v is None else f"{v:.2f}"  # noqa: E731
    out = [f"load test: {result['sessions']} sessions x {result['seconds']:g} s, think "
           f"{result['think_seconds'][0]:g}-{result['think_seconds'][1]:g} s, {len(result['pages'])} pages, "
           f"{result['machine']}, load average {result['load_average']}",
           f"{'page':<20}{'n':>6}{'p50 s':>8}{'p95 s':>8}{'max s':>8}   {'fragment n':>10}{'p95 s':>8}"]
    rows = [(p, lat["per_page"][p], lat["fragment_per_page"].get(p)) for p in result["pages"]]
    rows.append(("overall", lat["overall"], lat["fragment"]))
    for name, s, f in rows:
        f = f or {"n": 0, "p95": None}
        out.append(f"{name[:19]:<20}{s['n']:>6}{fmt(s['p50']):>8}{fmt(s['p95']):>8}{fmt(s['max']):>8}"
                   f"   {f['n']:>10}{fmt(f['p95']):>8}")
    for kind, s in lat["by_kind"].items():
        out.append(f"  {kind:<18}{s['n']:>6}{fmt(s['p50']):>8}{fmt(s['p95']):>8}{fmt(s['max']):>8}")
    out.append(f"sessions connected {result['sessions_connected']}/{result['sessions']}, interactions "
               f"{result['interactions']}, fragment reruns {result['fragment_reruns']} "
               f"({result['fragment_reruns_unanswered']} superseded), images fetched {result['media']['fetched']} "
               f"({result['media']['failed']} failed), elements from the message cache {result['media']['from_cache']}")
    if result["pages_missed"]:
        out.append(f"sessions that missed a page: {len(result['pages_missed'])}")
    out.append("slowest: " + ", ".join(f"{x['page']} {x['kind']}{' ' + repr(x['widget']) if x['widget'] else ''} "
                                       f"{x['seconds']:.1f} s" for x in result["slowest"][:5]))
    out.append(f"session errors: {result['session_errors']}  {result['session_error_kinds'] or ''}")
    out += [f"  {m[:300]}" for m in result["session_error_messages"]]
    out.append(f"server errors: {len(result['server_errors'])} (page exceptions in its log: "
               f"{result['page_exceptions_logged']}; server alive at the end: {result['server_alive']})")
    out += [f"  {m[:300]}" for m in result["server_errors"][:10]]
    if result["error_messages_shown"]:
        out.append("st.error messages shown (not counted as errors):")
        out += [f"  {n:>4} x {m}" for m, n in result["error_messages_shown"].items()]
    t = result["training"]
    if t:
        alone, loaded = t.get("alone", {}), t.get("under_load", {})
        out.append(f"training {t.get('run_id')}: {alone.get('images_per_second')} images/s alone, "
                   f"{loaded.get('images_per_second')} under load (ratio {t.get('ratio')}); wall clock "
                   f"{alone.get('wall_images_per_second')} vs {loaded.get('wall_images_per_second')} "
                   f"(ratio {t.get('wall_ratio')}); {loaded.get('steps', 0)} steps during the load, "
                   f"{t.get('status_after_load')} after it")
    if result.get("votes"):
        out += format_votes(result["votes"])
    cpu = result["cpu_seconds"]
    out.append(f"CPU seconds during the load: client {cpu['client']}, server {cpu['server']}, trainer {cpu['trainer']}"
               f" (wall {result['load_wall_seconds']} s)")
    out.append("phases (s): " + ", ".join(f"{k} {v}" for k, v in result["phase_seconds"].items())
               + f"; total {result['total_wall_seconds']}")
    for name, ok in (checks or {}).items():
        out.append(f"{'PASS' if ok else 'FAIL'}  {name}")
    return "\n".join(out)
