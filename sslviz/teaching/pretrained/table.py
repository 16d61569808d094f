"""The zoo's table, written from the shipped files themselves, so BENCHMARKS.md quotes what a
class installs and nothing older:

    python -m sslviz.teaching.pretrained.table --markdown    the table BENCHMARKS.md pastes
    python -m sslviz.teaching.pretrained.table [--json]      one line (or object) per entry


Hand-copied tables went stale each time an entry was rebuilt (the review of issue 25 found
SimCLR and RotNet on MNIST still quoted from runs replaced two sessions before). The figures
come only from each entry's sidecar (<name>.json: the build's summary, date and machine) and
the budget from the config stored in its checkpoint (<name>.pt): nothing is re-scored here.
tests/test_zoo_table.py checks that every shipped entry's figures appear in its row of
BENCHMARKS.md.

Columns: kNN with all labels and the monitor's linear probe on 10 labelled images per class (3
fixed paired draws), each beside raw pixels and the untrained network on the same images; for
the entries that are rows of `bench methods`, its probe over 5 paired draws too; and the papers'
protocol (kNN with the whole training split as the bank on the whole test split, k = 20, and the
linear probe on all training labels; `python -m sslviz pretrained papers` writes it into the
sidecars), beside raw pixels and the untrained network scored the same way. A figure is bold
where it beats both lines by more than LEVEL (sslviz/evaluation/fewshot_stats.py: 2 points, about the
draw-to-draw noise of a 3-draw mean) and marked ≈ where it is level with the higher line (within LEVEL). The sidecars'
effective rank is left out: it was recorded with the gauge before 2026-12-07 (the singular-value
form, which reads higher), and the install measures today's.
"""

from __future__ import annotations

import json
import sys

from sslviz.core.errors import SslvizError
from sslviz.evaluation.fewshot_stats import LEVEL

from . import CATALOG, available, info_path, weights_path

_DATASET_NAMES = {"shapes": "shapes", "mnist-10k": "MNIST (mnist-10k)"}
NEEDED = ("epochs", "seconds", "images_per_second", "knn_accuracy", "knn_pixels", "knn_random_init",
          "few_label_linear", "few_label_pixels", "few_label_random_init")
FIVE_DRAWS = ("linear10", "linear10_pixels", "linear10_random_init")


def entry_row(name: str, folder=None) -> dict:
    """One shipped entry's recorded figures: {name, dataset, budget, built, machine, torch, <NEEDED>,
    and the 5-draw probe where the sidecar has it}. A file that cannot be read or lacks a figure
    raises SslvizError naming the file and the field."""
    from .storage import load_payload

    path = info_path(name, folder)
    try:
        info = json.loads(path.read_text())
        config = load_payload(weights_path(name, folder))["config"]
    except (OSError, ValueError, RuntimeError, KeyError) as exc:
        raise SslvizError(f"pretrained {name}: cannot read its files ({exc})") from None
    summary = info.get("summary") or {}
    missing = [k for k in NEEDED if not isinstance(summary.get(k), (int, float))]
    if missing:
        raise SslvizError(f"{path}: the summary has no {', '.join(missing)}")
    row = {"name": name, "dataset": config.get("dataset"), "budget": config.get("time_budget"),
           "built": info.get("built", ""), "machine": info.get("machine", ""), "torch": info.get("torch", "")}
    row.update({k: summary[k] for k in NEEDED})
    if all(isinstance(summary.get(k), (int, float)) for k in FIVE_DRAWS):
        row.update({k: summary[k] for k in FIVE_DRAWS})
    papers = summary.get("papers")  # the papers' protocol (pretrained papers): the run's block and its two lines'
    blocks = [papers, papers.get("pixels"), papers.get("random_init")] if isinstance(papers, dict) else []
    if blocks and all(isinstance(b, dict) and all(isinstance(b.get(k), (int, float)) for k in ("knn20", "linear"))
                      for b in blocks):
        row["papers"] = papers
    return row


def zoo_rows(folder=None) -> list[dict]:
    """Every shipped entry's row, in the catalogue's order."""
    return [entry_row(name, folder) for name in available(folder)]


def _trio(row: dict, key: str, pixels: str, untrained: str) -> str:
    """The figure (bold when it beats both lines by more than LEVEL), its two lines, and "≈" when it is
    level with the higher of them (within LEVEL either way)."""
    value, line = row[key], max(row[pixels], row[untrained])
    text = f"{value:.3f}"
    text = f"**{text}**" if value > line + LEVEL else text
    level = " ≈" if abs(value - line) <= LEVEL else ""
    return f"{text} ({row[pixels]:.3f} / {row[untrained]:.3f}){level}"


def papers_cell(row: dict) -> str:
    """The papers' protocol: kNN (k = 20) and the linear probe on all labels, then the two lines."""
    p = row.get("papers")
    if not p:
        return ""
    px, ut = p["pixels"], p["random_init"]
    return (f"kNN {p['knn20']:.3f}, linear {p['linear']:.3f} (raw pixels {px['knn20']:.3f} / {px['linear']:.3f}; "
            f"untrained {ut['knn20']:.3f} / {ut['linear']:.3f})")


def format_row(row: dict) -> str:
    """One Markdown table row; the entry's own figures in bold where they beat both lines beyond the noise."""
    five = (_trio(row, "linear10", "linear10_pixels", "linear10_random_init")
            if "linear10" in row else "")
    budget = f"{row['budget']:.0f} s" if isinstance(row["budget"], (int, float)) else "epochs"
    cells = [row["name"], _DATASET_NAMES.get(row["dataset"], str(row["dataset"])), budget,
             f"{row['seconds']:.1f}", str(int(row["epochs"])), f"{row['images_per_second']:.0f}",
             _trio(row, "knn_accuracy", "knn_pixels", "knn_random_init"),
             _trio(row, "few_label_linear", "few_label_pixels", "few_label_random_init"),
             five, papers_cell(row), row["built"], f"{row['machine']}, torch {row['torch']}".strip(", ")]
    return "| " + " | ".join(cells) + " |"


HEADER = ("| entry | data | budget | ran (s) | epochs | images/s | kNN, monitor's estimate (raw pixels / untrained) "
          "| 10 labels per class, monitor's 3 draws (raw pixels / untrained) "
          "| 10 labels per class, 5 draws (raw pixels / untrained) "
          "| papers' protocol: whole splits, kNN k = 20 / linear probe, all labels | built | machine |\n"
          "|---|---|---|---|---|---|---|---|---|---|---|---|")


def markdown(folder=None) -> str:
    """The whole table, header included."""
    return "\n".join([HEADER, *(format_row(r) for r in zoo_rows(folder))])


def budgets(folder=None) -> dict[float, list[str]]:
    """{budget in seconds: the entries trained for it}, from the shipped checkpoints' configs."""
    out: dict[float, list[str]] = {}
    for row in zoo_rows(folder):
        out.setdefault(row["budget"], []).append(row["name"])
    return dict(sorted(out.items(), key=lambda kv: -len(kv[1])))


def main(argv: list[str] | None = None) -> int:
    """`python -m sslviz.teaching.pretrained.table [--markdown|--json]`."""
    import argparse

    ap = argparse.ArgumentParser(prog="python -m sslviz.teaching.pretrained.table",
                                 description="the shipped zoo's recorded figures, from its sidecars")
    ap.add_argument("--markdown", action="store_true", help="BENCHMARKS.md's zoo table")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    try:
        rows = zoo_rows()
    except SslvizError as exc:
        print(f"error: {exc}")
        return 1
    if args.json:
        print(json.dumps(rows, indent=1))
    elif args.markdown:
        print("\n".join([HEADER, *(format_row(r) for r in rows)]))
    else:
        for row in rows:
            print(f"{row['name']:<26} {row['budget']:>6.0f} s  kNN {row['knn_accuracy']:.3f}  "
                  f"10/class {row['few_label_linear']:.3f}  built {row['built']}")
    not_shipped = [n for n in CATALOG if n not in {r["name"] for r in rows}]
    if not_shipped:
        print(f"not built: {', '.join(not_shipped)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
