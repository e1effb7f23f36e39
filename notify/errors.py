"""The one exception tree of notify.

Every message says what to do next. The CLI maps each branch to an exit code
(see DESIGN.md); the library never prints and never exits.

    NotifyError                      exit 2 unless a subclass says otherwise
    ├── UsageError                   bad option or argument (exit 2)
    ├── InputError                   a file that cannot be read at all (exit 2)
    │   └── SourceError              an address book that cannot be read (file, line)
    ├── TemplateError                a template that cannot be loaded or rendered (exit 2)
    ├── ConfigError                  missing or invalid settings (exit 3)
    │   └── AccountError             the sending account failed: auth, TLS, unreachable (exit 3)
    ├── JournalError                 the incident journal cannot be used (exit 3)
    └── QuotaPaused                  the account reached a sending limit (exit 4)
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

EXIT_OK = 0
EXIT_SOME_UNREACHED = 1
EXIT_USAGE = 2
EXIT_ACCOUNT = 3
EXIT_PAUSED = 4


class NotifyError(Exception):
    """Base of every error notify raises on purpose."""

    exit_code: int = EXIT_USAGE

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message}\n{self.hint}"
        return self.message


class UsageError(NotifyError):
    """An option or argument that cannot work."""


class InputError(NotifyError):
    """A file given by the user that cannot be read at all."""

    def __init__(
        self,
        message: str,
        *,
        path: Path | str | None = None,
        line: int | None = None,
        hint: str | None = None,
    ) -> None:
        where = ""
        if path is not None:
            where = f"{path}:{line}: " if line else f"{path}: "
        super().__init__(where + message, hint=hint)
        self.path = None if path is None else str(path)
        self.line = line


class SourceError(InputError):
    """An address-book source that cannot be read at all."""


class TemplateError(NotifyError):
    """A template that cannot be found, loaded or rendered."""

    def __init__(
        self,
        message: str,
        *,
        template: str | None = None,
        line: int | None = None,
        recipient: str | None = None,
        hint: str | None = None,
    ) -> None:
        parts = []
        if template:
            parts.append(f"template {template}" + (f", line {line}" if line else ""))
        if recipient:
            parts.append(f"recipient {recipient}")
        prefix = f"{'; '.join(parts)}: " if parts else ""
        super().__init__(prefix + message, hint=hint)
        self.template = template
        self.line = line
        self.recipient = recipient


class ConfigError(NotifyError):
    """Settings that are missing or invalid."""

    exit_code = EXIT_ACCOUNT


class AccountError(ConfigError):
    """The sending account failed as a whole: no recipient is marked failed."""

    def __init__(self, message: str, *, code: int | None = None, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.code = code


class JournalError(NotifyError):
    """The incident journal cannot be opened, locked or written."""

    exit_code = EXIT_ACCOUNT


class QuotaPaused(NotifyError):
    """The account reached a sending limit; sending can resume later."""

    exit_code = EXIT_PAUSED

    def __init__(
        self, message: str, *, resume_at: datetime | None = None, hint: str | None = None
    ) -> None:
        super().__init__(message, hint=hint)
        self.resume_at = resume_at
