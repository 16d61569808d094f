"""One way from a user's choices to a RunConfig: the Train page's form, the CLI's `train` and Compare's
"same budget" build the same config for the same choices (sslviz/training/choices.py holds the rules,
such as "unlimited epochs when a time budget is set"). The recorded configs were read off each path
before the three were made to call the one function."""

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from sslviz.core.errors import ConfigError
from sslviz.training.config import RunConfig

ROOT = Path(__file__).resolve().parent.parent
DEFAULTS = RunConfig().to_dict()


def cli_config(*argv):
    from sslviz.cli.main import _parser, config_from_args

    return config_from_args(_parser().parse_args(["train", *argv])).to_dict()


def train_page_config(monkeypatch, *, dataset="digits", seconds=None, epochs=None, batch=0, lr=0.0, seed=0):
    """What the Train page's form submits for these choices (the worker's submit is caught, nothing runs)."""
    from sslviz.training import worker

    caught = []
    monkeypatch.setenv("SSLVIZ_NO_LIVE", "1")
    monkeypatch.setattr(worker, "submit", lambda cfg, store, start=True: caught.append(cfg) or "caught-run")
    at = AppTest.from_file(str(ROOT / "pages/3_Train.py"), default_timeout=60).run()
    sb = at.sidebar
    sb.selectbox[0].select(dataset)
    if seconds is not None:
        sb.radio[0].set_value("seconds")
        sb.number_input[1].set_value(seconds)
    if epochs is not None:
        sb.number_input[0].set_value(epochs)
    sb.number_input[2].set_value(batch)
    sb.number_input[3].set_value(lr)
    sb.number_input[4].set_value(seed)
    sb.button[0].click().run()
    assert not at.exception and len(caught) == 1, [e.value for e in at.sidebar.error]
    return {**caught[0].to_dict(), "owner": ""}


def same_budget_config(store, reference: dict, seconds, seed=None, extra=()):
    from sslviz.experiments import compare

    run_id = store.create(reference)
    return [c.to_dict() for c in compare.same_budget_configs(store, [run_id], seconds, seed, "", list(extra))]


# ---- what each path built before the refactor (kept exactly) -------------------------------------------

def test_the_cli_builds_what_it_built_before():
    assert cli_config("--dataset", "digits") == {**DEFAULTS, "dataset": "digits"}
    assert cli_config("--time-budget", "30", "--batch-size", "64", "--lr", "0.01", "--seed", "3") == {
        **DEFAULTS, "epochs": 10_000, "time_budget": 30.0, "batch_size": 64, "lr": 0.01, "seed": 3}
    assert cli_config("--time-budget", "30", "--epochs", "5") == {**DEFAULTS, "epochs": 5, "time_budget": 30.0}
    assert cli_config("--backbone", "small-cnn", "--param", "temperature=0.2", "--name", "t") == {
        **DEFAULTS, "backbone": "small-cnn", "method_params": {"temperature": 0.2}, "name": "t"}


def test_the_train_page_builds_what_it_built_before(monkeypatch, store):
    assert train_page_config(monkeypatch, epochs=3) == {**DEFAULTS, "dataset": "digits", "epochs": 3}
    assert train_page_config(monkeypatch, seconds=30, batch=64, lr=0.01, seed=3) == {
        **DEFAULTS, "dataset": "digits", "epochs": 10_000, "time_budget": 30.0, "batch_size": 64, "lr": 0.01,
        "seed": 3}


def test_same_budget_builds_what_it_built_before(store):
    ref = {**DEFAULTS, "dataset": "digits", "epochs": 4, "image_size": 16, "batch_size": 128, "lr": 0.05,
           "method_params": {"temperature": 0.2}, "final_scores": False}
    got = same_budget_config(store, ref, 30, seed=7, extra=["rotation"])
    assert got == [
        {**ref, "epochs": 10_000, "time_budget": 30.0, "seed": 7, "name": "same budget 30 s: simclr"},
        {**DEFAULTS, "method": "rotation", "dataset": "digits", "epochs": 10_000, "time_budget": 30.0,
         "image_size": 16, "batch_size": 128, "seed": 7, "name": "same budget 30 s: rotation"},
    ]


# ---- the three paths agree ----------------------------------------------------------------------------

def test_the_three_paths_build_the_same_config_for_the_same_choices(monkeypatch, store):
    """digits, 30 s, batch 64, lr 0.01, seed 3: the page's form, the CLI, and Compare's same budget on a run
    made with those choices (its name aside) are one config."""
    page = train_page_config(monkeypatch, seconds=30, batch=64, lr=0.01, seed=3)
    cli = cli_config("--dataset", "digits", "--time-budget", "30", "--batch-size", "64", "--lr", "0.01",
                     "--seed", "3")
    (same,) = same_budget_config(store, {**cli, "epochs": 2, "time_budget": None}, 30, seed=3)
    assert page == cli == {**same, "name": ""}


def test_the_rules_of_config_from_choices():
    from sslviz.training.choices import UNLIMITED_EPOCHS, config_from_choices

    assert config_from_choices(time_budget=60.0).epochs == UNLIMITED_EPOCHS  # the budget decides
    assert config_from_choices(time_budget=60.0, epochs=4).epochs == 4  # whichever comes first
    assert config_from_choices().epochs == 10 and config_from_choices().backbone == "auto"
    assert config_from_choices({"seed": 1}, seed=2).seed == 2  # keywords win over the dict
    with pytest.raises(ConfigError, match="^config: unknown field 'colour'$"):
        config_from_choices(colour="red")
    with pytest.raises(ConfigError, match="^time_budget: must be a positive number"):
        config_from_choices(time_budget=-1.0)
