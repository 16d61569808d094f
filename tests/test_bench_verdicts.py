"""'Beats' means beyond the noise (issue 25, point 3): the methods benchmark's verdicts and its
seed-spread table (bench/bench_methods.py) say 'beats' or 'loses to' only beyond LEVEL, and the
margin over the higher baseline is what the spread across seeds is measured on."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))

import bench_methods  # noqa: E402

from sslviz.evaluation.fewshot_stats import LEVEL  # noqa: E402


@pytest.mark.parametrize("value, other, said", [
    (0.50, 0.50 - LEVEL - 0.001, "beats pixels"),
    (0.50, 0.50 - LEVEL + 0.001, "level with pixels"),
    (0.50, 0.50, "level with pixels"),
    (0.50, 0.50 + LEVEL - 0.001, "level with pixels"),
    (0.50, 0.50 + LEVEL + 0.001, "**loses to pixels**"),
    (None, 0.5, "pixels: n/a"),
])
def test_a_verdict_says_beats_only_beyond_the_level(value, other, said):
    assert bench_methods._against(value, other, "pixels") == said


def test_the_margin_is_over_the_higher_baseline():
    row = {"linear10": 0.21, "linear10_pixels": 0.146, "linear10_random_init": 0.200}
    assert bench_methods.margin(row) == pytest.approx(0.010)
    assert bench_methods.margin({**row, "linear10_random_init": None}) is None


def test_the_seed_spread_table_gives_each_seed_and_the_mean_and_std_of_the_margin():
    rows = [{"dataset": "shapes", "budget_s": 120.0, "method": "gan", "seed": s, "linear10": v,
             "linear10_pixels": 0.15, "linear10_random_init": u}
            for s, v, u in [(0, 0.21, 0.20), (1, 0.23, 0.19), (2, 0.19, 0.20)]]
    rows.append({"dataset": "shapes", "budget_s": 120.0, "method": "cpc", "seed": 0, "linear10": 0.3,
                 "linear10_pixels": 0.15, "linear10_random_init": 0.2})
    table = bench_methods.seed_spread(rows).splitlines()
    gan = next(line for line in table if "| gan |" in line)
    # margins +0.010, +0.040, -0.010: mean +0.013, sample std 0.025
    assert "+0.010, +0.040, -0.010" in gan and gan.endswith("| +0.013 ± 0.025 |")
    cpc = next(line for line in table if "| cpc |" in line)
    assert cpc.endswith("| n/a |")  # one seed has no spread
