"""A class following a lesson together: votes, reveals and the run a step started, kept in the run store.

Predict, then reveal: at each step the students (one browser session each, on their own laptops,
the link the teacher shared) choose an answer; the presenter's screen shows how the class voted,
then reveals, and every screen of the class shows the answer. So that a second browser session and
the presenter see the same thing, all of it lives in the store's SQLite database, not in session
state.

What is kept: for a lesson and its current *class* (a round: the teacher's "new class" clears the
votes by starting the next one), one row per (step, voter): the voter is the browser session's
random token (sslviz.ui.common.session_owner), nothing personal. One vote per session and step:
voting again replaces it. Reveals and the run a live step started are per class too, so the next
class starts with nothing revealed and trains its own run.

Reads and writes are single statements on the store's per-thread connection (WAL), cheap enough for
thirty students voting at once (the classroom load test, sslviz/server/loadtest.py).
"""

from __future__ import annotations

import time

_SCHEMA = """
CREATE TABLE IF NOT EXISTS lesson_classes (
    lesson TEXT PRIMARY KEY,
    class INTEGER NOT NULL,
    started REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS lesson_votes (
    lesson TEXT NOT NULL,
    class INTEGER NOT NULL,
    step INTEGER NOT NULL,
    voter TEXT NOT NULL,
    choice INTEGER NOT NULL,
    at REAL NOT NULL,
    PRIMARY KEY (lesson, class, step, voter)
);
CREATE TABLE IF NOT EXISTS lesson_state (
    lesson TEXT NOT NULL,
    class INTEGER NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (lesson, class, key)
);
"""

_ready: set[str] = set()


def _db(store):
    """The store's connection, with this module's tables created once per store and process."""
    key = str(store.db_path)
    if key not in _ready:
        with store.database() as db:
            db.executescript(_SCHEMA)
        _ready.add(key)
    return store.database()


def current_class(store, lesson: str) -> int:
    """The number of the lesson's current class (0 until a teacher starts a new one)."""
    with _db(store) as db:
        row = db.execute("SELECT class FROM lesson_classes WHERE lesson = ?", (lesson,)).fetchone()
    return int(row[0]) if row else 0


def new_class(store, lesson: str) -> int:
    """Start the next class of a lesson: its votes, reveals and live runs start empty; the previous
    class's rows are deleted (nothing of a class is kept once the teacher has moved on)."""
    with _db(store) as db:
        db.execute("BEGIN IMMEDIATE")
        row = db.execute("SELECT class FROM lesson_classes WHERE lesson = ?", (lesson,)).fetchone()
        number = (int(row[0]) if row else 0) + 1
        db.execute("INSERT OR REPLACE INTO lesson_classes (lesson, class, started) VALUES (?, ?, ?)",
                   (lesson, number, time.time()))
        db.execute("DELETE FROM lesson_votes WHERE lesson = ? AND class < ?", (lesson, number))
        db.execute("DELETE FROM lesson_state WHERE lesson = ? AND class < ?", (lesson, number))
        db.execute("COMMIT")
    return number


def vote(store, lesson: str, step: int, voter: str, choice: int) -> None:
    """Record (or replace) this session's answer at a step of the current class."""
    if not voter:
        raise ValueError("a vote needs the session's token")
    number = current_class(store, lesson)
    with _db(store) as db:
        db.execute("INSERT OR REPLACE INTO lesson_votes (lesson, class, step, voter, choice, at) VALUES (?, ?, ?, ?, ?, ?)",
                   (lesson, number, int(step), voter, int(choice), time.time()))


def my_vote(store, lesson: str, step: int, voter: str) -> int | None:
    number = current_class(store, lesson)
    with _db(store) as db:
        row = db.execute("SELECT choice FROM lesson_votes WHERE lesson = ? AND class = ? AND step = ? AND voter = ?",
                         (lesson, number, int(step), voter)).fetchone()
    return int(row[0]) if row else None


def tally(store, lesson: str, step: int, choices: int) -> list[int]:
    """How many sessions chose each answer at a step of the current class (a list, one count a choice)."""
    number = current_class(store, lesson)
    with _db(store) as db:
        rows = db.execute("SELECT choice, COUNT(*) FROM lesson_votes WHERE lesson = ? AND class = ? AND step = ? "
                          "GROUP BY choice", (lesson, number, int(step))).fetchall()
    counts = [0] * choices
    for choice, n in rows:
        if 0 <= int(choice) < choices:
            counts[int(choice)] = int(n)
    return counts


def _get(store, lesson: str, key: str) -> str | None:
    number = current_class(store, lesson)
    with _db(store) as db:
        row = db.execute("SELECT value FROM lesson_state WHERE lesson = ? AND class = ? AND key = ?",
                         (lesson, number, key)).fetchone()
    return row[0] if row else None


def _set(store, lesson: str, key: str, value: str, replace: bool = True) -> str:
    """Set a value of the current class; replace=False keeps a value already there. Returns the value kept."""
    number = current_class(store, lesson)
    verb = "INSERT OR REPLACE" if replace else "INSERT OR IGNORE"
    with _db(store) as db:
        db.execute(f"{verb} INTO lesson_state (lesson, class, key, value) VALUES (?, ?, ?, ?)", (lesson, number, key, value))
    return _get(store, lesson, key) or value


def reveal(store, lesson: str, step: int) -> None:
    """The teacher reveals a step's answer to the whole class."""
    _set(store, lesson, f"reveal:{int(step)}", "1")


def revealed(store, lesson: str, step: int) -> bool:
    return _get(store, lesson, f"reveal:{int(step)}") == "1"


def live_run(store, lesson: str, step: int) -> str | None:
    """The run a live step started for the current class, if any."""
    return _get(store, lesson, f"run:{int(step)}")


def claim_live_run(store, lesson: str, step: int, start) -> str:
    """The class's run for a live step: the one already started, or `start()`'s (a new run id) when there
    is none. Two sessions pressing the button at once get the same run: the first write wins, and a
    run started by the second is cancelled by the caller (returned id differs from the one it made)."""
    existing = live_run(store, lesson, step)
    if existing:
        return existing
    return _set(store, lesson, f"run:{int(step)}", start(), replace=False)
