"""A dataset is one registry entry: the recipes, notes, guards and docs read it, and a new kind is data.

tests/data/recipes_before_registry.json was written by the code before the registry (the recipes then
read a dataset's kind from a table of name strings): every registered dataset × method must resolve to
the same run today, since the shipped runs were trained with those values.
"""

import json
from pathlib import Path

import pytest

from sslviz.augment.pipelines import pipeline_for_kind
from sslviz.data import dataset_names, load_dataset
from sslviz.methods import method_names
from sslviz.training import recipes
from sslviz.training.config import RunConfig

BEFORE = json.loads((Path(__file__).parent / "data" / "recipes_before_registry.json").read_text())
LOCAL = ("digits", "mnist-10k", "shapes")  # the sets that load without downloads


def _kind(name):
    from sslviz.data.registry import kind_of

    return kind_of(name)


def test_every_dataset_and_method_gets_the_recipe_it_had():
    seen = 0
    for name in dataset_names():
        assert recipes.default_pipeline(name).to_dict() == BEFORE["default_pipeline"][name], name
        for m in method_names():
            r = recipes.recipe_for(m, _kind(name))
            r["pipeline_dict"] = pipeline_for_kind(r["pipeline"]).to_dict()
            r["claims"] = sorted(recipes.claims(m, _kind(name)))
            assert json.loads(json.dumps(r)) == BEFORE["recipe_for"][f"{name}/{m}"], (name, m)
            seen += 1
    assert seen == len(BEFORE["recipe_for"])


@pytest.mark.parametrize("name", LOCAL)
def test_resolved_runs_and_notes_are_unchanged(name):
    data = load_dataset(name)
    for m in method_names():
        c = recipes.resolve(RunConfig(method=m, dataset=name), data)
        got = {k: getattr(c, k) for k in ("image_size", "backbone", "pipeline", "lr", "batch_size", "method_params")}
        assert json.loads(json.dumps(got)) == BEFORE["resolve"][f"{name}/{m}"], (name, m)
        assert recipes.note(m, name) == BEFORE["note"][f"{name}/{m}"], (name, m)
