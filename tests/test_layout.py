"""The house's shape: folders by concern, imports running one way between them, modules a
newcomer can read.

FLOORS lists sslviz's folders from the foundations up. A module may import from its own folder and
from folders below it, never from one above (lazy imports inside functions count too), so each
page's code path stays inside folders whose names say what they hold (docs/DESIGN.md).
"""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "sslviz"
FLOORS = ["core", "data", "augment", "evaluation", "methods", "training", "embeddings", "experiments",
          "teaching", "plots", "server", "ui", "cli"]
TOP_LEVEL = {"__init__.py", "__main__.py"}  # the only modules directly in sslviz/
MAX_LINES = 420  # "no module over ~400 lines"


def _modules():
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def _folder(path: Path) -> str:
    return path.relative_to(PACKAGE).parts[0]


def _imported_folders(path: Path, source: str | None = None) -> set[tuple[str, int]]:
    """(sslviz folder, line) for every import of sslviz in the module, relative ones resolved."""
    rel = path.relative_to(PACKAGE).with_suffix("").parts
    package = list(rel[:-1])
    out = set()
    for node in ast.walk(ast.parse(path.read_text() if source is None else source)):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                parts = base + (node.module.split(".") if node.module else [])
                names = parts if parts else [a.name for a in node.names]
            elif node.module and node.module.split(".")[0] == "sslviz":
                parts = node.module.split(".")[1:]
                names = parts if parts else [a.name for a in node.names]
            else:
                continue
            if parts:
                out.add((parts[0], node.lineno))
            else:
                out.update((n, node.lineno) for n in names)
        elif isinstance(node, ast.Import):
            for a in node.names:
                parts = a.name.split(".")
                if parts[0] == "sslviz" and len(parts) > 1:
                    out.add((parts[1], node.lineno))
    return out


def test_every_folder_is_on_a_floor_and_nothing_else_sits_at_the_top():
    folders = {p.name for p in PACKAGE.iterdir() if p.is_dir() and p.name != "__pycache__"}
    assert folders == set(FLOORS)
    assert {p.name for p in PACKAGE.glob("*.py")} == TOP_LEVEL
    for folder in FLOORS:
        init = PACKAGE / folder / "__init__.py"
        assert init.exists() and ast.get_docstring(ast.parse(init.read_text())), f"{folder}/ says what it holds"


def test_imports_run_one_way_between_folders():
    rank = {f: i for i, f in enumerate(FLOORS)}
    upward = []
    for path in _modules():
        if path.name in TOP_LEVEL and path.parent == PACKAGE:
            continue
        mine = _folder(path)
        for folder, line in _imported_folders(path):
            assert folder in rank, f"{path.relative_to(ROOT)}:{line} imports sslviz.{folder}, which is no folder"
            if rank[folder] > rank[mine]:
                upward.append(f"{path.relative_to(ROOT)}:{line} ({mine}) imports {folder}")
    assert not upward, "imports that run upwards:\n" + "\n".join(upward)


def test_the_layering_check_sees_an_upward_import():
    """The check above can fail: a module of core/ importing training/ and ui/, lazily, is caught."""
    source = "def f():\n    from sslviz.training.runs import RunStore\n    from ..ui import common\n    from . import paths\n"
    found = _imported_folders(PACKAGE / "core" / "probe.py", source)
    assert {f for f, _ in found} == {"training", "ui", "core"}


def test_no_module_is_too_long_to_read():
    files = _modules() + sorted((ROOT / "tests").glob("*.py")) + sorted((ROOT / "pages").glob("*.py"))
    long = [f"{p.relative_to(ROOT)}: {n} lines" for p in files if (n := len(p.read_text().splitlines())) > MAX_LINES]
    assert not long, long
