"""A method is one file: what the rest of the app knows of a method is declared on its class and
derived from the registry (sslviz/methods/__init__.py).

The class declares its card, its family, whether it is a joint-embedding (or clustering) method, its
test budget and the datasets its zoo entries are built on. The explainer cards,
the recipes' family lists and claims, the method tests' budgets, Compare's list and the zoo's lists
are read off the registry, so a method file dropped into sslviz/methods/ appears in all of them with
nothing else edited (the first test does exactly that, with a file in a temporary folder added to
the package's path). The second test holds the derived tables to the ones that were written by hand
before (tests/method_tables_before.json, dumped from them on 2026-12-07; build.NOT_SHIPPED copied from
its last hand-written version): the shipped runs and the recipes depend on those values.
"""

import dataclasses
import json
from pathlib import Path

import pytest


BEFORE = json.loads((Path(__file__).parent / "method_tables_before.json").read_text())

def test_the_derived_tables_are_the_ones_written_by_hand_before():
    import method_support

    from sslviz.teaching import cards, pretrained
    from sslviz.training import recipes

    for name, before in BEFORE["cards"].items():
        assert dataclasses.asdict(cards.card(name)) == before, name
    assert set(recipes.BASELINES) == set(BEFORE["baselines"])
    before_joint = set(BEFORE["joint_and_clustering"])
    assert set(recipes.JOINT_AND_CLUSTERING) & set(BEFORE["cards"]) == before_joint
    budgets = method_support.method_test_budgets()
    assert {n: list(budgets[n]) for n in BEFORE["test_budgets"]} == BEFORE["test_budgets"]
    from sslviz.teaching.pretrained.build import NOT_SHIPPED

    assert {n: list(v) for n, v in NOT_SHIPPED.items() if n in BEFORE["cards"]} == BEFORE["not_shipped"]
    assert set(pretrained.ZOO_METHODS) & set(BEFORE["cards"]) == set(BEFORE["zoo_shapes"])
    assert set(pretrained.MNIST_ZOO_METHODS) & set(BEFORE["cards"]) == set(BEFORE["zoo_mnist"])
