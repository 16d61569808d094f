"""The run store: a SQLite registry (WAL mode) plus one directory per run.

Every page, browser session, CLI call and worker process reads and writes runs through this
module; it is the single source of truth. Layout under the store root (./runs, $SSLVIZ_HOME or
--runs-dir):

    sslviz.db                       runs, metrics
    <run_id>/config.json            the RunConfig
    <run_id>/checkpoint.pt          latest weights (written atomically)
    <run_id>/embeddings_<epoch>.npz test-set embedding snapshots
    <run_id>/worker.log             the worker process's output

Status values: queued, running, completed, failed, cancelled, interrupted, installing. A run marked
running whose process is gone is shown as interrupted (see `reconcile`). "installing" is a shipped
pretrained run being written into the store (sslviz/teaching/pretrained/install.py): it trains
nothing, so no scheduler counts it against a lane's slots and nobody can stop it.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import sqlite3
import threading
import time
from contextlib import contextmanager
from pathlib import Path

from sslviz.core.errors import RunStoreError
from sslviz.core.files import atomic_write_text, remove_temp_files
from sslviz.core.paths import home
from sslviz.core.processes import process_alive

STATUSES = ("queued", "running", "completed", "failed", "cancelled", "interrupted", "installing")
ACTIVE = ("queued", "running")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL DEFAULT 'train',
    name TEXT NOT NULL DEFAULT '',
    method TEXT NOT NULL DEFAULT '',
    dataset TEXT NOT NULL DEFAULT '',
    owner TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL,
    config TEXT NOT NULL,
    created REAL NOT NULL,
    started REAL,
    ended REAL,
    pid INTEGER,
    pid_start INTEGER,
    host TEXT,
    progress REAL NOT NULL DEFAULT 0,
    eta REAL,
    message TEXT NOT NULL DEFAULT '',
    error TEXT NOT NULL DEFAULT '',
    summary TEXT NOT NULL DEFAULT '{}',
    stop_requested INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS metrics (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id TEXT NOT NULL,
    step INTEGER NOT NULL,
    epoch REAL NOT NULL,
    elapsed REAL NOT NULL,
    name TEXT NOT NULL,
    value REAL
);
CREATE INDEX IF NOT EXISTS metrics_by_run ON metrics (run_id, name, id);
CREATE INDEX IF NOT EXISTS runs_by_status ON runs (status, created);
"""


class RunStore:
    """Open (and create if needed) the store at `root`."""

    def __init__(self, root: str | os.PathLike | None = None):
        from sslviz.core.settings import load_settings

        self.journal = "WAL" if load_settings().journal == "wal" else "DELETE"
        try:
            self.root = home(root)
            self.db_path = self.root / "sslviz.db"
            with self._connect() as db:
                db.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise RunStoreError(f"run store {root or 'runs'}: cannot open ({exc})") from None

    @contextmanager
    def _connect(self):
        """This thread's connection (opened once per thread and process, then reused: opening one
        and setting its pragmas was 6% of the server's CPU under the classroom load test). A
        transaction left open by an error is rolled back; a connection that failed is dropped."""
        local = self.__dict__.setdefault("_local", threading.local())
        db = getattr(local, "db", None)
        if db is None or local.pid != os.getpid():
            db = sqlite3.connect(self.db_path, timeout=30, isolation_level=None)
            db.row_factory = sqlite3.Row
            try:
                db.execute(f"PRAGMA journal_mode={self.journal}")
                db.execute("PRAGMA synchronous=NORMAL")
                db.execute("PRAGMA busy_timeout=30000")
            except BaseException:
                db.close()
                raise
            local.db, local.pid, local.depth = db, os.getpid(), 0
        outer = local.depth == 0
        local.depth += 1
        try:
            yield db
        except BaseException:
            if outer:
                local.db = None
                db.close()
            raise
        finally:
            local.depth -= 1
        if outer and db.in_transaction:
            db.execute("ROLLBACK")

    # ---- runs -------------------------------------------------------------------------------
    def run_dir(self, run_id: str) -> Path:
        return self.root / run_id

    def create(self, config: dict, kind: str = "train", status: str = "queued") -> str:
        """Register a run and write its config.json; returns the new run id.

        status "queued" waits for the scheduler; "running" is for a run this process executes
        itself (the CLI's foreground train), which no scheduler may then claim.
        """
        run_id = f"{config.get('method', kind)}-{secrets.token_hex(3)}"
        run_dir = self.run_dir(run_id)
        try:
            run_dir.mkdir(parents=True)
            atomic_write_text(run_dir / "config.json", json.dumps(config, indent=2))
        except OSError as exc:
            raise RunStoreError(f"run directory {run_dir}: cannot write ({exc.strerror or exc})") from None
        with self._connect() as db:
            db.execute(
                "INSERT INTO runs (id, kind, name, method, dataset, owner, status, config, created)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    run_id,
                    kind,
                    config.get("name", ""),
                    config.get("method", ""),
                    config.get("dataset", ""),
                    config.get("owner", ""),
                    status,
                    json.dumps(config),
                    time.time(),
                ),
            )
        return run_id

    def set_config(self, run_id: str, config: dict) -> None:
        """Replace a run's config (the trainer writes the config as resolved by the recipe)."""
        atomic_write_text(self.run_dir(run_id) / "config.json", json.dumps(config, indent=2))
        self.update(run_id, config=config)

    def get(self, run_id: str) -> dict:
        with self._connect() as db:
            row = db.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
        if row is None:
            raise RunStoreError(f"run '{run_id}': no such run in {self.root}")
        return _row_to_dict(row)

    def list(self, kind: str | None = "train", status: str | None = None) -> list[dict]:
        """All runs, newest first."""
        query, args = "SELECT * FROM runs WHERE 1=1", []
        if kind:
            query, args = query + " AND kind = ?", args + [kind]
        if status:
            query, args = query + " AND status = ?", args + [status]
        with self._connect() as db:
            rows = db.execute(query + " ORDER BY created DESC", args).fetchall()
        return [_row_to_dict(r) for r in rows]

    def update(self, run_id: str, **fields) -> None:
        if not fields:
            return
        for key in ("summary", "config"):
            if key in fields and not isinstance(fields[key], str):
                fields[key] = json.dumps(fields[key])
        cols = ", ".join(f"{k} = ?" for k in fields)
        with self._connect() as db:
            db.execute(f"UPDATE runs SET {cols} WHERE id = ?", (*fields.values(), run_id))

    def claim_queued(self, max_running: int, kinds: tuple[str, ...] = ("train",)) -> list[str]:
        """Atomically move queued jobs of `kinds` to 'running', in fair order (`fair_order`),
        while fewer than max_running of those kinds run.

        Returns the claimed ids; the caller starts their processes. BEGIN IMMEDIATE makes two
        schedulers (two browser sessions, or a worker finishing) never claim the same run.
        """
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                order, running = self._queue(db, kinds)
                ids = order[: max(0, max_running - running)]
                now = time.time()
                for run_id in ids:
                    db.execute(
                        "UPDATE runs SET status = 'running', started = ?, host = ?, pid = NULL WHERE id = ?",
                        (now, socket.gethostname(), run_id),
                    )
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        return ids

    def queue_order(self, kinds: tuple[str, ...] = ("train",)) -> list[str]:
        """Ids of the queued jobs of `kinds` in the order they will start."""
        with self._connect() as db:
            return self._queue(db, kinds)[0]

    @staticmethod
    def _queue(db, kinds: tuple[str, ...]) -> tuple[list[str], int]:
        marks = ",".join("?" * len(kinds))
        rows = db.execute(
            f"SELECT id, owner, status FROM runs WHERE status IN ('queued', 'running') AND kind IN ({marks})"
            " ORDER BY created", kinds).fetchall()
        running = [r["owner"] for r in rows if r["status"] == "running"]
        queued = [(r["id"], r["owner"]) for r in rows if r["status"] == "queued"]
        return fair_order(queued, running), len(running)

    def request_stop(self, run_id: str) -> str:
        """Cancel a run: a queued run is cancelled at once, a running one is asked to stop."""
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            row = db.execute("SELECT status FROM runs WHERE id = ?", (run_id,)).fetchone()
            if row is None:
                db.execute("ROLLBACK")
                raise RunStoreError(f"run '{run_id}': no such run in {self.root}")
            status = row[0]
            if status == "queued":
                db.execute(
                    "UPDATE runs SET status = 'cancelled', ended = ?, message = 'cancelled before it started'"
                    " WHERE id = ?",
                    (time.time(), run_id),
                )
                status = "cancelled"
            elif status == "running":
                db.execute("UPDATE runs SET stop_requested = 1 WHERE id = ?", (run_id,))
            db.execute("COMMIT")
        return status

    def requeue(self, run_id: str, status: str = "queued") -> None:
        """Queue an interrupted, cancelled or failed run again; its worker resumes from its checkpoint.
        status="running" claims it for the calling process instead (foreground resume)."""
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            row = db.execute("SELECT status FROM runs WHERE id = ?", (run_id,)).fetchone()
            if row is None or row[0] not in ("interrupted", "cancelled", "failed"):
                db.execute("ROLLBACK")
                state = "no such run" if row is None else f"it is {row[0]}"
                raise RunStoreError(f"run '{run_id}': cannot resume ({state})")
            db.execute(
                "UPDATE runs SET status = ?, stop_requested = 0, ended = NULL, pid = NULL, "
                "message = 'resuming from its last checkpoint', created = ? WHERE id = ?",
                (status, time.time(), run_id),
            )
            db.execute("COMMIT")

    def stop_requested(self, run_id: str) -> bool:
        with self._connect() as db:
            row = db.execute("SELECT stop_requested FROM runs WHERE id = ?", (run_id,)).fetchone()
        return bool(row and row[0])

    def reconcile(self) -> list[str]:
        """Mark runs whose process is gone as interrupted; returns their ids.

        Only runs started on this host are checked (a shared store may hold runs of other machines).
        A run claimed less than 30 s ago without a pid yet is still starting and is left alone.
        """
        host, now, gone = socket.gethostname(), time.time(), []
        with self._connect() as db:
            rows = db.execute(
                "SELECT id, pid, pid_start, started FROM runs WHERE status = 'running' AND host = ?", (host,)
            ).fetchall()
        for row in rows:
            if row["pid"] is None:
                if now - (row["started"] or now) < 30:
                    continue
            elif process_alive(row["pid"], row["pid_start"]):
                continue
            gone.append(row["id"])
        for run_id in gone:
            with self._connect() as db:
                db.execute(
                    "UPDATE runs SET status = 'interrupted', ended = ?, "
                    "message = 'the trainer process ended without finishing (killed, crashed or the machine restarted)'"
                    " WHERE id = ? AND status = 'running'",
                    (now, run_id),
                )
            remove_temp_files(self.run_dir(run_id))  # its process is gone: a half-written temp file is garbage
        return gone

    def delete(self, run_id: str) -> None:
        import shutil

        run = self.get(run_id)
        if run["status"] in ACTIVE:
            raise RunStoreError(f"run '{run_id}': is {run['status']}; stop it before deleting")
        with self._connect() as db:
            db.execute("DELETE FROM metrics WHERE run_id = ?", (run_id,))
            db.execute("DELETE FROM runs WHERE id = ?", (run_id,))
        shutil.rmtree(self.run_dir(run_id), ignore_errors=True)

    # ---- metrics ----------------------------------------------------------------------------
    def add_metrics(self, run_id: str, rows: list[tuple[int, float, float, str, float]]) -> None:
        """rows: (step, epoch, elapsed, name, value)."""
        if not rows:
            return
        with self._connect() as db:
            db.executemany(
                "INSERT INTO metrics (run_id, step, epoch, elapsed, name, value) VALUES (?, ?, ?, ?, ?, ?)",
                [(run_id, *r) for r in rows],
            )

    def metrics(self, run_id: str, names: list[str] | None = None) -> list[dict]:
        """Metric rows in the order they were written: dicts with step, epoch, elapsed, name, value."""
        query, args = "SELECT step, epoch, elapsed, name, value FROM metrics WHERE run_id = ?", [run_id]
        if names:
            query += f" AND name IN ({','.join('?' * len(names))})"
            args += names
        with self._connect() as db:
            return [dict(r) for r in db.execute(query + " ORDER BY id", args).fetchall()]

    def version(self) -> tuple:
        """A cheap fingerprint of the whole store: pages poll this and redraw only when it changed."""
        with self._connect() as db:
            m = db.execute("SELECT COALESCE(MAX(id), 0) FROM metrics").fetchone()[0]
            r = db.execute("SELECT COUNT(*), COALESCE(SUM(progress), 0), GROUP_CONCAT(status) FROM runs").fetchone()
        return (m, *tuple(r))

    def database(self):
        """This thread's connection to the store's database, as a context manager, for the tables that
        other floors keep beside the runs (sslviz/teaching/classroom.py: a lesson's votes)."""
        return self._connect()

    def integrity_ok(self) -> bool:
        with self._connect() as db:
            return db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def fair_order(queued: list[tuple[str, str]], running_owners: list[str]) -> list[str]:
    """The order in which queued jobs start: fair between owners (students), oldest first within.

    queued: (id, owner) oldest first; running_owners: the owner of each running job. The next job
    is always the oldest one of the owner with the fewest jobs running or already ahead in the
    order, so one student's five queued runs cannot make thirty classmates wait; jobs without an
    owner (CLI) count as one owner.
    """
    load: dict[str, int] = {}
    for owner in running_owners:
        load[owner] = load.get(owner, 0) + 1
    waiting: dict[str, list[tuple[int, str]]] = {}
    for age, (run_id, owner) in enumerate(queued):
        waiting.setdefault(owner, []).append((age, run_id))
    out: list[str] = []
    while waiting:  # the least-served owner first; between equals, the job that has waited longest
        owner = min(waiting, key=lambda o: (load.get(o, 0), waiting[o][0][0]))
        out.append(waiting[owner].pop(0)[1])
        load[owner] = load.get(owner, 0) + 1
        if not waiting[owner]:
            del waiting[owner]
    return out


def _row_to_dict(row: sqlite3.Row) -> dict:
    d = dict(row)
    d["config"] = json.loads(d["config"])
    d["summary"] = json.loads(d["summary"] or "{}")
    d["stop_requested"] = bool(d["stop_requested"])
    return d
