"""The command line: parses, calls the library, prints. Nothing else.

Each module registers its commands on the one Typer ``app`` (notify.cli.app);
``main`` turns notify's errors into messages and exit codes.
"""

from __future__ import annotations

import sys

from notify.cli import bouncecmd as _bouncecmd
from notify.cli import contacts as _contacts
from notify.cli import democmd as _democmd
from notify.cli import initcmd as _initcmd
from notify.cli import reportcmd as _reportcmd
from notify.cli import sendcmd as _sendcmd
from notify.cli import templatecmd as _templatecmd
from notify.cli.app import app, err
from notify.errors import NotifyError, QuotaPaused

__all__ = ["app", "main"]
_COMMANDS = (_bouncecmd, _contacts, _democmd, _initcmd, _reportcmd, _sendcmd, _templatecmd)


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
