"""Every figure quoted about the shipped zoo is the one its files record (issue 25, point 4).

BENCHMARKS.md's zoo table is pasted from `python -m sslviz.teaching.pretrained.table --markdown`;
these tests read every shipped sidecar and checkpoint themselves (json and the payload's config,
not through table.py) and find each figure in that entry's row, so a rebuilt entry whose row was
not regenerated fails here. They also hold README's account of the budgets and the effective rank
that evaluation/collapse_gauge.py quotes for the shipped SimCLR runs to the shipped files.
"""

import json
import re
import shutil
from pathlib import Path

import pytest
import torch

from sslviz.core.errors import SslvizError
from sslviz.evaluation.fewshot_stats import LEVEL
from sslviz.teaching import pretrained
from sslviz.teaching.pretrained.storage import load_payload

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = pretrained.available()
TRIO = re.compile(r"^(\**)(\d\.\d{3})\** \((\d\.\d{3}) / (\d\.\d{3})\)( ≈)?$")


def _figures(cell: str, keys: tuple, s: dict) -> None:
    """The cell holds the summary's three figures, bold only where the first beats both lines by more
    than LEVEL, and ≈ exactly where it is level with the higher line."""
    from sslviz.evaluation.fewshot_stats import LEVEL

    m = TRIO.match(cell)
    assert m, cell
    assert m.groups()[1:4] == tuple(f"{s[k]:.3f}" for k in keys)
    value, line = s[keys[0]], max(s[keys[1]], s[keys[2]])
    assert bool(m.group(1)) == (value > line + LEVEL), cell
    assert bool(m.group(5)) == (abs(value - line) <= LEVEL), cell


def _recorded(name: str) -> tuple[dict, dict]:
    info = json.loads(pretrained.info_path(name).read_text())
    return info, load_payload(pretrained.weights_path(name))["config"]


def _benchmarks_row(name: str) -> list[str]:
    rows = [line for line in (ROOT / "BENCHMARKS.md").read_text().splitlines() if line.startswith(f"| {name} |")]
    assert len(rows) == 1, f"BENCHMARKS.md has {len(rows)} rows for the shipped entry {name} (want 1)"
    return [cell.strip() for cell in rows[0].strip().strip("|").split("|")]


def test_the_whole_zoo_ships():
    """The catalogue is read off the method classes (their `ships`): every entry it names has its files."""
    assert sorted(SHIPPED) == sorted(pretrained.CATALOG) and len(SHIPPED) >= 38


@pytest.mark.parametrize("name", SHIPPED)
def test_each_entry_figures_are_its_benchmarks_row(name):
    info, config = _recorded(name)
    s = info["summary"]
    cells = _benchmarks_row(name)
    assert cells[2] == f"{config['time_budget']:.0f} s"
    assert cells[3] == f"{s['seconds']:.1f}" and cells[4] == str(s["epochs"])
    assert cells[5] == f"{s['images_per_second']:.0f}"
    _figures(cells[6], ("knn_accuracy", "knn_pixels", "knn_random_init"), s)
    _figures(cells[7], ("few_label_linear", "few_label_pixels", "few_label_random_init"), s)
    if "linear10" in s:  # the entries that are rows of `bench methods`: its 5 draws too
        _figures(cells[8], ("linear10", "linear10_pixels", "linear10_random_init"), s)
    else:
        assert cells[8] == ""
    papers = s.get("papers")  # the papers' protocol (pretrained papers), with its two lines
    if papers:
        for block in (papers, papers["pixels"], papers["random_init"]):
            assert f"{block['knn20']:.3f} / {block['linear']:.3f}" in cells[9] or \
                f"kNN {block['knn20']:.3f}, linear {block['linear']:.3f}" in cells[9]
    else:
        assert cells[9] == ""
    assert cells[10] == info["built"] and info["machine"] in cells[11]


def test_a_sidecar_without_a_figure_is_named(tmp_path):
    from sslviz.teaching.pretrained.table import entry_row

    name = "gan-mnist"
    for path in (pretrained.weights_path(name), pretrained.info_path(name)):
        shutil.copy(path, tmp_path / path.name)
    info = json.loads((tmp_path / f"{name}.json").read_text())
    del info["summary"]["knn_random_init"]
    (tmp_path / f"{name}.json").write_text(json.dumps(info))
    with pytest.raises(SslvizError, match=r"gan-mnist\.json: the summary has no knn_random_init"):
        entry_row(name, tmp_path)
    (tmp_path / f"{name}.json").write_text("{not json")
    with pytest.raises(SslvizError, match=r"pretrained gan-mnist: cannot read its files"):
        entry_row(name, tmp_path)


def test_readme_states_every_budget_the_zoo_was_trained_for():
    readme = (ROOT / "README.md").read_text()
    paragraph = readme[readme.index("- **Pretrained runs (the zoo)**"):]
    paragraph = paragraph[: paragraph.index("\n- **", 3)]
    by_budget: dict[float, list[str]] = {}
    for name in SHIPPED:
        by_budget.setdefault(_recorded(name)[1]["time_budget"], []).append(name)
    assert set(by_budget) == {120.0, 180.0, 240.0, 300.0}
    for budget in by_budget:
        assert re.search(rf"\b{budget:.0f}[ -]s\b", paragraph), f"README's zoo paragraph does not state {budget:.0f} s"
    assert sorted(by_budget[120.0]) == ["gan-mnist", "relative-position-mnist"]
    assert by_budget[180.0] == ["rotation-mnist"] and by_budget[300.0] == ["simclr-shapes"]


def _gauge_of_shipped(name: str) -> dict:
    """The collapse gauge of a shipped entry on its monitor's held-out images (the trainer's draw)."""
    from sslviz.data import load_dataset
    from sslviz.evaluation.collapse_gauge import collapse_metrics
    from sslviz.evaluation.protocols import extract_features
    from sslviz.teaching.pretrained.install import load_shipped, load_shipped_state
    from sslviz.training.config import RunConfig
    from sslviz.training.train import build_method

    payload, _ = load_shipped(name)
    config = RunConfig.from_dict(payload["config"])
    data = load_dataset(config.dataset, image_size=config.image_size, data_root=config.data_root, seed=config.seed)
    method = build_method(config, data, torch.device("cpu"))
    load_shipped_state(method, payload["model"], config.method)
    g = torch.Generator().manual_seed(config.seed)
    torch.randperm(len(data.train), generator=g)  # the bank's draw comes first
    test = torch.randperm(len(data.test), generator=g)[: config.eval_test_max].sort().values
    method.eval()
    return collapse_metrics(extract_features(method.embed, data.test.images[test]))


def test_protocols_quotes_the_shipped_simclr_runs_effective_rank():
    from sslviz.evaluation.collapse_gauge import collapse_metrics

    for name in ("simclr-shapes", "simclr-mnist"):
        gauge = _gauge_of_shipped(name)
        quote = f"{name} {gauge['effective_rank']:.1f} ({gauge['directions_95']:.0f} directions)"
        assert quote in " ".join(collapse_metrics.__doc__.split()), f"collapse_gauge.collapse_metrics should quote {quote}"


def test_the_raw_pixels_card_counts_the_shipped_runs_that_beat_it():
    from sslviz.methods.pixels import Pixels
    from sslviz.training.recipes import BASELINES

    text = " ".join(Pixels.description.split())
    # in words, so a method that ships does not edit this card; "beat" is by more than LEVEL, "level" within it:
    # "most" over 2/3, "about a third" within 0.2-0.45, "about half" within 0.35-0.65
    for dataset, phrase, beat_range, level_range in (
            ("shapes", "on shapes most of the self-supervised entries beat it by more than 2 points", (2 / 3, 1.0), None),
            ("mnist-10k", "on MNIST at 28 px about a third of them do and about half are level with it", (0.2, 0.45),
             (0.35, 0.65))):
        beat = level = total = 0
        for name in SHIPPED:
            cfg = pretrained.CATALOG[name]
            if cfg["dataset"] != dataset or cfg["method"] in BASELINES or name in pretrained.COUNTER_EXAMPLES:
                continue
            s = _recorded(name)[0]["summary"]
            total += 1
            beat += s["knn_accuracy"] - s["knn_pixels"] > LEVEL
            level += abs(s["knn_accuracy"] - s["knn_pixels"]) <= LEVEL
        assert phrase in text and beat_range[0] < beat / total <= beat_range[1], (dataset, beat, total)
        assert level_range is None or level_range[0] < level / total <= level_range[1], (dataset, level, total)
