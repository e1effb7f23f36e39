"""The command line: parses, calls the library, prints. Nothing else.

Each module registers its commands on the one Typer ``app`` (notify.cli.app), which
imports a command's module only when the command is used (``app.COMMANDS``);
``main`` turns notify's errors into messages and exit codes.
"""

from __future__ import annotations

import sys

from notify.cli.app import app, err
from notify.errors import NotifyError, QuotaPaused

__all__ = ["app", "main"]


def main() -> None:
    """Entry point: run the app, turn notify's errors into messages and exit codes."""
    try:
        app()  # handles usage errors (exit 2) and typer.Exit itself, then exits
    except QuotaPaused as exc:
        when = (
            f" Sending can resume after {exc.resume_at.astimezone():%Y-%m-%d %H:%M}."
            if exc.resume_at
            else ""
        )
        err.print(f"paused: {exc.message}.{when}", markup=False)
        if exc.hint:
            err.print(exc.hint, markup=False)
        sys.exit(exc.exit_code)
    except NotifyError as exc:
        err.print(f"error: {exc.message}", markup=False)
        if exc.hint:
            err.print(exc.hint, markup=False)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)
