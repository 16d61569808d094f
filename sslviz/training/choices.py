"""From a user's choices to a `RunConfig`: the one place that holds the rules the Train page's form,
the CLI's `train` and Compare's "same budget" share, so the same choices make the same run wherever
they are made (tests/test_choices.py holds the three paths to one config).

The rules:
- epochs left out: with a time budget, the run trains until the budget ends (`UNLIMITED_EPOCHS`);
  without one, RunConfig's default (10 epochs). An epoch count given is kept, budget or not
  (training stops at whichever comes first);
- backbone left out (None): "auto", the recipe for the kind of data (sslviz/training/recipes.py);
  batch size, learning rate and image size left out stay None: the recipe's or the method's;
- every other choice is a RunConfig field under its own name (method, dataset, time_budget, seed,
  pipeline, method_params, owner, name, ...); an unknown one is one ConfigError line naming it.
"""

from __future__ import annotations

from .config import RunConfig

UNLIMITED_EPOCHS = 10_000  # "train until the time budget ends": more epochs than any budget here reaches


def config_from_choices(choices: dict | None = None, /, **more) -> RunConfig:
    """The validated RunConfig for a user's choices (a dict, keywords, or both; keywords win)."""
    given = {**(choices or {}), **more}
    epochs = given.pop("epochs", None)
    if epochs is None:
        epochs = UNLIMITED_EPOCHS if given.get("time_budget") else RunConfig.epochs
    backbone = given.pop("backbone", None) or "auto"
    return RunConfig.from_dict({**given, "epochs": epochs, "backbone": backbone})
