"""`python -m sslviz doctor`: is this installation ready? Versions, device, write access, the
browser the tests need, numba's cache, and the run store's integrity. Exit 1 if a must-have fails."""

from __future__ import annotations

import importlib
import json
import os
import platform
import shutil
import sys
import tempfile
from pathlib import Path

REQUIRED = ("torch", "torchvision", "streamlit", "sklearn", "umap", "plotly", "numpy", "PIL")
OPTIONAL = ("playwright", "pytest")


def checks(runs_dir: str | None = None) -> list[dict]:
    out = [{"check": "python", "ok": sys.version_info >= (3, 11), "detail": platform.python_version(), "required": True}]
    for name in REQUIRED + OPTIONAL:
        try:
            mod = importlib.import_module(name)
            out.append({"check": name, "ok": True, "detail": getattr(mod, "__version__", "installed"),
                        "required": name in REQUIRED})
        except Exception as exc:  # noqa: BLE001 - any import failure is what we report
            out.append({"check": name, "ok": False, "detail": f"cannot import: {exc}", "required": name in REQUIRED})
    try:
        from .models import pick_device

        out.append({"check": "device", "ok": True, "detail": f"{pick_device('auto')} ({os.cpu_count()} CPU cores)",
                    "required": True})
    except Exception as exc:  # noqa: BLE001
        out.append({"check": "device", "ok": False, "detail": str(exc), "required": True})
    try:
        from .runs import RunStore

        store = RunStore(runs_dir)
        with tempfile.NamedTemporaryFile(dir=store.root):
            pass
        ok = store.integrity_ok()
        out.append({"check": "run store", "ok": ok, "required": True,
                    "detail": f"{store.root} writable, integrity {'ok' if ok else 'FAILED'}, {len(store.list(kind=None))} jobs"})
    except Exception as exc:  # noqa: BLE001
        out.append({"check": "run store", "ok": False, "detail": str(exc), "required": True})
    try:
        from .logs import LOG_FILE
        from .paths import home

        log_path = home(runs_dir) / LOG_FILE
        out.append({"check": "log file", "ok": True, "required": False,
                    "detail": f"{log_path} ({log_path.stat().st_size:,} bytes)" if log_path.exists()
                    else f"{log_path} (created by the first run or app start)"})
    except OSError as exc:
        out.append({"check": "log file", "ok": False, "required": False, "detail": str(exc)})
    try:
        from .settings import load_settings

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
