"""The command line: parses, calls the library, prints. Nothing else."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from notify import __version__
from notify.errors import NotifyError

app = typer.Typer(
    name="notify",
    help="Warn every correspondent or patient after a mailbox hijack or a data breach.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


class State:
    config: Path | None = None
    journal: Path = Path("incident.db")


state = State()


def _version(value: bool) -> None:
    if value:
        out.print(f"notify {__version__}")
        raise typer.Exit()


@app.callback()
def _global(
    config: Annotated[
        Path | None, typer.Option("--config", help="Settings file (default ./notify.toml).")
    ] = None,
    journal: Annotated[Path, typer.Option("--journal", help="Incident journal (SQLite).")] = Path(
        "incident.db"
    ),
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    state.config = config
    state.journal = journal


def main() -> None:
    """Entry point: run the app, turn notify's errors into messages and exit codes."""
    try:
        app(standalone_mode=False)
    except NotifyError as exc:
        err.print(f"[bold red]error:[/] {exc.message}", markup=True)
        if exc.hint:
            err.print(exc.hint, markup=False)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)
