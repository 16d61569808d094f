"""Explainer cards: one short card per method, to read aloud in class.

A card answers four questions: what is predicted from what, the loss as a formula (LaTeX, for
st.latex), the invariance it buys, and what collapse (or failure) looks like. It is shown next to
the project's own loss function (``inspect.getsource`` of the pure function in the method's
module), so the formula on the slide and the code that trains are side by side.

Each method's file declares its card (``card = MethodCard(...)`` on the class, sslviz/methods/base.py),
so a method is one file; this module turns it into a Card with the class's family and paper. The
card is written by hand rather than generated from the class's longer ``description`` paragraph,
which explains design choices; a card is four sentences a teacher can say. A method without one
gets a fallback built from its class attributes (``written=False``; the tests list every method
that has none).
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass


@dataclass(frozen=True)
class Card:
    method: str
    title: str
    family: str
    paper: str
    predicts: str  # what is predicted from what
    formula: str  # LaTeX, no surrounding $
    invariance: str  # what the representation learns to ignore (or keep)
    collapse: str  # what failure looks like, and what prevents it
    loss_function: str  # name of the pure function in sslviz/methods/<module>.py ("" for baselines)
    written: bool = True  # False for a fallback card


def _method_class(name: str):
    from sslviz.methods import get_method

    return get_method(name)


def card(name: str) -> Card:
    """The card of a method (a fallback from its class attributes when none is written)."""
    cls = _method_class(name)
    if cls.card is not None:
        c = cls.card
        return Card(name, c.title, cls.family, cls.paper, c.predicts, c.formula, c.invariance, c.collapse,
                    c.loss_function)
    module = inspect.getmodule(cls)
    losses = [n for n, f in inspect.getmembers(module, inspect.isfunction)
              if n.endswith("_loss") and f.__module__ == module.__name__]
    return Card(name, name, cls.family, cls.paper, f"Predicts {cls.target}.", "", cls.description, "",
                losses[0] if losses else "", written=False)


def cards() -> list[Card]:
    """Cards of every registered method, in registry order."""
    from sslviz.methods import method_names

    return [card(n) for n in method_names()]


def loss_source(name: str) -> str:
    """The source of the method's pure loss function; for the baselines, the code that embeds."""
    c = card(name)
    cls = _method_class(name)
    module = inspect.getmodule(cls)
    if c.loss_function and hasattr(module, c.loss_function):
        return inspect.getsource(getattr(module, c.loss_function))
    embed = cls.__dict__.get("embed")
    if embed is not None:
        return inspect.getsource(embed)
    from sslviz.methods.models import SmallCNN

    return inspect.getsource(SmallCNN.forward) if name == "random-init" else inspect.getsource(cls)


def source_file(name: str) -> str:
    """The method's file, relative to the repository (for the 'from' line under the code)."""
    from pathlib import Path

    path = Path(inspect.getfile(_method_class(name)))
    return "/".join(path.parts[-3:])
