"""`python -m sslviz doctor`: is this installation ready? Versions, device, write access, the
browser the tests need, numba's cache, and the run store's integrity. Exit 1 if a must-have fails."""

from __future__ import annotations

import json
import os
import platform
import shutil
import sys
import tempfile
from pathlib import Path

REQUIREMENTS = Path(__file__).resolve().parents[2] / "requirements.txt"
OPTIONAL = ("playwright", "pytest")  # for the tests only


def requirements(path: Path = REQUIREMENTS) -> list:
    """The requirements.txt lines as packaging Requirements (comments dropped)."""
    from packaging.requirements import Requirement

    lines = [line.split("#", 1)[0].strip() for line in path.read_text().splitlines()]
    return [Requirement(line) for line in lines if line]


def version_checks(path: Path = REQUIREMENTS) -> list[dict]:
    """Each listed package: the version in force, and whether it lies in the range CI has tested."""
    from importlib.metadata import PackageNotFoundError, version

    out = []
    for req in requirements(path):
        try:
            have = version(req.name)
        except PackageNotFoundError:
            out.append({"check": req.name, "ok": False, "detail": f"not installed (wants {req.specifier})",
                        "required": req.name not in OPTIONAL})
            continue
        inside = req.specifier.contains(have, prereleases=True)
        out.append({"check": req.name, "ok": inside, "required": req.name not in OPTIONAL,
                    "detail": have if inside else f"{have}: outside the tested range {req.specifier}"})
    return out


def checks(runs_dir: str | None = None) -> list[dict]:
    out = [{"check": "python", "ok": sys.version_info >= (3, 11), "detail": platform.python_version(), "required": True}]
    try:
        out += version_checks()
    except (OSError, ValueError) as exc:
        out.append({"check": "requirements", "ok": False, "required": False, "detail": f"{REQUIREMENTS}: {exc}"})
    try:
        from sslviz.methods.models import pick_device

        out.append({"check": "device", "ok": True, "detail": f"{pick_device('auto')} ({os.cpu_count()} CPU cores)",
                    "required": True})
    except Exception as exc:  # noqa: BLE001
        out.append({"check": "device", "ok": False, "detail": str(exc), "required": True})
    try:
        from sslviz.training.runs import RunStore

        store = RunStore(runs_dir)
        with tempfile.NamedTemporaryFile(dir=store.root):
            pass
        ok = store.integrity_ok()
        out.append({"check": "run store", "ok": ok, "required": True,
                    "detail": f"{store.root} writable, integrity {'ok' if ok else 'FAILED'}, {len(store.list(kind=None))} jobs"})
    except Exception as exc:  # noqa: BLE001
        out.append({"check": "run store", "ok": False, "detail": str(exc), "required": True})
    try:
        from sslviz.core.logs import LOG_DIR, log_files
        from sslviz.core.paths import home

        folder = home(runs_dir) / LOG_DIR
        files = log_files(home(runs_dir))
        size = sum(f.stat().st_size for f in files)
        out.append({"check": "log files", "ok": True, "required": False,
                    "detail": f"{folder}: {len(files)} files, {size:,} bytes (one per process: server, workers, CLI)"
                    if files else f"{folder} (created by the first run or app start)"})
    except OSError as exc:
        out.append({"check": "log files", "ok": False, "required": False, "detail": str(exc)})
    try:
        from sslviz.core.settings import load_settings

        cfg = load_settings()
        out.append({"check": "settings", "ok": True, "required": True,
                    "detail": f"max_running {cfg.max_running}, max_queued {cfg.max_queued}, max_per_owner "
                              f"{cfg.max_per_owner}, teacher password {'set' if cfg.teacher_password else 'not set'}"})
    except Exception as exc:  # noqa: BLE001 - a bad sslviz.toml is reported, in its own words
        out.append({"check": "settings", "ok": False, "detail": str(exc), "required": True})
    numba_dir = os.environ.get("NUMBA_CACHE_DIR")
    out.append({"check": "numba cache", "ok": True, "required": False,
                "detail": numba_dir or "NUMBA_CACHE_DIR not set: the app sets it under the run store"})
    chromium = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
    out.append({"check": "chromium (browser tests)", "ok": bool(chromium), "required": False,
                "detail": chromium or "not found: apt-get install -y chromium"})
    return out


def main(args) -> int:
    results = checks(getattr(args, "runs_dir", None))
    if getattr(args, "json", False):
        print(json.dumps(results))
    else:
        for r in results:
            mark = "ok  " if r["ok"] else ("FAIL" if r["required"] else "warn")
            print(f"[{mark}] {r['check']:<26} {r['detail']}")
    return 0 if all(r["ok"] for r in results if r["required"]) else 1
