"""Lessons: a path a class follows through sslviz, written as data.

A lesson is a TOML file in `lesson_texts/` (one per lesson); each step names one view and its
settings (the views live in sslviz/ui/lesson_views.py, looked up by name), asks the class one
question with a few choices, says the answer and why (the reveal), and carries notes for the
teacher (what to say, what students usually get wrong, how long it takes). Adding a lesson is
adding a file; nothing here knows any lesson by name.

A step's answer rests on numbers of the shipped runs, so a step may state them as `checks`: each
check is `[left, op, right]` where a side is a number or `"entry.field"` (a field of a shipped
run's recorded summary, e.g. `"rotation-shapes.knn_accuracy"`); "<" and ">" between two runs' numbers
hold only by more than LEVEL (sslviz/evaluation/fewshot_stats.py: 2 points, the probe's draw-to-draw
noise), so a lesson never calls two level figures a win. tests/test_lessons.py evaluates
every check against the zoo's sidecars, so a lesson cannot go on teaching a claim the shipped
runs stopped supporting.

The file format (every key but `checks` and `settings` is required; minutes are the teacher's
estimate for the step, question and discussion included):

    id = "learning-without-labels"
    title = "..."
    summary = "..."
    [[steps]]
    title = "..."
    view = "pretext"
    settings = { task = "rotation", run = "rotation-mnist" }
    question = "..."
    choices = ["...", "..."]
    answer = 1                  # 0-based index into choices
    reveal = "..."              # markdown
    notes = "..."               # markdown, for the teacher
    minutes = 4
    checks = [["rotation-mnist.few_label_linear", ">", "rotation-mnist.few_label_pixels"]]
"""

from __future__ import annotations

import json
import operator
import tomllib
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from sslviz.core.errors import SslvizError

FOLDER = Path(__file__).resolve().parent / "lesson_texts"
STEPS_MIN, STEPS_MAX = 10, 14  # a 45-minute class: 10 to 14 steps
MINUTES_MIN, MINUTES_MAX = 38, 50
_OPS = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le}


class LessonError(SslvizError):
    """A lesson file that cannot be read, or a step that breaks the format (names the file and field)."""


@dataclass(frozen=True)
class Step:
    title: str
    view: str
    question: str
    choices: tuple[str, ...]
    answer: int
    reveal: str
    notes: str
    minutes: float
    settings: dict = field(default_factory=dict)
    checks: tuple[tuple, ...] = ()

    @property
    def answer_text(self) -> str:
        return self.choices[self.answer]


@dataclass(frozen=True)
class Lesson:
    id: str
    title: str
    summary: str
    steps: tuple[Step, ...]

    @property
    def minutes(self) -> float:
        return sum(s.minutes for s in self.steps)

    def step(self, number: int) -> Step:
        """Step `number`, counted from 1 as in the URL (?step=1 is the first)."""
        return self.steps[number - 1]

    def runs(self) -> list[str]:
        """Every shipped run the lesson's steps name, in order of first use."""
        out: list[str] = []
        for s in self.steps:
            for name in run_names(s.settings):
                if name not in out:
                    out.append(name)
        return out


def run_names(settings: dict) -> list[str]:
    """The zoo entries a step's settings name (`run`, `runs`, `twin`)."""
    names = [settings[k] for k in ("run", "twin") if isinstance(settings.get(k), str)]
    return names + [r for r in settings.get("runs", []) if isinstance(r, str)]


_STEP_KEYS = {"title": str, "view": str, "question": str, "choices": list, "answer": int, "reveal": str,
              "notes": str, "minutes": (int, float)}


def _step(raw: dict, where: str) -> Step:
    for key, kind in _STEP_KEYS.items():
        if key not in raw:
            raise LessonError(f"{where}: missing `{key}`")
        if not isinstance(raw[key], kind) or (kind is int and isinstance(raw[key], bool)):
            raise LessonError(f"{where}: `{key}` should be {getattr(kind, '__name__', 'a number')}")
    unknown = set(raw) - set(_STEP_KEYS) - {"settings", "checks"}
    if unknown:
        raise LessonError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
    choices = tuple(str(c) for c in raw["choices"])
    if len(choices) < 2 or not 0 <= raw["answer"] < len(choices):
        raise LessonError(f"{where}: `answer` {raw['answer']} is not one of the {len(choices)} choices")
    checks = tuple(tuple(c) for c in raw.get("checks", []))
    for c in checks:
        if len(c) != 3 or c[1] not in _OPS:
            raise LessonError(f"{where}: a check should read [left, one of {' '.join(_OPS)}, right], not {list(c)}")
    return Step(title=raw["title"], view=raw["view"], question=raw["question"], choices=choices, answer=raw["answer"],
                reveal=raw["reveal"].strip(), notes=raw["notes"].strip(), minutes=float(raw["minutes"]),
                settings=dict(raw.get("settings", {})), checks=checks)


def read_lesson(path: Path) -> Lesson:
    """One lesson file; a LessonError names the file and the field when it breaks the format."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise LessonError(f"lesson {path.name}: cannot read it ({exc})") from None
    for key in ("id", "title", "summary", "steps"):
        if key not in raw:
            raise LessonError(f"lesson {path.name}: missing `{key}`")
    steps = tuple(_step(s, f"lesson {path.name}, step {i}") for i, s in enumerate(raw["steps"], 1))
    lesson = Lesson(id=raw["id"], title=raw["title"], summary=raw["summary"].strip(), steps=steps)
    if not STEPS_MIN <= len(steps) <= STEPS_MAX:
        raise LessonError(f"lesson {path.name}: {len(steps)} steps; a lesson has {STEPS_MIN} to {STEPS_MAX}")
    return lesson


@cache
def lessons(folder: Path = FOLDER) -> dict[str, Lesson]:
    """Every lesson in the folder, by id, in the order of their file names."""
    out: dict[str, Lesson] = {}
    for path in sorted(folder.glob("*.toml")):
        lesson = read_lesson(path)
        if lesson.id in out:
            raise LessonError(f"lesson {path.name}: the id {lesson.id!r} is taken by another lesson")
        out[lesson.id] = lesson
    return out


def find(lesson_id: str | None, step: str | int | None) -> tuple[Lesson | None, int, str | None]:
    """(lesson, step number, problem) for a URL's ?lesson=&step=: an unknown lesson or a step out of
    range gives (None, 0, one line saying so); no lesson at all gives (None, 0, None)."""
    if not lesson_id:
        return None, 0, None
    known = lessons()
    if lesson_id not in known:
        return None, 0, f"There is no lesson called “{lesson_id}”: pick one below."
    lesson = known[lesson_id]
    try:
        number = 1 if step in (None, "") else int(step)
    except (TypeError, ValueError):
        number = 0
    if not 1 <= number <= len(lesson.steps):
        return None, 0, f"“{lesson.title}” has steps 1 to {len(lesson.steps)}; there is no step {step}: pick one below."
    return lesson, number, None


# ---- the claims a lesson rests on -------------------------------------------------------------

def _value(side, summaries: dict[str, dict]):
    if isinstance(side, (int, float)) and not isinstance(side, bool):
        return float(side)
    entry, _, name = str(side).rpartition(".")
    if entry not in summaries:
        raise LessonError(f"check names {side!r}: no shipped run {entry!r}")
    value = summaries[entry].get(name)
    if not isinstance(value, (int, float)):
        raise LessonError(f"check names {side!r}: the run's summary has no number {name!r}")
    return float(value)


def check_failures(step: Step, summaries: dict[str, dict]) -> list[str]:
    """The step's checks that do not hold on these summaries (zoo entry -> summary), in words."""
    from sslviz.evaluation.fewshot_stats import LEVEL

    out = []
    for left, op, right in step.checks:
        a, b = _value(left, summaries), _value(right, summaries)
        runs = isinstance(left, str) and isinstance(right, str)  # two runs compared: "beats" is beyond the noise
        margin = LEVEL if runs and op in (">", "<") else 0.0
        if not _OPS[op](a - (margin if op == ">" else -margin), b):
            by = f" by more than {margin:g}" if margin else ""
            out.append(f"{step.title}: {left} = {a:.3f} is not {op} {right} = {b:.3f}{by}")
    return out


def shipped_summaries(folder: Path | None = None) -> dict[str, dict]:
    """entry -> the summary its sidecar records, for every shipped run (lite variants included)."""
    from .pretrained import FOLDER as ZOO

    out = {}
    for path in sorted((folder or ZOO).rglob("*.json")):
        try:
            info = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(info.get("summary"), dict):
            out[path.stem] = info["summary"]
    return out
