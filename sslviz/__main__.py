import sys

if sys.version_info < (3, 11):
    sys.exit(f"sslviz needs Python 3.11 or newer (pyproject.toml: requires-python); this is {sys.version.split()[0]}")

from sslviz.cli.main import main  # noqa: E402 - after the version check, which must run on old Pythons

raise SystemExit(main())
