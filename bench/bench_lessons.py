"""`python -m sslviz bench lessons`: how long a lesson step takes to open, for every step of every lesson.

On a fresh run store with the shipped runs the lessons use installed (timed too), one real `streamlit run app.py` and
headless Chromium: each lesson is walked as a student walks it (sslviz/server/lesson_walk.py): the
→ key, then the step's header, then the step fully drawn (no view still computing in the
background). The target: every step that uses shipped runs fully drawn within 2 s of the key press.
Then the live step: its run is started from the lesson (SimCLR on shapes, one minute) and the
seconds until its kNN curve passes the raw-pixel line are read from the run's own metrics.

    python -m sslviz bench lessons                  # every lesson, then the live run
    python -m sslviz bench lessons --no-live        # steps only
    python -m sslviz bench lessons --lesson choosing-a-method --markdown

With --settle S the lesson list is opened first and the walk starts S seconds later: what a class meets when
the teacher opens the lesson a few minutes before it starts (the warm-up has had S seconds).

A second walk of the same lesson is what a class meets (the first visit of a view also pays for
its first projection, probe fit or score, cached in the run's folder for every later visit); both
are reported: "first" and "again".
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET = 2.0


def _browser(p):
    return p.chromium.launch(executable_path="/usr/bin/chromium",
                             args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])


def live_run_seconds(store, run_id: str, timeout: float = 240.0) -> dict:
    """Seconds from the run's start until its kNN first exceeded the raw-pixel line (None: never)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and store.get(run_id)["status"] in ("queued", "running"):
        time.sleep(2)
    rows = store.metrics(run_id, ["knn_accuracy", "knn_pixels"])
    pixels = next((r["value"] for r in rows if r["name"] == "knn_pixels"), None)
    knn = [(r["elapsed"], r["value"]) for r in rows if r["name"] == "knn_accuracy"]
    passed = next((t for t, v in knn[1:] if pixels is not None and v > pixels), None)
    return {"run": run_id, "status": store.get(run_id)["status"], "pixels": pixels,
            "final_knn": knn[-1][1] if knn else None, "passed_after_s": passed}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m sslviz bench lessons")
    ap.add_argument("--lesson", action="append", help="only this lesson (repeatable)")
    ap.add_argument("--no-live", action="store_true", help="skip the live step's run")
    ap.add_argument("--once", action="store_true", help="one walk per lesson (the first visit) instead of two")
    ap.add_argument("--settle", type=float, default=0.0,
                    help="seconds between opening the lesson list (which starts the lessons' warm-up) and the first "
                         "walk: a teacher who opens the lesson before the class (default 0: walk at once)")
    ap.add_argument("--markdown", action="store_true")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv or [])

    from playwright.sync_api import sync_playwright

    from sslviz.server.lesson_walk import walk
    from sslviz.server.loadtest import start_server, stop_process
    from sslviz.teaching import classroom
    from sslviz.teaching.lessons import lessons
    from sslviz.teaching.pretrained import lite
    from sslviz.teaching.pretrained.install import install
    from sslviz.training.runs import RunStore

    chosen = [lessons()[i] for i in args.lesson] if args.lesson else list(lessons().values())
    tmp = Path(tempfile.mkdtemp(prefix="sslviz-bench-lessons-"))
    proc = None
    out = {"machine": f"{platform.node()} · {platform.processor() or platform.machine()}", "steps": []}
    try:
        store = RunStore(tmp / "runs")
        t0 = time.monotonic()
        names = list(dict.fromkeys(n for lesson in lessons().values() for n in lesson.runs()))
        install(store, names=names)  # the entries the lessons use, the experiment, the lite runs
        lite.install_locked(store)
        out["install_s"] = round(time.monotonic() - t0, 1)
        print(f"zoo installed in {out['install_s']} s", flush=True)
        proc, url = start_server(tmp / "runs", tmp / "server.log")
        with sync_playwright() as p:
            browser = _browser(p)
            page = browser.new_page(viewport={"width": 1400, "height": 1600})
            if args.settle > 0:
                page.goto(f"{url}/Lessons")
                page.get_by_text("Start this lesson").first.wait_for(timeout=120_000)
                print(f"... the lesson list is open; walking in {args.settle:.0f} s", flush=True)
                time.sleep(args.settle)
            out["settle_s"] = args.settle
            for lesson in chosen:
                for label in ("first",) if args.once else ("first", "again"):
                    def show(r, label=label):
                        r["walk"] = label
                        print(f"{r['lesson']:<28} {label:<5} step {r['step']:>2} {r['view']:<20} "
                              f"shown {r['shown']:5.2f} s  drawn {r['drawn']:5.2f} s", flush=True)
                    out["steps"] += walk(page, url, lesson, vote=False, timeout=120, on_step=show)
            if not args.no_live:
                lesson = lessons()["learning-without-labels"]
                number = next(i for i, s in enumerate(lesson.steps, 1) if s.view == "live-train")
                page.goto(f"{url}/Lessons?lesson={lesson.id}&step={number}")
                page.get_by_role("button", name="Start: SimCLR on shapes, one minute").click()
                page.get_by_text("SimCLR on shapes", exact=False).first.wait_for()
                time.sleep(3)
                run_id = classroom.live_run(store, lesson.id, number)
                out["live"] = live_run_seconds(store, run_id)
                print(f"live run: {out['live']}", flush=True)
            browser.close()
    finally:
        if proc is not None:
            stop_process(proc)
        shutil.rmtree(tmp, ignore_errors=True)
    again = [s for s in out["steps"] if s["walk"] == ("first" if args.once else "again")]
    out["over_target_again"] = [f"{s['lesson']} {s['step']}" for s in again if s["drawn"] > TARGET]
    if args.markdown:
        print("\n| lesson | step | view | first visit: drawn (s) | again: shown (s) | again: drawn (s) |")
        print("|---|---:|---|---:|---:|---:|")
        first = {(s["lesson"], s["step"]): s for s in out["steps"] if s["walk"] == "first"}
        for s in again:
            f = first[(s["lesson"], s["step"])]
            print(f"| {s['lesson']} | {s['step']} | {s['view']} | {f['drawn']:.2f} | {s['shown']:.2f} | {s['drawn']:.2f} |")
    print(f"steps over {TARGET} s on a second visit: {out['over_target_again'] or 'none'}")
    if args.json:
        print(json.dumps(out))
    return 0
