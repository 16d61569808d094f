"""The classroom load test as a benchmark: N real Streamlit sessions browse every page while a run trains.

    python -m sslviz bench load [--sessions 30] [--seconds 120] [--votes 30] [--json]

Starts `streamlit run app.py` on a free loopback port with a temporary run store (the shipped
pretrained runs installed in it), starts one SimCLR run on shapes through the worker, measures its
rate alone, then lets N simulated browser tabs (sslviz/server/streamlit_client.py: the websocket protocol
the browser speaks, page switches, widget changes, live-fragment timers, image fetches) browse every
page for --seconds with 1-3 s of think time, and prints per-page latency (p50 / p95 / max) of page
interactions and of fragment reruns, every session and server error, the st.error messages seen,
and the training rate under load against alone. Then --votes tabs (default: --sessions) answer a
lesson's question at once (issue 23: `?lesson=learning-without-labels&step=1`, each picks an answer,
all press "Submit my answer" within 1 s, a presenter's screen polls the tally) and the store must
count one vote per tab. See sslviz/server/loadtest.py for what is measured how.

Criteria (printed PASS / FAIL): every session connected, no session error, no server error, p95 of
page interactions <= --p95-target (2 s), training images/s under load >= --train-floor (0.5) x alone;
every vote counted, p95 of the votes <= --p95-target, the presenter's screen showed them all.
With --json the last line is one JSON object (the result, with "checks" and "passed").
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main(argv: list[str] | None = None) -> int:
    from sslviz.server.loadtest import run_load_test
    from sslviz.server.loadtest_report import format_summary, verdict

    ap = argparse.ArgumentParser(prog="python -m sslviz bench load", description=__doc__.split("\n\n")[0])
    ap.add_argument("--sessions", type=int, default=30, help="simulated browser tabs (default 30)")
    ap.add_argument("--seconds", type=float, default=120.0, help="how long they browse (default 120)")
    ap.add_argument("--baseline", type=float, default=20.0, help="seconds of training measured alone first")
    ap.add_argument("--ramp", type=float, default=5.0, help="seconds over which the tabs open")
    ap.add_argument("--think", type=float, nargs=2, default=(1.0, 3.0), metavar=("MIN", "MAX"),
                    help="think time between interactions, seconds (default 1 3)")
    ap.add_argument("--widget-probability", type=float, default=0.5, help="chance of a widget change per page")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-pretrained", action="store_true", help="start from an empty store")
    ap.add_argument("--no-train", action="store_true", help="no training run during the load")
    ap.add_argument("--votes", type=int, default=None, help="tabs that vote at once after the browsing "
                    "(default: --sessions; 0: no vote phase)")
    ap.add_argument("--lesson", default="learning-without-labels", help="the lesson of the vote")
    ap.add_argument("--step", type=int, default=1, help="the step of the vote (from 1)")
    ap.add_argument("--p95-target", type=float, default=2.0)
    ap.add_argument("--train-floor", type=float, default=0.5, help="images/s under load / alone, at least")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)

    result = run_load_test(sessions=args.sessions, seconds=args.seconds, baseline_seconds=args.baseline,
                           ramp_seconds=args.ramp, think=tuple(args.think), widget_probability=args.widget_probability,
                           seed=args.seed, train=not args.no_train, pretrained=not args.no_pretrained,
                           votes=args.sessions if args.votes is None else args.votes, vote_lesson=args.lesson,
                           vote_step=args.step,
                           log=lambda line: print(f"... {line}", file=sys.stderr, flush=True))
    checks = verdict(result, args.p95_target, args.train_floor)
    print(format_summary(result, checks))
    if args.json:
        print(json.dumps({**result, "checks": checks, "passed": all(checks.values())}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
