"""Errors a user can cause and fix. Each carries a one-line message that names the file or field."""


class SslvizError(Exception):
    """Base class: the CLI and the UI print str(error) as one line, never a traceback."""


class DataError(SslvizError):
    """A dataset cannot be loaded: unknown name, missing files, no readable image..."""


class ConfigError(SslvizError):
    """A run or experiment configuration has an invalid field."""


class RunStoreError(SslvizError):
    """The run store cannot be read or written (unknown run, read-only directory, disk full)."""
