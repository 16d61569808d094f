"""Server settings for a shared (classroom) installation, with safe defaults for one laptop.

Read from `sslviz.toml` in the working directory (or the file named by $SSLVIZ_CONFIG), section
[sslviz]; each value can be overridden by an environment variable SSLVIZ_<NAME in capitals>.

    [sslviz]
    max_running = 1          # training runs at once (1 on a 2-core machine)
    max_analysis = 1         # evaluation / projection jobs at once (a separate lane)
    max_queued = 50          # queued jobs per server; a submit beyond this is refused
    max_per_owner = 2        # queued + running jobs one browser session may have
    torch_threads = 0        # threads per background trainer; 0 = all cores but one, which the app's server keeps
    data_roots = []          # extra folders `folder:` datasets may read from (<store>/uploads and ./data always; sslviz/core/access.py)
    max_upload_mb = 200      # size limit of an uploaded zip
    max_upload_files = 100000
    max_extract_mb = 1000    # what one uploaded zip may expand to (zip-bomb guard; see sslviz/server/uploads.py)
    teacher_password = ""    # when set, deleting runs asks for it (also from st.secrets)
    launch_workers = 1       # 0: this server only queues; `python -m sslviz worker-loop` elsewhere trains
    journal = "wal"          # "delete" for a run store on a network filesystem (WAL needs shared memory)
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path

from .errors import ConfigError


@dataclass(frozen=True)
class Settings:
    max_running: int = 1
    max_analysis: int = 1
    max_queued: int = 50
    max_per_owner: int = 2
    torch_threads: int = 0
    data_roots: tuple[str, ...] = field(default_factory=tuple)
    max_upload_mb: int = 200
    max_upload_files: int = 100_000
    max_extract_mb: int = 1000
    teacher_password: str = ""
    launch_workers: int = 1
    journal: str = "wal"

    def threads(self) -> int:
        """Torch threads for a background trainer: the setting, else all cores but one.

        The one is for the app's server. A trainer on every core, even niced, starved it: under the
        classroom load test (2 cores) each of the trainer's parallel regions waited for its thread on
        the server's core, so training fell to 93 images/s and page p95 rose. The foreground
        `python -m sslviz train` keeps torch's default (all cores)."""
        return self.torch_threads or max(1, (os.cpu_count() or 1) - 1)


def _coerce(name: str, value, kind):
    try:
        if kind is int:
            out = int(value)
            if out < 0:
                raise ValueError
            return out
        if kind is str:
            return str(value)
        if isinstance(value, str):
            value = [v for v in value.split(os.pathsep) if v]
        return tuple(str(v) for v in value)
    except (TypeError, ValueError):
        raise ConfigError(f"setting {name}: invalid value {value!r}") from None


def load_settings(path: str | os.PathLike | None = None) -> Settings:
    """Settings from the TOML file (if any) and the environment."""
    path = Path(path or os.environ.get("SSLVIZ_CONFIG") or "sslviz.toml")
    raw: dict = {}
    if path.is_file():
        try:
            raw = tomllib.loads(path.read_text()).get("sslviz", {})
        except (tomllib.TOMLDecodeError, OSError) as exc:
            raise ConfigError(f"{path}: cannot read settings ({exc})") from None
    kinds = {"data_roots": tuple, "teacher_password": str, "journal": str}
    values = {}
    for f in fields(Settings):
        kind = kinds.get(f.name, int)
        if f.name in raw:
            values[f.name] = _coerce(f.name, raw[f.name], kind)
        env = os.environ.get(f"SSLVIZ_{f.name.upper()}")
        if env is not None and env != "":
            values[f.name] = _coerce(f.name, env, kind)
    unknown = sorted(set(raw) - {f.name for f in fields(Settings)})
    if unknown:
        raise ConfigError(f"{path}: unknown setting '{unknown[0]}'")
    out = Settings(**values)
    if out.journal not in ("wal", "delete"):
        raise ConfigError(f"setting journal: must be 'wal' or 'delete', got {out.journal!r}")
    return out
