"""A lesson as one self-contained HTML page a teacher can print or post: the text of every step, the
figures of the runs it uses, and each question with its answer.

Pure: the caller hands in the lesson and what the store holds of its runs; the page carries
plotly.js once, inline, so it opens offline and prints (a browser's "Save as PDF" keeps the figures).
The step texts are a small subset of Markdown (paragraphs, "- " lists, **bold**, *italic*,
`code`), converted here rather than by a Markdown package the app does not otherwise need.
"""

from __future__ import annotations

import html
import re
import time

from .label_efficiency import label_efficiency_figure
from .training import training_curves

_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 960px; margin: 2em auto; padding: 0 1em; line-height: 1.5; color: #222; }
h1 { margin-bottom: 0.2em; } .meta { color: #666; }
section { border-top: 1px solid #ccc; margin-top: 2em; padding-top: 1em; page-break-inside: avoid; }
.question { font-weight: 600; } ol.choices { list-style: upper-alpha; }
.answer { background: #eef6ee; border-left: 4px solid #2ca02c; padding: 0.5em 1em; }
table { border-collapse: collapse; } td, th { border: 1px solid #ccc; padding: 0.2em 0.6em; text-align: right; }
td:first-child, th:first-child { text-align: left; }
"""


def markdown_html(text: str) -> str:
    """The small Markdown subset the lesson texts use, as HTML (everything else is escaped)."""
    def inline(s: str) -> str:
        s = html.escape(s, quote=False)
        s = re.sub(r"`([^`]+)`", r"<code>\1</code>", s)
        s = re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", s)
        return re.sub(r"\*([^*]+)\*", r"<em>\1</em>", s)

    out, items, para = [], [], []

    def flush():
        if para:
            out.append(f"<p>{inline(' '.join(para))}</p>")
            para.clear()
        if items:
            out.append("<ul>" + "".join(f"<li>{inline(i)}</li>" for i in items) + "</ul>")
            items.clear()

    for line in text.strip().splitlines():
        line = line.strip()
        if not line:
            flush()
        elif line.startswith("- "):
            if para:
                flush()
            items.append(line[2:])
        elif items and not para:
            items[-1] += " " + line
        else:
            para.append(line)
    flush()
    return "\n".join(out)


def _figure_html(fig) -> str:
    return fig.to_html(full_html=False, include_plotlyjs=False, config={"displaylogo": False, "staticPlot": False})


def _summary_table(runs: dict[str, tuple[dict, list]]) -> str:
    head = "<tr><th>run</th><th>kNN</th><th>raw pixels (kNN)</th><th>untrained (kNN)</th><th>10 labels / class</th><th>training s</th></tr>"
    rows = []
    for name, (run, _) in runs.items():
        s = run.get("summary") or {}

        def f(k, fmt="{:.3f}"):
            return fmt.format(s[k]) if isinstance(s.get(k), (int, float)) else "–"
        check = s.get("zoo_check") or {}  # a shipped run whose figures its install did not reproduce
        if check.get("verdict") == "flagged":
            name = f"{name} ⚠ {check.get('flag', '')}"
        rows.append(f"<tr><td>{html.escape(name)}</td><td>{f('knn_accuracy')}</td><td>{f('knn_pixels')}</td>"
                    f"<td>{f('knn_random_init')}</td><td>{f('few_label_linear')}</td><td>{f('seconds', '{:.0f}')}</td></tr>")
    return f"<table>{head}{''.join(rows)}</table>"


def handout_html(lesson, runs: dict[str, tuple[dict, list]], experiment: dict | None = None,
                 names: dict[str, str] | None = None) -> str:
    """The handout of `lesson` (sslviz.teaching.lessons.Lesson).

    runs: zoo entry -> (the run as the store lists it, its metric rows), for the runs the lesson names
    that the store holds; experiment: the shipped label-efficiency results, when a step shows them.
    """
    import plotly.offline

    parts = [f"<h1>{html.escape(lesson.title)}</h1>",
             f"<p class='meta'>sslviz lesson · {len(lesson.steps)} steps · about {lesson.minutes:.0f} minutes · "
             f"made {time.strftime('%Y-%m-%d')}</p>", markdown_html(lesson.summary)]
    drawn: set[str] = set()
    for i, step in enumerate(lesson.steps, 1):
        sec = [f"<h2>{i}. {html.escape(step.title)}</h2>"]
        if step.settings.get("text"):
            sec.append(markdown_html(step.settings["text"]))
        used = [n for n in (step.settings.get("run"), *step.settings.get("runs", [])) if n and n in runs]
        if step.view == "label-efficiency" and experiment:
            rows = experiment.get("results", [])
            sec.append(_figure_html(label_efficiency_figure(rows, ["linear"], title="Linear probe against labels per class")))
        elif len(used) > 1:
            sec.append(_summary_table({n: runs[n] for n in used}))
        elif used and used[0] not in drawn:
            run, rows = runs[used[0]]
            if rows:
                sec.append(_figure_html(training_curves(rows, title=(names or {}).get(used[0], used[0]))))
            sec.append(_summary_table({used[0]: runs[used[0]]}))
            drawn.add(used[0])
        sec.append(f"<p class='question'>{html.escape(step.question)}</p>")
        sec.append("<ol class='choices'>" + "".join(f"<li>{html.escape(c)}</li>" for c in step.choices) + "</ol>")
        sec.append(f"<div class='answer'><p><strong>Answer: {chr(65 + step.answer)}. {html.escape(step.answer_text)}</strong>"
                   f"</p>{markdown_html(step.reveal)}</div>")
        parts.append("<section>" + "\n".join(sec) + "</section>")
    script = plotly.offline.get_plotlyjs()
    return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(lesson.title)} · sslviz</title>"
            f"<style>{_STYLE}</style><script>{script}</script></head><body>{''.join(parts)}</body></html>")
