"""The one exception family for a user's mistake, shared by every mf package."""

import os


class MFError(Exception):
    """A user's mistake (bad file, key, value or shape).

    CLIs print it as one line on stderr and exit with code 2. ``file``, ``line`` and
    ``key`` say where; the message says what was expected.
    """

    def __init__(self, message: str, *, file: str | os.PathLike | None = None, key: str | None = None,
                 line: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.file = None if file is None else str(file)
        self.key = key
        self.line = line

    def __str__(self):
        where = ""
        if self.file:
            where = _one_line(self.file) if self.line is None else f"{_one_line(self.file)}:{self.line}"
            where += ": "
        elif self.line is not None:
            where = f"line {self.line}: "
        key = f"{_one_line(self.key)}: " if self.key else ""
        return f"{where}{key}{_one_line(self.message)}"


def _one_line(text):
    """``text`` with control characters escaped (a tensor name or key from a file may hold a newline): an error
    is one line."""
    text = str(text)
    return text if text.isprintable() else "".join(c if c.isprintable() else ascii(c)[1:-1] for c in text)


class ConfigError(MFError):
    """A config file, key, value or override is wrong."""


class ConfigKeyError(ConfigError, AttributeError):
    """A config has no such key (an AttributeError, so ``getattr(cfg, k, default)`` works)."""


class OutputError(MFError):
    """An output cannot be written: it is an input, another kind of file, busy, or the disk is full."""


class OutputBusyError(OutputError):
    """Another writer holds the output's lock."""


class OutputExistsError(OutputError, FileExistsError):
    """The output exists and replacing it was not asked for."""


class NoSpaceError(OutputError):
    """The disk filled up while writing an output (nothing was published)."""
