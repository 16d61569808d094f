"""Dependencies that install the same everywhere: every package the code imports is listed in
requirements.txt with a tested range, the environment the tests run in lies inside those ranges,
and the doctor says when one does not."""

import ast
import sys
from importlib.metadata import packages_distributions
from pathlib import Path

from sslviz.server import doctor

ROOT = Path(__file__).resolve().parent.parent
LOCAL = ({"sslviz"} | {p.stem for p in Path(__file__).parent.glob("*.py")}  # the tests' own modules
         | {p.stem for p in (Path(__file__).parent.parent / "bench").glob("*.py")})  # and the bench scripts


def _imported_top_level_modules() -> set[str]:
    files = [*(ROOT / "sslviz").rglob("*.py"), *(ROOT / "tests").glob("*.py"), *(ROOT / "bench").glob("*.py"),
             *(ROOT / "pages").glob("*.py"), ROOT / "app.py"]
    names = set()
    for path in files:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names.update(a.name.split(".")[0] for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return {n for n in names if n not in sys.stdlib_module_names and n not in LOCAL}


def test_every_imported_package_is_listed_with_an_upper_bound():
    listed = {r.name.lower(): r for r in doctor.requirements()}
    dists = packages_distributions()
    missing = {}
    for module in sorted(_imported_top_level_modules()):
        names = {d.lower() for d in dists.get(module, [module])}
        if not names & set(listed):
            missing[module] = sorted(names)
    assert not missing, f"imported but not in requirements.txt: {missing}"
    unbounded = [r.name for r in listed.values() if not any(s.operator in ("<", "<=", "~=", "==") for s in r.specifier)]
    assert not unbounded, f"no tested upper bound: {unbounded}"
    assert {"threadpoolctl", "protobuf", "streamlit"} <= set(listed)


def test_the_environment_lies_inside_the_tested_ranges():
    outside = [c for c in doctor.version_checks() if not c["ok"]]
    assert not outside, outside


def test_the_doctor_flags_a_version_outside_the_tested_range(tmp_path):
    reqs = tmp_path / "requirements.txt"
    reqs.write_text("numpy<1.0  # far too old on purpose\n# a comment line\nnot-a-real-package-sslviz>=1\n")
    numpy, ghost = doctor.version_checks(reqs)
    assert not numpy["ok"] and "outside the tested range <1.0" in numpy["detail"]
    assert not ghost["ok"] and ghost["detail"].startswith("not installed")


def test_python_version_is_declared():
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["requires-python"] == ">=3.11"
