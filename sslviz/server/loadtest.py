"""The classroom load test: one real `streamlit run app.py`, N simulated students, one run training.

    run_load_test(sessions=30, seconds=120) -> a result dict (see `summarise`); format_summary(result)

What it does, in order, all on the loopback interface and in a temporary run store ($SSLVIZ_HOME)
that is deleted afterwards:

1. fills the store: the shipped pretrained runs (`pretrained=True`, what a class server shows on
   day one) and/or `setup(store)` (tests add one tiny finished run), so that the pages that show
   runs have runs to show;
2. starts `streamlit run app.py` on a free port (its log with level names, to find server errors);
3. warms it up with one tab visiting every page once (the imports and caches a teacher's first
   visit pays); the pages are whatever the server's sidebar lists, discovered at run time;
4. starts one training run through `sslviz.training.worker.submit` into the server's store (SimCLR on
   shapes, time budget), waits for its first training steps, then measures its rate alone for
   `baseline_seconds` (longer if fewer than 3 steps fell in them);
5. opens N `streamlit_client.BrowserSession`s over `ramp_seconds` and lets them browse for
   `seconds`, measuring the training rate over the same window;
6. with `votes` > 0, the class answers a lesson's question at once (sslviz/server/lesson_load.py):
   that many tabs open `?lesson=…&step=…`, pick an answer, press "Submit my answer" within 1 s of
   each other while the presenter's screen polls the tally, and the store must hold exactly one
   vote per tab (the run still trains);
7. cancels the run, stops the server, and reads the server's log.

Training pace is measured from the run's own metrics: `images_per_second` is cumulative
(images seen / seconds spent in training steps), so two samples give the rate of the steps in
between, without the per-epoch evaluations, which would otherwise make a short window noisy. The
wall-clock rate (steps × batch / elapsed) is reported beside it.

A server error is a log record at ERROR or CRITICAL, or a traceback printed outside one, or a
server that died or stopped answering /_stcore/health. The client's own CPU time is reported: on
one machine the simulated students take CPU from the server and the trainer, which thirty real
laptops would not.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from .lesson_load import LESSON, STEP, run_votes
from .loadtest_report import summarise
from .streamlit_client import BrowserSession

ROOT = Path(__file__).resolve().parents[2]
TRAIN = dict(method="simclr", dataset="shapes", batch_size=128, device="cpu", epochs=100_000,
             name="load test: SimCLR on shapes", owner="loadtest")
_LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_RECORD = re.compile(r"^\d{4}-\d\d-\d\d [\d:.,]+ ([A-Z]+) ")


# ---- the server -----------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(home: Path, log_path: Path, root: Path = ROOT, timeout: float = 120.0):
    """`streamlit run app.py` on a free loopback port with its own store; returns (process, url)."""
    port = free_port()
    env = dict(os.environ, SSLVIZ_HOME=str(home), SSLVIZ_PRETRAINED="0",
               PYTHONPATH=str(root) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env.setdefault("NUMBA_CACHE_DIR", str(root / ".numba-cache"))
    env.pop("SSLVIZ_NO_LIVE", None)  # live fragments are part of the load
    log = open(log_path, "wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless=true", f"--server.port={port}",
         "--server.address=127.0.0.1", "--browser.gatherUsageStats=false", "--server.fileWatcherType=none",
         "--server.runOnSave=false", "--logger.level=info", f"--logger.messageFormat={_LOG_FORMAT}"],
        cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    log.close()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        if healthy(url):
            return proc, url
        time.sleep(0.3)
    stop_process(proc)
    raise RuntimeError(f"streamlit did not start:\n{log_path.read_text(errors='replace')[-3000:]}")


def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/_stcore/health", timeout=5) as r:
            return r.status == 200
    except OSError:
        return False


def stop_process(proc: subprocess.Popen, grace: float = 5.0) -> None:
    """SIGTERM the process group we started, SIGKILL it if it does not go."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(grace)
    except ProcessLookupError:
        pass


def server_errors(log_text: str) -> tuple[list[str], int]:
    """(ERROR / CRITICAL records and tracebacks printed outside a record, from a server log;
    the number of page exceptions it logged). A page's uncaught exception is logged as
    "Uncaught app execution": the client counts it as a session error, so it is not one here."""
    errors, level, scripts = [], "INFO", 0
    lines = log_text.splitlines()
    for i, line in enumerate(lines):
        m = _RECORD.match(line)
        if m:
            level = m.group(1)
            if "Uncaught app execution" in line:
                scripts += 1
            elif level in ("ERROR", "CRITICAL"):
                errors.append(line.strip())
        elif (line.startswith("Traceback (most recent call last)") or line.startswith("Exception in thread")) \
                and level not in ("ERROR", "CRITICAL"):
            body = lines[i + 1:i + 200]
            end = next((j for j, l in enumerate(body) if l and not l.startswith(" ")), len(body))
            where = next((l.strip() for l in reversed(body[:end]) if l.strip().startswith("File ")), "")
            tail = body[end].strip() if end < len(body) else ""
            errors.append(" ".join(x for x in (line.strip(), where, tail) if x))  # where it was raised, and what
            level = "ERROR"  # the rest of this traceback belongs to this error
    return errors, scripts


def cpu_seconds(pid: int | None) -> float | None:
    """user + system CPU seconds of a live process (Linux /proc), None when unknown."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, TypeError):
        return None


# ---- the training run -----------------------------------------------------------------------
def start_training(store, budget: float, **over) -> str:
    from sslviz.training import worker
    from sslviz.training.config import RunConfig

    return worker.submit(RunConfig.from_dict({**TRAIN, "time_budget": float(budget), **over}), store)


def training_sample(store, run_id: str, batch_size: int) -> dict | None:
    """The run's latest training-step sample: step, elapsed, images, train_seconds (None before one)."""
    rows = [r for r in store.metrics(run_id, ["images_per_second"]) if r["value"] and r["step"] > 0]
    if not rows:
        return None
    r = rows[-1]
    images = r["step"] * batch_size
    return {"step": r["step"], "elapsed": r["elapsed"], "images": images, "train_seconds": images / r["value"]}


def rate(a: dict | None, b: dict | None) -> dict:
    """images/s between two samples: of the training steps, and of the wall clock."""
    if not a or not b or b["step"] <= a["step"]:
        return {"steps": 0, "images_per_second": 0.0, "wall_images_per_second": 0.0}
    images = b["images"] - a["images"]
    return {"steps": b["step"] - a["step"],
            "images_per_second": round(images / max(b["train_seconds"] - a["train_seconds"], 1e-9), 1),
            "wall_images_per_second": round(images / max(b["elapsed"] - a["elapsed"], 1e-9), 1)}


def wait_for_training(store, run_id: str, batch_size: int, timeout: float = 240.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = store.get(run_id)
        if run["status"] not in ("queued", "running"):
            raise RuntimeError(f"training run {run_id} {run['status']}: {run['message']}")
        sample = training_sample(store, run_id, batch_size)
        if sample and sample["step"] >= 3:
            return sample
        time.sleep(0.5)
    raise RuntimeError(f"training run {run_id} took no step in {timeout:.0f} s")


def baseline_sample(store, run_id: str, a: dict, seconds: float, min_steps: int = 3) -> dict:
    """The sample `seconds` after `a`, or later until `min_steps` steps lie between (at most 60 s)."""
    start = time.monotonic()
    time.sleep(seconds)
    b = training_sample(store, run_id, TRAIN["batch_size"])
    while b["step"] - a["step"] < min_steps and time.monotonic() - start < max(60.0, seconds):
        time.sleep(0.5)
        b = training_sample(store, run_id, TRAIN["batch_size"])
    return b


def stop_training(store, run_id: str, timeout: float = 10.0) -> str:
    """Cancel the run (it stops at its next report); kill it if it has not stopped in `timeout` s."""
    from sslviz.training import worker

    worker.cancel(store, run_id)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and store.get(run_id)["status"] == "running":
        time.sleep(0.3)
    run = store.get(run_id)
    if run["status"] == "running" and run["pid"]:
        try:
            os.kill(run["pid"], signal.SIGKILL)
            os.waitpid(run["pid"], 0)  # our child (worker.launch): reap it, so that it counts as gone
        except OSError:
            pass
        store.reconcile()  # marks it interrupted
    return store.get(run_id)["status"]


# ---- the students ---------------------------------------------------------------------------
async def browse(url: str, sessions: int, seconds: float, ramp_seconds: float = 5.0, **options) -> list[BrowserSession]:
    """N tabs opened evenly over `ramp_seconds`, each browsing until `seconds` after the ramp."""
    tabs = [BrowserSession(url, i, **options) for i in range(sessions)]
    stop_at = time.monotonic() + ramp_seconds + seconds

    async def one(tab: BrowserSession) -> None:
        await asyncio.sleep(ramp_seconds * tab.index / max(1, sessions))
        await tab.run(stop_at)

    await asyncio.gather(*(one(t) for t in tabs))
    return tabs


# ---- the whole test -------------------------------------------------------------------------
def run_load_test(sessions: int = 30, seconds: float = 120.0, baseline_seconds: float = 20.0,
                  ramp_seconds: float = 5.0, think: tuple[float, float] = (1.0, 3.0), widget_probability: float = 0.5,
                  seed: int = 0, train: bool = True, pretrained: bool = True, setup=None, timeout: float = 60.0,
                  root: Path = ROOT, log=None, votes: int = 0, vote_lesson: str = LESSON,
                  vote_step: int = STEP) -> dict:
    """Run the classroom load test end to end and return `summarise(...)`'s dict.

    log: a function taking one line of progress (default: silent). votes: the number of tabs that
    answer step `vote_step` of lesson `vote_lesson` at once after the browsing (0: no vote phase);
    the result's "votes" is then lesson_load.vote_result's dict."""
    from sslviz.training.runs import RunStore

    say = log or (lambda line: None)
    t_total = time.monotonic()
    phases, clock = {}, [time.monotonic()]

    def phase(name: str) -> None:  # seconds since the previous phase ended
        now = time.monotonic()
        phases[name], clock[0] = round(now - clock[0], 1), now
    with tempfile.TemporaryDirectory(prefix="sslviz-load-") as tmp:
        home, log_path = Path(tmp) / "runs", Path(tmp) / "streamlit.log"
        store = RunStore(home)
        if pretrained:
            from sslviz.teaching.pretrained.install import install

            say("installing the shipped pretrained runs into the test store")
            install(store, log=say)
        if setup:
            setup(store)
        phase("fill store")
        say("starting streamlit")
        proc, url = start_server(home, log_path, root)
        phase("start server")
        run_id, training = None, {}
        try:
            say(f"warming up {url}: one tab visits every page")
            warm = asyncio.run(browse(url, 1, 600.0, 0.0, think=(0.0, 0.05), widget_probability=0.0,
                                      timeout=max(timeout, 120.0), tours=1))
            phase("warm up")
            if train:
                budget = baseline_seconds + ramp_seconds + seconds + 300
                run_id = start_training(store, budget)
                say(f"training {run_id}: waiting for its first steps")
                wait_for_training(store, run_id, TRAIN["batch_size"])
                phase("start training")
                a = training_sample(store, run_id, TRAIN["batch_size"])
                b = baseline_sample(store, run_id, a, baseline_seconds)
                phase("training alone")
                training["alone"] = rate(a, b)
                say(f"training alone: {training['alone']['images_per_second']} images/s")
            say(f"{sessions} sessions for {seconds:.0f} s")
            cpu = {"client": time.process_time(), "server": cpu_seconds(proc.pid),
                   "trainer": cpu_seconds(store.get(run_id)["pid"]) if run_id else None}
            c = training_sample(store, run_id, TRAIN["batch_size"]) if run_id else None
            t0 = time.monotonic()
            tabs = asyncio.run(browse(url, sessions, seconds, ramp_seconds, seed=seed, think=think,
                                      widget_probability=widget_probability, timeout=timeout))
            load_wall = time.monotonic() - t0
            phase("load")
            if run_id:
                d = training_sample(store, run_id, TRAIN["batch_size"])
                training["under_load"] = rate(c, d)
                training["status_after_load"] = store.get(run_id)["status"]
                training["message"] = store.get(run_id)["message"]
            cpu = {k: (round(now - before, 1) if before is not None and now is not None else None)
                   for k, before, now in (("client", cpu["client"], time.process_time()),
                                          ("server", cpu["server"], cpu_seconds(proc.pid)),
                                          ("trainer", cpu["trainer"], cpu_seconds(store.get(run_id)["pid"]) if run_id else None))}
            voted = {}
            if votes:
                say(f"{votes} sessions vote at once on {vote_lesson} step {vote_step}")
                voted["votes"] = run_votes(url, store, votes, vote_lesson, vote_step, ramp_seconds=ramp_seconds,
                                           timeout=timeout, seed=seed)
                phase("votes")
            alive = proc.poll() is None and healthy(url)
        finally:
            if run_id:
                store.request_stop(run_id)  # it stops at its next report, while the server shuts down
            stop_process(proc)
            if run_id:
                training["final_status"] = stop_training(store, run_id)
                training["run_id"] = run_id
        phase("stop")
        logged, script_exceptions = server_errors(log_path.read_text(errors="replace"))
    page_files = ["app.py"] + sorted(p.name for p in (root / "pages").glob("*.py") if not p.name.startswith("_"))
    return summarise(tabs, warm[0], dict(
        sessions=sessions, seconds=seconds, ramp_seconds=ramp_seconds, think_seconds=list(think),
        widget_probability=widget_probability, seed=seed, load_wall_seconds=round(load_wall, 1),
        total_wall_seconds=round(time.monotonic() - t_total, 1), phase_seconds=phases, page_files=page_files,
        server_alive=alive, server_errors=logged + ([] if alive else ["server died or stopped answering"]),
        page_exceptions_logged=script_exceptions,
        cpu_seconds=cpu, training=training, **voted))
