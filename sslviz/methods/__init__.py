"""Method registry: every module in this folder that defines `METHOD = SomeClass` is a method.

Adding a method is adding one file. Modules are imported only when the registry is first asked.
The class declares what the rest of the app needs (base.py: its card, family, whether it is a
joint-embedding method, its test budget, the datasets it ships on), and the app's tables of methods
are derived from `method_classes()` rather than written as lists of names.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import lru_cache

_NOT_METHODS = {"base"}


@lru_cache(maxsize=1)
def _registry() -> dict[str, type]:
    found = {}
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("_") or info.name in _NOT_METHODS:
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        cls = getattr(module, "METHOD", None)
        if cls is not None:
            found[cls.name] = cls
    return dict(sorted(found.items()))


def method_names() -> list[str]:
    return list(_registry())


def method_classes() -> dict[str, type]:
    """Every registered method's class by name, in name order."""
    return dict(_registry())


def get_method(name: str) -> type:
    from sslviz.core.errors import ConfigError

    try:
        return _registry()[name]
    except KeyError:
        raise ConfigError(f"method: unknown '{name}'; choose one of {', '.join(method_names())}") from None


def method_title(name: str) -> str:
    """The method's name as people write it ("SimCLR", "Barlow Twins"); unknown names as given."""
    cls = _registry().get(name)
    return (cls.title or cls.name) if cls is not None else name


def list_methods() -> list[dict]:
    """One dict per method: name, family, paper, target, description, defaults, needs_labels."""
    return [
        {
            "name": cls.name,
            "title": cls.title or cls.name,
            "family": cls.family,
            "paper": cls.paper,
            "target": cls.target,
            "description": cls.description,
            "defaults": dict(cls.defaults),
            "default_lr": cls.default_lr,
            "needs_labels": cls.needs_labels,
        }
        for cls in _registry().values()
    ]
