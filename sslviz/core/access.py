"""Who may open what: the data-roots allow-list for `folder:` datasets, and the teacher password.

The allow-list. A `folder:PATH` dataset is read only when PATH, with every symbolic link and `..`
resolved, lies inside one of the allowed roots:

    <run store>/uploads      where uploaded zips are extracted (always allowed)
    each entry of data_roots  the setting (sslviz.toml [sslviz] data_roots = [...], or
                              SSLVIZ_DATA_ROOTS=/a:/b); `~` is expanded, relative entries are
                              taken from the working directory
    ./data                    the `data/` folder of the working directory the app (or the CLI)
                              was started in: the obvious place to drop a folder on a laptop

Anything else is refused with one line that names the path and says how to allow it. The check
is made where a path from a user enters: the Train page (before a run is queued), every job the
worker executes (so a config that reached the store by any route is checked again, in the
process that would open the folder) and the CLI's `train`. The folder loader itself
(sslviz.data.load_dataset) is a library function and does not check: Python code can open any
file anyway. A page that takes a folder path from its user must call `check_dataset` first.

The path is resolved before it is compared, so `data/../../etc` and a symbolic link that points
out of an allowed root are refused; the refusal does not say whether the path exists. Symbolic
links *inside* an allowed folder that point elsewhere are followed by the loader: only the operator
can create them (uploads never contain links, see sslviz/server/uploads.py).

`data_root` (where torchvision keeps MNIST, CIFAR-10, ...) is an operator setting of the CLI: no
page lets a user type it, and it is not checked here.

The teacher password. When one is set (settings `teacher_password`, the environment variable
SSLVIZ_TEACHER_PASSWORD, or Streamlit's secrets `teacher_password`, read by the UI), deleting a
run needs it; it is compared in constant time.
"""

from __future__ import annotations

import hmac
import os
from pathlib import Path

from .errors import SslvizError

FOLDER_PREFIX = "folder:"


class AccessError(SslvizError):
    """A path outside the allowed data roots, or a wrong or missing teacher password."""


def allowed_roots(store_root: str | os.PathLike | None = None, settings=None) -> list[Path]:
    """The folders `folder:` datasets may be read from (resolved), in the order they are listed."""
    from .paths import home
    from .settings import load_settings

    settings = settings or load_settings()
    roots = [home(store_root) / "uploads"]
    roots += [Path(r).expanduser() for r in settings.data_roots]
    roots.append(Path("data"))
    out: list[Path] = []
    for root in roots:
        resolved = Path(os.path.realpath(root.absolute()))
        if resolved not in out:
            out.append(resolved)
    return out


def is_allowed(path: str | os.PathLike, roots: list[Path]) -> bool:
    """Is `path` (resolved: links and `..` followed) inside one of `roots`?"""
    real = Path(os.path.realpath(Path(path).expanduser().absolute()))
    return any(real == root or real.is_relative_to(root) for root in roots)


def check_folder(path: str | os.PathLike, store_root: str | os.PathLike | None = None, settings=None) -> Path:
    """Return the resolved folder when it is inside the allowed roots; else raise AccessError."""
    text = str(path).strip()
    if not text:
        raise AccessError("folder: no path given (use folder:/path/to/images)")
    roots = allowed_roots(store_root, settings)
    if not is_allowed(text, roots):
        shown = ", ".join(_short(r) for r in roots)
        raise AccessError(f"folder:{text}: outside the allowed data folders ({shown}); "
                          "move it into one of them or add its parent to data_roots in sslviz.toml")
    return Path(os.path.realpath(Path(text).expanduser().absolute()))


def check_dataset(name: str, store_root: str | os.PathLike | None = None, settings=None) -> None:
    """Refuse a `folder:` dataset outside the allowed roots; other dataset names pass untouched."""
    if isinstance(name, str) and name.strip().lower().startswith(FOLDER_PREFIX):
        check_folder(name.strip()[len(FOLDER_PREFIX):], store_root, settings)


def check_job_config(config: dict, store_root: str | os.PathLike | None = None) -> None:
    """The checks the worker makes before it executes a job's config (a run or an experiment)."""
    check_dataset(config.get("dataset") or "", store_root)


def _short(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd().resolve())) or "."
    except ValueError:
        return str(path)


# ---------------------------------------------------------------------------------------------
# The teacher password


def teacher_password(settings=None) -> str:
    """The password set for this server in the settings (or $SSLVIZ_TEACHER_PASSWORD), or ""."""
    from .settings import load_settings

    return (settings or load_settings()).teacher_password


def check_password(given: str | None, expected: str, action: str = "deleting a run") -> None:
    """Pass when no password is set or `given` matches (constant-time); else raise AccessError."""
    if not expected:
        return
    if not given:
        raise AccessError(f"teacher password: {action} needs the teacher password")
    if not hmac.compare_digest(str(given).encode("utf-8"), str(expected).encode("utf-8")):
        raise AccessError(f"teacher password: wrong password; {action} was refused")


def delete_run(store, run_id: str, given: str | None = None, expected: str | None = None) -> None:
    """Delete a finished run (its row, metrics and folder) after checking the teacher password.

    expected=None reads the password from the settings; the UI passes the one it found (which may
    come from Streamlit's secrets)."""
    check_password(given, teacher_password() if expected is None else expected, f"deleting run '{run_id}'")
    store.delete(run_id)
